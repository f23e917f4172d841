{{- define "certmint.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "certmint.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "certmint.labels" -}}
{{ include "certmint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: certmint
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "certmint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "certmint.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* What the operator does inside a namespace it serves: in the ClusterRole, or in a Role per namespace. */}}
{{- define "certmint.namespacedRules" }}
  - apiGroups: [certmint.dev]
    resources: [certificates, issuers, namespacedtrustbundles]
    verbs: [get, list, watch]
  - apiGroups: [certmint.dev]
    resources: [certificates/status, issuers/status, namespacedtrustbundles/status]
    verbs: [patch]
  {{- if gt (int .Values.replicaCount) 1 }}
  # Sharded (replicaCount > 1): the replica owning a Certificate's bucket labels it
  # certmint.dev/bucket when it was created without that label, or with one that lies.
  - apiGroups: [certmint.dev]
    resources: [certificates]
    verbs: [patch]
  {{- end }}
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch, create, patch, delete]
  {{- if .Values.podCertificates.enabled }}
  # PodCertificateRequests are read, never written but for their status; each is checked against
  # its Pod (exists, UID, node, ServiceAccount), which is only read.
  - apiGroups: [certificates.k8s.io]
    resources: [podcertificaterequests]
    verbs: [get, list, watch]
  - apiGroups: [certificates.k8s.io]
    resources: [podcertificaterequests/status]
    verbs: [update, patch]
  - apiGroups: [""]
    resources: [pods]
    verbs: [get]
  {{- end }}
{{- end }}

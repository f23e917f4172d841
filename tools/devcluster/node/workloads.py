"""Workloads on the node that use what certmint issues the way real ones do: an nginx pod serving
mutual TLS with its mounted Secret and trust bundle, reloading when the kubelet brings new files,
and a client pod with curl and its own mounted Secret."""

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.node.cluster import RunningNode

API_VERSION = "certmint.dev/v1"
PORT = 8443


def nginx_config(tls: str, answer: str) -> str:
    """nginx in the peer image, serving mutual TLS on PORT: `tls` the certificate, key and trust
    directives, `answer` what it returns to a verified client."""
    return f"""
daemon off;
pid /tmp/nginx.pid;
error_log stderr info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {{
        listen {PORT} ssl;
{tls}
        ssl_verify_client on;
        ssl_verify_depth 2;
        location / {{
            default_type text/plain;
            return 200 "{answer}\\n";
        }}
    }}
}}
"""


NGINX_CONFIG = nginx_config(
    """        ssl_certificate /tls/tls.crt;
        ssl_certificate_key /tls/tls.key;
        ssl_client_certificate /trust/ca.crt;
        ssl_crl /trust/ca.crl;""",
    "client=$ssl_client_s_dn verify=$ssl_client_verify",
)

# Reloads nginx whenever the kubelet has brought new files, and says so with the time and the serving
# certificate's serial: `loaded <epoch seconds> <serial>`.
SERVER_SCRIPT = """
set -u
fingerprint() { cat /tls/tls.crt /tls/tls.key /trust/ca.crt /trust/ca.crl | md5sum; }
serial() { openssl x509 -noout -serial -in /tls/tls.crt | cut -d= -f2; }
last=$(fingerprint)
nginx -c /config/nginx.conf &
echo "loaded $(date +%s.%N) $(serial)"
while sleep 0.5; do
  now=$(fingerprint)
  if [ "$now" != "$last" ]; then
    last=$now
    nginx -c /config/nginx.conf -s reload && echo "loaded $(date +%s.%N) $(serial)"
  fi
done
"""


@dataclass(frozen=True)
class MutualTLS:
    namespace: str
    bundle: str
    server_pod: str = "web"
    client_pod: str = "client"

    @property
    def server_name(self) -> str:
        return f"web.{self.namespace}.svc"


def issuer(namespace: str, name: str = "ca") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Issuer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selfSigned": {"commonName": f"{namespace} CA"},
            "revocation": {
                "crlDuration": "1h",
                "distributionPointURL": f"http://certmint.certmint.svc:9402/crl/{namespace}/{name}.crl",
            },
        },
    }


def certificate(namespace: str, name: str, issuer_name: str = "ca", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"secretName": f"{name}-tls", "issuerRef": {"name": issuer_name}, **spec},
    }


def trust_bundle(name: str, namespace: str, issuer_name: str = "ca") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrustBundle",
        "metadata": {"name": name},
        "spec": {
            "sources": [{"issuer": {"name": issuer_name, "namespace": namespace}}],
            "target": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }


def pod(
    node: RunningNode, name: str, namespace: str, script: str, volumes: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": name,
                    "image": node.images.peer.reference,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", script],
                    "volumeMounts": [
                        {"name": volume, "mountPath": f"/{volume}", "readOnly": True} for volume in volumes
                    ],
                }
            ],
            "volumes": [{"name": volume, **source} for volume, source in volumes.items()],
        },
    }


def manifests(
    node: RunningNode, setup: MutualTLS, duration: str = "1h", **renewal: str
) -> list[dict[str, Any]]:
    """Issuer, server and client Certificates, their TrustBundle, the nginx and the client pod."""
    namespace = setup.namespace
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nginx", "namespace": namespace},
        "data": {"nginx.conf": NGINX_CONFIG},
    }
    trust = {"configMap": {"name": setup.bundle}}
    return [
        issuer(namespace),
        certificate(namespace, "web", dnsNames=[setup.server_name], duration=duration, **renewal),
        certificate(namespace, "client", commonName="client", duration=duration, **renewal),
        trust_bundle(setup.bundle, namespace),
        config_map,
        pod(
            node,
            setup.server_pod,
            namespace,
            SERVER_SCRIPT,
            {
                "tls": {"secret": {"secretName": "web-tls"}},
                "trust": trust,
                "config": {"configMap": {"name": "nginx"}},
            },
        ),
        pod(
            node,
            setup.client_pod,
            namespace,
            "exec sleep infinity",
            {"tls": {"secret": {"secretName": "client-tls"}}, "trust": trust},
        ),
    ]


def apply(node: RunningNode, objects: list[dict[str, Any]]) -> None:
    node.kubectl("apply", "-f", "-", input_text="\n---\n".join(json.dumps(item) for item in objects))


def wait_pods_ready(node: RunningNode, namespace: str, *pods: str, timeout: int = 180) -> None:
    node.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        f"--timeout={timeout}s",
        *(f"pod/{pod}" for pod in pods),
    )


def pod_ip(node: RunningNode, namespace: str, pod: str) -> str:
    return node.kubectl("get", "pod", pod, "-n", namespace, "-o", "jsonpath={.status.podIP}").strip()


@dataclass(frozen=True)
class Answer:
    status: int
    """HTTP status; 0: no HTTP answer (handshake failed)."""
    text: str


def curl_command(node: RunningNode, setup: MutualTLS, *client_args: str) -> list[str]:
    """curl to the nginx pod by its address, checking its certificate against the trust bundle."""
    address = pod_ip(node, setup.namespace, setup.server_pod)
    return [
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        "/trust/ca.crt",
        "--resolve",
        f"{setup.server_name}:{PORT}:{address}",
        *client_args,
        f"https://{setup.server_name}:{PORT}/",
    ]


def curl_from_client(node: RunningNode, setup: MutualTLS, *client_args: str, client: str = "") -> Answer:
    """curl in the client pod (or `client`) to the nginx pod; `client_args` picks the client certificate."""
    command = curl_command(node, setup, *client_args, "-w", "\n%{http_code}")
    output = node.kubectl(
        "exec", "-n", setup.namespace, client or setup.client_pod, "--", *command, check=False
    )
    body, _, code = output.rstrip("\n").rpartition("\n")
    status = int(code) if code.isdigit() else 0
    return Answer(status, body if status else output)


CLIENT_CERTIFICATE = ("--cert", "/tls/tls.crt", "--key", "/tls/tls.key")


def loaded_serials(node: RunningNode, setup: MutualTLS) -> list[tuple[float, str]]:
    """(time, serial) of every certificate the nginx pod has loaded, from its log."""
    log = node.kubectl("logs", "-n", setup.namespace, setup.server_pod)
    return [(float(when), serial) for when, serial in re.findall(r"^loaded (\S+) (\S+)$", log, re.MULTILINE)]


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# The program of the CSR workload (csr_server), mounted from a ConfigMap into a pod of the certmint
# image, which holds certmint but not devcluster.
CSR_SERVER_PROGRAM = Path(__file__).with_name("csr_server.py")


def csr_requester_rbac(namespace: str, account: str) -> list[dict[str, Any]]:
    """The workload's ServiceAccount may create and read CSRs (cluster-scoped), nothing else."""
    name = f"csr-requester-{namespace}"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["certificatesigningrequests"],
                    "verbs": ["create", "get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]


def csr_server(node: RunningNode, setup: MutualTLS, csr_name: str, account: str) -> list[dict[str, Any]]:
    """The CSR workload: a ConfigMap with its program and a pod of the certmint image that runs it as
    the ServiceAccount `account`; Ready once it serves."""
    program = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "csr-server-program", "namespace": setup.namespace},
        "data": {CSR_SERVER_PROGRAM.name: CSR_SERVER_PROGRAM.read_text()},
    }
    manifest = pod(
        node,
        setup.server_pod,
        setup.namespace,
        "",
        {
            "trust": {"configMap": {"name": setup.bundle}},
            "program": {"configMap": {"name": "csr-server-program"}},
        },
    )
    container = manifest["spec"]["containers"][0]
    container.update(
        {
            "image": node.images.certmint.reference,
            "command": [
                "python",
                f"/program/{CSR_SERVER_PROGRAM.name}",
                f"--csr-name={csr_name}",
                f"--service-account={account}",
                "--trust-domain=cluster.local",
                f"--server-name={setup.server_name}",
                f"--signer-name=issuers.certmint.dev/{setup.namespace}.ca",
                f"--port={PORT}",
            ],
            "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 1},
        }
    )
    manifest["spec"]["serviceAccountName"] = account
    return [program, manifest]


# Pod certificates (issue 24): the pod's only identity is one projected volume, filled by the kubelet
# with a key it made on the node, the chain certmint signed for a PodCertificateRequest, and the
# ClusterTrustBundle certmint publishes for the same signer name. Neither image knows about certmint.
IDENTITY_VOLUME = "id"
CREDENTIALS = "credentials.pem"
"""The credential bundle: the PKCS#8 key ("PRIVATE KEY"), then the chain, leaf first."""
TRUST = "ca.crt"
CLUSTER_TRUST_BUNDLE_LABEL = "certmint.dev/cluster-trust-bundle"


def issuer_signer_name(namespace: str, name: str) -> str:
    return f"issuers.certmint.dev/{namespace}.{name}"


def pod_identity(signer_name: str, key_type: str = "ECDSAP256") -> dict[str, Any]:
    """The projected volume to copy: a podCertificate and the ClusterTrustBundles of the same signer
    that certmint labelled as its own (a nil labelSelector would select none)."""
    return {
        "projected": {
            "sources": [
                {
                    "podCertificate": {
                        "signerName": signer_name,
                        "keyType": key_type,
                        "credentialBundlePath": CREDENTIALS,
                    }
                },
                {
                    "clusterTrustBundle": {
                        "signerName": signer_name,
                        "labelSelector": {"matchLabels": {CLUSTER_TRUST_BUNDLE_LABEL: "true"}},
                        "path": TRUST,
                    }
                },
            ]
        }
    }


POD_CERTIFICATE_NGINX_CONFIG = nginx_config(
    f"""        ssl_certificate /{IDENTITY_VOLUME}/{CREDENTIALS};
        ssl_certificate_key /{IDENTITY_VOLUME}/{CREDENTIALS};
        ssl_client_certificate /{IDENTITY_VOLUME}/{TRUST};""",
    "verify=$ssl_client_verify serial=$ssl_client_serial",
)

_CERTIFICATES_OF_BUNDLE = f"sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' /{IDENTITY_VOLUME}/{CREDENTIALS}"

# Reloads nginx whenever the kubelet has brought new files, and says what it loaded: `state <epoch
# seconds> <serial> <chain PEM, base64> <trust PEM, base64>` (certificates only, never the key).
POD_CERTIFICATE_SERVER_SCRIPT = f"""
set -u
chain() {{ {_CERTIFICATES_OF_BUNDLE}; }}
fingerprint() {{ cat /{IDENTITY_VOLUME}/{CREDENTIALS} /{IDENTITY_VOLUME}/{TRUST} | md5sum; }}
state() {{
  echo "state $(date +%s.%N) $(chain | openssl x509 -noout -serial | cut -d= -f2) \\
$(chain | base64 -w0) $(base64 -w0 /{IDENTITY_VOLUME}/{TRUST})"
}}
last=$(fingerprint)
nginx -c /config/nginx.conf &
state
while sleep 0.5; do
  now=$(fingerprint)
  if [ "$now" != "$last" ]; then
    last=$now
    nginx -c /config/nginx.conf -s reload && state
  fi
done
"""


def pod_certificate_sampler_script(server_name: str, address: str) -> str:
    """Every second one mutual TLS request with the pod's current files: `sample <epoch seconds>
    own=<own serial before>,<own serial after> <answer or error> code=<HTTP status>`."""
    own = f"$({_CERTIFICATES_OF_BUNDLE} | openssl x509 -noout -serial | cut -d= -f2)"
    bundle = f"/{IDENTITY_VOLUME}/{CREDENTIALS}"
    curl = (
        f"curl -sS --max-time 5 --cacert /{IDENTITY_VOLUME}/{TRUST} --cert {bundle} --key {bundle} "
        f"--resolve {server_name}:{PORT}:{address} https://{server_name}:{PORT}/ -w ' code=%{{http_code}}'"
    )
    return (
        "while true; do "
        f'before={own}; answer=$({curl} 2>&1 | tr "\\n" " "); after={own}; '
        'echo "sample $(date +%s.%N) own=$before,$after $answer"; sleep 1; done'
    )


def service_account(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def pod_certificate_issuer(namespace: str, name: str = "ca", **pod_certificates: Any) -> dict[str, Any]:
    """A selfSigned Issuer that signs PodCertificateRequests of its namespace's pods."""
    manifest = issuer(namespace, name)
    manifest["spec"]["podCertificates"] = pod_certificates
    return manifest


def identity_pod(
    node: RunningNode, name: str, namespace: str, script: str, account: str, signer_name: str, **extra: Any
) -> dict[str, Any]:
    """A pod of the peer image whose only identity is the projected `pod_identity` volume at /id."""
    volumes: dict[str, dict[str, Any]] = {IDENTITY_VOLUME: pod_identity(signer_name), **extra}
    manifest = pod(node, name, namespace, script, volumes)
    manifest["spec"]["serviceAccountName"] = account
    return manifest

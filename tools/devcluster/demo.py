"""`make run`: a local control plane, the operator, a demo Issuer and Certificate, and a valid Secret."""

import argparse
import base64
import json
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from certmint.pki import Purpose, load_certificates_pem, summarize_certificate, verify_certificate
from devcluster.controlplane import ControlPlane, LocalControlPlane
from devcluster.operator import OperatorProcess

REPO = Path(__file__).resolve().parents[2]
DEMO = """
apiVersion: certmint.dev/v1
kind: Issuer
metadata: {name: demo-ca, namespace: demo}
spec:
  selfSigned: {commonName: certmint demo CA}
---
apiVersion: certmint.dev/v1
kind: Certificate
metadata: {name: web, namespace: demo}
spec:
  secretName: web-tls
  issuerRef: {name: demo-ca}
  dnsNames: [web.demo.svc, web.demo.svc.cluster.local]
  identity: {serviceAccount: web}
  duration: 1h
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exit", action="store_true", help="stop everything once the Secret is proven valid")
    args = parser.parse_args()
    workdir = REPO / ".cluster"
    shutil.rmtree(workdir, ignore_errors=True)
    with LocalControlPlane(workdir) as plane:
        plane.install_certmint(REPO / "crds")
        plane.kubectl("create", "namespace", "demo")
        operator = OperatorProcess(plane, workdir / "operator.log")
        operator.start()
        assert operator.process is not None
        print(f"operator running (pid {operator.process.pid}), log: {operator.log_path}")
        try:
            plane.kubectl("apply", "-f", "-", input_text=DEMO)
            _prove_secret(plane)
            print(f"\nexport KUBECONFIG={plane.kubeconfig}")
            print("try: kubectl get issuers,certificates -n demo; kubectl describe certificate web -n demo")
            if not args.exit:
                print("control plane and operator keep running; Ctrl-C stops them", flush=True)
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            operator.stop()


def _prove_secret(plane: ControlPlane) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        output = plane.kubectl("get", "secret", "web-tls", "-n", "demo", "-o", "json", check=False)
        if output.lstrip().startswith("{"):
            data = json.loads(output)["data"]
            chain = load_certificates_pem(base64.b64decode(data["tls.crt"]))
            roots = load_certificates_pem(base64.b64decode(data["ca.crt"]))
            verify_certificate(chain[0], chain[1:], roots, datetime.now(UTC), Purpose.SERVER, "web.demo.svc")
            summary = summarize_certificate(chain[0])
            print(plane.kubectl("get", "certificates.certmint.dev", "-n", "demo"))
            print("Secret demo/web-tls holds a certificate that verifies against its CA:")
            print(f"  subject:    {summary.subject or '(empty)'}")
            print(f"  DNS names:  {', '.join(summary.dns_names)}")
            print(f"  URIs:       {', '.join(summary.uris)}")
            print(f"  issuer:     {summary.issuer}")
            print(f"  serial:     {summary.serial_number}")
            print(f"  not after:  {summary.not_after:%Y-%m-%d %H:%M:%S} UTC ({summary.key_type})")
            return
        time.sleep(0.5)
    raise SystemExit(f"no valid Secret demo/web-tls after 60 s; see {REPO / '.cluster' / 'operator.log'}")


if __name__ == "__main__":
    main()

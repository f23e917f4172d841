"""The CSR workload's program (devcluster/node/csr_server.py) runs in the certmint image, which holds
certmint but not devcluster: it must stand on its own, and its parameters are command-line arguments."""

import ast

import pytest

from devcluster.node import csr_server
from devcluster.node.workloads import CSR_SERVER_PROGRAM


def imported_packages() -> set[str]:
    tree = ast.parse(CSR_SERVER_PROGRAM.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in names}


def test_the_program_imports_only_what_the_certmint_image_holds() -> None:
    assert "devcluster" not in imported_packages()
    assert {"certmint", "kubernetes"} <= imported_packages()


def test_every_parameter_is_an_argument() -> None:
    arguments = csr_server.parse_arguments(
        [
            "--csr-name=web-csr",
            "--service-account=web",
            "--trust-domain=cluster.local",
            "--server-name=web.ns.svc",
            "--signer-name=issuers.certmint.dev/ns.ca",
            "--port=8443",
        ]
    )
    assert arguments == csr_server.Arguments(
        csr_name="web-csr",
        service_account="web",
        trust_domain="cluster.local",
        server_name="web.ns.svc",
        signer_name="issuers.certmint.dev/ns.ca",
        port=8443,
    )


def test_a_missing_parameter_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        csr_server.parse_arguments(["--csr-name=web-csr"])
    assert exited.value.code == 2
    assert "--signer-name" in capsys.readouterr().err

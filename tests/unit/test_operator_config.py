"""`certmint operator` builds its configuration once, from flags or their environment variables,
and hands it to kopf in the memo, never through the process environment."""

import dataclasses
import os
import re
import socket
from pathlib import Path
from typing import Any

import click
import kopf
import pytest
from click.testing import CliRunner

from certmint.cli import main
from certmint.cli import operator as operator_command
from certmint.operator import handlers
from certmint.operator.config import OperatorConfig

CHART_DEPLOYMENT = Path(__file__).parents[2] / "charts" / "certmint" / "templates" / "deployment.yaml"
EVERY_FLAG = [
    "--namespace=ops",
    "--trust-domain=example.org",
    "--cluster-domain=corp.internal",
    "--workers=3",
    "--issuer-resync-seconds=12.5",
    "--metrics-port=9999",
    "--http-address=127.0.0.1",
    "--no-csr-auto-approve",
    "--pod-certificates",
    "--no-migrate-storage",
    "--peering=shared",
    "--peer-identity=replica-a",
    "--priority=7",
    "--peering-lifetime=20",
    "--watch-server-timeout=40",
    "--watch-client-timeout=50",
    "--watch-namespaces=team-b,team-a",
    "--replicas=4",
    "--lease-seconds=9",
]
FROM_EVERY_FLAG = OperatorConfig(
    namespace="ops",
    trust_domain="example.org",
    cluster_domain="corp.internal",
    workers=3,
    issuer_resync_seconds=12.5,
    metrics_port=9999,
    http_address="127.0.0.1",
    csr_auto_approve=False,
    pod_certificates=True,
    migrate_storage=False,
    peering="shared",
    identity="replica-a",
    priority=7,
    peering_lifetime=20,
    watch_server_timeout=40,
    watch_client_timeout=50,
    watch_namespaces=("ops", "team-a", "team-b"),
    replicas=4,
    lease_seconds=9,
    kubeconfig="/kube/config",
)


def option_envvars() -> set[str]:
    return {str(param.envvar) for param in operator_command.operator.params if param.envvar}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the environment the tests themselves run in."""
    for name in [*option_envvars(), "KUBECONFIG"]:
        monkeypatch.delenv(name, raising=False)


def built(
    arguments: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None
) -> OperatorConfig:
    """The configuration `certmint [arguments]` would start the operator with."""
    started: list[OperatorConfig] = []

    def run(config: OperatorConfig, liveness: str | None, verbose: bool) -> None:
        started.append(config)

    monkeypatch.setattr(operator_command, "run", run)
    result = CliRunner().invoke(main.cli, arguments, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(started) == 1
    return started[0]


def test_every_setting_has_a_flag() -> None:
    flags = {param.name for param in operator_command.operator.params}
    # The kubeconfig is the root's --kubeconfig, shared with every command.
    assert {field.name for field in dataclasses.fields(OperatorConfig)} - flags == {"kubeconfig"}


def test_every_variable_the_chart_sets_is_an_option_of_the_command() -> None:
    chart = set(re.findall(r"name: (CERTMINT_\w+)", CHART_DEPLOYMENT.read_text()))
    assert chart
    assert chart <= option_envvars()


@pytest.mark.usefixtures("clean_environment")
def test_without_flags_or_variables_the_settings_are_the_dataclass_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = built(["operator"], monkeypatch)
    assert dataclasses.replace(config, identity="", priority=0) == OperatorConfig()


@pytest.mark.usefixtures("clean_environment")
def test_every_flag_reaches_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert built(["--kubeconfig=/kube/config", "operator", *EVERY_FLAG], monkeypatch) == FROM_EVERY_FLAG


@pytest.mark.usefixtures("clean_environment")
def test_the_environment_variables_stand_in_for_absent_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "KUBECONFIG": "/kube/config",
        "CERTMINT_NAMESPACE": "ops",
        "CERTMINT_TRUST_DOMAIN": "example.org",
        "CERTMINT_CLUSTER_DOMAIN": "corp.internal",
        "CERTMINT_WORKERS": "3",
        "CERTMINT_ISSUER_RESYNC_SECONDS": "12.5",
        "CERTMINT_METRICS_PORT": "9999",
        "CERTMINT_HTTP_ADDRESS": "127.0.0.1",
        "CERTMINT_CSR_AUTO_APPROVE": "false",  # as the chart quotes csrSigner.autoApprove
        "CERTMINT_POD_CERTIFICATES": "true",
        "CERTMINT_MIGRATE_STORAGE": "false",  # as the chart quotes migrateStorage
        "CERTMINT_PEERING": "shared",
        "CERTMINT_PEER_IDENTITY": "replica-a",
        "CERTMINT_PRIORITY": "7",
        "CERTMINT_PEERING_LIFETIME": "20",
        "CERTMINT_WATCH_SERVER_TIMEOUT": "40",
        "CERTMINT_WATCH_CLIENT_TIMEOUT": "50",
        "CERTMINT_WATCH_NAMESPACES": "team-b,team-a",
        "CERTMINT_REPLICAS": "4",
        "CERTMINT_LEASE_SECONDS": "9",
        "CERTMINT_LIVENESS": "http://127.0.0.1:8080/healthz",  # not in the configuration: kopf's
    }
    assert set(env) - {"KUBECONFIG"} == option_envvars()
    assert built(["operator"], monkeypatch, env) == FROM_EVERY_FLAG


@pytest.mark.usefixtures("clean_environment")
def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"CERTMINT_WORKERS": "3", "CERTMINT_CSR_AUTO_APPROVE": "false", "CERTMINT_PEERING": "from-env"}
    config = built(["operator", "--workers=5", "--csr-auto-approve", "--peering=from-flag"], monkeypatch, env)
    assert (config.workers, config.csr_auto_approve, config.peering) == (5, True, "from-flag")


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("given", "served"),
    [
        ("", ()),
        (" , ,", ()),
        ("team-b, team-a,,team-b", ("ops", "team-a", "team-b")),
        ("ops,team-a", ("ops", "team-a")),
    ],
)
def test_a_namespace_list_always_includes_the_operators_own(
    given: str, served: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ClusterIssuer CA Secrets live in the operator's namespace; an empty list serves every one."""
    config = built(["operator", "--namespace=ops", f"--watch-namespaces={given}"], monkeypatch)
    assert config.watch_namespaces == served


@pytest.mark.usefixtures("clean_environment")
def test_identity_and_priority_are_decided_per_process_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = built(["operator"], monkeypatch), built(["operator"], monkeypatch)
    assert first.identity.startswith(f"{socket.gethostname()}/{os.getpid()}/")
    assert first.identity != second.identity  # replicas on one host never share a name
    assert 1 <= first.priority < 2**31
    given = built(["operator", "--peer-identity=replica-a", "--priority=0"], monkeypatch)
    assert (given.identity, given.priority) == ("replica-a", 0)


@pytest.mark.usefixtures("clean_environment")
def test_building_the_configuration_writes_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTMINT_PEERING", "shared")
    before = dict(os.environ)
    seen: list[dict[str, str]] = []
    monkeypatch.setattr(operator_command, "run", lambda *_: seen.append(dict(os.environ)))
    result = CliRunner().invoke(
        main.cli, ["--kubeconfig=/kube/config", "operator", *EVERY_FLAG], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert seen == [before]
    assert dict(os.environ) == before


def test_a_bad_value_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_command, "run", lambda *_: pytest.fail("the operator started"))
    result = CliRunner().invoke(main.cli, ["operator"], env={"CERTMINT_WORKERS": "many"})
    assert result.exit_code == click.UsageError.exit_code
    assert "CERTMINT_WORKERS" in result.output or "--workers" in result.output


def test_kopf_gets_its_settings_and_the_configuration_in_its_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    given: dict[str, Any] = {}

    async def operator(**kwargs: Any) -> None:
        given.update(kwargs)

    monkeypatch.setattr(kopf, "operator", operator)
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    # One active replica: kopf alone, as before slots (more replicas run the slot cycle around it).
    config = dataclasses.replace(FROM_EVERY_FLAG, watch_namespaces=("ops", "team-a"), replicas=1)
    operator_command.run(config, "http://127.0.0.1:8080/healthz", verbose=False)
    assert given["memo"][handlers.CONFIG] is config
    assert (given["clusterwide"], given["namespaces"]) == (False, ("ops", "team-a"))
    assert given["identity"] == "replica-a"
    assert given["liveness_endpoint"] == "http://127.0.0.1:8080/healthz"
    settings: kopf.OperatorSettings = given["settings"]
    assert settings.scanning.disabled  # before kopf starts: its resource observer reads it at once
    assert not settings.posting.enabled
    assert (settings.peering.name, settings.peering.priority, settings.peering.lifetime) == ("shared", 7, 20)
    assert settings.peering.mandatory
    assert not settings.peering.standalone
    assert (settings.watching.server_timeout, settings.watching.client_timeout) == (40, 50)


def test_replicas_serving_a_namespace_list_still_share_the_cluster_wide_peering() -> None:
    """kopf.operator(clusterwide=False) sets peering.clusterwide to false; startup sets it back."""
    settings = kopf.OperatorSettings()
    settings.peering.clusterwide = False
    handlers.configure_kopf(settings, FROM_EVERY_FLAG)
    assert settings.peering.clusterwide


def test_without_a_peering_name_the_operator_runs_standalone() -> None:
    settings = kopf.OperatorSettings()
    handlers.configure_kopf(settings, OperatorConfig())
    assert settings.peering.standalone


CLUSTER_TRUST_BUNDLES = kopf.Resource(
    "certificates.k8s.io", "v1beta1", "clustertrustbundles", kind="ClusterTrustBundle", namespaced=False
)


POD_CERTIFICATE_REQUESTS = kopf.Resource(
    "certificates.k8s.io", "v1beta1", "podcertificaterequests", kind="PodCertificateRequest", namespaced=True
)


def _watches(registry: kopf.OperatorRegistry, resource: kopf.Resource) -> bool:
    return any(
        handler.selector is not None and handler.selector.check(resource)
        for handler in registry._watching.get_all_handlers()
    )


def _watches_cluster_trust_bundles(registry: kopf.OperatorRegistry) -> bool:
    return _watches(registry, CLUSTER_TRUST_BUNDLES)


def test_pod_certificate_kinds_are_watched_only_when_registered_and_only_certmints_bundles() -> None:
    """Registered by the startup handler only with pod certificates on and the API served: kopf then
    lists and watches PodCertificateRequests and ClusterTrustBundles, the bundles with certmint's
    label as the server-side filter."""
    assert not _watches_cluster_trust_bundles(kopf.get_default_registry())
    assert not _watches(kopf.get_default_registry(), POD_CERTIFICATE_REQUESTS)
    registry = kopf.OperatorRegistry()
    handlers.register_pod_certificates(registry)
    assert _watches_cluster_trust_bundles(registry)
    assert _watches(registry, POD_CERTIFICATE_REQUESTS)
    settings = kopf.OperatorSettings()
    handlers.configure_kopf(settings, OperatorConfig())
    selectors = list(settings.watching.label_selectors.collect(CLUSTER_TRUST_BUNDLES))
    assert selectors == ["certmint.dev/cluster-trust-bundle"]

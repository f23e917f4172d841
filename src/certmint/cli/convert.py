"""`convert`: cert-manager and trust-manager manifests (files, or the live cluster) as certmint
manifests on stdout; refusals and notes on stderr (certmint.convert does the conversion)."""

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from kubernetes.client.exceptions import ApiException

from certmint.cli import cluster
from certmint.cli.output import (
    EXIT_API_ERROR,
    EXIT_FAILED_CHECK,
    EXIT_NOT_FOUND,
    REPORT_OUTPUTS,
    output_option,
)
from certmint.cli.session import Session
from certmint.convert import CAIssuers, NotManifests, Options, convert, parse_documents
from certmint.convert.options import DEFAULT_CERT_MANAGER_NAMESPACE

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
CLUSTER_KINDS = (
    # (group, version, plural, namespaced)
    ("cert-manager.io", "v1", "clusterissuers", False),
    ("cert-manager.io", "v1", "issuers", True),
    ("cert-manager.io", "v1", "certificates", True),
    ("trust.cert-manager.io", "v1alpha1", "bundles", False),
)
OPTIONAL_GROUPS = ("trust.cert-manager.io",)
"""trust-manager may not be installed: its Bundles are then simply none."""


@click.command("convert")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    type=click.Path(exists=True, allow_dash=True, path_type=Path),
    help="A manifest file, a directory of them (*.yaml, *.yml, *.json), or - for stdin; repeatable.",
)
@click.option(
    "--from-cluster", is_flag=True, help="Read cert-manager's and trust-manager's objects from the cluster."
)
@click.option(
    "-A",
    "--all-namespaces",
    is_flag=True,
    help="With --from-cluster: every namespace, and the cluster-scoped kinds.",
)
@click.option(
    "-n",
    "--namespace",
    help="With --from-cluster: the namespace to read; with -f: the namespace of objects naming none.",
)
@click.option(
    "--trust-namespace",
    default=DEFAULT_CERT_MANAGER_NAMESPACE,
    show_default=True,
    help="trust-manager's trust namespace, where Bundles' ConfigMap and Secret sources live.",
)
@click.option(
    "--cluster-resource-namespace",
    default=DEFAULT_CERT_MANAGER_NAMESPACE,
    show_default=True,
    help="cert-manager's cluster resource namespace, where ClusterIssuers' CA Secrets live.",
)
@click.option(
    "--cert-manager-annotations", is_flag=True, help="Set spec.certManagerAnnotations on every Certificate."
)
@click.option(
    "--ca-issuers",
    type=click.Choice([mode.value for mode in CAIssuers]),
    default=CAIssuers.IMPORT.value,
    show_default=True,
    help="A cert-manager ca issuer becomes a selfSigned issuer importing its CA (import: the CA gains "
    "rotation), or a certmint ca issuer (ca: the CA never rotates).",
)
@output_option(REPORT_OUTPUTS, "yaml")
@click.pass_obj
def convert_command(
    session: Session,
    files: tuple[Path, ...],
    from_cluster: bool,
    all_namespaces: bool,
    namespace: str | None,
    trust_namespace: str,
    cluster_resource_namespace: str,
    cert_manager_annotations: bool,
    ca_issuers: str,
    output: str | None,
) -> None:
    """Write the certmint equivalents of cert-manager.io/v1 Certificates, Issuers, ClusterIssuers and
    trust.cert-manager.io/v1alpha1 Bundles to stdout. What has no equivalent is refused on stderr, one
    line per object and field, and that object is not written; exit 1 if anything was refused. Other
    kinds are ignored with a note."""
    chosen_output = session.output_of(output, "yaml", REPORT_OUTPUTS)
    if bool(files) == from_cluster:
        raise click.UsageError("give -f FILE|DIR|- or --from-cluster (one of them)")
    if all_namespaces and not from_cluster:
        raise click.UsageError("-A reads every namespace of the cluster: it needs --from-cluster")
    if from_cluster:
        read_namespace = None if all_namespaces else session.namespace_of(namespace)
        objects = _read_cluster(session, read_namespace)
        default_namespace = None
    else:
        objects = _read_files(files)
        default_namespace = session.chosen_namespace(namespace)
    options = Options(
        trust_namespace=trust_namespace,
        cluster_resource_namespace=cluster_resource_namespace,
        cert_manager_annotations=cert_manager_annotations,
        ca_issuers=CAIssuers(ca_issuers),
    )
    conversion = convert(objects, options, default_namespace)
    if conversion.manifests:
        manifests = list(conversion.manifests)
        if chosen_output == "json":
            click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}, indent=2))
        else:
            click.echo(yaml.dump_all(manifests, Dumper=_ManifestDumper, sort_keys=False).rstrip())
    for note in conversion.notes:
        click.echo(str(note), err=True)
    for refusal in conversion.refusals:
        click.echo(str(refusal), err=True)
    if conversion.refusals:
        sys.exit(EXIT_FAILED_CHECK)


class _ManifestDumper(yaml.SafeDumper):
    """PEM (and any text of several lines) as a literal block, as a person writes it in a manifest."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_ManifestDumper.add_representer(str, _text)


def _read_files(files: tuple[Path, ...]) -> list[Mapping[str, Any]]:
    objects: list[Mapping[str, Any]] = []
    for path in files:
        if str(path) == "-":
            texts = [("stdin", sys.stdin.read())]
        elif path.is_dir():
            texts = [
                (str(entry), entry.read_text())
                for entry in sorted(path.iterdir())
                if entry.is_file() and entry.suffix in MANIFEST_SUFFIXES
            ]
        else:
            texts = [(str(path), path.read_text())]
        for origin, text in texts:
            try:
                objects.extend(parse_documents(text, origin))
            except NotManifests as error:
                raise click.BadParameter(str(error), param_hint="-f") from error
    return objects


def _read_cluster(session: Session, namespace: str | None) -> list[Mapping[str, Any]]:
    """cert-manager's kinds (in `namespace`, or every namespace and the cluster-scoped kinds when
    None), as the caller's credentials may list them."""
    api = session.connect()
    objects: list[Mapping[str, Any]] = []
    for group, version, plural, namespaced in CLUSTER_KINDS:
        if namespace is not None and not namespaced:
            continue
        try:
            objects.extend(cluster.list_objects(api, group, version, plural, namespace))
        except cluster.NotFound:
            if group not in OPTIONAL_GROUPS:
                click.echo(
                    f"error: the API server does not serve {plural}.{group}/{version}: is cert-manager "
                    "installed?",
                    err=True,
                )
                sys.exit(EXIT_NOT_FOUND)
        except ApiException as error:
            where = f"in namespace {namespace}" if namespace else "in every namespace"
            click.echo(
                f"error: cannot list {plural}.{group} {where}: the API server answered {error.status} "
                f"{error.reason}",
                err=True,
            )
            sys.exit(EXIT_API_ERROR)
    return objects

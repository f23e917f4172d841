"""The root's kubectl flags (--kubeconfig, --context, -n, -o) and the one rule every command follows
to resolve them: a command's own -n/-o, else the root's, else the context's namespace ("default"
when it names none) and the command's own default output."""

from collections.abc import Sequence
from dataclasses import dataclass

import click
from kubernetes import client

from certmint.cli import cluster


@dataclass(frozen=True)
class Session:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    output: str | None = None

    def connect(self) -> client.ApiClient:
        return cluster.connect(self.kubeconfig, self.context)

    def namespace_of(self, flag: str | None) -> str:
        """The namespace a command works in: its -n, the root's -n, the context's, "default"."""
        return flag or self.namespace or cluster.context_namespace(self.kubeconfig, self.context) or "default"

    def chosen_namespace(self, flag: str | None) -> str | None:
        """Only a namespace given with -n (the command's or the root's): for searches that
        otherwise look in every namespace."""
        return flag or self.namespace

    def output_of(self, flag: str | None, default: str, accepted: Sequence[str]) -> str:
        chosen = flag or self.output or default
        if chosen not in accepted:
            raise click.UsageError(
                f"-o {chosen} is not an output of this command (it prints {', '.join(accepted)})"
            )
        return chosen

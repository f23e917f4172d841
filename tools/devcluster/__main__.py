"""`python -m devcluster [DIR]`: run a local control plane until interrupted (`make cluster`)."""

import argparse
import signal
from collections.abc import Sequence
from pathlib import Path

from devcluster.controlplane import LocalControlPlane


def parse_workdir(argv: Sequence[str] | None = None) -> Path | None:
    """The directory the user named, if any. --help and bad usage exit (0 and 2) before anything starts."""
    parser = argparse.ArgumentParser(
        prog="python -m devcluster",
        description="Run a local etcd, kube-apiserver and kube-controller-manager until Ctrl-C, "
        "and print the KUBECONFIG to use.",
    )
    parser.add_argument(
        "workdir",
        nargs="?",
        type=Path,
        help="directory for the control plane's data, certificates and kubeconfig "
        "(default: a new temporary directory)",
    )
    workdir: Path | None = parser.parse_args(argv).workdir
    if workdir is not None and workdir.exists() and not workdir.is_dir():
        parser.error(f"{workdir} exists and is not a directory")
    return workdir.resolve() if workdir is not None else None


def main(argv: Sequence[str] | None = None) -> None:
    workdir = parse_workdir(argv)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    with LocalControlPlane(workdir) as plane:
        # Blocked only now, after the children started, so that they keep their default handlers.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        print(f"control plane ready at {plane.server}")
        print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
        signal.sigwait(stop_signals)
        print("stopping control plane")


if __name__ == "__main__":
    main()

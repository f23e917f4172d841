"""`python -m certmint.devcluster [DIR]`: run a local control plane until interrupted (`make cluster`)."""

import signal
import sys
from pathlib import Path

from certmint.devcluster.controlplane import LocalControlPlane


def main() -> None:
    workdir = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None
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

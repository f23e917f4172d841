"""Single Certificate create→Ready latency on a real local control plane, with nothing else going on;
appends a section to bench/results/<date>.md.

    python bench/latency.py [--count 50]

One Issuer, then Certificates created one at a time, each only once the one before is Ready: the
time from the create request until the bench's watch sees Ready=True.
"""

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from scale import append_section, apply_issuer, bench_run, create_certificates, percentile, until, watch_ready


async def measure(count: int, workdir: Path) -> list[float]:
    namespace = "single"
    async with bench_run(workdir) as run:
        run.operator.start()
        await apply_issuer(run.plane, namespace)
        ready_at: dict[str, float] = {}
        watcher = asyncio.create_task(watch_ready(run.api, namespace, count, ready_at))
        run.tasks.append(watcher)
        await asyncio.sleep(0.5)  # as in scale.py: the watch is open before the first create
        latencies = []
        for number in range(count):
            name = f"s{number:03d}"
            created = await create_certificates(run.api, namespace, [name])
            # Paces the next create; the latency is the watch's time, not this poll's.
            ready = f"{name} to become Ready"
            await until(lambda name=name: name in ready_at, watcher, 60, ready, interval=0.005)
            latencies.append(ready_at[name] - created[name])
        return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="certmint-latency-"))
    ms = sorted(1000 * value for value in await measure(args.count, root))
    section = "\n".join(
        [
            f"## Single Certificate create→Ready, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"`python bench/latency.py`: {args.count} Certificates created one at a time on an idle "
            "operator (each once the one before is Ready), one self-signed Issuer, ECDSA P-256.",
            "",
            "| p50 ms | p90 ms | max ms |",
            "|---:|---:|---:|",
            f"| {percentile(ms, 50):.0f} | {percentile(ms, 90):.0f} | {ms[-1]:.0f} |",
            "",
        ]
    )
    print(section)
    print(f"appended to {append_section(section)}; work files in {root}")


if __name__ == "__main__":
    asyncio.run(main())

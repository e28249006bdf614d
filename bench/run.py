"""Run every benchmark once, print the tables, and write them with the machine's details to bench/results.md.

.venv/bin/python -m bench.run            # everything (about 2.5 minutes on 2 cores)
.venv/bin/python -m bench.run ack scale  # some of it: ack, lag, arm, scale, slow, steward
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` and `bot` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    if importlib.util.find_spec("devkit.localrun") is None:
        print(
            "bench: needs the devkit (simulators, local Slack, process harness): run `bash scripts/bench`, or "
            "`.venv/bin/pip install -e ./devkit` after the product",
            file=sys.stderr,
        )
        return 2
    from bench import ack, arm_calls, lag, scale, slow_stamp, steward
    from bench.common import ROOT, Section, machine_info
    from bench.lab import Lab

    benchmarks: dict[str, Callable[[Lab], Section | tuple[Section, ...]]] = {
        "ack": ack.run,
        "lag": lag.run,
        "arm": arm_calls.run,
        "scale": scale.run,
        "slow": slow_stamp.run,
        "steward": steward.run,
    }
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help=f"run only these of {', '.join(benchmarks)} (default: all)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(benchmarks))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(benchmarks)}")
    chosen = args.only or list(benchmarks)
    info = machine_info()
    header = ", ".join(f"{k}: {v}" for k, v in info.items())
    print(f"azs-backup-bot benchmark ({header})", flush=True)
    started = time.monotonic()
    sections: list[Section] = []
    lab = Lab.start()
    try:
        for name in chosen:
            began = time.monotonic()
            result = benchmarks[name](lab)
            for section in result if isinstance(result, tuple) else (result,):
                sections.append(section)
                print(f"\n{section.text()}", flush=True)
            print(f"  ({name}: {time.monotonic() - began:.0f} s)", flush=True)
    finally:
        lab.stop()
    elapsed = time.monotonic() - started
    print(f"\nTotal {elapsed:.0f} s. Process logs: {lab.log_dir}", flush=True)
    lines = [
        "# azs-backup-bot benchmark results",
        "",
        "Written by `python -m bench.run`; see `bench/README.md`.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in info.items()),
        f"| benchmarks | {', '.join(chosen)} ({elapsed:.0f} s) |",
        "",
    ]
    lines += [part for section in sections for part in (section.markdown(), "")]
    args.output.write_text("\n".join(lines))
    shutil.rmtree(Path(lab.sim_state_dir), ignore_errors=True)  # the simulators' CA keys
    print(f"Wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up time of quick commands against the interpreter's own start, in the same run.

    python bench/startup.py [--runs 15]

Each command runs as a fresh process (as a shell or cron would start it) in a workspace holding one open
incident; the median wall time of `--runs` runs is printed next to the median of `python -c pass`, with the
difference (what breachkit itself costs). Goal: `breachkit --help` and `breachkit incident clock` well under
half a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "breachkit --help": [sys.executable, "-m", "breachkit", "--help"],
    "breachkit incident clock": [sys.executable, "-m", "breachkit", "incident", "clock"],
    "breachkit incident clock -o json": [sys.executable, "-m", "breachkit", "incident", "clock", "-o", "json"],
}


def median_seconds(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "BREACHKIT_ACTOR": "bench", "COLUMNS": "100"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "breachkit", "init", "."], cwd=work, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "breachkit", "incident", "open", "--title", "bench",
                        "--aware-at", "2026-12-01T10:00Z", "--justification", "bench",
                        "--playbook", "gdpr-personal-data-breach"], cwd=work, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        results = {name: median_seconds(argv, args.runs, work, env) for name, argv in COMMANDS.items()}
    base = results["python -c pass"]
    print(f"median of {args.runs} runs each (fresh processes)")
    for name, seconds in results.items():
        extra = "" if name == "python -c pass" else f"  (+{seconds - base:.3f} s over python, {seconds / base:.1f}×)"
        print(f"  {name:<36} {seconds:.3f} s{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

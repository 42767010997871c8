"""`python -m breachkit.sample OUT_DIR [--seed N]`: write the sample dataset (see samples/README.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .generator import DEFAULT_START, write_sample


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m breachkit.sample",
        description="Write the seeded sample dataset: logs, user directory, devices and the planted attacks.",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write into (created if missing)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7, the committed samples/)")
    parser.add_argument(
        "--start",
        type=lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC),
        default=DEFAULT_START,
        help=f"first day of the 14-day window, UTC (default {DEFAULT_START.date()})",
    )
    args = parser.parse_args(argv)
    manifest = write_sample(args.out_dir, seed=args.seed, start=args.start)
    for f in manifest.files:
        print(f"{f.name:<22} {f.lines:>7} lines {f.size:>10} bytes")
    print(
        f"{len(manifest.attacks)} planted attacks, {manifest.accounts} accounts, {manifest.devices} devices",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

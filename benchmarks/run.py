"""Time totpcore against pyotp and cryptography in one run and print the ratios.

Usage: python benchmarks/run.py [--quick] [--check] [--only NAME ...]

Sections are the ``bench_*.py`` modules beside this file; each has a
``rows(scale: float) -> list[Row]`` function. ``--check`` exits 1 when a ratio misses
its target. Numbers depend on the machine: compare ratios, not microseconds.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from pathlib import Path

import cryptography

from harness import Row

HERE = Path(__file__).resolve().parent


def _format(row: Row) -> str:
    peer = f"{row.peer_us:10.3f}  {row.peer:<28}" if row.peer_us is not None else f"{'':10}  {'':<28}"
    ratio = f"{row.ratio:6.2f}x" if row.ratio is not None else " " * 7
    target = f">= {row.target:g}x {'met' if row.met else 'MISSED'}" if row.target is not None else ""
    return f"{row.operation:<46} {row.ours_us:10.3f} {row.unit:<6} {peer} {ratio}  {target}"


def main() -> int:
    """Run the selected sections and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target ratio is missed")
    parser.add_argument("--only", nargs="*", default=None, help="section names, e.g. generation verify")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n in args.only]
    print(
        f"Python {platform.python_version()} on {platform.machine()}, cryptography {cryptography.__version__}"
    )
    print(f"{'operation':<46} {'totpcore':>10} {'':<6} {'peer':>10}  {'':<28} {'ratio':>7}  target")
    missed = 0
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        print(f"-- {name}")
        for row in module.rows(0.1 if args.quick else 1.0):
            print(_format(row), flush=True)
            missed += row.met is False
    if missed:
        print(f"{missed} target(s) missed")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

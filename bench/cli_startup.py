"""How long `gt --help` and `gt --version` take, against a bare interpreter start.

Prints a table; compares as ratios against `python -c pass` measured in the same run.
Usage: python bench/cli_startup.py [RUNS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def best_of(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    gt = str(Path(sys.executable).parent / "gt")
    if not Path(gt).exists():
        gt = shutil.which("gt") or "gt"
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
        ("gt --version", [gt, "--version"]),
        ("gt --help", [gt, "--help"]),
    ]
    rows = [(name, *best_of(argv, runs)) for name, argv in cases]
    base = rows[0][2]
    print(f"{'command':32} {'best ms':>8} {'median ms':>10} {'x baseline':>11}")
    for name, best, median in rows:
        print(f"{name:32} {best:8.1f} {median:10.1f} {median / base:11.2f}")


if __name__ == "__main__":
    main()

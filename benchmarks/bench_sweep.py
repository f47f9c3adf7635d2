"""Wall time of one 200-run sweep on each executor, and whether their results agree.

    python benchmarks/bench_sweep.py [--grid FILE] [--out DIR] [--no-dask]

Runs ``flexpoison sweep FILE --out DIR/<executor>`` (default FILE:
benchmarks/sweep_grid200.toml) as a fresh command, into a fresh store, once per
executor, one after the other:

* ``local-1``: ``--workers 1`` (the runs in the command's own process);
* ``local-2``: ``--workers 2`` (two local worker processes);
* ``dask-2``: ``--dask --workers 2`` (a Dask LocalCluster of two worker processes).

It prints each command's wall time (Python start-up and imports included) and the time
the sweep itself reports, then checks that the stores hold the same runs with identical
``settings`` and ``result`` (compared exactly, as decoded JSON) and that none failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXECUTORS = {
    "local-1": ["--workers", "1"],
    "local-2": ["--workers", "2"],
    "dask-2": ["--dask", "--workers", "2"],
}


def run(grid: Path, out: Path, options: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flexpoison", "sweep", str(grid), "--out", str(out), *options],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"flexpoison sweep {' '.join(options)} failed:\n{done.stderr[-2000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("sweep ")]
    return wall, last[-1] if last else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, default=HERE / "sweep_grid200.toml")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the stores go (default: a temporary directory)",
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster")
    args = parser.parse_args()
    from flexpoison.sweeps import load_sweep, read_store

    n_runs = len(load_sweep(args.grid))
    executors = {k: v for k, v in EXECUTORS.items() if not (args.no_dask and "dask" in k)}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print(
            f"grid {args.grid.name}: {n_runs} runs; {os.cpu_count()} CPUs; "
            f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        print(f"{'executor':<10}{'wall s':>9}  sweep's own report")
        stores = {}
        for name, options in executors.items():
            out = root / name
            if out.exists():
                sys.exit(f"{out} exists: give an empty --out")
            wall, report = run(args.grid, out, options)
            print(f"{name:<10}{wall:>9.1f}  {report}", flush=True)
            stores[name] = {row["run_id"]: row for row in read_store(out)}
        reference_name, reference = next(iter(stores.items()))
        for name, rows in stores.items():
            failed = sum(row["status"] != "done" for row in rows.values())
            same = rows.keys() == reference.keys() and all(
                rows[k]["settings"] == reference[k]["settings"]
                and rows[k]["result"] == reference[k]["result"]
                for k in reference
            )
            print(
                f"{name}: {len(rows)} runs, {failed} failed, results "
                f"{'identical to' if same else 'DIFFERENT from'} {reference_name}'s"
            )


if __name__ == "__main__":
    main()

"""Where a sweep stands: done / failed / pending runs, and mean numbers per group."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .spec import Sweep
from .store import STORE_NAME, read_store

# ---------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusReport:
    """Where a sweep stands in a store, by run."""

    total: int
    done: int
    failed: int
    pending: int
    store_exists: bool
    other_runs: int  # rows of runs not in this grid
    failures: tuple[tuple[str, str, str, int], ...]  # (run_id, label, error, attempts)
    groups: tuple[tuple[tuple[str, str, str], Counter], ...]  # (ds, model, goal) → counts
    means: dict = field(default_factory=dict)  # (ds, model, goal) → mean numbers


def sweep_status(sweep: Sweep, out_dir: str | os.PathLike) -> StatusReport:
    """Count done / failed / pending runs of ``sweep`` in ``out_dir`` (reads only)."""
    path = Path(out_dir) / STORE_NAME
    rows = {}
    if path.is_file():
        rows = {row["run_id"]: row for row in read_store(out_dir)}
    in_grid = {r.run_id for r in sweep.runs}
    groups: dict[tuple, Counter] = {}
    sums: dict[tuple, list] = {}
    failures = []
    for run in sweep.runs:
        s = run.settings
        key = (s["dataset"], s["model"], s["goal"])
        row = rows.get(run.run_id)
        state = "pending" if row is None else row["status"]
        groups.setdefault(key, Counter())[state] += 1
        if row is None:
            continue
        if state == "failed":
            failures.append((run.run_id, run.label(), row["error"] or "", row["attempts"]))
        elif state == "done":
            res = row["result"]
            sums.setdefault(key, []).append(
                (
                    res["effect_clean"],
                    res["effect_final"],
                    res["test_metric_before"],
                    res["test_metric_after"],
                    row["wall_seconds"],
                )
            )
    means = {
        key: tuple(float(np.mean(col)) for col in zip(*values)) for key, values in sums.items()
    }
    total: Counter = Counter()
    for counts in groups.values():
        total.update(counts)
    return StatusReport(
        len(sweep.runs),
        total["done"],
        total["failed"],
        total["pending"],
        path.is_file(),
        len(set(rows) - in_grid),
        tuple(failures),
        tuple(groups.items()),
        means,
    )


def format_table(report: StatusReport) -> str:
    """Per (data set, model, goal): runs done / failed / pending and mean numbers."""
    from ..attack import GOALS

    head = (
        f"{'dataset':<14}{'model':<11}{'goal':<18}{'done':>6}{'failed':>8}"
        f"{'pending':>9}   {'E clean -> poisoned':<22}{'test metric before -> after':<28}"
        f"{'s/run':>7}"
    )
    lines = [head]
    for (ds, model, goal), counts in report.groups:
        mean = report.means.get((ds, model, goal))
        cells = ""
        if mean is not None:
            e = f"{GOALS[goal].effect_name} {mean[0]:.4g} -> {mean[1]:.4g}"
            t = f"{mean[2]:.4g} -> {mean[3]:.4g}"
            cells = f"{e:<22}{t:<28}{mean[4]:>7.2f}"
        lines.append(
            f"{ds:<14}{model:<11}{goal:<18}{counts['done']:>6}"
            f"{counts['failed']:>8}{counts['pending']:>9}   {cells}"
        )
    return "\n".join(lines)


__all__ = ["StatusReport", "sweep_status", "format_table"]

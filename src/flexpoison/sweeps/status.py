"""Where a sweep stands: done / failed / pending runs, and mean numbers per group."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .spec import Sweep
from .store import STORE_NAME, ResultsStore, Summary

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
    """Count done / failed / pending runs of ``sweep`` in ``out_dir`` (reads only).

    The store's rows are streamed (:meth:`ResultsStore.summaries`: a few columns and four
    numbers of each result), so memory grows with the grid, not with the results."""
    path = Path(out_dir) / STORE_NAME
    tally = _Tally(sweep)
    if path.exists():
        with ResultsStore(path, create=False) as store:
            for row in store.summaries():
                tally.add(row)
    return tally.report(path.exists())


class _Tally:
    """Counts and sums per (data set, model, goal) of a grid, one store row at a time."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.group_of: dict[str, tuple] = {}  # run_id → (data set, model, goal)
        self.groups: dict[tuple, Counter] = {}  # grid order; every run pending until seen
        for run in sweep.runs:
            s = run.settings
            group = self.group_of[run.run_id] = (s["dataset"], s["model"], s["goal"])
            self.groups.setdefault(group, Counter())["pending"] += 1
        self.sums: dict[tuple, list[float]] = {}  # the table's numbers and wall seconds
        self.failed: dict[str, tuple[str, int]] = {}  # run_id → (error, attempts)
        self.other_runs = 0

    def add(self, row: Summary) -> None:
        """Count one row of the store (a run of another grid: only counted as such)."""
        group = self.group_of.get(row.run_id)
        if group is None:
            self.other_runs += 1
            return
        self.groups[group][row.status] += 1
        self.groups[group]["pending"] -= 1
        if row.numbers is not None:
            values = (*row.numbers, row.wall_seconds)
            sums = self.sums.setdefault(group, [0.0] * len(values))
            for k, value in enumerate(values):
                sums[k] += value
        elif row.status == "failed":
            self.failed[row.run_id] = (row.error or "", row.attempts)

    def report(self, store_exists: bool) -> StatusReport:
        """The counts, failures (in grid order) and means per group."""
        total: Counter = Counter()
        for counts in self.groups.values():
            total.update(counts)
        failures = tuple(
            (run.run_id, run.label(), *self.failed[run.run_id])
            for run in self.sweep.runs
            if run.run_id in self.failed
        )
        means = {
            group: tuple(v / self.groups[group]["done"] for v in sums)
            for group, sums in self.sums.items()
        }
        return StatusReport(
            len(self.sweep.runs),
            total["done"],
            total["failed"],
            total["pending"],
            store_exists,
            self.other_runs,
            failures,
            tuple(self.groups.items()),
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

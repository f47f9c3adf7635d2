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
    #: (sanitizer, outcome, runs, first run's id): the done runs in which a sanitizer
    #: left nothing to refit the victim on (``experiments.outcomes.UNMEASURED``), in grid order
    unmeasured: tuple[tuple[str, str, int, str], ...] = ()
    #: (run_id, label, warnings) of the done runs whose result carries warnings, in
    #: grid order
    warned: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


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
        self.unmeasured: dict[str, tuple[tuple[str, str], ...]] = {}  # run_id → …
        self.warned: dict[str, tuple[str, ...]] = {}  # run_id → its warnings
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
        if row.status == "done" and row.unmeasured:
            self.unmeasured[row.run_id] = row.unmeasured
        if row.status == "done" and row.warnings:
            self.warned[row.run_id] = row.warnings

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
        unmeasured: dict[tuple[str, str], list] = {}
        for run in self.sweep.runs:
            for key in self.unmeasured.get(run.run_id, ()):
                unmeasured.setdefault(key, [0, run.run_id])[0] += 1
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
            tuple((*key, runs, first) for key, (runs, first) in unmeasured.items()),
            tuple(
                (run.run_id, run.label(), self.warned[run.run_id])
                for run in self.sweep.runs
                if run.run_id in self.warned
            ),
        )


#: The widest line :func:`format_table` makes (a 100-column terminal).
TABLE_WIDTH = 100


def format_table(report: StatusReport, width: int = TABLE_WIDTH) -> str:
    """Per (data set, model, goal): runs done (failed and pending when there are any)
    and mean numbers (3 significant digits, :func:`short_number`; the store holds every
    digit), as text whose columns are as wide as their contents. A table wider than
    ``width`` is printed as two: the counts, then the numbers."""
    keys = ["dataset", "model", "goal"]
    failed = any(counts["failed"] for _, counts in report.groups)
    pending = any(counts["pending"] for _, counts in report.groups)
    counted = ["done"] + ["failed"] * failed + ["pending"] * pending
    numbers = ["E", "test", "s/run"]
    rows = []
    for (ds, model, goal), counts in report.groups:
        row = {"dataset": ds, "model": model, "goal": goal}
        row.update({name: str(counts[name]) for name in counted})
        mean = report.means.get((ds, model, goal))
        if mean is not None:
            row["E"] = f"{short_number(mean[0])} -> {short_number(mean[1])}"
            row["test"] = f"{short_number(mean[2])} -> {short_number(mean[3])}"
            row["s/run"] = f"{mean[4]:.2f}"
        rows.append(row)
    legend = (
        "(means over the done runs) E: effect, clean -> poisoned; test: metric, before -> after"
    )
    lines = _columns(keys + counted + numbers, rows)
    if max(map(len, lines)) > width:
        lines = _columns(keys + counted, rows) + [""] + _columns(keys + numbers, rows)
    return "\n".join([*lines, legend, *unmeasured_lines(report)])


def unmeasured_lines(report: StatusReport) -> list[str]:
    """One line per (sanitizer, outcome) that left a victim unmeasured in some runs:
    ``sanitizer 'loss' removed every row in 3 of 8 done runs (e.g. RUN_ID): no effect
    or test metric after it there``."""
    return [
        f"sanitizer {name!r} {outcome} in {runs} of {report.done} done runs (e.g. {first}): "
        "no effect or test metric after it there"
        for name, outcome, runs, first in report.unmeasured
    ]


def _columns(head: list[str], rows: list[dict[str, str]]) -> list[str]:
    """``head`` and ``rows`` as lines of columns as wide as their widest cell, two
    spaces apart (counts and times right-aligned)."""
    widths = [max(len(h), *(len(r.get(h, "")) for r in rows)) for h in head]
    right = {"done", "failed", "pending", "s/run"}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(cells, widths, head)
        ).rstrip()

    return [line(head), *(line([r.get(h, "") for h in head]) for r in rows)]


def short_number(value: float) -> str:
    """``value`` to 3 significant digits in at most 7 characters: ``0.049``, ``47.8``,
    ``312``, ``3102`` (numbers of 4 or 5 digits keep them all), ``1.2e+05``."""
    if 100 <= abs(value) < 100_000:
        return f"{value:.0f}"
    return f"{value:.3g}"


__all__ = ["StatusReport", "sweep_status", "format_table", "unmeasured_lines", "short_number"]

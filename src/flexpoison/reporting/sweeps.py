"""The standard figures of a sweep, drawn from its results store (nothing is recomputed)."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..experiments.outcomes import MEASURED, UNMEASURED
from ..sweeps.spec import canonical
from ..sweeps.store import STORE_NAME, StoreError, damaged, read_store

# ----------------------------------------------------------------------- figures


# Settings averaged over (or drawn as lines); runs that differ in any other setting
# are never averaged together.
_GRID_AXES = ("dataset", "model", "goal", "alpha", "rate", "seed", "sanitizers", "clean_removal")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def plot_store(out_dir: str | os.PathLike) -> list[Path]:
    """Draw the standard figures of the finished runs in ``out_dir``'s store.

    Into ``out_dir/figures/`` (written together, replacing figures of the same name):

    * ``effect_vs_rate__DATASET__MODEL__GOAL.png``: the effect E against the poisoning
      rate m / n, one line per α (mean over seeds; rate 0 = the clean model);
    * ``metric_vs_rate__…png``: the test MSE / accuracy, likewise;
    * ``frontier__DATASET__MODEL__GOAL__rateR.png`` when the runs measured sanitizers:
      for each sanitizer, effect after sanitising against recall, one point per α
      (means over seeds, of the runs in which it was measured: a run in which it
      removed every row, or kept one class, is counted in the panel's title).

    Runs that differ in other settings (max_iter, tol, step, n_sigma, test_size,
    clean_removal) are never averaged together: such groups get a suffix.
    Nothing is recomputed. Returns the files written. A damaged store, or a finished run
    that lacks what the figures read, is refused (:class:`StoreError`, one line) before
    any figure is drawn.
    """
    from matplotlib.figure import Figure

    from . import files
    from .plotting import literal

    figures: dict[str, Figure] = {}
    for stem, (ds, model, goal), members in _groups(_finished_runs(out_dir)):
        about = literal(f"{ds}, {model}, {goal}")
        fig_e, fig_m = _rate_figures(members, goal, about)
        figures[f"effect_vs_rate__{stem}.png"] = fig_e
        figures[f"metric_vs_rate__{stem}.png"] = fig_m
        with_san = [r for r in members if r["result"].get("sanitizers")]
        for rate in sorted({r["settings"]["rate"] for r in with_san}):
            at = [r for r in with_san if r["settings"]["rate"] == rate]
            fig = _frontier_figure(at, goal)
            fig.suptitle(
                f"Effect after sanitising vs recall: {about}, rate {rate:g} (mean over seeds)"
            )
            figures[f"frontier__{stem}__rate{_slug(f'{rate:g}')}.png"] = fig
    with files.staged_output(Path(out_dir) / "figures") as stage:
        for name, fig in figures.items():
            fig.savefig(stage / name, format="png", dpi=110)
    return [Path(out_dir) / "figures" / name for name in sorted(figures)]


def _groups(rows: list[dict]) -> list[tuple[str, tuple[str, str, str], list[dict]]]:
    """The runs by (data set, model, goal) and every other setting but the grid's axes
    (never averaged together: such groups get a hash suffix on their file stem)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        s = row["settings"]
        others = {k: v for k, v in s.items() if k not in _GRID_AXES}
        others["clean_removal"] = s.get("clean_removal") if s.get("sanitizers") else None
        key = (s["dataset"], s["model"], s["goal"], canonical(others))
        groups.setdefault(key, []).append(row)
    per_name = Counter(key[:3] for key in groups)
    out = []
    for key, members in sorted(groups.items()):
        ds, model, goal, rest = key
        stem = f"{_slug(ds)}__{_slug(model)}__{_slug(goal)}"
        if per_name[key[:3]] > 1:
            stem += "__" + hashlib.sha256(rest.encode()).hexdigest()[:8]
        out.append((stem, (ds, model, goal), members))
    return out


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r["result"][key] for r in rows]))


def _rate_figures(members: list[dict], goal: str, about: str):
    """E and the test metric against the poisoning rate, one line per α (means over
    seeds; rate 0 = the clean model)."""
    from matplotlib.figure import Figure

    from .plotting import plot_effect_vs_rate, plot_metric_vs_rate

    first = members[0]["result"]
    effect_name, metric_name = first["effect_name"], first["metric_name"]
    fig_e = Figure(figsize=(6.8, 4.4), layout="constrained")
    fig_m = Figure(figsize=(6.8, 4.4), layout="constrained")
    ax_e, ax_m = fig_e.add_subplot(), fig_m.add_subplot()
    for k, alpha in enumerate(sorted({r["settings"]["alpha"] for r in members})):
        at = [r for r in members if r["settings"]["alpha"] == alpha]
        by_rate = [
            [r for r in at if r["settings"]["rate"] == q]
            for q in sorted({r["settings"]["rate"] for r in at})
        ]
        x = [0.0] + [_mean(rs, "rate") for rs in by_rate]
        e = [_mean(at, "effect_clean")] + [_mean(rs, "effect_final") for rs in by_rate]
        t = [_mean(at, "test_metric_clean")] + [_mean(rs, "test_metric_poisoned") for rs in by_rate]
        seeds = len({r["settings"]["seed"] for r in at})
        label = f"α = {alpha:g}" + (f" (mean of {seeds} seeds)" if seeds > 1 else "")
        plot_effect_vs_rate(x, e, goal, label=label, ax=ax_e, color=f"C{k}")
        plot_metric_vs_rate(x, t, metric_name, label=label, ax=ax_m, color=f"C{k}")
    ax_e.set_title(f"${effect_name}$ vs poisoning rate\n{about}", fontsize="medium")
    ax_m.set_title(f"{metric_name} vs poisoning rate\n{about}", fontsize="medium")
    return fig_e, fig_m


def _frontier_figure(at: list[dict], goal: str):
    """One panel per sanitizer measured at one rate: effect after sanitising against
    recall, one point per α (means over the runs in which it was measured; a run in
    which it left no victim to refit is counted in the panel's title)."""
    from matplotlib.figure import Figure

    from ..defences import SANITIZERS
    from .plotting import plot_frontier

    names = [n for n in SANITIZERS if any(n in r["result"]["sanitizers"] for r in at)]
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(5.2 * cols, 4.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    clean = float(np.mean([r["result"]["refit"]["effect_clean"] for r in at]))
    with_legend = False  # drawn on the first panel with points
    for ax, name in zip(axes, names):
        points, unmeasured = _sanitizer_points(at, name)
        title = name + "".join(
            f"\n({outcome} in {k} runs: not drawn)" for outcome, k in unmeasured.items()
        )
        if not points:
            ax.set_title(title, fontsize="medium")
            ax.set_axis_off()
            continue
        recall, effect, alpha_values = (list(v) for v in zip(*points))
        plot_frontier(
            recall,
            effect,
            alpha_values,
            goal,
            references={"no attack": clean},
            ax=ax,
            legend=not with_legend,
            title=title,
        )
        with_legend = True
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    return fig


def _sanitizer_points(at: list[dict], name: str) -> tuple[list[tuple], Counter]:
    """(mean recall, mean effect, α) per α over the runs that measured sanitizer
    ``name``, and how many runs it left unmeasured, by outcome."""
    points, unmeasured = [], Counter[str]()
    for alpha in sorted({r["settings"]["alpha"] for r in at}):
        cell = []
        for r in at:
            row = r["result"]["sanitizers"].get(name)
            if r["settings"]["alpha"] != alpha or row is None:
                continue
            if row.get("outcome", MEASURED) == MEASURED:
                cell.append(row)
            else:  # it left no victim to refit: no effect to draw
                unmeasured[row["outcome"]] += 1
        if cell:
            points.append(
                (
                    float(np.mean([c["recall"] for c in cell])),
                    float(np.mean([c["effect"] for c in cell])),
                    alpha,
                )
            )
    return points, unmeasured


# What the figures read of a finished run (see plot_store).
_SETTINGS = {"dataset": str, "model": str, "goal": str, "alpha": float, "rate": float, "seed": int}
_RESULT = {
    "effect_name": str,
    "metric_name": str,
    "rate": float,
    "effect_clean": float,
    "effect_final": float,
    "test_metric_clean": float,
    "test_metric_poisoned": float,
}


def _finished_runs(out_dir: str | os.PathLike) -> list[dict]:
    """The finished runs of the store, each holding what the figures read; a run that
    does not (a store edited by hand, or by another program) is refused as damage, in one
    line, rather than failing halfway through the figures."""
    rows = read_store(out_dir, "done")
    if not rows:
        raise StoreError(f"{out_dir}: the results store holds no finished run to plot")
    for row in rows:
        if not _drawable(row["settings"], row["result"]):
            raise damaged(
                Path(out_dir) / STORE_NAME,
                f"run {row['run_id']} is done but lacks what the figures read",
            )
    return rows


def _drawable(settings, result) -> bool:
    """Whether one finished run's settings and result hold what the figures read."""
    if not (_holds(settings, _SETTINGS) and _holds(result, _RESULT)):
        return False
    sanitizers = result.get("sanitizers")
    if not sanitizers:
        return True
    cells = sanitizers.values() if isinstance(sanitizers, dict) else [None]
    return _holds(result.get("refit"), {"effect_clean": float}) and all(
        _holds(cell, {"recall": float, "effect": float})
        or (isinstance(cell, dict) and cell.get("outcome") in UNMEASURED)
        for cell in cells
    )


def _holds(table, fields: dict[str, type]) -> bool:
    """``table`` is a dict whose ``fields`` have the given types (float: any number)."""
    if not isinstance(table, dict):
        return False
    for key, kind in fields.items():
        value = table.get(key)
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
        elif not isinstance(value, kind):
            return False
    return True


__all__ = ["plot_store"]

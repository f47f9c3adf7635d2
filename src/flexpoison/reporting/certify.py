"""The points-needed view (:func:`flexpoison.certify.points_curve`) as a figure, and
the files of ``flexpoison certify``: the curve as JSON and the figure, all or nothing.

The figure has one panel per measure, against the number of poison rows m:

* E_I = ‖θ_m − θ_t‖² of each attack (log scale), from θ₀ at m = 0 (an attack of
  several passes, one run per m: its runs' m as markers alone), with the line
  E_I = ε²·E_I(θ₀) (within ε of θ_t) and, shaded, the m below the certified bound
  for θ_t: no feasible set of fewer rows makes θ_t the victim's optimum;
* for a ``flip-subpopulation`` target, the share of the subpopulation each θ_m
  misclassifies, with θ₀'s and θ_t's;
* the certified efficiency lower_bound(θ_m) / m at the m certified: 1 means no
  feasible set of fewer rows reaches the model the attack reached.
"""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..certify import PointsCurve
from ..errors import InvalidInputError
from . import files
from .plotting import literal

#: The files ``flexpoison certify`` writes.
OUTPUT_FILES = ("points_needed.json", "points_needed.png")

#: Each attack's colour and marker, by the name its curve has.
STYLE = {"flexpoison": ("C0", "o"), "model-targeted": ("C1", "s")}


def plot_points_needed(
    curve: PointsCurve, *, title: str | None = None, figure: Figure | None = None
) -> Figure:
    """The points-needed view of ``curve`` (module docstring), on a new figure or on
    the empty ``figure`` given (e.g. pyplot's, for a notebook); ``title`` is shown
    literally."""
    panels = 3 if curve.subpopulation is not None else 2
    if figure is not None and figure.axes:
        raise InvalidInputError("figure: expected an empty figure to draw the panels on")
    fig = figure or Figure(figsize=(6.4, 2.6 * panels + 0.6), layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True)
    _effect_panel(axes[0], curve)
    if curve.subpopulation is not None:
        _subpopulation_panel(axes[1], curve)
    _efficiency_panel(axes[-1], curve)
    axes[-1].set_xlabel("poison rows added, m")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))  # m counts rows
    if title is not None:
        fig.suptitle(literal(title), fontsize="medium")
    return fig


def _effect_panel(ax: Axes, curve: PointsCurve) -> None:
    for attack in curve.attacks:
        m = np.concatenate([[0], attack.m])
        effect = np.concatenate([[curve.effect_clean], attack.effect])
        where = "" if attack.reached_at is None else f", within ε at m = {attack.reached_at}"
        if attack.passes > 1:
            where = f" ({attack.passes} passes, a run per m shown){where}"
        ax.plot(m, effect, label=attack.name + where, **_style(attack))
    ax.set_yscale("log")
    eps = curve.epsilon
    ax.axhline(
        eps**2 * curve.effect_clean,
        color="0.3",
        linestyle="--",
        linewidth=1,
        label=rf"within ε = {eps:g} of $\theta_t$ ($E_I = \varepsilon^2 E_I(\theta_0)$)",
    )
    _impossible(ax, curve.lower_bound, max(a.n_points for a in curve.attacks))
    ax.set_ylabel("$E_I = \\|\\theta_m - \\theta_t\\|^2$\n(squared distance to the target)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")


def _style(attack) -> dict:
    """An attack's colour and marker; its runs' m as markers alone when it is one run
    per m (several passes: no model in between)."""
    color, marker = STYLE.get(attack.name, (None, "."))
    if attack.passes > 1:
        return dict(color=color, marker=marker, markersize=5, linestyle="none")
    return dict(color=color, marker=marker, markersize=3)


def _impossible(ax: Axes, bound: float, n_points: int) -> None:
    """Shade m < the bound for θ_t (the whole axis when it lies beyond it), with the
    bound as a vertical line where it is on the axis."""
    if not bound > 0:
        return
    if math.isinf(bound):
        label = r"certified: no number of rows makes $\theta_t$ the optimum"
    else:
        label = rf"certified: fewer than {bound:.3g} rows cannot make $\theta_t$ the optimum"
    right = min(bound, n_points + 0.5)
    ax.axvspan(0, right, color="0.85", alpha=0.6, linewidth=0, label=label)
    if bound <= n_points:
        ax.axvline(bound, color="0.2", linewidth=1.5)
    ax.set_xlim(-0.25, n_points + 0.5)


def _subpopulation_panel(ax: Axes, curve: PointsCurve) -> None:
    for attack in curve.attacks:
        assert attack.subpopulation_error is not None  # a subpopulation target
        m = np.concatenate([[0], attack.m])
        error = np.concatenate([[curve.subpopulation_error_clean], attack.subpopulation_error])
        ax.plot(m, error, label=attack.name, **_style(attack))
    assert curve.subpopulation_error_target is not None
    ax.axhline(
        curve.subpopulation_error_target,
        color="0.3",
        linestyle="--",
        linewidth=1,
        label=r"the target model $\theta_t$'s",
    )
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(f"share misclassified of the\nsubpopulation ({curve.subpopulation_rows} rows)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")


def _efficiency_panel(ax: Axes, curve: PointsCurve) -> None:
    for attack in curve.attacks:
        color, marker = STYLE.get(attack.name, (None, "."))
        ax.plot(
            attack.certified_m,
            attack.efficiency,
            color=color,
            marker=marker,
            markersize=4,
            label=attack.name,
        )
    ax.axhline(0.5, color="0.3", linestyle=":", linewidth=1, label="within 2× of the fewest rows")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("certified efficiency:\nfewest rows reaching $\\theta_m$ / m")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")


def write_points_curve(out: str | os.PathLike, summary: dict, figure: Figure) -> None:
    """``points_needed.json`` (``summary``) and ``points_needed.png`` into ``out``,
    together or not at all (:func:`flexpoison.reporting.files.staged_output`)."""
    json_name, png_name = OUTPUT_FILES
    with files.staged_output(out) as stage:
        files.write_json(stage / json_name, summary)
        figure.savefig(stage / png_name, format="png", dpi=120)


__all__ = ["OUTPUT_FILES", "plot_points_needed", "write_points_curve"]

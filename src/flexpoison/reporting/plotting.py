"""Figures of the paper's kind, from plain arrays: W vs iteration, E (or a test
metric) vs poisoning rate.

Each helper takes numbers (not files, not results), draws on a new
:class:`matplotlib.figure.Figure` — or on the axes ``ax`` of an existing one, to
overlay several series (α = 0.5 against α = 0, a median over seeds, …) — and returns
the figure. Nothing here touches pyplot's global state, so the helpers are safe in
scripts, servers and tests; save with ``fig.savefig(path)`` (the Agg renderer is used).

>>> fig = plot_effect_vs_rate(rates, effects, Integrity(), label="α = 0.5")  # doctest: +SKIP
>>> _ = plot_effect_vs_rate(rates, effects0, Integrity(), label="α = 0",
...                         ax=fig.axes[0])  # doctest: +SKIP
>>> fig.savefig("effect_vs_rate.png")  # doctest: +SKIP

Axis labels come from the goal (:attr:`Goal.effect_tex`, :attr:`Goal.objective_tex`);
a goal may be given by its name. The attack itself never imports this module: the
reporting layer is the only importer of matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from ..attack import Goal, goal_from_name
from ..errors import InvalidInputError

FIGSIZE = (6.4, 4.2)


def literal(text: str) -> str:
    """``text`` shown as written in a figure: matplotlib reads a pair of ``$`` as TeX, so
    every user-supplied string (file, data set, column names) goes through this."""
    return str(text).replace("$", r"\$")


def effect_label(goal: Goal | str) -> str:
    """The effect axis: the goal's definition of E, and what it measures."""
    goal = goal_from_name(goal)
    return f"${goal.effect_tex}$ ({goal.effect_about})"


def objective_label(goal: Goal | str | None, trade_off: str = "paper") -> str:
    """The W axis: the W the goal's descent records under ``trade_off``
    (:meth:`Goal.w_tex`), or W alone without a goal."""
    if goal is None:
        return r"$W$ (attacker's objective)"
    goal = goal_from_name(goal)
    search = " (effect search)" if trade_off == "share" else ""
    return f"${goal.w_tex(trade_off)}${search}"


def plot_w_history(
    W: ArrayLike,
    *,
    title: str | None = None,
    label: str | None = None,
    goal: Goal | str | None = None,
    ax: Axes | None = None,
    trade_off: str = "paper",
) -> Figure:
    """W at every iteration of one poison point (the paper's figures "a").

    Parameters
    ----------
    W : array-like of shape (n_iter + 1,)
        W at the initial point (entry 0) and after each iteration, e.g. one entry of
        :attr:`flexpoison.AttackResult.W_history`.
    title : str, optional
        Axes title.
    label : str, optional
        Legend entry for this series.
    goal : Goal or its name, optional
        Writes W's definition for that goal on the y axis.
    ax : matplotlib Axes, optional
        Draw on these axes (to overlay series) instead of a new figure.
    trade_off : {"paper", "share"}, default "paper"
        The attack's trade-off: "share" descends the effect search's W (the y label
        says which).

    Returns
    -------
    matplotlib.figure.Figure
    """
    W = _series(W, "W")
    ylabel = objective_label(goal, trade_off)
    fig, ax = _axes(ax)
    ax.plot(np.arange(W.size), W, marker="o", markersize=3, label=label)
    ax.set_xlabel("iteration (0 = initial point)")
    ax.set_ylabel(ylabel)
    _finish(ax, title)
    return fig


def plot_effect_vs_rate(
    rates: ArrayLike,
    effects: ArrayLike,
    goal: Goal | str,
    *,
    title: str | None = None,
    label: str | None = None,
    ax: Axes | None = None,
    color: str | None = None,
    linestyle: str = "-",
    marker: str | None = "o",
) -> Figure:
    """The effect E against the poisoning rate m / n (the paper's figures "b").

    Parameters
    ----------
    rates : array-like of shape (k,)
        Poisoning rates as fractions (0.05 = 5 %); shown in percent.
    effects : array-like of shape (k,)
        E at each rate, e.g. ``[result.effect_clean, *result.effect_history]`` against
        ``[0, *result.rates]``.
    goal : Goal or its name
        Whose effect; its definition labels the y axis.
    title, label : str, optional
        Axes title; legend entry for this series.
    ax : matplotlib Axes, optional
        Draw on these axes (to overlay series) instead of a new figure.
    color, linestyle, marker : optional
        Style of this series (e.g. ``linestyle="--", marker=None`` for a median).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _plot_vs_rate(
        rates, effects, "effects", effect_label(goal), title, label, ax, color, linestyle, marker
    )


def plot_metric_vs_rate(
    rates: ArrayLike,
    values: ArrayLike,
    metric_name: str,
    *,
    title: str | None = None,
    label: str | None = None,
    ax: Axes | None = None,
    color: str | None = None,
    linestyle: str = "-",
    marker: str | None = "o",
) -> Figure:
    """Any per-rate number (test MSE, accuracy, …) against the poisoning rate m / n.

    As :func:`plot_effect_vs_rate`, with ``metric_name`` (e.g. ``"test MSE"``) as
    the y axis label.
    """
    return _plot_vs_rate(
        rates, values, "values", metric_name, title, label, ax, color, linestyle, marker
    )


def _plot_vs_rate(
    rates, values, name: str, ylabel: str, title, label, ax, color, linestyle, marker
) -> Figure:
    rates, values = _series(rates, "rates"), _series(values, name)
    if rates.shape != values.shape:
        raise InvalidInputError(
            f"rates and {name}: lengths differ ({rates.size} and {values.size})"
        )
    fig, ax = _axes(ax)
    ax.plot(
        100.0 * rates,
        values,
        color=color,
        linestyle=linestyle,
        marker=marker,
        markersize=3,
        label=label,
    )
    ax.set_xlabel("poisoning rate m / n (% of the clean training rows)")
    ax.set_ylabel(ylabel)
    _finish(ax, title)
    return fig


def _series(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"{name}: expected a non-empty 1-D array, got shape {arr.shape}")
    return arr


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.get_figure(root=True)
        assert isinstance(figure, Figure)
        return figure, ax
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    return fig, fig.add_subplot()


def _finish(ax: Axes, title: str | None) -> None:
    if title is not None:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    if any(not str(line.get_label()).startswith("_") for line in ax.get_lines()):
        ax.legend()


@dataclass(frozen=True)
class ClippedAxis:
    """Limits of an axis that shows some values in place and clips the others to an edge.

    Values in ``[shown_low, shown_high]`` are drawn where they are; a value above
    ``shown_high`` is drawn at ``high_edge`` (below ``upper``, so its marker stays whole)
    and one below ``shown_low`` at ``low_edge``, each annotated with its value.
    """

    lower: float
    upper: float
    shown_low: float
    shown_high: float
    low_edge: float
    high_edge: float

    def place(self, value: float) -> tuple[float, int]:
        """Where ``value`` is drawn and on which side it was clipped: ``(y, 0)`` in
        place, ``(high_edge, 1)`` above, ``(low_edge, -1)`` below (NaN: ``(NaN, 0)``)."""
        if value > self.shown_high:
            return self.high_edge, 1
        if value < self.shown_low:
            return self.low_edge, -1
        return value, 0


def clipped_axis(
    focus: ArrayLike, others: ArrayLike = (), *, reach: float = 1.5, pad: float = 0.06
) -> ClippedAxis | None:
    """Axis limits that keep ``focus`` readable whatever ``others`` hold.

    The limits span every finite value of ``focus`` (the α series and the reference
    lines of a frontier panel) and each finite value of ``others`` (the baselines) that
    lies within ``reach`` times that span of it; the others are clipped to an edge
    (:meth:`ClippedAxis.place`), so one far outlier cannot squash the series into a
    line. A padding of ``pad`` times the span is added on each side, and on a side
    with a clipped value a second one, where it is drawn.

    Parameters
    ----------
    focus : array-like of shape (k,)
        Values that must be shown as they are. Empty or all non-finite: ``others``
        play their part (nothing is clipped).
    others : array-like of shape (j,), optional
        Values shown in place if near the focus, clipped to an edge if not.
    reach : float, default 1.5
        How far beyond the focus's range (in multiples of it) a value is still shown.
    pad : float, default 0.06
        Margin on each side, as a share of the span shown.

    Returns
    -------
    ClippedAxis, or None when no value is finite (let matplotlib choose).
    """
    if not (reach >= 0 and pad >= 0):
        raise InvalidInputError(f"reach and pad: must be >= 0, got {reach} and {pad}")
    focus_arr = np.asarray(focus, dtype=float).ravel()
    other_arr = np.asarray(others, dtype=float).ravel()
    core = focus_arr[np.isfinite(focus_arr)]
    rest = other_arr[np.isfinite(other_arr)]
    if core.size == 0:
        core, rest = rest, rest[:0]
    if core.size == 0:
        return None
    low, high = float(core.min()), float(core.max())
    span = _span(low, high)
    near = rest[(rest >= low - reach * span) & (rest <= high + reach * span)]
    shown_low = min(low, float(near.min())) if near.size else low
    shown_high = max(high, float(near.max())) if near.size else high
    margin = pad * _span(shown_low, shown_high)
    clipped_low = bool(np.any(rest < shown_low))
    clipped_high = bool(np.any(rest > shown_high))
    low_edge, high_edge = shown_low - 2 * margin, shown_high + 2 * margin
    return ClippedAxis(
        lower=low_edge - margin if clipped_low else shown_low - margin,
        upper=high_edge + margin if clipped_high else shown_high + margin,
        shown_low=shown_low,
        shown_high=shown_high,
        low_edge=low_edge,
        high_edge=high_edge,
    )


def _span(low: float, high: float) -> float:
    """``high - low``, or for a single value a tenth of its size (1 for zero)."""
    if high > low:
        return high - low
    return 0.1 * abs(high) if high != 0 else 1.0


_BASELINE_MARKERS = ("s", "^", "X", "D", "v", "P")


def _baseline_markers(ax: Axes, baselines: dict, axis: ClippedAxis | None) -> None:
    """One distinct marker per baseline attack; one outside ``axis`` (a
    :func:`clipped_axis`, or None) at its edge, with an arrow and its value."""
    for k, (label, (x, y)) in enumerate(baselines.items()):
        drawn, side = axis.place(y) if axis is not None else (y, 0)
        ax.plot(
            [x],
            [drawn],
            linestyle="none",
            marker=_BASELINE_MARKERS[k % 6],
            markersize=8,
            color=f"C{k + 1}",
            label=label,
        )
        if side:
            ax.annotate(
                f"{'↑' if side > 0 else '↓'} {y:.4g}",
                (x, drawn),
                textcoords="offset points",
                xytext=(-8 if x > 0.7 else 8, -3),
                ha="right" if x > 0.7 else "left",
                fontsize=7,
                color=f"C{k + 1}",
            )


def plot_frontier(
    recall: ArrayLike,
    effect: ArrayLike,
    alphas: ArrayLike,
    goal: Goal | str,
    *,
    baselines: dict | None = None,
    references: dict | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    legend: bool = True,
) -> Figure:
    """Effect left after a sanitizer (y) against the share of poison it caught (x).

    Parameters
    ----------
    recall : array-like of shape (k,)
        Share of the poison rows the sanitizer removed, for each α of the sweep.
    effect : array-like of shape (k,)
        The effect of the victim refitted on the rows kept, for each α.
    alphas : array-like of shape (k,)
        The α of each point (drawn as a line in this order, each point annotated).
    goal : Goal or its name
        Labels the y axis: its effect after sanitising, and which way is damage.
    baselines : dict, optional
        Label → (recall, effect) of each baseline attack: one distinct marker each. A
        baseline far outside the range of the α series and the reference lines is
        drawn at the axis's edge with an arrow and its value (:func:`clipped_axis`),
        so that it does not squash the series.
    references : dict, optional
        Label → effect: horizontal reference lines (e.g. ``"no attack"``).
    title : str, optional
    ax : matplotlib Axes, optional
        Draw on these axes instead of a new figure.
    legend : bool, default True
        Draw a legend on the axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    recall, effect, alphas = (np.asarray(v, dtype=float) for v in (recall, effect, alphas))
    if recall.ndim != 1 or not recall.shape == effect.shape == alphas.shape:
        raise InvalidInputError(
            f"recall, effect and alphas: lengths differ "
            f"({recall.size}, {effect.size}, {alphas.size})"
        )
    goal = goal_from_name(goal)
    fig, ax = _axes(ax)
    styles = ("-", "--", ":", "-.")
    for k, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="0.45", linewidth=1.0, linestyle=styles[k % 4], label=label)
    if recall.size:
        ax.plot(
            recall, effect, marker="o", markersize=4, color="C0", label="flexible attack (α sweep)"
        )
        for k, (x, y, a) in enumerate(zip(recall, effect, alphas)):
            ax.annotate(
                f"{a:g}",
                (x, y),
                textcoords="offset points",
                fontsize=7,
                xytext=(4, 4) if k % 2 == 0 else (4, -10),
                color="C0",
            )
    baselines = baselines or {}
    axis = clipped_axis([*effect, *(references or {}).values()], [y for _, y in baselines.values()])
    _baseline_markers(ax, baselines, axis)
    if axis is not None:
        ax.set_ylim(axis.lower, axis.upper)
    ax.set_xlim(-0.04, 1.04)
    ax.set_xlabel("share of poison rows removed by the sanitizer (recall)")
    ylabel = (
        f"${goal.effect_tex}$ after sanitising and refitting\n("
        + ("higher" if goal.higher_is_damage else "lower")
        + " = more damage)"
    )
    ax.set_ylabel(ylabel, fontsize="small")
    if title is not None:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(fontsize="small")
    return fig

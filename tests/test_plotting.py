"""Plotting helpers: arrays in, a Figure out, no pyplot state, several series per axes."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib._pylab_helpers import Gcf
from matplotlib.figure import Figure

from flexpoison.attack import Integrity
from flexpoison.errors import InvalidInputError
from flexpoison.reporting.plotting import (
    clipped_axis,
    effect_label,
    plot_effect_vs_rate,
    plot_frontier,
    plot_metric_vs_rate,
    plot_w_history,
)


def test_w_history_is_one_line_over_the_iterations():
    W = [5.0, 3.0, 2.5, 2.4]
    fig = plot_w_history(W, title="first point", goal=Integrity())
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), W)
    assert ax.get_title() == "first point"
    assert "iteration" in ax.get_xlabel() and "W_I" in ax.get_ylabel()
    assert ax.get_legend() is None  # nothing labelled, no legend
    assert not Gcf.get_all_fig_managers()  # pyplot's global state untouched


def test_the_w_axis_names_the_w_the_trade_off_descends():
    """Item 7 of issue 26: the share trade-off records its effect search's W, which
    holds no α; the label says so (from the goal, the one place that defines both)."""
    W = [0.03, -0.05, -0.08]
    share = plot_w_history(W, goal=Integrity(), trade_off="share").axes[0].get_ylabel()
    assert share == r"$W = E_I - E_I^{\mathrm{before}}$ (effect search)"
    paper = plot_w_history(W, goal="availability", trade_off="paper").axes[0].get_ylabel()
    assert paper == r"$W_A = \alpha\,C - (1 - \alpha)\,E_A$"
    availability = plot_w_history(W, goal="availability", trade_off="share")
    assert r"-(E_A - E_A^{\mathrm{before}})" in availability.axes[0].get_ylabel()


def test_effect_vs_rate_overlays_series_on_one_axes():
    rates = np.array([0.0, 0.01, 0.02, 0.03])
    fig = plot_effect_vs_rate(
        rates, [4.0, 3.0, 2.0, 1.5], "integrity", label="α = 0.5", title="ccpp"
    )
    ax = fig.axes[0]
    again = plot_effect_vs_rate(rates, [4.0, 2.5, 1.5, 1.0], "integrity", label="α = 0", ax=ax)
    plot_effect_vs_rate(
        rates,
        [4.0, 2.7, 1.7, 1.2],
        "integrity",
        label="median",
        ax=ax,
        linestyle="--",
        marker=None,
        color="black",
    )
    assert again is fig and len(fig.axes) == 1
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["α = 0.5", "α = 0", "median"]
    assert [len(line.get_xdata()) for line in lines] == [4, 4, 4]
    np.testing.assert_allclose(lines[0].get_xdata(), [0, 1, 2, 3])  # in percent
    assert lines[2].get_linestyle() == "--" and lines[2].get_marker() in (None, "None")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["α = 0.5", "α = 0", "median"]
    assert ax.get_ylabel() == effect_label(Integrity()) and "%" in ax.get_xlabel()
    assert "E_I" in ax.get_ylabel()
    assert ax.get_title() == "ccpp"


def test_metric_vs_rate_labels_the_metric_and_overlays():
    fig = plot_metric_vs_rate([0.0, 0.05, 0.1], [1.0, 1.2, 1.5], "test MSE", label="α = 0.5")
    plot_metric_vs_rate(
        [0.0, 0.05, 0.1], [1.0, 1.4, 2.0], "test MSE", label="α = 0", ax=fig.axes[0]
    )
    (ax,) = fig.axes
    assert ax.get_ylabel() == "test MSE" and len(ax.get_lines()) == 2
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [1.0, 1.4, 2.0])
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0.0, 5.0, 10.0])


def test_figures_render_to_png():
    fig = plot_effect_vs_rate([0.0, 0.1], [1.0, 2.0], "availability")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG\r\n\x1a\n")
    assert "E_A" in fig.axes[0].get_ylabel()


def test_clipped_axis_keeps_the_focus_and_clips_a_far_outlier():
    # the fair data's three_sigma panel: α series 0.035-0.70, label flip at 41.5
    axis = clipped_axis([0.035, 0.3, 0.70, 0.627], [0.35, 41.5])
    assert axis.shown_low == 0.035 and axis.shown_high == 0.70  # 0.35 is inside anyway
    assert axis.upper < 1.0 and axis.lower < 0.035
    y, side = axis.place(41.5)
    assert side == 1 and axis.shown_high < y == axis.high_edge < axis.upper
    assert axis.place(0.35) == (0.35, 0)
    assert axis.lower == pytest.approx(0.035 - 0.06 * 0.665)  # no room kept below


def test_clipped_axis_shows_a_near_value_in_place_and_clips_below():
    axis = clipped_axis([1.0, 2.0], [3.4, -10.0], reach=1.5)
    assert axis.shown_high == 3.4 and axis.shown_low == 1.0  # 3.4 is 1.4 spans away
    assert axis.place(3.4) == (3.4, 0)
    y, side = axis.place(-10.0)
    assert side == -1 and axis.lower < y == axis.low_edge < 1.0
    assert axis.upper == pytest.approx(3.4 + 0.06 * 2.4)


@pytest.mark.parametrize(
    "focus, others, limits",
    [
        ([], [2.0, 4.0], (2.0 - 0.12, 4.0 + 0.12)),  # no series: the others are the focus
        ([5.0], [], (5.0 - 0.03, 5.0 + 0.03)),  # one value: a tenth of it as the span
        ([0.0, np.nan], [np.inf], (-0.06, 0.06)),  # non-finite values are not placed
    ],
)
def test_clipped_axis_edge_cases(focus, others, limits):
    axis = clipped_axis(focus, others)
    assert (axis.lower, axis.upper) == pytest.approx(limits)


def test_clipped_axis_without_finite_values_leaves_the_axis_alone():
    assert clipped_axis([np.nan], [np.inf]) is None
    with pytest.raises(InvalidInputError, match="reach and pad"):
        clipped_axis([1.0], reach=-1.0)


def test_frontier_draws_a_far_baseline_at_the_edge_with_its_value():
    fig = plot_frontier(
        [0.0, 0.1, 0.2],
        [0.04, 0.3, 0.7],
        [0.0, 0.5, 1.0],
        "integrity",
        baselines={"label flip": (0.02, 41.5), "random clone": (0.05, 0.6)},
        references={"no attack": 0.63},
    )
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    assert high < 1.0 and low < 0.04  # the α series fills the panel
    flip = next(line for line in ax.get_lines() if line.get_label() == "label flip")
    assert low < flip.get_ydata()[0] < high
    assert [t.get_text() for t in ax.texts if "41.5" in t.get_text()] == ["↑ 41.5"]
    clone = next(line for line in ax.get_lines() if line.get_label() == "random clone")
    assert clone.get_ydata()[0] == 0.6  # a baseline in range is drawn where it is


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_effect_vs_rate([0, 1], [1.0], "integrity"), "lengths differ"),
        (lambda: plot_effect_vs_rate([0, 1], [1.0, 2.0], "E_X"), "goal: unknown goal"),
        (lambda: plot_metric_vs_rate([0, 1], [1.0, 2.0, 3.0], "MSE"), "lengths differ"),
        (lambda: plot_w_history([], title="empty"), "W: expected a non-empty"),
        (lambda: plot_w_history([[1.0, 2.0]]), "1-D"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_the_attack_does_not_import_plotting():
    code = (
        "import sys, flexpoison; from flexpoison import FlexiblePoisoning; "
        "from flexpoison.experiments import frontier, paper; from flexpoison import sweeps; "
        "bad = [m for m in ('flexpoison.reporting.plotting', 'matplotlib') "
        "       if m in sys.modules]; "
        "sys.exit(', '.join(bad) or None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

"""The files of ``flexpoison attack``: poison rows, the summary, two figures — all or nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..attack import AttackResult, Goal
from . import files
from .plotting import literal, plot_effect_vs_rate, plot_w_history


def figures(result: AttackResult, goal: Goal, alpha: float, about: str) -> dict[str, Figure]:
    """The two figures of an attack, by file name: W while crafting the first point,
    and the effect against the poisoning rate. ``about`` (the data file, the victim) is
    shown literally."""
    about = f"{literal(about)}, α = {alpha:g}"
    return {
        "W_first_point.png": plot_w_history(
            result.W_history[0],
            goal=goal,
            title=f"W vs iteration, first poison point\n{about}",
            trade_off=str(result.settings.get("trade_off", "paper")),
        ),
        "effect_vs_rate.png": plot_effect_vs_rate(
            np.concatenate([[0.0], result.rates]),
            np.concatenate([[result.effect_clean], result.effect_history]),
            goal,
            title=f"${goal.effect_name}$ vs poisoning rate ({goal.kind})\n{about}",
            label=f"α = {alpha:g}",
        ),
    }


def write_attack(
    out: str | os.PathLike,
    columns: Sequence[str],
    poison_rows: Sequence[Sequence[object]],
    sep: str,
    summary: dict,
    figures: dict[str, Figure],
    *,
    integer_columns: Sequence[str] = (),
) -> None:
    """``poison.csv`` (the file's columns, with its separator; ``integer_columns``
    written as integers), ``summary.json`` and the figures into ``out``, together or
    not at all."""
    with files.staged_output(out) as stage:
        files.write_csv(
            stage / "poison.csv", columns, poison_rows, sep, integer_columns=integer_columns
        )
        files.write_json(stage / "summary.json", summary)
        for name, figure in figures.items():
            figure.savefig(stage / name, format="png", dpi=120)


__all__ = ["figures", "write_attack"]

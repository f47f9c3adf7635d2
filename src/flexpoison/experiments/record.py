"""The result record: one spelling per quantity in every result file.

``flexpoison attack``'s ``summary.json``, a sweep run's result, ``flexpoison
reproduce``'s ``summary.json`` (per α) and ``frontier.json`` (per attack, and the clean
model) write what they measured of an attack under the names of :data:`FIELDS`, each
declared once here with its meaning and unit, and carry ``record_version``
(:data:`RECORD_VERSION`). A writer writes the fields it measures, and its own extras
beside them (a sweep's sanitizers, ``summary.json``'s box), never another spelling of
a declared field.

Version 1 had no ``record_version`` and spelled the same quantities differently in each
file (``effect_before``, ``E_I_clean``, ``rate_actual`` …); :func:`upgrade` maps such
a record to this version (:data:`LEGACY`), so that sweep stores written before still
read. No numerical import: the sweep store and its reports read this at the command
line's start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

#: The version of :data:`FIELDS`' spellings a record carries as ``record_version``.
RECORD_VERSION = 2


@dataclass(frozen=True)
class Field:
    """One quantity of the record: its name in every file, what it is, its unit."""

    name: str
    meaning: str
    unit: str


_ROWS = "rows"
_E = "the goal's effect E (E_I, E_A: squared distance of θ; E_L: mean loss)"
_THETA = "θ's layout (w…, b), attack space; without θ: decision values"

FIELDS: tuple[Field, ...] = (
    Field("record_version", "the version of these spellings (RECORD_VERSION)", "integer"),
    Field("task", '"regression" or "classification"', "text"),
    Field("effect_name", 'the goal\'s effect: "E_I", "E_A" or "E_L"', "text"),
    Field("metric_name", 'the test metric: "test MSE" or "test accuracy"', "text"),
    Field("n_clean", "clean training rows n the attack was given", _ROWS),
    Field("n_test", "held-out test rows", _ROWS),
    Field("n_features", "feature columns d", "columns"),
    Field("n_points", "poison rows m added", _ROWS),
    Field("rate", "poisoning rate m / n_clean", "share"),
    Field("theta_clean", "θ₀: the victim on the clean rows", _THETA),
    Field("theta_target", "θ_t, the goal's reference (θ₀ for availability)", _THETA),
    Field("theta_poisoned", "θ_p: the victim on the clean + poison rows", _THETA),
    Field("effect_clean", "E of θ₀, before any poison", _E),
    Field("effect_final", "E of θ_p, with every poison row", _E),
    Field("effect_history", "E after each poison row joins, one per row", _E),
    Field(
        "effect_unconcealed",
        "E after the same attack at α = 0 (share trade-off, 0 < α < 1; else null)",
        _E,
    ),
    Field("progress", "share of the way the attack moved E (Goal.progress)", "share"),
    Field("concealment", "C = ‖x_p − x_c‖² of each poison row", "squared attack-space units"),
    Field("mean_concealment", "mean C over the poison rows", "squared attack-space units"),
    Field("n_iter", "gradient iterations spent on each poison row, all starts", "iterations"),
    Field("mean_iterations", "mean of n_iter over the poison rows", "iterations"),
    Field("test_metric_clean", "test metric of the victim on the clean rows", "the metric's"),
    Field(
        "test_metric_poisoned",
        "test metric of the victim on the clean + poison rows",
        "the metric's",
    ),
    Field("warnings", "what the result should not be trusted for", "texts"),
    Field("seconds", "wall time of the attack", "seconds"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)

#: Version 1's spellings, by writer: old name → name in :data:`FIELDS`. (Version 1 of
#: ``summary.json`` held the metric's file key, ``test_metric = "mse"``, where version
#: 2 holds ``metric_name``: not a renaming, so :func:`upgrade` keeps it as it was.)
LEGACY: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "attack": {
            "n_train": "n_clean",
            "n_poison": "n_points",
            "effect_before": "effect_clean",
            "effect_after": "effect_final",
            "effect_per_point": "effect_history",
            "concealment_per_point": "concealment",
            "iterations_per_point": "n_iter",
            "test_metric_before": "test_metric_clean",
            "test_metric_after": "test_metric_poisoned",
            "attack_seconds": "seconds",
        },
        "sweep": {
            "n_poison": "n_points",
            "rate_actual": "rate",
            "iterations_per_point": "n_iter",
            "test_metric_before": "test_metric_clean",
            "test_metric_after": "test_metric_poisoned",
        },
        "reproduce": {
            "max_rate": "rate",
            "E_I_clean": "effect_clean",
            "E_I_final": "effect_final",
            "mean_C": "mean_concealment",
            "metric_clean": "test_metric_clean",
            "metric_final": "test_metric_poisoned",
        },
        "frontier": {
            "n_poison": "n_points",
            "effect_attack": "effect_final",
            "effect": "effect_clean",
            "test_metric": "test_metric_clean",
            "theta_reference": "theta_target",
        },
    }
)


def record(**values: Any) -> dict:
    """A record of ``values`` (each a field of :data:`FIELDS`, in its order), with
    ``record_version``; an undeclared name is refused."""
    unknown = [name for name in values if name not in FIELD_NAMES]
    if unknown:
        raise ValueError(f"record: {', '.join(unknown)} not declared in FIELDS")
    return {"record_version": RECORD_VERSION} | {n: values[n] for n in FIELD_NAMES if n in values}


#: The fields each writer takes from an attack result (:func:`of_result`); it adds
#: what it measured beside the attack (task, names, test rows, test metrics, seconds).
FROM_RESULT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "attack": (
            *("n_clean", "n_points", "rate", "theta_clean", "theta_target", "theta_poisoned"),
            *("effect_clean", "effect_final", "effect_history", "effect_unconcealed"),
            *("progress", "concealment", "n_iter"),
        ),
        "sweep": (
            *("n_clean", "n_points", "rate", "theta_clean", "theta_target", "theta_poisoned"),
            *("effect_clean", "effect_final", "effect_history", "progress", "warnings"),
            *("mean_concealment", "n_iter"),
        ),
        "reproduce": (
            *("n_points", "rate", "theta_clean", "theta_target", "theta_poisoned"),
            *("effect_clean", "effect_final", "mean_concealment", "mean_iterations"),
        ),
    }
)


def of_result(result: Any, writer: str, **values: Any) -> dict:
    """The record ``writer`` (a key of :data:`FROM_RESULT`) writes of an
    :class:`~flexpoison.attack.AttackResult`: the fields it takes from the result, then
    ``values``, what it measured beside it (test metrics, seconds …)."""
    held = {
        "n_clean": lambda: int(result.n_clean),
        "n_points": lambda: int(result.n_points),
        "rate": lambda: result.n_points / result.n_clean,
        "theta_clean": lambda: result.theta_clean,
        "theta_target": lambda: result.theta_target,
        "theta_poisoned": lambda: result.theta_poisoned,
        "effect_clean": lambda: float(result.effect_clean),
        "effect_final": lambda: float(result.effect_history[-1]),
        "effect_history": lambda: result.effect_history,
        "effect_unconcealed": lambda: result.effect_unconcealed,
        "progress": lambda: result.progress,
        "concealment": lambda: result.concealment,
        "mean_concealment": lambda: float(result.concealment.mean()),
        "n_iter": lambda: result.n_iter,
        "mean_iterations": lambda: float(result.n_iter.mean()),
        "warnings": lambda: list(result.warnings),
    }
    return record(**{name: held[name]() for name in FROM_RESULT[writer]}, **values)


def upgrade(values: Mapping, writer: str) -> dict:
    """A record of ``writer`` (a key of :data:`LEGACY`) in this version's spellings:
    a version-1 record (no ``record_version``) with its names mapped and
    ``record_version`` set, its other keys (the writer's extras) kept; a current one
    unchanged."""
    if "record_version" in values:
        return dict(values)
    names = LEGACY[writer]
    upgraded = {names.get(key, key): value for key, value in values.items()}
    return {"record_version": RECORD_VERSION} | upgraded


def fields_table() -> str:
    """:data:`FIELDS` as a reST list table: name, meaning, unit, and the version-1
    spellings (:data:`LEGACY`) by writer (the documentation's "The result record")."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 44 20 18", ""]
    rows = [("field", "meaning", "unit", "version 1")]
    for f in FIELDS:
        old = [
            f"``{o}`` ({w})" for w, names in LEGACY.items() for o, n in names.items() if n == f.name
        ]
        rows.append((f"``{f.name}``", f.meaning, f.unit, ", ".join(old)))
    for cells in rows:
        lines += [f"   * - {cells[0]}", *(f"     - {cell}".rstrip() for cell in cells[1:])]
    return "\n".join(lines) + "\n"


__all__ = [
    "RECORD_VERSION",
    "Field",
    "FIELDS",
    "FIELD_NAMES",
    "LEGACY",
    "FROM_RESULT",
    "record",
    "of_result",
    "upgrade",
    "fields_table",
]

"""Pipelines as victims: an affine scaler refitted on the poisoned rows, then a model.

A victim may be ``make_pipeline(scaler, …, model)`` with one or more of scikit-learn's
``StandardScaler``, ``MinMaxScaler`` or ``MaxAbsScaler`` and ``model`` a supported
linear model. scikit-learn fits the scaler on the training rows — clean *and* poison —
and the model on the scaled rows z = (x − m) / v (per feature: m the scaler's offset,
v its ``scale_``). For a linear model with weights w_z and intercept b_z,

    w_z·z + b_z = w·x + b   with   w = w_z / v,   b = b_z − w·m,

so the pipeline is the model trained on the raw rows with its penalty on w ⊙ v:

    L(w, b) = s(N)·Σ ℓ(w·x_i + b, y_i) + (λ₂/2)‖w ⊙ v‖² + λ₁‖w ⊙ v‖₁.

The intercept is not penalised, so the offset m drops out (a centring scaler before a
model without intercept is refused); the scale v depends on every training row, the
poison rows included, and that is how a poison row moves the model beyond its own
loss term. θ for a pipeline victim is therefore (w, b) in the user's units — the
pipeline's linear function of the raw features — and the feasible box is the raw
data's 3σ box.

The scales v and their derivatives in the poison row (each scaler's, and a chain's by
the chain rule) are derived on the documentation's maths page ("Pipelines").

Two victims, two names. A scaler fitted once on the clean training rows and then held
fixed — the command line's ``--standardize``, and the standardisation of ``frontier``,
``reproduce`` and ``sweep`` (:func:`flexpoison.experiments.split_data`) — is a
different victim from a pipeline: the poison rows are scaled by it but do not refit
it, so the attack works on the model alone, in standardised units. The help of every
command states them in the words of ``FIXED_SCALER`` and ``REFITTED_SCALER``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import UnsupportedEstimatorError

#: What a fixed scaler is, in the words every command's help uses.
FIXED_SCALER = (
    "a StandardScaler fitted on the clean training rows and then held fixed: the poison "
    "rows are scaled by it but do not refit it, so the attack works on the model alone, "
    "in standardised units"
)
#: What a pipeline victim is, in the words every command's help uses.
REFITTED_SCALER = (
    "a scikit-learn Pipeline of scalers and the model (library only), whose scalers "
    "scikit-learn refits on the clean + poison rows, so the poison moves them too"
)

Kind = Literal["standard", "minmax", "maxabs"]

_CLASSES: dict[str, Kind] = {
    "StandardScaler": "standard",
    "MinMaxScaler": "minmax",
    "MaxAbsScaler": "maxabs",
}


@dataclass(frozen=True)
class Stage:
    """One affine scaler of a pipeline: its kind, whether it divides by a scale, whether
    it centres, and MinMaxScaler's target range (a, b)."""

    kind: Kind
    label: str
    scales: bool = True
    centres: bool = True
    low: float = 0.0
    high: float = 1.0


@dataclass(frozen=True)
class Scaler:
    """The scalers a pipeline applies before its model, in order."""

    stages: tuple[Stage, ...]

    @property
    def label(self) -> str:
        return " → ".join(stage.label for stage in self.stages)

    @property
    def centres(self) -> bool:
        """Whether the composite map subtracts an offset (it needs an intercept)."""
        return any(stage.centres for stage in self.stages)


@dataclass(frozen=True)
class ColumnStats:
    """Per-feature statistics of a training set, from which every scaler's scale
    follows: n rows, Σ(x − c) and Σ(x − c)² about a fixed centre c (the clean mean, so
    that the variance does not cancel in raw units), min and max."""

    n: int
    centre: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> ColumnStats:
        X = np.asarray(X, dtype=float)
        centre = X.mean(axis=0)
        D = X - centre
        return cls(
            X.shape[0], centre, D.sum(axis=0), (D * D).sum(axis=0), X.min(axis=0), X.max(axis=0)
        )

    def with_rows(self, X: np.ndarray) -> ColumnStats:
        """The statistics with the rows X added."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[0] == 0:
            return self
        D = X - self.centre
        return ColumnStats(
            self.n + X.shape[0],
            self.centre,
            self.total + D.sum(axis=0),
            self.squares + (D * D).sum(axis=0),
            np.minimum(self.low, X.min(axis=0)),
            np.maximum(self.high, X.max(axis=0)),
        )


def read_pipeline(estimator) -> tuple[Scaler | None, Any]:
    """(the scalers, the final model) of a scikit-learn Pipeline, or (None, estimator)
    for a plain estimator. A pipeline must be one or more supported affine scalers
    followed by the model (``"passthrough"`` steps are skipped); anything else is
    refused by name."""
    steps = getattr(estimator, "steps", None)
    if type(estimator).__name__ != "Pipeline" or steps is None:
        return None, estimator
    kept = [step for _, step in steps if step not in (None, "passthrough")]
    if len(kept) < 2:
        raise UnsupportedEstimatorError(
            "Pipeline: a victim pipeline is one or more affine scalers (StandardScaler, "
            "MinMaxScaler, MaxAbsScaler) followed by the model; got steps "
            + ", ".join(type(step).__name__ for step in kept)
        )
    return Scaler(tuple(read_scaler(step) for step in kept[:-1])), kept[-1]


def read_scaler(scaler) -> Stage:
    """The :class:`Stage` of a scikit-learn scaler instance (others refused)."""
    name = type(scaler).__name__
    kind = _CLASSES.get(name)
    module = type(scaler).__module__
    if kind is None or not module.startswith("sklearn."):
        raise UnsupportedEstimatorError(
            f"Pipeline: {name} is not a supported scaler; a victim pipeline is one or "
            "more of StandardScaler, MinMaxScaler, MaxAbsScaler followed by the model"
        )
    params = scaler.get_params(deep=False)
    if kind == "standard":
        return Stage(
            kind,
            f"StandardScaler(with_mean={params['with_mean']}, with_std={params['with_std']})",
            scales=bool(params["with_std"]),
            centres=bool(params["with_mean"]),
        )
    if kind == "minmax":
        if params.get("clip", False):
            raise UnsupportedEstimatorError(
                "Pipeline: MinMaxScaler(clip=True) is not affine at prediction time; use clip=False"
            )
        a, b = (float(v) for v in params["feature_range"])
        return Stage(kind, f"MinMaxScaler(feature_range=({a:g}, {b:g}))", low=a, high=b)
    return Stage(kind, "MaxAbsScaler()", centres=False)


def scale(scaler: Scaler, stats: ColumnStats) -> np.ndarray:
    """v: the scaler's ``scale_`` over the training set of ``stats`` (module doc)."""
    return scale_and_slope(scaler, stats, None)[0]


def scale_and_slope(
    scaler: Scaler, stats: ColumnStats, x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(v, ∂v/∂x_p) over the training set of ``stats`` plus the row ``x`` (if given):
    the composite scale v_j of the chain and ∂v_j/∂x_pj per feature (module
    docstring); the slope is 0 without x."""
    if len(scaler.stages) == 1:  # one stage: the attack's common case, in closed form
        stage = scaler.stages[0]
        if stage.kind == "standard":
            return _standard_scale(stage, stats, x)
        return _range_scale(stage, stats, x)
    return _chain_scale(scaler, stats, x)


def _chain_scale(
    scaler: Scaler, stats: ColumnStats, x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scale_and_slope` of any chain, stage by stage in forward mode."""
    grown = stats if x is None else stats.with_rows(x[None])
    n = grown.n
    offset = grown.total / n  # mean − c
    mean_v = grown.centre + offset
    std_v = np.sqrt(np.maximum(grown.squares / n - offset * offset, 0.0))
    zero = np.zeros_like(mean_v)
    if x is None:
        d_mean = d_std = d_low = d_high = zero
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            d_std = np.where(std_v > 0, (x - mean_v) / (n * std_v), 0.0)
    if x is not None:
        d_mean = np.full_like(mean_v, 1.0 / n)
        d_low = np.where(x < stats.low, 1.0, 0.0)
        d_high = np.where(x > stats.high, 1.0, 0.0)
    m, v = _Dual(zero, zero), _Dual(np.ones_like(zero), zero)
    mean, std = _Dual(mean_v, d_mean), _Dual(std_v, d_std)
    low, high = _Dual(grown.low, d_low), _Dual(grown.high, d_high)
    for stage in scaler.stages:  # the columns as this stage sees them
        z_mean, z_std = (mean - m) / v, std / v
        z_low, z_high = (low - m) / v, (high - m) / v
        if stage.kind == "standard":
            m_s = z_mean if stage.centres else _Dual(zero, zero)
            v_s = _nonzero(z_std) if stage.scales else _Dual(np.ones_like(zero), zero)
        elif stage.kind == "minmax":
            v_s = _nonzero((z_high - z_low) / (stage.high - stage.low))
            m_s = z_low - v_s * stage.low
        else:
            v_s = _nonzero(_Dual.larger(z_low.magnitude(), z_high.magnitude()))
            m_s = _Dual(zero, zero)
        m, v = m + v * m_s, v * v_s
    return v.value, v.slope


def _range_scale(
    stage: Stage, stats: ColumnStats, x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scale_and_slope` of one MinMaxScaler(feature_range=(a, b)) or MaxAbsScaler
    from the columns' range over the rows plus x (low, high), with ∂high_j/∂x_pj =
    [x_pj > every row's] and ∂low_j/∂x_pj = [x_pj < every row's]:

        MinMax: v = (high − low) / (b − a),   ∂v = (∂high − ∂low) / (b − a);
        MaxAbs: v = max(|low|, |high|),   ∂v = sign(low)·∂low where |low| ≥ |high|,
                                               sign(high)·∂high elsewhere;

    a scale of 0 is 1 with slope 0 (module docstring)."""
    if x is None:
        low, high = stats.low, stats.high
        d_low = d_high = np.zeros_like(low)
    else:
        low, high = np.minimum(stats.low, x), np.maximum(stats.high, x)
        d_low, d_high = (x < stats.low) * 1.0, (x > stats.high) * 1.0
    if stage.kind == "minmax":
        width = stage.high - stage.low
        v, slope = (high - low) / width, (d_high - d_low) / width
    else:
        low_abs, high_abs = np.abs(low), np.abs(high)
        first = low_abs >= high_abs
        v = np.where(first, low_abs, high_abs)
        slope = np.where(first, np.sign(low) * d_low, np.sign(high) * d_high)
    if v[v.argmin()] <= 0:  # a constant column
        constant = v <= 0
        v, slope = np.where(constant, 1.0, v), np.where(constant, 0.0, slope)
    return v, slope


def _standard_scale(
    stage: Stage, stats: ColumnStats, x: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`scale_and_slope` of one StandardScaler, the common case, in a few array
    operations: v = σ (1 where σ = 0) over the rows plus x, and
    ∂σ_j/∂x_pj = (x_pj − mean_j) / (n·σ_j)."""
    d = stats.centre.size
    if not stage.scales:
        return np.ones(d), np.zeros(d)
    n = stats.n + (x is not None)
    if x is None:
        D, total, squares = None, stats.total, stats.squares
    else:
        D = x - stats.centre
        total, squares = stats.total + D, stats.squares + D * D
    offset = total / n  # mean − c
    variance = squares / n - offset * offset
    # the attack's case in fewer operations (argmin: a reduction without min's overhead)
    if D is not None and variance[variance.argmin()] > 0:
        v = np.sqrt(variance)
        return v, (D - offset) / (n * v)
    std = np.sqrt(np.maximum(variance, 0.0))
    constant = std <= 0
    v = np.where(constant, 1.0, std)
    if D is None:
        return v, np.zeros(d)
    return v, np.where(constant, 0.0, (D - offset) / (n * v))


class _Dual:
    """A per-feature value with its derivative in x_pj (forward mode). Read-only by
    convention: a plain class with slots, since a frozen dataclass's construction
    was most of a chain's cost."""

    __slots__ = ("value", "slope")

    def __init__(self, value: np.ndarray, slope: np.ndarray):
        self.value, self.slope = value, slope

    def __add__(self, other: _Dual) -> _Dual:
        return _Dual(self.value + other.value, self.slope + other.slope)

    def __sub__(self, other: _Dual) -> _Dual:
        return _Dual(self.value - other.value, self.slope - other.slope)

    def __mul__(self, other: _Dual | float) -> _Dual:
        if not isinstance(other, _Dual):
            return _Dual(self.value * other, self.slope * other)
        return _Dual(self.value * other.value, self.slope * other.value + self.value * other.slope)

    def __truediv__(self, other: _Dual | float) -> _Dual:
        if not isinstance(other, _Dual):
            return _Dual(self.value / other, self.slope / other)
        quotient = self.value / other.value
        return _Dual(quotient, (self.slope - quotient * other.slope) / other.value)

    def magnitude(self) -> _Dual:
        sign = np.sign(self.value)
        return _Dual(np.abs(self.value), sign * self.slope)

    @staticmethod
    def larger(a: _Dual, b: _Dual) -> _Dual:
        first = a.value >= b.value
        return _Dual(np.where(first, a.value, b.value), np.where(first, a.slope, b.slope))


def _nonzero(scale: _Dual) -> _Dual:
    """A scale of 0 (a constant column) is 1, with derivative 0, as in scikit-learn."""
    zero = scale.value <= 0
    return _Dual(np.where(zero, 1.0, scale.value), np.where(zero, 0.0, scale.slope))


__all__ = [
    "FIXED_SCALER",
    "REFITTED_SCALER",
    "Stage",
    "Scaler",
    "ColumnStats",
    "read_pipeline",
    "read_scaler",
    "scale",
    "scale_and_slope",
]

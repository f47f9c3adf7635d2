"""The inner maximum M(θ) = max over feasible (x, y) of ℓ(θ; x, y) − ℓ(θ_t; x, y).

Every supported loss is a function of the scores z = W x + b (and, for the Huber
loss, of its scale σ, an x-free second score). How the label or response enters
decides how the maximum is taken (:func:`family`):

* **one output, class labels** (logistic, squared, hinge and squared hinge on ±1):
  for each label t ∈ {−1, +1}, ℓ depends on x through (w·x, w_t·x) only — the
  zonotope problem of :mod:`flexpoison.certify._polygon`, exact up to its tolerance.
* **a residual loss** (squared, ε-insensitive, squared ε-insensitive, Huber):
  ℓ(z, y) = ℓ(z − y·e₁, 0), so the response is one more coordinate, with weight −1 in
  both scores and range [y_lo, y_hi]: one zonotope problem covers every response.
* **a Tweedie deviance** (log link): ℓ(z, y) − ℓ(z', y) is affine in y (the terms of y
  alone cancel), so its maximum over [y_lo, y_hi] is at an end: two zonotope problems.
* **K separable outputs** (one-vs-all squared, one-vs-rest hinge and squared hinge):
  ℓ(z, t) = Σ_k h(z_k, ỹ_k) with ỹ_k = +1 for k = t and −1 otherwise. The maximum of
  a sum is at most the sum of the maxima: per output k and sign ±1 one zonotope
  problem (2K in all), and M(θ) ≤ max_t [U(t, +1) + Σ_{k≠t} U(k, −1)]. A valid upper
  bound, not the maximum (the outputs' maximisers need not be one row).
* **softmax** (K ≥ 3 classes): ℓ(z, t) − ℓ(z', t) = lse(z) − lse(z') − (z_t − z'_t),
  and lse(z) − lse(z') ≤ max_k (z_k − z'_k) (lse is increasing and lse(u + c·1) =
  lse(u) + c), so with Δz = z − z',

      M(θ) ≤ max_t max_k max_x [Δz_k(x) − Δz_t(x)],

  a maximum of linear functions over the box, exact; equal to M when one class
  dominates the softmax at the maximiser, an upper bound always.

The row reported (``x``, ``target``) is the best row found for the true loss gap; the
certificate uses ``upper``, the proven upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..engine import (
    EpsilonLoss,
    HingeLoss,
    HuberLoss,
    LogisticLoss,
    Loss,
    OneVsAllSquaredLoss,
    SoftmaxLoss,
    SquaredEpsilonLoss,
    SquaredHingeLoss,
    SquaredLoss,
    TweedieLoss,
)
from ._polygon import boundary, maximize_edges

Family = Literal["labels", "residual", "affine", "separable", "softmax"]

_RESIDUAL = (SquaredLoss, EpsilonLoss, SquaredEpsilonLoss, HuberLoss)


def family(loss: Loss, classification: bool) -> Family | None:
    """How the inner maximum of ``loss`` is taken (module docstring); None: not served."""
    if isinstance(loss, SoftmaxLoss):
        return "softmax"
    if isinstance(loss, OneVsAllSquaredLoss):
        return "separable"
    if isinstance(loss, (HingeLoss, SquaredHingeLoss)):
        return "labels" if loss.n_outputs == 1 else "separable"
    if classification:
        return "labels" if isinstance(loss, (LogisticLoss, SquaredLoss)) else None
    if isinstance(loss, _RESIDUAL):
        return "residual"
    if isinstance(loss, TweedieLoss):
        return "affine"
    return None


def one_output(loss: Loss) -> Loss:
    """h of a separable loss ℓ(z, t) = Σ_k h(z_k, ỹ_k): the same loss on one output."""
    if isinstance(loss, OneVsAllSquaredLoss):
        return SquaredLoss()
    if isinstance(loss, (HingeLoss, SquaredHingeLoss)):
        return type(loss)(1)
    raise TypeError(f"{type(loss).__name__} is not separable")


@dataclass(frozen=True)
class Model:
    """A linear model's scores: W (K, d), b (K,); row 0 of a Huber model is the
    prediction, row 1 its scale (weights 0, b = σ)."""

    W: np.ndarray
    b: np.ndarray

    def scores(self, X: np.ndarray) -> np.ndarray:
        return X @ self.W.T + self.b


@dataclass(frozen=True)
class InnerMaximum:
    """M(θ): ``upper`` a proven upper bound on it, ``value`` the gap at the row found,
    (``x``, ``target``) that row and its encoded target (a ±1 label, a class index or
    a response), ``exact``: whether ``upper`` is the maximum itself (within the
    branch and bound's tolerance) rather than a relaxation."""

    upper: float
    value: float
    x: np.ndarray
    target: float
    exact: bool


@dataclass(frozen=True)
class _Problems:
    """P zonotope problems: problem k maximises ℓ_k(α_k·u + b1_k) − ℓ_k(γ_k·u + b2_k)
    over lo ≤ u ≤ hi, u = x (or (x, y) for a residual loss), ℓ_k evaluated with the
    label ``label[k]`` and the extra scores ``extra1[k]``, ``extra2[k]``."""

    alpha: np.ndarray  # (P, D)
    gamma: np.ndarray  # (P, D)
    b1: np.ndarray  # (P,)
    b2: np.ndarray
    extra1: np.ndarray  # (P, K − 1): the scores that do not depend on x
    extra2: np.ndarray
    label: np.ndarray  # (P,)


def _solve(loss: Loss, problems: _Problems, lo: np.ndarray, hi: np.ndarray, rtol: float):
    """Each problem's maximum (:func:`~flexpoison.certify._polygon.maximize_edges`) and
    the point u of its best value."""
    width = hi - lo
    P = problems.alpha.shape[0]
    walks = []
    for k in range(P):
        origin = np.array([problems.alpha[k] @ lo, problems.gamma[k] @ lo])
        generators = np.column_stack([problems.alpha[k] * width, problems.gamma[k] * width])
        walks.append(boundary(origin, generators))
    start = np.concatenate([w.start for w in walks])
    step = np.concatenate([w.step for w in walks])
    owner = np.concatenate([np.full(w.start.shape[0], k) for k, w in enumerate(walks)])
    first = np.cumsum([0] + [w.start.shape[0] for w in walks])

    def make(offset: np.ndarray, extra: np.ndarray):
        def f(v: np.ndarray, k: np.ndarray):
            z = np.column_stack([v + offset[k], extra[k]])
            t = problems.label[k]
            return loss.value(z, t), loss.d1(z, t)[:, 0]

        return f

    found = maximize_edges(
        start,
        step,
        owner,
        P,
        make(problems.b1, problems.extra1),
        make(problems.b2, problems.extra2),
        rtol=rtol,
    )
    points = []
    for k, w in enumerate(walks):
        lam = w.coefficients(int(found.edge[k] - first[k]), float(found.s[k]))
        points.append(np.clip(np.where(lam >= 1.0, hi, lo + lam * width), lo, hi))
    return found, np.array(points)


def _gap(loss: Loss, model: Model, target: Model, x: np.ndarray, t: float) -> float:
    """ℓ(θ; x, t) − ℓ(θ_t; x, t) for one row."""
    tt = np.array([t])
    return float(
        loss.value(model.scores(x[None]), tt)[0] - loss.value(target.scores(x[None]), tt)[0]
    )


def inner_maximum(
    loss: Loss,
    kind: Family,
    model: Model,
    target: Model,
    lo: np.ndarray,
    hi: np.ndarray,
    targets: np.ndarray,
    rtol: float = 1e-9,
) -> InnerMaximum:
    """M(θ) over the box lo ≤ x ≤ hi and the encoded ``targets``: the labels (±1 or
    class indices), or the response range (y_lo, y_hi) (module docstring)."""
    if kind == "softmax":
        return _softmax(loss, model, target, lo, hi, targets)
    d = lo.size
    K = model.W.shape[0]
    if kind == "separable":
        h = one_output(loss)
        ks = np.repeat(np.arange(K), 2)
        signs = np.tile([-1.0, 1.0], K)
        empty = np.zeros((2 * K, 0))
        problems = _Problems(
            model.W[ks], target.W[ks], model.b[ks], target.b[ks], empty, empty, signs
        )
        found, points = _solve(h, problems, lo, hi, rtol)
        U = found.upper.reshape(K, 2)  # [k, sign −1 / +1]
        per_label = U[:, 0].sum() - U[:, 0] + U[:, 1]
        rows = [(points[i], float(c)) for i in range(2 * K) for c in targets]
        return _best_row(loss, model, target, rows, float(per_label.max()), exact=False)
    extra1 = np.broadcast_to(model.b[1:], (targets.size, K - 1))
    extra2 = np.broadcast_to(target.b[1:], (targets.size, K - 1))
    if kind == "residual":  # u = (x, y): both scores get −y
        y_lo, y_hi = float(targets[0]), float(targets[-1])
        problems = _Problems(
            np.append(model.W[0], -1.0)[None],
            np.append(target.W[0], -1.0)[None],
            model.b[:1],
            target.b[:1],
            extra1[:1],
            extra2[:1],
            np.zeros(1),
        )
        found, points = _solve(loss, problems, np.append(lo, y_lo), np.append(hi, y_hi), rtol)
        x, y = points[0, :d], float(points[0, d])
        return InnerMaximum(float(found.upper[0]), _gap(loss, model, target, x, y), x, y, True)
    n = targets.size  # "labels" (every class) or "affine" (both ends of the responses)
    problems = _Problems(
        np.repeat(model.W[:1], n, axis=0),
        np.repeat(target.W[:1], n, axis=0),
        np.repeat(model.b[:1], n),
        np.repeat(target.b[:1], n),
        extra1,
        extra2,
        np.asarray(targets, dtype=float),
    )
    found, points = _solve(loss, problems, lo, hi, rtol)
    k = int(np.argmax(found.value))
    x, t = points[k], float(targets[k])
    return InnerMaximum(float(found.upper.max()), _gap(loss, model, target, x, t), x, t, True)


def _softmax(
    loss: Loss, model: Model, target: Model, lo: np.ndarray, hi: np.ndarray, labels: np.ndarray
) -> InnerMaximum:
    """max_t max_k max_x [Δz_k(x) − Δz_t(x)] (module docstring), and its corners."""
    dW = model.W - target.W
    db = model.b - target.b
    best, rows = -np.inf, []
    for t in labels.astype(int):
        C = dW - dW[t]  # (K, d): the coefficients of Δz_k − Δz_t
        corner = np.where(C > 0, hi, lo)  # the maximising corner of each linear function
        values = np.einsum("kd,kd->k", C, corner) + db - db[t]
        best = max(best, float(values.max()))
        rows += [(corner[k], float(t)) for k in range(C.shape[0])]
    scale = float(np.abs(dW).sum(axis=1).max() * max(np.abs(lo).max(), np.abs(hi).max()))
    return _best_row(loss, model, target, rows, best + 1e-12 * scale, exact=False)


def _best_row(loss, model, target, rows, upper: float, exact: bool) -> InnerMaximum:
    """Of candidate (x, t) rows, the one with the largest true gap."""
    gaps = [_gap(loss, model, target, x, t) for x, t in rows]
    i = int(np.argmax(gaps))
    return InnerMaximum(max(upper, gaps[i]), gaps[i], rows[i][0], rows[i][1], exact)


__all__ = ["Family", "family", "one_output", "Model", "InnerMaximum", "inner_maximum"]

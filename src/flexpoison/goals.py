"""Attacker goals: what "the model moved" means (paper §III-D, DESIGN.md).

* :class:`Integrity` — bring θ_p close to a target θ_t: E_I = ‖θ_p − θ_t‖², minimise
  W_I = α·C + (1 − α)·E_I.
* :class:`Availability` — push θ_p away from the clean θ₀: E_A = ‖θ_p − θ₀‖², minimise
  W_A = α·C − (1 − α)·E_A.

θ is the flat public parameter vector (w…, b) — per class row for the multinomial
model, i.e. the (K × (d+1)) matrix flattened row by row; without an intercept b is
left out.

Target presets for :class:`Integrity` (deterministic functions of θ₀):

``flip-top``
    θ₀ with the sign of its largest-magnitude weight flipped (regression default).
``negate``
    every weight negated, intercepts kept (binary classification default).
``swap:A,B``
    multinomial: the parameter rows of classes A and B exchanged (default: the two
    classes whose rows of θ₀ are closest).
``predict:v@x1,x2,…``
    the θ nearest to θ₀ whose decision function equals v at x* = (x1, x2, …):
    θ_t = θ₀ + (v − φ*ᵀθ₀)·φ*/‖φ*‖² with φ* = (x*, 1). For regression v is the
    response; for binary classification v is the decision value (log-odds of the
    second class); x* is in the units of the data passed to the attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidInputError

PRESETS = ("flip-top", "negate", "swap:A,B", "predict:v@x*")


@dataclass(frozen=True)
class ModelShape:
    """What a target needs to know about the model: d features, K rows, intercept."""

    n_features: int
    n_outputs: int
    fit_intercept: bool
    task: Literal["regression", "classification"]
    classes: tuple | None = None

    @property
    def size(self) -> int:
        return self.n_outputs * (self.n_features + self.fit_intercept)

    def weight_mask(self) -> np.ndarray:
        p = self.n_features + self.fit_intercept
        mask = np.ones((self.n_outputs, p), dtype=bool)
        if self.fit_intercept:
            mask[:, -1] = False
        return mask.ravel()


@dataclass(frozen=True)
class Integrity:
    """Integrity goal: make the poisoned model θ_p close to a target θ_t.

    Parameters
    ----------
    target : str, array-like or None
        A preset (``"flip-top"``, ``"negate"``, ``"swap:A,B"``,
        ``"predict:v@x1,x2,…"``), an explicit flat θ_t of length K·(d + intercept),
        or None for the default preset of the task (see module docstring).
    """

    target: str | ArrayLike | None = None
    kind: Literal["integrity"] = field(default="integrity", init=False)

    def reference(self, theta_clean: np.ndarray, shape: ModelShape) -> np.ndarray:
        """θ_t for a clean model θ₀ (flat, public convention)."""
        target = self.target
        if target is None:
            if shape.task == "regression":
                target = "flip-top"
            elif shape.n_outputs == 1:
                target = "negate"
            else:
                target = "swap"
        if not isinstance(target, str):
            theta_t = np.asarray(target, dtype=float)
            if theta_t.ndim != 1 or theta_t.size != shape.size:
                raise InvalidInputError(
                    f"target: expected a flat θ_t of length {shape.size} "
                    f"(K={shape.n_outputs} × (d={shape.n_features}"
                    f"{' + intercept' if shape.fit_intercept else ''})), "
                    f"got shape {theta_t.shape}")
            if not np.all(np.isfinite(theta_t)):
                raise InvalidInputError("target: θ_t contains NaN or infinite values")
            return theta_t
        return _preset(target.strip(), np.asarray(theta_clean, dtype=float), shape)


@dataclass(frozen=True)
class Availability:
    """Availability goal: push θ_p as far as possible from the clean model θ₀."""

    kind: Literal["availability"] = field(default="availability", init=False)

    def reference(self, theta_clean: np.ndarray, shape: ModelShape) -> np.ndarray:
        """θ₀ itself: E_A measures the distance from it."""
        return np.asarray(theta_clean, dtype=float).copy()


@dataclass(frozen=True, eq=False)
class LossAvailability:
    """Availability measured on the learner's own loss (Biggio et al.; Jagielski et al.).

    E_L = (1/n_e) Σ_i ℓ(θ_p; x_i, y_i), the mean training loss of the poisoned model on
    an evaluation set (default: the clean training set; pass a validation set as
    ``X_eval, y_eval``), maximised: W = α·C − (1 − α)·E_L. ℓ is the victim's per-row
    loss without its penalty: squared error for regression, log-loss for logistic.

    Scale: E_L is a mean (≈ 0.05 for a well-fitted logistic model) while C is a squared
    distance (≈ d in standardised units), so α trades them at a very different rate
    than for E_I/E_A: α = 0.1 already pulls every point to x_c. Use α = 0, or an α grid
    near 0 (1e-4 … 1e-2).

    Parameters
    ----------
    X_eval, y_eval : array-like, optional
        The rows the loss is measured on, in the units of the attack's X.
    """

    X_eval: ArrayLike | None = None
    y_eval: ArrayLike | None = None
    kind: Literal["loss-availability"] = field(default="loss-availability", init=False)

    def reference(self, theta_clean: np.ndarray, shape: ModelShape) -> np.ndarray:
        """θ₀: kept in results for comparison; the effect itself is the loss."""
        return np.asarray(theta_clean, dtype=float).copy()


Goal = Integrity | Availability | LossAvailability


def _preset(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    weights = shape.weight_mask()
    if name in ("flip-top", "negate") and not np.any(theta0[weights]):
        raise InvalidInputError(f"target: {name!r} changes nothing, every weight of the "
                                "clean model is 0 (e.g. a strongly penalised Lasso); give "
                                "an explicit θ_t or 'predict:v@x*'")
    if name == "flip-top":
        theta_t = theta0.copy()
        index = np.flatnonzero(weights)[np.argmax(np.abs(theta0[weights]))]
        theta_t[index] = -theta_t[index]
        return theta_t
    if name == "negate":
        theta_t = theta0.copy()
        theta_t[weights] = -theta_t[weights]
        return theta_t
    if name == "swap" or name.startswith("swap:"):
        return _swap(name, theta0, shape)
    if name.startswith("predict:"):
        return _predict(name, theta0, shape)
    raise InvalidInputError(f"target: unknown preset {name!r}; expected one of "
                            + ", ".join(PRESETS) + " or an explicit θ vector")


def _swap(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    K = shape.n_outputs
    if K < 3:
        raise InvalidInputError(f"target: {name!r} needs a multinomial model "
                                f"(≥ 3 classes), this one has {max(K, 2)}")
    rows = theta0.reshape(K, -1)
    labels = [str(c) for c in shape.classes] if shape.classes is not None \
        else [str(k) for k in range(K)]
    if name == "swap":
        dist = np.linalg.norm(rows[:, None, :] - rows[None, :, :], axis=2)
        dist[np.diag_indices(K)] = np.inf
        a, b = np.unravel_index(np.argmin(dist), dist.shape)
    else:
        parts = [s.strip() for s in name[len("swap:"):].split(",")]
        if len(parts) != 2 or parts[0] == parts[1]:
            raise InvalidInputError(f"target: {name!r} must name two different classes, "
                                    "e.g. 'swap:1,2'")
        try:
            a, b = (labels.index(s) for s in parts)
        except ValueError:
            raise InvalidInputError(f"target: {name!r} names a class that is not among "
                                    f"the labels {labels}") from None
    swapped = rows.copy()
    swapped[[a, b]] = rows[[b, a]]
    return swapped.ravel()


def _predict(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    if shape.n_outputs != 1:
        raise InvalidInputError(f"target: {name!r} is defined for regression and binary "
                                "classification only; use 'swap:A,B' or an explicit θ")
    try:
        value, point = name[len("predict:"):].split("@")
        v = float(value)
        x_star = np.array([float(s) for s in point.split(",")])
    except ValueError:
        raise InvalidInputError(f"target: cannot read {name!r}; expected "
                                "'predict:v@x1,x2,…' with numbers") from None
    if x_star.size != shape.n_features:
        raise InvalidInputError(f"target: {name!r} gives x* with {x_star.size} values, "
                                f"the data have {shape.n_features} features")
    if not (np.isfinite(v) and np.all(np.isfinite(x_star))):
        raise InvalidInputError(f"target: {name!r} contains NaN or infinite values")
    phi = np.append(x_star, 1.0) if shape.fit_intercept else x_star
    denom = float(phi @ phi)
    if denom == 0:
        raise InvalidInputError(f"target: {name!r}: x* = 0 without an intercept cannot "
                                "be given any prediction")
    return theta0 + (v - phi @ theta0) * phi / denom

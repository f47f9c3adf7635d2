"""Attacker goals: what "the model moved" means (paper §III-D), each owning its behaviour.

* :class:`Integrity` — bring θ_p close to a target θ_t: E_I = ‖θ_p − θ_t‖², minimise
  W_I = α·C + (1 − α)·E_I.
* :class:`Availability` — push θ_p away from the clean θ₀: E_A = ‖θ_p − θ₀‖², minimise
  W_A = α·C − (1 − α)·E_A.
* :class:`LossAvailability` — raise the victim's own mean loss E_L on an evaluation
  set, minimise W_L = α·C − (1 − α)·E_L.

A goal states everything the rest of flexpoison needs to know about it — its
``kind`` (the name on the command line), ``effect_name``, ``sign`` (+1: the attacker
lowers E, −1: raises it), ``higher_is_damage``, the TeX of its effect for figures,
its reference model θ_ref (:meth:`reference`), its effect E and gradient
(:meth:`effect`) and its settings (:meth:`describe`) — so nothing else switches on a
goal's type or name. :data:`GOALS` maps names to goals.

θ is the flat public parameter vector (w…, b) — per class row for the multinomial
model, i.e. the (K × (d+1)) matrix flattened row by row; without an intercept b is
left out.

Target presets for :class:`Integrity` (deterministic functions of θ₀, except
``flip-subpopulation``, a function of the clean training rows):

``flip-top``
    θ₀ with the sign of its largest-magnitude weight flipped (regression default).
``negate``
    every weight negated, intercepts kept (binary classification default).
``swap:A,B``
    multinomial: the parameter rows of classes A and B exchanged (default: the two
    classes whose rows of θ₀ are closest).
``predict:v@x1,x2,…``
    make the decision value at x* = (x1, x2, …) equal v (the response for regression,
    the log-odds of the second class for binary classification): E_I = (f_θ(x*) − v)²
    (:class:`~flexpoison.attack.effects.PredictionEffect`); θ_t is reported as the θ
    nearest to θ₀ with that prediction (the maths page, "Concealment, effect and the
    goals").
``flip-subpopulation:class=A,cluster=C/K,FEATURE<v,to=B`` (any of the terms)
    classification: the victim's exact fit with a subpopulation's labels flipped (rows
    of class A meeting the feature conditions, and of these k-means cluster C of K);
    :mod:`.subpopulation` has the details. Regression is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike

from .._validation import check_features, check_targets
from ..errors import InvalidInputError
from .subpopulation import PREFIX, TrainingRows, flip_subpopulation

if TYPE_CHECKING:
    from ..models import Victim
    from .effects import Effect

PRESETS = ("flip-top", "negate", "swap:A,B", "predict:v@x*", "flip-subpopulation:…")


@dataclass(frozen=True)
class ModelShape:
    """What a target needs to know about the model: d features, K rows, intercept,
    the registry's default preset for it, and ``extra`` parameters that end θ after
    the rows (a Huber regressor's scale σ: neither weights nor intercepts)."""

    n_features: int
    n_outputs: int
    fit_intercept: bool
    task: Literal["regression", "classification"]
    classes: tuple | None = None
    default_target: str = "flip-top"
    extra: int = 0

    @property
    def size(self) -> int:
        return self.n_outputs * (self.n_features + self.fit_intercept) + self.extra

    def weight_mask(self) -> np.ndarray:
        p = self.n_features + self.fit_intercept
        mask = np.ones((self.n_outputs, p), dtype=bool)
        if self.fit_intercept:
            mask[:, -1] = False
        return np.append(mask.ravel(), np.zeros(self.extra, dtype=bool))


class _Goal:
    """What every goal declares (see the module docstring)."""

    kind: ClassVar[str]
    effect_name: ClassVar[str]
    sign: ClassVar[float]  # W = α·C + sign·(1 − α)·E
    effect_tex: ClassVar[str]  # the effect's definition, TeX (matplotlib mathtext)
    effect_about: ClassVar[str]  # … in words

    @property
    def higher_is_damage(self) -> bool:
        """Whether a larger E is a stronger attack (False: the attacker lowers E)."""
        return self.sign < 0

    @property
    def objective_tex(self) -> str:
        """W in TeX, e.g. ``W_I = \\alpha\\,C + (1 - \\alpha)\\,E_I``."""
        suffix = self.effect_name[2:]
        op = "+" if self.sign > 0 else "-"
        return f"W_{suffix} = \\alpha\\,C {op} (1 - \\alpha)\\,{self.effect_name}"

    @property
    def effect_search_tex(self) -> str:
        """The W the share trade-off descends (its effect search, :mod:`.search`), in TeX:
        W = sign·(E − E_before) (:meth:`.objective.Objective.effect_gain`), e.g.
        ``W = E_I - E_I^{\\mathrm{before}}``."""
        E = self.effect_name
        gain = f"{E} - {E}^{{\\mathrm{{before}}}}"
        return f"W = {gain}" if self.sign > 0 else f"W = -({gain})"

    def w_tex(self, trade_off: str) -> str:
        """The W a point's descent records (``AttackResult.W_history``) under
        ``trade_off``: the paper's (:attr:`objective_tex`) or the share trade-off's
        effect search (:attr:`effect_search_tex`)."""
        return self.effect_search_tex if trade_off == "share" else self.objective_tex

    def reference(
        self, theta_clean: np.ndarray, shape: ModelShape, rows: TrainingRows | None = None
    ) -> np.ndarray:
        """θ_ref: θ₀ itself (the availability goals measure the distance from it)."""
        return np.asarray(theta_clean, dtype=float).copy()

    def effect(
        self, victim: Victim, X: np.ndarray, y: np.ndarray, shift: np.ndarray, reference: np.ndarray
    ) -> Effect:
        """E for a victim trained on (X, y), with internal features centred at
        ``shift``: ‖θ − θ_ref‖² unless the goal says otherwise."""
        from .effects import DistanceEffect, public_map  # the engine, when needed

        learner = victim.learner
        p = X.shape[1] + learner.fit_intercept
        T = public_map(p, shift, learner.fit_intercept)
        return DistanceEffect(reference, T, learner.free_mask(X.shape[1]))

    def describe(self) -> dict:
        """The goal's settings as plain JSON values."""
        return {"kind": self.kind}

    def progress(self, effect_clean: float, effect_final: float, theta_clean: np.ndarray) -> float:
        """How far an attack moved the model, as a share (negative: the wrong way).
        Here (E_A = ‖θ_p − θ₀‖²): the distance moved relative to ‖θ₀‖."""
        scale = float(np.linalg.norm(theta_clean))
        return float(np.sqrt(max(effect_final, 0.0))) / scale if scale > 0 else 0.0


@dataclass(frozen=True)
class Integrity(_Goal):
    """Integrity goal: make the poisoned model θ_p close to a target θ_t.

    Parameters
    ----------
    target : str, array-like or None
        A preset (``"flip-top"``, ``"negate"``, ``"swap:A,B"``,
        ``"predict:v@x1,x2,…"``, ``"flip-subpopulation:…"``), an explicit flat θ_t
        of length K·(d + intercept), or None for the victim's default preset (see the
        module docstring).
    """

    target: str | ArrayLike | None = None
    kind: ClassVar[str] = "integrity"
    effect_name: ClassVar[str] = "E_I"
    sign: ClassVar[float] = 1.0
    effect_tex: ClassVar[str] = r"E_I = \|\theta_p - \theta_t\|^2"
    effect_about: ClassVar[str] = "squared distance to the target model"

    def reference(
        self, theta_clean: np.ndarray, shape: ModelShape, rows: TrainingRows | None = None
    ) -> np.ndarray:
        """θ_t for a clean model θ₀ (flat, public convention); ``rows``, the clean
        training rows and the victim's fit, for ``flip-subpopulation``."""
        target = shape.default_target if self.target is None else self.target
        if not isinstance(target, str):
            try:
                theta_t = np.asarray(target, dtype=float)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"target: expected a preset name or a flat θ_t "
                    f"of {shape.size} numbers, got {target!r}"
                ) from None
            if theta_t.ndim != 1 or theta_t.size != shape.size:
                raise InvalidInputError(
                    f"target: expected a flat θ_t of length {shape.size} "
                    f"(K={shape.n_outputs} × (d={shape.n_features}"
                    f"{' + intercept' if shape.fit_intercept else ''})"
                    f"{f' + {shape.extra}' if shape.extra else ''}), "
                    f"got shape {theta_t.shape}"
                )
            if not np.all(np.isfinite(theta_t)):
                raise InvalidInputError("target: θ_t contains NaN or infinite values")
            return theta_t
        name = target.strip()
        if name.startswith(PREFIX):
            return flip_subpopulation(name, rows, shape.classes)
        return _preset(name, np.asarray(theta_clean, dtype=float), shape)

    @property
    def predicts(self) -> bool:
        """Whether the target is a prediction, ``"predict:v@x*"``."""
        return isinstance(self.target, str) and self.target.strip().startswith("predict:")

    def progress(self, effect_clean: float, effect_final: float, theta_clean: np.ndarray) -> float:
        """The share of the way from θ₀ to θ_t closed, in E_I: (E₀ − E) / E₀; for a
        prediction target, of the way from f₀(x*) to v: 1 − √(E / E₀)."""
        if effect_clean <= 0:
            return 0.0
        if self.predicts:
            return 1.0 - float(np.sqrt(max(effect_final, 0.0) / effect_clean))
        return (effect_clean - effect_final) / effect_clean

    def effect(
        self, victim: Victim, X: np.ndarray, y: np.ndarray, shift: np.ndarray, reference: np.ndarray
    ) -> Effect:
        """‖θ − θ_t‖², or for a prediction target (f_θ(x*) − v)² (module docstring)."""
        if not self.predicts:
            return super().effect(victim, X, y, shift, reference)
        from .effects import PredictionEffect, public_map

        assert isinstance(self.target, str)
        learner = victim.learner
        v, x_star = predict_target(self.target.strip(), X.shape[1])
        p = X.shape[1] + learner.fit_intercept
        phi = np.append(x_star, 1.0) if learner.fit_intercept else x_star
        psi = public_map(p, shift, learner.fit_intercept) @ phi
        return PredictionEffect(psi, v, learner.n_outputs)

    def describe(self) -> dict:
        target = self.target
        return {
            "kind": self.kind,
            "target": target
            if target is None or isinstance(target, str)
            else np.asarray(target, dtype=float).tolist(),
        }


@dataclass(frozen=True)
class Availability(_Goal):
    """Availability goal: push θ_p as far as possible from the clean model θ₀."""

    kind: ClassVar[str] = "availability"
    effect_name: ClassVar[str] = "E_A"
    sign: ClassVar[float] = -1.0
    effect_tex: ClassVar[str] = r"E_A = \|\theta_p - \theta_0\|^2"
    effect_about: ClassVar[str] = "squared distance from the clean model"


@dataclass(frozen=True, eq=False)
class LossAvailability(_Goal):
    """Availability measured on the learner's own loss (Biggio et al.; Jagielski et al.).

    E_L = (1/n_e) Σ_i ℓ(θ_p; x_i, y_i), the mean training loss of the poisoned model on
    an evaluation set (default: the clean training set; pass a validation set as
    ``X_eval, y_eval``), maximised: W = α·C − (1 − α)·E_L. ℓ is the victim's per-row
    loss without its penalty: squared error for least squares, log-loss for logistic,
    half the deviance for a GLM (:mod:`flexpoison.models`).

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
    kind: ClassVar[str] = "loss-availability"
    effect_name: ClassVar[str] = "E_L"
    sign: ClassVar[float] = -1.0
    effect_tex: ClassVar[str] = r"E_L"
    effect_about: ClassVar[str] = "the victim's mean loss on the evaluation rows"

    def progress(self, effect_clean: float, effect_final: float, theta_clean: np.ndarray) -> float:
        """The relative rise of the loss: (E_L − E_L,0) / E_L,0."""
        return (effect_final - effect_clean) / effect_clean if effect_clean > 0 else 0.0

    def effect(
        self, victim: Victim, X: np.ndarray, y: np.ndarray, shift: np.ndarray, reference: np.ndarray
    ) -> Effect:
        """E_L on (X_eval, y_eval), or on the training rows (X, y) without them."""
        if (self.X_eval is None) != (self.y_eval is None):
            raise InvalidInputError("goal: give both X_eval and y_eval, or neither")
        if self.X_eval is not None:
            d = X.shape[1]
            X = check_features(self.X_eval, "X_eval").astype(float)
            if X.shape[1] != d:
                raise InvalidInputError(f"X_eval: has {X.shape[1]} features, X has {d}")
            y = check_targets(self.y_eval, X.shape[0], victim.task, "y_eval")
            if victim.classes is not None and not np.all(np.isin(y, victim.classes)):
                raise InvalidInputError("y_eval: contains labels that are not in y")
            victim.check_targets(y, "y_eval")
        from .effects import LossEffect

        learner = victim.learner
        return LossEffect(learner.loss, learner.features(X, shift), victim.encode(y))


Goal = Integrity | Availability | LossAvailability

#: Every goal, by the name the command line and sweep files use.
GOALS: dict[str, type[Integrity] | type[Availability] | type[LossAvailability]] = {
    cls.kind: cls for cls in (Integrity, Availability, LossAvailability)
}


def goal_from_name(name: str | Goal) -> Goal:
    """The goal named ``name`` with its defaults (a goal object passes through)."""
    if isinstance(name, (Integrity, Availability, LossAvailability)):
        return name
    if name not in GOALS:
        raise InvalidInputError(f"goal: unknown goal {name!r}; expected one of " + ", ".join(GOALS))
    return GOALS[name]()


def _preset(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    weights = shape.weight_mask()
    if name in ("flip-top", "negate") and not np.any(theta0[weights]):
        raise InvalidInputError(
            f"target: {name!r} changes nothing, every weight of the "
            "clean model is 0 (e.g. a strongly penalised L1 model, or responses that "
            "do not vary); give "
            "an explicit θ_t or 'predict:v@x*'"
        )
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
    raise InvalidInputError(
        f"target: unknown preset {name!r}; expected one of "
        + ", ".join(PRESETS)
        + " or an explicit θ vector"
    )


def _swap(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    K = shape.n_outputs
    if K < 3:
        raise InvalidInputError(
            f"target: {name!r} needs a multinomial model (≥ 3 classes), this one has {max(K, 2)}"
        )
    rows = theta0.reshape(K, -1)
    labels = (
        [str(c) for c in shape.classes] if shape.classes is not None else [str(k) for k in range(K)]
    )
    if name == "swap":
        dist = np.linalg.norm(rows[:, None, :] - rows[None, :, :], axis=2)
        dist[np.diag_indices(K)] = np.inf
        a, b = (int(i) for i in np.unravel_index(np.argmin(dist), dist.shape))
    else:
        parts = [s.strip() for s in name[len("swap:") :].split(",")]
        if len(parts) != 2 or parts[0] == parts[1]:
            raise InvalidInputError(
                f"target: {name!r} must name two different classes, e.g. 'swap:1,2'"
            )
        try:
            a, b = (labels.index(s) for s in parts)
        except ValueError:
            raise InvalidInputError(
                f"target: {name!r} names a class that is not among the labels {labels}"
            ) from None
    swapped = rows.copy()
    swapped[[a, b]] = rows[[b, a]]
    return swapped.ravel()


def predict_target(target: str, n_features: int) -> tuple[float, np.ndarray]:
    """(v, x*) of a ``"predict:v@x1,x2,…"`` target, checked: numbers, finite, and as
    many values in x* as the data have features."""
    try:
        value, point = target[len("predict:") :].split("@")
        v = float(value)
        x_star = np.array([float(s) for s in point.split(",")])
    except ValueError:
        raise InvalidInputError(
            f"target: cannot read {target!r}; expected 'predict:v@x1,x2,…' with numbers"
        ) from None
    if x_star.size != n_features:
        raise InvalidInputError(
            f"target: {target!r} gives x* with {x_star.size} values, "
            f"the data have {n_features} features"
        )
    if not (np.isfinite(v) and np.all(np.isfinite(x_star))):
        raise InvalidInputError(f"target: {target!r} contains NaN or infinite values")
    return v, x_star


def _predict(name: str, theta0: np.ndarray, shape: ModelShape) -> np.ndarray:
    if shape.n_outputs != 1:
        raise InvalidInputError(
            f"target: {name!r} is defined for regression and binary "
            "classification only; use 'swap:A,B' or an explicit θ"
        )
    v, x_star = predict_target(name, shape.n_features)
    phi = np.append(x_star, 1.0) if shape.fit_intercept else x_star
    denom = float(phi @ phi)
    if denom == 0:
        raise InvalidInputError(
            f"target: {name!r}: x* = 0 without an intercept cannot be given any prediction"
        )
    phi = np.append(phi, np.zeros(shape.extra))  # the extra parameters are kept
    return theta0 + (v - phi @ theta0) * phi / denom


__all__ = [
    "PRESETS",
    "ModelShape",
    "TrainingRows",
    "Integrity",
    "Availability",
    "LossAvailability",
    "Goal",
    "GOALS",
    "goal_from_name",
]

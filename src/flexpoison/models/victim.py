"""A victim read into the engine's terms: θ's layout, target encoding, predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInputError, UnsupportedEstimatorError

if TYPE_CHECKING:
    from ..engine import Learner
    from ..scalers import Scaler
    from . import ModelSpec, Task


# --------------------------------------------------------------- θ, from outside


def theta_of(fitted) -> np.ndarray:
    """A fitted scikit-learn estimator's flat θ in flexpoison's layout (ending with
    the entry's ``extra_theta``, e.g. HuberRegressor's ``scale_``)."""
    from . import REGISTRY

    coef = np.atleast_2d(fitted.coef_)
    name = type(fitted).__name__
    extra = next((spec.extra_theta for spec in REGISTRY.values() if spec.class_name == name), ())
    tail = [float(getattr(fitted, attribute)) for attribute in extra]
    if not fitted.fit_intercept:
        return np.append(coef.ravel(), tail)
    intercept = np.broadcast_to(np.atleast_1d(fitted.intercept_), (coef.shape[0],))
    return np.append(np.column_stack([coef, intercept]).ravel(), tail)


def decision_scores(theta: np.ndarray, X: np.ndarray, n_outputs: int) -> np.ndarray:
    """Scores X w + b (X w without an intercept) of a flat θ; shape (n, K)."""
    rows = np.asarray(theta).reshape(n_outputs, -1)
    if rows.shape[1] == X.shape[1]:
        return X @ rows.T
    return X @ rows[:, :-1].T + rows[:, -1]


def theta_names(features, classes, fit_intercept: bool) -> list[str]:
    """Names of θ's entries: ``w[feature]``… then ``b``, per class row for K ≥ 3."""
    rows = [""] if classes is None or len(classes) == 2 else [f"[{c}]" for c in classes]
    names: list[str] = []
    for row in rows:
        names += [f"w{row}[{feature}]" for feature in features]
        if fit_intercept:
            names.append(f"b{row}")
    return names


# ------------------------------------------------------------------- the victim


@dataclass(frozen=True)
class Victim:
    """An estimator read into the engine's terms, with how its targets are encoded.

    ``classes`` are the sorted labels (scikit-learn's ``classes_``) for a classifier,
    None for a regressor; ``scaler`` the affine scaler a pipeline victim refits before
    its model (:mod:`flexpoison.scalers`), None for a plain estimator.
    """

    spec: ModelSpec
    learner: Learner
    classes: np.ndarray | None
    scaler: Scaler | None = None

    @property
    def task(self) -> Task:
        return self.spec.task

    @property
    def n_outputs(self) -> int:
        return self.learner.n_outputs

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets t: regression y as float; binary ±1 (classes[1] → +1); K>2 indices."""
        if self.classes is None:
            return np.asarray(y, dtype=float)
        index = np.searchsorted(self.classes, y)
        if self.n_outputs == 1:
            return np.where(index == 1, 1.0, -1.0)
        return index.astype(np.int64)

    def decode(self, t: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`, in the user's label values and dtype."""
        if self.classes is None:
            return np.asarray(t, dtype=float)
        if self.n_outputs == 1:
            return self.classes[(np.asarray(t) > 0).astype(int)]
        return self.classes[np.asarray(t, dtype=int)]

    def flipped(self, t: float, rng: np.random.Generator) -> float:
        """The paper's initial label: binary flips the sign, K>2 draws another class."""
        if self.n_outputs == 1:
            return -t
        others = [k for k in range(self.n_outputs) if k != int(t)]
        return int(rng.choice(others))

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The model θ's predictions: responses, or labels (argmax of the scores)."""
        from ..engine.losses import declared

        scores = self.scores(theta, X)
        if self.classes is None:
            response = declared(self.learner.loss, "response")  # the inverse link
            return scores[:, 0] if response is None else response(scores[:, 0])
        index = (
            (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
        )
        return self.classes[index]

    def scores(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The loss's scores z of the model θ (flat, public) at the rows X, shape
        (n, K): :func:`decision_scores` with the learner's pinned outputs restored."""
        full = self.learner.unpack(theta, X.shape[1])
        return decision_scores(full.ravel(), X, self.n_outputs)

    def check_targets(self, y: np.ndarray, name: str) -> None:
        """Refuse responses outside the domain of the victim's loss (e.g. a Poisson
        deviance needs y ≥ 0), naming the argument ``name`` (``y``, ``y_p``, …)."""
        from ..engine.losses import declared

        domain = declared(self.learner.loss, "domain")
        if self.classes is not None or domain is None:
            return
        y = np.asarray(y, dtype=float)
        bad = np.flatnonzero(~domain.contains(y))
        if bad.size:
            where = f" (row {bad[0]})" if y.size > 1 else ""
            raise InvalidInputError(
                f"{name}: {self.spec.class_name} needs responses {domain}, got {y[bad[0]]:g}{where}"
            )

    def metric(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """The task's test metric (:data:`METRICS`) of the model θ on (X, y)."""
        return self.spec.metric.score(y, self.predict(theta, X))

    def theta_names(self, features) -> list[str]:
        names = theta_names(features, self.classes, self.learner.fit_intercept)
        return names + [name.rstrip("_") for name in self.spec.extra_theta]


def sorted_labels(y: np.ndarray) -> np.ndarray:
    """The distinct class labels of y, sorted (scikit-learn's ``classes_``)."""
    try:
        return np.unique(y)
    except TypeError:
        raise InvalidInputError(
            "y: class labels of mixed types (e.g. strings and numbers) cannot be ordered"
        ) from None


def victim(estimator, y: np.ndarray) -> Victim:
    """Read an unfitted scikit-learn estimator and its training targets into a Victim."""
    from ..engine.learner import Learner
    from ..engine.losses import declared
    from ..scalers import read_pipeline
    from . import spec_for

    spec = spec_for(estimator)
    scaler, estimator = read_pipeline(estimator)
    if not spec.has_theta:  # a kernel victim: its own reader (models.kernel)
        from .kernel import victim as kernel_victim

        if scaler is not None:
            raise UnsupportedEstimatorError(
                f"Pipeline: {spec.class_name} is supported alone, not after a scaler "
                "(scale the features beforehand)"
            )
        return kernel_victim(estimator, y)
    params = estimator.get_params(deep=False)
    classes, suffix = None, ""
    if spec.task == "classification":
        classes = sorted_labels(y)
        if classes.size < 2:
            raise InvalidInputError(
                f"y: {spec.class_name} needs at least two classes, got {classes.size}"
            )
        if classes.size > len(y) / 2:
            raise InvalidInputError(
                f"y: {classes.size} distinct labels in {len(y)} rows: fewer than two rows per "
                f"class, which looks like a continuous response; use a regression model"
            )
    terms = spec.terms(params, None if classes is None else int(classes.size))
    if classes is not None and classes.size > 2:  # softmax is shift invariant, K columns not
        kind = "multinomial" if declared(terms.loss, "shift_invariant", False) else "one-vs-all"
        suffix = f", {kind} K={classes.size}"
    if scaler is not None and scaler.centres and not params["fit_intercept"]:
        raise UnsupportedEstimatorError(
            f"Pipeline: {scaler.label} centres the features, which with "
            f"{spec.class_name}(fit_intercept=False) constrains the intercept; fit an "
            "intercept or use with_mean=False / MaxAbsScaler"
        )
    if scaler is not None and scaler.centres and terms.intercept_l2 and params["fit_intercept"]:
        raise UnsupportedEstimatorError(
            f"Pipeline: {scaler.label} centres the features, which moves the intercept "
            f"that {spec.class_name} penalises (intercept_scaling) with every poison row; "
            "use with_mean=False, MaxAbsScaler, or the model alone"
        )
    prefix = "" if scaler is None else f"{scaler.label} → "
    learner = Learner(
        prefix + spec.label(estimator) + suffix,
        terms.loss,
        bool(params["fit_intercept"]),
        terms.loss_weight,
        terms.per_sample,
        terms.l2,
        terms.l1,
        intercept_l2=terms.intercept_l2,
        pinned_rows=terms.pinned_rows,
    )
    if scaler is not None and scaler.centres and not (learner.centres or terms.intercept_l2):
        raise UnsupportedEstimatorError(
            f"Pipeline: {scaler.label} centres the features, which moves the intercepts "
            f"of {spec.class_name}'s multinomial model with an L1 term (scikit-learn fixes "
            "sum_k b_k = 0 in the scaled units) with every poison row; use "
            "with_mean=False, MaxAbsScaler, or the model alone"
        )
    out = Victim(spec, learner, classes, scaler)
    out.check_targets(y, "y")
    domain = declared(learner.loss, "domain")
    if (
        classes is None
        and domain is not None
        and (learner.fit_intercept or learner.l2 == 0)
        and np.all(np.asarray(y, dtype=float) <= domain.low)
    ):  # e.g. Poisson on all-zero counts: the optimal log-mean is −∞
        raise InvalidInputError(
            f"y: every response is {domain.low:g}; {spec.class_name} has no finite "
            "optimum there (its predictions tend to it without reaching it)"
        )
    constant_target = declared(learner.loss, "constant_target")
    values = np.asarray(y, dtype=float) if classes is None else None
    if constant_target is not None and values is not None and np.all(values == values[0]):
        why = constant_target(float(values[0]))  # e.g. Huber's scale collapses
        if why is not None:
            raise InvalidInputError(
                f"y: every response is {values[0]:g}, so {spec.class_name} {why}"
            )
    return out


__all__ = ["theta_of", "decision_scores", "theta_names", "Victim", "victim"]

"""Check a victim's registry entry against the contract, as scikit-learn's
``check_estimator`` checks an estimator: :func:`check_victim`.

A contributor who adds an entry to :mod:`flexpoison.models.entries`, or a user who
builds a :class:`~flexpoison.models.ModelSpec` of their own, runs it on the entry; the
project's contract suite (``tests/test_contract.py``) runs the same checks and more, on
every registered entry.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import models
from .attack import FlexiblePoisoning, goal_from_name
from .engine.losses import declared
from .errors import FlexPoisonWarning, UnsupportedEstimatorError

#: θ against scikit-learn's tight refit, relative to max |θ|.
THETA_RTOL = 1e-6
#: ∇_{x_p} W against central differences of W, relative to |∇W|.
GRADIENT_RTOL = 1e-4


def check_victim(spec: models.ModelSpec, *, seed: int = 0) -> None:
    """Run the contract on one entry; raise ``AssertionError`` naming the first check
    that fails, with its numbers.

    1. Every constructor parameter of the class is declared (objective, ignored, or
       refused): :attr:`~flexpoison.models.ModelSpec.declared_params`.
    2. Every declared refusal raises one :class:`UnsupportedEstimatorError` naming it.
    3. For each of its ``examples`` (a victim with θ): θ_p with one candidate row added
       equals scikit-learn's tight refit (:meth:`~flexpoison.models.ModelSpec.fit_tight`)
       to :data:`THETA_RTOL`, and ∇_{x_p} W equals central differences of W to
       :data:`GRADIENT_RTOL` (α = 0.3, ``Availability``).
    4. A two-point attack runs and keeps its rows in the box.

    The entry need not be registered: while it is checked, attacks read an estimator of
    its class with it first (:func:`flexpoison.models.tried_first`).
    """
    with models.tried_first(spec):
        _check(spec, seed)


def _check(spec: models.ModelSpec, seed: int) -> None:
    params = set(spec.estimator_class()().get_params(deep=False))
    undeclared = sorted(params - spec.declared_params)
    assert not undeclared, (
        f"{spec.name}: parameters neither in objective_params, ignored nor refusals: {undeclared}"
    )
    rng = np.random.default_rng(seed)
    for refusal in spec.refusals:
        X, y = _data(spec, rng, refusal.n_classes)
        try:
            _attack(spec, spec.make(**refusal.params)).objective(X, y)
        except UnsupportedEstimatorError as exc:
            assert refusal.names in str(exc), f"{spec.name}: refusal {exc} does not name "
            f"{refusal.names!r}"
        else:
            raise AssertionError(f"{spec.name}: {dict(refusal.params)} was not refused")
    for example in spec.examples:
        estimator = spec.make(**example.params)
        X, y = _data(spec, rng, example.n_classes, estimator)
        if spec.has_theta:
            _check_theta_and_gradient(spec, estimator, X, y, example.params)
        with warnings.catch_warnings():  # a short run: its warnings are not the check
            warnings.simplefilter("ignore", FlexPoisonWarning)
            result = _attack(spec, estimator, n_points=2, max_iter=5).generate(X, y)
        inside = np.all(
            (result.lower - 1e-9 <= result.X_poison) & (result.X_poison <= result.upper + 1e-9)
        )
        assert inside, f"{spec.name}{dict(example.params)}: poison rows outside the box"


def _attack(spec, estimator, **settings) -> FlexiblePoisoning:
    goal = goal_from_name("availability" if spec.has_theta else "loss-availability")
    return FlexiblePoisoning(
        estimator, goal=goal, alpha=0.3, random_state=0, progress=False, **settings
    )


def _data(spec, rng, n_classes, estimator=None):
    """60 rows, 3 features: blobs for a classifier; a linear response for a regressor,
    mapped into its loss's domain (positive, through exp) where it has one."""
    X = rng.normal(size=(60, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    if spec.task == "classification":
        k = n_classes or 2
        y = np.arange(60) % k
        return X + 1.5 * rng.normal(size=(k, 3))[y], y
    y = X @ [1.0, -0.5, 0.8] + 0.3 * rng.normal(size=60)
    estimator = spec.make() if estimator is None else estimator
    if declared(spec.terms(estimator.get_params(deep=False), None).loss, "domain") is not None:
        y = np.exp(0.5 + 0.3 * (y - y.mean()) / y.std()) * rng.uniform(0.5, 1.5, size=60)
    return X, y


def _check_theta_and_gradient(spec, estimator, X, y, params) -> None:
    objective = _attack(spec, estimator).objective(X, y)
    x = X[0] + 0.1 * X.std(axis=0)
    y_p = y[1] if spec.task == "classification" else float(np.mean(y))
    theta = objective.theta(x, y_p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = spec.fit_tight(estimator, np.vstack([X, x]), np.append(y, y_p))
    sklearn = models.theta_of(fitted)
    gap = float(np.max(np.abs(theta - sklearn)) / max(float(np.max(np.abs(sklearn))), 1e-300))
    assert gap <= THETA_RTOL, f"{spec.name}{dict(params)}: θ_p is {gap:.2g} off the refit"
    grad = objective.gradient(x, y_p)
    h = 1e-5 * X.std(axis=0)
    fd = np.array(
        [
            (objective.value(x + h[j] * e, y_p) - objective.value(x - h[j] * e, y_p)) / (2 * h[j])
            for j, e in enumerate(np.eye(x.size))
        ]
    )
    error = float(np.linalg.norm(grad - fd) / max(float(np.linalg.norm(fd)), 1e-300))
    assert error <= GRADIENT_RTOL, (
        f"{spec.name}{dict(params)}: ∇W is {error:.2g} off central differences"
    )


__all__ = ["check_victim", "THETA_RTOL", "GRADIENT_RTOL"]

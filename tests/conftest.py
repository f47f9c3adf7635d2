"""Shared fixtures: small data sets, scikit-learn oracles (fitted at tight tolerance), and
the registry's examples as test cases (:func:`cases`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import sklearn.linear_model  # noqa: F401  (loads scikit-learn's OpenMP runtime, limited below)
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

from flexpoison import models
from flexpoison.attack import Objective
from flexpoison.engine import declared

# scikit-learn's GLM losses run OpenMP loops even on 60 rows; on a shared, loaded machine
# every call then waits for its threads (a 5 ms Poisson refit took 400 ms). The oracles
# refit thousands of small models: one thread each.
threadpool_limits(1, user_api="openmp")

# The shared data sets: $FLEXPOISON_DATA_DIR (as the package reads it), else ../shared/data
# beside the clone.
SHARED_DATA = Path(
    os.environ.get("FLEXPOISON_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data"
)

# Hypothesis profiles (tests that set max_examples themselves keep theirs): "ci", the
# default, and "slow" for the property suite's long run:
#   python -m pytest tests/test_properties.py -p no:cacheprovider --hypothesis-profile=slow \
#       --timeout=0
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "slow",
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")

TIGHTEST_TOL = 1e-15


class _ExactFit(NamedTuple):
    """An estimator whose registry entry declares an exact refit
    (:attr:`~flexpoison.models.ModelSpec.exact_fit`): ``fit`` runs it."""

    spec: models.ModelSpec
    estimator: object

    def fit(self, X, y):
        return self.spec.fit_tight(self.estimator, X, y)


def tight(estimator):
    """An unfitted clone of ``estimator`` whose solver runs to machine precision: the
    registry's tight settings (:meth:`~flexpoison.models.ModelSpec.tight_clone`), with
    ``tol`` lowered further to 1e-15 when the estimator has one (no lower than the
    registry's ``tol_floor``, below which the solver does not converge); or, for an
    entry that declares its own exact refit, an object whose ``fit`` runs it."""
    spec = models.spec_for(estimator)
    if spec.exact_fit is not None and type(estimator) is spec.estimator_class():
        return _ExactFit(spec, estimator)
    est = spec.tight_clone(estimator)
    params = est.get_params(deep=False)
    if "tol" in params:
        est.set_params(tol=min(params["tol"], max(TIGHTEST_TOL, spec.tol_floor)))
    return est


def fitted_theta(fitted) -> np.ndarray:
    """θ = (w, b) per output row, flattened, of a fitted scikit-learn linear model,
    followed by the fitted attributes its registry entry appends (``extra_theta``)."""
    coef = np.atleast_2d(fitted.coef_)
    extra = [float(getattr(fitted, name)) for name in _extra_theta(fitted)]
    if not fitted.fit_intercept:
        return np.append(coef.ravel(), extra)
    intercept = np.atleast_1d(fitted.intercept_)
    return np.append(np.hstack([coef, intercept[:, None]]).ravel(), extra)


def _extra_theta(fitted) -> tuple[str, ...]:
    for spec in models.REGISTRY.values():
        if type(fitted).__name__ == spec.class_name:
            return spec.extra_theta
    return ()


def sklearn_theta(estimator, X, y) -> np.ndarray:
    """θ = (w, b) per output row, flattened, as scikit-learn fits it on (X, y)."""
    return fitted_theta(tight(estimator).fit(X, y))


def make_regression(n=60, d=4, seed=0, sparse=False):
    """Responses linear in X plus noise; ``sparse``: the last true weight is 0."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(1.0, 2.0, d) + np.linspace(-1.0, 3.0, d)
    w = np.linspace(1.5, -1.0, d)
    if sparse:
        w[-1] = 0.0
    y = X @ w + 0.5 + 0.3 * rng.normal(size=n)
    return X, y


def make_classification(n=80, d=4, k=2, seed=0, sparse=False):
    """k Gaussian blobs, labels 0…k−1 in turn; ``sparse``: the last feature is noise
    (every class centre is 0 there)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 1.5
    if sparse:
        centres[:, -1] = 0.0
    X = centres[labels] + rng.normal(size=(n, d))
    return X, labels


class Case(NamedTuple):
    """One example of the model registry with its training data: ``id`` is
    ``"<registry name>[<example index>]"``, e.g. ``"ridge[0]"``."""

    id: str
    spec: models.ModelSpec
    example: models.Example
    estimator: object
    X: np.ndarray
    y: np.ndarray

    @property
    def victim(self) -> models.Victim:
        return models.victim(self.estimator, self.y)


def rank_deficient_design(rng, n, duplicated, zero, groups):
    """Rows with ``duplicated`` repeated columns, a zero column (``zero``) and
    ``groups`` one-hot groups of 3 levels (which sum to the intercept's column): a
    rank-deficient design, as real data are; y = x₀ − 2x₁ + noise."""
    X = rng.normal(size=(n, 4))
    X = np.hstack([X, X[:, :duplicated]])
    if zero:
        X = np.hstack([X, np.zeros((n, 1))])
    for _ in range(groups):
        X = np.hstack([X, np.eye(3)[rng.integers(0, 3, n)]])
    y = X[:, 0] - 2 * X[:, 1] + rng.normal(size=n)
    return X, y


def make_glm_responses(X, y, positive=False, seed=0):
    """Responses of a log-link model on (X, y) from :func:`make_regression`: mean
    μ = exp(1 + 0.6·z), z the standardised linear response; Poisson counts (zeros
    included) or, ``positive``, Gamma draws of shape 4."""
    rng = np.random.default_rng(seed)
    mu = np.exp(1.0 + 0.6 * (y - y.mean()) / y.std())
    return rng.gamma(4.0, mu / 4.0) if positive else rng.poisson(mu).astype(float)


def _data(spec, estimator, n_classes, sparse):
    """Data of the entry's task; responses in the domain of the victim's loss (its
    ``domain`` declaration, :mod:`flexpoison.engine.losses`)."""
    if spec.task != "regression":
        return make_classification(k=n_classes, sparse=sparse)
    X, y = make_regression(sparse=sparse)
    loss = spec.terms(estimator.get_params(deep=False), None).loss
    domain = declared(loss, "domain")
    if domain is not None:
        y = make_glm_responses(X, y, positive=not domain.closed)
    return X, y


def cases(has_theta: bool = True) -> list[Case]:
    """Every example of every registry entry with (``has_theta``) or without a θ
    (:attr:`~flexpoison.models.ModelSpec.has_theta`: decision-value goals only), with
    data of its task (n = 60 rows for regression, 80 for classification, d = 4). For an
    L1-penalised learner the data have a true weight of exactly 0, so that its fit has
    an inactive coefficient."""
    out = []
    for name, spec in models.REGISTRY.items():
        if spec.has_theta != has_theta:
            continue
        for i, example in enumerate(spec.examples):
            estimator = spec.make(**example.params)
            X, y = _data(spec, estimator, example.n_classes, sparse=False)
            if models.victim(estimator, y).learner.l1 > 0:
                X, y = _data(spec, estimator, example.n_classes, sparse=True)
            out.append(Case(f"{name}[{i}]", spec, example, estimator, X, y))
    return out


@pytest.fixture
def recorded_points(monkeypatch):
    """Every point at which the attack evaluates W (accepted or not)."""
    seen = []
    original = Objective.evaluate

    def spy(self, x, t, **kwargs):
        seen.append(np.array(x))
        return original(self, x, t, **kwargs)

    monkeypatch.setattr(Objective, "evaluate", spy)
    return seen

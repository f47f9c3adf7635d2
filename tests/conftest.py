"""Shared fixtures: small data sets and scikit-learn oracles (fitted at tight tolerance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression,
                                  Ridge)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tight(estimator):
    """A clone of ``estimator`` whose solver runs to (near) machine precision."""
    est = clone(estimator)
    if isinstance(est, (Lasso, ElasticNet)):
        est.set_params(tol=1e-15, max_iter=1_000_000)
    elif isinstance(est, LogisticRegression):
        est.set_params(tol=1e-14, max_iter=100_000, solver="newton-cholesky")
    elif isinstance(est, Ridge):
        est.set_params(solver="cholesky")
    return est


def sklearn_theta(estimator, X, y) -> np.ndarray:
    """θ = (w, b) per output row, flattened, as scikit-learn fits it on (X, y)."""
    est = tight(estimator).fit(X, y)
    coef = np.atleast_2d(est.coef_)
    if not est.fit_intercept:
        return coef.ravel()
    intercept = np.atleast_1d(est.intercept_)
    return np.hstack([coef, intercept[:, None]]).ravel()


def make_regression(n=60, d=4, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(1.0, 2.0, d) + np.linspace(-1.0, 3.0, d)
    w = np.linspace(1.5, -1.0, d)
    if sparse:
        w[-1] = 0.0
    y = X @ w + 0.5 + 0.3 * rng.normal(size=n)
    return X, y


def make_classification(n=80, d=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 1.5
    X = centres[labels] + rng.normal(size=(n, d))
    return X, labels


REGRESSORS = {
    "ols": LinearRegression(),
    "ridge": Ridge(alpha=1.0),
    "ridge-noint": Ridge(alpha=0.5, fit_intercept=False),
    "lasso": Lasso(alpha=0.3),
    "elasticnet": ElasticNet(alpha=0.4, l1_ratio=0.8),
    "elasticnet-noint": ElasticNet(alpha=0.5, l1_ratio=0.8, fit_intercept=False),
}
CLASSIFIERS = {
    "logistic": (LogisticRegression(C=1.0), 2),
    "logistic-noint": (LogisticRegression(C=0.5, fit_intercept=False), 2),
    "multinomial": (LogisticRegression(C=1.0), 3),
}


@pytest.fixture
def regression_data():
    return make_regression()


@pytest.fixture
def classification_data():
    return make_classification()

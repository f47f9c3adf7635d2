"""The first-order direction of the certificate's search (flexpoison.certify._direction):
its premise (A/B does not rise along rays from θ_t) and what it certifies on a known
construction. The validity of every bound it proposes is test_certify.py's (the bound
is proven by Problem.at wherever θ comes from)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flexpoison import models, points_needed
from flexpoison.attack import feasible_box
from flexpoison.certify._certificate import prepare
from flexpoison.certify._direction import columns, direction, level_query
from test_certify import _data, _poisoned


@pytest.mark.parametrize("name", ["logistic", "ridge", "lasso", "linearsvc"])
def test_the_bound_falls_along_every_ray_from_the_target(name):
    """A concave and B convex, both 0 at θ_t: A/B does not rise with η on θ_t + η·v
    (the premise of the first-order direction, flexpoison.certify._direction), on the
    direction it finds and on a random one (where the bound is positive)."""
    spec = models.get(name)
    rng = np.random.default_rng(5)
    X, y = _data(spec, None, rng, n=40, d=3)
    estimator = spec.make()
    box = feasible_box(X, 3.0)
    label = np.array([0]) if spec.task == "classification" else np.array([y.max()])
    theta_t = _poisoned(spec, estimator, X, y, box.upper[None], label, np.array([6]))
    setup = prepare(estimator, X, y, theta_t, 3.0, None, None)
    problem = setup.problem
    v = direction(problem, setup.theta_clean)
    assert v is not None
    for u in (v, rng.normal(size=v.size) * np.linalg.norm(v) / math.sqrt(v.size)):
        # η down to 2^-8: below, A nears the slack PRECISION takes off it on purpose
        bounds = [problem.at(theta_t + 2.0**-k * u).bound for k in range(0, 9)]
        positive = [b for b in bounds if b > 0]
        assert all(b >= a * (1 - 1e-6) for a, b in zip(positive, positive[1:])), bounds


def test_the_first_order_direction_certifies_a_known_construction():
    """15 copies of one box corner: the direction's bound is within 5 % of 15 (14.33
    when measured; the scan and ascent alone gave 13.76), and the programme's value
    is what A/B tends to along it."""
    spec = models.get("logistic")
    rng = np.random.default_rng(11)
    X, y = _data(spec, None, rng, n=60, d=3)
    estimator = spec.make(C=1.0)
    box = feasible_box(X, 3.0)
    theta_t = _poisoned(spec, estimator, X, y, box.upper[None], np.array([0]), np.array([15]))
    setup = prepare(estimator, X, y, theta_t, 3.0, None, None)
    problem = setup.problem
    v = direction(problem, setup.theta_clean)
    _, dG = problem.clean(theta_t)
    found = problem.inner(theta_t + 1e-7 * v)
    ratio = float(-dG @ v) / float(columns(problem, found.x[None], [found.target])[0] @ v)
    limit = problem.at(theta_t + 2.0**-13 * v).bound
    assert limit == pytest.approx(ratio, rel=1e-2)
    assert 0.95 * 15 < points_needed(estimator, X, y, theta_t).lower_bound <= 15


@pytest.mark.parametrize("seed", range(8))
def test_level_query_is_the_euclidean_projection_onto_the_level_set(seed):
    """The least-distance programme's answer is in {g·v = 1, c_j·v ≤ level} and no
    farther from v_best than SLSQP's projection; an empty level set gives None."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    n, k = 6, 15
    g = rng.normal(size=n)
    cuts = rng.normal(size=(k, n))
    best = rng.normal(size=n)
    best /= float(g @ best)
    level = float(np.quantile(cuts @ best, 0.3))  # cuts best above it: a real projection
    found = level_query(best, g, cuts, level)
    reference = minimize(
        lambda v: float((v - best) @ (v - best)),
        best,
        jac=lambda v: 2 * (v - best),
        constraints=[
            {"type": "eq", "fun": lambda v: g @ v - 1.0, "jac": lambda v: g[None]},
            {"type": "ineq", "fun": lambda v: level - cuts @ v, "jac": lambda v: -cuts},
        ],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    if not reference.success:  # SLSQP says the set is empty: so must the programme
        assert found is None
        return
    assert found is not None
    assert float(g @ found) == pytest.approx(1.0, abs=1e-9)
    assert np.all(cuts @ found <= level + 1e-9)
    assert np.linalg.norm(found - best) <= np.linalg.norm(reference.x - best) * (1 + 1e-6)
    assert level_query(best, g, np.vstack([cuts, g]), 0.5) is None  # g·v ≤ ½ with g·v = 1


def test_the_level_method_closes_its_gap_before_the_round_limit(monkeypatch):
    """On a 10-feature logistic target the level bundle stops by its own test (the
    programme's value and the best ratio within GAP), not at MAX_ROUNDS."""
    from flexpoison.certify import _direction

    spec = models.get("logistic")
    rng = np.random.default_rng(2)
    X, y = _data(spec, None, rng, n=80, d=10)
    estimator = spec.make(C=1.0)
    box = feasible_box(X, 3.0)
    rows = box.lower + rng.uniform(size=(6, 10)) * (box.upper - box.lower)
    theta_t = _poisoned(spec, estimator, X, y, rows, np.array([0, 1, 0, 1, 0, 0]), np.ones(6, int))
    problem = prepare(estimator, X, y, theta_t, 3.0, None, None).problem
    calls = []
    solve = _direction._solve
    monkeypatch.setattr(_direction, "_solve", lambda *args: calls.append(1) or solve(*args))
    v = direction(problem, prepare(estimator, X, y, theta_t, 3.0, None, None).theta_clean)
    assert v is not None
    assert len(calls) < _direction.MAX_ROUNDS

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
from flexpoison.certify._direction import columns, direction
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

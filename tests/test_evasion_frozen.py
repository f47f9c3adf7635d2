"""Evading sanitizers with frozen features or an optimised response (issue 24): each
point keeps its source row's frozen values and is projected onto the slice of the
sanitizers' sets where they hold; evasion still holds by construction; rows whose
frozen values put the sets out of reach are not drawn as starts; optimize_y goes with
the filters that do not look at the response."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge

from flexpoison import FlexiblePoisoning, Integrity, LossAvailability
from flexpoison.attack.box import Box
from flexpoison.attack.regions import Ball, Band, Region, misses, region
from flexpoison.errors import InvalidInputError
from test_evasion import _classification, _regression, _run


def _sets(rng, d):
    c = rng.normal(scale=0.3, size=d)
    u = rng.normal(size=d)
    return (Ball(c, 1.0 + rng.random()), Band(c, u / np.linalg.norm(u), 0.2 + rng.random()))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 6))
def test_a_frozen_region_projects_onto_the_slice_of_the_points_frozen_values(seed, d):
    rng = np.random.default_rng(seed)
    box = Box(-np.ones(d) * 2, np.ones(d) * 2)
    mean, scale = rng.normal(scale=0.1, size=d), 0.5 + rng.random(d)
    frozen = np.sort(rng.choice(d, size=rng.integers(1, d), replace=False))
    sets = _sets(rng, d)
    whole = region(box, mean, scale, sets, frozen)
    assert whole is not None and np.array_equal(whole.frozen, frozen)
    for _ in range(5):
        x = rng.normal(scale=4.0, size=d)
        x[frozen] = whole.interior[frozen] + rng.normal(scale=0.05, size=frozen.size)
        found = whole.pinned(frozen, x[frozen])
        if not isinstance(found, Region):  # these frozen values miss the sets
            continue
        p = whole.project(x)
        assert whole.feasible(p) and found.feasible(p)
        np.testing.assert_array_equal(p[frozen], x[frozen])
        # the nearest point of the slice in the view (sampled feasible points of it)
        zx, zp = (x - mean) / scale, (p - mean) / scale
        for _ in range(20):
            nudged = p + rng.normal(scale=0.05, size=d)
            nudged[frozen] = x[frozen]
            q = found.project(nudged)
            np.testing.assert_array_equal(q[frozen], x[frozen])
            assert np.linalg.norm((q - mean) / scale - zx) >= np.linalg.norm(zp - zx) - 1e-6


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5))
def test_a_set_that_misses_the_box_holds_no_point_of_it(seed, d):
    """misses() is the early exit of region(): when it says a set holds no point
    strictly inside it within the box, no sampled point of the box is, and region()
    finds none either."""
    rng = np.random.default_rng(seed)
    lower = rng.normal(size=d)
    upper = lower + 0.1 + rng.random(d)
    for s in _sets(rng, d):
        s = s.shrunk(0.2 + rng.random())  # some miss the box, some do not
        if isinstance(s, Ball):
            s = Ball(s.centre + rng.normal(scale=2.0, size=d), s.radius)
        if not misses(s, lower, upper):
            continue
        Z = lower + rng.random((4000, d)) * (upper - lower)
        assert all(s.excess(z) >= 0.0 for z in Z)
        assert region(Box(lower, upper), np.zeros(d), np.ones(d), (s,)) is None


@pytest.mark.parametrize("calibration", ["clean", "poisoned"])
@pytest.mark.parametrize("task", ["classification", "regression"])
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 1000))
def test_evasion_holds_by_construction_with_frozen_features(task, calibration, seed):
    if task == "classification":
        X, y = _classification(seed)
        estimator, goal = LogisticRegression(), LossAvailability()
        evade = ["sphere", "slab", "three_sigma"]
    else:
        X, y = _regression(seed)
        estimator, goal = Ridge(), Integrity("flip-top")
        evade = ["sphere", "slab"]
    result = _run(estimator, goal, X, y, evade, calibration, seed, frozen_features=[0, 2])
    assert all(s.poison_removed == 0 for s in result.screenings), result.screenings
    if calibration == "clean":  # by construction: the final check moves no row
        assert all(s.pulled == 0 for s in result.screenings)
    rows = [p.source_row for p in result.points]
    np.testing.assert_array_equal(np.asarray(result.X_poison)[:, [0, 2]], X[rows][:, [0, 2]])
    assert not np.array_equal(np.asarray(result.X_poison)[:, 1], X[rows, 1])  # free ones move


def test_frozen_values_that_put_every_slice_out_of_reach_are_refused():
    """Sets shrunk to 1 % of the defender's thresholds around the centroids: no clean
    row's frozen values leave a point of them (the whole sets are not empty)."""
    X, y = _classification(1)
    attack = FlexiblePoisoning(
        LogisticRegression(),
        n_points=2,
        evade=["sphere"],
        evade_margin=0.99,
        frozen_features=[0, 2],
        random_state=0,
    )
    with pytest.raises(InvalidInputError, match="no clean row's frozen values leave a point"):
        attack.generate(X, y)


def test_optimize_y_is_refused_with_sphere_or_slab_by_name():
    X, y = _regression(0)
    with pytest.raises(InvalidInputError, match="evade: slab not supported with optimize_y"):
        FlexiblePoisoning(
            Ridge(), n_points=2, evade=["three_sigma", "slab"], optimize_y=True
        ).generate(X, y)


@pytest.mark.parametrize("calibration", ["clean", "poisoned"])
def test_optimize_y_evades_the_filters_that_do_not_look_at_the_response(calibration):
    """The 3σ filter sees the features only: a response optimised by gradient leaves
    its box as it is; the loss filter is checked at the final response."""
    X, y = _regression(3)
    result = _run(
        Ridge(),
        Integrity("flip-top"),
        X,
        y,
        ["three_sigma", "loss"],
        calibration,
        3,
        optimize_y=True,
    )
    assert all(s.poison_removed == 0 for s in result.screenings), result.screenings
    assert not np.isin(np.asarray(result.y_poison), y).all()  # responses optimised

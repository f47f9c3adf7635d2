"""Poison that passes the defender's filter (issue 24): the projection lands in the
intersection, evasion holds by construction on random problems under both
calibrations, the loss filter's loss at θ_p is the filter's own, bad input errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge

from flexpoison import FlexiblePoisoning, Integrity, LossAvailability
from flexpoison.attack.box import Box
from flexpoison.attack.regions import Ball, Band, dykstra, region
from flexpoison.defences.model_based import _row_losses
from flexpoison.errors import InvalidInputError


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_projection_lands_in_the_intersection_and_is_idempotent(seed, d):
    rng = np.random.default_rng(seed)
    box = Box(-np.ones(d) * 2, np.ones(d) * 2)
    c = rng.normal(scale=0.3, size=d)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    sets = (Ball(c, 1.0 + rng.random()), Band(c, u, 0.2 + rng.random()))
    mean, scale = rng.normal(scale=0.1, size=d), 0.5 + rng.random(d)
    found = region(box, mean, scale, sets)
    assert found is not None
    for _ in range(5):
        x = rng.normal(scale=4.0, size=d)
        p = found.project(x)
        assert found.feasible(p)
        assert np.array_equal(found.project(p), p)  # a feasible point stays
        # no feasible point sampled near p is closer to x in the view than p (Dykstra
        # converges to the projection; the exactness bisection moves it by ~1e-12)
        zx, zp = (x - mean) / scale, (p - mean) / scale
        for _ in range(20):
            q = found.project(p + rng.normal(scale=0.05, size=d))
            assert np.linalg.norm((q - mean) / scale - zx) >= np.linalg.norm(zp - zx) - 1e-6


def test_dykstra_is_the_projection_onto_ball_and_box():
    # the ball of radius 1 at 0 and the box x₁ ≥ 0.5: the projection of (−1, 2) is
    # on the ball's arc at x₁ = 0.5, (0.5, √0.75)
    z = dykstra(
        np.array([-1.0, 2.0]), (Ball(np.zeros(2), 1.0),), np.array([0.5, -5]), np.array([5, 5.0])
    )
    assert np.allclose(z, [0.5, np.sqrt(0.75)], atol=1e-6)


def _classification(seed: int, n: int = 120, d: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + 1.5 * y[:, None]
    return X, y


def _regression(seed: int, n: int = 120, d: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=d) + 0.3 * rng.normal(size=n)


def _run(estimator, goal, X, y, evade, calibration, seed, **extra):
    attack = FlexiblePoisoning(
        estimator,
        goal=goal,
        alpha=0.0,
        rate=0.05,
        starts=2,
        max_iter=30,
        random_state=seed,
        evade=evade,
        evade_calibration=calibration,
        **extra,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return attack.generate(X, y)


@pytest.mark.parametrize("calibration", ["clean", "poisoned"])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 1000))
def test_geometric_and_loss_filters_remove_no_poison_row(calibration, seed):
    X, y = _classification(seed)
    evade = ["sphere", "slab", "three_sigma", "loss"]
    result = _run(LogisticRegression(), LossAvailability(), X, y, evade, calibration, seed)
    assert [s.sanitizer for s in result.screenings] == [*evade, "+".join(evade)]
    assert all(s.poison_removed == 0 for s in result.screenings), result.screenings


@pytest.mark.parametrize("calibration", ["clean", "poisoned"])
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 1000))
def test_regression_rows_pass_sphere_slab_and_loss(calibration, seed):
    X, y = _regression(seed)
    evade = ["sphere", "slab", "loss"]
    result = _run(Ridge(), Integrity("flip-top"), X, y, evade, calibration, seed)
    assert all(s.poison_removed == 0 for s in result.screenings), result.screenings


def test_clean_calibration_needs_no_pull_for_the_convex_sets():
    """Sphere, slab and 3σ hold by construction: the final check moves no row."""
    X, y = _classification(3)
    result = _run(LogisticRegression(), LossAvailability(), X, y, ["sphere", "slab"], "clean", 3)
    assert all(s.pulled == 0 and s.poison_removed == 0 for s in result.screenings)


def test_the_loss_at_theta_p_is_the_loss_filters():
    """The attack's ℓ(θ_p; x, y) from its exact θ equals the filter's on a scikit-learn
    refit of the same rows (squared error; log-loss)."""
    from flexpoison.attack import evasion_check

    for estimator, (X, y), task in (
        (Ridge(), _regression(1), "regression"),
        (LogisticRegression(C=10.0), _classification(1), "classification"),
    ):
        attack = FlexiblePoisoning(estimator, n_points=1, evade=["loss"], random_state=0)
        setup = attack._setup(X, y, None)
        evasion = evasion_check.start(attack, setup, 1)
        Theta = setup.objective.Theta_start
        ours = evasion.losses(Theta, np.asarray(X, float), setup.t)
        fitted = (
            estimator.set_params(tol=1e-12, max_iter=10_000) if task != "regression" else estimator
        )
        theirs = _row_losses(fitted.fit(X, y), np.asarray(X, float), y, task)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"evade": ["sphere", "nope"]}, "unknown sanitizer 'nope'; expected one of"),
        ({"evade": "sphere"}, "expected a list of sanitizer names"),
        ({"evade": [3]}, "expected sanitizer names"),
        ({"evade": ["sphere"], "evade_calibration": "both"}, "evade_calibration"),
        ({"evade": ["sphere"], "evade_margin": 1.0}, "evade_margin"),
        ({"evade": ["sphere"], "optimize_y": True}, "sphere not supported with optimize_y"),
    ],
)
def test_bad_evasion_settings_are_refused_by_name(kwargs, message):
    X, y = _regression(0)
    with pytest.raises(InvalidInputError, match=message):
        FlexiblePoisoning(Ridge(), n_points=2, **kwargs).generate(X, y)


def test_the_frontier_draws_an_evading_attack_per_sanitizer():
    """The evading series: the α = 0 attack built to evade each named sanitizer, measured
    against every sanitizer; each evades its own (recall 0)."""
    from flexpoison.data import Dataset
    from flexpoison.experiments import frontier as fr

    X, y = _regression(5, n=160)
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    data = Dataset("toy", X, y, names, "y", "regression", "synthetic, for tests")
    result = fr.run_frontier(
        data,
        model="ridge",
        goal="integrity",
        rate=0.05,
        alphas=(0.0,),
        baselines=(),
        sanitizers=["sphere", "slab", "loss"],
        evading=("sphere", "loss"),
        attack=FlexiblePoisoning(None, max_iter=20, starts=1, random_state=0),
    )
    assert result.settings.evading == ("sphere", "loss")
    for name in ("sphere", "loss"):
        row = result.row(fr.EVADING + name, name)
        assert row.recall == 0.0
        assert row.label == f"built to evade {name}"
    with pytest.raises(InvalidInputError, match="evading: \\['trim'\\] not among"):
        fr.run_frontier(data, model="ridge", alphas=(0.0,), sanitizers=["sphere"], evading=["trim"])


def test_the_frontier_can_make_every_alpha_evade():
    from flexpoison.data import Dataset
    from flexpoison.experiments import frontier as fr

    X, y = _regression(6, n=160)
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    data = Dataset("toy", X, y, names, "y", "regression", "synthetic, for tests")
    result = fr.run_frontier(
        data,
        model="ridge",
        goal="integrity",
        rate=0.05,
        alphas=(0.0, 0.5),
        baselines=("unconcealed",),
        sanitizers=["sphere", "slab"],
        evade=("sphere", "slab"),
        attack=FlexiblePoisoning(None, max_iter=20, starts=1, random_state=0),
    )
    assert result.settings.evade == ("sphere", "slab")
    for alpha in (0.0, 0.5):
        for name in ("sphere", "slab"):
            assert result.row("flexible", name, alpha).recall == 0.0
    with pytest.raises(InvalidInputError, match="evade: \\['lof'\\] not among"):
        fr.run_frontier(data, model="ridge", alphas=(0.0,), sanitizers=["sphere"], evade=["lof"])


#: A one-run sweep grid (iris, logistic, availability), quick to run.
SWEEP = {
    "datasets": ["iris"],
    "models": ["logistic"],
    "goals": ["availability"],
    "alphas": [0],
    "rates": [0.05],
    "seeds": [0],
    "max_iter": 5,
    "starts": 1,
}


def test_a_sweep_grid_can_name_sanitizers_to_evade(tmp_path):
    """``evade`` in a sweep file: each run's attack evades them (calibrated with its
    clean_removal) and records their screenings; a grid without it keeps its ids."""
    from flexpoison import sweeps as sw

    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in SWEEP.items())
    plain = tmp_path / "plain.toml"
    plain.write_text("[sweep]\n" + lines)
    evading = tmp_path / "evading.toml"
    evading.write_text("[sweep]\n" + lines + 'evade = ["slab", "sphere"]\n')
    run_plain, run_evading = sw.load_sweep(plain).runs[0], sw.load_sweep(evading).runs[0]
    assert "evade" not in run_plain.settings
    assert run_evading.settings["evade"] == ["sphere", "slab"]  # canonical order
    assert run_evading.run_id != run_plain.run_id
    result = sw.compute_run(run_evading.settings)
    assert [s["sanitizer"] for s in result["screenings"]] == ["sphere", "slab", "sphere+slab"]
    assert all(s["poison_removed"] == 0 for s in result["screenings"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\n" + lines + 'evade = ["spere"]\n')
    with pytest.raises(sw.SweepFileError, match="evade"):
        sw.load_sweep(bad)


def test_a_classifier_evading_the_loss_filter_adds_copies_of_one_row():
    """Its look-ahead model (m copies of the first point) is the final model, so the
    loss filter keeps every row without the final check moving any."""
    X, y = _classification(11)
    result = _run(LogisticRegression(), LossAvailability(), X, y, ["loss"], "clean", 11)
    rows = np.asarray(result.X_poison)
    assert np.all(rows == rows[0]) and np.all(result.y_poison == result.y_poison[0])
    assert [p.start for p in result.points[1:]] == ["copy of the first point"] * (len(rows) - 1)
    (screening,) = result.screenings
    assert screening.poison_removed == 0 and screening.pulled == 0

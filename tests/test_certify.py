"""The certified lower bound on the number of poison rows (flexpoison.certify, issue 23).

* The zonotope walk is the convex hull of the box's corners (every corner inside, every
  vertex a corner), and the inner maximum equals a dense grid's maximum over the box and
  the labels / responses (within the grid's resolution) where it claims to be exact, and
  bounds it from above where it relaxes (K ≥ 3 classes).
* Validity: on random problems over every linear victim of the registry, poison rows
  refitted with the registry's exact fit reach θ_p with m rows, and the bound at θ_p is
  never above m; likewise for the rows of a real attack.
* The algebra: A(θ) − m·B(θ) is (1/s(n + m))·[F(θ_t) − F(θ)] for the actual poison rows,
  F the learner's own objective on clean + poison rows.
* The witness gives the reported bound again; refusals name the problem.

``FLEXPOISON_CERTIFY_EXAMPLES`` sets the number of random validity problems (default 24;
the closing note's 500-problem run: ``FLEXPOISON_CERTIFY_EXAMPLES=500``).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from flexpoison import FlexiblePoisoning, Integrity, models, points_needed
from flexpoison.attack import feasible_box
from flexpoison.certify._bound import Scaling
from flexpoison.certify._inner import Model, family, inner_maximum, one_output
from flexpoison.certify._polygon import boundary
from flexpoison.engine import HingeLoss, OneVsAllSquaredLoss, SquaredHingeLoss, TweedieLoss
from flexpoison.errors import InvalidInputError, UnsupportedEstimatorError
from flexpoison.models import theta_of

EXAMPLES = int(os.environ.get("FLEXPOISON_CERTIFY_EXAMPLES", "24"))

# every linear victim of the registry, in each setting its contract suite checks
CASES = [
    (spec.name, example)
    for spec in models.REGISTRY.values()
    if spec.has_theta
    for example in spec.examples
]


def _data(spec, n_classes, rng, n=30, d=2):
    X = rng.normal(size=(n, d))
    if spec.task == "classification":
        k = n_classes or 2
        scores = X @ rng.normal(size=(d, k)) + rng.normal(size=(n, k))
        y = np.argmax(scores, axis=1)
        y[:k] = np.arange(k)  # every class present
        return X, y
    y = X @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    if spec.name in ("poisson", "gamma") or (
        spec.name == "tweedie" and spec.make().get_params()["power"] >= 1
    ):
        y = np.exp(0.4 * y)
    return X, y


def _poisoned(spec, estimator, X, y, rows, labels, copies):
    """θ_p fitted exactly on the clean rows plus ``copies[i]`` copies of each row."""
    Xp = np.repeat(rows, copies, axis=0)
    yp = np.repeat(labels, copies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = spec.fit_tight(estimator, np.vstack([X, Xp]), np.append(y, yp))
    return theta_of(fitted)


# ---------------------------------------------------------------- the zonotope walk


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(0, 7))
def test_the_walk_is_the_hull_of_the_box_corners(seed, G):
    rng = np.random.default_rng(seed)
    gens = rng.normal(size=(G, 2)) * (rng.uniform(size=(G, 1)) > 0.2)  # some zero
    origin = rng.normal(size=2)
    walk = boundary(origin, gens)
    # every vertex is a corner (λ ∈ {0, 1}^G) and the edges close the loop
    for e in range(walk.start.shape[0]):
        lam = walk.coefficients(e, 0.0)
        assert set(np.unique(lam)) <= {0.0, 1.0}
        np.testing.assert_allclose(origin + lam @ gens, walk.start[e], atol=1e-12)
        np.testing.assert_allclose(
            origin + walk.coefficients(e, 1.0) @ gens, walk.start[e] + walk.step[e], atol=1e-12
        )
    np.testing.assert_allclose(walk.start[0], walk.start[-1] + walk.step[-1], atol=1e-12)
    # every corner lies inside: on the left of every (counter-clockwise) edge
    lams = np.array(np.meshgrid(*[[0.0, 1.0]] * G)).reshape(G, -1).T if G else np.zeros((1, 0))
    corners = origin + lams @ gens
    for start, step in zip(walk.start, walk.step):
        cross = step[0] * (corners[:, 1] - start[1]) - step[1] * (corners[:, 0] - start[0])
        assert np.all(cross >= -1e-9)


# ---------------------------------------------------------- the inner maximum vs a grid


def _grid_max(loss, model, target, lo, hi, targets, kind, points=161):
    axes = [np.linspace(lo[j], hi[j], points) for j in range(lo.size)]
    grid = np.array(np.meshgrid(*axes)).reshape(lo.size, -1).T
    if kind in ("residual", "affine"):
        ts = np.linspace(targets[0], targets[-1], 21)
    else:
        ts = targets
    best = -np.inf
    Z, Zt = model.scores(grid), target.scores(grid)
    for t in ts:
        tt = np.full(grid.shape[0], float(t))
        best = max(best, float(np.max(loss.value(Z, tt) - loss.value(Zt, tt))))
    return best


@settings(max_examples=3, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("name, example", CASES, ids=lambda v: str(v))
def test_the_inner_maximum_matches_a_dense_grid(name, example, seed):
    spec = models.get(name)
    rng = np.random.default_rng(seed)
    X, y = _data(spec, example.n_classes, rng)
    victim = models.victim(spec.make(**example.params), y)
    loss = victim.learner.loss
    kind = family(loss, victim.classes is not None)
    assert kind is not None
    K = victim.learner.n_outputs
    d = X.shape[1]

    def model():
        W = rng.normal(size=(K, d))
        b = 0.5 * rng.normal(size=K)
        if victim.learner.pinned_rows:  # the Huber scale: weights 0, σ > 0
            W[1] = 0.0
            b[1] = rng.uniform(0.3, 2.0)
        return Model(W, b)

    theta, theta_t = model(), model()
    lo = -rng.uniform(0.5, 2.0, size=d)
    hi = rng.uniform(0.5, 2.0, size=d)
    t = victim.encode(y)
    if victim.classes is None:
        targets = np.array([t.min(), t.max()])
    else:
        targets = np.array([-1.0, 1.0]) if K == 1 else np.arange(K, dtype=float)
    found = inner_maximum(loss, kind, theta, theta_t, lo, hi, targets)
    grid = _grid_max(loss, theta, theta_t, lo, hi, targets, kind)
    scale = 1e-6 * (1.0 + abs(grid))
    assert grid <= found.upper + scale  # an upper bound on every feasible row
    assert np.all(found.x >= lo) and np.all(found.x <= hi)
    tt = np.array([found.target])
    gap = loss.value(theta.scores(found.x[None]), tt) - loss.value(
        theta_t.scores(found.x[None]), tt
    )
    assert math.isclose(found.value, float(gap[0]), rel_tol=1e-9, abs_tol=1e-12)
    if found.exact:  # the row found is at least as good as the grid's, and the bound tight
        assert found.value >= grid - scale
        assert found.upper - found.value <= 1e-6 * (1.0 + abs(found.value))


def test_separable_losses_are_sums_of_their_one_output_loss():
    rng = np.random.default_rng(0)
    z, t = rng.normal(size=(50, 4)), rng.integers(0, 4, size=50)
    for loss in (OneVsAllSquaredLoss(4), HingeLoss(4), SquaredHingeLoss(4)):
        h = one_output(loss)
        signs = np.where(t[:, None] == np.arange(4), 1.0, -1.0)
        total = sum(h.value(z[:, [k]], signs[:, k]) for k in range(4))
        np.testing.assert_allclose(loss.value(z, t), total, rtol=1e-12)


def test_the_tweedie_gap_is_affine_in_the_response():
    rng = np.random.default_rng(1)
    for power in (1.0, 1.5, 2.0):
        loss = TweedieLoss(power)
        z, zt = rng.normal(size=(20, 1)), rng.normal(size=(20, 1))
        t1, t2 = rng.uniform(0.1, 3, size=20), rng.uniform(0.1, 3, size=20)

        def gap(t, loss=loss, z=z, zt=zt):
            return loss.value(z, t) - loss.value(zt, t)

        np.testing.assert_allclose(gap(0.5 * (t1 + t2)), 0.5 * (gap(t1) + gap(t2)), atol=1e-12)


# ------------------------------------------------------------------------ validity


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(
    st.sampled_from(CASES),
    st.integers(0, 2**32 - 1),
    st.integers(1, 12),
    st.integers(1, 3),
    st.booleans(),
)
def test_no_rows_reach_theta_with_fewer_than_the_bound(case, seed, m, distinct, corners):
    name, example = case
    spec = models.get(name)
    rng = np.random.default_rng(seed)
    X, y = _data(spec, example.n_classes, rng)
    estimator = spec.make(**example.params)
    box = feasible_box(X, 3.0)
    u = rng.uniform(size=(distinct, X.shape[1]))
    rows = box.lower + (np.round(u) if corners else u) * (box.upper - box.lower)
    if spec.task == "classification":
        labels = rng.choice(np.unique(y), size=distinct)
    else:
        labels = rng.uniform(y.min(), y.max(), size=distinct)
    m = max(m, distinct)
    cuts = np.sort(rng.choice(np.arange(1, m), distinct - 1, replace=False))
    copies = np.diff(np.r_[0, cuts, m])
    theta_p = _poisoned(spec, estimator, X, y, rows, labels, copies)
    cert = points_needed(estimator, X, y, theta_p, max_iter=10)
    assert cert.lower_bound <= m * (1 + 1e-6) + 1e-6, (name, cert.lower_bound, m)


def test_a_real_attack_uses_no_fewer_rows_than_the_bound():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.2 * rng.normal(size=40)
    spec = models.get("ridge")
    estimator = spec.make(alpha=1.0)
    m = 4
    result = FlexiblePoisoning(
        estimator, goal=Integrity("flip-top"), alpha=0.0, n_points=m, random_state=0
    ).generate(X, y)
    # the rows it returns, refitted exactly: the model they actually make the optimum
    theta_p = _poisoned(spec, estimator, X, y, result.X_poison, result.y_poison, np.ones(m, int))
    cert = points_needed(estimator, X, y, theta_p)
    assert 0 < cert.lower_bound <= m * (1 + 1e-6)


# ----------------------------------------------------------------- the bound itself


@pytest.mark.parametrize("name, params", [("ridge", {"alpha": 1.0}), ("lasso", {"alpha": 0.1})])
def test_the_inequality_is_the_learners_objective_rearranged(name, params):
    """A(θ) − m·(ḡ(θ) − b·ΔR(θ)) = (1/s(n + m))·[F(θ_t) − F(θ)] with ḡ the mean gap of
    the actual poison rows, F the learner's objective on clean + poison rows."""
    from flexpoison.certify import _certificate

    spec = models.get(name)
    rng = np.random.default_rng(5)
    X, y = _data(spec, None, rng)
    estimator = spec.make(**params)
    rows, labels, m = X[:2] * 2.0, y[:2], 6
    theta_p = _poisoned(spec, estimator, X, y, rows, labels, np.array([2, 4]))
    seen = {}
    original = _certificate.search

    def spy(problem, theta_clean, max_iter):
        seen["problem"] = problem
        return original(problem, theta_clean, max_iter)

    _certificate.search = spy
    try:
        points_needed(estimator, X, y, theta_p, max_iter=0)
    finally:
        _certificate.search = original
    problem = seen["problem"]
    learner = problem.learner
    Xa = np.vstack([X, np.repeat(rows, [2, 4], axis=0)])
    ta = np.append(problem.t, np.repeat(labels, [2, 4]))
    scale = Scaling.of(learner, X.shape[0])

    def F(theta):  # s(N)·Σℓ + R on every row, N = n + m
        Z = problem.model(theta).scores(Xa)
        return (
            learner.scale(Xa.shape[0]) * np.sum(learner.loss.value(Z, ta))
            + problem.penalty(theta)[0]
        )

    for _ in range(3):
        theta = theta_p + rng.normal(size=theta_p.size)
        G_t, G = problem.clean(theta_p)[0], problem.clean(theta)[0]
        A = G_t - G
        Zp, Zpt = problem.model(theta).scores(Xa[30:]), problem.model(theta_p).scores(Xa[30:])
        gaps = learner.loss.value(Zp, ta[30:]) - learner.loss.value(Zpt, ta[30:])
        dR = problem.penalty(theta_p)[0] - problem.penalty(theta)[0]
        lhs = A - (gaps.sum() - m * scale.b * dR)
        rhs = (F(theta_p) - F(theta)) / learner.scale(Xa.shape[0])
        assert math.isclose(lhs, rhs, rel_tol=1e-9, abs_tol=1e-9 * abs(G))
    assert scale.b == (0.0 if not learner.per_sample else 1.0 / learner.loss_weight)


def test_the_bound_is_positive_and_below_a_known_construction():
    """θ_t reached by m copies of one extreme row needs more than half of them (14.33 of
    15 when measured: the max-gap row is that corner), and at most m."""
    spec = models.get("logistic")
    rng = np.random.default_rng(11)
    X, y = _data(spec, None, rng, n=60, d=3)
    estimator = spec.make(C=1.0)
    box = feasible_box(X, 3.0)
    m = 15
    theta_t = _poisoned(spec, estimator, X, y, box.upper[None], np.array([0]), np.array([m]))
    cert = points_needed(estimator, X, y, theta_t)
    assert 0.5 * m < cert.lower_bound <= m
    again = points_needed(estimator, X, y, theta_t, theta=cert.theta_witness)
    assert math.isclose(again.lower_bound, cert.lower_bound, rel_tol=1e-12)
    assert cert.exact_inner and cert.relaxed == () and cert.targets == (0, 1)
    assert np.all(cert.x_max >= box.lower) and np.all(cert.x_max <= box.upper)


def test_a_target_no_rows_can_reach_is_certified_unreachable_or_large():
    """Flipping a well-fitted ridge model's top weight with rows in a 1σ box."""
    spec = models.get("ridge")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 2))
    y = X @ np.array([3.0, -2.0]) + 0.1 * rng.normal(size=50)
    cert = points_needed(spec.make(alpha=1.0), X, y, "flip-top", n_sigma=1.0)
    assert cert.lower_bound > 20  # 48.2 when measured
    assert cert.scaling.startswith("total loss")


def test_relaxed_constraints_are_named():
    spec = models.get("ridge")
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=40), rng.integers(0, 5, size=40).astype(float)])
    y = X @ np.array([1.0, 0.5]) + 0.1 * rng.normal(size=40)
    cert = points_needed(spec.make(alpha=1.0), X, y, "flip-top", integer_features=[1])
    assert cert.relaxed == ("integer_features",)


# ----------------------------------------------------------------------- refusals


def _small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: models.get("svc").make(kernel="rbf"), "kernel machine"),
        (lambda: make_pipeline(StandardScaler(), models.get("logistic").make()), "pipeline"),
    ],
)
def test_unsupported_victims_are_refused_by_name(make, message):
    X, y = _small()
    with pytest.raises(UnsupportedEstimatorError, match=message):
        points_needed(make(), X, y, np.zeros(3))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X, y, t: (np.where(X > 1, np.nan, X), y, t), "X"),
        (lambda X, y, t: (X, y, t[:2]), "target"),
        (lambda X, y, t: (X, y, np.array([np.nan, 0.0, 0.0])), "target"),
        (lambda X, y, t: (X[:0], y[:0], t), "X"),
        (lambda X, y, t: (X, y, "predict:1@0,0"), "predict"),
    ],
)
def test_bad_input_is_one_clear_error(change, message):
    X, y = _small()
    X, y, t = change(X, y, np.zeros(3))
    with pytest.raises(InvalidInputError, match=message):
        points_needed(models.get("logistic").make(), X, y, t)


@pytest.mark.parametrize("keyword, value", [("max_iter", -1), ("theta", np.zeros(2))])
def test_bad_search_settings_are_refused(keyword, value):
    X, y = _small()
    with pytest.raises(InvalidInputError, match=keyword):
        points_needed(models.get("logistic").make(), X, y, np.zeros(3), **{keyword: value})


@pytest.mark.parametrize(
    "name, y_bounds, message",
    [
        ("logistic", (0, 1), "only a regressor"),
        ("ridge", (2.0, 1.0), "lo <= hi"),
        ("poisson", (-1.0, 1.0), "y_bounds"),
    ],
)
def test_bad_response_ranges_are_refused(name, y_bounds, message):
    X, y = _small()
    if name != "logistic":
        y = np.exp(X[:, 0])
    with pytest.raises(InvalidInputError, match=message):
        points_needed(
            models.get(name).make(),
            X,
            y,
            "flip-top" if name != "logistic" else "negate",
            y_bounds=y_bounds,
        )


# -------------------------------------------------------- the online attack (part 2)


@pytest.mark.parametrize("name, params", [("ridge", {"alpha": 1.0}), ("logistic", {"C": 1.0})])
def test_the_online_attack_adds_feasible_rows_and_never_beats_the_bound(name, params):
    """Its rows lie in the box with valid labels or responses, the victim refitted on
    them is θ_i, and lower_bound(θ_i) ≤ i for every i: an attack is a procedure the
    certificate must hold against."""
    from flexpoison.certify import model_targeted

    spec = models.get(name)
    rng = np.random.default_rng(8)
    X, y = _data(spec, None, rng, n=40, d=2)
    estimator = spec.make(**params)
    box = feasible_box(X, 3.0)
    theta_t = _poisoned(spec, estimator, X, y, box.lower[None], y[:1], np.array([8]))
    result = model_targeted(estimator, X, y, theta_t, 12)
    assert np.all(result.X_poison >= box.lower) and np.all(result.X_poison <= box.upper)
    if spec.task == "classification":
        assert set(result.y_poison) <= set(y)
    else:
        assert np.all((result.y_poison >= y.min()) & (result.y_poison <= y.max()))
    assert result.distance[-1] < 0.5 * result.distance[0]  # it heads for θ_t
    for i in (1, len(result.distance)):
        theta_i = result.theta_history[i - 1]
        np.testing.assert_allclose(
            theta_i,
            _poisoned(
                spec, estimator, X, y, result.X_poison[:i], result.y_poison[:i], np.ones(i, int)
            ),
            atol=1e-8,
        )
        cert = points_needed(estimator, X, y, theta_i, max_iter=10)
        assert cert.lower_bound <= i * (1 + 1e-6)


# ------------------------------------------------- a certificate on an attack's result


def _standardised(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _cancer_rows(n=150, d=6):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return _standardised(X[:n, :d]), y[:n]


def _diabetes_rows():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return _standardised(X), y


@pytest.mark.parametrize(
    "name, target",
    [
        ("logistic", "flip-subpopulation:class=1,cluster=0/4"),
        ("linearsvc", "negate"),
        ("ridge", "flip-top"),
        ("lasso", "flip-top"),
    ],
)
def test_the_certificate_on_a_result_bounds_its_own_rows(name, target):
    """θ_poisoned is reached by the m crafted rows: the certified bound is at most m,
    and the efficiency lower_bound / m is in [0, 1]."""
    from flexpoison.certify import certify_result

    X, y = _diabetes_rows() if models.get(name).task == "regression" else _cancer_rows()
    m = 6
    attack = FlexiblePoisoning(
        models.get(name).make(), goal=Integrity(target), alpha=0.0, n_points=m, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = attack.generate(X, y)
    assert result.certificate is None  # opt-in
    certified = certify_result(result).certificate
    assert certified is not None and certified.reason is None
    assert certified.n_points == m
    assert 0 < certified.lower_bound <= m * (1 + 1e-6) + 1e-6
    assert certified.efficiency == pytest.approx(certified.lower_bound / m)
    assert certified.describe()["efficiency"] == certified.efficiency
    assert "efficiency" in certified.line()


def test_a_result_without_a_certificate_says_why():
    from sklearn.linear_model import Ridge

    from flexpoison import Availability
    from flexpoison.certify import certify_result

    X, y = _diabetes_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        available = FlexiblePoisoning(
            Ridge(), goal=Availability(), alpha=0.0, n_points=2, random_state=0
        )
        piped = FlexiblePoisoning(
            make_pipeline(StandardScaler(), Ridge()),
            goal=Integrity(),
            alpha=0.0,
            n_points=2,
            random_state=0,
        )
        results = [available.generate(X, y), piped.generate(X, y)]
    reasons = [certify_result(r).certificate.reason for r in results]
    assert "availability goal has no target model" in reasons[0]
    assert "pipeline" in reasons[1]
    assert all(certify_result(r).certificate.efficiency is None for r in results)


def test_cli_certify_prints_and_stores_the_certificate(tmp_path):
    import json

    import pandas as pd
    from click.testing import CliRunner

    from flexpoison.cli import main

    X, y = _cancer_rows(100, 4)
    path = tmp_path / "data.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(label=y).to_csv(path, index=False)
    command = f"attack --data {path} --target-column label --model logistic --alpha 0 "
    command += "--n-points 3 --certify --out"

    def run(goal, out):
        return CliRunner().invoke(main, [*command.split(), str(out), "--goal", goal])

    result = run("integrity", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "certificate: any attack in this box needs >=" in result.output
    certificate = json.loads((tmp_path / "run" / "summary.json").read_text())["certificate"]
    assert 0 < certificate["lower_bound"] <= 3 * (1 + 1e-6)
    assert certificate["efficiency"] == pytest.approx(certificate["lower_bound"] / 3)
    refused = run("availability", tmp_path / "no")
    assert refused.exit_code == 2 and "--certify applies to --goal integrity" in refused.output


def test_points_needed_takes_the_subpopulation_preset():
    """The preset is resolved by the attack's own setup: the same θ_t as the attack's."""
    X, y = _cancer_rows()
    estimator = models.get("logistic").make()
    target = "flip-subpopulation:class=0,cluster=1/3"
    attack = FlexiblePoisoning(estimator, goal=Integrity(target), alpha=0.0, random_state=0)
    expected = attack.objective(X, y).theta_reference
    certificate = points_needed(estimator, X, y, target, max_iter=0)
    np.testing.assert_array_equal(certificate.theta_target, expected)
    assert certificate.lower_bound > 0


def test_the_certificate_relaxes_the_attacks_constraints_and_stays_valid():
    """Frozen and integer features: the bound over the box still holds for the rows."""
    from flexpoison.certify import certify_result

    X, y = _diabetes_rows()
    X = X.copy()
    X[:, 1] = np.round(X[:, 1] * 3)  # an integer-valued column
    attack = FlexiblePoisoning(
        models.get("ridge").make(),
        goal=Integrity("flip-top"),
        alpha=0.0,
        n_points=5,
        frozen_features=[0],
        integer_features=[1],
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = attack.generate(X, y)
    assert np.all(result.X_poison[:, 1] == np.round(result.X_poison[:, 1]))
    certified = certify_result(result).certificate
    assert 0 < certified.lower_bound <= 5 * (1 + 1e-6) + 1e-6


# ------------------------------------------- the online attack as the attack's strategy


def _strategy_attack(m, **settings):
    from flexpoison.certify import ModelTargeted

    goal = Integrity("flip-subpopulation:class=1,cluster=0/4")
    strategy = settings.pop("strategy", ModelTargeted())
    return FlexiblePoisoning(
        models.get("logistic").make(),
        goal=goal,
        alpha=0.0,
        n_points=m,
        strategy=strategy,
        **settings,
    )


def test_the_model_targeted_strategy_is_the_online_attack():
    """Same rows as certify.model_targeted, θ to rounding; an AttackResult whose
    certificate holds (≤ m)."""
    from flexpoison.certify import certify_result, model_targeted

    X, y = _cancer_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _strategy_attack(12).generate(X, y)
    online = model_targeted(models.get("logistic").make(), X, y, result.theta_target, 12)
    np.testing.assert_array_equal(result.X_poison, online.X_poison)
    np.testing.assert_array_equal(result.y_poison, online.y_poison)
    np.testing.assert_allclose(result.theta_history, online.theta_history, atol=1e-8)
    assert all(p.start == "model-targeted" and p.stop == "reached" for p in result.points)
    assert result.settings["strategy"] == {"name": "model-targeted", "epsilon": 0.0}
    assert result.effect_history[-1] < result.effect_clean
    assert certify_result(result).certificate.lower_bound <= 12 * (1 + 1e-6) + 1e-6


def test_the_strategy_stops_within_epsilon_and_honours_integer_features():
    from flexpoison.certify import ModelTargeted

    X, y = _cancer_rows()
    X = X.copy()
    X[:, 0] = np.round(X[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _strategy_attack(
            60, strategy=ModelTargeted(epsilon=0.8), integer_features=[0]
        ).generate(X, y)
    distance = np.sqrt(result.effect_history / result.effect_clean)
    assert result.n_points < 60 and distance[-1] <= 0.8 < distance[:-1].min()
    assert np.all(result.X_poison[:, 0] == np.round(result.X_poison[:, 0]))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"alpha": 0.5}, "needs alpha=0 and passes=1"),
        ({"passes": 2}, "needs alpha=0 and passes=1"),
        ({"frozen_features": [0]}, "frozen features are not supported"),
        ({"goal": Integrity("predict:1@0,0,0,0,0,0")}, "needs an integrity goal"),
    ],
)
def test_the_strategy_refuses_what_it_cannot_do(settings, message):
    X, y = _cancer_rows()
    attack = _strategy_attack(3).set_params(**settings)
    with pytest.raises(ValueError, match=message):
        attack.generate(X, y)

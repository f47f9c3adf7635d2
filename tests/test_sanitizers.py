"""Sanitizers on data where the answer is known: planted outliers, clean calibration,
TRIM's recovery and its random initialisation, and refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from flexpoison.defences import (
    SANITIZERS,
    IsolationForestFilter,
    LocalOutlierFactorFilter,
    LossFilter,
    Sanitizer,
    Screening,
    Slab,
    Sphere,
    ThreeSigma,
    Trim,
    TrimScreening,
    apply_sanitizer,
    get_sanitizer,
    screen,
)
from flexpoison.errors import InvalidInputError

D = 5
N_PLANTED = 10
CALIBRATED = ["sphere", "slab", "isolation_forest", "lof", "loss"]


def gaussian(n, task, rng, d=D):
    """Regression: y = 2·x₀ + 0.5·ε; classification: two classes at ±1.5 on x₀."""
    X = rng.normal(size=(n, d))
    if task == "regression":
        return X, 2.0 * X[:, 0] + 0.5 * rng.normal(size=n)
    labels = rng.integers(0, 2, n)
    X[:, 0] += np.where(labels == 1, 1.5, -1.5)
    return X, labels


def feature_outliers(task, rng):
    """10 rows 10σ from their centre in every feature (x₀ pushed away from the other
    class, or along the regression line y = 2·x₀)."""
    signs = np.sign(rng.normal(size=(N_PLANTED, D)))
    signs[:, 0] = 1.0
    X = 10.0 * signs
    if task == "regression":
        return X, 2.0 * X[:, 0]
    labels = rng.integers(0, 2, N_PLANTED)
    side = np.where(labels == 1, 1.0, -1.0)
    X[:, 0] = side * (1.5 + 10.0)
    return X, labels


def response_outliers(task, rng):
    """10 ordinary-looking feature rows with a wrong response (20 noise σ off the
    line) or a wrong label (class 0 deep inside class 1: x₀ = 5)."""
    X = rng.normal(size=(N_PLANTED, D))
    if task == "regression":
        return X, 2.0 * X[:, 0] + 10.0
    X[:, 0] = 5.0
    return X, np.zeros(N_PLANTED, dtype=int)


def planted(task, kind, seed=1):
    rng = np.random.default_rng(seed)
    X, y = gaussian(500, task, rng)
    Xo, yo = (feature_outliers if kind == "feature" else response_outliers)(task, rng)
    return X, y, np.vstack([X, Xo]), np.append(y, yo)


# ------------------------------------------------------------ planted outliers

CATCHES = [  # (sanitizer, task, kind of outlier it must catch all of)
    *[
        (name, task, "feature")
        for name in ("three_sigma", "sphere", "slab", "isolation_forest", "lof")
        for task in ("regression", "classification")
    ],
    ("loss", "regression", "response"),
    ("loss", "classification", "response"),
    ("trim", "regression", "response"),
    ("sphere", "regression", "response"),
    ("sphere", "classification", "response"),
    ("slab", "classification", "response"),
    ("slab-last", "regression", "response"),
]


@pytest.mark.parametrize(
    "name, task, kind", CATCHES, ids=[f"{n}-{t[:3]}-{k}" for n, t, k in CATCHES]
)
def test_planted_outliers_are_all_caught(name, task, kind):
    X_clean, y_clean, X, y = planted(task, kind)
    sanitizer = (
        Slab(direction="last")
        if name == "slab-last"
        else Trim(n_poison=N_PLANTED)
        if name == "trim"
        else SANITIZERS[name]
    )
    result = screen(sanitizer, X, y, X_clean=X_clean, y_clean=y_clean, task=task)
    planted_rows = np.arange(500, 500 + N_PLANTED)
    recall = np.isin(planted_rows, result.removed).mean()
    assert recall == 1.0
    # … and it does not get there by throwing away the data: at most 12 % of clean rows.
    assert np.isin(np.arange(500), result.removed).mean() <= 0.12


def test_three_sigma_and_first_slab_miss_response_outliers_as_documented():
    """The 3σ box looks at features only; a regression slab along the first principal
    direction misses some response outliers that the last direction catches."""
    X_clean, y_clean, X, y = planted("regression", "response")
    planted_rows = np.arange(500, 500 + N_PLANTED)
    kept = apply_sanitizer("three_sigma", X, y, X_clean=X_clean, y_clean=y_clean, task="regression")
    assert np.isin(planted_rows, kept).all()
    first = apply_sanitizer(Slab(), X, y, X_clean=X_clean, y_clean=y_clean, task="regression")
    assert np.isin(planted_rows, first).any()


# ------------------------------------------------ calibration on clean data

CLEAN_TOLERANCE = 0.03  # |removed share − 0.05| on 2,000 fresh rows (calibrated on 1,000)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_calibrated_sanitizers_remove_the_calibrated_share_of_fresh_clean_rows(task):
    rng = np.random.default_rng(2024)
    X_clean, y_clean = gaussian(1000, task, rng)
    X, y = gaussian(2000, task, rng)
    shares = {}
    for name in CALIBRATED:
        result = screen(name, X, y, X_clean=X_clean, y_clean=y_clean, task=task)
        shares[name] = result.removed_share
    shares["three_sigma(k=None)"] = screen(
        ThreeSigma(k=None), X, y, X_clean=X_clean, y_clean=y_clean, task=task
    ).removed_share
    off = {k: v for k, v in shares.items() if abs(v - 0.05) > CLEAN_TOLERANCE}
    assert not off, f"shares outside 0.05 ± {CLEAN_TOLERANCE}: {off} (all: {shares})"


def test_three_sigma_with_the_papers_fixed_k_removes_its_gaussian_share():
    """k = 3 is not calibrated: on d independent Gaussian features it removes
    1 − (1 − P(|Z| > 3))^d = 1.34 % for d = 5."""
    rng = np.random.default_rng(7)
    X_clean, y_clean = gaussian(1000, "regression", rng)
    X, y = gaussian(4000, "regression", rng)
    share = screen(
        "three_sigma", X, y, X_clean=X_clean, y_clean=y_clean, task="regression"
    ).removed_share
    assert share == pytest.approx(1 - (1 - 0.0026998) ** D, abs=0.008)


@pytest.mark.parametrize("name", ["sphere", "slab"])
def test_per_class_thresholds_remove_the_share_within_each_class(name):
    rng = np.random.default_rng(3)
    X, y = gaussian(1000, "classification", rng)
    y = np.where(y == 1, "b", "a")
    result = screen(name, X, y, X_clean=X, y_clean=y, task="classification")
    for label in ("a", "b"):
        rows = np.flatnonzero(y == label)
        assert np.isin(rows, result.removed).mean() == pytest.approx(0.05, abs=0.006)
    assert len(np.unique(result.threshold)) == 2


def test_clean_removal_zero_keeps_every_calibration_row():
    rng = np.random.default_rng(4)
    X, y = gaussian(300, "regression", rng)
    for sanitizer in (
        Sphere(0.0),
        Slab(0.0),
        ThreeSigma(k=None, clean_removal=0.0),
        LossFilter(clean_removal=0.0),
    ):
        assert apply_sanitizer(sanitizer, X, y, X_clean=X, y_clean=y, task="regression").size == 300


# ---------------------------------------------------------------- properties

SMALL = [n for n in SANITIZERS if n != "isolation_forest"]  # IF: covered above, slower


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(SMALL + ["isolation_forest"]),
    task=st.sampled_from(["regression", "classification"]),
    n=st.integers(30, 70),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_screening_is_well_formed(name, task, n, d, seed):
    if name == "trim" and task == "classification":
        return
    rng = np.random.default_rng(seed)
    X_clean, y_clean = gaussian(n, task, rng, d)
    X, y = gaussian(n + 5, task, rng, d)
    result = screen(name, X, y, X_clean=X_clean, y_clean=y_clean, task=task)
    kept = apply_sanitizer(name, X, y, X_clean=X_clean, y_clean=y_clean, task=task)
    assert np.array_equal(kept, result.kept)
    assert kept.dtype.kind == "i" and np.all(np.diff(kept) > 0)
    assert kept.size == 0 or (kept[0] >= 0 and kept[-1] < n + 5)
    assert result.scores.shape == result.threshold.shape == (n + 5,)
    assert np.array_equal(np.sort(np.concatenate([kept, result.removed])), np.arange(n + 5))
    if name == "trim":
        assert kept.size == n  # default n_keep = len(X_clean)
    else:
        assert np.array_equal(kept, np.flatnonzero(result.scores <= result.threshold))


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(["three_sigma", "sphere", "slab", "lof"]),
    task=st.sampled_from(["regression", "classification"]),
    seed=st.integers(0, 2**31),
    log_scale=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    shift=st.lists(st.floats(-100, 100), min_size=3, max_size=3),
)
def test_geometric_sanitizers_do_not_depend_on_feature_units(name, task, seed, log_scale, shift):
    """Rescaling or shifting a feature (in X and X_clean alike) changes no decision."""
    rng = np.random.default_rng(seed)
    X_clean, y_clean = gaussian(60, task, rng, 3)
    X, y = gaussian(50, task, rng, 3)
    X[:3] *= 4.0  # a few outliers, so that decisions are not all "keep"
    a, b = 10.0 ** np.asarray(log_scale), np.asarray(shift)
    before = screen(name, X, y, X_clean=X_clean, y_clean=y_clean, task=task)
    after = screen(name, X * a + b, y, X_clean=X_clean * a + b, y_clean=y_clean, task=task)
    assert np.allclose(before.scores, after.scores, rtol=1e-6, atol=1e-9)
    margin = np.abs(before.scores - before.threshold) > 1e-6 * np.abs(before.threshold)
    assert np.array_equal(before.kept_mask[margin], after.kept_mask[margin])


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["three_sigma", "sphere", "slab", "lof", "loss"]),
    seed=st.integers(0, 2**31),
)
def test_row_order_does_not_matter(name, seed):
    rng = np.random.default_rng(seed)
    X_clean, y_clean = gaussian(60, "classification", rng)
    X, y = gaussian(50, "classification", rng)
    perm = rng.permutation(50)
    base = apply_sanitizer(name, X, y, X_clean=X_clean, y_clean=y_clean, task="classification")
    permuted = apply_sanitizer(
        name, X[perm], y[perm], X_clean=X_clean, y_clean=y_clean, task="classification"
    )
    assert np.array_equal(np.sort(perm[permuted]), base)


def test_registry_holds_defaults_that_meet_the_contract():
    assert set(SANITIZERS) == {
        "three_sigma",
        "sphere",
        "slab",
        "isolation_forest",
        "lof",
        "loss",
        "trim",
    }
    for name, sanitizer in SANITIZERS.items():
        assert isinstance(sanitizer, Sanitizer) and sanitizer.name == name
    assert SANITIZERS["three_sigma"].k == 3.0
    assert SANITIZERS["lof"].n_neighbors == 20
    assert get_sanitizer("loss", estimator=Ridge()).estimator.__class__ is Ridge
    mine = LossFilter(estimator=LinearRegression())  # an explicit estimator is kept
    assert get_sanitizer(mine, estimator=Ridge()) is mine
    assert get_sanitizer("sphere", estimator=Ridge()) is SANITIZERS["sphere"]


def test_loss_filter_uses_the_victim_given():
    X_clean, y_clean, X, y = planted("classification", "response")
    result = screen(
        "loss",
        X,
        y,
        X_clean=X_clean,
        y_clean=y_clean,
        task="classification",
        estimator=LogisticRegression(C=0.01),
    )
    default = screen("loss", X, y, X_clean=X_clean, y_clean=y_clean, task="classification")
    assert not np.allclose(result.scores, default.scores)


def test_loss_filter_scores_a_victim_without_probabilities_by_its_own_loss():
    """A classifier without predict_proba (a ridge classifier) is scored by its own
    training loss on its decision values: the squared error to the ±1 target; a
    classifier the registry does not know is refused by name."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.svm import NuSVC

    X_clean, y_clean, X, y = planted("classification", "response")
    result = screen(
        "loss",
        X,
        y,
        X_clean=X_clean,
        y_clean=y_clean,
        task="classification",
        estimator=RidgeClassifier(),
    )
    z = RidgeClassifier().fit(X, y).decision_function(X)
    assert np.allclose(result.scores, (z - np.where(y == np.max(y), 1.0, -1.0)) ** 2)
    with pytest.raises(InvalidInputError, match="^estimator: NuSVC has no predict_proba"):
        screen(
            "loss", X, y, X_clean=X_clean, y_clean=y_clean, task="classification", estimator=NuSVC()
        )


def test_isolation_forest_is_reproducible():
    X_clean, y_clean, X, y = planted("regression", "feature")
    a = apply_sanitizer(
        "isolation_forest", X, y, X_clean=X_clean, y_clean=y_clean, task="regression"
    )
    b = apply_sanitizer(
        "isolation_forest", X, y, X_clean=X_clean, y_clean=y_clean, task="regression"
    )
    assert np.array_equal(a, b)


# ---------------------------------------------------------------------- TRIM


def trim_case(seed=0, n=500, m=50):
    """y = Xw + 1 + 0.3·ε on n clean rows; m poison rows whose responses follow the
    reflected relation y' = y_max + y_min − (Xw + 1) (adversarial, inside the range)."""
    rng = np.random.default_rng(seed)
    w = np.array([1.5, -2.0, 1.0, 0.5, -1.0])
    X = rng.normal(size=(n, 5))
    y = X @ w + 1.0 + 0.3 * rng.normal(size=n)
    Xp = rng.normal(size=(m, 5))
    yp = y.max() + y.min() - (Xp @ w + 1.0)
    return X, y, Xp, yp


def ols_theta(X, y):
    model = LinearRegression().fit(X, y)
    return np.append(model.coef_, model.intercept_)


@pytest.mark.parametrize("poison_first", [False, True], ids=["poison-last", "poison-first"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trim_recovers_the_clean_model_from_a_random_start(poison_first, seed):
    X, y, Xp, yp = trim_case()
    theta_clean = ols_theta(X, y)
    if poison_first:
        XA, yA, poison = np.vstack([Xp, X]), np.append(yp, y), np.arange(50)
    else:
        XA, yA, poison = np.vstack([X, Xp]), np.append(y, yp), np.arange(500, 550)
    scale = np.linalg.norm(theta_clean)
    assert np.linalg.norm(ols_theta(XA, yA) - theta_clean) > 0.1 * scale  # poison bites

    result = screen(
        Trim(n_poison=50, random_state=seed), XA, yA, X_clean=X, y_clean=y, task="regression"
    )
    assert isinstance(result, TrimScreening) and result.converged
    assert result.kept.size == 500
    # the random start contains poison (about 50·500/550 ≈ 45 rows) …
    assert 30 <= np.isin(poison, result.initial).sum() <= 50
    # … and TRIM still removes ≥ 80 % of it and lands within 1 % of the clean θ.
    assert np.isin(poison, result.kept).sum() <= 10
    theta_trim = ols_theta(XA[result.kept], yA[result.kept])
    assert np.linalg.norm(theta_trim - theta_clean) <= 0.01 * scale


def test_trim_result_does_not_depend_on_the_poison_being_first():
    X, y, Xp, yp = trim_case()
    last = screen(
        Trim(n_poison=50, random_state=5),
        np.vstack([X, Xp]),
        np.append(y, yp),
        X_clean=X,
        y_clean=y,
        task="regression",
    )
    first = screen(
        Trim(n_poison=50, random_state=5),
        np.vstack([Xp, X]),
        np.append(yp, y),
        X_clean=X,
        y_clean=y,
        task="regression",
    )
    # map "poison first" indices back to "poison last" ones
    mapped = np.where(first.kept < 50, first.kept + 500, first.kept - 50)
    assert np.array_equal(np.sort(mapped), last.kept)


def test_trim_initial_subset_is_drawn_at_random_among_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = X @ [1.0, -1.0] + 0.1 * rng.normal(size=20)
    initial = [
        screen(
            Trim(n_keep=10, random_state=seed, max_iter=1),
            X,
            y,
            X_clean=X,
            y_clean=y,
            task="regression",
        ).initial
        for seed in range(300)
    ]
    # not the first n_keep rows (the public-copy bug), and seeds differ
    assert not any(np.array_equal(s, np.arange(10)) for s in initial[:5])
    assert len({tuple(s) for s in initial}) > 290
    # every row, the last ones included, is drawn with frequency ≈ n_keep / n = 0.5
    counts = np.bincount(np.concatenate(initial), minlength=20) / 300
    assert np.all(np.abs(counts - 0.5) < 0.12), counts
    # same seed, same start
    again = screen(
        Trim(n_keep=10, random_state=3, max_iter=1), X, y, X_clean=X, y_clean=y, task="regression"
    ).initial
    assert np.array_equal(again, initial[3])


def test_trim_n_keep_precedence_and_estimator():
    X, y, Xp, yp = trim_case(n=100, m=10)
    XA, yA = np.vstack([X, Xp]), np.append(y, yp)
    kw = dict(X_clean=X, y_clean=y, task="regression")
    assert apply_sanitizer("trim", XA, yA, **kw).size == 100  # len(X_clean)
    assert apply_sanitizer(Trim(n_poison=20), XA, yA, **kw).size == 90
    assert apply_sanitizer(Trim(n_poison=20, n_keep=105), XA, yA, **kw).size == 105
    ridge = screen("trim", XA, yA, estimator=Ridge(alpha=50.0), **kw)
    ols = screen("trim", XA, yA, **kw)
    assert not np.allclose(ridge.scores, ols.scores)


def test_trim_stops_at_max_iter():
    X, y, Xp, yp = trim_case(n=100, m=10)
    result = screen(
        Trim(n_poison=10, max_iter=1, random_state=0),
        np.vstack([X, Xp]),
        np.append(y, yp),
        X_clean=X,
        y_clean=y,
        task="regression",
    )
    assert result.n_iter == 1 and not result.converged and result.kept.size == 100


# ----------------------------------------------------------------- bad input


def _regression_inputs():
    rng = np.random.default_rng(0)
    X, y = gaussian(40, "regression", rng, 3)
    return X, y


BAD_CASES = {
    "nan-in-X": (lambda X, y: dict(X=np.where(np.eye(40, 3) == 1, np.nan, X)), "X"),
    "inf-in-y": (lambda X, y: dict(y=np.append(y[:-1], np.inf)), "y"),
    "nan-in-X_clean": (
        lambda X, y: dict(X_clean=np.where(np.eye(40, 3) == 1, np.nan, X)),
        "X_clean",
    ),
    "1-D X": (lambda X, y: dict(X=X[:, 0]), "X"),
    "empty X": (lambda X, y: dict(X=np.empty((0, 3)), y=np.empty(0)), "X"),
    "y too short": (lambda X, y: dict(y=y[:-1]), "y"),
    "y_clean too short": (lambda X, y: dict(y_clean=y[:-1]), "y_clean"),
    "feature mismatch": (lambda X, y: dict(X_clean=X[:, :2]), "X_clean"),
    "text X": (lambda X, y: dict(X=X.astype(str)), "X"),
    "bad task": (lambda X, y: dict(task="ranking"), "task"),
    "calibration feature below precision": (
        lambda X, y: dict(X_clean=np.column_stack([X[:, :2], 50.0 + 1e-13 * np.arange(40)])),
        "precision",
    ),
}


BAD_INPUT = [
    (name, case)
    for case in BAD_CASES
    for name in SANITIZERS
    # model-based sanitizers do not standardise: such a column is theirs to fit
    if not (case == "calibration feature below precision" and name in ("loss", "trim"))
]


@pytest.mark.parametrize("name", SANITIZERS)
def test_a_constant_calibration_feature_keeps_its_raw_units(name):
    """A one-hot level absent from the trusted rows is constant there: standardised with
    σ = 1 (scikit-learn's StandardScaler convention), not refused."""
    X, y = _regression_inputs()
    X_clean = np.column_stack([X[:, :2], np.ones(40)])
    result = screen(name, X, y, X_clean=X_clean, y_clean=y, task="regression")
    assert np.all(np.isfinite(result.scores)) and result.kept.size


@pytest.mark.parametrize("name, case", BAD_INPUT)
def test_bad_input_is_refused_by_name(name, case):
    X, y = _regression_inputs()
    change, word = BAD_CASES[case]
    args = dict(X=X, y=y, X_clean=X, y_clean=y, task="regression") | change(X, y)
    with pytest.raises(InvalidInputError, match=word):
        apply_sanitizer(name, args.pop("X"), args.pop("y"), **args)


@pytest.mark.parametrize(
    "sanitizer, word",
    [
        (Sphere(clean_removal=1.0), "clean_removal"),
        (Sphere(clean_removal=-0.1), "clean_removal"),
        (Slab(clean_removal=float("nan")), "clean_removal"),
        (LossFilter(clean_removal=True), "clean_removal"),
        (ThreeSigma(k=0.0), "k"),
        (Slab(direction="middle"), "direction"),
        (LocalOutlierFactorFilter(n_neighbors=50), "n_neighbors=50"),
        (LocalOutlierFactorFilter(n_neighbors=2.5), "n_neighbors"),
        (IsolationForestFilter(n_estimators=0), "n_estimators"),
        (Trim(n_keep=41), "n_keep"),
        (Trim(n_poison=-1), "n_poison"),
        (Trim(n_poison=40), "n_keep"),
        (Trim(max_iter=0), "max_iter"),
        (LossFilter(estimator=LogisticRegression()), "not a regressor"),
        (LossFilter(estimator="ols"), "estimator"),
    ],
)
def test_bad_settings_are_refused_by_name(sanitizer, word):
    X, y = _regression_inputs()
    with pytest.raises(InvalidInputError, match=word):
        apply_sanitizer(sanitizer, X, y, X_clean=X, y_clean=y, task="regression")


def test_classification_refusals():
    rng = np.random.default_rng(0)
    X, y = gaussian(60, "classification", rng)
    kw = dict(X_clean=X, y_clean=y, task="classification")
    with pytest.raises(InvalidInputError, match="regression only"):
        apply_sanitizer("trim", X, y, **kw)
    with pytest.raises(InvalidInputError, match="class 7 has no calibration rows"):
        apply_sanitizer("sphere", X, np.where(np.arange(60) == 0, 7, y), **kw)
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        one_class = np.zeros(60, int)
        apply_sanitizer("slab", X, one_class, X_clean=X, y_clean=one_class, task="classification")
    with pytest.raises(InvalidInputError, match="y: classification needs class labels"):
        apply_sanitizer("sphere", X, y + 0.5, **kw)
    with pytest.raises(InvalidInputError, match="not a classifier"):
        apply_sanitizer("loss", X, y, estimator=Ridge(), **kw)
    with pytest.raises(InvalidInputError, match="unknown name 'spheer'"):
        apply_sanitizer("spheer", X, y, **kw)
    with pytest.raises(InvalidInputError, match="expected a name or a sanitizer"):
        apply_sanitizer(42, X, y, **kw)


def test_inputs_are_not_mutated():
    X_clean, y_clean, X, y = planted("regression", "feature")
    copies = [a.copy() for a in (X_clean, y_clean, X, y)]
    for name in SANITIZERS:
        apply_sanitizer(name, X, y, X_clean=X_clean, y_clean=y_clean, task="regression")
    for before, after in zip(copies, (X_clean, y_clean, X, y)):
        assert np.array_equal(before, after)


def test_screening_removed_share():
    result = Screening("x", np.array([0.0, 2.0, 1.0, 3.0]), np.full(4, 1.5), np.array([0, 2]))
    assert result.removed.tolist() == [1, 3] and result.removed_share == 0.5


def test_three_sigma_keeps_rows_on_the_attacks_box_edge():
    """Poison projected onto x_c ± 3σ must pass the 3σ filter despite rounding."""
    from flexpoison.attack import feasible_box
    from flexpoison.defences import ThreeSigma

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)) * [1.0, 7.4, 3.0, 0.1] + [19.6, 54.0, 1013.0, 0.5]
    y = X[:, 0]
    box = feasible_box(X, 3.0)
    edge = np.vstack([box.upper, box.lower])
    kept = ThreeSigma()(
        np.vstack([X, edge]), np.append(y, [0.0, 0.0]), X_clean=X, y_clean=y, task="regression"
    )
    assert {300, 301} <= set(kept.tolist())


def test_lof_keeps_scikit_learn_s_duplicate_warning_off_stderr():
    """Issue 26, item 9: more than k identical rows make scikit-learn warn "Duplicate
    values …" on every fit; the filter drops it (its notes say why) and still flags."""
    import warnings

    rng = np.random.default_rng(0)
    X_clean = rng.normal(size=(60, 2))
    X = np.r_[X_clean, np.zeros((30, 2)), [[0.01, 0.0]]]  # a cluster and a row beside it
    y, y_clean = np.zeros(len(X)), np.zeros(len(X_clean))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = LocalOutlierFactorFilter().screen(
            X, y, X_clean=X_clean, y_clean=y_clean, task="regression"
        )
    assert s.scores[-1] > 1e7 and len(X) - 1 in s.removed  # LOF's own verdict, measured

"""Bad input gets one clear error that names the problem; nothing is clamped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import (
    ElasticNet,
    GammaRegressor,
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    SGDRegressor,
    TweedieRegressor,
)
from sklearn.svm import SVC, LinearSVR

from conftest import make_classification, make_regression
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    LossAvailability,
    SingularHessianError,
    UnsupportedEstimatorError,
)
from flexpoison.errors import FlexPoisonError, FlexPoisonWarning


def _generate(X=None, y=None, est=None, **kw):
    if X is None:
        X, y = make_regression(n=30)
    kw.setdefault("n_points", 1)
    kw.setdefault("max_iter", 2)
    kw.setdefault("random_state", 0)  # seeds fixed: the starts are drawn at random
    return FlexiblePoisoning(est if est is not None else Ridge(), **kw).generate(X, y)


def test_errors_share_a_base_class_and_are_value_errors():
    assert issubclass(InvalidInputError, FlexPoisonError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(UnsupportedEstimatorError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features(bad):
    X, y = make_regression(n=30)
    X[3, 2] = bad
    with pytest.raises(
        InvalidInputError,
        match=r"X: contains NaN or infinite values "
        r"\(first at row 3, column 2\)",
    ):
        _generate(X, y)


def test_non_finite_response():
    X, y = make_regression(n=30)
    y[5] = np.nan
    with pytest.raises(InvalidInputError, match="y: contains NaN or infinite"):
        _generate(X, y)


def test_mismatched_lengths():
    X, y = make_regression(n=30)
    with pytest.raises(InvalidInputError, match="y: has 29 values but X has 30 rows"):
        _generate(X, y[:-1])


@pytest.mark.parametrize(
    "X, message",
    [
        (np.ones(30), r"X: expected a 2-D array .* got shape \(30,\)"),
        (np.ones((1, 3)), r"X: expected at least 2 rows"),
        (np.empty((0, 3)), r"X: expected at least 2 rows"),
        (np.array([["a", "b"], ["c", "d"]]), r"X: expected numeric values"),
    ],
)
def test_malformed_features(X, message):
    with pytest.raises(InvalidInputError, match=message):
        _generate(X, np.zeros(len(X)))


def test_two_dimensional_response():
    X, y = make_regression(n=30)
    with pytest.raises(InvalidInputError, match=r"y: expected a 1-D array"):
        _generate(X, y[:, None])


@pytest.mark.parametrize("alpha", [np.nan, "0.5", True])
def test_alpha_that_is_not_a_number_in_the_unit_interval(alpha):
    """NaN, text and booleans are refused (α outside [0, 1] is refused for every victim
    in test_contract.py)."""
    with pytest.raises(InvalidInputError, match="^alpha: "):
        _generate(alpha=alpha)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"n_points": 0}, "n_points: must be a finite number > 0"),
        ({"n_points": -3}, "n_points: must be a finite number > 0"),
        ({"n_points": 2.5}, "n_points: expected a positive integer"),
        ({"n_points": None, "rate": 0.0}, "rate: must be a finite number > 0"),
        ({"n_points": None, "rate": -0.1}, "rate: must be a finite number > 0"),
        ({"n_points": None, "rate": 0.001}, "rate: 0.001 of 30 rows rounds to 0"),
        ({"n_points": 2, "rate": 0.1}, "exactly one of n_points and rate"),
        ({"n_points": None}, "exactly one of n_points and rate"),
        ({"step": "newton"}, "step: expected one of 'lbfgs', 'backtracking', 'paper'"),
        ({"max_iter": 0}, "max_iter: must be a finite number > 0"),
        ({"n_sigma": 0}, "n_sigma: must be a finite number > 0"),
    ],
)
def test_bad_attack_settings(kw, message):
    with pytest.raises(InvalidInputError, match=message):
        _generate(**kw)


def test_a_constant_feature_is_frozen_by_the_sigma_box_and_free_within_user_bounds():
    """A constant column (a one-hot level absent from the rows) is attacked, not
    refused: its σ box is its value; the user's finite bounds, or n_sigma=None, free it."""
    from flexpoison.attack.box import feasible_box

    X, y = make_regression(n=30)
    X[:, 1] = 4.2
    assert np.all(_generate(X, y, n_points=2).X_poison[:, 1] == 4.2)
    d = X.shape[1]
    box = feasible_box(X, 3.0, (np.full(d, -10.0), np.full(d, 10.0)))
    assert (box.lower[1], box.upper[1]) == (-10.0, 10.0)
    assert box.upper[0] < 10.0  # the other features keep their 3σ box
    half_open = feasible_box(X, 3.0, (np.full(d, -np.inf), np.full(d, 10.0)))
    assert half_open.lower[1] == half_open.upper[1] == 4.2
    r = _generate(X, y, n_points=2, n_sigma=None, bounds=(np.full(d, -10.0), np.full(d, 10.0)))
    assert np.all(np.abs(r.X_poison) <= 10.0)


class _Table:
    """A minimal table-like X (what a pandas DataFrame offers): an array with columns."""

    def __init__(self, values, columns):
        self.values, self.columns, self.shape = values, columns, values.shape

    def __array__(self, dtype=None, copy=None):
        return self.values


def test_a_feature_below_float64_precision_is_named_when_x_has_columns():
    X, y = make_regression(n=30)
    X[:, 1] = 4.2 + 1e-15 * np.arange(30)
    X[:, 3] = -1.0  # constant: frozen, not refused
    with pytest.raises(InvalidInputError, match=r"feature 1 \('rooms'\) varies by σ"):
        _generate(_Table(X, ["area", "rooms", "age", "zip"]), y)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([2, 7, 1000, 60_000]),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
)
def test_constant_columns_are_those_of_max_minus_min_zero(seed, n, dtype):
    """The box's constant columns (max − min = 0, found among the columns whose σ is
    within the mean's rounding) are np.ptp's, for values whose mean rounds (0.1, 1/3,
    a large one), columns constant but in one row, and noise."""
    from flexpoison.attack.box import _constant_columns

    rng = np.random.default_rng(seed)
    values = [0.1, 1.0 / 3.0, -7.3e5, 0.0, 2.0**-30, 12345.678]
    columns = []
    for v in values:
        columns.append(np.full(n, v))
        bent = np.full(n, v)
        bent[rng.integers(n)] += max(abs(v), 1.0) * 1e-7  # constant but in one row
        columns.append(bent)
    columns.append(rng.standard_normal(n))
    X = np.column_stack(columns).astype(dtype)
    mean, sigma = X.mean(axis=0), X.std(axis=0)
    assert np.array_equal(_constant_columns(X, mean, sigma), np.ptp(X, axis=0) == 0)


def test_target_vector_of_wrong_length():
    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match=r"target: expected a flat θ_t of length 5"):
        _generate(X, y, goal=Integrity(target=np.zeros(4)))


def test_target_vector_with_nan():
    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match="target: θ_t contains NaN"):
        _generate(X, y, goal=Integrity(target=[0, 0, np.nan, 0, 0]))


@pytest.mark.parametrize(
    "preset, message",
    [
        ("flip-bottom", "unknown preset 'flip-bottom'"),
        ("swap:0,1", "needs a multinomial model"),
        ("predict:3@1,2", "gives x\\* with 2 values, the data have 4 features"),
        ("predict:abc@1,2,3,4", "cannot read 'predict:abc@1,2,3,4'"),
    ],
)
def test_bad_presets(preset, message):
    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match=message):
        _generate(X, y, goal=Integrity(target=preset))


def test_continuous_labels_for_logistic_regression():
    X, y = make_regression(n=30)
    with pytest.raises(InvalidInputError, match="y: classification needs class labels"):
        _generate(X, y, est=LogisticRegression())


def test_single_class_for_logistic_regression():
    X, _ = make_regression(n=30)
    with pytest.raises(InvalidInputError, match="needs at least two classes"):
        _generate(X, np.zeros(30, dtype=int), est=LogisticRegression())


@pytest.mark.parametrize(
    "est, message",
    [
        (SVC(kernel="sigmoid", gamma=0.5), "SVC: kernel='sigmoid' is not supported"),
        (SGDRegressor(), "unsupported estimator SGDRegressor"),
        (Ridge(positive=True), "Ridge: positive=True"),
        (Lasso(alpha=0.0), "Lasso: alpha must be > 0"),
        (ElasticNet(l1_ratio=1.5), "ElasticNet: l1_ratio must lie in"),
        (Ridge(alpha=np.array([1.0, 2.0])), "Ridge: alpha must be a single number"),
        (LogisticRegression(l1_ratio=1.0), "l1_ratio=1.0 adds an L1 penalty.*saga"),  # lbfgs
        (LogisticRegression(class_weight="balanced"), "class_weight is not supported"),
        (LogisticRegression(solver="liblinear"), "liblinear' penalises the intercept"),
        (LogisticRegression(C=np.inf), "C must be finite"),
    ],
)
def test_unsupported_estimators(est, message):
    X, y = make_classification(n=30)
    if not isinstance(est, (LogisticRegression, SVC)):
        X, y = make_regression(n=30)
    with pytest.raises(UnsupportedEstimatorError, match=message):
        _generate(X, y, est=est)


def test_sample_weight_refused():
    X, y = make_regression(n=30)
    with pytest.raises(UnsupportedEstimatorError, match="sample_weight is not supported"):
        FlexiblePoisoning(Ridge(), n_points=1, random_state=0).generate(
            X, y, sample_weight=np.ones(30)
        )


def test_optimize_y_for_classification_refused():
    X, y = make_classification(n=30)
    with pytest.raises(InvalidInputError, match="optimize_y"):
        _generate(X, y, est=LogisticRegression(), optimize_y=True)


def test_bounds_that_miss_the_box():
    X, y = make_regression(n=30, d=4)
    far = X.max(0) + 100
    with pytest.raises(InvalidInputError, match="feature 0 the user bounds do not intersect"):
        _generate(X, y, bounds=(far, far + 1))


def test_bounds_of_wrong_shape():
    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match=r"bounds: lower must have shape \(4,\)"):
        _generate(X, y, bounds=(np.zeros(3), np.ones(4)))


def test_unknown_goal():
    with pytest.raises(InvalidInputError, match="goal: expected Integrity"):
        _generate(goal="integrity")


def test_collinear_features_without_regularisation():
    from sklearn.linear_model import LinearRegression

    X, y = make_regression(n=30, d=3)
    X = np.hstack([X, X[:, :1] * 2.0])
    with pytest.raises(SingularHessianError, match="Hessian is singular"):
        _generate(X, y, est=LinearRegression())


def test_objective_rejects_bad_points():
    X, y = make_regression(n=30, d=4)
    obj = FlexiblePoisoning(Ridge(), n_points=1, random_state=0).objective(X, y)
    with pytest.raises(InvalidInputError, match=r"x_p: expected shape \(4,\)"):
        obj.value(np.zeros(3), 1.0)
    with pytest.raises(InvalidInputError, match="x_p: contains NaN"):
        obj.gradient(np.array([0, np.nan, 0, 0]), 1.0)
    Xc, yc = make_classification(n=30)
    obj = FlexiblePoisoning(
        LogisticRegression(), goal=Availability(), n_points=1, random_state=0
    ).objective(Xc, yc)
    with pytest.raises(InvalidInputError, match=r"y_p: 7 is not one of the classes"):
        obj.value(Xc[0], 7)


def test_loss_availability_evaluation_set_is_checked():
    from flexpoison import LossAvailability

    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match="give both X_eval and y_eval"):
        _generate(X, y, goal=LossAvailability(X_eval=X))
    with pytest.raises(InvalidInputError, match="X_eval: has 3 features, X has 4"):
        _generate(X, y, goal=LossAvailability(X_eval=X[:, :3], y_eval=y))
    with pytest.raises(InvalidInputError, match="y_eval: has 29 values but X has 30"):
        _generate(X, y, goal=LossAvailability(X_eval=X, y_eval=y[:-1]))


@pytest.mark.parametrize(
    "est, message",
    [
        (Ridge(alpha=np.inf), "Ridge: alpha must be finite"),
        (Lasso(alpha=np.inf), "Lasso: alpha must be finite"),
        (LogisticRegression(C="1"), "C must be a single number"),
    ],
)
def test_non_finite_or_textual_hyper_parameters(est, message):
    X, y = (
        make_classification(n=30) if isinstance(est, LogisticRegression) else make_regression(n=30)
    )
    with pytest.raises(UnsupportedEstimatorError, match=message):
        _generate(X, y, est=est)


def test_mixed_type_labels():
    X, _ = make_regression(n=4)
    with pytest.raises(InvalidInputError, match="y: class labels of mixed types"):
        _generate(X, np.array(["a", 1, "a", 1], dtype=object), est=LogisticRegression())


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"n_points": 10**400}, "n_points: 100000000000… is too large"),
        ({"n_points": 10**6}, "n_points: 1000000 poison rows for 30 clean rows"),
        ({"n_points": None, "rate": 1e308}, "rate: 1e\\+308 is above 1"),
        ({"n_points": None, "rate": 1.5}, "rate: 1.5 is above 1"),
        ({"n_points": 31}, "n_points: 31 poison rows for 30 clean rows"),
        ({"random_state": "a"}, "random_state: expected None, an integer"),
        ({"random_state": -1}, "random_state: expected None, an integer"),
    ],
)
def test_absurd_budgets_and_seeds(kw, message):
    with pytest.raises(InvalidInputError, match=message):
        _generate(**kw)


def test_boolean_and_sparse_features_refused():
    from scipy.sparse import csr_matrix

    X, y = make_regression(n=30)
    with pytest.raises(InvalidInputError, match="X: boolean features are not supported"):
        _generate(X > 0, y)
    with pytest.raises(InvalidInputError, match="X: sparse matrices are not supported"):
        _generate(csr_matrix(X), y)


def test_objective_needs_no_budget_and_checks_points():
    X, y = make_regression(n=30, d=4)
    obj = FlexiblePoisoning(Ridge(), random_state=0).objective(X, y)  # no n_points/rate: fine
    for bad in ("abc", None, 1 + 2j):
        with pytest.raises(InvalidInputError, match="y_p: expected a finite number"):
            obj.value(X[0], bad)
    with pytest.raises(InvalidInputError, match="x_p: expected a vector of 4 numbers"):
        obj.value([[1, 2], [3]], 1.0)


def test_presets_that_change_nothing_are_refused():
    X, y = make_regression(n=30, d=4)
    with pytest.raises(InvalidInputError, match="every weight of the clean model is 0"):
        _generate(X, y, est=Lasso(alpha=1e3), goal=Integrity("flip-top"))


def test_all_zero_lasso_without_intercept_has_a_zero_effect_gradient():
    X, y = make_regression(n=30, d=4)
    obj = FlexiblePoisoning(
        Lasso(alpha=1e3, fit_intercept=False), goal=Availability(), alpha=0.0, random_state=0
    ).objective(X, y)
    assert np.array_equal(obj.theta(X[0], 1.0), np.zeros(4))
    assert np.array_equal(obj.gradient(X[0], 1.0), np.zeros(4))


def test_lasso_with_a_duplicated_column_is_attacked_like_scikit_learn_fits_it():
    # a duplicated column makes the Lasso's θ non-unique (the fit is unique): the attack
    # follows the basic solution, whose fitted values are scikit-learn's
    X, y = make_regression(n=40, d=3)
    X = np.hstack([X, X[:, :1]])
    result = _generate(
        X,
        y,
        est=Lasso(alpha=0.01, tol=1e-12, max_iter=100_000),
        goal=LossAvailability(),
        alpha=0.0,
        n_points=2,
        max_iter=10,
    )
    rows = np.vstack([X, result.X_poison])
    ours = rows @ result.theta_poisoned[:-1] + result.theta_poisoned[-1]
    theirs = result.poisoned_model().predict(rows)
    assert np.max(np.abs(ours - theirs)) <= 1e-6 * np.max(np.abs(theirs))
    assert result.progress > 0


@pytest.mark.parametrize(
    "est, message",
    [
        (TweedieRegressor(power=3.0), "TweedieRegressor: power=3 with the log link is not"),
        (TweedieRegressor(power=0.5), "TweedieRegressor: power=0.5 with the log link is not"),
        (TweedieRegressor(power=1.5, link="identity"), "link='identity' with power=1.5"),
        (TweedieRegressor(power=-1.0), "link='identity' with power=-1"),
        (PoissonRegressor(alpha=-1.0), "PoissonRegressor: alpha must be ≥ 0"),
        (RidgeClassifier(class_weight="balanced"), "RidgeClassifier: class_weight"),
        (RidgeClassifier(positive=True), "RidgeClassifier: positive=True"),
    ],
)
def test_unsupported_glm_and_ridge_classifier_settings(est, message):
    X, y = make_classification(n=30) if isinstance(est, RidgeClassifier) else make_regression(n=30)
    with pytest.raises(UnsupportedEstimatorError, match=message):
        _generate(X, np.abs(y) if y.dtype.kind == "f" else y, est=est)


@pytest.mark.parametrize(
    "est, bad, domain",
    [
        (PoissonRegressor(), -1.0, "≥ 0"),
        (GammaRegressor(), 0.0, "> 0"),
        (TweedieRegressor(power=1.5), -0.5, "≥ 0"),
    ],
)
def test_responses_outside_a_glms_domain_are_refused_by_name(est, bad, domain):
    X, y = make_regression(n=30)
    y = np.abs(y) + 1.0
    wrong = y.copy()
    wrong[3] = bad
    name = type(est).__name__
    with pytest.raises(
        InvalidInputError, match=f"^y: {name} needs responses {domain}, got {bad:g} \\(row 3\\)"
    ):
        _generate(X, wrong, est=est)
    with pytest.raises(InvalidInputError, match=f"^y_eval: {name} needs responses {domain}"):
        _generate(X, y, est=est, goal=LossAvailability(X_eval=X, y_eval=wrong))
    objective = FlexiblePoisoning(est, random_state=0).objective(X, y)
    with pytest.raises(
        InvalidInputError, match=f"^y_p: {name} needs responses {domain}, got {bad:g}$"
    ):
        objective.value(X[0], bad)


def test_all_zero_counts_have_no_poisson_model():
    X, _ = make_regression(n=30)
    with pytest.raises(InvalidInputError, match="^y: every response is 0; PoissonRegressor"):
        _generate(X, np.zeros(30), est=PoissonRegressor())


@pytest.mark.parametrize(
    "est",
    [
        Ridge(),
        Lasso(alpha=0.1),
        ElasticNet(alpha=0.1),
        LinearRegression(),
        PoissonRegressor(),
        GammaRegressor(),
        TweedieRegressor(power=1.5),
        LinearSVR(epsilon=0.1),
        LinearSVR(loss="squared_epsilon_insensitive"),
    ],
    ids=lambda est: repr(est),
)
def test_constant_responses_give_a_model_or_a_refusal_naming_them(est):
    """Every y equal (1.0): the regressors whose optimum is well defined attack it (the
    model is w = 0 and the attack says it barely moved); Huber (test_huber) and an
    ε-insensitive LinearSVR with ε = |y| refuse, naming the constant responses."""
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.warns(FlexPoisonWarning):
        r = _generate(
            X, np.ones(50), est=est, goal=LossAvailability(), alpha=0.0, n_points=2, random_state=0
        )
    assert np.all(np.isfinite(r.theta_poisoned))
    np.testing.assert_allclose(r.theta_clean[:3], 0.0, atol=1e-2)


@pytest.mark.parametrize(
    "est, c",
    [
        (LinearSVR(), 0.0),
        (LinearSVR(fit_intercept=False), 0.0),
        (LinearSVR(epsilon=0.5), -0.5),
    ],
)
def test_constant_responses_on_the_kink_of_linear_svr_are_refused(est, c):
    X = np.random.default_rng(0).normal(size=(50, 3))
    message = (
        rf"^y: every response is {c:g}, so LinearSVR is fitted by θ = 0 with no loss, "
        r"every row on the edge of its ε-tube .* or set epsilon other than"
    )
    with pytest.raises(InvalidInputError, match=message):
        _generate(X, np.full(50, c), est=est, goal=LossAvailability())
    _generate(X, np.full(50, c + 2.0), est=est, goal=LossAvailability())  # off the kink

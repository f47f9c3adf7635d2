"""Properties of the attack on random valid problems, for every registered victim and goal.

A problem draws a victim setting from the registry, a goal, a dtype (float32 or float64),
feature scales and offsets from 1e-3 to 1e3, α (0 and 1 included), a step rule and, for
regressors, ``optimize_y``. Whatever it draws:

* the attack raises nothing but :class:`flexpoison.FlexPoisonError`;
* nothing in the result is NaN or infinite;
* every poison row lies inside the stated box, in the data's own dtype;
* W never increases over a point's iterations with the backtracking step;
* the same ``random_state`` gives the same result, bit for bit;
* θ_p is what scikit-learn fits on the clean rows plus the rows returned — or, where
  scikit-learn's own solver reports that it did not converge (badly scaled problems
  without an intercept), θ_p's training objective is at most that of scikit-learn's θ.

Kernel SVC problems (:func:`test_random_svc_problems`) draw a kernel (linear, RBF,
polynomial, or sigmoid, which is refused), γ, C from 1e-3 to 1e8, feature scales and
offsets, and duplicated rows (some with the other label); the same properties hold,
and θ_p — the decision values at the goal's rows — is the optimum: that of
flexpoison's own fit on the returned rows, whose primal objective is no higher than a
tight libsvm refit's.

The number of problems comes from the Hypothesis profile: ``ci`` (the default, a few
dozen; 20 SVC problems) or ``slow`` (``python -m pytest tests/test_properties.py -p
no:cacheprovider --hypothesis-profile=slow --timeout=0``, 2,000 problems each: the
suite's 300 s per test would stop a test of 2,000 problems, 5–8 min on 2 cores). Every
problem has its own time limit (:data:`EXAMPLE_SECONDS`): a hang fails it instead of
stalling the run.
"""

from __future__ import annotations

import signal
import warnings
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from conftest import make_glm_responses
from flexpoison import FlexiblePoisoning, FlexPoisonError, models
from flexpoison.attack import GOALS
from flexpoison.attack.defaults import STEP_RULES
from flexpoison.attack.result import REFIT_GAP, refit_gap
from flexpoison.engine import RowData, declared

CASES = [
    (name, k)
    for name, spec in models.REGISTRY.items()
    if spec.has_theta
    for k in range(len(spec.examples))
]
EXAMPLE_SECONDS = 60  # one problem, at most: a hang fails the test
SVC_EXAMPLES = 20 if settings.default.max_examples <= 100 else settings.default.max_examples


class ExampleTimeout(AssertionError):
    """A problem ran longer than :data:`EXAMPLE_SECONDS`."""


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`ExampleTimeout` in the block after ``seconds`` (SIGALRM: the main
    thread, between Python bytecodes — every solver's work is bounded, so a C call
    returns)."""

    def expire(signum, frame):
        raise ExampleTimeout(f"the problem ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _data(
    spec: models.ModelSpec,
    example: models.Example,
    rng: np.random.Generator,
    n: int,
    d: int,
    scales: np.ndarray,
    offsets: np.ndarray,
    dtype,
):
    """Rows whose features have the drawn scales and offsets; targets from a linear model
    (responses on the scale of the features' combination, or K balanced classes)."""
    Z = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    if spec.task == "regression":
        y = Z @ w + 0.3 * rng.normal(size=n)
        params = spec.make(**example.params).get_params(deep=False)
        domain = declared(spec.terms(params, None).loss, "domain")
        if domain is None:
            y = y * float(rng.choice([1e-2, 1.0, 1e2])) + float(rng.uniform(-1e3, 1e3))
        else:  # responses in the loss's domain (counts or amounts of a log-link model)
            y = make_glm_responses(Z, y, not domain.closed, int(rng.integers(2**16)))
            y = y * float(rng.choice([1e-2, 1.0, 1e2]))
    else:
        k = example.n_classes or 2
        scores = Z @ rng.normal(size=(d, k)) + 0.5 * rng.normal(size=(n, k))
        y = np.argmax(scores, axis=1)
        y[: 2 * k] = np.repeat(np.arange(k), 2)  # every class has rows
    X = (Z * scales + offsets).astype(dtype)
    return X, y


@st.composite
def problems(draw):
    name, k = draw(st.sampled_from(CASES))
    spec = models.REGISTRY[name]
    example = spec.examples[k]
    d = draw(st.integers(1, 4))
    log_scale = st.floats(-3, 3, allow_nan=False)
    scales = 10.0 ** np.array(draw(st.lists(log_scale, min_size=d, max_size=d)))
    offsets = np.array(
        draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=d, max_size=d))
    )
    settings_ = {
        "goal": GOALS[draw(st.sampled_from(sorted(GOALS)))](),
        "alpha": draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1, allow_nan=False)),
        "step": draw(st.sampled_from(STEP_RULES)),
        "optimize_y": spec.task == "regression" and draw(st.booleans()),
        "n_points": draw(st.integers(1, 3)),
        "max_iter": draw(st.integers(1, 6)),
        "random_state": draw(st.integers(0, 2**16)),
    }
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(25, 50))
    rng = np.random.default_rng(settings_["random_state"])
    X, y = _data(spec, example, rng, n, d, scales, offsets, dtype)
    return spec, example, X, y, settings_


def _refit_theta(spec, estimator, X, y) -> tuple[np.ndarray, bool]:
    """scikit-learn's θ, solved tightly, and whether its solver says it converged."""
    est = spec.tight_clone(estimator)
    if "tol" in est.get_params():
        est.set_params(tol=min(est.get_params()["tol"], max(1e-14, spec.tol_floor)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if spec.exact_fit is not None:  # the entry's own exact refit
            est = spec.fit_tight(estimator, X, y)
        else:
            est.fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return models.theta_of(est), converged


def _training_objective(estimator, X, y, theta) -> float:
    """L(θ) = s(N)·Σ ℓ + (λ₂/2)‖w‖² + λ₁‖w‖₁ of the victim on (X, y), θ public."""
    victim = models.victim(estimator, y)
    learner = victim.learner
    Theta = learner.unpack(theta, X.shape[1])
    data = RowData(learner.features(X, np.zeros(X.shape[1])), victim.encode(y))
    smooth = learner.smooth_value_gradient_hessian(data, Theta, want_hess=False)[0]
    weights = Theta[:, : X.shape[1]]
    return smooth + learner.l1 * float(np.abs(weights).sum())


def _finite(result) -> bool:
    arrays = [
        result.X_poison,
        result.theta_clean,
        result.theta_target,
        result.theta_poisoned,
        result.effect_history,
        result.theta_history,
        result.concealment,
        result.lower,
        result.upper,
        *result.W_history,
    ]
    values = [np.asarray(a, dtype=float) for a in arrays]
    return all(np.all(np.isfinite(v)) for v in values) and np.isfinite(result.effect_clean)


@settings(print_blob=True)  # the number of problems: the profile (module docstring)
@given(problems())
def test_random_valid_problems(problem):
    spec, example, X, y, kw = problem
    estimator = spec.make(**example.params)
    try:
        with time_limit(EXAMPLE_SECONDS):
            result = FlexiblePoisoning(estimator, **kw).generate(X, y)
    except FlexPoisonError:
        return  # a refusal with a message is an allowed outcome; anything else fails
    assert _finite(result)
    assert result.X_poison.dtype == X.dtype
    assert np.all(result.X_poison >= result.lower) and np.all(result.X_poison <= result.upper)
    if kw["step"] == "backtracking":
        for history in result.W_history:
            assert np.all(np.diff(history) <= 1e-12 * np.maximum(1.0, np.abs(history[:-1])))
    again = FlexiblePoisoning(estimator, **kw).generate(X, y)
    assert np.array_equal(again.X_poison, result.X_poison)
    assert np.array_equal(again.y_poison, result.y_poison)
    assert np.array_equal(again.theta_poisoned, result.theta_poisoned)
    # float64 copies of the very same rows: scikit-learn solves float32 data in float32
    rows = np.vstack([X, result.X_poison]).astype(np.float64)
    targets = np.concatenate([y, result.y_poison.astype(y.dtype)])
    theta, converged = _refit_theta(spec, estimator, rows, targets)
    if converged:
        # floor: a θ of exactly 0 (an L1 model with every weight at 0 on balanced
        # classes, b = log(n₊/n₋) = 0) leaves a rounding-level b (~1e-17)
        scale = max(np.linalg.norm(theta), 1e-9)
        assert np.linalg.norm(result.theta_poisoned - theta) <= 1e-6 * scale
    else:
        ours = _training_objective(estimator, rows, targets, result.theta_poisoned)
        theirs = _training_objective(estimator, rows, targets, theta)
        assert ours <= theirs + 1e-9 * max(1.0, abs(theirs))


# ------------------------------------------------------------- data as it comes
# Real data are messy (issue: duplicate rows, one-hot and constant columns, collinear
# designs, float32): the same promises hold on them, and no example may hang.


@st.composite
def messy_problems(draw):
    spec, example, X, y, kw = draw(problems())
    rng = np.random.default_rng(kw["random_state"] + 1)
    n, d = X.shape
    if draw(st.booleans()):  # duplicated rows (small-integer survey data)
        k = draw(st.integers(1, n // 3))
        X[n - k :], y[n - k :] = X[:k], y[:k]
    if draw(st.booleans()):  # a column that repeats another, scaled: rank deficient
        X = np.column_stack([X, (float(rng.choice([1.0, -2.0])) * X[:, 0]).astype(X.dtype)])
    if draw(st.booleans()):  # one-hot levels, one of them absent (a constant column)
        levels = rng.integers(0, 2, n)
        X = np.column_stack([X, np.eye(3, dtype=X.dtype)[levels]])
        if draw(st.booleans()):  # and the user's bounds free it
            lower, upper = X.min(axis=0) - 1.0, X.max(axis=0) + 1.0
            kw = kw | {"bounds": (lower, upper)}
    return spec, example, X, y, kw


@settings(print_blob=True)
@given(messy_problems())
def test_random_messy_problems(problem):
    """Duplicate rows, collinear and constant columns: a result or a FlexPoisonError,
    within EXAMPLE_SECONDS; a result is finite, in its box, and its θ_p agrees
    with scikit-learn's tight refit — or the result says it does not (a non-unique θ on
    collinear features, or a solver that stopped short: then θ_p is no worse)."""
    spec, example, X, y, kw = problem
    estimator = spec.make(**example.params)
    try:
        with time_limit(EXAMPLE_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = FlexiblePoisoning(estimator, **kw).generate(X, y)
    except FlexPoisonError:
        return
    assert _finite(result)
    assert result.X_poison.dtype == X.dtype
    assert np.all(result.X_poison >= result.lower) and np.all(result.X_poison <= result.upper)
    constant = np.ptp(X, axis=0) == 0
    if "bounds" not in kw:  # the σ box holds a constant column at its value
        assert np.all(result.X_poison[:, constant] == X[0, constant])
    rows = np.vstack([X, result.X_poison]).astype(np.float64)
    targets = np.concatenate([y, result.y_poison.astype(y.dtype)])
    theta, converged = _refit_theta(spec, estimator, rows, targets)
    if converged and refit_gap(result.theta_poisoned, theta) <= REFIT_GAP:
        return
    ours = _training_objective(estimator, rows, targets, result.theta_poisoned)
    theirs = _training_objective(estimator, rows, targets, theta)
    assert ours <= theirs + 1e-9 * max(1.0, abs(theirs))
    if converged:  # a tight refit elsewhere: the result says so
        assert any("refit" in w for w in result.warnings), result.warnings


@st.composite
def svc_problems(draw):
    """A kernel SVC, its settings and rows (module docstring)."""
    d = draw(st.integers(1, 4))
    n = draw(st.integers(20, 50))
    kernel = draw(st.sampled_from(["linear", "rbf", "poly", "sigmoid"]))
    params: dict = {"kernel": kernel, "C": 10.0 ** draw(st.floats(-3, 8))}
    if kernel != "linear":
        params["gamma"] = draw(st.sampled_from(["scale", "auto"]) | st.floats(1e-3, 10.0))
    if kernel in ("poly", "sigmoid"):
        params["degree"] = draw(st.integers(1, 3))
        params["coef0"] = draw(st.sampled_from([0.0, 1.0]))
    log_scale = st.floats(-3, 3, allow_nan=False)
    scales = 10.0 ** np.array(draw(st.lists(log_scale, min_size=d, max_size=d)))
    offsets = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=d, max_size=d)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    y = (Z @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(int)
    y[:4] = [0, 1, 0, 1]
    copies = int(draw(st.sampled_from([0.0, 0.3, 0.6])) * n)
    if copies:  # duplicated rows, a few with the other label
        source, target = rng.integers(0, n, copies), rng.integers(4, n, copies)
        Z[target] = Z[source]
        y[target] = np.where(rng.random(copies) < 0.1, 1 - y[source], y[source])
    X = (Z * scales + offsets).astype(draw(st.sampled_from([np.float32, np.float64])))
    if draw(st.booleans()):
        goal = GOALS["loss-availability"]()
    else:
        x_star = ",".join(repr(float(v)) for v in X.astype(float).mean(0))
        goal = GOALS["integrity"](f"predict:{draw(st.floats(-2, 2)):.3g}@{x_star}")
    kw = {
        "goal": goal,
        "alpha": draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 1, allow_nan=False)),
        "step": draw(st.sampled_from(STEP_RULES)),
        "n_points": draw(st.integers(1, 2)),
        "max_iter": draw(st.integers(1, 6)),
        "random_state": seed,
    }
    return params, X, y, kw


def _svc_primal(K, t, C, beta, b) -> float:
    """½βᵀKβ + C·Σ max(0, 1 − ỹ f): the SVC's training objective at w = Σ β_j φ(x_j), b."""
    f = K @ beta + b
    return 0.5 * float(beta @ K @ beta) + C * float(np.maximum(0.0, 1.0 - t * f).sum())


def _svc_optimum(estimator, rows, targets, goal_rows):
    """flexpoison's fit of the victim on the rows from libsvm's start: its decision
    values at the goal's rows, its primal objective as a function of b (w fixed), its b,
    its precision in units of f — that of its KKT conditions, plus 1e-12 of the terms
    Σ_j |β_j k(x_i, x_j)| that f sums (C = 1e7: 3e8), to which two fits on the same rows
    from other starts agree (2e-5 there) — and the primal objective of libsvm's tight
    refit (tol 1e-12, 10⁵ iterations)."""
    from sklearn.svm import SVC

    from flexpoison.engine import dual
    from flexpoison.models import kernel as kernel_models

    kernel, C, scaled = kernel_models.kernel_of(estimator, rows.shape[1])
    if scaled:
        kernel = replace(kernel, gamma=dual.scaled_gamma(rows)[0])
    t = np.where(targets == np.unique(targets)[1], 1.0, -1.0)
    K = kernel.matrix(rows, rows)
    fit = dual.fit(kernel, rows, t, C, K, solve=kernel_models.libsvm_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SVC(**estimator.get_params()).set_params(tol=1e-12, max_iter=100_000)
        theirs.fit(rows, targets)
    beta = np.zeros(rows.shape[0])
    beta[theirs.support_] = theirs.dual_coef_[0]
    theirs_P = _svc_primal(K, t, C, beta, float(theirs.intercept_[0]))
    terms = float((np.abs(K) @ np.abs(fit.beta)).max())  # the size of f's terms
    precision = fit.precision + 1e-12 * terms
    return (
        fit.decision(kernel, goal_rows),
        lambda b: _svc_primal(K, t, C, fit.beta, b),
        fit.b,
        precision,
        theirs_P,
    )


@settings(print_blob=True, max_examples=SVC_EXAMPLES)
@given(svc_problems())
def test_random_svc_problems(problem):
    from sklearn.svm import SVC

    params, X, y, kw = problem
    estimator = SVC(**params)
    try:
        with time_limit(EXAMPLE_SECONDS):
            result = FlexiblePoisoning(estimator, **kw).generate(X, y)
            again = FlexiblePoisoning(estimator, **kw).generate(X, y)
    except FlexPoisonError:
        return  # a refusal with a message is an allowed outcome; anything else fails
    assert _finite(result)
    assert result.X_poison.dtype == X.dtype
    assert np.all(result.X_poison >= result.lower) and np.all(result.X_poison <= result.upper)
    assert np.array_equal(again.X_poison, result.X_poison)
    assert np.array_equal(again.theta_poisoned, result.theta_poisoned)
    rows = np.vstack([X, result.X_poison]).astype(np.float64)
    targets = np.concatenate([y, result.y_poison.astype(y.dtype)])
    goal = kw["goal"]
    if getattr(goal, "target", None) is None:
        goal_rows = X.astype(np.float64)
    else:
        goal_rows = np.array([[float(v) for v in goal.target.split("@")[1].split(",")]])
    f, primal_at, b, precision, theirs_P = _svc_optimum(estimator, rows, targets, goal_rows)
    # W does not rise beyond the fits' precision: f is fixed only to it (KKT conditions to
    # 1e-9, or to the rounding of f: 6e-6 on features near 500 with C = 56), and at a row on
    # its kink both of its sets may meet them (5e-11 apart in W on a near-constant kernel)
    if kw["step"] == "backtracking":
        for history in result.W_history:
            W = np.abs(history[:-1])
            slack = 1e-12 * np.maximum(1.0, W) + 10.0 * precision * (1.0 + W)
            assert np.all(np.diff(history) <= slack)
    ours_P = primal_at(b)
    assert ours_P <= theirs_P + 1e-9 * max(1.0, abs(theirs_P))  # no worse than libsvm
    # θ_p is that optimum, to the fits' precision: w is unique (a PSD kernel), b may lie
    # anywhere in an interval on which the objective is flat — then f moves by one
    # constant, at no cost
    theta = np.asarray(result.theta_poisoned, dtype=float)
    close = 1e-6 * max(1.0, float(np.abs(f).max())) + 10.0 * precision
    shift = float(np.mean(theta - f))
    assert np.ptp(theta - f) <= close
    if abs(shift) > close:
        assert primal_at(b + shift) <= ours_P + 1e-9 * max(1.0, abs(ours_P))

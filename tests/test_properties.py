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

The number of problems comes from the Hypothesis profile: ``ci`` (the default, a few
dozen) or ``slow`` (``python -m pytest tests/test_properties.py -p no:cacheprovider
--hypothesis-profile=slow``, 2,000 problems).
"""

from __future__ import annotations

import warnings

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

CASES = [(name, k) for name, spec in models.REGISTRY.items() if spec.has_theta
         for k in range(len(spec.examples))]


def _data(spec: models.ModelSpec, example: models.Example, rng: np.random.Generator, n: int,
          d: int, scales: np.ndarray, offsets: np.ndarray, dtype):
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
        y[:2 * k] = np.repeat(np.arange(k), 2)  # every class has rows
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
    offsets = np.array(draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=d,
                                     max_size=d)))
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
    arrays = [result.X_poison, result.theta_clean, result.theta_target,
              result.theta_poisoned, result.effect_history, result.theta_history,
              result.concealment, result.lower, result.upper, *result.W_history]
    values = [np.asarray(a, dtype=float) for a in arrays]
    return all(np.all(np.isfinite(v)) for v in values) and np.isfinite(result.effect_clean)


@settings(print_blob=True)  # the number of problems: the profile (module docstring)
@given(problems())
def test_random_valid_problems(problem):
    spec, example, X, y, kw = problem
    estimator = spec.make(**example.params)
    try:
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
        scale = max(np.linalg.norm(theta), 1e-12)
        assert np.linalg.norm(result.theta_poisoned - theta) <= 1e-6 * scale
    else:
        ours = _training_objective(estimator, rows, targets, result.theta_poisoned)
        theirs = _training_objective(estimator, rows, targets, theta)
        assert ours <= theirs + 1e-9 * max(1.0, abs(theirs))



# ------------------------------------------------------------- data as it comes
# Real data are messy (issue: duplicate rows, one-hot and constant columns, collinear
# designs, float32): the same promises hold on them, and no example may hang.

#: Seconds one messy example may take (the slowest seen take about 2 s).
EXAMPLE_LIMIT = 60


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang(f"an example ran past {EXAMPLE_LIMIT} s")


@st.composite
def messy_problems(draw):
    spec, example, X, y, kw = draw(problems())
    rng = np.random.default_rng(kw["random_state"] + 1)
    n, d = X.shape
    if draw(st.booleans()):  # duplicated rows (small-integer survey data)
        k = draw(st.integers(1, n // 3))
        X[n - k:], y[n - k:] = X[:k], y[:k]
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
    within EXAMPLE_LIMIT seconds; a result is finite, in its box, and its θ_p agrees
    with scikit-learn's tight refit — or the result says it does not (a non-unique θ on
    collinear features, or a solver that stopped short: then θ_p is no worse)."""
    import signal

    spec, example, X, y, kw = problem
    estimator = spec.make(**example.params)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(EXAMPLE_LIMIT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = FlexiblePoisoning(estimator, **kw).generate(X, y)
    except FlexPoisonError:
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
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

"""The kernel SVC victim (flexpoison.models.kernel, engine.dual, attack.kernel): the same
checks as the contract suite (tests/test_contract.py), on decision values instead of θ.

1. the dual fit's decision values equal a tight scikit-learn refit on X ∪ {x_p};
2. ∇_{x_p} W equals central differences of flexpoison's own W, and of W recomputed from
   tight scikit-learn refits, with the poison row a bound or a margin support vector,
   away from changes of the support-vector sets;
3. a short attack stays in the box, never lets W increase, returns rows whose refit
   has the reported E, and is reproducible;
4. θ-based goals and unsupported settings are refused by name.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.svm import SVC

from conftest import make_classification
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    LossAvailability,
    UnsupportedEstimatorError,
)
from flexpoison.models import kernel as kernel_models

ALPHA = 0.3
# decision values vs scikit-learn's refit (libsvm at tol 1e-12): 1e-5 in units of the
# largest kernel value, as libsvm caches the kernel matrix in single precision (a
# polynomial kernel's values in the hundreds leave its KKT equalities ~1e-5 off)
DECISION_TOL = 1e-5
OWN_RTOL = 1e-5  # gradient vs central differences of flexpoison's W
REFIT_RTOL = 1e-3  # … of W from scikit-learn refits (their solver's tolerance limits it)

ESTIMATORS = {
    "linear": SVC(kernel="linear", C=0.5),
    "rbf": SVC(kernel="rbf", C=1.0, gamma=0.3),
    "rbf-auto": SVC(kernel="rbf", C=2.0, gamma="auto"),
    "poly": SVC(kernel="poly", C=1.0, gamma=0.4, degree=3, coef0=1.0),
    "rbf-scale": SVC(kernel="rbf", C=1.0),  # γ = 1/(d·Var X) moves with the poison row
    "poly-scale": SVC(kernel="poly", C=0.5, degree=2, coef0=1.0),
}
X, Y = make_classification(n=80, d=4, seed=3)
X_STAR = X.mean(0) + 0.5 * X.std(0)
GOALS = {
    "loss-availability": lambda: LossAvailability(),
    "loss-availability-eval": lambda: LossAvailability(X[::3] + 0.1, Y[::3]),
    "integrity": lambda: Integrity("predict:-1@" + ",".join(map(repr, X_STAR.tolist()))),
}
GRID = [
    pytest.param(est, goal, id=f"{name}-{kind}")
    for name, est in ESTIMATORS.items()
    for kind, goal in GOALS.items()
]


def _decision_tol(obj, X_all) -> float:
    kernel = obj.kernel_for(X_all)[0]
    return DECISION_TOL * max(1.0, float(np.abs(kernel.matrix(X_all, X_all)).max()))


def _tight(estimator):
    return clone(estimator).set_params(**kernel_models.TIGHT)


def _objective(estimator, goal, alpha=ALPHA):
    return FlexiblePoisoning(estimator, goal=goal, alpha=alpha).objective(X, Y)


def _oracle_W(estimator, goal, alpha, x, y_p) -> float:
    """W from a tight scikit-learn refit on X ∪ {x}, its E stated here independently."""
    fitted = _tight(estimator).fit(np.vstack([X, x]), np.append(Y, y_p))
    C = float(np.sum((x - X.mean(0)) ** 2))
    if isinstance(goal, LossAvailability):
        Z, y = (X, Y) if goal.X_eval is None else (goal.X_eval, goal.y_eval)
        s = np.where(y == fitted.classes_[1], 1.0, -1.0)
        E = float(np.mean(np.maximum(0.0, 1.0 - s * fitted.decision_function(Z))))
        return alpha * C - (1 - alpha) * E
    v = float(goal.target.split(":")[1].split("@")[0])
    E = float((fitted.decision_function(X_STAR[None])[0] - v) ** 2)
    return alpha * C + (1 - alpha) * E


def _sets(obj, x, t):
    fit = obj.evaluate(x, t, with_gradient=False).dual
    return set(fit.margin.tolist()), set(np.flatnonzero(fit.beta).tolist())


def _candidates(obj):
    """Points in the box where the poison row is a bound SV, and one where it is a
    margin SV: along the path from a flipped clean row towards the centre of its new
    class the row goes from bound to off the margin, through a margin interval (bisected
    for). The sets do not depend on the goal: cached per estimator."""
    key = obj.victim.learner.name
    if key not in _FOUND:
        _FOUND[key] = _search(obj)
    return _FOUND[key]


_FOUND: dict = {}


def _search(obj):
    c = X.shape[0]

    def status(x, t):
        fit = obj.evaluate(x, t, with_gradient=False).dual
        return "margin" if c in fit.margin else "bound" if fit.beta[c] else "off"

    out = {}
    for row in range(X.shape[0]):
        t = -obj.victim.encode(Y[row : row + 1])[0]
        towards = X[obj.t == t].mean(0)  # the centre of the class it is flipped to
        path = lambda s, row=row, z=towards: X[row] + s * (z - X[row])  # noqa: E731
        grid = np.linspace(0.0, 1.0, 11)
        states = [status(path(s), t) for s in grid]
        for s, state in zip(grid, states):
            out.setdefault(state, (path(s), t))
        for k in range(grid.size - 1):
            if "margin" in out or {states[k], states[k + 1]} != {"bound", "off"}:
                continue
            lo, hi = grid[k], grid[k + 1]
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                state = status(path(mid), t)
                if state == "margin":
                    out["margin"] = (path(mid), t)
                    break
                lo, hi = (mid, hi) if state == states[k] else (lo, mid)
        if "margin" in out and "bound" in out:
            break
    out.pop("off", None)
    return out


def _central(f, x, h):
    return np.array([(f(x + h[j] * e) - f(x - h[j] * e)) / (2 * h[j]) for j, e in
                     enumerate(np.eye(x.size))])


@pytest.mark.parametrize("estimator, goal", GRID)
def test_decision_values_match_a_tight_sklearn_refit(estimator, goal):
    obj = _objective(estimator, goal())
    for x, t in _candidates(obj).values():
        ev = obj.evaluate(x, t, with_gradient=False)
        X_all = np.vstack([X, x])
        y_p = obj.victim.decode(np.array([t]))
        fitted = _tight(estimator).fit(X_all, np.append(Y, y_p))
        ours = ev.dual.decision(ev.kernel, np.vstack([X_all, X_STAR]))
        assert np.abs(ours - fitted.decision_function(np.vstack([X_all, X_STAR]))).max() \
            <= _decision_tol(obj, X_all)
        # KKT: margin rows on the margin, the others on their side of it
        f = ours[:-1]
        s = np.append(obj.t, t)
        alpha = np.abs(ev.dual.beta)
        assert np.allclose(s[ev.dual.margin] * f[ev.dual.margin], 1.0, atol=1e-9)
        assert np.all(s[alpha == 0] * f[alpha == 0] >= 1 - 1e-9)
        assert np.all(s[alpha == obj.C] * f[alpha == obj.C] <= 1 + 1e-9)
        assert abs(ev.dual.beta.sum()) <= 1e-9


@pytest.mark.parametrize("estimator, goal", GRID)
def test_gradient_matches_finite_differences_of_a_sklearn_refit(estimator, goal):
    goal = goal()
    obj = _objective(estimator, goal)
    found = _candidates(obj)
    assert "bound" in found
    for kind, (x, t) in found.items():
        y_p = obj.victim.decode(np.array([t]))[0]
        grad = obj.gradient(x, y_p)
        h_own, h_refit = 1e-6 * X.std(0), 1e-3 * X.std(0)
        held = _sets(obj, x, t)
        for h in (h_own, h_refit):
            for j in range(x.size):
                for s in (-1, 1):
                    v = x.copy()
                    v[j] += s * h[j]
                    if _sets(obj, v, t) != held:
                        pytest.skip(f"{kind}: the support-vector sets change in the stencil")
        own = _central(lambda v, y_p=y_p: obj.value(v, y_p), x, h_own)
        theirs = _central(lambda v, y_p=y_p: _oracle_W(estimator, goal, ALPHA, v, y_p), x,
                          h_refit)
        assert np.linalg.norm(grad - own) <= OWN_RTOL * np.linalg.norm(own), kind
        assert np.linalg.norm(grad - theirs) <= REFIT_RTOL * np.linalg.norm(theirs), kind


@pytest.mark.parametrize("estimator, goal", GRID)
def test_generate_is_feasible_descends_matches_sklearn_and_is_reproducible(
    estimator, goal
):
    goal = goal()

    def run(seed, **kw):
        return FlexiblePoisoning(estimator, goal=goal, alpha=0.5, n_points=2, max_iter=10, starts=2,
                                 random_state=seed, **kw).generate(X, Y)

    result = run(0)
    assert np.all(result.X_poison >= result.lower) and np.all(result.X_poison <= result.upper)
    for history, point in zip(result.W_history, result.points):
        assert np.all(np.diff(history) <= 1e-12 * np.abs(history).max())
        assert history[-1] < history[0] or point.stop == "zero gradient"
    poisoned = result.poisoned_model()
    assert poisoned.get_params()["kernel"] == estimator.kernel
    tight = _tight(estimator).fit(np.vstack([X, result.X_poison]),
                                  np.append(Y, result.y_poison))
    obj = _objective(estimator, goal)
    Z, tol = obj.decision_effect.Z, _decision_tol(obj, np.vstack([X, result.X_poison]))
    assert np.abs(tight.decision_function(Z) - result.theta_poisoned).max() <= tol
    assert np.abs(_tight(estimator).fit(X, Y).decision_function(Z)
                  - result.theta_clean).max() <= tol
    again = run(0)
    for field in dataclasses.fields(result):
        a, b = getattr(result, field.name), getattr(again, field.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), field.name
        elif field.name == "W_history":
            assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_loss_availability_beats_the_clean_model():
    """Loss availability on an RBF SVC raises the hinge loss (progress > 0)."""
    result = FlexiblePoisoning(ESTIMATORS["rbf"], goal=LossAvailability(), alpha=0.0,
                               n_points=4, max_iter=30, random_state=0).generate(X, Y)
    assert result.effect_history[-1] > result.effect_clean
    assert result.progress > 0


@pytest.mark.parametrize("goal, name", [
    (Availability(), "goal"),
    (Integrity(), "target"),
    (Integrity("negate"), "target"),
    (Integrity("flip-top"), "target"),
    (Integrity(np.zeros(5)), "target"),
    (Integrity("predict:1@0,0"), "target"),
    (LossAvailability(X[:5]), "goal"),
])
def test_theta_goals_are_refused_by_name(goal, name):
    with pytest.raises(InvalidInputError, match=f"^{name}: "):
        FlexiblePoisoning(ESTIMATORS["rbf"], goal=goal, n_points=1).generate(X, Y)


@pytest.mark.parametrize("params, match", [
    ({"kernel": "precomputed"}, "kernel='precomputed'"),
    ({"kernel": "sigmoid"}, "kernel='sigmoid'"),
    ({"class_weight": "balanced"}, "class_weight"),
    ({"kernel": "poly", "degree": 0, "gamma": 1.0}, "degree"),
])
def test_unsupported_settings_are_refused_by_name(params, match):
    goal = LossAvailability()
    with pytest.raises(UnsupportedEstimatorError, match=f"^SVC: .*{match}"):
        FlexiblePoisoning(SVC(**{"gamma": 0.3, **params}), goal=goal, n_points=1).generate(X, Y)


def test_more_than_two_classes_are_refused_by_name():
    X3, y3 = make_classification(n=60, k=3)
    with pytest.raises(InvalidInputError, match="^y: SVC is supported for two classes"):
        FlexiblePoisoning(SVC(gamma=0.3), goal=LossAvailability(), n_points=1).generate(X3, y3)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_the_gradient_checks_cover_a_margin_support_vector_poison_row(name):
    """With the poison row on the margin (0 < α_c < C) its own KKT equality moves with
    it: the candidates above include such a point for every kernel."""
    obj = _objective(ESTIMATORS[name], LossAvailability())
    assert set(_candidates(obj)) == {"bound", "margin"}

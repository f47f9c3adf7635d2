"""The contract of the victims without θ (``has_theta=False``: decision-value goals
only, e.g. a kernel support vector classifier), generated from the model registry as
tests/test_contract.py is for the others: one case is one (entry × one of its
``examples`` × one goal it accepts), with id ``<name>[<example>]-<goal>``; nothing here
names a model. The oracle is on decision values f instead of θ:

1. the exact fit's decision values equal a tight scikit-learn refit on X ∪ {x_p} to
   1e-5 × max(1, the largest kernel value) (libsvm caches the kernel matrix in single
   precision), and its optimality (KKT) conditions hold;
2. ∇_{x_p} W equals central differences of flexpoison's own W (1e-5) and of W recomputed
   from tight scikit-learn refits (1e-3 relative, their solver's tolerance), with the
   poison row a bound and a margin support vector, away from support-set changes;
3. a short attack stays in the box, never lets W increase, reports the decision values
   scikit-learn's refit has at the goal's rows, and is reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import cases, tight
from flexpoison import FlexiblePoisoning, Integrity, LossAvailability

ALPHA = 0.3
DECISION_TOL = 1e-5  # × max(1, largest kernel value)
OWN_RTOL = 1e-5  # gradient vs central differences of flexpoison's W
REFIT_RTOL = 1e-3  # … of W from tight scikit-learn refits

CASES = cases(has_theta=False)


def _x_star(case):
    return case.X.mean(0) + 0.5 * case.X.std(0)


def _goals(case):
    """The goals the entry accepts, each with the settings the oracle checks: integrity
    with a 'predict:' target, loss availability on the clean and on other rows."""
    X, y = case.X, case.y
    point = ",".join(map(repr, _x_star(case).tolist()))
    makers = {
        "integrity": [("integrity", lambda: Integrity(f"predict:-1@{point}"))],
        "loss-availability": [
            ("loss-availability", lambda: LossAvailability()),
            ("loss-availability-eval", lambda: LossAvailability(X[::3] + 0.1, y[::3])),
        ],
    }
    return [item for kind in case.spec.goals for item in makers[kind]]


GRID = [
    pytest.param(case, make, id=f"{case.id}-{name}")
    for case in CASES
    for name, make in _goals(case)
]
grid = pytest.mark.parametrize("case, make", GRID)


def _objective(case, goal, alpha=ALPHA):
    return FlexiblePoisoning(case.estimator, goal=goal, alpha=alpha, random_state=0).objective(
        case.X, case.y
    )


def _decision_tol(obj, X_all) -> float:
    kernel = obj.kernel_for(X_all)[0]
    return DECISION_TOL * max(1.0, float(np.abs(kernel.matrix(X_all, X_all)).max()))


def _refit(case, x, y_p):
    return tight(case.estimator).fit(np.vstack([case.X, x]), np.append(case.y, y_p))


def _oracle_W(case, goal, alpha, x, y_p) -> float:
    """W from a tight scikit-learn refit on X ∪ {x}, its E stated here independently."""
    fitted = _refit(case, x[None], y_p)
    X, y = case.X, case.y
    C = float(np.sum((x - X.mean(0)) ** 2))
    if isinstance(goal, LossAvailability):
        Z, labels = (X, y) if goal.X_eval is None else (goal.X_eval, goal.y_eval)
        s = np.where(labels == fitted.classes_[1], 1.0, -1.0)
        E = float(np.mean(np.maximum(0.0, 1.0 - s * fitted.decision_function(Z))))
        return alpha * C - (1 - alpha) * E
    v = float(goal.target.split(":")[1].split("@")[0])
    E = float((fitted.decision_function(_x_star(case)[None])[0] - v) ** 2)
    return alpha * C + (1 - alpha) * E


def _sets(obj, x, t):
    fit = obj.evaluate(x, t, with_gradient=False).dual
    return set(fit.margin.tolist()), set(np.flatnonzero(fit.beta).tolist())


_FOUND: dict = {}


def _candidates(case, obj):
    """Points where the poison row is a bound SV, and one where it is a margin SV: on
    the path from a flipped clean row towards the centre of its new class the row goes
    from bound to off the margin, through a margin interval (bisected for). The sets do
    not depend on the goal: cached per case."""
    if case.id not in _FOUND:
        _FOUND[case.id] = _search(case, obj)
    return _FOUND[case.id]


def _search(case, obj):
    X, y = case.X, case.y
    c = X.shape[0]

    def status(x, t):
        fit = obj.evaluate(x, t, with_gradient=False).dual
        return "margin" if c in fit.margin else "bound" if fit.beta[c] else "off"

    out = {}
    for row in range(X.shape[0]):
        t = -obj.victim.encode(y[row : row + 1])[0]
        towards = X[obj.t == t].mean(0)
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
    return np.array(
        [(f(x + h[j] * e) - f(x - h[j] * e)) / (2 * h[j]) for j, e in enumerate(np.eye(x.size))]
    )


@grid
def test_decision_values_match_a_tight_sklearn_refit(case, make):
    obj = _objective(case, make())
    for x, t in _candidates(case, obj).values():
        ev = obj.evaluate(x, t, with_gradient=False)
        X_all = np.vstack([case.X, x])
        fitted = _refit(case, x[None], obj.victim.decode(np.array([t])))
        rows = np.vstack([X_all, _x_star(case)])
        ours = ev.dual.decision(ev.kernel, rows)
        assert np.abs(ours - fitted.decision_function(rows)).max() <= _decision_tol(obj, X_all)
        f, s = ours[:-1], np.append(obj.t, t)  # KKT: margin rows on it, others their side
        alpha = np.abs(ev.dual.beta)
        assert np.allclose(s[ev.dual.margin] * f[ev.dual.margin], 1.0, atol=1e-9)
        assert np.all(s[alpha == 0] * f[alpha == 0] >= 1 - 1e-9)
        assert np.all(s[alpha == obj.C] * f[alpha == obj.C] <= 1 + 1e-9)
        assert abs(ev.dual.beta.sum()) <= 1e-9


@grid
def test_gradient_matches_finite_differences_of_a_sklearn_refit(case, make):
    goal = make()
    obj = _objective(case, goal)
    found = _candidates(case, obj)
    assert set(found) == {"bound", "margin"}  # both KKT regimes of the poison row
    sd = case.X.std(0)
    for kind, (x, t) in found.items():
        y_p = obj.victim.decode(np.array([t]))[0]
        grad = obj.gradient(x, y_p)
        h_own, h_refit = 1e-6 * sd, 1e-3 * sd
        held = _sets(obj, x, t)
        moved = any(
            _sets(obj, x + s * h[j] * e, t) != held
            for h in (h_own, h_refit)
            for j, e in enumerate(np.eye(x.size))
            for s in (-1, 1)
        )
        if moved:
            continue  # the support-vector sets change inside the stencil
        own = _central(lambda v, y_p=y_p: obj.value(v, y_p), x, h_own)
        theirs = _central(lambda v, y_p=y_p: _oracle_W(case, goal, ALPHA, v, y_p), x, h_refit)
        assert np.linalg.norm(grad - own) <= OWN_RTOL * np.linalg.norm(own), kind
        assert np.linalg.norm(grad - theirs) <= REFIT_RTOL * np.linalg.norm(theirs), kind


@grid
def test_generate_is_feasible_descends_matches_sklearn_and_is_reproducible(case, make):
    goal = make()
    X, y = case.X, case.y

    def run(seed):
        return FlexiblePoisoning(
            case.estimator,
            goal=goal,
            alpha=0.5,
            n_points=2,
            max_iter=10,
            starts=2,
            random_state=seed,
        ).generate(X, y)

    result = run(0)
    assert np.all(result.X_poison >= result.lower) and np.all(result.X_poison <= result.upper)
    for history, point in zip(result.W_history, result.points):
        assert np.all(np.diff(history) <= 1e-12 * np.abs(history).max())
        assert (
            history[-1] < history[0]
            or point.stop in ("zero gradient", "reached")
            or (point.start == "α = 0 point" and point.stop == "stationary")
        )
    obj = _objective(case, goal)
    X_all = np.vstack([X, result.X_poison])
    Z, tol = obj.decision_effect.Z, _decision_tol(obj, X_all)
    poisoned = tight(case.estimator).fit(X_all, np.append(y, result.y_poison))
    assert np.abs(poisoned.decision_function(Z) - result.theta_poisoned).max() <= tol
    clean = tight(case.estimator).fit(X, y)
    assert np.abs(clean.decision_function(Z) - result.theta_clean).max() <= tol
    again = run(0)
    for field in dataclasses.fields(result):
        a, b = getattr(result, field.name), getattr(again, field.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), field.name
        elif field.name == "W_history":
            assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_every_entry_without_theta_has_an_example():
    assert CASES and all(case.spec.goals for case in CASES)

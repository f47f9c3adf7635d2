"""The descent driver and its rules, the screening of starts, and the prediction goal."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LogisticRegression, Ridge

from conftest import make_classification, make_regression
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    FlexPoisonWarning,
    Integrity,
    InvalidInputError,
    LossAvailability,
)
from flexpoison.attack import search
from flexpoison.attack.baselines import at_target
from flexpoison.attack.descent import _ARMIJO, Descender, _halvings

DIABETES = load_diabetes(scaled=False)
X_STAR = [50, 1, 25, 90, 180, 110, 50, 4, 4.6, 90]
PREDICT = "predict:300@" + ",".join(map(str, X_STAR))


def _quiet(attack, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)  # the range warning
        return attack.generate(X, y)


def _objective_and_start(estimator, goal, X, y):
    attack = FlexiblePoisoning(estimator, goal=goal, alpha=0.0, n_points=1, random_state=0)
    setup = attack._setup(X, y, None)
    rng = np.random.default_rng(0)
    start = search.starts(rng, setup.X, setup.t, setup.victim, setup.box, 1)[0]
    effect = setup.objective.effect_gain(setup.objective.effect_at(setup.objective.Theta_start))
    return effect, start, setup


@pytest.mark.parametrize("rule", ["lbfgs", "backtracking", "paper"])
def test_every_rule_runs_in_the_one_loop_and_can_be_paused(rule):
    """A descent paused at 3 iterations and resumed ends where an unpaused one ends."""
    effect, start, setup = _objective_and_start(Ridge(), Integrity(), *make_regression(n=80))
    Theta = setup.objective.Theta_start

    def run(pauses):
        d = Descender(effect, start, Theta, setup.box, None, step_rule=rule, tol=1e-5, scale=None)
        for until in pauses:
            d.advance(until)
        return d.result(40)

    whole, paused = run([40]), run([3, 40])
    assert paused.history == whole.history and np.array_equal(paused.x, whole.x)
    assert whole.stop in ("tolerance", "stationary", "max_iter")
    if rule != "paper":  # only the paper's step may raise W
        assert np.all(np.diff(whole.history) <= 0.0)


def test_lbfgs_converges_where_projected_gradient_runs_out_of_iterations():
    """Raw diabetes (features in mixed units), Ridge, flip-top, one start per point:
    the quasi-Newton rule stops by its tolerance, in fewer iterations, at least as far."""
    X, y = DIABETES.data, DIABETES.target
    kw = dict(goal=Integrity("flip-top"), alpha=0.0, n_points=5, starts=1, random_state=0)
    fast = _quiet(FlexiblePoisoning(Ridge(), **kw), X, y)
    slow = _quiet(FlexiblePoisoning(Ridge(), step="backtracking", **kw), X, y)
    assert [p.stop for p in fast.points].count("max_iter") == 0
    assert [p.stop for p in slow.points].count("max_iter") >= 4
    assert np.median(fast.n_iter) < 0.5 * np.median(slow.n_iter)
    assert fast.progress >= slow.progress


def test_lbfgs_steps_past_l1_kinks():
    """Lasso availability: the active set changes along the path (kinks of W); the
    rule falls back to gradient steps there and ends at least as far as backtracking."""
    X, y = DIABETES.data, DIABETES.target
    kw = dict(goal=Availability(), alpha=0.0, n_points=3, starts=1, random_state=0)
    fast = _quiet(FlexiblePoisoning(Lasso(alpha=1.0), **kw), X, y)
    slow = _quiet(FlexiblePoisoning(Lasso(alpha=1.0), step="backtracking", **kw), X, y)
    assert fast.effect_final >= 0.99 * slow.effect_final
    assert sum(fast.n_iter) < sum(slow.n_iter)


def _screenings(monkeypatch) -> list[list]:
    """The list every later :func:`search.screen` call appends its descents to."""
    seen: list[list] = []
    original = search.screen

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(search, "screen", spy)
    return seen


def test_screening_spends_little_on_the_starts_it_drops(monkeypatch):
    """Four starts (and the point before, from the second point on): each runs 3
    iterations, two run to 10, one to its stop; the point is never a screened-out
    start, and the iterations reported are all starts together."""
    X, y = make_classification(n=200, d=4, seed=4)
    seen = _screenings(monkeypatch)
    r = FlexiblePoisoning(
        LogisticRegression(), goal=LossAvailability(), alpha=0.0, n_points=2, random_state=0
    ).generate(X, y)
    for q, (descents, point) in enumerate(zip(seen, r.points, strict=True)):
        assert len(descents) == (4 if q == 0 else 5)
        assert (descents[-1].start.kind == "previous point") == (q > 0)
        finished = [d for d in descents if d.stop != "screened"]
        assert len(finished) >= 1 and point.stop != "screened"
        dropped = sorted(d.n_iter for d in descents if d.stop == "screened")
        assert dropped[: len(descents) - 2] == [3] * (len(descents) - 2)
        assert set(dropped[len(descents) - 2 :]) <= {10}
        assert point.n_iter == sum(d.n_iter for d in descents)


def test_lead_is_the_point_before_s_margin_where_it_wins():
    """(W₂ − W₁)/|W₁| where the point before's optimum has the lowest W; 0 where another
    start wins or ties, or nothing gains; None without a screening (one descent)."""
    from types import SimpleNamespace

    def descent(kind, W):
        ev = SimpleNamespace(W=W)
        return search.Descent(
            search.Start(np.zeros(1), 0.0, kind), np.zeros(1), 0.0, ev, [W], "tolerance"
        )

    prev = search.PREVIOUS
    assert (
        search.lead([descent("flipped", -0.5), descent(prev, -2.0), descent("flipped", -1.5)])
        == 0.25
    )
    assert search.lead([descent(prev, -1.0), descent("flipped", -2.0)]) == 0.0
    assert search.lead([descent("flipped", -2.0), descent(prev, -2.0)]) == 0.0
    assert search.lead([descent(prev, 0.5), descent("flipped", 1.0)]) == 0.0
    assert search.lead([descent(prev, -1.0)]) is None


def test_the_point_before_alone_changes_nothing_where_it_wins(monkeypatch):
    """Where the point before's optimum leads (here: wins at all) and settles within
    the first round, it is the only descent; on rows where it wins every screening that
    rule then skips, the points, θ and E are those of the full screening, for fewer
    iterations."""
    from sklearn.datasets import make_classification as sk_classification

    X, y = sk_classification(n_samples=2000, n_features=10, n_informative=5, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    kw = dict(goal=Integrity("negate"), alpha=0.0, n_points=5, random_state=0)
    seen = _screenings(monkeypatch)
    monkeypatch.setattr(search, "LEAD", np.inf)
    full = _quiet(FlexiblePoisoning(LogisticRegression(), **kw), X, y)
    screened, seen[:] = list(seen), []
    monkeypatch.setattr(search, "LEAD", 1e-12)  # the point before wins at all
    alone = _quiet(FlexiblePoisoning(LogisticRegression(), **kw), X, y)
    skipped = [q for q, out in enumerate(seen) if len(out) == 1]
    assert skipped  # the rule ran
    for q in skipped:
        (only,) = seen[q]
        assert only.start.kind == search.PREVIOUS and only.n_iter <= 3
        assert search.lead(screened[q - 1]) > 0.0  # the full run's point before led
        assert search.lead(screened[q]) > 0.0  # and the point before's optimum won here
    np.testing.assert_array_equal(alone.X_poison, full.X_poison)
    np.testing.assert_array_equal(alone.theta_poisoned, full.theta_poisoned)
    assert alone.effect_final == full.effect_final
    assert sum(alone.n_iter) < sum(full.n_iter)


def test_predict_goal_aims_at_the_prediction_and_beats_the_rows_at_x_star():
    X, y = DIABETES.data, DIABETES.target
    goal = Integrity(PREDICT)
    r = _quiet(FlexiblePoisoning(Ridge(), goal=goal, alpha=0.0, n_points=20, random_state=0), X, y)
    f_clean = Ridge().fit(X, y).predict([X_STAR])[0]
    f = r.poisoned_model().predict([X_STAR])[0]
    assert r.effect_clean == pytest.approx((f_clean - 300.0) ** 2)
    assert r.effect_final == pytest.approx((f - 300.0) ** 2, rel=1e-8)
    assert r.progress == pytest.approx(1 - abs(f - 300) / abs(f_clean - 300), rel=1e-8)
    base = at_target(Ridge(), X, y, 20, goal)
    assert np.all(base.X_poison == np.asarray(X_STAR, dtype=float))
    assert np.all(base.y_poison == y.max())
    refit = Ridge().fit(np.vstack([X, base.X_poison]), np.r_[y, base.y_poison])
    f_base = refit.predict([X_STAR])[0]
    assert f > f_base > f_clean


def test_predict_goal_gradient_matches_finite_differences():
    X, y = make_classification(n=120, d=3, seed=2)
    goal = Integrity("predict:2.5@0.3,-0.2,0.1")
    objective = FlexiblePoisoning(
        LogisticRegression(), goal=goal, alpha=0.3, random_state=0
    ).objective(X, y)
    x, label = X[5] + 0.1, 1 - y[5]
    grad = objective.gradient(x, label)
    h = 1e-6
    numeric = [
        (objective.value(x + h * e, label) - objective.value(x - h * e, label)) / (2 * h)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_at_target_refuses_other_goals_and_labels_binary_rows_toward_v():
    X, y = make_classification(n=120, d=3, seed=2)
    with pytest.raises(InvalidInputError, match="at_target needs"):
        at_target(LogisticRegression(), X, y, 3, Integrity("negate"))
    up = at_target(LogisticRegression(), X, y, 3, Integrity("predict:9@0,0,0"))
    down = at_target(LogisticRegression(), X, y, 3, Integrity("predict:-9@0,0,0"))
    assert set(up.y_poison) == {1} and set(down.y_poison) == {0}


def test_the_concealed_runs_first_point_shows_the_descent_that_found_it():
    """0 < α < 1 starts each point from the α = 0 run's; the first point's W history
    is that run's descent (same rows) then its own: the W figure is not one dot."""
    X, y = make_regression(n=80)
    r = FlexiblePoisoning(
        Ridge(), goal=Integrity(), alpha=0.5, n_points=3, random_state=0
    ).generate(X, y)
    first = np.asarray(r.W_history[0])
    assert first.size > 2 and np.all(np.diff(first) <= 0.0)
    assert r.points[0].start == "α = 0 point"


@given(
    m=st.floats(1e-6, 1e6),
    c=st.floats(1e-6, 1e6),
    a=st.floats(1e-6, 1e6),
)
def test_the_ray_model_skips_only_the_halvings_that_fail_on_a_quadratic(m, c, a):
    # W(a) − W = −m·a + ½·c·a² along the ray: the step the model jumps to is the first
    # of a, a/2, a/4, … that passes Armijo's test
    def armijo(s):
        return -m * s + 0.5 * c * s * s <= -_ARMIJO * m * s * (1 - 1e-12)

    def ratio(s):
        return (m * s - 0.5 * c * s * s) / (m * s)

    if armijo(a):
        return
    k = _halvings(ratio(a))
    passing = next(j for j in range(1, 200) if armijo(a / 2**j))
    assert abs(k - passing) <= (1 if abs(ratio(a / 2**passing) - _ARMIJO) < 1e-9 else 0)
    assert _halvings(float("nan")) == 1


def test_skipping_halvings_takes_the_steps_plain_halving_takes_in_fewer_trials(monkeypatch):
    """The gradient rule's line search skips the halvings the ray's model says fail
    (descent._halvings); the points it accepts are plain halving's, bit for bit
    (logistic integrity on 5,000 rows, where the first trial overshoots ~2⁶)."""
    from sklearn.datasets import make_classification as sk_classification

    from flexpoison.attack import descent

    X, y = sk_classification(n_samples=5000, n_features=20, n_informative=10, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    effect, start, setup = _objective_and_start(LogisticRegression(), Integrity("negate"), X, y)
    Theta = setup.objective.Theta_start
    trials = [0]
    evaluate = type(effect).evaluate

    def counted(self, *args, **kw):
        trials[0] += 1
        return evaluate(self, *args, **kw)

    monkeypatch.setattr(type(effect), "evaluate", counted)

    def run():
        trials[0] = 0
        d = Descender(
            effect, start, Theta, setup.box, None, step_rule="backtracking", tol=1e-5, scale=None
        )
        d.advance(15)
        return d.history, trials[0]

    skipping, skipping_trials = run()
    monkeypatch.setattr(descent, "_halvings", lambda ratio: 1)
    plain, plain_trials = run()
    assert skipping == plain and len(plain) > 3
    assert skipping_trials < plain_trials

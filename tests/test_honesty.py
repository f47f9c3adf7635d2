"""An attack that works on the user's data, and says plainly when it does not.

The effect-share trade-off (α: the share of the unconcealed attack's effect given up
for concealment), the rule that a point never leaves E worse than without it when a
harmless descent exists, the per-point reports, and the warnings a weak or failed
attack carries (library, command line, result files).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge

from conftest import make_classification, make_regression
from flexpoison import Availability, FlexiblePoisoning, Integrity, LossAvailability
from flexpoison.attack.result import BARELY, PointReport, assess
from flexpoison.errors import FlexPoisonWarning, InvalidInputError

REGRESSORS = [LinearRegression(), Ridge(alpha=1.0), Lasso(alpha=0.05), ElasticNet(alpha=0.05)]


def _gain(result) -> float:
    """The attacker's gain: how far E moved the attacker's way."""
    sign = -1.0 if result.goal == "integrity" else 1.0
    return sign * (result.effect_final - result.effect_clean)


@pytest.mark.parametrize("estimator", REGRESSORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_an_integrity_attack_on_a_regressor_never_ends_worse_than_no_attack(estimator, alpha):
    """The no-op row (x_c with the model's own prediction) is always among the starts
    of a squared-residual victim, so every point is harmless."""
    X, y = make_regression(n=50, d=3, seed=3)
    r = FlexiblePoisoning(
        estimator, goal=Integrity("flip-top"), alpha=alpha, n_points=5, max_iter=30, random_state=0
    ).generate(X, y)
    assert all(p.harmless for p in r.points)
    assert all(p.effect_after <= p.effect_before * (1 + 1e-12) for p in r.points)
    assert r.effect_final <= r.effect_clean * (1 + 1e-12)


def test_the_diabetes_predict_target_ends_below_its_clean_effect():
    """Raw units, a target other than flip-top: it used to end worse than no attack
    (E_I 0.332 → 0.485 at α = 0, → 0.346 at α = 0.5)."""
    data = load_diabetes(scaled=False)
    goal = Integrity("predict:300@50,1,25,90,180,110,50,4,4.6,90")
    out = {}
    for alpha in (0.0, 0.5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FlexPoisonWarning)  # it barely moves E: said
            out[alpha] = FlexiblePoisoning(
                Ridge(alpha=1), goal=goal, alpha=alpha, n_points=20, random_state=0
            ).generate(data.data, data.target)
    assert out[0.0].effect_final < out[0.0].effect_clean
    assert out[0.5].effect_final <= out[0.5].effect_clean


def test_alpha_is_the_share_of_the_effect_given_up():
    """α = 0.5 keeps between 20 % and 80 % of α = 0's gain, at a lower mean C; α = 1
    keeps none of it for a regressor (the no-op row)."""
    X, y = make_regression(n=200, d=4, seed=1)
    runs = {
        a: FlexiblePoisoning(
            Ridge(), goal=Integrity("flip-top"), alpha=a, n_points=6, random_state=0
        ).generate(X, y)
        for a in (0.0, 0.5, 1.0)
    }
    share = _gain(runs[0.5]) / _gain(runs[0.0])
    assert 0.2 <= share <= 0.8, share
    assert runs[0.5].concealment.mean() < runs[0.0].concealment.mean()
    assert abs(_gain(runs[1.0])) <= 1e-9 * runs[1.0].effect_clean
    assert np.allclose(runs[1.0].concealment, 0.0, atol=1e-20)


@pytest.mark.parametrize(
    ("estimator", "maker", "goal"),
    [
        (LogisticRegression(), make_classification, Availability()),
        (LogisticRegression(), make_classification, Integrity("negate")),
        (Ridge(), make_regression, Availability()),
        (Lasso(alpha=0.05), make_regression, LossAvailability()),
    ],
    ids=["logistic-availability", "logistic-integrity", "ridge-availability", "lasso-loss"],
)
def test_after_every_point_the_attack_keeps_one_minus_alpha_of_the_alpha_zero_gain(
    estimator, maker, goal
):
    """The share is calibrated on the α = 0 attack's gain after as many points, so it
    does not drift as the α = 0 attack saturates; the result names that attack's E."""
    X, y = maker(n=300, d=4, seed=5)
    kw = dict(goal=goal, n_points=8, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)  # max_iter is small on purpose
        zero = FlexiblePoisoning(estimator, alpha=0.0, **kw).generate(X, y)
        runs = {
            a: FlexiblePoisoning(estimator, alpha=a, **kw).generate(X, y) for a in (0.25, 0.5, 0.75)
        }
    sign = -1.0 if zero.goal == "integrity" else 1.0
    g0 = sign * (zero.effect_history - zero.effect_clean)
    assert zero.effect_unconcealed is None
    for alpha, r in runs.items():
        assert r.effect_unconcealed == zero.effect_final
        g = sign * (r.effect_history - r.effect_clean)
        np.testing.assert_allclose(g, (1.0 - alpha) * g0, rtol=1e-3)
        assert r.concealment.mean() < zero.concealment.mean()


def test_the_share_trade_off_means_the_same_at_any_n_for_logistic_regression():
    """The paper's W loses α's meaning as n grows (α = 0.5 put every point on x_c);
    the share trade-off keeps a readable part of the effect."""
    X, y = make_classification(n=2000, d=5, seed=2)
    kw = dict(goal=Integrity("negate"), n_points=4, max_iter=40, random_state=0)
    share = {
        a: FlexiblePoisoning(LogisticRegression(), alpha=a, **kw).generate(X, y) for a in (0.0, 0.5)
    }
    assert 0.2 <= _gain(share[0.5]) / _gain(share[0.0]) <= 1.0
    assert share[0.5].concealment.mean() < share[0.0].concealment.mean()


def test_every_point_reports_how_it_was_crafted():
    X, y = make_regression()
    r = FlexiblePoisoning(Ridge(), alpha=0.3, n_points=3, random_state=0).generate(X, y)
    assert len(r.points) == 3 and np.array_equal(r.n_iter, [p.n_iter for p in r.points])
    for q, p in enumerate(r.points):
        assert p.stop in ("tolerance", "stationary", "zero gradient", "max_iter", "reached")
        # 0 < α < 1: each point starts from the α = 0 run's (which had the starts below)
        assert p.start == "α = 0 point"
        assert p.effect_after == r.effect_history[q]
        assert p.effect_before == (r.effect_clean if q == 0 else r.effect_history[q - 1])
        assert 0.0 <= p.path <= 1.0
    assert r.progress == pytest.approx((r.effect_clean - r.effect_final) / r.effect_clean)


def test_an_attack_that_barely_moves_E_warns():
    """A box a thousandth of σ wide leaves the attack no room: said. α = 1 asks for
    concealment alone (either trade-off): not a failure, not said."""
    X, y = make_regression()
    with pytest.warns(
        FlexPoisonWarning,
        match=r"barely moved E_I .*not evidence that the "
        r"model is safe",
    ):
        r = FlexiblePoisoning(
            Ridge(), alpha=0.0, n_points=2, n_sigma=1e-3, random_state=0
        ).generate(X, y)
    assert any("barely moved" in w for w in r.warnings)
    for trade_off in ("share", "paper"):
        concealed = FlexiblePoisoning(
            Ridge(), alpha=1.0, n_points=2, trade_off=trade_off, random_state=0
        ).generate(X, y)
        assert abs(concealed.progress) < 0.01
        assert not any("barely moved" in w for w in concealed.warnings)


def test_points_stopped_at_max_iter_are_reported_and_warned():
    X, y = make_regression()
    with pytest.warns(FlexPoisonWarning, match="3 of 3 points stopped at max_iter = 1"):
        r = FlexiblePoisoning(
            Ridge(), alpha=0.0, n_points=3, max_iter=1, starts=1, tol=1e-15, random_state=0
        ).generate(X, y)
    assert [p.stop for p in r.points] == ["max_iter"] * 3


def test_a_working_attack_carries_no_warning():
    """Within the data's range (bounds), a working attack has nothing to warn about."""
    X, y = make_classification(n=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FlexPoisonWarning)
        r = FlexiblePoisoning(
            LogisticRegression(),
            goal=Availability(),
            alpha=0.0,
            n_points=4,
            bounds=(X.min(axis=0), X.max(axis=0)),
            random_state=0,
        ).generate(X, y)
    assert r.warnings == () and r.progress > BARELY


def test_rows_beyond_the_data_range_warn_without_constraints():
    """The default 3σ box reaches beyond the observed range (a 1/2 column up to 2.98):
    a row that uses it can give itself away, and the result says so, by name."""
    data = load_diabetes(scaled=False, as_frame=True)
    with pytest.warns(FlexPoisonWarning, match="leave the clean rows' range"):
        r = FlexiblePoisoning(
            Ridge(), goal=Availability(), alpha=0.0, n_points=3, max_iter=20, random_state=0
        ).generate(data.data, data.target)
    (message,) = [w for w in r.warnings if "leave the clean rows' range" in w]
    assert "'sex'" in message or "'bmi'" in message


def test_assess_tells_worse_from_barely_from_fine():
    point = PointReport(3, "tolerance", "clone", 1.0, 0.9, True, 1.0)
    assert assess(0.5, "E_I", (point,), 100) == ()
    assert "worse than no attack" in assess(-0.2, "E_I", (point,), 100)[0]
    assert "barely moved" in assess(0.001, "E_I", (point,), 100)[0]
    # rounding is not harm: a result within 1e-9 of no change is "barely", not "worse"
    assert "barely moved" in assess(-1e-12, "E_I", (point,), 100)[0]
    stuck = PointReport(100, "max_iter", "clone", 1.0, 0.9, True, 1.0)
    assert "2 of 3 points stopped at max_iter" in assess(0.5, "E_I", (stuck, stuck, point), 100)[0]


def test_loss_availability_with_the_box_of_the_data_range():
    """The issue's ridge case: box = the training rows' min/max (n_sigma=None), response
    fixed, α = 0: E_L rises well beyond the old 1.8× (test MSE 0.030 → 0.054)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = X @ np.array([1.0, -0.5, 0.8, 0.3]) + 0.1 * rng.normal(size=600)
    r = FlexiblePoisoning(
        Ridge(),
        goal=LossAvailability(),
        alpha=0.0,
        n_points=6,
        n_sigma=None,
        bounds=(X.min(0), X.max(0)),
        random_state=0,
    ).generate(X, y)
    assert np.all(r.X_poison >= X.min(0)) and np.all(r.X_poison <= X.max(0))
    assert r.effect_final > 2.0 * r.effect_clean
    with pytest.raises(InvalidInputError, match="n_sigma: None .*needs bounds"):
        FlexiblePoisoning(Ridge(), n_sigma=None, n_points=1, random_state=0).generate(X, y)
    with pytest.raises(InvalidInputError, match="every bound must be finite"):
        FlexiblePoisoning(
            Ridge(), n_sigma=None, n_points=1, bounds=(X.min(0), np.full(4, np.inf)), random_state=0
        ).generate(X, y)


# The command line's part (a warning line, summary.json's fields): test_cli.py.


@pytest.mark.parametrize(
    "estimator, goal",
    [
        (Ridge(), LossAvailability()),
        (LogisticRegression(), Integrity("negate")),
    ],
    ids=["ridge-loss", "logistic-integrity"],
)
def test_further_passes_never_lose_effect_at_alpha_zero(estimator, goal):
    """Each point re-crafted given all the others also descends from where it was, so at
    α = 0 a pass can only add to the effect; the history is that of the final rows."""
    X, y = (
        make_regression(n=80, seed=5)
        if isinstance(estimator, Ridge)
        else make_classification(n=80, seed=5)
    )
    kw = dict(goal=goal, alpha=0.0, n_points=4, max_iter=30, random_state=0)
    one = FlexiblePoisoning(estimator, **kw).generate(X, y)
    two = FlexiblePoisoning(estimator, passes=2, **kw).generate(X, y)
    sign = 1.0 if goal.kind == "integrity" else -1.0
    assert sign * two.effect_final <= sign * one.effect_final * (1 + 1e-12)
    assert two.settings["passes"] == 2
    refit = FlexiblePoisoning(estimator, **{**kw, "n_points": 1}).objective(X, y)
    assert refit.theta(two.X_poison[0], two.y_poison[0]) == pytest.approx(
        two.theta_history[0], rel=1e-6, abs=1e-9
    )


@pytest.mark.parametrize("estimator", [Ridge(), LogisticRegression()], ids=["ridge", "logistic"])
def test_one_point_with_further_passes_is_re_crafted_alone(estimator):
    """With one point a later pass re-crafts it on the clean rows alone (no other
    point: it once failed to build that empty set), and loses nothing."""
    X, y = (
        make_regression(n=80, seed=5)
        if isinstance(estimator, Ridge)
        else make_classification(n=80, seed=5)
    )
    kw = dict(goal=Integrity(), alpha=0.0, n_points=1, max_iter=30, random_state=0)
    one = FlexiblePoisoning(estimator, **kw).generate(X, y)
    two = FlexiblePoisoning(estimator, passes=2, **kw).generate(X, y)
    assert two.effect_final <= one.effect_final * (1 + 1e-12)


@pytest.mark.parametrize(
    ("estimator", "goal"),
    [
        (Ridge(), Integrity()),
        (Lasso(alpha=0.1), Availability()),
        (LogisticRegression(), LossAvailability()),
    ],
    ids=["ridge-integrity", "lasso-availability", "logistic-loss"],
)
def test_the_lbfgs_rule_stays_in_the_box_never_raises_W_and_converges(estimator, goal):
    if isinstance(estimator, LogisticRegression):
        X, y = make_classification(n=200, d=4, seed=4)
    else:
        data = load_diabetes(scaled=False)
        X, y = data.data, data.target
    kw = dict(goal=goal, alpha=0.0, n_points=3, step="lbfgs", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)  # the range warning: not tested
        r = FlexiblePoisoning(estimator, **kw).generate(X, y)
        again = FlexiblePoisoning(estimator, **kw).generate(X, y)
    np.testing.assert_array_equal(r.X_poison, again.X_poison)
    assert np.all((r.X_poison >= r.lower) & (r.X_poison <= r.upper))
    for history in r.W_history:
        assert np.all(np.diff(history) <= 1e-12 * np.maximum(1.0, np.abs(history[:-1])))
    assert not any(p.stop == "max_iter" for p in r.points)
    assert r.progress > 0


def test_a_scikit_learn_refit_that_stops_short_of_the_optimum_is_flagged():
    """The command line compares a victim without θ with scikit-learn's refit on the
    same rows; when the refit's solver stops short, its test metric is not the
    optimum's, and the result says so."""
    from flexpoison.attack.result import REFIT_GAP
    from flexpoison.experiments.pipeline import refit_warning

    exact = np.array([0.5, -3.0, 9.89])
    assert refit_warning(exact, exact + 1e-12) is None
    assert refit_warning(exact, exact * (1 + 0.5 * REFIT_GAP)) is None
    message = refit_warning(exact, np.array([0.5, -3.0, 1.29]))
    assert message is not None and "stopped short" in message and "0.87" in message
    assert refit_warning(exact, np.zeros(2)) is None  # not comparable: no verdict


def test_every_result_with_theta_is_checked_against_a_tight_refit():
    """The library compares θ_p with scikit-learn's tight refit of the returned rows
    (what poisoned_model() fits) and warns, with both numbers, past 1e-6 of max |θ_p|;
    where collinear features make θ non-unique it says so instead."""
    from flexpoison.attack.result import refit_warnings
    from flexpoison.models import REGISTRY

    X, y = make_regression(n=40, d=3)
    spec = REGISTRY["ridge"]
    theta = np.append(Ridge().fit(X, y).coef_, Ridge().fit(X, y).intercept_)
    warned, theta_refit = refit_warnings(spec, Ridge(), X, y, theta, 1)
    assert warned == () and np.allclose(theta_refit, theta, rtol=0, atol=1e-8)
    off = theta.copy()
    off[1] += 1e-3 * np.max(np.abs(theta))
    (message,), _ = refit_warnings(spec, Ridge(), X, y, off, 1)
    assert "differs from theta_poisoned by 0.001 of max |θ_p|" in message
    assert f"θ[1] = {off[1]:.10g} here, {theta[1]:.10g} in scikit-learn's" in message
    # a duplicated column: the weight can move between the twins without changing a fit
    X2 = np.hstack([X, X[:, :1]])
    lasso = Lasso(alpha=0.01, tol=1e-14, max_iter=100_000).fit(X2, y)
    split = np.append(lasso.coef_, lasso.intercept_)
    split[[0, 3]] = split[0] + split[3] - 0.1, 0.1
    (message,), _ = refit_warnings(REGISTRY["lasso"], Lasso(alpha=0.01), X2, y, split, 1)
    assert message.startswith("theta_poisoned is one of several optima")
    # and a whole attack on clean data carries no refit warning
    r = FlexiblePoisoning(
        Ridge(), goal=Availability(), alpha=0.0, n_points=2, max_iter=5, random_state=0
    ).generate(X, y)
    assert not any("refit" in w for w in r.warnings)
    # the refit it compared with is kept: what poisoned_model() fits, not fitted twice
    fitted = r.poisoned_model()
    assert np.allclose(r.theta_refit, np.append(fitted.coef_, fitted.intercept_), atol=1e-6)

"""The kernel SVC victim (flexpoison.models.kernel, engine.dual, attack.kernel): what is
particular to it. The oracle every victim without θ meets (decision values vs tight
scikit-learn refits, gradients vs finite differences, a short attack) is generated from
the registry's examples in tests/test_contract_decision.py; here:

1. loss availability raises the hinge loss of an RBF SVC;
2. θ-based goals, unsupported settings, pipelines and more than two classes are refused
   by name;
3. the registry entry runs through the experiment pipeline (refit, effect, metric) and
   the command line (attack, its goal checks).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from conftest import make_classification, tight
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    LossAvailability,
    UnsupportedEstimatorError,
    models,
)
from flexpoison.attack.kernel import LINEAR_STOP_SCALE
from flexpoison.cli import main
from flexpoison.experiments import Experiment, split_data

X, Y = make_classification(n=80, d=4, seed=3)
RBF = SVC(kernel="rbf", C=1.0, gamma=0.3)


def test_loss_availability_beats_the_clean_model():
    """Loss availability on an RBF SVC raises the hinge loss (progress > 0)."""
    result = FlexiblePoisoning(
        RBF, goal=LossAvailability(), alpha=0.0, n_points=4, max_iter=30, random_state=0
    ).generate(X, Y)
    assert result.effect_history[-1] > result.effect_clean
    assert result.progress > 0


@pytest.mark.parametrize(
    "goal, name",
    [
        (Availability(), "goal"),
        (Integrity(), "target"),
        (Integrity("negate"), "target"),
        (Integrity("flip-top"), "target"),
        (Integrity(np.zeros(5)), "target"),
        (Integrity("predict:1@0,0"), "target"),
        (LossAvailability(X[:5]), "goal"),
    ],
)
def test_theta_goals_are_refused_by_name(goal, name):
    with pytest.raises(InvalidInputError, match=f"^{name}: "):
        FlexiblePoisoning(RBF, goal=goal, n_points=1, random_state=0).generate(X, Y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"kernel": "precomputed"}, "kernel='precomputed'"),
        ({"kernel": "sigmoid"}, "kernel='sigmoid'"),
        ({"class_weight": "balanced"}, "class_weight"),
        ({"kernel": "poly", "degree": 0, "gamma": 1.0}, "degree"),
    ],
)
def test_unsupported_settings_are_refused_by_name(params, match):
    goal = LossAvailability()
    with pytest.raises(UnsupportedEstimatorError, match=f"^SVC: .*{match}"):
        FlexiblePoisoning(
            SVC(**{"gamma": 0.3, **params}), goal=goal, n_points=1, random_state=0
        ).generate(X, Y)


def test_more_than_two_classes_are_refused_by_name():
    X3, y3 = make_classification(n=60, k=3)
    with pytest.raises(InvalidInputError, match="^y: SVC is supported for two classes"):
        FlexiblePoisoning(
            SVC(gamma=0.3), goal=LossAvailability(), n_points=1, random_state=0
        ).generate(X3, y3)


def test_a_pipeline_is_refused_by_name():
    with pytest.raises(UnsupportedEstimatorError, match="^Pipeline: SVC is supported alone"):
        FlexiblePoisoning(
            make_pipeline(StandardScaler(), RBF),
            goal=LossAvailability(),
            n_points=1,
            random_state=0,
        ).generate(X, Y)


def test_the_registry_entry_declares_decision_value_goals_only():
    spec = models.get("svc")
    assert spec is models.spec_for(SVC()) and not spec.has_theta
    assert spec.default_goal in spec.goals and "availability" not in spec.goals
    assert spec.goal_problem("availability").startswith("goal availability measures")
    assert "predict:" in spec.goal_problem("integrity")
    assert spec.goal_problem("integrity", "predict:0@1,2") is None


def test_the_pipeline_refits_and_measures_decision_values():
    split = split_data(X, Y, task="classification", seed=0)
    experiment = Experiment(RBF, LossAvailability(), split)
    result = experiment.attack(0.5, n_points=2, max_iter=10, starts=1, random_state=0)
    theta = experiment.refit(*experiment.with_poison(result.X_poison, result.y_poison))
    assert theta.size == split.X_train.shape[0] + split.X_test.shape[0]
    assert np.abs(experiment.public(theta) - result.theta_poisoned).max() < 1e-5
    assert abs(experiment.effect(theta) - result.effect_history[-1]) < 1e-5
    fitted = SVC(**RBF.get_params()).fit(*experiment.with_poison(result.X_poison, result.y_poison))
    assert experiment.metric(theta) == np.mean(fitted.predict(split.X_test) == split.y_test)
    assert experiment.metrics(result)[1] == experiment.metric(theta)
    assert len(experiment.theta_names(["a", "b", "c", "d"])) == result.theta_poisoned.size
    with pytest.raises(InvalidInputError, match="^theta: SVC has no θ"):
        experiment.metric(result.theta_poisoned)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "two.csv"
    rows = ["a,b,c,d,label"] + [",".join(map(repr, [*x.tolist(), int(t)])) for x, t in zip(X, Y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_attack_command_runs_svc_with_its_default_goal(csv_file, tmp_path):
    out = tmp_path / "out"
    done = CliRunner().invoke(
        main,
        [
            "attack",
            "--data",
            str(csv_file),
            "--target-column",
            "label",
            "--model",
            "svc",
            "--n-points",
            "2",
            "--max-iter",
            "5",
            "--starts",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["goal"] == "loss-availability"
    assert len(summary["theta_names"]) == len(summary["theta_poisoned"]) == summary["n_clean"]
    assert summary["theta_names"][0] == "f(row 0)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--goal", "availability"], "--model svc: goal availability measures the parameter"),
        (["--goal", "integrity"], "--model svc: goal integrity against SVC needs a target"),
        (["--goal", "integrity", "--target", "negate"], "needs a target 'predict:"),
        (["--no-intercept"], "--no-intercept does not apply to --model svc"),
    ],
)
def test_the_attack_command_refuses_theta_goals_with_one_error(csv_file, tmp_path, args, message):
    done = CliRunner().invoke(
        main,
        [
            "attack",
            "--data",
            str(csv_file),
            "--target-column",
            "label",
            "--model",
            "svc",
            "--n-points",
            "2",
            "--out",
            str(tmp_path / "o"),
            *args,
        ],
    )
    assert done.exit_code == 2 and message in done.output, done.output


def test_the_frontier_runs_svc_with_the_hinge_loss_filter():
    from flexpoison.data import Dataset
    from flexpoison.experiments import frontier as fr

    data = Dataset(
        "two_blobs",
        X.astype(np.float64),
        Y.astype(np.int64),
        ("a", "b", "c", "d"),
        "label",
        "classification",
        "synthetic, for tests",
    )
    result = fr.run_frontier(
        data,
        model="svc",
        rate=0.05,
        alphas=(0.5,),
        baselines=(),
        sanitizers=["loss"],
        seed=0,
        attack=FlexiblePoisoning(None, max_iter=5, starts=1, random_state=0),
        progress=False,
    )
    assert result.settings.goal == "loss-availability"
    assert result.theta_clean.size == result.settings.n_clean  # f at the clean rows
    assert {row.sanitizer for row in result.rows} == {"none", "loss"}
    with pytest.raises(InvalidInputError, match="^goal: goal integrity against SVC"):
        fr.run_frontier(data, model="svc", goal="integrity", progress=False)


def test_a_sweep_refuses_or_skips_the_goals_svc_cannot_run(tmp_path):
    from conftest import SHARED_DATA
    from flexpoison.sweeps import SweepFileError, load_sweep

    def sweep(skip):
        path = tmp_path / f"s{skip}.toml"
        path.write_text(
            '[sweep]\ndatasets = ["breast_cancer"]\nmodels = ["svc", "logistic"]\n'
            'goals = ["loss-availability", "availability"]\nalphas = [0.5]\n'
            f'rates = [0.02]\nseeds = [0]\ndata_dir = "{SHARED_DATA}"\n'
            f"skip_incompatible = {str(skip).lower()}\n"
        )
        return load_sweep(path)

    grid = sweep(True)
    assert [(r.settings["model"], r.settings["goal"]) for r in grid.runs] == [
        ("svc", "loss-availability"),
        ("logistic", "loss-availability"),
        ("logistic", "availability"),
    ]
    assert grid.skipped == ("svc × availability",)
    with pytest.raises(SweepFileError, match="model 'svc': goal availability measures"):
        sweep(False)


def test_the_loss_sanitizer_scores_rows_by_the_hinge_loss():
    from flexpoison.defences.model_based import _row_losses

    fitted = SVC(**RBF.get_params()).fit(X, Y)
    s = np.where(Y == fitted.classes_[1], 1.0, -1.0)
    hinge = np.maximum(0.0, 1.0 - s * fitted.decision_function(X))
    assert np.allclose(_row_losses(fitted, X, Y, "classification").ravel(), hinge)


# ------------------------------------------------ the linear kernel's followed path


def _linear_problem(seed: int, C: float):
    """A linear SVC's objective (loss availability, α = 0) on standardised blobs, and a
    flipped label for the candidate: (objective, X, y, label, encoded label)."""
    X, y = make_classification(n=80, d=4, seed=seed)
    X = StandardScaler().fit_transform(X)
    objective = FlexiblePoisoning(
        SVC(kernel="linear", C=C), goal=LossAvailability(), alpha=0.0, random_state=0
    ).objective(X, y)
    label = 1 - y[0]
    return objective, X, y, label, 1.0 if label == 1 else -1.0


def _walk(objective, X, t, seed: int, steps: int = 30):
    """A random walk of the candidate row over the box from the first row (steps of
    0.02–2 σ), each evaluation started from the state of the one before, as a descent's
    trials are."""
    rng = np.random.default_rng(seed)
    lower, upper = X.min(0), X.max(0)
    ev = objective.evaluate(X[0], t)
    walk = [ev]
    for _ in range(steps):
        step = rng.normal(size=X.shape[1]) * 10.0 ** rng.uniform(-1.7, 0.3)
        ev = objective.evaluate(np.clip(ev.x + step, lower, upper), t, Theta_init=ev.fit.Theta)
        walk.append(ev)
    return walk


@pytest.mark.parametrize("seed, C", [(0, 1.0), (1, 0.3), (2, 10.0)])
def test_a_followed_linear_svc_is_libsvm_s_refit(seed, C, monkeypatch):
    """Along a walk of the candidate row every evaluation of a linear SVC follows its
    optimum from the one before (the general dual fit is never called), and the model
    is the one a tight libsvm refit finds on the same rows: w and b within libsvm's own
    precision (its kernel cache is single precision: 1e-5 × max(1, max k(x, x)))."""
    from flexpoison.attack import kernel as kernel_objective

    def refused(*args, **kwargs):
        raise AssertionError("the general dual fit was called")

    objective, X, y, label, t = _linear_problem(seed, C)
    monkeypatch.setattr(kernel_objective, "_fit", refused)
    for ev in _walk(objective, X, t, seed):
        rows = np.vstack([X, ev.x])
        fitted = tight(SVC(kernel="linear", C=C)).fit(rows, np.append(y, label))
        beta = ev.dual.beta
        w = beta[:-1] @ X + beta[-1] * ev.x
        scale = max(1.0, float(np.max(np.sum(rows**2, axis=1))))
        assert np.abs(w - fitted.coef_[0]).max() <= 1e-5 * scale
        assert abs(ev.dual.b - fitted.intercept_[0]) <= 1e-5 * scale


def test_the_followed_gradient_is_the_derivative_of_w():
    """∇_{x_p} W of followed evaluations equals central differences of W (each side
    followed from the evaluation itself), at the walk's points whose sets do not change
    within the difference step."""
    objective, X, y, label, t = _linear_problem(4, 1.0)
    h, checked = 1e-6, 0
    for ev in _walk(objective, X, t, 4)[1:]:
        ev = objective.differentiate(ev)
        sides = []
        for e in np.eye(X.shape[1]) * h:
            for x in (ev.x + e, ev.x - e):
                sides.append(objective.evaluate(x, t, Theta_init=ev.fit.Theta))
        same = _sets(ev.dual.beta, objective.C)
        if any(not np.array_equal(_sets(s.dual.beta, objective.C), same) for s in sides):
            continue  # a set changes within h: W has a kink here
        W = np.array([s.W for s in sides]).reshape(-1, 2)
        central = (W[:, 0] - W[:, 1]) / (2 * h)
        assert np.allclose(ev.grad_x, central, rtol=1e-5, atol=1e-8)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("seed, C", [(0, 1.0), (1, 0.3), (2, 10.0)])
def test_a_followed_end_carries_the_factor_of_its_margin_rows(seed, C):
    """Every followed evaluation of a walk whose candidate stays off its margin hands
    the gradient the LU of its end's margin rows made afresh and tested (the path tests
    M only where S grew; its end is tested whatever the path), the same factor a fresh
    factorisation gives, bit for bit, wherever M is well conditioned."""
    from flexpoison.engine import homotopy

    objective, X, y, label, t = _linear_problem(seed, C)
    checked = 0
    for ev in _walk(objective, X, t, seed):
        margin = ev.dual.margin
        if margin.size == 0 or margin[-1] == X.shape[0]:
            continue  # the candidate on its margin: its own factor, made afresh anyway
        fresh = homotopy._factor(X[margin])
        assert fresh is not None
        if fresh[2] > homotopy._DIRECT:
            assert ev.dual.system is not None and ev.dual.system.lu is not None
            assert np.array_equal(ev.dual.system.lu[0], fresh[0])
            checked += 1
    assert checked >= 3


def _sets(beta, C):
    """Each row's set: 0 off the margin, 1 on it, 2 at its bound."""
    alpha = np.abs(beta)
    return np.where(alpha == 0.0, 0, np.where(alpha >= C, 2, 1))


def test_a_followed_fit_is_refused_where_the_dual_fit_is():
    """C = 1e8 on 200 standardised breast-cancer rows: the linear SVC's decision values
    lose ~1e-6 to rounding, and the followed path refuses the fit as the general dual
    fit does (a ConvergenceError naming C), instead of returning it."""
    from sklearn.datasets import load_breast_cancer

    from flexpoison import ConvergenceError

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data[:200])
    attack = FlexiblePoisoning(
        SVC(kernel="linear", C=1e8), goal=LossAvailability(), n_points=1, random_state=0
    )
    with pytest.raises(ConvergenceError, match="C = 1e\\+08"):
        attack.generate(X, data.target[:200])


# Found by issue 22's slow property profile: C = 1e5, a near-identity RBF kernel (one
# feature on the scale of 1e3), and free support vectors that duplicate the poison row of
# the other label. The squared distances' expansion ‖a‖² + ‖b‖² − 2a·b left 5e-10 of
# error in k between near rows, which C turned into 4e-6 in θ between the attack's Gram
# matrix (built column by column) and a cold fit's; they now agree to rounding.
_DUPLICATES_X = np.array(
    [
        [4.16860953e-02, 1.91854191e00, 1.02199957e-01, -5.93963562e02],
        [-7.82316267e-01, 2.06607431e-01, 5.57828665e-01, -3.38729706e02],
        [6.45382941e-01, -1.83133006e-01, -8.11720669e-01, -1.75738110e03],
        [1.24043572e00, -7.54961491e-01, 5.43389916e-02, 2.22658295e02],
        [9.40356791e-01, 5.40406667e-02, 1.12108433e00, 2.30118698e02],
        [-1.61526129e-01, 1.72656965e00, 8.61921966e-01, -1.42414746e03],
        [-5.81198931e-01, 1.97786129e00, -1.01269230e-01, 5.85611382e01],
        [-4.55391586e-01, -1.50441468e00, -1.55771315e-01, 5.38278992e02],
        [-5.80523789e-01, -1.05197573e00, 3.67191911e-01, -2.97819424e01],
        [5.73778272e-01, 1.59788683e-01, -1.48970580e00, 1.27531958e03],
        [1.11698836e-01, 1.21285468e-01, 6.88516200e-01, 4.18981995e02],
        [1.52137506e00, 2.92977810e-01, 8.65576088e-01, 8.60692017e02],
        [1.24048388e00, -3.08112323e-01, -5.49546659e-01, -9.22118286e02],
        [-2.52979964e-01, 6.81935370e-01, -1.12578356e00, 6.32774902e02],
        [-1.51380730e00, -2.27079973e-01, -6.78672642e-02, 1.83751331e03],
        [-2.31746644e-01, -1.60609257e00, 1.34560025e00, 1.19627930e03],
        [-1.27414334e00, 1.17795646e00, 5.69600046e-01, -3.80899200e02],
        [4.97174084e-01, 6.67588532e-01, -5.34174085e-01, -4.83559021e02],
        [-2.52979964e-01, 6.81935370e-01, -1.12578356e00, 6.32774902e02],
        [1.13754988e-01, 8.71159434e-01, 3.66833478e-01, 3.18845963e00],
        [-5.81198931e-01, 1.97786129e00, -1.01269230e-01, 5.85611382e01],
        [4.97174084e-01, 6.67588532e-01, -5.34174085e-01, -4.83559021e02],
        [1.99938583e00, 3.83286715e-01, -1.92954645e-01, -8.14227661e02],
        [9.20919299e-01, 2.57733852e-01, 1.36914551e00, -1.77568140e03],
        [1.52137506e00, 2.92977810e-01, 8.65576088e-01, 8.60692017e02],
        [9.40356791e-01, 5.40406667e-02, 1.12108433e00, 2.30118698e02],
        [-1.29636335e00, 7.51558661e-01, 5.58683097e-01, -4.26068359e02],
        [-2.31746644e-01, -1.60609257e00, 1.34560025e00, 1.19627930e03],
        [1.59013891e00, -1.04918206e00, -1.19865239e-02, 1.47602271e03],
        [2.58102447e-01, -4.47091013e-01, 1.18508446e00, 1.12133765e03],
    ],
    dtype=np.float32,
)
_DUPLICATES_Y = np.array(
    [0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1]
)


def test_a_fit_with_duplicated_free_rows_of_both_labels_is_the_optimum():
    from flexpoison.engine import dual
    from flexpoison.models import kernel as kernel_models

    x_star = [0.21525520856181782, 0.20617200608054798, 0.21812863300244015, 114.00121206442515]
    estimator = SVC(kernel="rbf", C=1e5, gamma=2.0)
    goal = Integrity(target="predict:1@" + ",".join(repr(v) for v in x_star))
    result = FlexiblePoisoning(
        estimator, goal=goal, alpha=0.0, step="lbfgs", n_points=2, max_iter=1, random_state=187
    ).generate(_DUPLICATES_X, _DUPLICATES_Y)
    rows = np.vstack([_DUPLICATES_X, result.X_poison]).astype(np.float64)
    labels = np.concatenate([_DUPLICATES_Y, result.y_poison])
    t = np.where(labels == 1, 1.0, -1.0)
    kernel, C, _ = kernel_models.kernel_of(estimator, rows.shape[1])
    cold = dual.fit(kernel, rows, t, C, solve=kernel_models.libsvm_fit)
    f = cold.decision(kernel, np.array([x_star]))
    assert np.abs(result.theta_poisoned - f).max() <= 1e-6 * max(1.0, float(np.abs(f).max()))


@pytest.mark.parametrize(
    "estimator, alpha, trade_off, scale",
    [
        (SVC(kernel="linear", C=1.0), 0.0, "share", LINEAR_STOP_SCALE),
        (SVC(kernel="linear", C=1.0), 0.5, "share", LINEAR_STOP_SCALE),
        (SVC(kernel="linear", C=1.0), 0.5, "paper", 1.0),  # the paper's W keeps tol
        (RBF, 0.0, "share", 1.0),
    ],
)
def test_a_linear_svc_effect_search_stops_at_its_scaled_tolerance(
    estimator, alpha, trade_off, scale, monkeypatch
):
    """The effect search's relative stop test runs at tol × LINEAR_STOP_SCALE for the
    linear kernel only; the paper's W (absolute floor 1) and the other kernels keep tol,
    and the descents do stop by it (not only at max_iter)."""
    from flexpoison.attack import descent

    tols, stops = [], []
    init, result = descent.Descender.__init__, descent.Descender.result

    def spy_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        tols.append(self.tol)

    def spy_result(self, max_iter):
        out = result(self, max_iter)
        stops.append(out.stop)
        return out

    monkeypatch.setattr(descent.Descender, "__init__", spy_init)
    monkeypatch.setattr(descent.Descender, "result", spy_result)
    FlexiblePoisoning(
        estimator,
        goal=LossAvailability(),
        alpha=alpha,
        trade_off=trade_off,
        n_points=2,
        tol=1e-6,
        random_state=0,
    ).generate(X, Y)
    assert tols and set(tols) == {1e-6 * scale}
    assert "tolerance" in stops

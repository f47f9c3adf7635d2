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

from conftest import make_classification
from flexpoison import (
    Availability,
    FlexiblePoisoning,
    Integrity,
    InvalidInputError,
    LossAvailability,
    UnsupportedEstimatorError,
    models,
)
from flexpoison.cli import main
from flexpoison.experiments import Experiment, split_data

X, Y = make_classification(n=80, d=4, seed=3)
RBF = SVC(kernel="rbf", C=1.0, gamma=0.3)


def test_loss_availability_beats_the_clean_model():
    """Loss availability on an RBF SVC raises the hinge loss (progress > 0)."""
    result = FlexiblePoisoning(RBF, goal=LossAvailability(), alpha=0.0,
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
        FlexiblePoisoning(RBF, goal=goal, n_points=1).generate(X, Y)


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


def test_a_pipeline_is_refused_by_name():
    with pytest.raises(UnsupportedEstimatorError, match="^Pipeline: SVC is supported alone"):
        FlexiblePoisoning(make_pipeline(StandardScaler(), RBF), goal=LossAvailability(),
                          n_points=1).generate(X, Y)


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
    fitted = SVC(**RBF.get_params()).fit(*experiment.with_poison(result.X_poison,
                                                                 result.y_poison))
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
    done = CliRunner().invoke(main, ["attack", "--data", str(csv_file), "--target-column",
                                     "label", "--model", "svc", "--n-points", "2",
                                     "--max-iter", "5", "--starts", "1", "--out", str(out),
                                     "--quiet"])
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["goal"] == "loss-availability"
    assert len(summary["theta_names"]) == len(summary["theta_poisoned"]) == summary["n_train"]
    assert summary["theta_names"][0] == "f(row 0)"


@pytest.mark.parametrize("args, message", [
    (["--goal", "availability"], "--model svc: goal availability measures the parameter"),
    (["--goal", "integrity"], "--model svc: goal integrity against SVC needs a target"),
    (["--goal", "integrity", "--target", "negate"], "needs a target 'predict:"),
    (["--no-intercept"], "--no-intercept does not apply to --model svc"),
])
def test_the_attack_command_refuses_theta_goals_with_one_error(csv_file, tmp_path, args,
                                                                message):
    done = CliRunner().invoke(main, ["attack", "--data", str(csv_file), "--target-column",
                                     "label", "--model", "svc", "--n-points", "2",
                                     "--out", str(tmp_path / "o"), *args])
    assert done.exit_code == 2 and message in done.output, done.output


def test_the_frontier_runs_svc_with_the_hinge_loss_filter():
    from flexpoison.data import Dataset
    from flexpoison.experiments import frontier as fr

    data = Dataset("two_blobs", X.astype(np.float64), Y.astype(np.int64), ("a", "b", "c", "d"),
                   "label", "classification", "synthetic, for tests")
    result = fr.run_frontier(data, model="svc", rate=0.05, alphas=(0.5,), baselines=(),
                             sanitizers=["loss"], seed=0, max_iter=5, starts=1,
                             progress=False)
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
            f"skip_incompatible = {str(skip).lower()}\n")
        return load_sweep(path)

    grid = sweep(True)
    assert [(r.settings["model"], r.settings["goal"]) for r in grid.runs] == [
        ("svc", "loss-availability"), ("logistic", "loss-availability"),
        ("logistic", "availability")]
    assert grid.skipped == ("svc × availability",)
    with pytest.raises(SweepFileError, match="model 'svc': goal availability measures"):
        sweep(False)


def test_the_loss_sanitizer_scores_rows_by_the_hinge_loss():
    from flexpoison.defences.model_based import _row_losses

    fitted = SVC(**RBF.get_params()).fit(X, Y)
    s = np.where(Y == fitted.classes_[1], 1.0, -1.0)
    hinge = np.maximum(0.0, 1.0 - s * fitted.decision_function(X))
    assert np.allclose(_row_losses(fitted, X, Y, "classification").ravel(), hinge)

"""The paper's experiment pipeline on small runs: splits, metrics, claims, report files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from flexpoison.data import load_dataset
from flexpoison.experiments.paper import (
    judge_claims,
    paper_attack,
    run_dataset,
    split_dataset,
    victim_for,
)


@pytest.fixture(scope="module")
def iris_run():
    return run_dataset(load_dataset("iris"), attack=paper_attack(max_rate=0.1, max_iter=10))


def test_split_is_70_30_standardised_on_training(iris_run):
    split = iris_run.split
    assert split.X_train.shape[0] == 105 and split.X_test.shape[0] == 45
    assert np.allclose(split.X_train.mean(0), 0, atol=1e-12)
    assert np.allclose(split.X_train.std(0), 1)
    again = split_dataset(load_dataset("iris"))
    assert np.array_equal(again.X_train, split.X_train)


def test_victims_are_the_papers_learners():
    assert isinstance(victim_for(load_dataset("iris")), LogisticRegression)
    X = np.random.default_rng(0).normal(size=(20, 2))
    from flexpoison.data import Dataset

    reg = Dataset("toy", X, X[:, 0].copy(), ("a", "b"), "y", "regression", "toy")
    assert isinstance(victim_for(reg), Ridge)


def test_metric_from_theta_equals_sklearn_predictions(iris_run):
    split = iris_run.split
    for r in iris_run.runs.values():
        res = r.result
        est = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(
            np.vstack([split.X_train, res.X_poison]), np.append(split.y_train, res.y_poison)
        )
        assert r.test_metric[-1] == pytest.approx(est.score(split.X_test, split.y_test))
        assert r.sklearn_check <= 1e-6  # θ_p vs a tight scikit-learn refit
        assert r.rates[-1] == pytest.approx(res.n_points / 105)
        assert r.effect[0] == res.effect_clean and r.effect.size == res.n_points + 1
        est0 = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(
            split.X_train, split.y_train
        )
        assert r.test_metric[0] == pytest.approx(est0.score(split.X_test, split.y_test))


def test_claims_cover_each_alpha_and_the_comparisons(iris_run):
    keys = [c.key for c in iris_run.claims]
    assert keys == [
        "W-decreases@0.5",
        "E-decreases@0.5",
        "W-decreases@0",
        "E-decreases@0",
        "alpha0-lower-E",
        "alpha05-lower-C",
    ]
    assert all(isinstance(c.supported, bool) and c.evidence for c in iris_run.claims)
    assert judge_claims(iris_run) == iris_run.claims


def test_claims_are_judged_from_the_numbers(iris_run):
    """Swap α's results: the comparison claims must flip, so they are not constants."""
    from dataclasses import replace

    swapped = replace(iris_run, runs={0.5: iris_run.runs[0.0], 0.0: iris_run.runs[0.5]}, claims=[])
    original = {c.key: c.supported for c in iris_run.claims}
    flipped = {c.key: c.supported for c in judge_claims(swapped)}
    assert original["alpha05-lower-C"] and not flipped["alpha05-lower-C"]
    assert original["alpha0-lower-E"] and not flipped["alpha0-lower-E"]


def test_w_claim_fails_when_w_rises(iris_run):
    from dataclasses import replace

    runs = {}
    for alpha, r in iris_run.runs.items():
        rising = [np.array([1.0, 2.0, 3.0]) for _ in r.result.W_history]
        runs[alpha] = replace(r, result=replace(r.result, W_history=rising))
    alone = replace(iris_run, runs=runs, other_rule=None)  # no paper-rule twin to judge on
    claims = {c.key: c.supported for c in judge_claims(alone)}
    assert not claims["W-decreases@0.5"] and not claims["W-decreases@0"]


def test_w_claim_is_judged_under_the_papers_step_rule(iris_run):
    """Under backtracking W cannot rise, so the claim is judged on the twin run with
    the paper's s = 1/i; the headline counts the claims under both rules."""
    from flexpoison.experiments.paper import claims_by_rule

    assert iris_run.step == "backtracking" and iris_run.other_rule.step == "paper"
    for c in iris_run.claims:
        if c.key.startswith("W-decreases"):
            assert "step rule paper" in c.evidence
    headline = claims_by_rule([iris_run])
    assert set(headline["supported_by_rule"]) == {"backtracking", "paper"}
    assert headline["supported_by_rule"]["paper"]["total"] == len(iris_run.claims)


def test_report_files(iris_run, tmp_path):
    from flexpoison.reporting.paper import write_reproduction

    out = tmp_path / "repro"
    report = write_reproduction([iris_run], out, summary={"settings": {"quick": True}})
    assert report == out / "report.html"
    html = report.read_text()
    assert html.count("<img") == 5  # 2 α × (a, b) + the test metric figure
    assert "data:image/png;base64," in html
    for alpha in ("0.5", "0"):
        base = out / "iris" / f"alpha-{alpha}"
        for name in ("panel_a_W.png", "panel_b_effect.png"):
            assert (base / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        lines = (base / "effect_vs_rate.csv").read_text().splitlines()
        assert lines[0].startswith("m,rate,E_I,C,iterations")
        assert len(lines) == iris_run.runs[float(alpha)].result.n_points + 2
        poison = (base / "poison.csv").read_text().splitlines()
        assert (
            poison[0] == "sepal length (cm),sepal width (cm),petal length (cm),"
            "petal width (cm),species"
        )
        assert len(poison) == 11
    summary = json.loads((out / "summary.json").read_text())
    assert summary["datasets"]["iris"]["alphas"]["0.5"]["n_points"] == 10
    assert not list(tmp_path.glob(".*partial"))


def test_reproduce_command_end_to_end(tmp_path):
    from click.testing import CliRunner

    from flexpoison.cli import main
    from flexpoison.experiments.record import LEGACY, RECORD_VERSION

    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "reproduce",
            "--quick",
            "--datasets",
            "iris",
            "--max-rate",
            "0.05",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the paper's claims supported: " in result.output
    assert "under the backtracking step rule" in result.output
    assert "under the paper step rule" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["quick"] is True and summary["settings"]["max_iter"] == 20
    assert summary["wall_time_seconds"] > 0 and "iris" in summary["timings_seconds"]
    assert {"flexpoison", "numpy", "scikit-learn"} <= summary["versions"].keys()
    assert (out / "claims.csv").read_text().count("\n") == 7
    for record in summary["datasets"]["iris"]["alphas"].values():  # the result record
        assert record["record_version"] == RECORD_VERSION
        assert not record.keys() & LEGACY["reproduce"].keys()
        assert record["effect_final"] < record["effect_clean"]


def test_reproduce_refuses_unknown_dataset(tmp_path):
    from click.testing import CliRunner

    from flexpoison.cli import main

    result = CliRunner().invoke(
        main, ["reproduce", "--datasets", "mnist", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0 and "unknown data set" in result.output
    assert not (tmp_path / "o").exists()


def test_report_names_the_victims_hyper_parameters_even_at_defaults():
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    from flexpoison.reporting.paper import describe_estimator

    assert describe_estimator(Ridge()) == "Ridge(alpha=1)"
    assert describe_estimator(LogisticRegression(C=0.5)) == "LogisticRegression(C=0.5)"
    assert (
        describe_estimator(LinearRegression(fit_intercept=False))
        == "LinearRegression(fit_intercept=False)"
    )


def test_the_report_shows_the_attacks_not_to_trust(iris_run, tmp_path):
    from dataclasses import replace

    from flexpoison.reporting.paper import write_reproduction

    runs = {
        a: replace(r, result=replace(r.result, warnings=("the attack barely moved E_I",)))
        if a == 0.5
        else r
        for a, r in iris_run.runs.items()
    }
    warned = replace(iris_run, runs=runs)
    html = write_reproduction([warned], tmp_path / "w", summary={}).read_text()
    assert "<div class='warning'>" in html
    assert "iris, α = 0.5, backtracking step: the attack barely moved E_I" in html
    clean = replace(
        iris_run,
        runs={
            a: replace(r, result=replace(r.result, warnings=())) for a, r in iris_run.runs.items()
        },
        other_rule=None,
    )
    assert (
        "<div class='warning'>"
        not in write_reproduction([clean], tmp_path / "c", summary={}).read_text()
    )


@pytest.mark.parametrize("by_env", [True, False], ids=["environment", "option"])
def test_reproduce_names_every_missing_file_and_where_the_folder_came_from(
    tmp_path, monkeypatch, by_env
):
    """Both UCI files missing: one error line names both, where the folder came from
    (the environment variable or --data-dir), where each file comes from, and the data
    sets that need no file; nothing is written."""
    from click.testing import CliRunner

    from flexpoison.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["reproduce", "--quick", "--out", str(tmp_path / "out")]
    if by_env:
        monkeypatch.setenv("FLEXPOISON_DATA_DIR", str(empty))
    else:
        monkeypatch.delenv("FLEXPOISON_DATA_DIR", raising=False)
        args += ["--data-dir", str(empty)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.count("\n") == 0 and message.startswith("Error: ")
    origin = "$FLEXPOISON_DATA_DIR" if by_env else "--data-dir"
    # issue 26, item 10: the folder and its origin once, then every missing file
    assert message.startswith(
        f"Error: 2 data files not found in {empty} (the folder comes "
        f"from {origin}): ccpp/Folds5x2_pp.csv (Combined Cycle"
    )
    assert "; airquality/AirQualityUCI.csv (Air Quality: " in message
    assert message.count(str(empty)) == 1 and "data_dir=" not in message
    assert "air+quality.zip" in message and "power_plant_operation" in message
    assert "--datasets iris,breast_cancer needs no files" in message
    assert not (tmp_path / "out").exists()

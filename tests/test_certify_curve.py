"""The points-needed view (flexpoison.certify.points_curve, flexpoison certify; issue 23).

* The default attack's curve is read off one M-row run: its first m rows are the m-row
  attack with the same seed (Algorithm 1, one pass), which the curve relies on. With
  passes > 1 it is one run per m instead, each that m-row attack's own result.
* The curve agrees with points_needed (θ_t's bound) and with the online attack
  (model_targeted); every certified m bounds its own rows (lower_bound(θ_m) ≤ m); the
  subpopulation's error is scikit-learn's own misclassification share.
* The command writes both files, fields as described; bad input is one clear error and
  leaves nothing behind; the figure renders every case (unreachable θ_t included).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import make_classification, make_regression, tight
from flexpoison import FlexiblePoisoning, Integrity, models, points_needed
from flexpoison.certify import model_targeted, points_curve
from flexpoison.certify.curve import ATTACKS
from flexpoison.cli import main
from flexpoison.errors import InvalidInputError
from flexpoison.reporting.certify import OUTPUT_FILES, plot_points_needed

SUBPOPULATION = "flip-subpopulation:class=1,cluster=0/3"


def _standardised(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n=60, d=3, seed=1)
    return _standardised(X), y


@pytest.fixture(scope="module")
def curve(blobs):
    X, y = blobs
    return points_curve(models.get("logistic").make(), X, y, SUBPOPULATION, 6, max_iter=20)


@pytest.mark.parametrize("name", ["logistic", "ridge"])
def test_the_first_m_rows_of_a_run_are_the_m_row_attack(name):
    spec = models.get(name)
    X, y = make_regression(n=40, d=3) if spec.task == "regression" else make_classification(40, 3)
    target = None if spec.task == "regression" else "negate"

    def run(m):
        attack = FlexiblePoisoning(
            spec.make(), goal=Integrity(target), alpha=0.0, n_points=m, random_state=3
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return attack.generate(X, y)

    short, long = run(3), run(5)
    np.testing.assert_array_equal(short.X_poison, long.X_poison[:3])
    np.testing.assert_array_equal(short.y_poison, long.y_poison[:3])
    np.testing.assert_array_equal(short.theta_history, long.theta_history[:3])


def test_the_curve_agrees_with_the_bound_and_the_online_attack(blobs, curve):
    X, y = blobs
    estimator = models.get("logistic").make()
    certificate = points_needed(estimator, X, y, SUBPOPULATION, max_iter=20)
    assert curve.lower_bound == pytest.approx(certificate.lower_bound, rel=1e-9)
    np.testing.assert_array_equal(curve.certificate.theta_target, certificate.theta_target)
    online = model_targeted(estimator, X, y, certificate.theta_target, 6)
    targeted = curve.attack("model-targeted")
    np.testing.assert_allclose(targeted.distance, online.distance, rtol=1e-6, atol=1e-9)
    assert [a.name for a in curve.attacks] == list(ATTACKS)


def test_every_certified_m_bounds_its_own_rows(curve):
    for attack in curve.attacks:
        assert attack.n_points == 6
        np.testing.assert_array_equal(attack.certified_m, [1, 2, 4, 6])  # 1, 2, 4 … and M
        assert np.all(attack.lower_bound > 0)
        assert np.all(attack.lower_bound <= attack.certified_m * (1 + 1e-6))
        np.testing.assert_allclose(attack.efficiency, attack.lower_bound / attack.certified_m)
        np.testing.assert_allclose(
            attack.distance**2 * curve.effect_clean, attack.effect, rtol=1e-12
        )
        within = np.flatnonzero(attack.distance <= curve.epsilon)
        assert attack.reached_at == (int(within[0]) + 1 if within.size else None)


def test_the_subpopulation_error_is_sklearns_misclassification_share(blobs, curve):
    X, y = blobs
    from flexpoison.attack.subpopulation import Subpopulation

    mask = Subpopulation.parse(SUBPOPULATION).rows(X, y, None, ["0", "1"])
    assert curve.subpopulation_rows == mask.sum() > 0
    flipped = np.where(mask, 1 - y, y)
    fitted = tight(models.get("logistic").make()).fit(X, flipped)
    share = np.mean(fitted.predict(X[mask]) != y[mask])
    assert curve.subpopulation_error_target == pytest.approx(share)
    assert curve.subpopulation_error_clean == pytest.approx(
        np.mean(tight(models.get("logistic").make()).fit(X, y).predict(X[mask]) != y[mask])
    )
    for attack in curve.attacks:
        assert attack.subpopulation_error is not None
        assert attack.subpopulation_error.shape == (6,)
        assert np.all((0 <= attack.subpopulation_error) & (attack.subpopulation_error <= 1))


def test_the_curve_is_plain_json(curve):
    described = json.loads(json.dumps(curve.describe(), allow_nan=False))
    assert described["lower_bound"] == pytest.approx(curve.lower_bound)
    assert [a["m"] for a in described["attacks"]] == [list(range(1, 7))] * 2
    unreachable = replace(curve, certificate=replace(curve.certificate, lower_bound=math.inf))
    assert unreachable.describe()["lower_bound"] == "inf"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_points": 0}, "n_points: must be"),
        ({"epsilon": -0.1}, "epsilon:"),
        ({"certify_at": [0, 2]}, "certify_at: must be"),
        ({"certify_at": [2, 9]}, "certify_at: [9] above n_points = 4"),
        ({"certify_at": 3}, "certify_at: expected a sequence of integers"),
        ({"frozen_features": [0]}, "frozen features are not supported"),
        ({"passes": 0}, "passes: must be"),
        ({"passes": 1.5}, "passes: expected a positive integer"),
    ],
)
def test_bad_input_is_one_clear_error(blobs, change, message):
    X, y = blobs
    arguments = {"n_points": 4, **change}
    n_points = arguments.pop("n_points")
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        points_curve(models.get("logistic").make(), X, y, "negate", n_points, **arguments)


@pytest.fixture(scope="module")
def passes_curve(blobs):
    X, y = blobs
    estimator = models.get("logistic").make()
    return points_curve(estimator, X, y, SUBPOPULATION, 5, passes=2, max_iter=5, random_state=4)


def test_with_passes_each_m_is_a_run_of_its_own(blobs, passes_curve):
    """passes = 2: the default attack at m = 1, 2, 4 and M = 5, each the m-row 2-pass
    attack's own result; the model-targeted one still every m of one run."""
    from flexpoison.attack.subpopulation import Subpopulation

    X, y = blobs
    mask = Subpopulation.parse(SUBPOPULATION).rows(X, y, None, ["0", "1"])
    flex = passes_curve.attack("flexpoison")
    np.testing.assert_array_equal(flex.m, [1, 2, 4, 5])
    assert flex.passes == 2 and flex.n_points == 5
    assert flex.subpopulation_error is not None
    for k, m in enumerate(flex.m):
        attack = FlexiblePoisoning(
            models.get("logistic").make(),
            goal=Integrity(SUBPOPULATION),
            alpha=0.0,
            passes=2,
            n_points=int(m),
            random_state=4,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            direct = attack.generate(X, y)
        assert flex.effect[k] == direct.effect_final
        rows = np.vstack([X, direct.X_poison]), np.concatenate([y, direct.y_poison])
        refit = tight(models.get("logistic").make()).fit(*rows)  # scikit-learn's own
        share = np.mean(refit.predict(X[mask]) != y[mask])
        assert flex.subpopulation_error[k] == pytest.approx(share)
    np.testing.assert_array_equal(flex.certified_m, [1, 2, 4, 5])
    assert np.all((0 < flex.lower_bound) & (flex.lower_bound <= flex.certified_m * (1 + 1e-6)))
    targeted = passes_curve.attack("model-targeted")
    np.testing.assert_array_equal(targeted.m, [1, 2, 3, 4, 5])
    assert targeted.passes == 1
    described = json.loads(json.dumps(passes_curve.describe(), allow_nan=False))
    assert [(a["m"], a["passes"]) for a in described["attacks"]] == [
        ([1, 2, 4, 5], 2),
        ([1, 2, 3, 4, 5], 1),
    ]


def test_with_passes_reached_at_is_the_smallest_run_m_within_epsilon(blobs, passes_curve):
    X, y = blobs
    flex = passes_curve.attack("flexpoison")
    epsilon = float(flex.distance[2]) * (1 + 1e-9)  # m = 4's run is within it
    estimator = models.get("logistic").make()
    curve = points_curve(
        estimator, X, y, SUBPOPULATION, 5, epsilon=epsilon, passes=2, max_iter=0, random_state=4
    )
    again = curve.attack("flexpoison")
    np.testing.assert_array_equal(again.effect, flex.effect)  # the same runs
    expected = min(m for m, d in zip(flex.m, flex.distance) if d <= epsilon)
    assert again.reached_at == expected <= 4


def _legend_texts(figure):
    return [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_the_figure_renders_every_case(curve, tmp_path):
    figure = plot_points_needed(curve, title="a $title$")
    assert len(figure.axes) == 3  # E_I, the subpopulation's error, the efficiency
    assert any("fewer than" in text for text in _legend_texts(figure))
    figure.savefig(tmp_path / "subpopulation.png")
    plain = replace(curve, subpopulation=None)
    assert len(plot_points_needed(plain).axes) == 2
    unreachable = replace(plain, certificate=replace(plain.certificate, lower_bound=math.inf))
    figure = plot_points_needed(unreachable)
    assert any("no number of rows" in text for text in _legend_texts(figure))
    figure.savefig(tmp_path / "unreachable.png")
    assert (tmp_path / "unreachable.png").stat().st_size > 0


def test_the_figure_draws_a_run_per_m_as_markers(passes_curve):
    figure = plot_points_needed(passes_curve)
    assert any("2 passes, a run per m shown" in text for text in _legend_texts(figure))
    lines = [line for line in figure.axes[0].lines if line.get_linestyle() == "None"]
    assert [list(line.get_xdata()) for line in lines] == [[0, 1, 2, 4, 5]]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    X, y = make_classification(n=60, d=3, seed=2)
    path = tmp_path_factory.mktemp("data") / "blobs.csv"
    labels = np.where(y == 1, "bad", "good")
    pd.DataFrame(X, columns=["age", "dose", "weight"]).assign(label=labels).to_csv(
        path, index=False
    )
    return path


def _certify(csv_file, out, *more):
    command = [
        "certify", "--data", str(csv_file), "--target-column", "label", "--model", "logistic",
        "--n-points", "4", "--out", str(out), *more,
    ]  # fmt: skip
    return CliRunner().invoke(main, command)


def test_the_command_writes_the_curve_and_the_figure(csv_file, tmp_path):
    out = tmp_path / "run"
    table = pd.read_csv(csv_file)
    median = float(table.dose[table.label == "bad"].median())  # in the file's units
    target = f"flip-subpopulation:class=bad,dose>{median!r}"
    result = _certify(csv_file, out, "--target", target, "--standardize", "--certify-at", "1,4")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    summary = json.loads((out / "points_needed.json").read_text())
    assert summary["lower_bound"] > 0 and summary["epsilon"] == 0.1
    assert summary["feature_names"] == ["age", "dose", "weight"]
    assert summary["subpopulation_rows"] > 0
    for attack in summary["attacks"]:
        assert attack["m"] == [1, 2, 3, 4] and attack["certified_m"] == [1, 4]
        assert all(0 < b <= m * (1 + 1e-6) for b, m in zip(attack["lower_bound"], [1, 4]))
    assert "certified: fewer than" in result.output
    assert f"wrote {', '.join(OUTPUT_FILES)} to {out}" in result.output


def test_the_command_runs_each_m_with_passes(csv_file, tmp_path):
    out = tmp_path / "run"
    result = _certify(csv_file, out, "--passes", "2", "--certify-at", "2", "--standardize")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    summary = json.loads((out / "points_needed.json").read_text())
    assert summary["settings"]["passes"] == 2
    flex, targeted = summary["attacks"]
    assert (flex["m"], flex["passes"], flex["certified_m"]) == ([2, 4], 2, [2])
    assert (targeted["m"], targeted["passes"]) == ([1, 2, 3, 4], 1)
    assert "flexpoison: " in result.output and "(2 passes, run at m = 2, 4)" in result.output
    assert "flexpoison attack: 4 rows (2 passes; run 2 of 2)" in result.output


@pytest.mark.parametrize(
    "more, message",
    [
        (["--certify-at", "2,5"], "--certify-at: 5 is above --n-points 4"),
        (["--certify-at", "two"], "expected comma-separated positive integers"),
        (["--target", "predict:1@0,0,0"], "a 'predict:' target is not a model theta_t"),
        (["--frozen", "age"], "--frozen: the model-targeted attack's rows range over the box"),
        (["--target", "flip-subpopulation:class=ugly"], "is not among the labels"),
        (["--model", "svc"], "a kernel machine has no parameter vector theta"),
        (["--passes", "0"], "Invalid value for '--passes': 0 is not in the range x>=1"),
        (["--passes", "two"], "Invalid value for '--passes': 'two' is not a valid integer"),
    ],
)
def test_bad_options_are_one_clear_error_and_write_nothing(csv_file, tmp_path, more, message):
    out = tmp_path / "run"
    result = _certify(csv_file, out, *more)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_failed_write_leaves_no_file(csv_file, tmp_path, monkeypatch):
    from flexpoison.reporting import files

    def fail(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_json", fail)
    out = tmp_path / "run"
    result = _certify(csv_file, out, "--certify-at", "1")
    assert result.exit_code == 1 and "cannot write the results" in result.output
    assert not out.exists()


def _model_targeted(csv_file, out, *more):
    command = [
        "attack", "--data", str(csv_file), "--target-column", "label", "--model", "logistic",
        "--goal", "integrity", "--strategy", "model-targeted", "--out", str(out), *more,
    ]  # fmt: skip
    return CliRunner().invoke(main, command)


def test_attack_crafts_with_the_model_targeted_strategy(csv_file, tmp_path):
    """--strategy model-targeted: alpha 0 by default, the online rows until within
    --epsilon (the first m with ||θ_m − θ_t|| ≤ ε·||θ_0 − θ_t||), said and stored."""
    out = tmp_path / "run"
    more = ["--n-points", "40", "--epsilon", "0.5", "--standardize"]
    more += ["--target", "flip-subpopulation:class=bad,cluster=0/3"]
    result = _model_targeted(csv_file, out, *more)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["strategy"] == "model-targeted"
    assert summary["settings"]["alpha"] == 0.0 and summary["settings"]["epsilon"] == 0.5
    first, history = summary["effect_clean"], summary["effect_history"]
    share = math.sqrt(history[-1] / first)
    assert f"is {share:.3g} of the clean model's" in result.output
    assert summary["n_points"] < 40  # stopped at the first row within epsilon
    assert history[-1] <= 0.25 * first < min(history[:-1])
    assert f"within epsilon = 0.5 after {summary['n_points']} rows" in result.output
    assert len(pd.read_csv(out / "poison.csv")) == summary["n_points"]


@pytest.mark.parametrize(
    "more, message",
    [
        (["--alpha", "0.5"], "--strategy model-targeted: needs --alpha 0"),
        (["--passes", "2"], "--strategy model-targeted: needs --passes 1"),
        (["--frozen", "age"], "--strategy model-targeted: needs no --frozen columns"),
        (["--evade", "sphere"], "--strategy model-targeted: needs no --evade"),
        (["--target", "predict:1@0,0,0"], "needs --goal integrity with a model target"),
        (["--goal", "availability"], "needs --goal integrity with a model target"),
        (["--strategy", "flexpoison", "--epsilon", "0.1"], "--epsilon applies to --strategy"),
    ],
)
def test_attack_refuses_what_the_strategy_cannot_do(csv_file, tmp_path, more, message):
    out = tmp_path / "run"
    result = _model_targeted(csv_file, out, "--n-points", "3", *more)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_the_runs_of_a_view_warn_once_per_kind():
    """A view's runs at several m warn alike with other numbers: each kind once, in the
    largest run's words; a kind only a smaller run has is kept."""
    from types import SimpleNamespace

    from flexpoison.certify.curve import _each_kind

    def run(m, *messages):
        return SimpleNamespace(n_points=m, warnings=messages)

    results = [
        run(2, "1 of 2 points stopped at max_iter = 5", "worst 'px1' -3.5 < min 0", "only here"),
        run(4, "3 of 4 points stopped at max_iter = 5", "worst 'px7' -2.5 < min 0"),
    ]
    assert _each_kind(results) == (
        "3 of 4 points stopped at max_iter = 5",
        "worst 'px7' -2.5 < min 0",
        "only here",
    )
    assert _each_kind(results[:1]) == results[0].warnings  # one run: every message

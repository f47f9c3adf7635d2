"""The effect–concealment frontier: rows, the evaluation refit, files, CLI, report."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_classification, make_regression
from flexpoison.attack import GOALS, FlexiblePoisoning
from flexpoison.cli.frontier import frontier as frontier_command
from flexpoison.data import Dataset
from flexpoison.defences import SANITIZERS, ThreeSigma
from flexpoison.errors import InvalidInputError
from flexpoison.experiments import frontier as fr
from flexpoison.experiments.paper import split_dataset
from flexpoison.experiments.record import LEGACY, RECORD_VERSION
from flexpoison.reporting import frontier as frontier_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALPHAS = (0.0, 0.5, 1.0)
FAST = {"attack": FlexiblePoisoning(None, max_iter=8, tol=1e-4, random_state=0)}


def regression_set(n=60, seed=0) -> Dataset:
    X, y = make_regression(n=n, d=3, seed=seed)
    return Dataset(
        "synthetic_regression",
        X.astype(np.float64),
        y.astype(np.float64),
        ("a", "b", "c"),
        "y",
        "regression",
        "synthetic, for tests",
    )


def classification_set(n=80, k=2, seed=0) -> Dataset:
    X, y = make_classification(n=n, d=3, k=k, seed=seed)
    return Dataset(
        f"synthetic_{k}_classes",
        X.astype(np.float64),
        y.astype(np.int64),
        ("a", "b", "c"),
        "label",
        "classification",
        "synthetic, for tests",
    )


@pytest.fixture(scope="module")
def regression_result():
    return fr.run_frontier(
        regression_set(), model="ridge", goal="integrity", rate=0.1, alphas=ALPHAS, seed=0, **FAST
    )


@pytest.fixture(scope="module")
def classification_result():
    return fr.run_frontier(
        classification_set(),
        model="logistic",
        goal="availability",
        rate=0.1,
        alphas=ALPHAS,
        seed=0,
        **FAST,
    )


# ------------------------------------------------------------------------ rows


@pytest.mark.parametrize("which", ["regression", "classification"])
def test_a_row_for_every_attack_and_sanitizer(which, regression_result, classification_result):
    result = regression_result if which == "regression" else classification_result
    s = result.settings
    expected_sanitizers = [n for n in SANITIZERS if which == "regression" or n != "trim"]
    assert s.sanitizers == ("none", *expected_sanitizers)
    attacks = (
        [("clean", None)] + [("flexible", a) for a in ALPHAS] + [(b, None) for b in fr.BASELINES]
    )
    assert [(p.attack, p.alpha) for p in result.attacks] == attacks[1:]
    assert len(result.rows) == len(attacks) * len(s.sanitizers)
    for attack, alpha in attacks:
        for sanitizer in s.sanitizers:
            row = result.row(attack, sanitizer, alpha)
            assert row.n_poison == (0 if attack == "clean" else s.n_poison)
            if attack == "clean":
                assert row.recall is None
            else:
                assert 0.0 <= row.recall <= 1.0
                assert row.recall == row.poison_removed / row.n_poison
            assert 0.0 <= row.clean_removed_share <= 1.0
            assert np.isfinite(row.effect) and np.isfinite(row.test_metric)
            if sanitizer == "none":
                assert row.poison_removed == 0 and row.clean_removed == 0
                assert row.recall in (None, 0.0)
    assert s.n_poison == round(0.1 * s.n_clean)
    for p in result.attacks:
        assert p.X_poison.shape == (s.n_poison, s.n_features)


def test_calibrated_sanitizers_remove_about_their_share_of_clean_rows(regression_result):
    n = regression_result.settings.n_clean
    for name in ("sphere", "slab", "isolation_forest", "loss"):
        row = regression_result.row("clean", name)
        # the (1 − q) quantile of the calibration rows, applied to those same rows
        assert row.clean_removed == pytest.approx(0.05 * n, abs=1.5)
    assert regression_result.row("clean", "trim").clean_removed == 0  # keeps n rows


@pytest.mark.parametrize("which", ["regression", "classification"])
def test_damage_left_is_given_only_where_the_attack_outdid_the_sanitizer_alone(
    which, regression_result, classification_result
):
    """damage_left is (E_s − E_clean) / (E_none − E_clean) where the attack moved E
    further than the sanitizer alone moves it on clean rows, and None elsewhere."""
    result = regression_result if which == "regression" else classification_result
    e0 = result.effect_clean
    sign = 1.0 if result.settings.higher_is_damage else -1.0
    given = withheld = 0
    for p in result.attacks:
        damage = sign * (result.row(p.attack, "none", p.alpha).effect - e0)
        for name in result.settings.sanitizers:
            row = result.row(p.attack, name, p.alpha)
            alone = abs(result.row("clean", name).effect - e0)
            if damage > alone and damage > 1e-12 * max(1.0, abs(e0)):
                given += 1
                none = result.row(p.attack, "none", p.alpha).effect
                assert row.damage_left == pytest.approx((row.effect - e0) / (none - e0))
            else:
                withheld += 1
                assert row.damage_left is None, (p.label, name)
    assert given and withheld  # both cases occur here


def test_within_noise_withholds_the_ratio_on_a_sanitizer_that_moves_e_more():
    def row(name, effect, left):
        return fr.FrontierRow(
            name, "measured", 5, 0, 0.0, 0, 0.0, effect, 1.0, left, attack="flexible", alpha=0.5
        )

    rows = [row("none", 0.9, 1.0), row("a", 0.95, 1.5), row("b", 0.92, 0.2)]
    shift = {"none": 0.0, "a": 0.2, "b": 0.05}
    kept = fr.within_noise(rows, 1.0, shift, higher_is_damage=False)  # E_I: lower is damage
    assert [r.damage_left for r in kept] == [1.0, None, 0.2]
    # the same move of E the wrong way is no damage: no share of it is left
    wrong = fr.within_noise(rows, 1.0, shift, higher_is_damage=True)
    assert [r.damage_left for r in wrong] == [None, None, None]


@pytest.mark.parametrize("which", ["regression", "classification"])
def test_no_sanitizer_reproduces_the_engines_own_effect(
    which, regression_result, classification_result
):
    """The evaluation refit (scikit-learn) gives the engine's final E: same θ_p."""
    result = regression_result if which == "regression" else classification_result
    for p in result.attacks:
        if p.effect_final is None:
            continue
        none = result.row(p.attack, "none", p.alpha)
        assert none.effect == pytest.approx(p.effect_final, rel=1e-5, abs=1e-9), p.label
        if p.alpha == 1.0 and none.damage_left is None:
            continue  # all concealment: the row that leaves θ where it is, no damage
        assert none.damage_left == pytest.approx(1.0), p.label


GOAL_CASES = {
    "ridge-integrity": (regression_set, "ridge", "integrity"),
    "lasso-availability": (regression_set, "lasso", "availability"),
    "linear-loss": (regression_set, "linear", "loss-availability"),
    "logistic-integrity": (classification_set, "logistic", "integrity"),
    "logistic-loss": (classification_set, "logistic", "loss-availability"),
    "multinomial-integrity": (lambda: classification_set(n=90, k=3), "logistic", "integrity"),
    "multinomial-loss": (lambda: classification_set(n=90, k=3), "logistic", "loss-availability"),
}


@pytest.mark.parametrize("case", GOAL_CASES)
def test_evaluation_matches_engine_for_every_goal_and_learner(case):
    make, model, goal = GOAL_CASES[case]
    result = fr.run_frontier(
        make(),
        model=model,
        goal=goal,
        rate=0.1,
        alphas=(0.0, 0.5),
        baselines=(),
        sanitizers=(),
        **FAST,
    )
    assert result.settings.sanitizers == ("none",)
    assert result.settings.effect_name == GOALS[goal].effect_name
    for p in result.attacks:
        row = result.row("flexible", "none", p.alpha)
        assert row.effect == pytest.approx(p.effect_final, rel=1e-5, abs=1e-9)
    if goal == "availability":
        assert result.effect_clean == pytest.approx(0.0, abs=1e-9)


def test_alpha_zero_beats_alpha_one_without_sanitizer(regression_result):
    e0 = regression_result.row("flexible", "none", 0.0).effect
    e1 = regression_result.row("flexible", "none", 1.0).effect
    assert e0 < regression_result.effect_clean and e0 < e1  # E_I: lower = more damage


def test_custom_sanitizer_objects_and_refusals():
    ds = regression_set()
    result = fr.run_frontier(
        ds,
        rate=0.1,
        alphas=(0.0,),
        baselines=("random_clone",),
        sanitizers=[ThreeSigma(k=None, clean_removal=0.1)],
        **FAST,
    )
    assert result.settings.sanitizers == ("none", "three_sigma")
    clean = result.row("clean", "three_sigma")
    assert clean.clean_removed == pytest.approx(0.1 * result.settings.n_clean, abs=1.5)
    bad = {
        "alphas": dict(alphas=(0.0, 1.5)),
        "goal": dict(goal="chaos"),
        "model": dict(model="logistic"),
        "rate": dict(rate=0.001),
        "baselines": dict(baselines=("nope",)),
        "sanitizers": dict(sanitizers=("trim", "trim")),
    }
    for field, kwargs in bad.items():
        with pytest.raises(InvalidInputError, match=f"^{field}:"):
            fr.run_frontier(ds, **{"alphas": (0.0,), **FAST, **kwargs})
    with pytest.raises(InvalidInputError, match="TRIM"):
        fr.run_frontier(
            classification_set(), model="logistic", alphas=(0.0,), sanitizers=("trim",), **FAST
        )


# ------------------------------------------------------------------------ files


def _files(out):
    return sorted(p.name for p in out.iterdir())


def test_written_files(regression_result, tmp_path):
    out = tmp_path / "results" / "frontier"
    written = frontier_files.write_frontier(regression_result, out)
    names = [n for n in regression_result.settings.sanitizers if n != "none"]
    poison = [
        frontier_files.poison_file_name(p) for p in regression_result.attacks if p.X_poison.shape[0]
    ]
    assert "poison_flexible_alpha0.5.csv" in poison and "poison_random_clone.csv" in poison
    expected = sorted(
        [
            "frontier.csv",
            "frontier.json",
            "frontier.html",
            "frontier_overview.png",
            *(f"frontier_{n}.png" for n in names),
            *poison,
        ]
    )
    assert _files(out) == expected
    assert sorted(p.name for p in written.files) == expected and written.report is None
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["frontier"]  # no stage
    for name in expected:
        if name.endswith(".png"):
            assert (out / name).read_bytes().startswith(PNG_MAGIC)
    with open(out / "frontier.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == frontier_files.CSV_COLUMNS
    assert len(rows) == len(regression_result.rows)
    first = regression_result.rows[0]
    assert rows[0]["attack"] == "clean" and rows[0]["recall"] == ""
    assert float(rows[0]["effect"]) == first.effect  # full precision
    summary = json.loads((out / "frontier.json").read_text())
    assert summary["settings"]["n_poison"] == regression_result.settings.n_poison
    assert len(summary["rows"]) == len(rows)
    assert [a["label"] for a in summary["attacks"]] == [p.label for p in regression_result.attacks]
    for record in [summary["clean"], *summary["attacks"]]:  # the result record
        assert record["record_version"] == RECORD_VERSION
        assert not record.keys() & LEGACY["frontier"].keys()
    assert summary["clean"]["effect_clean"] == regression_result.effect_clean
    assert [a["effect_final"] for a in summary["attacks"]] == [
        p.effect_final for p in regression_result.attacks
    ]
    _assert_balanced((out / "frontier.html").read_text())
    # the poison rows in the data set's units: standardised rows × σ + mean of the split
    split = split_dataset(regression_set(), seed=0)
    for point in regression_result.attacks:
        if not point.X_poison.shape[0]:
            continue
        with open(out / frontier_files.poison_file_name(point), newline="") as handle:
            table = list(csv.reader(handle))
        assert tuple(table[0]) == ("a", "b", "c", "y")
        values = np.array(table[1:], dtype=float)
        assert values.shape == (regression_result.settings.n_poison, 4)
        np.testing.assert_allclose(
            values[:, :3], split.scaler.inverse_transform(point.X_poison), rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(values[:, 3], point.y_poison, rtol=1e-12)


class _TagChecker(HTMLParser):
    VOID = {"img", "meta", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def _assert_balanced(text):
    checker = _TagChecker()
    checker.feed(text)
    assert checker.errors == [] and checker.stack == [], (checker.errors, checker.stack)


@pytest.fixture
def cheap_figures(monkeypatch):
    """Stub PNGs (drawing is tested once, in test_written_files; it takes seconds)."""

    def figures_for(result):
        names = [n for n in result.settings.sanitizers if n != "none"]
        return {f"frontier_{n}.png": PNG_MAGIC + b"stub" for n in [*names, "overview"]}

    monkeypatch.setattr(frontier_files, "figures_for", figures_for)


REPORT = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>r</title>"
    "</head><body><h1>Reproduction</h1><p>figures</p></body></html>"
)


def test_frontier_section_goes_into_an_existing_report(regression_result, tmp_path, cheap_figures):
    report = tmp_path / "report.html"
    report.write_text(REPORT)
    written = frontier_files.write_frontier(
        regression_result, tmp_path / "frontier", auto_report=True
    )  # ../report.html
    assert written.report == report
    text = report.read_text()
    assert text.startswith(REPORT[: REPORT.index("</body>")])
    assert text.endswith("</body></html>") and text.count("</body>") == 1
    assert text.index("<h2>Frontier:") < text.index("</body>")
    assert "data:image/png;base64," in text and "sphere" in text
    _assert_balanced(text)
    # a second run of the same frontier replaces its section instead of adding one
    frontier_files.write_frontier(regression_result, tmp_path / "frontier", auto_report=True)
    again = report.read_text()
    assert again.count("<h2>Frontier:") == 1 and len(again) == len(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frontier", "report.html"]
    # an explicit report elsewhere; no automatic one when the parent has none
    other = tmp_path / "elsewhere" / "r.html"
    other.parent.mkdir()
    other.write_text("<html><body><p>x</p></body></html>")
    assert (
        frontier_files.write_frontier(regression_result, tmp_path / "a" / "b", report=other).report
        == other
    )
    assert other.read_text().count("<h2>Frontier:") == 1
    _assert_balanced(other.read_text())
    with pytest.raises(InvalidInputError, match="^report:"):
        frontier_files.write_frontier(
            regression_result, tmp_path / "c", report=tmp_path / "no.html"
        )
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------ CLI


@pytest.fixture
def small_data(monkeypatch):
    """'iris' on the command line, served by a small synthetic set (fast)."""
    monkeypatch.setattr(fr, "load_dataset", lambda name, data_dir=None: classification_set(n=70))


def test_cli_runs_and_writes(small_data, cheap_figures, tmp_path):
    (tmp_path / "report.html").write_text(REPORT)
    out = tmp_path / "frontier"
    result = CliRunner().invoke(
        frontier_command,
        [
            "--dataset",
            "iris",
            "--model",
            "logistic",
            "--goal",
            "loss-availability",
            "--rate",
            "0.1",
            "--alphas",
            "0,1",
            "--max-iter",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "random clone" in result.output and "report updated" not in result.output
    assert (out / "frontier_overview.png").is_file()
    summary = json.loads((out / "frontier.json").read_text())
    assert summary["settings"]["alphas"] == [0.0, 1.0]
    assert summary["settings"]["goal"] == "loss-availability"
    # nothing outside --out: the report beside it is left alone (--report names one)
    assert (tmp_path / "report.html").read_text() == REPORT
    assert "<h2>Frontier:" in (out / "frontier.html").read_text()
    quiet = CliRunner().invoke(
        frontier_command,
        [
            "--dataset",
            "iris",
            "--model",
            "logistic",
            "--alphas",
            "0.5",
            "--max-iter",
            "2",
            "--tol",
            "1e-3",
            "--out",
            str(tmp_path / "q"),
            "--quiet",
        ],
    )
    lines = [x for x in quiet.output.splitlines() if not x.startswith("warning: ")]
    assert quiet.exit_code == 0 and len(lines) == 1, quiet.output
    # max_iter 2 stops every point early: said, even with --quiet, and in the report
    assert "warning: α = 0.5: " in quiet.output and "max_iter" in quiet.output
    page = (tmp_path / "q" / "frontier.html").read_text()
    assert "<div class='warning'>" in page and "α = 0.5: " in page and "max_iter" in page
    summary_q = json.loads((tmp_path / "q" / "frontier.json").read_text())
    assert any(a["warnings"] for a in summary_q["attacks"])
    settings = json.loads((tmp_path / "q" / "frontier.json").read_text())["settings"]
    assert settings["tol"] == 1e-3 and settings["max_iter"] == 2
    assert (tmp_path / "q" / "poison_flexible_alpha0.5.csv").is_file()


CLI_ERRORS = {
    "model-task": (["--model", "ridge"], ["--model", "'ridge'", "classification"]),
    "alpha-range": (["--model", "logistic", "--alphas", "0,1.5"], ["--alphas", "[0, 1]"]),
    "alpha-text": (["--model", "logistic", "--alphas", "0,x"], ["--alphas"]),
    "rate": (["--model", "logistic", "--rate", "0"], ["--rate"]),
    "dataset": (["--dataset", "mnist", "--model", "logistic"], ["--dataset", "mnist"]),
    "report": (["--model", "logistic", "--report", "missing.html"], ["--report", "missing.html"]),
    "tiny-rate": (["--model", "logistic", "--rate", "0.001"], ["--rate", "rounds to 0"]),
    "tol": (["--model", "logistic", "--tol", "0"], ["--tol"]),
    "integer-unknown": (
        ["--model", "logistic", "--integer", "zz"],
        ["--integer", "no feature column 'zz'"],
    ),
    "integer-fraction": (
        ["--model", "logistic", "--integer", "a"],
        ["--integer: column 'a' holds", "at row", "--round-fractional"],
    ),
    "round-fractional": (
        ["--model", "logistic", "--round-fractional"],
        ["--round-fractional applies to --integer"],
    ),
    "one-hot": (["--model", "logistic", "--one-hot", "a,b"], ["--one-hot: group 0: column 'a'"]),
}


@pytest.mark.parametrize("case", CLI_ERRORS)
def test_cli_errors_are_one_line(case, small_data, tmp_path):
    args, expected = CLI_ERRORS[case]
    if "--dataset" not in args:
        args = ["--dataset", "iris", *args]
    out = tmp_path / "out"
    result = CliRunner().invoke(frontier_command, [*args, "--out", str(out), "--max-iter", "1"])
    assert result.exit_code not in (0, None)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for text in expected:
        assert text in errors[0], (text, errors[0])
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_cli_help_documents_every_option():
    result = CliRunner().invoke(frontier_command, ["--help"])
    assert result.exit_code == 0
    for param in frontier_command.params:
        if param.name != "help":
            assert param.help, param.name


def test_a_sanitizer_that_removes_every_row_is_one_named_error_in_the_pipeline():
    """The frontier and a command refit the victim on what a sanitizer kept: none is
    a FlexPoisonError naming the cause (it was scikit-learn's raw '0 sample(s)')."""
    from flexpoison import models
    from flexpoison.attack import goal_from_name
    from flexpoison.data import load_dataset
    from flexpoison.errors import InvalidInputError
    from flexpoison.experiments.paper import split_dataset
    from flexpoison.experiments.pipeline import Experiment

    split = split_dataset(load_dataset("iris"), test_size=0.3, seed=0)
    experiment = Experiment(models.get("logistic").make(), goal_from_name("availability"), split)
    with pytest.raises(InvalidInputError, match="a sanitizer removed every row"):
        experiment.refit(split.X_train[:0], split.y_train[:0])


def test_screening_records_a_sanitizer_that_leaves_nothing_and_the_frontier_refuses_it():
    """One place decides: Experiment.screen records the outcome (sweeps store it as the
    run's result), and a frontier row, which needs the effect, raises naming the
    sanitizer."""
    from flexpoison import models
    from flexpoison.attack import goal_from_name
    from flexpoison.data import load_dataset
    from flexpoison.errors import InvalidInputError
    from flexpoison.experiments.paper import split_dataset
    from flexpoison.experiments.pipeline import Experiment

    class Keep:
        def __init__(self, name, labels):
            self.name, self.labels = name, labels

        def __call__(self, X, y, *, X_clean, y_clean, task):
            return np.flatnonzero(np.isin(y, self.labels))

    split = split_dataset(load_dataset("iris"), test_size=0.3, seed=0)
    experiment = Experiment(models.get("logistic").make(), goal_from_name("availability"), split)
    X_p, y_p = split.X_train[:3] + 0.1, split.y_train[:3]
    none, empty, one, all_ = experiment.screen(
        X_p,
        y_p,
        [("empty", Keep("empty", [])), ("one", Keep("one", [0])), ("all", Keep("all", [0, 1, 2]))],
        0.0,
    )
    assert (none.outcome, empty.outcome, one.outcome, all_.outcome) == (
        "measured",
        "removed every row",
        "kept one class",
        "measured",
    )
    assert empty.effect is None and empty.test_metric is None and empty.damage_left is None
    assert empty.poison_removed == 3 and empty.clean_removed == len(split.y_train)
    assert all_.effect == pytest.approx(none.effect) and all_.damage_left == pytest.approx(1.0)
    assert none.measured() is none
    with pytest.raises(InvalidInputError, match="^one: the rows kept by a sanitizer hold a single"):
        one.measured()


# ------------------------------------------------------------- feature constraints


def _constrained_set(n=60, seed=0):
    """Regression rows with an integer column, a frozen code, a one-hot pair and a
    continuous column, as a DataFrame (target 'y')."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    count = rng.integers(0, 10, n)
    code = rng.integers(1, 3, n)
    group = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = 2.0 * count - 3.0 * group + x + 0.3 * rng.normal(size=n)
    return pd.DataFrame(
        {"count": count, "code": code, "g0": group, "g1": 1 - group, "x": x, "y": y}
    )


def _check_rows(rows, frame, x_bound):
    for row in rows:
        assert row["count"].isdigit() and 0 <= int(row["count"]) <= 9
        assert row["code"] in {"1", "2"}
        assert {row["g0"], row["g1"]} == {"0", "1"}
        assert float(row["x"]) <= x_bound + 1e-9


def test_cli_constraints_hold_for_every_attack_that_optimises(tmp_path, cheap_figures):
    frame = _constrained_set()
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    bounds = tmp_path / "b.toml"
    bounds.write_text("[bounds]\nx = [-inf, 0.5]\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        frontier_command,
        [
            "--data",
            str(path),
            "--target-column",
            "y",
            "--model",
            "ridge",
            "--rate",
            "0.05",
            "--alphas",
            "0,0.5",
            "--max-iter",
            "5",
            "--integer",
            "0",
            "--frozen",
            "code",
            "--one-hot",
            "g0,g1",
            "--bounds",
            str(bounds),
            "--within-range",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("flexible_alpha0", "flexible_alpha0.5", "unconcealed"):
        with open(out / f"poison_{name}.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        _check_rows(rows, frame, 0.5)
    with open(out / "poison_random_clone.csv", newline="") as handle:
        clones = [[float(row[c]) for c in frame.columns] for row in csv.DictReader(handle)]
    assert all(clone in frame.to_numpy().tolist() for clone in clones)  # copied exactly
    settings = json.loads((out / "frontier.json").read_text())["settings"]
    assert settings["constraints"]["bounds"] == {"x": [None, 0.5]}
    assert settings["constraints"]["within_range"] is True
    # columns by name, as the user reads them, however they were given (0: 'count')
    assert settings["constraints"]["integer_features"] == ["count"]
    assert settings["constraints"]["frozen_features"] == ["code"]
    # a bounds file naming the target is refused, naming it
    bounds.write_text("[bounds]\ny = [0, 1]\n")
    refused = CliRunner().invoke(
        frontier_command,
        [
            "--data",
            str(path),
            "--target-column",
            "y",
            "--model",
            "ridge",
            "--bounds",
            str(bounds),
            "--out",
            str(tmp_path / "o2"),
        ],
    )
    assert refused.exit_code == 2 and "'y' is the target column" in refused.output


def test_run_frontier_takes_constraints_by_column_name():
    from flexpoison.attack.specs import Specs

    frame = _constrained_set(seed=1)
    features = [c for c in frame.columns if c != "y"]
    dataset = Dataset(
        "constrained",
        frame[features].to_numpy(float),
        frame["y"].to_numpy(),
        tuple(features),
        "y",
        "regression",
        "synthetic, for tests",
    )
    specs = Specs(
        integer_features=["count"], one_hot_groups=[["g0", "g1"]], bounds={"count": (2, 7)}
    )
    result = fr.run_frontier(
        dataset,
        model="ridge",
        rate=0.05,
        alphas=(0.0,),
        baselines=("unconcealed",),
        sanitizers=["sphere"],
        constraints=specs,
        **FAST,
    )
    for point in result.attacks:
        rows = result.poison_in_data_units(point)
        assert np.all(rows[:, 0] == np.round(rows[:, 0]))
        assert np.all((rows[:, 0] >= 2) & (rows[:, 0] <= 7))
        assert np.all(np.sort(rows[:, 2:4], axis=1) == [0, 1])
    assert result.settings.constraints["integer_features"] == ["count"]

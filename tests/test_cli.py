"""``flexpoison attack``: output files, their contents, and one clear error per mistake."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from conftest import make_classification, make_regression
from flexpoison.cli import main
from flexpoison.cli.attack import OUTPUT_FILES, attack
from flexpoison.data import csvfile
from flexpoison.experiments.record import LEGACY, RECORD_VERSION
from flexpoison.reporting import files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = {
    "record_version",
    "theta_clean",
    "theta_target",
    "theta_poisoned",
    "effect_name",
    "effect_clean",
    "effect_final",
    "effect_history",
    "concealment",
    "n_iter",
    "metric_name",
    "test_metric_clean",
    "test_metric_poisoned",
    "settings",
    "seed",
    "flexpoison_version",
    "numpy_version",
    "scikit_learn_version",
    "data_file",
    "data_sha256",
    "n_clean",
    "n_points",
    "rate",
    "wall_time_seconds",
}
FAST = ["--max-iter", "5"]


def write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def regression_csv(tmp_path):
    """40 rows; the target "y" sits between the features; features on varied scales."""
    X, y = make_regression(n=40, d=3, seed=1)
    X = X * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]
    rows = [[a, t, b, c] for (a, b, c), t in zip(X, y)]
    return write_csv(tmp_path / "reg.csv", ["x1", "y", "x2", "x3"], rows)


@pytest.fixture
def binary_csv(tmp_path):
    X, y = make_classification(n=40, d=3, seed=2)
    return write_csv(
        tmp_path / "binary.csv", ["label", "f1", "f2", "f3"], [[t, *x] for x, t in zip(X, y)]
    )


@pytest.fixture
def string_csv(tmp_path):
    X, y = make_classification(n=40, d=2, seed=3)
    names = np.array(["ham", "spam"])[y]
    return write_csv(
        tmp_path / "strings.csv", ["f1", "f2", "kind"], [[*x, t] for x, t in zip(X, names)]
    )


def run(*args):
    return CliRunner().invoke(main, ["attack", *map(str, args)])


def read_back(path: Path):
    with open(path, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def split(path: Path, target: str, stratify=False):
    """The clean training rows, split as the CLI splits them (seed 0, 30 % test)."""
    header, rows = read_back(path)
    j = header.index(target)
    X = np.array([[float(v) for k, v in enumerate(r) if k != j] for r in rows])
    y = np.array([r[j] for r in rows])
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y if stratify else None
    )
    return X_train, y_train.astype(float) if not stratify else y_train


def check_outputs(out: Path, data: Path, n_poison: int) -> tuple[list, dict]:
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    header, rows = read_back(out / "poison.csv")
    assert header == read_back(data)[0]
    assert len(rows) == n_poison
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["n_points"] == n_poison
    assert summary["record_version"] == RECORD_VERSION
    assert not summary.keys() & LEGACY["attack"].keys()
    for name in ("W_first_point.png", "effect_vs_rate.png"):
        content = (out / name).read_bytes()
        assert len(content) > 1000 and content.startswith(PNG_MAGIC)
    assert not list(out.parent.glob(".*partial"))
    return rows, summary


# ----------------------------------------------------------------- successful runs


def test_regression_standardized_writes_poison_in_original_units(regression_csv, tmp_path):
    out = tmp_path / "new" / "run"
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--alpha",
        0.5,
        "--goal",
        "integrity",
        "--target",
        "flip-top",
        "--rate",
        0.1,
        "--standardize",
        "--out",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    X_train, y_train = split(regression_csv, "y")
    m = round(0.1 * len(X_train))
    rows, summary = check_outputs(out, regression_csv, m)
    assert summary["n_clean"] == len(X_train) and summary["rate"] == m / len(X_train)
    assert summary["effect_name"] == "E_I" and summary["metric_name"] == "test MSE"
    assert len(summary["effect_history"]) == len(summary["n_iter"]) == m
    assert summary["effect_final"] == summary["effect_history"][-1]
    assert summary["settings"]["standardize"] is True

    X_p = np.array([[float(r[0]), float(r[2]), float(r[3])] for r in rows])
    y_p = np.array([float(r[1]) for r in rows])
    centre, sigma = X_train.mean(axis=0), X_train.std(axis=0)
    slack = 1e-9 * np.abs(centre).max()
    assert np.all(X_p >= centre - 3 * sigma - slack)
    assert np.all(X_p <= centre + 3 * sigma + slack)
    # responses are not optimised by default: each is a start's, inside the observed range
    y_slack = 1e-9 * np.abs(y_train).max()
    assert np.all((y_p >= y_train.min() - y_slack) & (y_p <= y_train.max() + y_slack))
    # the rows written in original units poison "clean scaler + Ridge" as reported
    scaler = StandardScaler().fit(X_train)
    refit = Ridge(alpha=1.0, solver="cholesky").fit(
        scaler.transform(np.vstack([X_train, X_p])), np.concatenate([y_train, y_p])
    )
    np.testing.assert_allclose(
        np.append(refit.coef_, refit.intercept_), summary["theta_poisoned"], rtol=1e-7, atol=1e-9
    )


def test_binary_integer_labels(binary_csv, tmp_path):
    out = tmp_path / "out"
    result = run(
        "--data",
        binary_csv,
        "--target-column",
        "label",
        "--model",
        "logistic",
        "--n-points",
        2,
        "--out",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    rows, summary = check_outputs(out, binary_csv, 2)
    assert {r[0] for r in rows} <= {"0", "1"}
    assert summary["metric_name"] == "test accuracy"
    assert 0 <= summary["test_metric_poisoned"] <= 1
    assert summary["classes"] == [0, 1] and summary["settings"]["target"] is None


def test_string_labels_keep_their_spelling(string_csv, tmp_path):
    out = tmp_path / "out"
    result = run(
        "--data",
        string_csv,
        "--target-column",
        "kind",
        "--model",
        "logistic",
        "--reg",
        0.5,
        "--rate",
        0.1,
        "--target",
        "negate",
        "--out",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    rows, summary = check_outputs(out, string_csv, round(0.1 * 28))
    assert {r[2] for r in rows} <= {"ham", "spam"}
    assert summary["classes"] == ["ham", "spam"]
    assert summary["model"] == "LogisticRegression(C=0.5)"


@pytest.mark.parametrize(
    "options",
    [
        ["--model", "linear", "--goal", "availability", "--alpha", 0],
        ["--model", "lasso", "--reg", 0.1, "--step", "paper"],
        ["--model", "elasticnet", "--l1-ratio", 0.7, "--no-intercept", "--optimize-y"],
    ],
    ids=["linear-availability", "lasso-paper", "elasticnet-noint-y"],
)
def test_other_models_and_goals(regression_csv, tmp_path, options):
    out = tmp_path / "out"
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--n-points",
        2,
        "--out",
        out,
        "--quiet",
        *options,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    # --quiet: the closing line and the warnings of a short run (FAST stops points early)
    lines = [x for x in result.output.splitlines() if not x.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("wrote poison.csv"), result.output
    _, summary = check_outputs(out, regression_csv, 2)
    assert summary["effect_name"] == ("E_A" if "availability" in options else "E_I")


def test_predict_target_is_in_the_csv_units_with_standardize(regression_csv, tmp_path):
    x_star, v = [0.5, 60.0, 1100.0], 7.0
    out = tmp_path / "out"
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--target",
        f"predict:{v}@" + ",".join(map(str, x_star)),
        "--standardize",
        "--n-points",
        1,
        "--out",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    theta_t = np.array(json.loads((out / "summary.json").read_text())["theta_target"])
    X_train, _ = split(regression_csv, "y")
    z_star = StandardScaler().fit(X_train).transform([x_star])[0]
    assert z_star @ theta_t[:-1] + theta_t[-1] == pytest.approx(v)


def test_target_vector_from_file_and_existing_out_dir(regression_csv, tmp_path):
    theta = tmp_path / "theta.txt"
    theta.write_text("1.0\n-2.0, 0.5\n\n0.25\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "poison.csv").write_text("old")
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--target",
        theta,
        "--n-points",
        1,
        "--out",
        out,
        "--force",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["theta_target"] == [1.0, -2.0, 0.5, 0.25]
    assert (out / "keep.txt").read_text() == "mine"
    assert read_back(out / "poison.csv")[0] == ["x1", "y", "x2", "x3"]


# -------------------------------------------------------------------------- help


def test_help_lists_every_option():
    result = CliRunner().invoke(main, ["attack", "--help"])
    assert result.exit_code == 0
    for param in attack.params:
        for flag in param.opts + param.secondary_opts:
            assert flag in result.output, flag
        assert param.help, f"{param.name} has no help text"


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "flexpoison, version" in result.output


def test_module_and_console_script_run():
    commands = [[sys.executable, "-m", "flexpoison", "--help"]]
    script = Path(sys.executable).with_name("flexpoison")
    if script.exists():
        commands.append([str(script), "attack", "--help"])
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "attack" in done.stdout and "Usage: flexpoison" in done.stdout


# ------------------------------------------------------------------------- errors


def _bad_cell(tmp_path):
    return write_csv(tmp_path / "cell.csv", ["a", "b", "y"], [[1, 2, 3], [4, "x", 6], [7, 8, 9]])


def _ragged(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,6\n7,8\n")
    return path


def _constant_column(tmp_path):
    X, y = make_regression(n=20, d=2, seed=4)
    return write_csv(
        tmp_path / "const.csv",
        ["a", "flat", "b", "y"],
        [[x[0], 7.5, x[1], t] for x, t in zip(X, y)],
    )


def _constant_target(tmp_path):
    X, _ = make_regression(n=20, d=2, seed=4)
    return write_csv(tmp_path / "flat_y.csv", ["a", "b", "y"], [[*x, 2.0] for x in X])


def _fractional_count(tmp_path):
    X, y = make_regression(n=20, d=2, seed=4)
    count = [3, 1, 0.32, 4, 1.7] + [2.0] * 15  # 2.0 is an integer, 0.32 is not
    return write_csv(
        tmp_path / "count.csv", ["a", "count", "y"], [[x[0], k, t] for x, k, t in zip(X, count, y)]
    )


def _few_rows(tmp_path):
    X, y = make_regression(n=12, d=2, seed=5)
    return write_csv(tmp_path / "few.csv", ["a", "b", "y"], [[x[0], x[1], t] for x, t in zip(X, y)])


BASE = ["--target-column", "y", "--model", "ridge", "--rate", 0.1]
ERRORS = {
    "missing-file": (
        lambda p, d: ["--data", p / "nope.csv", *BASE],
        ["nope.csv", "does not exist"],
    ),
    "non-numeric-cell": (
        lambda p, d: ["--data", _bad_cell(p), *BASE],
        ["cell.csv", "line 3", "column 'b': not a number"],
    ),
    "ragged-row": (
        lambda p, d: ["--data", _ragged(p), *BASE],
        ["ragged.csv", "line 4", "2 fields", "header has 3"],
    ),
    "unknown-target-column": (
        lambda p, d: ["--data", d, "--target-column", "price", "--model", "ridge", "--rate", 0.1],
        ["no column 'price'", "'x1', 'y', 'x2', 'x3'"],
    ),
    "alpha-out-of-range": (
        lambda p, d: ["--data", d, *BASE, "--alpha", 1.5],
        ["--alpha", "1.5", "0<=x<=1"],
    ),
    "rate-zero": (lambda p, d: ["--data", d, *BASE[:-2], "--rate", 0], ["--rate", "0<x<=1"]),
    "rate-and-n-points": (
        lambda p, d: ["--data", d, *BASE, "--n-points", 3],
        ["exactly one of --rate and --n-points"],
    ),
    "unknown-preset": (
        lambda p, d: ["--data", d, *BASE, "--target", "upside-down"],
        ["--target", "unknown preset 'upside-down'"],
    ),
    "rate-above-one": (
        lambda p, d: ["--data", d, *BASE[:-2], "--rate", 1.5],
        ["--rate", "1.5", "0<x<=1"],
    ),
    "box-overflow": (
        lambda p, d: ["--data", d, *BASE, "--n-sigma", "1e300"],
        ["--n-sigma", "reaches", "use a smaller n_sigma"],
    ),
    "continuous-labels": (
        lambda p, d: ["--data", d, "--target-column", "y", "--model", "logistic", "--rate", 0.1],
        ["target column 'y' holds numbers that are not integers", "regression --model"],
    ),
    "constant-target-huber": (
        lambda p, d: ["--data", _constant_target(p), *BASE[:2], "--model", "huber", "--rate", 0.1],
        ["y: every response is 2, so HuberRegressor", "σ shrinks to 0", "responses vary"],
    ),
    "integer-column-with-fractions": (
        lambda p, d: ["--data", _fractional_count(p), *BASE, "--integer", "count"],
        [
            "--integer: column 'count' holds 0.32 at line 4 of count.csv (and 1 more row)",
            "--round-fractional",
        ],
    ),
    "too-few-rows": (
        lambda p, d: ["--data", _few_rows(p), *BASE],
        ["--test-size", "at least 10 and 5"],
    ),
    "unsupported-model": (
        lambda p, d: ["--data", d, "--target-column", "y", "--model", "svm", "--rate", 0.1],
        ["--model", "'svm'", "ridge"],
    ),
}


def test_a_constant_column_is_kept_at_its_value(tmp_path):
    """A constant column (a one-hot level absent from the rows) is frozen by the 3σ box,
    not refused."""
    out = tmp_path / "out"
    result = run("--data", _constant_column(tmp_path), *BASE, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    header, rows = read_back(out / "poison.csv")
    assert rows and all(float(row[header.index("flat")]) == 7.5 for row in rows)


@pytest.mark.parametrize("case", ERRORS)
def test_user_mistake_is_one_clear_error_and_leaves_no_output(case, regression_csv, tmp_path):
    make_args, expected = ERRORS[case]
    out = tmp_path / "out"
    out.mkdir()
    result = run(*make_args(tmp_path, regression_csv), "--out", out, *FAST)
    assert result.exit_code not in (0, None)
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert len(errors[0]) < 400, errors[0]  # one short line, not a list of every value
    for text in expected:
        assert text in errors[0], (text, errors[0])
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("partial")) == []


def test_failure_while_writing_leaves_nothing_behind(regression_csv, tmp_path, monkeypatch):
    def disk_full(path, data):
        Path(path).write_text("{")  # half-written, then the disk fills up
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(files, "write_json", disk_full)
    out = tmp_path / "fresh" / "out"
    result = run("--data", regression_csv, *BASE, "--out", out, *FAST)
    assert result.exit_code == 1
    assert result.stdout == ""  # stderr: progress lines (not a terminal), then the error
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "No space left" in result.stderr
    assert not (tmp_path / "fresh").exists()  # nor the parent it created

    existing = tmp_path / "existing"
    existing.mkdir()
    result = run("--data", regression_csv, *BASE, "--out", existing, *FAST)
    assert result.exit_code == 1
    assert list(existing.iterdir()) == [] and sorted(tmp_path.iterdir()) == sorted(
        [existing, regression_csv]
    )


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", "the file is empty"),
        ("a,b,y\n", "no data rows"),
        ("a,a,y\n1,2,3\n", "line 1: columns 1 and 2 of the header have the same name"),
        ("a,b,y\n1,,3\n", "line 2, column 'b': empty cell"),
        ("a,b,y\n1,nan,3\n", "line 2, column 'b': not a finite number (inf or nan)"),
        ('a,b,y\n1,"2,5",3\n', "line 2, column 'b': not a number (a decimal comma?"),
        ('a,b,y\n1,"2,3\n', "line 2"),
        ("a;b;y\n1;2;3\n", "single column"),
    ],
)
def test_read_csv_is_strict(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(csvfile.DataFileError, match="data.csv") as caught:
        csvfile.read_csv(path).features_and_target("y", "regression")
    assert expected in str(caught.value)


def test_integer_and_frozen_repeat_like_one_hot(tmp_path):
    """--integer a --integer b is --integer a,b (the last one does not silently win), and
    a frozen column reads back exactly the values of the data file."""
    rng = np.random.default_rng(3)
    count, code = rng.integers(0, 9, 40), rng.normal(size=40).round(3) + 0.1
    X, y = make_regression(n=40, d=1, seed=3)
    data = write_csv(
        tmp_path / "c.csv",
        ["count", "level", "code", "y"],
        [[k, k % 3, c, x[0] + t] for k, c, x, t in zip(count, code, X, y)],
    )
    out = tmp_path / "out"
    result = run(
        "--data",
        data,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--rate",
        0.1,
        *FAST,
        "--standardize",
        "--integer",
        "count",
        "--integer",
        "level",
        "--frozen",
        "2",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["integer"] == "count,level" and settings["frozen"] == "2"
    with open(out / "poison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(row[c].lstrip("-").isdigit() for row in rows for c in ("count", "level"))
    assert {float(row["code"]) for row in rows} <= set(code.tolist())
    twice = run(
        "--data",
        data,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--rate",
        0.1,
        "--integer",
        "count",
        "--integer",
        "0",
        "--out",
        tmp_path / "o2",
    )
    assert twice.exit_code == 1 and "column 'count' is given twice" in twice.output


def test_within_range_and_loss_availability(regression_csv, tmp_path):
    out = tmp_path / "range"
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--model",
        "ridge",
        "--alpha",
        0.0,
        "--goal",
        "loss-availability",
        "--n-points",
        3,
        "--within-range",
        "--out",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    rows, summary = check_outputs(out, regression_csv, 3)
    assert summary["effect_name"] == "E_L"
    assert summary["effect_final"] > summary["effect_clean"]
    X_train, _ = split(regression_csv, "y")
    poison = np.array([[float(r[0]), float(r[2]), float(r[3])] for r in rows])
    assert np.all(poison >= X_train.min(0) - 1e-9) and np.all(poison <= X_train.max(0) + 1e-9)


def test_user_strings_are_shown_literally_in_the_figures(regression_csv, tmp_path):
    """A file named like TeX (``we$\\frac{x}$ird.csv``) crashed matplotlib's maths
    parser while the figures were drawn."""
    weird = tmp_path / "we$\\frac{x}$ird.csv"
    weird.write_bytes(regression_csv.read_bytes())
    out = tmp_path / "weird-out"
    result = run("--data", weird, *BASE, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    check_outputs(out, weird, round(0.1 * 28))


def test_the_command_line_says_when_the_attack_failed(regression_csv, tmp_path):
    out = tmp_path / "out"
    result = run(
        "--data",
        regression_csv,
        "--target-column",
        "y",
        "--n-points",
        2,
        "--model",
        "ridge",
        "--alpha",
        0,
        "--n-sigma",
        "1e-3",
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "warning: the attack barely moved E_I" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["warnings"] and abs(summary["progress"]) < 0.01
    assert summary["settings"]["trade_off"] == "share" and summary["settings"]["starts"] == 4
    assert [p["stop"] for p in summary["points"]] and all(
        set(p) >= {"iterations", "stop", "start", "effect_before", "effect_after", "harmless"}
        for p in summary["points"]
    )


def test_goal_seed_and_data_dir_mean_the_same_in_every_command():
    """Declared once (cli.common): every command's --goal starts with the shared help,
    every --seed takes the same non-negative range, every --data-dir reads the same
    variable (issue 25)."""
    import click

    from flexpoison.cli.common import GOAL_HELP

    seen = {"goal": 0, "seed": 0, "data_dir": 0}
    for name in main.list_commands(None):
        command = main.get_command(None, name)
        for param in command.params:
            if param.name == "goal":
                seen["goal"] += 1
                assert param.help.startswith(GOAL_HELP), name
            elif param.name == "seed":
                seen["seed"] += 1
                assert isinstance(param.type, click.IntRange), name
                assert (param.type.min, param.type.max) == (0, 2**32 - 1), name
            elif param.name == "data_dir":
                seen["data_dir"] += 1
                assert param.envvar == "FLEXPOISON_DATA_DIR", name
    assert seen["goal"] >= 2 and seen["seed"] >= 3 and seen["data_dir"] >= 2

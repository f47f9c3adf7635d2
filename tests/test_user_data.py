"""The user's own CSV file everywhere: ``attack``, ``frontier`` and sweep files read it
by one reader, with the same options, rules and error messages."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_diabetes, load_iris

from flexpoison import FlexiblePoisoning
from flexpoison import sweeps as sw
from flexpoison.cli import main
from flexpoison.data import DataFileError, check_sep, load_csv_dataset, load_dataset
from flexpoison.errors import InvalidInputError
from flexpoison.reporting import frontier as frontier_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# the mechanics of reading the data are tested here, not the attack's strength
FAST = [
    "--alphas",
    "0,1",
    "--rate",
    "0.02",
    "--max-iter",
    "3",
    "--tol",
    "1e-2",
    "--starts",
    "1",
    "--quiet",
]


def write_csv(path: Path, header, rows, sep=",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def diabetes_csv(tmp_path) -> Path:
    """scikit-learn's diabetes data as a user's file: named columns, the target last."""
    bunch = load_diabetes()
    return write_csv(
        tmp_path / "data" / "diabetes.csv",
        [*bunch.feature_names, "progression"],
        [[*x, t] for x, t in zip(bunch.data.tolist(), bunch.target.tolist())],
    )


@pytest.fixture
def cheap_figures(monkeypatch):
    """Stub PNGs (drawing the frontier is tested in test_frontier; it takes seconds)."""

    def figures_for(result):
        names = [n for n in result.settings.sanitizers if n != "none"]
        return {f"frontier_{n}.png": PNG_MAGIC + b"stub" for n in [*names, "overview"]}

    monkeypatch.setattr(frontier_files, "figures_for", figures_for)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def read_rows(path: Path, sep=","):
    with open(path, newline="") as handle:
        header, *rows = list(csv.reader(handle, delimiter=sep))
    return header, rows


def error_line(result) -> str:
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# ------------------------------------------------------------------------ the reader


def test_the_reader_makes_a_dataset_with_its_file_and_checksum(diabetes_csv):
    dataset = load_csv_dataset(diabetes_csv, "progression", "regression")
    assert dataset.name == "diabetes" and dataset.target_name == "progression"
    assert dataset.feature_names == tuple(load_diabetes().feature_names)
    assert dataset.X.shape == (442, 10) and dataset.y.dtype == np.float64
    assert dataset.sha256 == hashlib.sha256(diabetes_csv.read_bytes()).hexdigest()
    assert dataset.file == str(diabetes_csv.resolve())
    assert check_sep("tab") == check_sep("\\t") == "\t"
    with pytest.raises(InvalidInputError, match="sep: must be a single character"):
        load_csv_dataset(diabetes_csv, "progression", "regression", sep=";;")
    with pytest.raises(InvalidInputError, match="task: expected 'regression' or"):
        load_csv_dataset(diabetes_csv, "progression", "clustering")


# ------------------------------------------------------------------------ frontier


def test_frontier_on_a_user_csv_end_to_end(diabetes_csv, cheap_figures, tmp_path):
    out = tmp_path / "frontier"
    result = invoke(
        "frontier",
        "--data",
        diabetes_csv,
        "--target-column",
        "progression",
        "--model",
        "ridge",
        *FAST,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "frontier.json").read_text())["settings"]
    assert settings["dataset"] == "diabetes" and settings["task"] == "regression"
    assert settings["n_features"] == 10 and settings["n_poison"] == round(0.02 * 309)
    assert settings["data_file"] == str(diabetes_csv.resolve())
    assert settings["data_sha256"] == hashlib.sha256(diabetes_csv.read_bytes()).hexdigest()
    # poison rows come back in the file's units: the random clones are rows of the file
    header, clones = read_rows(out / "poison_random_clone.csv")
    assert header == [*load_diabetes().feature_names, "progression"]
    _, rows = read_rows(diabetes_csv)
    data = np.array(rows, dtype=float)
    for row in np.array(clones, dtype=float):
        assert np.min(np.max(np.abs(data - row), axis=1)) < 1e-9


def test_a_csv_of_a_built_in_set_gives_its_frontier(tmp_path):
    """Iris written to a file (sep ';') is the built-in iris, and its frontier the same,
    number for number: the same split and pipeline."""
    from flexpoison.experiments.frontier import run_frontier

    iris = load_dataset("iris")
    path = write_csv(
        tmp_path / "iris.csv",
        [*iris.feature_names, "species"],
        [[*x, t] for x, t in zip(iris.X.tolist(), iris.y.tolist())],
        sep=";",
    )
    from_file = load_csv_dataset(path, "species", "classification", sep=";")
    assert np.array_equal(from_file.X, iris.X) and np.array_equal(from_file.y, iris.y)
    settings = dict(
        model="logistic",
        alphas=[0.5],
        rate=0.05,
        attack=FlexiblePoisoning(None, max_iter=2, starts=1, random_state=0),
        baselines=(),
        sanitizers=["sphere"],
    )
    a, b = run_frontier(from_file, **settings), run_frontier("iris", **settings)
    assert a.rows == b.rows and a.settings.data_sha256 == from_file.sha256


def test_frontier_keeps_string_labels(tmp_path, cheap_figures):
    bunch = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[bunch.target]
    path = write_csv(
        tmp_path / "flowers.csv",
        ["kind", *bunch.feature_names],
        [[t, *x] for x, t in zip(bunch.data.tolist(), names)],
        sep="\t",
    )
    out = tmp_path / "out"
    result = invoke(
        "frontier",
        "--data",
        path,
        "--sep",
        "tab",
        "--target-column",
        "kind",
        "--model",
        "logistic",
        "--alphas",
        "0",
        "--rate",
        "0.05",
        "--max-iter",
        "2",
        "--starts",
        "1",
        "--quiet",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    _, rows = read_rows(out / "poison_label_flip.csv")
    assert rows and {row[-1] for row in rows} <= set(names)


def _ragged(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,6\n7,8\n")
    return path


def _bad_cell(tmp_path):
    path = tmp_path / "cell.csv"
    path.write_text("a,b,y\n1,2,3\n4,x,6\n7,8,9\n")
    return path


def _one_column(tmp_path):
    path = tmp_path / "semicolons.csv"
    path.write_text("a;b;y\n1;2;3\n4;5;6\n")
    return path


BAD_CSV = {
    "missing file": (lambda p, d: [p / "nope.csv", "y"], ["nope.csv", "does not exist"]),
    "missing column": (
        lambda p, d: [d, "price"],
        ["diabetes.csv: no column 'price'; the columns are 'age'"],
    ),
    "ragged row": (
        lambda p, d: [_ragged(p), "y"],
        ["ragged.csv, line 4: 2 fields, but the header has 3"],
    ),
    "not a number": (
        lambda p, d: [_bad_cell(p), "y"],
        ["cell.csv, line 3, column 'b': not a number"],
    ),
    "wrong separator": (
        lambda p, d: [_one_column(p), "y"],
        ["semicolons.csv, line 1: the header has a single column"],
    ),
}


@pytest.mark.parametrize("case", BAD_CSV)
def test_attack_and_frontier_refuse_a_bad_csv_with_the_same_line(case, diabetes_csv, tmp_path):
    make, expected = BAD_CSV[case]
    path, target = make(tmp_path, diabetes_csv)
    args = ["--data", path, "--target-column", target, "--model", "ridge"]
    attack = invoke("attack", *args, "--rate", "0.1", "--out", tmp_path / "a")
    frontier = invoke("frontier", *args, "--out", tmp_path / "f")
    assert error_line(attack) == error_line(frontier)
    assert attack.exit_code == frontier.exit_code
    for text in expected:
        assert text in error_line(frontier), (text, error_line(frontier))
    assert not (tmp_path / "a").exists() and not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--target-column", "progression"], "--data needs --model"),
        (["--model", "ridge"], "Missing option '--target-column'"),
        (
            ["--target-column", "progression", "--model", "ridge", "--sep", ";;"],
            "Invalid value for '--sep': must be a single character",
        ),
        (
            ["--target-column", "progression", "--model", "ridge", "--dataset", "iris"],
            "give exactly one of --dataset (a built-in data set) and --data",
        ),
    ],
)
def test_frontier_data_options_are_checked(args, expected, diabetes_csv, tmp_path):
    result = invoke("frontier", "--data", diabetes_csv, *args, "--out", tmp_path / "f")
    assert expected in error_line(result)
    if "--model" in args and "--dataset" not in args and "--sep" not in args:
        attack = invoke(
            "attack", "--data", diabetes_csv, *args, "--rate", "0.1", "--out", tmp_path / "a"
        )
        assert error_line(attack) == error_line(result)  # the same option, the same error


def test_csv_options_need_data(tmp_path):
    result = invoke("frontier", "--dataset", "iris", "--sep", ";", "--out", tmp_path / "f")
    assert "--sep applies to --data only" in error_line(result)


# ------------------------------------------------------------------------ sweeps


def write_grid(path: Path, datasets: str, **keys) -> Path:
    """A sweep file whose ``datasets`` line is given as TOML text."""
    settings = {
        "models": ["ridge", "logistic"],
        "goals": ["integrity"],
        "alphas": [0.5],
        "rates": [0.05],
        "seeds": [0],
        "max_iter": 3,
        "starts": 1,
        "skip_incompatible": True,
        **keys,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items() if k != "datasets"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[sweep]\n" + f"datasets = {datasets}\n" + "\n".join(lines) + "\n")
    return path


MIXED = '[{ path = "../data/diabetes.csv", target = "progression", task = "regression" }, "iris"]'


def test_a_sweep_over_a_csv_file_and_a_built_in_set(diabetes_csv, tmp_path):
    file = write_grid(tmp_path / "grids" / "mixed.toml", MIXED, sanitizers=["sphere"])
    grid = sw.load_sweep(file)  # the path is read from the sweep file's folder
    sha = hashlib.sha256(diabetes_csv.read_bytes()).hexdigest()
    label = f"diabetes@{sha[:8]}"
    assert [(r.settings["dataset"], r.settings["model"]) for r in grid.runs] == [
        (label, "ridge"),
        ("iris", "logistic"),
    ]
    assert grid.runs[0].settings["data"] == {
        "sha256": sha,
        "target": "progression",
        "task": "regression",
        "sep": ",",
    }
    assert grid.files == {label: str(diabetes_csv.resolve())}
    # a built-in set's runs are those of a grid without the file: same settings, same ids
    only_iris = sw.load_sweep(
        write_grid(tmp_path / "grids" / "iris.toml", '["iris"]', sanitizers=["sphere"])
    )
    assert "data" not in grid.runs[1].settings
    assert grid.runs[1].run_id == only_iris.runs[0].run_id

    out = tmp_path / "runs"
    local = invoke("sweep", file, "--out", out, "--workers", "1")
    assert local.exit_code == 0, local.output
    assert label in local.output  # the status table names the file's data set
    dask = invoke("sweep", file, "--out", tmp_path / "dask", "--dask", "--workers", "1", "-q")
    assert dask.exit_code == 0, dask.output
    rows = {r["run_id"]: r for r in sw.read_store(out)}
    by_dask = {r["run_id"]: r for r in sw.read_store(tmp_path / "dask")}
    assert set(rows) == set(by_dask) == {r.run_id for r in grid.runs}
    for run_id, row in rows.items():
        assert row["status"] == "done" and row["result"] == by_dask[run_id]["result"]
    result = rows[grid.runs[0].run_id]["result"]
    assert result["task"] == "regression" and result["n_features"] == 10
    assert set(result["sanitizers"]) == {"sphere"}
    assert invoke("plot", out).exit_code == 0
    figure = f"effect_vs_rate__diabetes-{sha[:8]}__ridge__integrity.png"
    assert (out / "figures" / figure).is_file()

    # the file edited: new runs under a new name; the built-in set's run is reused
    diabetes_csv.write_text(diabetes_csv.read_text().replace("151.0", "152.0", 1))
    edited = sw.load_sweep(file)
    assert edited.runs[0].settings["dataset"] != label
    assert edited.runs[0].run_id != grid.runs[0].run_id
    again = invoke("sweep", file, "--out", out, "--workers", "1", "-q")
    assert again.exit_code == 0 and "1 run now" in again.output and "1 already" in again.output
    # a worker given another file than the run was defined on refuses it
    with pytest.raises(DataFileError, match="changed since the sweep file was read"):
        sw.compute_run(grid.runs[0].settings, None, str(diabetes_csv))


def _grid_error(tmp_path, datasets: str, **keys) -> str:
    file = write_grid(tmp_path / "grids" / "bad.toml", datasets, **keys)
    result = invoke("sweep", file, "--out", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out").exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {file}: key 'sweep.datasets': "), lines[0]
    return lines[0]


BAD_ENTRIES = [
    (
        "missing file",
        '[{ path = "nope.csv", target = "y", task = "regression" }]',
        "item 1 (nope.csv): no such file {grids}/nope.csv (a relative path is read from the "
        "sweep file's folder)",
    ),
    (
        "missing column",
        '["iris", { path = "../data/diabetes.csv", target = "y", task = "regression" }]',
        "item 2 (../data/diabetes.csv): {data}/diabetes.csv: no column 'y'; the columns are",
    ),
    (
        "malformed CSV",
        '[{ path = "../data/ragged.csv", target = "y", task = "regression" }]',
        "item 1 (../data/ragged.csv): {data}/ragged.csv, line 4: 2 fields, but the header has 3",
    ),
    (
        "unknown key",
        '[{ path = "../data/diabetes.csv", taget = "progression" }]',
        "item 1: unknown key 'taget' (did you mean 'target'?) in a CSV file's table; expected "
        "one of path, target, sep, task, name",
    ),
    (
        "no target",
        '[{ path = "../data/diabetes.csv" }]',
        'item 1: missing \'target\': a CSV file is { path = "FILE.csv", target = "COLUMN" }',
    ),
    (
        "task unknown",
        '[{ path = "../data/diabetes.csv", target = "progression" }]',
        "item 1 (../data/diabetes.csv): the grid's models are of both tasks: say which this "
        'file\'s target is, task = "regression" or "classification"',
    ),
    (
        "bad separator",
        '[{ path = "../data/diabetes.csv", target = "progression", sep = ";;" }]',
        "item 1 (../data/diabetes.csv): sep: must be a single character",
    ),
    (
        "same file twice",
        '[{ path = "../data/diabetes.csv", target = "progression", '
        'task = "regression" }, { path = "../data/diabetes.csv", target = "age", '
        'task = "regression" }]',
        "item 2 (../data/diabetes.csv): the same data set 'diabetes@",
    ),
    ("neither name nor table", "[3]", "item 1: expected a data set's name or a CSV file's table"),
]


@pytest.mark.parametrize(
    "case, datasets, reason", BAD_ENTRIES, ids=[case[0] for case in BAD_ENTRIES]
)
def test_a_bad_csv_entry_is_refused_up_front(case, datasets, reason, diabetes_csv, tmp_path):
    _ragged(diabetes_csv.parent)
    line = _grid_error(tmp_path, datasets)
    expected = reason.replace("{grids}", str((tmp_path / "grids").resolve())).replace(
        "{data}", str(diabetes_csv.parent.resolve())
    )
    assert expected in line, line


def test_integer_labels_written_as_floats_are_class_labels(tmp_path):
    """pandas' to_csv writes integer labels held as floats as 0.0 / 1.0: they are the
    classes 0 and 1; numbers with a fraction are still refused as labels."""
    rows = [f"{0.1 * i},{(i * 7) % 5 - 2},{float(i % 2)}" for i in range(30)]
    path = tmp_path / "floats.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    dataset = load_csv_dataset(path, "label", "classification")
    assert dataset.y.dtype == np.int64 and set(dataset.y.tolist()) == {0, 1}
    fractional = tmp_path / "fractional.csv"
    fractional.write_text("a,label\n" + "\n".join(f"{i},{i / 4}" for i in range(30)) + "\n")
    with pytest.raises(DataFileError, match="numbers that are not integers"):
        load_csv_dataset(fractional, "label", "classification")

"""Experiment grids: the sweep file, the store, the executors, resuming, status, plot."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA
from flexpoison import sweeps as sw
from flexpoison._validation import MAX_RATE, MIN_TRAIN_ROWS
from flexpoison.cli import main
from flexpoison.experiments.record import LEGACY, RECORD_VERSION

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = {
    "datasets": ["iris"],
    "models": ["logistic"],
    "goals": ["integrity"],
    "alphas": [0.0, 0.5],
    "rates": [0.05],
    "seeds": [0, 1],
    "max_iter": 5,
    "starts": 1,
}  # the sweep's mechanics, not the attack's strength, are tested here


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # numbers, and strings as TOML basic strings


def write_sweep(path: Path, **keys) -> Path:
    path.write_text(
        "[sweep]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items()), encoding="utf-8"
    )
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def store_rows(out: Path) -> dict[str, dict]:
    return {row["run_id"]: row for row in sw.read_store(out)}


# ------------------------------------------------------------------- the sweep file


def test_run_ids_hash_the_settings_only():
    settings = {
        "schema": 1,
        "dataset": "iris",
        "model": "logistic",
        "goal": "integrity",
        "alpha": 0.5,
        "rate": 0.05,
        "seed": 0,
        "sanitizers": [],
        "max_iter": 5,
        "tol": 1e-6,
        "step": "backtracking",
        "n_sigma": 3.0,
        "test_size": 0.3,
        "clean_removal": None,
    }
    # pinned: sha256 of the canonical JSON (sorted keys, no spaces), 16 hex digits; a
    # run's id must not change between versions of the code that computes it
    canonical = (
        '{"alpha":0.5,"clean_removal":null,"dataset":"iris","goal":"integrity",'
        '"max_iter":5,"model":"logistic","n_sigma":3.0,"rate":0.05,'
        '"sanitizers":[],"schema":1,"seed":0,"step":"backtracking",'
        '"test_size":0.3,"tol":1e-06}'
    )
    assert sw.run_id(settings) == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert sw.run_id(settings) == "cf46d90d5ce59bc4"
    assert sw.run_id(dict(reversed(list(settings.items())))) == sw.run_id(settings)
    assert sw.run_id({**settings, "alpha": 0.25}) != sw.run_id(settings)


def test_expansion_order_and_ids_are_independent_of_spelling(tmp_path):
    a = sw.load_sweep(write_sweep(tmp_path / "a.toml", name="a", **{**TINY, "alphas": [0, 1]}))
    b = sw.load_sweep(
        write_sweep(
            tmp_path / "b.toml", name="b", **{**TINY, "alphas": [0.0, 1.0], "datasets": ["Iris"]}
        )
    )
    assert len(a) == 4 and [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert [(r.settings["alpha"], r.settings["seed"]) for r in a.runs] == [
        (0.0, 0),
        (0.0, 1),
        (1.0, 0),
        (1.0, 1),
    ]
    assert a.runs[0].settings["clean_removal"] is None  # irrelevant without sanitizers


def test_skip_incompatible_leaves_out_pairs_and_trim(tmp_path):
    file = write_sweep(
        tmp_path / "mixed.toml",
        datasets=["ccpp", "iris"],
        models=["ridge", "logistic"],
        goals=["integrity"],
        alphas=[0.5],
        rates=[0.01],
        seeds=[0],
        sanitizers=["trim", "sphere"],
        data_dir=str(SHARED_DATA),
        skip_incompatible=True,
    )
    grid = sw.load_sweep(file)
    pairs = [
        (r.settings["dataset"], r.settings["model"], tuple(r.settings["sanitizers"]))
        for r in grid.runs
    ]
    assert pairs == [("ccpp", "ridge", ("sphere", "trim")), ("iris", "logistic", ("sphere",))]
    assert set(grid.skipped) == {"ccpp × logistic", "iris × ridge", "trim on iris"}


BAD_FILES = [
    (
        "unknown key",
        {**TINY, "alphass": [0.5]},
        "sweep.alphass",
        "unknown key (did you mean 'alphas'?)",
    ),
    ("scalar for a list", {**TINY, "alphas": 0.5}, "sweep.alphas", "expected an array of numbers"),
    (
        "wrong item type",
        {**TINY, "seeds": [0, "1"]},
        "sweep.seeds",
        "item 2: expected an integer, got a string",
    ),
    (
        "boolean for an integer",
        {**TINY, "max_iter": True},
        "sweep.max_iter",
        "expected an integer, got a boolean",
    ),
    (
        "empty grid",
        {**TINY, "seeds": []},
        "sweep.seeds",
        "empty array: the grid would have no runs",
    ),
    ("missing axis", {k: v for k, v in TINY.items() if k != "rates"}, "sweep.rates", "missing"),
    (
        "unknown data set",
        {**TINY, "datasets": ["iris", "mnist"]},
        "sweep.datasets",
        "item 2: unknown data set 'mnist'",
    ),
    (
        "unknown sanitizer",
        {**TINY, "sanitizers": ["sphere", "magic"]},
        "sweep.sanitizers",
        "item 2: unknown sanitizer 'magic'",
    ),
    (
        "alpha out of range",
        {**TINY, "alphas": [0.5, 1.5]},
        "sweep.alphas",
        "item 2: must lie in [0, 1], got 1.5",
    ),
    ("repeated value", {**TINY, "alphas": [0.5, 0.5]}, "sweep.alphas", "0.5 is given twice"),
    (
        "incompatible pair",
        {**TINY, "models": ["ridge"]},
        "sweep.models",
        "'ridge' is a regression model but 'iris' is a classification data set",
    ),
    (
        "trim on classification",
        {**TINY, "sanitizers": ["trim"]},
        "sweep.sanitizers",
        "'trim' is defined for regression only",
    ),
    (
        "rate rounds to no poison",
        {**TINY, "rates": [0.001]},
        "sweep.rates",
        "rounds to 0 poison rows",
    ),
    # what every run would refuse is refused up front, by the library's own rules
    (
        "rate above MAX_RATE",
        {**TINY, "rates": [0.05, 1e6]},
        "sweep.rates",
        f"item 2: 1e+06 is above {MAX_RATE:g}",
    ),
    (
        "max_iter not a count",
        {**TINY, "max_iter": 0},
        "sweep.max_iter",
        "must be a finite number > 0, got 0",
    ),
    ("tol not positive", {**TINY, "tol": 0}, "sweep.tol", "must be a finite number > 0"),
    (
        "unknown step rule",
        {**TINY, "step": "newton"},
        "sweep.step",
        "unknown step rule 'newton'; expected one of lbfgs, backtracking, paper",
    ),
    (
        "too few training rows",
        {**TINY, "test_size": 0.95},
        "sweep.test_size",
        f"data set 'iris': 150 rows split into 7 training and 143 test rows; an experiment "
        f"needs at least {MIN_TRAIN_ROWS}",
    ),
    (
        "too few test rows",
        {**TINY, "test_size": 0.02},
        "sweep.test_size",
        "data set 'iris': 150 rows split into 147 training and 3 test rows",
    ),
    (
        "n_sigma box too large",
        {**TINY, "n_sigma": 1e200},
        "sweep.n_sigma",
        "data set 'iris': the 1e+200σ box of feature",
    ),
]


@pytest.mark.parametrize("case, keys, key, reason", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_sweep_files_are_refused_before_any_run(tmp_path, case, keys, key, reason):
    file = write_sweep(tmp_path / "bad.toml", **keys)
    out = tmp_path / "out"
    result = invoke("sweep", file, "--out", out, "--workers", "1")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {file}: key '{key}': "), lines[0]
    assert reason in lines[0]
    assert not out.exists()  # not even the store's directory


@pytest.mark.parametrize(
    "text, message",
    [
        ("[sweep\ndatasets = ['iris']\n", "not valid TOML"),
        ("[grid]\ndatasets = ['iris']\n", "key 'grid': unknown key"),
        ("datasets = ['iris']\n", "key 'datasets': unknown key"),
        ("", "key 'sweep': missing"),
    ],
)
def test_malformed_files_are_refused(tmp_path, text, message):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    result = invoke("sweep", file, "--out", tmp_path / "out")
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.startswith(f"Error: {file}: ")
    assert not (tmp_path / "out").exists()


def test_the_grid_is_counted_before_it_is_expanded(tmp_path, monkeypatch):
    def expanded(settings):
        raise AssertionError("the grid was expanded")

    file = write_sweep(
        tmp_path / "huge.toml",
        **{
            **TINY,
            "alphas": [k / 999 for k in range(1000)],
            "rates": [0.005 + k * 0.000995 for k in range(1000)],
            "seeds": list(range(1000)),
        },
    )
    monkeypatch.setattr(sw.spec, "run_id", expanded)
    start = time.perf_counter()
    for args in ((), ("--status",)):
        result = invoke("sweep", file, "--out", tmp_path / "out", *args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert result.output == (
            f"Error: {file}: key 'sweep': the grid has 1,000,000,000 runs, more than the "
            f"limit {sw.MAX_RUNS:,}; split it into several sweep files (they can share one "
            "--out) or give fewer values\n"
        )
    # counting takes milliseconds, expanding 10⁹ runs hours: a bound far from both
    assert time.perf_counter() - start < 60 and not (tmp_path / "out").exists()
    help_text = " ".join(invoke("sweep", "--help").output.split())
    assert f"a grid of more than {sw.MAX_RUNS:,} runs" in help_text


def test_the_run_limit_is_inclusive(tmp_path, monkeypatch):
    file = write_sweep(tmp_path / "tiny.toml", **TINY)  # 4 runs
    monkeypatch.setattr(sw.spec, "MAX_RUNS", 4)
    assert len(sw.load_sweep(file)) == 4
    monkeypatch.setattr(sw.spec, "MAX_RUNS", 3)
    with pytest.raises(sw.SweepFileError, match="the grid has 4 runs, more than the limit 3;"):
        sw.load_sweep(file)


SECRET = "SECRET-7f3a"

# A data set's path may name any file: no refusal prints what the file holds
FOREIGN_FILES = [
    (
        "passwd",
        f"root:x:0:0:{SECRET}:/root:/bin/bash\nbin:x:1:1::/:/bin/false\n".encode(),
        "line 1: the header has a single column (no ',' on the line)",
    ),
    ("environ", f"HOME=/root\0TOKEN={SECRET}\0".encode(), "line 1: the header has a single"),
    ("ragged", f"{SECRET},b\n1,2,3\n".encode(), "line 2: 3 fields, but the header has 2"),
    (
        "named twice",
        f"{SECRET},{SECRET},y\n1,2,3\n".encode(),
        "line 1: columns 1 and 2 of the header have the same name",
    ),
    (
        "unnamed column",
        f"a,,y\n{SECRET},2,3\n".encode(),
        "line 1: column 2 of the header has no name",
    ),
    ("a cell", f"a,y\n1,2\n{SECRET},3\n".encode(), "line 3, column 'a': not a number"),
    ("a target cell", f"a,y\n1,2\n3,{SECRET}\n".encode(), "line 3, column 'y': not a number"),
    ("binary", b"a,y\n1,2\n\xff\xfe" + SECRET.encode(), "line 3: not UTF-8 text"),
    ("empty", b"", "the file is empty; expected a header row and data"),
]


def csv_refusal(tmp_path, path: str, **keys) -> str:
    """The one-line refusal of a sweep file whose data set is the CSV file ``path``."""
    file = tmp_path / "grid.toml"
    file.write_text(
        f'[sweep]\ndatasets = [{{ path = {json.dumps(path)}, target = "y" }}]\n'
        + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
    )
    result = invoke("sweep", file, "--out", tmp_path / "out", "--workers", "1")
    item = f"item 1 ({path}): " if path else "item 1: "
    assert_refused(result, f"Error: {file}: key 'sweep.datasets': {item}")
    assert not (tmp_path / "out").exists()
    return result.output


@pytest.mark.parametrize(
    "name, content, reason", FOREIGN_FILES, ids=[case[0] for case in FOREIGN_FILES]
)
def test_no_refusal_prints_the_content_of_a_file(tmp_path, name, content, reason):
    (tmp_path / "data.bin").write_bytes(content)
    keys = {k: v for k, v in TINY.items() if k != "datasets"}
    output = csv_refusal(tmp_path, "data.bin", **{**keys, "models": ["ridge"]})
    assert f"{tmp_path / 'data.bin'}" in output and reason in output, output
    assert SECRET not in output and "/bin/bash" not in output and "TOKEN=" not in output


def test_a_vector_file_refusal_names_the_item_not_its_text(tmp_path):
    from flexpoison.data import DataFileError, read_vector

    path = tmp_path / "theta.txt"
    path.write_text(f"1.5, 2\n3 {SECRET}\n")
    with pytest.raises(DataFileError) as caught:
        read_vector(path)
    assert str(caught.value) == (
        f"{path}, line 2: item 2 is not a number (expected numbers, "
        "one per line or comma separated)"
    )
    with pytest.raises(DataFileError, match="a directory, not a file of numbers"):
        read_vector(tmp_path)


def test_a_path_that_is_no_csv_file_is_refused_for_what_it_is(tmp_path):
    keys = {**{k: v for k, v in TINY.items() if k != "datasets"}, "models": ["ridge"]}
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")  # reading it would wait forever
    cases = {
        "folder": f"{tmp_path / 'folder'} is a directory, not a CSV file; name a file in it",
        "": "path: empty string; give the CSV file's path",
        "pipe": f"{tmp_path / 'pipe'} is not a regular file (a device, a pipe or a socket)",
        "nope.csv": f"no such file {tmp_path / 'nope.csv'} (a relative path is read from",
    }
    for path, reason in cases.items():
        output = csv_refusal(tmp_path, path, **keys)
        assert reason in output, output


# ------------------------------------------------------------------------ one run


def settings_for(**changes) -> dict:
    return {
        "schema": sw.SCHEMA_VERSION,
        "dataset": "iris",
        "model": "logistic",
        "goal": "availability",
        "alpha": 0.5,
        "rate": 0.05,
        "seed": 1,
        "sanitizers": [],
        "max_iter": 5,
        "tol": 1e-6,
        "step": "lbfgs",
        "trade_off": "share",
        "starts": 4,
        "passes": 1,
        "n_sigma": 3.0,
        "test_size": 0.3,
        "clean_removal": None,
        **changes,
    }


def test_sanitizer_numbers_are_the_frontiers():
    from flexpoison import FlexiblePoisoning
    from flexpoison.experiments.frontier import run_frontier

    frontier = run_frontier(
        "iris",
        model="logistic",
        goal="availability",
        rate=0.05,
        alphas=[0.5],
        baselines=(),
        sanitizers=["sphere", "loss"],
        seed=1,
        attack=FlexiblePoisoning(None, max_iter=5, tol=1e-6, random_state=0),
    )
    result = sw.compute_run(settings_for(sanitizers=["sphere", "loss"], clean_removal=0.05))
    for name in ("sphere", "loss"):
        row = frontier.row("flexible", name, 0.5)
        assert result["sanitizers"][name] == {
            "recall": row.recall,
            "poison_removed": row.poison_removed,
            "clean_removed": row.clean_removed,
            "clean_removed_share": row.clean_removed_share,
            "effect": row.effect,
            "test_metric": row.test_metric,
            "damage_left": row.damage_left,
            "outcome": "measured",
        }
    assert result["refit"]["effect_clean"] == frontier.effect_clean
    assert result["refit"]["effect_poisoned"] == frontier.row("flexible", "none", 0.5).effect


def exact_line_csv(path: Path) -> Path:
    """40 rows on a plane, to 0.001: the loss filter's threshold (the clean model's
    worst squared errors) is tiny, so once poison moves the model, every row's error
    exceeds it and the filter removes every row."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ np.array([1.0, -2.0]) + 0.5 + rng.normal(scale=0.001, size=40)
    lines = [f"{a:.6f},{b:.6f},{c:.6f}" for a, b, c in zip(X[:, 0], X[:, 1], y)]
    path.write_text("x1,x2,y\n" + "\n".join(lines) + "\n")
    return path


def test_a_sanitizer_that_removes_every_row_is_an_outcome_of_the_run(tmp_path):
    exact_line_csv(tmp_path / "exact.csv")
    file = tmp_path / "exact.toml"
    file.write_text(
        '[sweep]\ndatasets = [{ path = "exact.csv", target = "y" }]\nmodels = ["linear"]\n'
        'goals = ["integrity"]\nalphas = [0.0]\nrates = [0.1]\nseeds = [0, 1]\n'
        'sanitizers = ["sphere", "loss"]\nmax_iter = 5\nstarts = 1\n'
    )
    out = tmp_path / "out"
    result = invoke("sweep", file, "--out", out, "--workers", "1")
    assert result.exit_code == 0, result.output  # done, not failed
    rows = sw.read_store(out)
    assert len(rows) == 2 and all(row["status"] == "done" for row in rows)
    for row in rows:
        loss, sphere = (row["result"]["sanitizers"][k] for k in ("loss", "sphere"))
        n, m = row["result"]["n_clean"], row["result"]["n_points"]
        assert loss == {
            "outcome": "removed every row",
            "recall": 1.0,
            "poison_removed": m,
            "clean_removed": n,
            "clean_removed_share": 1.0,
            "effect": None,
            "test_metric": None,
            "damage_left": None,
        }
        assert sphere["outcome"] == "measured" and sphere["effect"] is not None
    line = (
        f"sanitizer 'loss' removed every row in 2 of 2 done runs (e.g. {rows[0]['run_id']}"
        "): no effect or test metric after it there"
    )
    assert line in result.output
    status = invoke("sweep", file, "--out", out, "--status")
    assert status.exit_code == 0 and line in status.output, status.output
    assert "Found array" not in result.output + status.output
    drawn = invoke("plot", out)
    assert drawn.exit_code == 0, drawn.output


class KeepOnly:
    """A sanitizer (test double) keeping the rows whose label is in ``labels``."""

    def __init__(self, name, labels):
        self.name, self.labels = name, labels

    def screen(self, X, y, *, X_clean, y_clean, task):
        raise NotImplementedError

    def __call__(self, X, y, *, X_clean, y_clean, task):
        return np.flatnonzero(np.isin(y, self.labels))


def test_a_sanitizer_that_keeps_one_class_is_an_outcome_of_the_run():
    from flexpoison import models
    from flexpoison.attack import goal_from_name
    from flexpoison.data import load_dataset
    from flexpoison.experiments.paper import split_dataset
    from flexpoison.experiments.pipeline import Experiment

    split = split_dataset(load_dataset("iris"), test_size=0.3, seed=0)
    experiment = Experiment(models.get("logistic").make(), goal_from_name("availability"), split)
    attack = experiment.attack(0.5, rate=0.05, max_iter=3, starts=1, random_state=0, progress=False)
    out = sw.run._sanitised(
        experiment, attack, [KeepOnly("one_class", [0]), KeepOnly("no_row", []), "sphere"], 0.05
    )["sanitizers"]
    n, m = split.X_train.shape[0], attack.n_points
    kept_clean = int(np.sum(split.y_train == 0))
    kept_poison = int(np.sum(np.asarray(attack.y_poison) == 0))
    assert out["one_class"] == {
        "outcome": "kept one class",
        "recall": (m - kept_poison) / m,
        "poison_removed": m - kept_poison,
        "clean_removed": n - kept_clean,
        "clean_removed_share": (n - kept_clean) / n,
        "effect": None,
        "test_metric": None,
        "damage_left": None,
    }
    assert out["no_row"]["outcome"] == "removed every row"
    assert out["no_row"]["clean_removed"] == n and out["no_row"]["poison_removed"] == m
    assert out["sphere"]["outcome"] == "measured"


def test_a_regression_run_reports_the_test_mse():
    result = sw.compute_run(
        settings_for(dataset="ccpp", model="ridge", goal="integrity", rate=0.001, seed=0),
        str(SHARED_DATA),
    )
    assert result["task"] == "regression" and result["metric_name"] == "test MSE"
    assert result["n_points"] == round(0.001 * result["n_clean"]) == 7
    assert len(result["theta_clean"]) == 5 and len(result["effect_history"]) == 7
    assert result["effect_final"] < result["effect_clean"]  # E_I falls
    assert result["test_metric_poisoned"] > result["test_metric_clean"] > 0
    assert result["record_version"] == RECORD_VERSION
    assert not result.keys() & LEGACY["sweep"].keys()


# ----------------------------------------------------------------------- executors


def test_dask_cluster_gives_the_local_results_run_for_run(tmp_path):
    from distributed import LocalCluster

    file = write_sweep(tmp_path / "tiny.toml", **TINY, sanitizers=["sphere"])
    grid = sw.load_sweep(file)
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        dask = invoke(
            "sweep",
            file,
            "--out",
            tmp_path / "dask",
            "-q",
            "--scheduler",
            cluster.scheduler_address,
        )
    assert dask.exit_code == 0, dask.output
    local = invoke("sweep", file, "--out", tmp_path / "local", "-q", "--workers", "2")
    assert local.exit_code == 0, local.output
    inline = invoke("sweep", file, "--out", tmp_path / "inline", "-q", "--workers", "1")
    assert inline.exit_code == 0, inline.output

    stores = {name: store_rows(tmp_path / name) for name in ("dask", "local", "inline")}
    ids = {r.run_id for r in grid.runs}
    for name, rows in stores.items():
        assert set(rows) == ids, name
        assert all(row["status"] == "done" for row in rows.values()), name
    for run_id in ids:
        reference = stores["inline"][run_id]
        for name in ("dask", "local"):
            assert stores[name][run_id]["settings"] == reference["settings"]
            # identical to the last bit: the stored JSON holds floats' exact repr
            assert stores[name][run_id]["result"] == reference["result"], (name, run_id)
    here = str(os.getpid())
    assert all(r["worker"].rsplit(":", 1)[1] == here for r in stores["inline"].values())
    for name in ("dask", "local"):
        assert all(r["worker"].rsplit(":", 1)[1] != here for r in stores[name].values())
    result = stores["dask"][grid.runs[0].run_id]["result"]
    assert set(result["sanitizers"]["sphere"]) >= {
        "recall",
        "clean_removed_share",
        "effect",
        "test_metric",
    }
    assert len(result["theta_poisoned"]) == 15  # 3 classes × (4 features + intercept)


def _count(out: Path, status: str = "done") -> int:
    path = out / sw.STORE_NAME
    if not path.is_file():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM runs WHERE status = ?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        conn.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


#: The tests below wait on events (a run in the store, a process gone), never on a
#: tight wall-clock timeout: on a busy, shared machine an event may take minutes. This
#: bound only turns a true hang into a failure.
HANG_SECONDS = 600


def wait_for(condition, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``condition()`` until it holds; fail if ``proc`` ends first, or after
    :data:`HANG_SECONDS` (a hang)."""
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"hung: no {what} in {HANG_SECONDS} s"
        time.sleep(0.05)


def test_sigkill_mid_sweep_loses_nothing_and_recomputes_nothing(tmp_path):
    file = write_sweep(
        tmp_path / "kill.toml",
        datasets=["iris"],
        models=["logistic"],
        goals=["integrity", "availability"],
        alphas=[0.0, 0.5, 1.0],
        rates=[0.1],
        seeds=[0, 1],
        max_iter=30,
        starts=1,
    )
    grid = sw.load_sweep(file)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "flexpoison",
        "sweep",
        str(file),
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_for(lambda: _count(out) >= 1, "run finished", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        # the pool's workers notice that the sweep is gone and exit
        wait_for(lambda: not _group_alive(proc.pid), "exit of the killed sweep's workers")
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    before = store_rows(out)
    assert 1 <= len(before) < len(grid)
    assert all(row["status"] == "done" for row in before.values())

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=HANG_SECONDS)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} already in" in rerun.stdout
    after = store_rows(out)
    conn = sqlite3.connect(out / sw.STORE_NAME)
    try:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(grid)
    finally:
        conn.close()
    assert set(after) == {r.run_id for r in grid.runs}
    assert all(row["status"] == "done" and row["attempts"] == 1 for row in after.values())
    for run_id, row in before.items():  # finished runs were not run again
        assert (after[run_id]["rowid"], after[run_id]["finished_at"], after[run_id]["result"]) == (
            row["rowid"],
            row["finished_at"],
            row["result"],
        )


def test_ctrl_c_stops_the_workers_cleanly(tmp_path):
    file = write_sweep(
        tmp_path / "slow.toml", **{**TINY, "rates": [0.3], "seeds": [0, 1, 2, 3], "max_iter": 30}
    )
    out = tmp_path / "out"
    # `python -m flexpoison`, with Ctrl-C's KeyboardInterrupt restored: a background job
    # of a shell (which this test may be) ignores SIGINT, and so would its children
    command = [
        sys.executable,
        "-c",
        "import runpy, signal, sys; signal.signal(signal.SIGINT, "
        "signal.default_int_handler); sys.argv[0] = 'flexpoison'; "
        "runpy.run_module('flexpoison', run_name='__main__')",
        "sweep",
        str(file),
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        # the workers are inside their runs once one has finished
        wait_for(lambda: _count(out) >= 1, "run finished", proc)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        _, stderr = proc.communicate(timeout=HANG_SECONDS)
        # the workers left their runs and exited with the sweep
        wait_for(lambda: not _group_alive(proc.pid), "exit of the workers")
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert stderr == (
        f"interrupted: the runs finished so far are in {out / sw.STORE_NAME}; "
        "run the same command again to resume\n"
    )
    done = _count(out)
    assert 1 <= done < 8
    # consistent and resumable: every row finished, the rest pending
    assert all(row["status"] == "done" for row in sw.read_store(out))
    status = invoke("sweep", file, "--out", out, "--status")
    assert counts(status.output) == {"done": str(done), "failed": "0", "pending": str(8 - done)}, (
        status.output
    )


def test_ctrl_c_before_the_runs_exits_130_too(tmp_path, monkeypatch):
    """Ctrl-C while the sweep file is read, or while the command loads, is an interrupt
    (exit status 130, one line), not click's 'Aborted!' with status 1."""
    import flexpoison.cli

    file = write_sweep(tmp_path / "tiny.toml", **TINY)
    out = tmp_path / "out"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sw, "load_sweep", interrupted)
    result = CliRunner().invoke(main, ["sweep", str(file), "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert result.output == (
        f"interrupted before a run was written (no {out / sw.STORE_NAME} "
        "yet); run the same command again to start\n"
    )
    monkeypatch.setattr(flexpoison.cli, "import_module", interrupted)
    result = CliRunner().invoke(main, ["sweep", str(file), "--out", str(out)])
    assert (result.exit_code, result.output) == (130, "interrupted\n")


def test_a_failing_run_is_recorded_and_retried(tmp_path, monkeypatch):
    file = write_sweep(tmp_path / "tiny.toml", **{**TINY, "alphas": [0.0, 1.0]})
    out = tmp_path / "out"
    compute = sw.compute_run

    def flaky(settings, data_dir=None):
        if settings["alpha"] == 1.0 and settings["seed"] == 1:
            raise RuntimeError("boom\non two lines")
        return compute(settings, data_dir)

    monkeypatch.setattr(sw.run, "compute_run", flaky)
    first = invoke("sweep", file, "--out", out, "--workers", "1")
    assert first.exit_code == 1
    assert "1 of 4 runs failed" in first.output and "--retry-failed" in first.output
    rows = store_rows(out)
    failed = [row for row in rows.values() if row["status"] == "failed"]
    assert len(rows) == 4 and len(failed) == 1  # the sweep went on
    assert failed[0]["error"] == "RuntimeError: boom on two lines"
    assert "Traceback" in failed[0]["traceback"] and failed[0]["result"] is None

    status = invoke("sweep", file, "--out", out, "--status")
    assert status.exit_code == 0, status.output
    assert "RuntimeError: boom on two lines" in status.output
    assert failed[0]["run_id"] in status.output

    again = invoke("sweep", file, "--out", out, "--workers", "1", "-q")
    assert again.exit_code == 1 and "0 run now" in again.output  # failed runs skipped

    monkeypatch.setattr(sw.run, "compute_run", compute)
    retry = invoke("sweep", file, "--out", out, "--workers", "1", "--retry-failed", "-q")
    assert retry.exit_code == 0, retry.output
    after = store_rows(out)
    assert all(row["status"] == "done" for row in after.values())
    assert after[failed[0]["run_id"]]["attempts"] == 2
    assert after[failed[0]["run_id"]]["error"] is None
    for run_id, row in rows.items():
        if row["status"] == "done":
            assert after[run_id]["finished_at"] == row["finished_at"]


def die_on_alpha_one(payload):
    """A run function whose worker process dies (as under the OOM killer)."""
    if payload["settings"]["alpha"] == 1.0:
        os._exit(3)
    return sw.execute_run(payload)


def test_a_dead_worker_fails_its_runs_and_the_sweep_goes_on(tmp_path):
    file = write_sweep(tmp_path / "tiny.toml", **{**TINY, "alphas": [0.0, 1.0], "seeds": [0]})
    grid = sw.load_sweep(file)
    report = sw.run_sweep(
        grid, tmp_path / "out", workers=2, progress=False, function=die_on_alpha_one
    )
    rows = store_rows(tmp_path / "out")
    assert report.pending == 0 and set(rows) == {r.run_id for r in grid.runs}
    dead = [row for row in rows.values() if row["settings"]["alpha"] == 1.0]
    assert dead and all(row["error"].startswith("WorkerDied:") for row in dead)
    report = sw.run_sweep(grid, tmp_path / "out", workers=1, retry_failed=True, progress=False)
    assert report.failed_total == 0
    assert all(row["status"] == "done" for row in store_rows(tmp_path / "out").values())


def test_a_done_row_is_never_replaced(tmp_path):
    with sw.ResultsStore(tmp_path / sw.STORE_NAME) as store:
        settings = {"alpha": 0.5}
        store.record(sw.Outcome("abc", settings, "done", '{"x": 1}', None, None, 1.0, {}, "here:1"))
        store.record(sw.Outcome("abc", settings, "failed", None, "E: no", None, 1.0, {}, "here:2"))
        (row,) = store.rows()
    assert (row["status"], row["result"]["x"], row["attempts"]) == ("done", 1, 1)


def test_one_sweep_at_a_time_per_store(tmp_path):
    file = write_sweep(tmp_path / "tiny.toml", **TINY)
    out = tmp_path / "out"
    out.mkdir()
    with sw.store.exclusive(out):
        result = invoke("sweep", file, "--out", out, "--workers", "1")
    assert_refused(
        result,
        f"Error: {out / sw.STORE_NAME}: in use by another flexpoison sweep (pid {os.getpid()})",
        "wait for it to end",
        "another --out",
    )


def instant_run(payload) -> sw.Outcome:
    """A run function that returns at once (the store's mechanics are tested)."""
    from flexpoison.sweeps.run import versions

    numbers = dict.fromkeys(sw.store.SUMMARY_NUMBERS, 1.0)
    return sw.Outcome(
        payload["run_id"],
        payload["settings"],
        "done",
        sw.spec.canonical(numbers),
        None,
        None,
        0.0,
        versions(),
        "here:1",
    )


def test_two_sweeps_creating_one_store_never_call_it_damaged(tmp_path):
    import threading

    grid = sw.load_sweep(write_sweep(tmp_path / "tiny.toml", **TINY))
    outcomes = []

    def sweep(out, barrier, delay):
        barrier.wait()
        time.sleep(delay)
        try:
            sw.run_sweep(grid, out, workers=1, progress=False, function=instant_run)
            outcomes.append("ran")
        except sw.StoreError as exc:
            outcomes.append(str(exc))

    # the second sweep starts 0 to 15 ms after the first: across the window in which
    # the first one creates the store
    for k in range(30):
        out, barrier = tmp_path / f"out{k}", threading.Barrier(2)
        threads = [
            threading.Thread(target=sweep, args=(out, barrier, delay))
            for delay in (0.0, k * 0.0005)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(store_rows(out)) == {r.run_id for r in grid.runs}
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(sw.STORE_NAME)) == [
            sw.store.LOCK_NAME
        ]
    assert not [o for o in outcomes if "damaged" in o], outcomes
    assert all(o == "ran" or " in use by another flexpoison sweep" in o for o in outcomes)
    assert outcomes.count("ran") >= 30


def test_a_store_is_never_seen_half_made(tmp_path, monkeypatch):
    """While a sweep builds its store, another sweep is refused as 'in use', and
    --status and plot see no store yet, never a damaged one."""
    import threading

    file = write_sweep(tmp_path / "tiny.toml", **TINY)
    out = tmp_path / "out"
    built, release = threading.Event(), threading.Event()
    connect = sqlite3.connect

    def pause(sql: str) -> None:  # the first table of the first store built
        if sql.lstrip().startswith("CREATE TABLE") and not built.is_set():
            built.set()
            release.wait(60)

    def slow_connect(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(pause)
        return conn

    monkeypatch.setattr(sw.store.sqlite3, "connect", slow_connect)
    grid = sw.load_sweep(file)
    first = threading.Thread(
        target=sw.run_sweep,
        args=(grid, out),
        kwargs={"workers": 1, "progress": False, "function": instant_run},
    )
    first.start()
    try:
        assert built.wait(60)
        assert_refused(
            invoke("sweep", file, "--out", out, "--workers", "1"),
            "in use by another flexpoison sweep",
        )
        status = invoke("sweep", file, "--out", out, "--status")
        assert status.exit_code == 0 and "no results store" in status.output, status.output
        assert_refused(invoke("plot", out), "no results store")
    finally:
        release.set()
        first.join()
    assert set(store_rows(out)) == {r.run_id for r in grid.runs}


# ----------------------------------------------------------------- status and plot


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    file = write_sweep(
        root / "grid.toml",
        name="grid",
        datasets=["iris"],
        models=["logistic"],
        goals=["integrity", "availability"],
        alphas=[0.0, 1.0],
        rates=[0.05, 0.1],
        seeds=[0],
        sanitizers=["sphere", "loss"],
        max_iter=5,
    )
    result = invoke("sweep", file, "--out", root / "out", "--workers", "1")
    assert result.exit_code == 0, result.output
    return file, root / "out"


def counts(output: str) -> dict[str, str]:
    """The 'done N' / 'failed N' / 'pending N' lines of --status."""
    return {
        words[0]: words[1]
        for words in map(str.split, output.splitlines())
        if len(words) == 2 and words[0] in ("done", "failed", "pending") and words[1].isdigit()
    }


def test_status_counts_a_store_without_running(finished_store, tmp_path):
    file, out = finished_store
    stamp = (out / sw.STORE_NAME).stat().st_mtime_ns
    result = invoke("sweep", file, "--out", out, "--status")
    assert result.exit_code == 0, result.output
    assert "8 runs in the grid" in result.output
    assert counts(result.output) == {"done": "8", "failed": "0", "pending": "0"}
    assert (out / sw.STORE_NAME).stat().st_mtime_ns == stamp
    # a larger grid over the same store: the 8 runs count as done, the rest pending
    bigger = write_sweep(
        tmp_path / "bigger.toml",
        datasets=["iris"],
        models=["logistic"],
        goals=["integrity", "availability"],
        alphas=[0.0, 0.5, 1.0],
        rates=[0.05, 0.1],
        seeds=[0],
        sanitizers=["loss", "sphere"],
        max_iter=5,
    )
    result = invoke("sweep", bigger, "--out", out, "--status")
    assert counts(result.output) == {"done": "8", "failed": "0", "pending": "4"}
    # no store yet: everything pending, and nothing is created
    result = invoke("sweep", file, "--out", tmp_path / "nothing", "--status")
    assert result.exit_code == 0 and "no results store" in result.output
    assert not (tmp_path / "nothing").exists()


def test_plot_draws_the_figures_from_the_store(finished_store):
    _, out = finished_store
    result = invoke("plot", out)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (out / "figures").iterdir())
    assert names == sorted(
        [
            f"{kind}__iris__logistic__{goal}.png"
            for kind in ("effect_vs_rate", "metric_vs_rate")
            for goal in ("integrity", "availability")
        ]
        + [
            f"frontier__iris__logistic__{goal}__rate{rate}.png"
            for goal in ("integrity", "availability")
            for rate in ("0.05", "0.1")
        ]
    )
    assert all((out / "figures" / n).read_bytes().startswith(PNG_MAGIC) for n in names)


# How a sweep run's result spelled these fields before the result record (record
# version 1, no "record_version"): written out here, as flexpoison 13dd748 wrote them.
VERSION_1 = {
    "n_points": "n_poison",
    "rate": "rate_actual",
    "n_iter": "iterations_per_point",
    "test_metric_clean": "test_metric_before",
    "test_metric_poisoned": "test_metric_after",
}


def test_a_store_written_before_the_result_record_still_reads(finished_store, tmp_path):
    file, out = finished_store
    old = tmp_path / "old"
    old.mkdir()
    (old / sw.STORE_NAME).write_bytes((out / sw.STORE_NAME).read_bytes())
    with sqlite3.connect(old / sw.STORE_NAME) as conn:
        for run_id, text in conn.execute("SELECT run_id, result FROM runs").fetchall():
            result = json.loads(text)
            assert result.pop("record_version") == 2
            result = {VERSION_1.get(k, k): v for k, v in result.items()}
            conn.execute(
                "UPDATE runs SET result = ? WHERE run_id = ?", (json.dumps(result), run_id)
            )
    raw = sqlite3.connect(old / sw.STORE_NAME).execute("SELECT result FROM runs").fetchone()[0]
    assert "rate_actual" in raw and "record_version" not in raw  # an old-format store
    # read: the same results as the store in the record's spellings
    assert store_rows(old) == store_rows(out)
    # --status: the same numbers (its SQL reads the old spellings)
    statuses = [invoke("sweep", file, "--out", where, "--status") for where in (out, old)]
    assert statuses[0].exit_code == statuses[1].exit_code == 0, statuses[1].output
    assert statuses[0].output.replace(str(out), "OUT") == statuses[1].output.replace(
        str(old), "OUT"
    )
    assert "nan" not in statuses[1].output.lower()
    # plot: the same figures, byte for byte
    for where in (out, old):
        assert invoke("plot", where).exit_code == 0
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == sorted(p.name for p in (old / "figures").iterdir()) and figures
    for name in figures:
        assert (old / "figures" / name).read_bytes() == (out / "figures" / name).read_bytes()
    # a sweep resumed into it writes its missing run beside the old ones
    with sqlite3.connect(old / sw.STORE_NAME) as conn:
        (gone,) = conn.execute("SELECT run_id FROM runs LIMIT 1").fetchone()
        conn.execute("DELETE FROM runs WHERE run_id = ?", (gone,))
    assert invoke("sweep", file, "--out", old, "--workers", "1").exit_code == 0

    def results(where):
        return {k: (r["status"], r["result"]) for k, r in store_rows(where).items()}

    assert results(old) == results(out)
    with sqlite3.connect(old / sw.STORE_NAME) as conn:
        raw = dict(conn.execute("SELECT run_id, result FROM runs").fetchall())
    assert [k for k, text in raw.items() if "record_version" in text] == [gone]  # mixed


def fake_store(out: Path, rows) -> None:
    """A store holding ``rows`` = (run_id, status, settings, result JSON, error), written
    straight into SQLite (as many as a test needs, in one transaction)."""
    out.mkdir(parents=True, exist_ok=True)
    sw.ResultsStore(out / sw.STORE_NAME).close()
    conn = sqlite3.connect(out / sw.STORE_NAME)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO runs (run_id, status, settings, result, error, wall_seconds, "
                "versions, worker, finished_at) VALUES (?, ?, ?, ?, ?, 2.0, '{}', 'h:1', 'now')",
                rows,
            )
    finally:
        conn.close()


def test_status_streams_the_store_in_bounded_memory(tmp_path):
    import tracemalloc

    file = write_sweep(
        tmp_path / "grid.toml",
        **{
            **TINY,
            "alphas": [k / 9 for k in range(10)],
            "rates": [0.05 * (k + 1) for k in range(10)],
            "seeds": list(range(10)),
        },
    )
    grid = sw.load_sweep(file)
    # 1,000 finished runs whose results hold long histories (20 MB of JSON): --status
    # needs four numbers of each, never the results themselves
    result = json.dumps(
        {
            "effect_clean": 1.0,
            "effect_final": 3.0,
            "test_metric_before": 0.5,
            "test_metric_after": 0.25,
            "effect_history": [0.125] * 4000,
        }
    )
    rows = [(r.run_id, "done", json.dumps(dict(r.settings)), result, None) for r in grid.runs[5:]]
    rows += [
        (r.run_id, "failed", json.dumps(dict(r.settings)), None, "E: no") for r in grid.runs[:5]
    ]
    rows.append(("0123456789abcdef", "done", "{}", result, None))  # another grid's run
    fake_store(tmp_path / "out", rows)
    tracemalloc.start()
    try:
        report = sw.sweep_status(grid, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10e6, f"--status held {peak / 1e6:.0f} MB"
    assert (report.done, report.failed, report.pending, report.other_runs) == (995, 5, 0, 1)
    assert report.means == {("iris", "logistic", "integrity"): (1.0, 3.0, 0.5, 0.25, 2.0)}
    assert [f[0] for f in report.failures] == [r.run_id for r in grid.runs[:5]]
    text = invoke("sweep", file, "--out", tmp_path / "out", "--status").output
    assert counts(text) == {"done": "995", "failed": "5", "pending": "0"}


def assert_refused(result, *fragments: str) -> None:
    """One line ``Error: …`` holding every fragment, exit status 1, no traceback."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def damage(path: Path, how: str) -> None:
    """Garbage over the root page of a table (a page in the middle of the file), or a
    finished run's result emptied."""
    conn = sqlite3.connect(path)
    try:
        if how == "emptied result":
            with conn:
                conn.execute("UPDATE runs SET result = '{}' WHERE rowid = 2")
            return
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (how,)
        ).fetchone()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    finally:
        conn.close()
    assert 1 < root < pages
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"garbage!" * (page_size // 8))


@pytest.mark.parametrize("how", ["runs", "sqlite_autoindex_runs_1", "emptied result"])
def test_a_damaged_store_is_refused_in_one_line(finished_store, tmp_path, how):
    file, finished = finished_store
    out = tmp_path / "out"
    out.mkdir()
    store = out / sw.STORE_NAME
    store.write_bytes((finished / sw.STORE_NAME).read_bytes())
    damage(store, how)
    for args in (
        ("sweep", file, "--out", out, "--status"),
        ("sweep", file, "--out", out, "--workers", "1"),
        ("plot", out),
    ):
        assert_refused(
            invoke(*args),
            f"Error: {store}: the results store is damaged",
            "move it aside",
            "run the sweep again",
        )
    assert not (out / "figures").exists()


def test_a_directory_in_place_of_the_store_is_refused(tmp_path):
    file = write_sweep(tmp_path / "tiny.toml", **TINY)
    out = tmp_path / "out"
    (out / sw.STORE_NAME).mkdir(parents=True)
    for args in (
        ("sweep", file, "--out", out, "--status"),
        ("sweep", file, "--out", out, "--workers", "1"),
        ("plot", out),
    ):
        assert_refused(invoke(*args), f"Error: {out / sw.STORE_NAME}: not a results store")
    assert sorted(p.name for p in out.iterdir()) == [sw.STORE_NAME]


def test_plot_refuses_a_directory_without_a_store(tmp_path):
    result = invoke("plot", tmp_path)
    assert result.exit_code == 1
    assert "no results store" in result.output and not (tmp_path / "figures").exists()


# ------------------------------------------------------------- feature constraints


def constrained_csv(path: Path) -> Path:
    """40 regression rows: an integer count, a code, a one-hot pair and a real column."""
    rng = np.random.default_rng(0)
    count, code, group = rng.integers(0, 10, 40), rng.integers(1, 3, 40), rng.integers(0, 2, 40)
    x = rng.normal(size=40)
    y = 2.0 * count - 3.0 * group + x + 0.3 * rng.normal(size=40)
    rows = zip(count, code, group, x, y)
    lines = [f"{a},{b},{g},{1 - g},{c:.6f},{d:.6f}" for a, b, g, c, d in rows]
    path.write_text("count,code,g0,g1,x,y\n" + "\n".join(lines) + "\n")
    return path


CONSTRAINED = (
    'integer = ["count"], frozen = ["code"], one_hot = [["g0", "g1"]], '
    "bounds = { x = [-inf, 0.5], count = [2, 7] }, within_range = true"
)


def constrained_sweep(tmp_path, entry: str = CONSTRAINED) -> Path:
    constrained_csv(tmp_path / "c.csv")
    file = tmp_path / "c.toml"
    file.write_text(
        f'[sweep]\ndatasets = [{{ path = "c.csv", target = "y", {entry} }}]\n'
        'models = ["ridge"]\ngoals = ["integrity"]\nalphas = [0.0, 0.5]\nrates = [0.05]\n'
        "seeds = [0]\nmax_iter = 5\nstarts = 1\n"
    )
    return file


def test_a_csv_data_set_takes_the_attack_constraints(tmp_path, monkeypatch):
    from flexpoison.experiments import pipeline

    sweep = sw.load_sweep(constrained_sweep(tmp_path))
    crafted = []
    generate = pipeline.Experiment.generate

    def spy(self, attacker, **options):
        result = generate(self, attacker, **options)
        crafted.append(self.split.to_data_units(result.X_poison))
        return result

    monkeypatch.setattr(pipeline.Experiment, "generate", spy)
    for run in sweep.runs:
        assert run.settings["data"]["constraints"]["integer_features"] == ["count"]
        sw.compute_run(run.settings, data_file=str(tmp_path / "c.csv"))
    assert len(crafted) == 2
    for rows in crafted:
        assert np.allclose(rows[:, 0], np.round(rows[:, 0])) and np.all(rows[:, 0] >= 2 - 1e-9)
        assert np.all(rows[:, 0] <= 7 + 1e-9) and np.allclose(rows[:, 2] + rows[:, 3], 1)
        assert set(np.round(rows[:, 1], 9)) <= {1.0, 2.0} and np.all(rows[:, 4] <= 0.5 + 1e-9)
    # columns by position in the file's header (as --integer 0) are named: the same runs
    by_position = CONSTRAINED.replace('["count"]', "[0]").replace('["code"]', "[1]")
    by_position = by_position.replace('[["g0", "g1"]]', '[[2, "g1"]]')
    assert by_position.startswith('integer = [0], frozen = [1], one_hot = [[2, "g1"]], bounds')
    positional = sw.load_sweep(constrained_sweep(tmp_path / "", entry=by_position))
    assert [r.run_id for r in positional.runs] == [r.run_id for r in sweep.runs]
    # without constraints the runs keep the ids they had
    plain = sw.load_sweep(constrained_sweep(tmp_path / "", entry='name = "c"'))
    assert "constraints" not in plain.runs[0].settings["data"]
    assert plain.runs[0].run_id != sweep.runs[0].run_id


@pytest.mark.parametrize(
    "entry, reason",
    [
        ('integer = ["cnt"]', "integer: no feature column 'cnt' in the data (its feature"),
        ('frozen = ["y"]', "frozen: 'y' is the target column, not a feature"),
        ("bounds = { z = [0, 1] }", "bounds: no feature column 'z' in the data"),
        ("bounds = { x = [1, 0] }", "bounds: feature 4 ('x'): expected lower <= upper"),
        ('integer = ["x"]', "integer: feature 4 ('x') holds -0.436435"),
        ('integer = ["x"]', "at line 2 of c.csv (and 39 more rows), not an integer"),
        ('integer = ["x"]', "drop it from integer, or add round_fractional = true to round"),
        ("integer = [6]", "integer: column position 6 is beyond the data file's 6 columns"),
        ("frozen = [5]", "frozen: 'y' is the target column, not a feature"),
        ("integer = [-1]", "integer: expected a string, got an integer (-1)"),
        ('integer = "count"', "integer: expected a non-empty array of column names"),
        ('one_hot = [["count", "code"]]', "one_hot: group 0: feature 0 ('count') holds 2 in"),
        ("within_range = 1", "within_range: expected true or false"),
        ("round_fractional = true", "round_fractional applies to integer columns"),
    ],
)
def test_bad_constraints_of_a_csv_data_set_are_refused_by_key(tmp_path, entry, reason):
    file = constrained_sweep(tmp_path, entry)
    result = invoke("sweep", file, "--out", tmp_path / "out", "--workers", "1")
    assert_refused(result, f"Error: {file}: key 'sweep.datasets': ", reason)


def test_sweep_counts_the_runs_with_warnings_and_status_lists_them(tmp_path):
    """Issue 26, item 8: the stored runs' warnings are counted, even with --quiet, with
    where they are; --status lists them one short line each."""
    file, out = write_sweep(tmp_path / "w.toml", name="w", **TINY), tmp_path / "out"
    result = invoke("sweep", file, "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    rows = store_rows(out)
    warned = sorted(run_id for run_id, row in rows.items() if row["result"]["warnings"])
    assert warned  # max_iter = 5 stops the points short: the runs say so
    (said,) = result.stderr.splitlines()  # one line, even with --quiet
    assert said.startswith(f"warning: {len(warned)} of {len(rows)} done runs carry warnings")
    assert said.endswith(f"--status lists them (in full: {out / sw.STORE_NAME})")
    # 160 characters with a store path of up to 60 (the path is the user's)
    assert len(said.replace(str(out / sw.STORE_NAME), "")) <= 100
    status = invoke("sweep", file, "--out", out, "--status")
    listed = status.output.split("runs with warnings", 1)[1].splitlines()[1:]
    runs = [line for line in listed if not line.startswith("    ")]  # then its warning
    assert sorted(line.split()[0] for line in runs[: len(warned)]) == warned
    assert all(len(line) <= 100 for line in listed)
    # SQLite without JSON functions: the fallback reads the list too
    assert sw.store._json_extract('{"warnings": ["w"]}', "$.warnings") == '["w"]'

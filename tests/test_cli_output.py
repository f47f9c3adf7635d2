"""What the commands write and print: only into --out, never over a non-empty one
without --force, never half-written files, numbers that read back exactly, lines of at
most 100 columns, and progress a log can read."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_regression
from flexpoison import FlexiblePoisoning
from flexpoison._progress import PlainProgress, progress_bar
from flexpoison.cli import main
from flexpoison.cli.frontier import _table
from flexpoison.data import Dataset
from flexpoison.experiments import frontier as fr
from flexpoison.reporting import files
from flexpoison.reporting import frontier as frontier_files
from flexpoison.sweeps.status import StatusReport, format_table, short_number

WIDTH = 100
ATTACK = ["--target-column", "y", "--model", "ridge", "--n-points", "3", "--max-iter", "3"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def assert_narrow(result) -> None:
    """Every line printed (but the prose of 'warning:' lines) fits in 100 columns."""
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        if not line.startswith("warning: "):
            assert len(line) <= WIDTH, line
    assert "\r" not in result.stderr  # plain lines, not a redrawn bar


@pytest.fixture
def data_csv(tmp_path):
    X, y = make_regression(n=40, d=3, seed=1)
    X = X * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]
    path = tmp_path / "reg.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "y", "x2", "x3"])
        writer.writerows([[a, t, b, c] for (a, b, c), t in zip(X, y)])
    return path


def small_regression(name="ccpp", data_dir=None) -> Dataset:
    X, y = make_regression(n=60, d=3, seed=0)
    return Dataset("ccpp", X, y, ("a", "b", "c"), "y", "regression", "synthetic, for tests")


# ----------------------------------------------------------------------- attack


def test_attack_writes_only_into_out_refuses_it_when_full_and_reads_back_exactly(
    data_csv, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # short relative paths: the widths are the command's own
    written = {}
    write_csv = files.write_csv

    def spy(path, columns, rows, *args, **kwargs):
        rows = [list(r) for r in rows]
        written[Path(path).name] = rows
        write_csv(path, columns, rows, *args, **kwargs)

    monkeypatch.setattr(files, "write_csv", spy)
    Path("runs").mkdir()
    before = listing(tmp_path)
    result = invoke("attack", "--data", "reg.csv", *ATTACK, "--out", "runs/a")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path) == before and listing(tmp_path / "runs") == ["a"]
    assert not [p for p in (tmp_path / "runs" / "a").iterdir() if p.name.startswith(".")]
    # progress on a stream that is not a terminal: whole lines, the last one at 100 %;
    # at α = 0.5 the α = 0 run comes first: each phase counts the 3 points it crafts
    # (issue 26, item 6: no 6/6 for 3 rows)
    assert "calibration (α = 0 run): 3/3 (100%)" in result.stderr
    assert "poison points (α = 0.5): 3/3 (100%)" in result.stderr
    assert "6/6" not in result.stderr
    assert_narrow(result)
    # poison.csv reads back as exactly the floats the attack returned
    with open("runs/a/poison.csv", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["x1", "y", "x2", "x3"]
    returned = np.array(written["poison.csv"], dtype=float)
    assert np.array_equal(np.array(rows, dtype=float), returned)
    assert all(
        text == files.format_number(v) for r, rv in zip(rows, returned) for text, v in zip(r, rv)
    )

    # a non-empty --out is refused, before anything runs, naming it and the remedy
    (tmp_path / "runs" / "a" / "notes.txt").write_text("mine")
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "a").iterdir()}
    refused = invoke("attack", "--data", "reg.csv", *ATTACK, "--out", "runs/a")
    assert refused.exit_code == 2
    errors = [x for x in refused.output.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1 and "runs/a" in errors[0] and "--force" in errors[0]
    assert "poison points" not in refused.output  # nothing ran
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs" / "a").iterdir()} == stamp

    # --force replaces the command's files, keeps the others; --quiet: no progress
    forced = invoke(
        "attack",
        "--data",
        "reg.csv",
        *ATTACK,
        "--out",
        "runs/a",
        "--force",
        "--quiet",
        "--seed",
        "1",
    )
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "runs" / "a" / "notes.txt").read_text() == "mine"
    assert listing(tmp_path / "runs" / "a") == sorted(
        ["notes.txt", "poison.csv", "summary.json", "W_first_point.png", "effect_vs_rate.png"]
    )
    assert "poison points" not in forced.stderr
    assert forced.stdout.startswith("wrote poison.csv") and len(forced.stdout.splitlines()) == 1
    assert listing(tmp_path) == before


# --------------------------------------------------------------------- frontier


def test_frontier_out_only_force_removes_stale_files_and_table_fits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fr, "load_dataset", small_regression)
    monkeypatch.setattr(  # drawing takes seconds: stub PNGs
        frontier_files, "figures_for", lambda result: {"frontier_overview.png": b"\x89PNG"}
    )
    out = tmp_path / "f"
    out.mkdir()
    (tmp_path / "report.html").write_text("<html><body></body></html>")
    for stale in ("poison_flexible_alpha0.3.csv", "frontier_old.png", "frontier.csv"):
        (out / stale).write_text("from an earlier run")
    (out / "mine.txt").write_text("mine")
    before = listing(tmp_path)
    args = [
        "frontier",
        "--dataset",
        "ccpp",
        "--model",
        "ridge",
        "--alphas",
        "0,1",
        "--rate",
        "0.1",
        "--max-iter",
        "3",
        "--starts",
        "1",
        "--out",
        "f",
    ]
    refused = invoke(*args)
    assert refused.exit_code == 2 and "--force" in refused.output and "f:" in refused.output
    result = invoke(*args, "--force")
    assert result.exit_code == 0, result.output
    assert listing(tmp_path) == before  # the report.html beside --out is not touched
    assert (tmp_path / "report.html").read_text() == "<html><body></body></html>"
    names = listing(out)
    assert "mine.txt" in names and "frontier.html" in names
    assert "poison_flexible_alpha0.3.csv" not in names and "frontier_old.png" not in names
    assert "poison_flexible_alpha1.csv" in names and not [n for n in names if n[0] == "."]
    assert "trim" in result.stdout and "attack points: " in result.stderr
    assert_narrow(result)


def test_frontier_table_splits_sanitizers_that_do_not_fit():
    result = fr.run_frontier(
        small_regression(),
        model="ridge",
        rate=0.1,
        alphas=(0.0,),
        attack=FlexiblePoisoning(None, max_iter=2, starts=1, random_state=0),
        baselines=("random_clone",),
    )
    wide = _table(result).splitlines()
    assert max(map(len, wide)) <= WIDTH and sum(x.startswith("attack") for x in wide) == 1
    # the test metric of each attack (no sanitizer) stands beside its effects
    header = next(x for x in wide if x.startswith("attack"))
    assert header.split()[:3] == ["attack", "MSE", "none"]
    row = next(x for x in wide if x.startswith("α = 0"))
    no_sanitizer = result.row("flexible", "none", 0.0)
    assert f"{no_sanitizer.test_metric:.4g}" in row.split()
    narrow = _table(result, width=50).splitlines()
    assert max(map(len, narrow)) <= 50 and sum(x.startswith("attack") for x in narrow) > 1


# -------------------------------------------------------------------- reproduce


def test_reproduce_refuses_full_out_and_force_replaces_only_its_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    (out / "ccpp").mkdir(parents=True)  # a data set this run leaves out: stale
    (out / "ccpp" / "poison.csv").write_text("old")
    (out / "frontier-iris-logistic-integrity").mkdir()  # not reproduce's: kept
    refused = invoke("reproduce", "--quick", "--datasets", "iris", "--out", "o")
    assert refused.exit_code == 2 and "o:" in refused.output and "--force" in refused.output
    assert listing(out) == ["ccpp", "frontier-iris-logistic-integrity"]
    result = invoke(
        "reproduce", "--quick", "--datasets", "iris", "--max-rate", "0.05", "--out", "o", "--force"
    )
    assert result.exit_code == 0, result.output
    assert listing(out) == [
        "claims.csv",
        "frontier-iris-logistic-integrity",
        "iris",
        "report.html",
        "summary.json",
    ]
    assert listing(tmp_path) == ["o"]
    assert "poison points: " in result.stderr and "iris (α, paper step): 2/2" in result.stderr
    assert_narrow(result)


# ------------------------------------------------------------------------ sweep


def test_sweep_table_fits_and_quiet_silences_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("g.toml").write_text(
        '[sweep]\nname = "g"\ndatasets = ["iris"]\nmodels = ["logistic"]\n'
        'goals = ["loss-availability"]\nalphas = [0.5]\nrates = [0.05]\nseeds = [0]\n'
        "max_iter = 3\nstarts = 1\n"
    )
    result = invoke("sweep", "g.toml", "--out", "s", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "sweep g: 1/1 (100%)" in result.stderr and "loss-availability" in result.stdout
    assert_narrow(result)
    status = invoke("sweep", "g.toml", "--out", "s", "--status")
    assert_narrow(status)
    quiet = invoke("sweep", "g.toml", "--out", "s2", "--workers", "1", "-q")
    assert quiet.exit_code == 0 and "dataset" not in quiet.stdout
    # no progress; the count of runs with warnings stays (max_iter 3 stops points short)
    assert quiet.stderr.startswith("warning: 1 of 1 done runs carry warnings")
    assert quiet.stderr.count("\n") == 1


def test_sweep_table_with_the_widest_usual_names_fits():
    groups = tuple(
        ((ds, model, goal), Counter(done=1234, failed=12, pending=3))
        for ds, model in (("breast_cancer", "logistic"), ("airquality", "elasticnet"))
        for goal in ("integrity", "availability", "loss-availability")
    )
    means = {key: (0.04896, 0.1715, 3102.4, 3111.9, 12.34) for key, _ in groups}
    report = StatusReport(7422, 7404, 12, 6, True, 0, (), groups, means)
    lines = format_table(report).splitlines()
    assert max(map(len, lines)) <= WIDTH, lines
    assert lines[0].split() == ["dataset", "model", "goal", "done", "failed", "pending"]
    assert "" in lines  # too wide for one table: the counts, then the numbers
    # the usual case: one table, numbers in at most 7 characters
    groups = tuple((key, Counter(done=1234)) for key, _ in groups)
    means = {key: (47.8, 25.21, 0.9591, 0.9415, 0.26) for key, _ in groups}
    report = StatusReport(7404, 7404, 0, 0, True, 0, (), groups, means)
    lines = format_table(report).splitlines()
    assert max(map(len, lines)) <= WIDTH and "" not in lines, lines
    assert lines[1].split()[3:] == ["1234", "47.8", "->", "25.2", "0.959", "->", "0.942", "0.26"]
    assert [short_number(v) for v in (3102.4, 0.04896, -12.345, 1.5e6)] == [
        "3102",
        "0.049",
        "-12.3",
        "1.5e+06",
    ]


# ------------------------------------------------------------------ CSV numbers


def test_csv_numbers_are_the_shortest_text_that_reads_back_exactly(tmp_path):
    values = [
        0.34,
        0.1 + 0.2,
        312.0,
        311.99999999999994,
        -0.0,
        1e-300,
        1.7976931348623157e308,
        123456789012345678.0,
        5e-324,
        np.float64(2.5),
        np.float32(0.34),
    ]
    path = tmp_path / "n.csv"
    with files.staged_output(tmp_path / "d") as stage:
        files.write_csv(stage / "n.csv", [f"c{k}" for k in range(len(values))], [values])
    path = tmp_path / "d" / "n.csv"
    texts = path.read_text().splitlines()[1].split(",")
    assert texts[:5] == ["0.34", "0.30000000000000004", "312", "311.99999999999994", "-0"]
    assert texts[-1] == "0.34"  # a float32 in its own precision
    for text, value in zip(texts, values):
        assert np.array(text, dtype=np.asarray(value).dtype) == value
        assert np.signbit(float(text)) == np.signbit(value)
    # declared integer columns are written as integers (by name or position)
    with files.staged_output(tmp_path / "i") as stage:
        files.write_csv(
            stage / "i.csv",
            ["a", "b", "c"],
            [[311.99999999999994, 2.0000000000000004, 0.5], [1.0, None, True]],
            integer_columns={"a", 1},
        )
    assert (tmp_path / "i" / "i.csv").read_text() == "a,b,c\n312,2,0.5\n1,,True\n"


def test_staged_output_removes_stale_owned_files_and_rolls_back_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("poison_old.csv", "poison_new.csv", "keep.txt"):
        (out / name).write_text("old")
    with pytest.raises(RuntimeError):
        with files.staged_output(out, owned=lambda n: n.startswith("poison_")) as stage:
            (stage / "poison_new.csv").write_text("half")
            raise RuntimeError("disk full")
    assert listing(out) == ["keep.txt", "poison_new.csv", "poison_old.csv"]
    assert all((out / n).read_text() == "old" for n in listing(out))
    with files.staged_output(out, owned=lambda n: n.startswith("poison_")) as stage:
        (stage / "poison_new.csv").write_text("new")
    assert listing(out) == ["keep.txt", "poison_new.csv"]
    assert (out / "poison_new.csv").read_text() == "new"
    assert listing(tmp_path) == ["out"]


# --------------------------------------------------------------------- progress


def test_plain_progress_is_whole_lines_at_a_bounded_rate():
    stream = io.StringIO()
    bar = PlainProgress(range(50), desc="poison points", file=stream, interval=3600)
    assert list(bar) == list(range(50))
    assert stream.getvalue().splitlines() == [bar.line()] and "50/50 (100%)" in bar.line()
    stream = io.StringIO()
    bar = PlainProgress(total=4, desc="sweep g", initial=1, file=stream, interval=0)
    bar.set_postfix(done=1, failed=0)
    for _ in range(3):
        bar.update()
    lines = stream.getvalue().splitlines()
    assert [x.split(" (")[0] for x in lines] == ["sweep g: 2/4", "sweep g: 3/4", "sweep g: 4/4"]
    assert lines[-1].endswith(", done=1, failed=0")


def test_progress_choice(capsys):
    # not a terminal (pytest captures stderr): True = plain lines; None and False: nothing
    assert isinstance(progress_bar(range(2), progress=True, desc="x"), PlainProgress)
    for choice in (None, False):
        bar = progress_bar(range(2), progress=choice, desc="x")
        assert not isinstance(bar, PlainProgress) and list(bar) == [0, 1]
    assert capsys.readouterr().err == ""


def test_plain_progress_estimates_the_time_left_and_large_problems_are_announced():
    """A log says how long the rest will take (the rate so far), and a problem whose
    clean fit is slow or whose matrices are large says so before its first point."""
    from flexpoison._progress import note
    from flexpoison.attack.diagnostics import cost_note

    stream = io.StringIO()
    bar = PlainProgress(total=4, desc="poison points", file=stream, interval=0.0)
    bar._start -= 30.0  # one point in 30 s: three more take about 90 s
    bar.update()
    assert "poison points: 1/4 (25%)" in stream.getvalue()
    assert "(about 2 min left)" in stream.getvalue()
    assert cost_note(300, 4, 5, 0.2) is None
    big = cost_note(300, 5000, 5001, 60.0)
    assert big is not None and "5,001 coefficients" in big and "1.6 GB" in big
    assert "the clean fit took 60.0 s" in big
    assert cost_note(1_000_000, 50, 51, 11.5) is not None  # slow, though small matrices
    note(False, "not shown")  # the library's default: silent

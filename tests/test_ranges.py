"""The range warning: when it fires, what it says, and in whose units and words."""

from __future__ import annotations

import csv
import json
import pickle
import re

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_regression
from flexpoison.attack.ranges import (
    RANGE_SHARE,
    Excursion,
    RangeWarning,
    excursions,
    range_warning,
)
from flexpoison.cli import main
from flexpoison.cli.attack import attack as attack_command
from flexpoison.cli.common import WARNING_WIDTH, bounding_options, shorten
from flexpoison.cli.frontier import frontier as frontier_command
from flexpoison.reporting import frontier as frontier_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def clean_rows(seed=0):
    """Column 0 coded 0/1, column 1 continuous on [10, 30] (width 20)."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.integers(0, 2, 50).astype(float), rng.uniform(10, 30, 50)]
    X[0, 1], X[1, 1] = 10.0, 30.0
    return X


def test_silent_on_a_rounding_tie_and_within_the_share():
    """randhie's 'idp': a 0/1 column whose poison holds 1.0000000000000002 after the
    round trip through the attack's space; and a value a hair past the max."""
    X = clean_rows()
    P = X[:3].copy()
    P[0, 0] = 1.0000000000000002
    P[1, 1] = 30.0 + 0.99 * RANGE_SHARE * 20.0
    assert excursions(P, X) == ()
    assert range_warning(P, X, 3.0) is None


def test_fires_on_a_genuine_excursion_and_shows_the_difference():
    X = clean_rows()
    P = X[:3].copy()
    P[0, 1] = 30.0 + 1.01 * RANGE_SHARE * 20.0  # just past the share: fires
    P[1, 0] = -0.5  # a 0/1 column at -0.5: half its range below
    found = excursions(P, X)
    assert [(e.feature, e.limit) for e in found] == [(0, 0.0), (1, 30.0)]  # worst first
    assert found[0].excess == pytest.approx(0.5)
    text = range_warning(P, X, 3.0, names=["sex", "bmi"])
    assert isinstance(text, RangeWarning)
    assert "in 2 columns" in text and "the 3σ box allows it" in text
    assert "'sex' -0.5 < min 0 (+50% of its range)" in text
    assert "'bmi' 31.01 > max 30 (+5% of its range)" in text
    # the worst column comes first, so a line cut short still names it
    assert text.startswith("poison rows leave the clean rows' range in 2 columns: 'sex' -0.5 <")
    # a rounded -0.0 reads 0, as the data's zero does
    assert Excursion(0, -0.0, 1.0, 3.0).describe(["religious"]).startswith("'religious' 0 <")


def test_sides_the_user_bounded_and_skipped_features_stay_silent():
    X = clean_rows()
    P = X[:2].copy()
    P[0, 1], P[1, 1] = 0.0, 40.0  # 50 % below and above
    lower = np.array([-np.inf, 5.0])
    (above,) = excursions(P, X, (lower, np.full(2, np.inf)))
    assert above.value == 40.0
    assert excursions(P, X, skip=[1]) == ()
    assert range_warning(P, X, None) is None  # no box: the user's bounds alone


def test_the_decision_is_the_same_in_any_units_and_restated_values_are_the_data_s():
    X = clean_rows()
    P = X[:2].copy()
    P[0, 1] = 40.0
    mean, scale = X.mean(axis=0), X.std(axis=0)
    standardised = range_warning((P - mean) / scale, (X - mean) / scale, 3.0)
    assert standardised is not None and "feature 1" in standardised
    restated = standardised.restated(mean, scale, ["sex", "bmi"])
    assert str(restated) == str(range_warning(P, X, 3.0, names=["sex", "bmi"]))
    assert pickle.loads(pickle.dumps(restated)) == restated  # sweeps' workers send it


def test_brief_is_one_short_line_naming_the_worst_column_and_the_options():
    X = clean_rows()
    P = X[:2].copy()
    P[0, 0], P[1, 1] = 2.0, 45.0
    text = range_warning(P, X, 3.0, names=["sex", "bmi"])
    brief = text.brief(("--within-range", "--bounds"))
    assert brief == (
        "2 columns leave the clean range, worst 'sex' 2 > max 1 (+100% of its range); "
        "bound them: --within-range, --bounds"
    )
    assert "bound them" not in text.brief(())
    # the short form, when a long column name leaves no room for the options
    assert (
        text.brief((), short=True)
        == "2 columns leave the clean range, worst 'sex' 2 > max 1 (+100%)"
    )
    one = range_warning(P[:1], X, 3.0, names=["sex", "bmi"])
    assert one is not None and one.brief(()).startswith("1 column leaves the clean range")


def test_shorten_cuts_at_a_clause_and_keeps_the_tail():
    line = "warning: " + "; ".join(f"clause {k} of a long message" for k in range(20))
    short = shorten(line, WARNING_WIDTH, " … (in full: x.json)")
    assert len(short) <= WARNING_WIDTH and short.endswith("of a long message … (in full: x.json)")
    assert shorten("warning: short", WARNING_WIDTH, " …") == "warning: short"
    # at a word: the head keeps what the first clause says (--status's range warnings)
    words = shorten("a: " + "word " * 40, 30, " …", at_clause=False)
    assert words == "a: word word word word word …"


def test_a_range_warning_line_keeps_the_options_before_the_percentage(monkeypatch):
    """The line gives up "of its range" before it gives up an option to bound with."""
    import click

    from flexpoison.cli import common

    X = clean_rows()
    P = X[:3].copy()
    P[0, 0] = 2.0
    name = "household_income_in_dollars"  # 27 characters: the long form does not fit
    warning = range_warning(P, X, 3.0, names=[name, "bmi"])
    said = []
    monkeypatch.setattr(common, "bounding_options", lambda command: ("--within-range", "--bounds"))
    monkeypatch.setattr(click, "get_current_context", lambda: click.Context(click.Command("x")))
    monkeypatch.setattr(click, "echo", lambda line, err=False: said.append(line))
    common.echo_warning(warning, "summary.json")
    (line,) = said
    assert len(line) <= WARNING_WIDTH and "(+100%); bound them: --within-range, --bounds" in line


# ---------------------------------------------------------------- command line


@pytest.fixture
def scaled_csv(tmp_path):
    """60 rows on scales far from standardised ones, so that units show."""
    X, y = make_regression(n=60, d=3, seed=0)
    X = X * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]
    path = tmp_path / "scaled.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["age", "income", "rent", "y"], *np.c_[X, y].tolist()])
    return path


def invoke(command, data, out, *options):
    """``flexpoison COMMAND`` on ``data`` (ridge, 10 % poison, short descents)."""
    args = ["--data", data, "--target-column", "y", "--model", "ridge", "--rate", "0.1"]
    args += ["--max-iter", "20", "--out", out, *options]
    return CliRunner().invoke(main, [command, *map(str, args)])


def warning_lines(output: str) -> list[str]:
    return [x for x in output.splitlines() if x.startswith("warning: ")]


def test_frontier_warns_in_the_file_s_columns_and_units_naming_only_its_options(
    scaled_csv, tmp_path, monkeypatch
):
    """Item 3: no 'feature N', no standardised values, no option frontier lacks."""

    def stub_figures(result):  # drawing is tested in test_frontier; it takes seconds
        names = [n for n in result.settings.sanitizers if n != "none"]
        return {f"frontier_{n}.png": PNG_MAGIC for n in [*names, "overview"]}

    monkeypatch.setattr(frontier_files, "figures_for", stub_figures)
    out = tmp_path / "f"
    result = invoke("frontier", scaled_csv, out, "--alphas", "0", "--quiet")
    assert result.exit_code == 0, result.output
    (line,) = [x for x in warning_lines(result.output) if "clean range" in x]
    assert len(line) <= WARNING_WIDTH and "(in full: frontier.json)" in line
    assert "feature" not in line
    # the options named are the frontier command's own (none today; whichever it gains)
    options = bounding_options(frontier_command)
    assert ("bound them: " + ", ".join(options) in line) if options else "bound" not in line
    assert not [o for o in ("--within-range", "--bounds") if o in line and o not in options]
    summary = json.loads((out / "frontier.json").read_text())
    (stored,) = [w for a in summary["attacks"] for w in a["warnings"] if "range" in w]
    poison = np.genfromtxt(out / "poison_flexible_alpha0.csv", delimiter=",", names=True)
    data = np.genfromtxt(scaled_csv, delimiter=",", names=True)
    # every value the stored warning prints is a poison extreme or the clean rows' limit,
    # in the file's units (income ≈ 50 ± 10, rent ≈ 1000 ± 100: not standardised)
    printed = re.findall(r"'(\w+)' ([-\d.e+]+) ([<>]) \w+ ([-\d.e+]+)", stored)
    assert printed
    for name, value, sign, limit in printed:
        extreme = poison[name].max() if sign == ">" else poison[name].min()
        assert float(value) == pytest.approx(extreme, rel=1e-3)
        assert data[name].min() <= float(limit) <= data[name].max()
    page = (out / "frontier.html").read_text()
    assert "feature 0" not in page and "--within-range" not in page


def test_frontier_gives_the_range_warnings_of_its_alpha_grid_one_line(
    scaled_csv, tmp_path, monkeypatch
):
    """An α grid leaves the range in the same columns at shrinking distances: one line
    says how many attacks do, and the worst of them, not one line per α."""
    monkeypatch.setattr(
        frontier_files, "figures_for", lambda result: {"frontier_overview.png": PNG_MAGIC}
    )
    out = tmp_path / "f"
    result = invoke("frontier", scaled_csv, out, "--alphas", "0,0.1,0.2", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "frontier.json").read_text())
    warned = [a for a in summary["attacks"] if any("range" in w for w in a["warnings"])]
    assert len(warned) >= 2  # else this test tests nothing
    (line,) = [x for x in warning_lines(result.output) if "clean range" in x]
    n = len(summary["attacks"])
    assert line.startswith(
        (f"warning: {len(warned)} of {n} attacks", f"warning: {len(warned)} attacks")
    )
    assert " leave the clean range, worst " in line
    assert len(line) <= WARNING_WIDTH and line.endswith("(in full: frontier.json)")


def test_attack_warning_names_its_own_bounding_options(scaled_csv, tmp_path):
    result = invoke("attack", scaled_csv, tmp_path / "a", "--alpha", "0")
    assert result.exit_code == 0, result.output
    (line,) = [x for x in warning_lines(result.output) if "clean range" in x]
    assert bounding_options(attack_command) == ("--within-range", "--bounds")
    assert "bound them: --within-range, --bounds" in line and len(line) <= WARNING_WIDTH


def test_an_experiment_warns_in_the_data_s_columns_and_units():
    """The library's experiments attack standardised rows; what they warn (the result's
    warnings and the FlexPoisonWarning raised) names the data's columns, in its units."""
    from sklearn.linear_model import Ridge

    from flexpoison import FlexPoisonWarning
    from flexpoison.attack import Integrity
    from flexpoison.experiments import Experiment, split_data

    X, y = make_regression(n=60, d=3, seed=0)
    X = X * [1.0, 10.0, 100.0] + [0.0, 50.0, 1000.0]
    split = split_data(X, y, task="regression", feature_names=["age", "income", "rent"])
    experiment = Experiment(Ridge(), Integrity(), split)
    with pytest.warns(FlexPoisonWarning) as caught:
        result = experiment.attack(0.0, n_points=6, max_iter=20, random_state=0)
    (stored,) = [w for w in result.warnings if isinstance(w, RangeWarning)]
    assert [str(w.message) for w in caught if "clean rows' range" in str(w.message)] == [stored]
    assert "feature" not in stored
    poison = split.to_data_units(np.asarray(result.X_poison))
    for e in stored.excursions:  # the data's units: the poison rows as written out
        column = poison[:, e.feature]
        assert e.value == pytest.approx(column.max() if e.value > e.limit else column.min())

"""The owner who runs several sanitizers together (issue 24): a row stays when every
one keeps it; ``result.screenings`` reports that owner's decision beside each
filter's, with E after it from a real scikit-learn refit; ``--evade`` on ``sweep``."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from flexpoison import LossAvailability
from flexpoison.attack.result import OwnerScreening, kept_share
from flexpoison.cli import main
from flexpoison.defences import CombinedScreening, screen, screen_combined
from flexpoison.errors import InvalidInputError
from test_evasion import SWEEP, _regression, _run


def _evading(evade, calibration, seed=0):
    X, y = _regression(seed)
    return X, y, _run(Ridge(), LossAvailability(), X, y, evade, calibration, seed)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    names=st.lists(
        st.sampled_from(["three_sigma", "sphere", "slab", "isolation_forest", "loss"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    classification=st.booleans(),
)
def test_combined_screening_keeps_the_rows_every_sanitizer_keeps(seed, names, classification):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 3))
    X[:6] += rng.normal(scale=4.0, size=(6, 3))  # outliers for the filters to find
    if classification:
        y, task = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int), "classification"
        from sklearn.linear_model import LogisticRegression as estimator
    else:
        y, task = X @ [1.0, -1.0, 0.5] + 0.2 * rng.normal(size=80), "regression"
        estimator = Ridge
    Xc, yc = X[6:], y[6:]
    both = screen_combined(names, X, y, X_clean=Xc, y_clean=yc, task=task, estimator=estimator())
    alone = [
        screen(s, X, y, X_clean=Xc, y_clean=yc, task=task, estimator=estimator()) for s in names
    ]
    expected = np.ones(80, dtype=bool)
    for s, one in zip(both.screenings, alone, strict=True):
        np.testing.assert_array_equal(s.kept, one.kept)  # each calibrated as it is alone
        expected &= one.kept_mask
    np.testing.assert_array_equal(both.kept_mask, expected)
    np.testing.assert_array_equal(both.kept, np.flatnonzero(expected))
    np.testing.assert_array_equal(both.removed, np.flatnonzero(~expected))
    assert both.removed_share == pytest.approx(1 - expected.mean())
    assert both.name == "+".join(names)


def test_combined_screening_refuses_what_is_not_a_list_of_sanitizers():
    X, y = _regression(0, n=30)
    for bad in ("sphere", [], ()):
        with pytest.raises(InvalidInputError, match="expected a list of one or more"):
            screen_combined(bad, X, y, X_clean=X, y_clean=y, task="regression")
    one = screen("sphere", X, y, X_clean=X, y_clean=y, task="regression")
    other = screen("sphere", X[:20], y[:20], X_clean=X, y_clean=y, task="regression")
    with pytest.raises(InvalidInputError, match="screenings of the same rows"):
        CombinedScreening((one, other))


@pytest.mark.parametrize("calibration", ["clean", "poisoned"])
def test_the_combined_owner_is_a_refit_on_the_rows_every_filter_keeps(calibration):
    """Its rows, poison rows removed and E come from the sanitizers run independently
    here (calibrated as the owner calibrates them) and scikit-learn's Ridge refitted on
    the rows both keep; E_L is the mean squared error on the clean training rows."""
    X, y, result = _evading(["sphere", "slab"], calibration)
    *alone, both = result.screenings
    assert [s.sanitizer for s in alone] == ["sphere", "slab"] and not any(s.combined for s in alone)
    assert both.sanitizer == "sphere+slab" and both.combined
    X_all = np.vstack([X, result.X_poison])
    y_all = np.r_[y, result.y_poison]
    X_cal, y_cal = (X, y) if calibration == "clean" else (X_all, y_all)
    kept = np.ones(len(y_all), dtype=bool)
    for name in ("sphere", "slab"):
        kept &= screen(
            name, X_all, y_all, X_clean=X_cal, y_clean=y_cal, task="regression"
        ).kept_mask
    n = X.shape[0]
    assert both.rows == len(y_all) and both.rows_kept == kept.sum()
    assert both.rows_removed == (~kept).sum() > max(s.rows_removed for s in alone)
    assert both.poison_removed == (~kept[n:]).sum() == 0  # the evading rows pass both
    refit = Ridge().fit(X_all[kept], y_all[kept])
    assert both.effect == pytest.approx(np.mean((refit.predict(X) - y) ** 2), rel=1e-9)
    change = result.effect_history[-1] - result.effect_clean
    assert both.kept == pytest.approx((both.effect - result.effect_clean) / change, rel=1e-12)
    record = both.describe()
    assert record["combined"] is True and record["rows_kept"] == kept.sum()
    assert record["effect_kept"] == both.kept


def test_one_sanitizer_has_no_combined_entry():
    _, _, result = _evading(["slab"], "clean")
    (only,) = result.screenings
    assert only.sanitizer == "slab" and not only.combined


def test_kept_share_is_the_share_of_the_attacks_change_left():
    assert kept_share(7.0, 10.0, 4.0) == pytest.approx(0.5)  # integrity: E lowered
    assert kept_share(12.0, 10.0, 4.0) == pytest.approx(-1 / 3)
    assert kept_share(2.5, 1.0, 3.0) == pytest.approx(0.75)  # availability: E raised
    assert kept_share(None, 1.0, 3.0) is None
    assert kept_share(2.0, 1.0, 1.0) is None  # the attack did not change E


def test_the_screening_line_names_each_filter_and_the_combined_owner(capsys):
    """A filter that removes no poison row can still undo the attack (by the clean rows
    it removes): the line gives the share of the attack's change of E kept."""
    from flexpoison.cli.common import echo_screenings

    def owner(name, removed, poison, effect, combined=False):
        kept = kept_share(effect, 10.0, 4.0)
        return OwnerScreening(name, "clean", removed, poison, effect, 0, 103, kept, combined)

    result = SimpleNamespace(
        n_points=3,
        screenings=(
            owner("sphere", 5, 0, 7.0),
            owner("slab", 5, 1, 12.0),
            owner("sphere+slab", 9, 1, None, True),
        ),
    )
    echo_screenings(result)
    line = " ".join(capsys.readouterr().out.split())
    assert line == (
        "screened as the owner does (clean calibration): sphere removes 0/3 poison rows "
        "(E after 7: 50% of the attack's change kept); slab removes 1/3 poison rows (E "
        "after 12: none of it kept); all together (sphere+slab) keep 94/103 rows and "
        "remove 1/3 poison rows"
    )


def test_attack_command_reports_the_combined_owner(tmp_path):
    X, y = _regression(2, n=60)
    data = tmp_path / "data.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d", "y"])
        writer.writerows([[*x, t] for x, t in zip(X, y, strict=True)])
    out = tmp_path / "out"
    args = ["attack", "--data", data, "--target-column", "y", "--model", "ridge"]
    args += ["--rate", "0.05", "--max-iter", "5", "--out", out, "--evade", "sphere,slab"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    records = json.loads((out / "summary.json").read_text())["screenings"]
    assert [(r["sanitizer"], r["combined"]) for r in records] == [
        ("sphere", False),
        ("slab", False),
        ("sphere+slab", True),
    ]
    assert "all together (sphere+slab) keep" in " ".join(result.output.split())


def _sweep_file(path, **extra):
    keys = {**SWEEP, **extra}
    path.write_text("[sweep]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()))
    return path


def _sweep(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def test_sweep_evade_flags_replace_the_files_keys(tmp_path):
    """--evade replaces the file's evade list, --evade-calibration its calibration; the
    runs are those of a file that says the same, and a poisoned calibration reaches the
    attack (each record's screenings say it) with the combined owner last."""
    from flexpoison import sweeps as sw

    file = _sweep_file(tmp_path / "grid.toml", evade=["slab"])
    same = _sweep_file(tmp_path / "same.toml", evade=["sphere", "slab"])
    same.write_text(same.read_text() + 'evade_calibration = "poisoned"\n')
    flags = ["--evade", "sphere,slab", "--evade-calibration", "poisoned"]
    expected = sw.load_sweep(same).runs
    assert sw.load_sweep(file, evade=["sphere", "slab"], evade_calibration="poisoned").runs == (
        expected
    )
    assert expected[0].settings["evade_calibration"] == "poisoned"
    assert expected[0].run_id not in {r.run_id for r in sw.load_sweep(file).runs}
    out = tmp_path / "out"
    done = _sweep(file, "--out", out, "--workers", "1", "--quiet", *flags)
    assert done.exit_code == 0, done.output
    (row,) = sw.read_store(out)
    assert row["run_id"] == expected[0].run_id
    records = row["result"]["screenings"]
    assert [(r["sanitizer"], r["calibration"]) for r in records] == [
        ("sphere", "poisoned"),
        ("slab", "poisoned"),
        ("sphere+slab", "poisoned"),
    ]
    assert records[-1]["combined"] and all(r["poison_removed"] == 0 for r in records)
    status = _sweep(file, "--out", out, "--status", *flags)  # the same grid: done
    assert status.exit_code == 0 and "done          1" in status.output, status.output


def test_a_clean_calibration_keeps_the_ids_of_existing_evading_runs(tmp_path):
    from flexpoison import sweeps as sw

    file = _sweep_file(tmp_path / "grid.toml", evade=["sphere"])
    (before,) = sw.load_sweep(file).runs
    (flagged,) = sw.load_sweep(file, evade_calibration="clean").runs
    assert "evade_calibration" not in before.settings and flagged == before


@pytest.mark.parametrize(
    "extra, flags, message",
    [
        ({}, ["--evade", "sphere,nope"], "unknown sanitizer 'nope'; expected names among"),
        ({}, ["--evade", "sphere,,slab"], "expected names separated by commas"),
        ({}, ["--evade", "slab,slab"], "'slab' is given twice"),
        ({}, ["--evade-calibration", "both"], "'both' is not one of 'clean', 'poisoned'"),
        ({}, ["--evade-calibration", "poisoned"], "no sanitizer is to be evaded"),
        ({"evade_calibration": "poisoned"}, [], "no sanitizer is to be evaded"),
        ({"evade": ["sphere"], "evade_calibration": "dirty"}, [], "unknown calibration"),
    ],
)
def test_sweep_evade_flags_refuse_bad_values_by_name(tmp_path, extra, flags, message):
    file = _sweep_file(tmp_path / "grid.toml", **extra)
    done = _sweep(file, "--out", tmp_path / "out", *flags)
    assert done.exit_code != 0
    assert message in " ".join(done.output.split()), done.output
    assert not (tmp_path / "out").exists()

"""Feature constraints: frozen, integer and one-hot features of the poison rows
(``flexpoison.attack.constraints``), in the library and on the command line."""

from __future__ import annotations

import csv
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge

from conftest import make_classification
from flexpoison import FlexiblePoisoning, InvalidInputError
from flexpoison.attack.box import feasible_box
from flexpoison.attack.constraints import Specs, range_warning, repair, resolve
from flexpoison.cli import main
from flexpoison.errors import FlexPoisonWarning

FAST = dict(n_points=3, max_iter=15, random_state=0)


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes(scaled=False, as_frame=True)
    return data.data, data.target


def _refit_theta(result) -> np.ndarray:
    model = result.poisoned_model()
    return np.r_[np.ravel(model.coef_), np.ravel(model.intercept_)]


@pytest.mark.parametrize(
    "settings",
    [dict(alpha=0.0), dict(alpha=0.5), dict(alpha=0.5, trade_off="paper", starts=1)],
    ids=["alpha-0", "share-0.5", "paper"],
)
def test_integer_age_and_frozen_sex_on_raw_diabetes(diabetes, settings):
    X, y = diabetes
    r = FlexiblePoisoning(
        Ridge(), integer_features=["age"], frozen_features=["sex"], **settings, **FAST
    ).generate(X, y)
    age, sex = r.X_poison["age"].to_numpy(), r.X_poison["sex"].to_numpy()
    assert np.array_equal(age, np.round(age))
    assert np.all((age >= r.lower[0]) & (age <= r.upper[0]))
    assert set(sex) <= set(X["sex"])
    sources = [p.source_row for p in r.points]
    assert None not in sources
    np.testing.assert_array_equal(sex, X["sex"].to_numpy()[sources])
    # E and θ are those of the rows returned: scikit-learn's refit agrees
    theta = _refit_theta(r)
    np.testing.assert_allclose(theta, r.theta_poisoned, rtol=0, atol=1e-6)
    effect = float(np.sum((theta - r.theta_target) ** 2))
    assert effect == pytest.approx(r.effect_final, rel=1e-9)
    C = ((r.X_poison.to_numpy() - r.x_c) ** 2).sum(axis=1)
    np.testing.assert_allclose(C, r.concealment, rtol=1e-12)
    assert r.progress > 0.05


def test_frozen_features_of_a_classifier_keep_their_source_rows():
    X, y = make_classification(n=80, d=3, seed=4)
    r = FlexiblePoisoning(LogisticRegression(), frozen_features=[0, 2], alpha=0.0, **FAST)
    result = r.generate(X, y)
    rows = [p.source_row for p in result.points]
    np.testing.assert_array_equal(result.X_poison[:, [0, 2]], X[rows][:, [0, 2]])
    assert not np.array_equal(result.X_poison[:, 1], X[rows, 1])  # the free one moved


def _categorical(n=120, seed=0):
    """Two numeric features and a 3-level category as dummies (int columns)."""
    rng = np.random.default_rng(seed)
    level = rng.choice(["a", "b", "c"], size=n, p=[0.45, 0.35, 0.2])
    x = rng.normal(size=(n, 2))
    X = pd.concat(
        [pd.DataFrame(x, columns=["x1", "x2"]), pd.get_dummies(level, prefix="cat", dtype=int)],
        axis=1,
    )
    y = x @ [1.0, -2.0] + 3.0 * (level == "b") - 1.0 * (level == "c") + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("drop_first", [False, True], ids=["full", "drop-first"])
def test_one_hot_groups_give_valid_one_hot_rows(drop_first):
    X, y = _categorical()
    if drop_first:
        X = X.drop(columns=["cat_a"])
    group = [c for c in X.columns if c.startswith("cat_")]
    r = FlexiblePoisoning(Ridge(), one_hot_groups=[group], alpha=0.0, **FAST).generate(X, y)
    block = r.X_poison[group].to_numpy()
    assert np.isin(block, (0, 1)).all()
    ones = block.sum(axis=1)
    assert np.all(ones <= 1) if drop_first else np.all(ones == 1)
    assert all(r.X_poison[c].dtype == np.int64 for c in group)  # the user's dtype kept
    np.testing.assert_allclose(_refit_theta(r), r.theta_poisoned, rtol=0, atol=1e-6)


def test_a_rare_category_outside_the_box_is_never_chosen():
    X, y = _categorical(n=200, seed=1)
    X.loc[:, ["cat_a", "cat_b", "cat_c"]] = 0
    X.loc[:9, "cat_c"] = 1  # 5 % of the rows: 1 is beyond the 3σ box
    X.loc[10:99, "cat_b"] = 1
    X.loc[100:, "cat_a"] = 1
    limits = resolve(
        Specs(one_hot_groups=[["cat_a", "cat_b", "cat_c"]]),
        X.to_numpy(float),
        feasible_box(X.to_numpy(float), 3.0),
        list(X.columns),
    )
    assert limits is not None
    assert limits.groups[0].choices.tolist() == [[1, 0, 0], [0, 1, 0]]


def test_the_repair_is_never_worse_than_plain_rounding():
    """A case where rounding each coordinate alone is not the best: W couples them."""
    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 1.0], [3.0, 4.0, 0.0], [2.0, 1.0, 1.0]])
    box = feasible_box(X, None, (np.zeros(3), np.array([4.0, 4.0, 1.0])))
    limits = resolve(Specs([0, 1]), X, box)
    assert limits is not None

    def W(x):
        return (x[0] + x[1] - 1.0) ** 2 + 0.01 * x[2]

    fixed = repair(np.array([0.4, 0.4, 0.3]), limits, W)
    assert fixed.rounded.tolist() == [0.0, 0.0, 0.3] and fixed.rounded_value == pytest.approx(1.003)
    assert fixed.value < fixed.rounded_value and fixed.value == pytest.approx(0.003)
    assert fixed.changed == 1 and fixed.x[2] == 0.3  # continuous features untouched
    # inward rounding: a box whose ends are not integers
    box = feasible_box(X, None, (np.array([0.5, 0.0, 0.0]), np.array([2.5, 4.0, 1.0])))
    limits = resolve(Specs([0]), X, box)
    assert limits is not None and limits.round(np.array([0.5, 1.0, 0.0]))[0] == 1.0
    assert limits.round(np.array([2.5, 1.0, 0.0]))[0] == 2.0


def test_an_integer_rounded_to_zero_from_below_is_zero_not_minus_zero():
    """⌈−0.4⌉ is −0.0 in IEEE arithmetic; a poison row shows 0 (pandas printed -0.000000
    for fair's 'religious', and the range warning '-0 < min 1')."""
    X = np.array([[0.0, 1.0], [2.0, 0.0], [3.0, 1.0], [1.0, 0.0]])
    box = feasible_box(X, None, (np.array([-2.0, 0.0]), np.array([4.0, 1.0])))
    limits = resolve(Specs([0]), X, box)
    assert limits is not None
    ((columns, choices),) = limits.blocks(np.array([-0.4, 0.5]))
    assert 0.0 in choices and not np.signbit(choices[choices == 0.0]).any()
    rounded = limits.round(np.array([-0.4, 0.5]))[0]
    assert rounded == 0.0 and not np.signbit(rounded)


def test_the_repair_with_the_attack_objective_on_diabetes(diabetes):
    """W of the repaired row ≤ W of plain rounding, with the attack's own W."""
    X, y = diabetes
    integer = ["age", "s1", "s3", "s6"]
    attack = FlexiblePoisoning(Ridge(), alpha=0.0, trade_off="paper", n_points=1, random_state=0)
    free = attack.generate(X, y)  # unconstrained rows: non-integers to round
    objective = attack.objective(X, y)
    Xf = X.to_numpy(float)
    specs = Specs(integer, round_fractional=True)  # s3 holds 42.5 in one row
    limits = resolve(specs, Xf, feasible_box(Xf, 3.0), list(X.columns))
    assert limits is not None
    x, y_p = free.X_poison.to_numpy()[0], float(free.y_poison.iloc[0])
    fixed = repair(x, limits, lambda row: objective.value(row, y_p))
    assert fixed.value <= fixed.rounded_value
    columns = [list(X.columns).index(c) for c in integer]
    assert np.array_equal(fixed.x[columns], np.round(fixed.x[columns]))


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(integer_features=["agee"]), r"integer_features: X has no column named 'agee'"),
        (dict(integer_features=[10]), r"integer_features: feature index 10 is out of range"),
        (dict(integer_features="age"), r"integer_features: expected a list .*\['age'\]"),
        (dict(frozen_features=[True]), r"frozen_features: expected column names or integer"),
        (dict(frozen_features=["sex", 1]), r"frozen_features: feature 1 \('sex'\) is given twice"),
        (dict(one_hot_groups=[["age"]]), r"one_hot_groups: group 0: .*at least 2 columns, got 1"),
        (
            dict(one_hot_groups=[["age", "sex"]]),
            r"one_hot_groups: group 0: feature 0 \('age'\) holds 59 in row 0; a one-hot column",
        ),
        (
            dict(one_hot_groups=[["cat_a", "cat_b"]], frozen_features=["cat_b"]),
            r"one_hot_groups: group 0: feature 3 \('cat_b'\) is also frozen",
        ),
        (
            dict(one_hot_groups=[["cat_a", "cat_b"], ["cat_b", "cat_c"]]),
            r"one_hot_groups: group 1: feature 3 \('cat_b'\) is also in group 0",
        ),
        (dict(one_hot_groups=[["cat_a", "x1x"]]), r"one_hot_groups: group 0: X has no column"),
        (
            dict(
                integer_features=["x1"],
                round_fractional=True,
                bounds=([0.2, -9, 0, 0, 0], [0.8, 9, 1, 1, 1]),
            ),
            r"integer_features: the box of feature 0 \('x1'\), \[0.2, 0.8\], holds no integer",
        ),
    ],
)
def test_bad_constraints_are_refused_with_one_clear_message(diabetes, settings, message):
    if "cat_" in str(settings) or "'x1'" in str(settings):
        X, y = _categorical()
    else:
        X, y = diabetes
    with pytest.raises(InvalidInputError, match=message):
        FlexiblePoisoning(Ridge(), **settings).objective(X, y)


def _fractional_dose(n=60, seed=0, dtype=float):
    """A DataFrame whose 'dose' column holds integers coded as floats (3.0), but 0.32 in
    row 4 and 1.7 in row 9."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "dose": rng.integers(0, 6, n).astype(float)})
    X.loc[4, "dose"], X.loc[9, "dose"] = 0.32, 1.7
    y = 2.0 * X["x"] + X["dose"] + 0.1 * rng.normal(size=n)
    return X.astype(dtype), y


@pytest.mark.parametrize("how", ["name", "index", "frozen too"])
def test_an_integer_feature_holding_fractions_is_refused_by_name(how):
    X, y = _fractional_dose()
    spec = dict(name=["dose"], index=[1], **{"frozen too": ["dose"]})[how]
    kw = dict(frozen_features=["dose"]) if how == "frozen too" else {}
    data = X.to_numpy() if how == "index" else X
    label = "feature 1" if how == "index" else r"feature 1 \('dose'\)"
    message = (
        rf"^integer_features: {label} holds 0.32 at row 4 \(and 1 more row\), not an "
        r"integer; round the column yourself, drop it from the integer features, or ask "
        r"for the poison rows to be rounded all the same \(round_fractional=True\)$"
    )
    with pytest.raises(InvalidInputError, match=message):
        FlexiblePoisoning(Ridge(), integer_features=spec, **kw, **FAST).generate(data, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_integer_coded_floats_are_integers_and_rounding_is_opted_into(dtype):
    X, y = _fractional_dose(dtype=dtype)
    whole = X.assign(dose=np.round(X["dose"]))  # 0.0, 2.0: integers coded as floats
    r = FlexiblePoisoning(Ridge(), integer_features=["dose"], alpha=0.0, **FAST).generate(whole, y)
    assert np.array_equal(r.X_poison["dose"], np.round(r.X_poison["dose"]))
    attack = FlexiblePoisoning(
        Ridge(), integer_features=["dose"], round_fractional=True, alpha=0.0, **FAST
    )
    rounded = attack.generate(X, y)
    dose = rounded.X_poison["dose"].to_numpy()
    assert dose.dtype == dtype and np.array_equal(dose, np.round(dose))
    assert json.loads(json.dumps(attack.settings()))["round_fractional"] is True
    assert X.loc[4, "dose"] == dtype(0.32)  # the clean rows are never changed
    with pytest.raises(InvalidInputError, match=r"^round_fractional: expected True or False"):
        FlexiblePoisoning(
            Ridge(), integer_features=["dose"], round_fractional="yes", random_state=0
        ).objective(X, y)


def test_names_need_a_data_frame_and_rows_must_be_one_hot():
    X, y = _categorical()
    with pytest.raises(InvalidInputError, match="'x1' names a column, but X has no column"):
        FlexiblePoisoning(Ridge(), frozen_features=["x1"], random_state=0).objective(
            X.to_numpy(), y
        )
    X.loc[0, ["cat_a", "cat_b"]] = 1
    with pytest.raises(InvalidInputError, match="row 0 holds 2 ones in the group"):
        FlexiblePoisoning(Ridge(), one_hot_groups=[[2, 3, 4]], random_state=0).objective(X, y)


@pytest.mark.parametrize(
    "settings, argument",
    [
        (dict(frozen_features=["a"]), "frozen_features"),
        (dict(integer_features=["x2", "a"]), "integer_features"),
        (dict(one_hot_groups=[["cat_b", "a"]]), "one_hot_groups: group 0"),
    ],
)
def test_a_name_held_by_several_columns_is_refused(settings, argument):
    X, y = _categorical()
    X.columns = ["a", "x2", "a", "cat_b", "cat_c"]  # cat_a renamed 'a': a duplicate
    message = rf"^{argument}: 2 columns of X are named 'a' \(positions 0, 2\), so the name"
    with pytest.raises(InvalidInputError, match=message):
        FlexiblePoisoning(Ridge(), **settings).objective(X, y)
    # by position the column is unambiguous, and a unique name still resolves
    r = FlexiblePoisoning(Ridge(), frozen_features=[2, "x2"], alpha=0.0, **FAST).generate(X, y)
    rows = [p.source_row for p in r.points]
    np.testing.assert_array_equal(r.X_poison.iloc[:, [1, 2]], X.iloc[rows, [1, 2]])


def test_settings_stay_json_and_empty_constraints_change_nothing(diabetes):
    X, y = diabetes
    attack = FlexiblePoisoning(
        Ridge(),
        integer_features=[np.int64(0)],
        frozen_features=["sex"],
        one_hot_groups=[[2, 3]],
        random_state=0,
    )
    settings = json.loads(json.dumps(attack.settings()))
    assert settings["integer_features"] == [0] and settings["frozen_features"] == ["sex"]
    assert settings["one_hot_groups"] == [[2, 3]]
    assert clone(attack).get_params()["frozen_features"] == ["sex"]
    plain = FlexiblePoisoning(Ridge(), alpha=0.5, **FAST).generate(X, y)
    empty = FlexiblePoisoning(Ridge(), alpha=0.5, integer_features=[], **FAST).generate(X, y)
    np.testing.assert_array_equal(plain.X_poison, empty.X_poison)
    assert [p.source_row for p in plain.points] == [p.source_row for p in empty.points]


def test_rows_beyond_the_observed_range_warn_with_or_without_constraints(diabetes):
    X, y = diabetes
    kw = dict(alpha=0.0, **FAST)
    outside_range = "leave the clean rows' range"
    with pytest.warns(FlexPoisonWarning, match=outside_range + ".*bound these columns"):
        r = FlexiblePoisoning(Ridge(), integer_features=["age"], **kw).generate(X, y)
    outside = [w for w in r.warnings if outside_range in w]
    # 'sex' takes 1 or 2 on the clean rows; its 3σ box reaches beyond both
    assert len(outside) == 1 and re.search(
        r"'sex' ([-\d.]+ < min 1|[\d.]+ > max 2) \(\+\d+% of its range\)", outside[0]
    )
    plain = FlexiblePoisoning(Ridge(), **kw).generate(X, y)
    assert any(outside_range in w for w in plain.warnings)
    observed = (X.min().to_numpy(), X.max().to_numpy())
    bounded = FlexiblePoisoning(Ridge(), integer_features=["age"], bounds=observed, **kw)
    assert not any(outside_range in w for w in bounded.generate(X, y).warnings)
    # a side the user bounded does not warn, the other side still does
    Xn = X.to_numpy(float)
    P = Xn[:2].copy()
    width = Xn[:, 6].max() - Xn[:, 6].min()  # a step of 20 % of it warns
    P[0, 6], P[1, 6] = Xn[:, 6].min() - 0.2 * width, Xn[:, 6].max() + 0.2 * width
    only_high = range_warning(P, Xn, 3.0, (np.full(10, -np.inf), np.full(10, np.inf)))
    assert only_high is not None and re.search(r"feature 6 [-\d.]+ < min", only_high)
    lower = np.full(10, -np.inf)
    lower[6] = 0.0
    assert "< min" not in (range_warning(P, Xn, 3.0, (lower, np.full(10, np.inf))) or "")
    assert range_warning(P, Xn, None, (Xn.min(0), Xn.max(0))) is None


# ------------------------------------------------------------------ command line


@pytest.fixture
def diabetes_csv(tmp_path, diabetes):
    X, y = diabetes
    path = tmp_path / "diabetes.csv"
    X.assign(target=y).to_csv(path, index=False)
    return path


def _run(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        return CliRunner().invoke(main, ["attack", *map(str, args)])


def _poison(out):
    with open(out / "poison.csv", newline="") as handle:
        return list(csv.DictReader(handle))


CLI = (
    "--target-column",
    "target",
    "--model",
    "ridge",
    "--n-points",
    3,
    "--max-iter",
    10,
    "--quiet",
)


def test_cli_integer_and_frozen_columns(diabetes_csv, tmp_path, diabetes):
    out = tmp_path / "out"
    result = _run("--data", diabetes_csv, *CLI, "--integer", "age", "--frozen", "1", "--out", out)
    assert result.exit_code == 0, result.output
    rows = _poison(out)
    assert len(rows) == 3
    assert all(row["age"].lstrip("-").isdigit() for row in rows)  # written as integers
    assert {float(row["sex"]) for row in rows} <= set(diabetes[0]["sex"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["integer"] == "age" and "repaired" in summary["points"][0]


def test_cli_bounds_file(diabetes_csv, tmp_path):
    bounds = tmp_path / "bounds.toml"
    bounds.write_text("[bounds]\nage = [30, 60]\nbmi = [-inf, 30]\n")
    out = tmp_path / "out"
    result = _run("--data", diabetes_csv, *CLI, "--alpha", 0, "--bounds", bounds, "--out", out)
    assert result.exit_code == 0, result.output
    rows = _poison(out)
    assert all(30 <= float(row["age"]) <= 60 and float(row["bmi"]) <= 30 for row in rows)
    bounds.write_text("[bounds]\nagee = [30, 60]\n")
    refused = _run("--data", diabetes_csv, *CLI, "--bounds", bounds, "--out", tmp_path / "o2")
    assert refused.exit_code == 2 and "no feature column 'agee'" in refused.output
    bounds.write_text("[bounds]\ntarget = [30, 60]\n")
    refused = _run("--data", diabetes_csv, *CLI, "--bounds", bounds, "--out", tmp_path / "o2")
    assert refused.exit_code == 2 and "'target' is the target column" in refused.output


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("--integer", "agee"), 2, "no feature column 'agee'"),
        (("--frozen", "target"), 2, "'target' is the target column"),
        (("--integer", "11"), 2, "column position 11 is beyond the data file's 11 columns"),
        (("--one-hot", "age,sex"), 1, "--one-hot: group 0: column 'age' holds"),
        (("--frozen", "sex,1"), 1, "--frozen: column 'sex' is given twice"),
    ],
)
def test_cli_refuses_bad_columns(diabetes_csv, tmp_path, args, code, message):
    result = _run("--data", diabetes_csv, *CLI, *args, "--out", tmp_path / "out")
    assert result.exit_code == code and message in result.output, result.output


def test_cli_integer_columns_with_standardize_are_integers_of_the_file(diabetes_csv, tmp_path):
    """The attack runs on standardised rows; --integer and --one-hot round in the file's
    units (they were refused with --standardize)."""
    out = tmp_path / "out"
    args = ("--integer", "age", "--frozen", "sex", "--standardize", "--out", out)
    result = _run("--data", diabetes_csv, *CLI, *args)
    assert result.exit_code == 0, result.output
    rows = _poison(out)
    assert all(row["age"].lstrip("-").isdigit() for row in rows)
    assert {row["sex"] for row in rows} <= {"1", "2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attack_space"] == "standardized"


def test_cli_refuses_a_duplicated_column_name_when_reading(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a,target\n1,2,3,4\n2,3,4,5\n3,4,5,7\n4,5,6,8\n")
    result = _run("--data", path, *CLI, "--frozen", "a", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "columns 1 and 3 of the header have the same name" in result.output


def test_cli_integer_column_holding_fractions(tmp_path):
    X, y = _fractional_dose()
    path = tmp_path / "dose.csv"
    X.assign(target=y).to_csv(path, index=False)
    refused = _run("--data", path, *CLI, "--integer", "dose", "--out", tmp_path / "o1")
    assert refused.exit_code == 1, refused.output
    assert (
        "Error: --integer: column 'dose' holds 0.32 at line 6 of dose.csv (and 1 more row), "
        "not an integer; round the column yourself, drop it from --integer, or add "
        "--round-fractional to round the poison rows there all the same\n" in refused.output
    )
    out = tmp_path / "o2"
    rounded = _run("--data", path, *CLI, "--integer", "dose", "--round-fractional", "--out", out)
    assert rounded.exit_code == 0, rounded.output
    assert all(row["dose"].lstrip("-").isdigit() for row in _poison(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["round_fractional"] is True
    alone = _run("--data", path, *CLI, "--round-fractional", "--out", tmp_path / "o3")
    assert alone.exit_code == 2 and "--round-fractional applies to --integer" in alone.output

"""The frontier's owner who runs several sanitizers together (issue 24): with two or
more names to evade, every attack is measured after the rows every named sanitizer
keeps, and the attack built to evade them all joins the evading series. Each combined
point is checked against a direct screen_combined and a scikit-learn refit."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error

from conftest import make_classification, make_regression
from flexpoison import FlexiblePoisoning
from flexpoison.cli.frontier import frontier as frontier_command
from flexpoison.data import Dataset
from flexpoison.defences import SANITIZERS, apply_sanitizer, screen_combined
from flexpoison.experiments import frontier as fr
from flexpoison.experiments.paper import split_dataset
from flexpoison.reporting import frontier as frontier_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEARCH = FlexiblePoisoning(None, max_iter=15, starts=1, random_state=0)


def _dataset(task: str, seed: int = 0) -> Dataset:
    if task == "regression":
        X, y = make_regression(n=120, d=3, seed=seed)
        y = y.astype(np.float64)
    else:
        X, y = make_classification(n=120, d=3, k=2, seed=seed)
        y = y.astype(np.int64)
    return Dataset("toy", X.astype(np.float64), y, ("a", "b", "c"), "y", task, "for tests")


#: task → (model, goal, the frontier's evasion arguments, the sanitizers measured)
CASES = {
    "ridge-evading": ("regression", "ridge", "integrity", {"evading": ("sphere", "slab")}),
    "logistic-evade": (
        "classification",
        "logistic",
        "availability",
        {"evade": ("slab", "three_sigma")},
    ),
}


def _theta(fitted) -> np.ndarray:
    return np.r_[np.ravel(fitted.coef_), np.ravel(fitted.intercept_)]


def _refit(task: str, X, y):
    """scikit-learn's own fit of the victim, solved tightly."""
    if task == "regression":
        return Ridge(alpha=1.0).fit(X, y)
    return LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(X, y)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    task, model, goal, evasion = CASES[request.param]
    data = _dataset(task)
    result = fr.run_frontier(
        data,
        model=model,
        goal=goal,
        rate=0.05,
        alphas=(0.0, 0.5),
        baselines=("random_clone",),
        sanitizers=["three_sigma", "sphere", "slab"],
        attack=SEARCH,
        **evasion,
    )
    names = next(iter(evasion.values()))
    return task, data, result, names


def test_the_combined_owner_is_screen_combined_and_a_sklearn_refit(case):
    task, data, result, names = case
    joined = "+".join(names)
    assert result.settings.combined == (joined,)
    assert result.settings.sanitizers == ("none", "three_sigma", "sphere", "slab")
    assert result.settings.screens == (*result.settings.sanitizers, joined)
    split = split_dataset(data, seed=0)
    X, y = split.X_train, split.y_train
    n = X.shape[0]
    configured = [replace(SANITIZERS[name], clean_removal=0.05) for name in names]
    theta_clean = _theta(_refit(task, X, y))
    reference = result.theta_reference
    if task == "classification":  # E_A = ‖θ − θ₀‖²: θ₀ is the clean fit
        assert np.allclose(reference, theta_clean, atol=1e-6)
    checked = 0
    for point in (None, *result.attacks):  # None: the clean rows alone
        Xp = np.empty((0, X.shape[1])) if point is None else point.X_poison
        yp = y[:0] if point is None else point.y_poison
        X_all, y_all = np.vstack([X, Xp]), np.concatenate([y, yp.astype(y.dtype)])
        both = screen_combined(configured, X_all, y_all, X_clean=X, y_clean=y, task=task)
        # the intersection, each sanitizer calibrated on the clean rows as it is alone
        alone = [
            apply_sanitizer(s, X_all, y_all, X_clean=X, y_clean=y, task=task) for s in configured
        ]
        assert np.array_equal(both.kept, np.intersect1d(*alone))
        fitted = _refit(task, X_all[both.kept], y_all[both.kept])
        effect = float(np.sum((_theta(fitted) - reference) ** 2))
        predicted = fitted.predict(split.X_test)
        metric = (
            mean_squared_error(split.y_test, predicted)
            if task == "regression"
            else accuracy_score(split.y_test, predicted)
        )
        attack, alpha = ("clean", None) if point is None else (point.attack, point.alpha)
        row = result.row(attack, joined, alpha)
        assert row.effect == pytest.approx(effect, rel=1e-6, abs=1e-9)
        assert row.test_metric == pytest.approx(metric, rel=1e-9)
        assert row.poison_removed == Xp.shape[0] - int(np.count_nonzero(both.kept >= n))
        assert row.clean_removed == n - int(np.count_nonzero(both.kept < n))
        checked += 1
    assert checked == len(result.attacks) + 1


def test_the_attack_built_to_evade_them_all_passes_the_owner_who_runs_them(case):
    task, data, result, names = case
    joined = "+".join(names)
    evading = [p.attack for p in result.attacks if p.attack.startswith(fr.EVADING)]
    if result.settings.evading:
        # the single evaders, then the joint one
        assert evading == [fr.EVADING + n for n in names] + [fr.EVADING + joined]
        row = result.row(fr.EVADING + joined, joined)
        assert row.recall == 0.0 and row.label == f"built to evade {joined}"
    else:  # --evade: every α evades them all, and is judged after the owner
        assert evading == []
        for alpha in result.settings.alphas:
            assert result.row("flexible", joined, alpha).recall == 0.0


def test_one_owner_per_group_and_none_for_a_single_name():
    data = _dataset("regression", seed=1)
    common = dict(model="ridge", rate=0.05, alphas=(0.0,), baselines=(), attack=SEARCH)
    single = fr.run_frontier(data, sanitizers=["sphere", "slab"], evading=("sphere",), **common)
    assert single.settings.combined == ()
    assert {r.sanitizer for r in single.rows} == {"none", "sphere", "slab"}
    same = fr.run_frontier(
        data,
        sanitizers=["sphere", "slab"],
        evading=("sphere", "slab"),
        evade=("slab", "sphere"),
        **common,
    )
    assert same.settings.combined == ("sphere+slab",)  # the same owner, once


def test_the_figures_draw_the_combined_owner_on_its_own_panel(case, monkeypatch):
    from matplotlib.figure import Figure

    _, _, result, names = case
    joined = "+".join(names)
    legends = []  # the overview's one legend: every panel's entries, once
    draw = Figure.legend
    monkeypatch.setattr(
        Figure,
        "legend",
        lambda fig, h, labels, **kw: legends.append(labels) or draw(fig, h, labels, **kw),
    )
    figures = frontier_files.figures_for(result)
    (labels,) = legends
    assert len(labels) == len(set(labels))
    # the first panel (three_sigma) has no evader; the overview's legend still names it
    assert (frontier_files.EVADES_PANEL in labels) == bool(result.settings.evading)
    assert figures[f"frontier_{joined}.png"].startswith(PNG_MAGIC)
    assert figures["frontier_overview.png"].startswith(PNG_MAGIC)
    fig = frontier_files._plot_one(result, joined)
    ax = fig.axes[0]
    assert ax.get_title().endswith(f"sanitizer {joined} (all together)")
    labels = ax.get_legend_handles_labels()[1]
    assert "flexible attack (α sweep)" in labels
    if result.settings.evading:
        assert f"built to evade {joined}" in labels
        # drawn where the owner leaves it: the joint evader's recall and effect
        row = result.row(fr.EVADING + joined, joined)
        (line,) = [h for h, label in zip(*ax.get_legend_handles_labels()) if "evade" in label]
        assert line.get_xdata()[0] == row.recall
    flexible = [line for line in ax.get_lines() if line.get_label() == "flexible attack (α sweep)"]
    drawn = flexible[0].get_ydata()
    assert list(drawn) == [result.row("flexible", joined, a).effect for a in (0.0, 0.5)]


def test_cli_evading_two_sanitizers_writes_the_combined_owner(tmp_path):
    X, y = make_regression(n=80, d=3, seed=2)
    path = tmp_path / "tiny.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "target"])
        writer.writerows(np.c_[X, y].tolist())
    out = tmp_path / "out"
    result = CliRunner().invoke(
        frontier_command,
        [
            *("--data", str(path), "--target-column", "target", "--model", "ridge"),
            *("--alphas", "0,1", "--rate", "0.05", "--max-iter", "10", "--starts", "1"),
            *("--evading", "sphere,slab", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sanitizers + sphere+slab together" in result.output
    heads = [line for line in result.output.splitlines() if line.startswith("attack ")]
    assert any(line.endswith("sphere+slab") for line in heads)  # a column of the table
    summary = json.loads((out / "frontier.json").read_text())
    assert summary["settings"]["combined"] == ["sphere+slab"]
    assert summary["settings"]["evading"] == ["sphere", "slab"]
    attacks = [a["attack"] for a in summary["attacks"]]
    assert attacks[-1] == "evading_sphere+slab"
    combined = [r for r in summary["rows"] if r["sanitizer"] == "sphere+slab"]
    assert [r["attack"] for r in combined] == ["clean", *attacks]
    joint = next(r for r in combined if r["attack"] == "evading_sphere+slab")
    assert joint["poison_removed"] == 0
    with open(out / "frontier.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["sanitizer"] == "sphere+slab"]
    assert [r["attack"] for r in rows] == ["clean", *attacks]
    for name in ("frontier_sphere+slab.png", "poison_evading_sphere+slab.csv"):
        assert (out / name).is_file()
    assert (out / "frontier_sphere+slab.png").read_bytes().startswith(PNG_MAGIC)
    assert "sphere+slab: the owner who runs" in (out / "frontier.html").read_text()

"""The effect–concealment frontier: how much damage survives a real sanitizer.

A defender's question: *how far can k added rows push my model after my sanitizer has
run, and how many of them does it catch?* For one data set, victim, goal and poisoning
rate, :func:`run_frontier` crafts poison with the flexible attack for each α of a grid
(α = 0: effect only … α = 1: concealment only) and with the baseline attacks of
:mod:`flexpoison.attack.baselines` at the same budget m, then sends every poisoned
training set through every sanitizer of :mod:`flexpoison.defences` and measures, per
(attack, sanitizer), recall, clean rows removed, the effect and test metric left and
the share of the damage left (:mod:`flexpoison.experiments.frontier_records`).

Setup (the pipeline of :mod:`flexpoison.experiments.pipeline`): 70/30 split with the
seed (stratified for classification), features standardised on the training split,
attacks crafted on the standardised training rows with ``random_state=seed``. Each
sanitizer is calibrated on the clean training split and removes a share
``clean_removal`` (0.05) of it; ``three_sigma`` keeps the paper's fixed k = 3 (pass
``ThreeSigma(k=None)`` in ``sanitizers`` for a calibrated one), ``trim`` keeps n rows
and runs on regression only; ``loss`` and ``trim`` fit the victim. The evaluation
refits are scikit-learn's, solved to tight tolerance.

>>> result = run_frontier("ccpp", goal="integrity", rate=0.1,
...                       data_dir="data")                   # doctest: +SKIP

The user's own CSV file is a :class:`~flexpoison.data.Dataset` too (its file and
SHA-256 are recorded in the settings):

>>> from flexpoison.data import load_csv_dataset
>>> mine = load_csv_dataset("diabetes.csv", "progression", "regression")  # doctest: +SKIP
>>> result = run_frontier(mine, rate=0.1)                    # doctest: +SKIP

:func:`flexpoison.reporting.frontier.write_frontier` writes its files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .. import models
from .._progress import progress_bar
from .._validation import check_fraction, check_positive
from ..attack import FlexiblePoisoning, Goal, goal_from_name
from ..attack.baselines import label_flip, random_clone, unconcealed
from ..attack.specs import ATTACK_ARGUMENTS, Specs, feature_indices
from ..data import Dataset, load_dataset
from ..defences import Sanitizer, combined_name
from ..errors import InvalidInputError
from .frontier_records import (
    ATTACK_LABELS,
    CLEAN,
    EVADING,
    AttackPoint,
    FrontierResult,
    FrontierRow,
    FrontierSettings,
    attack_label,
)
from .paper import split_dataset
from .pipeline import NO_SANITIZER, Experiment

BASELINES = ("random_clone", "label_flip", "unconcealed")
DEFAULT_ALPHAS = tuple(round(0.1 * k, 1) for k in range(11))


def frontier_goal(goal: str | Goal) -> Goal:
    """The goal by name (the frontier measures E_L on the clean training rows, so a
    :class:`LossAvailability` with its own evaluation rows is refused)."""
    goal = goal_from_name(goal)
    if getattr(goal, "X_eval", None) is not None:
        raise InvalidInputError(
            "goal: the frontier measures E_L on the clean "
            "training rows; LossAvailability(X_eval=…) is not "
            "supported here"
        )
    return goal


def _check_alphas(alphas: Iterable[float]) -> tuple[float, ...]:
    values = tuple(check_fraction(a, "alphas") for a in alphas)
    if len(set(values)) != len(values):
        raise InvalidInputError(f"alphas: repeated values in {list(values)}")
    return values


def _mean_c(X_poison: np.ndarray, x_c: np.ndarray) -> float:
    if X_poison.shape[0] == 0:
        return 0.0
    return float(np.mean(np.sum((X_poison - x_c) ** 2, axis=1)))


# --------------------------------------------------------------------- the run


def run_frontier(
    dataset: str | Dataset,
    *,
    model: str | object | None = None,
    goal: str | Goal | None = None,
    rate: float = 0.1,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seed: int = 0,
    attack: FlexiblePoisoning | None = None,
    baselines: Sequence[str] = BASELINES,
    sanitizers: Sequence[str | Sanitizer] | None = None,
    clean_removal: float = 0.05,
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = False,
    on_attack: Callable[[AttackPoint], None] | None = None,
    constraints: Specs | None = None,
    evading: Sequence[str] = (),
    evade: Sequence[str] = (),
) -> FrontierResult:
    """Attack for every α and baseline, sanitise with every sanitizer, measure: a
    :class:`FrontierResult`, one row per (attack point, sanitizer) and the clean rows'.

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`~flexpoison.data.load_dataset` (with ``data_dir``) or a
        :class:`~flexpoison.data.Dataset`, e.g. a user's CSV file (recorded by SHA-256).
    model : str, scikit-learn estimator or None
        A registry name (:data:`flexpoison.models.MODEL_NAMES`), an unfitted estimator
        of the registry, or None: the registry's default model of the task.
    goal : {"integrity", "availability", "loss-availability"}, Goal or None
        See :func:`frontier_goal` (integrity: the victim's default target preset);
        None: the victim's :attr:`~flexpoison.models.ModelSpec.default_goal`.
    rate : float > 0
        Poisoning rate; the budget is m = round(rate · n) rows, for every attack.
    alphas : sequence of float in [0, 1]
        The flexible attack's α grid (default 0, 0.1, …, 1).
    seed : int
        Seeds the split, the attacks' initial rows and the baselines.
    attack : FlexiblePoisoning, optional
        The flexible attack's search settings (default: FlexiblePoisoning's), aimed at
        every α with the budget, seed and constraints set here (:meth:`Experiment.configure`);
        ``unconcealed`` takes its ``max_iter``, ``trade_off``, ``starts``, ``passes``.
    baselines : subset of :data:`BASELINES`
        Baseline attacks run with the same budget.
    sanitizers : sequence of names or sanitizers, optional
        Default: every one of :data:`~flexpoison.defences.SANITIZERS` (``trim`` for
        regression only); those named remove ``clean_removal`` (in [0, 1)) of the clean rows.
    clean_removal : float
        See ``sanitizers``.
    data_dir : path, optional
        Where :func:`~flexpoison.data.load_dataset` looks for the UCI files.
    progress : bool or None
        Progress on stderr, as :mod:`flexpoison._progress` shows it.
    on_attack : callable, optional
        Called with each :class:`AttackPoint` as soon as it is crafted.
    constraints : Specs, optional
        Feature constraints in the data's units (:class:`~flexpoison.attack.specs.Specs`),
        for the flexible attack and ``unconcealed``; ``random_clone`` and ``label_flip``
        copy clean rows, whose values are the data's own.
    evading : sequence of sanitizer names
        The "evading" series: per name, the attack at α = 0 built to evade that sanitizer
        as calibrated here (``evade=[it]``), measured like any other (``"evading_<name>"``).
    evade : sequence of sanitizer names
        Sanitizers the flexible attack evades at every α (not the baselines). Several
        names here or in ``evading``: see :attr:`FrontierSettings.combined`.
    """
    start = time.perf_counter()
    alphas, rate, baselines, seed = _checked(alphas, rate, baselines, seed)
    dataset, spec, model_name, victim, goal = _victim_and_goal(dataset, model, goal, data_dir)
    split = split_dataset(dataset, seed=seed)
    experiment = Experiment(victim, goal, split)
    chosen = experiment.sanitizers(sanitizers, clean_removal)
    given = Specs() if constraints is None else constraints
    settings = _attack_settings(experiment, rate, given, list(dataset.feature_names), seed)
    evading, evade, evaders, owners = _series(chosen, evading, evade)
    if evade:
        settings["evade"] = [dict(chosen)[name] for name in evade]
    attack = experiment.configure(FlexiblePoisoning(None) if attack is None else attack, **settings)
    # validates every setting (alpha, max_iter, tol, goal vs model) before any work
    first = alphas[0] if alphas else 0.0
    experiment.configure(attack, alpha=first).objective(split.X_train, split.y_train)
    jobs = [("flexible", a) for a in alphas] + [(b, None) for b in baselines]
    points = _attack_points(experiment, jobs, attack, seed, progress, on_attack, evaders)
    record = FrontierSettings(
        **_described(dataset, spec, model_name, victim, goal, split, settings),
        **_searched(attack),
        rate=float(rate),
        alphas=alphas,
        baselines=baselines,
        sanitizers=(NO_SANITIZER, *[s for s, _ in chosen]),
        seed=seed,
        clean_removal=float(clean_removal),
        constraints=None if constraints is None else constraints.settings(),
        evading=evading,
        evade=evade,
        combined=tuple(owners),
    )
    screens = [*chosen, *owners.items()]  # and the owners who run several together
    return _assembled(experiment, dataset, points, screens, given, settings, record, start)


def _searched(attack: FlexiblePoisoning) -> dict:
    """The search settings of the configured attack that :class:`FrontierSettings` records."""
    search = attack.get_params(deep=False)
    return {
        "max_iter": int(search["max_iter"]),
        "tol": float(search["tol"]),
        "trade_off": search["trade_off"],
        "starts": int(search["starts"]),
        "passes": int(search["passes"]),
    }


def _attack_settings(
    experiment: Experiment, rate: float, given: Specs, names: list[str], seed: int
) -> dict:
    """What the frontier sets of the flexible attack, the same at every α: the budget
    m = round(rate·n), the seed and the constraints."""
    X, split = experiment.split.X_train, experiment.split
    m = int(round(rate * X.shape[0]))
    if m < 1:
        raise InvalidInputError(
            f"rate: {rate} of {X.shape[0]} training rows rounds to 0 poison rows; use a larger rate"
        )
    limits = given.attack_arguments(X, names, split.scaler)
    return {"n_points": m, "random_state": seed, "progress": False, **limits}


def _evading(evading: Sequence[str], chosen, argument: str = "evading") -> tuple[str, ...]:
    """Sanitizers to evade (the ``argument``'s names), checked against those measured."""
    if isinstance(evading, str):
        evading = (evading,)
    measured = [name for name, _ in chosen]
    unknown = [name for name in evading if name not in measured]
    if unknown:
        raise InvalidInputError(
            f"{argument}: {unknown} not among the sanitizers measured ({', '.join(measured)})"
        )
    return tuple(dict.fromkeys(evading))


def _series(
    chosen, evading, evade
) -> tuple[
    tuple[str, ...], tuple[str, ...], dict[str, list[Sanitizer]], dict[str, tuple[Sanitizer, ...]]
]:
    """The names to evade (``evading``'s, ``evade``'s, checked), the evading attacks
    by name with the sanitizers each evades (one per name of ``evading``, and, with
    several, ``"evading_sphere+slab"`` built to evade them all), and the owners who
    run several together (:func:`_owners`)."""
    evading, evade = _evading(evading, chosen), _evading(evade, chosen, "evade")
    configured = dict(chosen)
    evaders = {EVADING + name: [configured[name]] for name in evading}
    if len(evading) > 1:
        evaders[EVADING + combined_name(evading)] = [configured[name] for name in evading]
    return evading, evade, evaders, _owners(chosen, evading, evade)


def _owners(chosen, *groups: tuple[str, ...]) -> dict[str, tuple[Sanitizer, ...]]:
    """The owners who run several sanitizers together, by name (``"sphere+slab"``):
    one per group of two or more names (the evading series', ``evade``'s), each
    group once."""
    configured = dict(chosen)
    owners: dict[str, tuple[Sanitizer, ...]] = {}
    for group in groups:
        if len(group) > 1 and set(group) not in [{s.name for s in o} for o in owners.values()]:
            owners[combined_name(group)] = tuple(configured[name] for name in group)
    return owners


def _attack_points(
    experiment, jobs, attack, seed, progress, on_attack, configured
) -> list[AttackPoint]:
    """Every attack of the frontier, in order, each handed to ``on_attack`` when done:
    ``jobs``, then the evading attacks at α = 0 (``configured``: the sanitizers each
    evades, by attack name)."""
    points: list[AttackPoint] = []
    jobs = [*jobs, *[(name, 0.0) for name in configured]]
    bar = progress_bar(jobs, progress=progress, desc="attack points", unit="attack")
    for name, alpha in bar:
        bar.set_postfix_str(f"α = {alpha:g}" if alpha is not None else name)
        evading = (
            experiment.configure(attack, evade=configured[name]) if name in configured else None
        )
        point = _attack_point(experiment, name, alpha, evading or attack, seed)
        points.append(point)
        if on_attack is not None:
            on_attack(point)
    bar.close()
    return points


def _described(dataset, spec, model_name, victim, goal, split, settings) -> dict:
    """The settings' fields that describe the data, the victim and the goal."""
    X = split.X_train
    return {
        "dataset": dataset.name,
        "task": dataset.task,
        "model": model_name,
        "victim": repr(victim),
        "victim_label": spec.label(victim),
        "goal": goal.kind,
        "effect_name": goal.effect_name,
        "higher_is_damage": goal.higher_is_damage,
        "metric_name": spec.metric.name,
        "n_clean": int(X.shape[0]),
        "n_poison": settings["n_points"],
        "n_test": int(split.X_test.shape[0]),
        "n_features": int(X.shape[1]),
        "data_file": dataset.file,
        "data_sha256": dataset.sha256,
    }


def _assembled(experiment, dataset, points, chosen, given, settings, record, start):
    """The frontier's result: the clean model, every (attack, sanitizer) row."""
    split = experiment.split
    X, y = split.X_train, split.y_train
    theta_clean = experiment.refit(X, y)
    effect_clean = experiment.effect(theta_clean)
    scaler = split.scaler
    return FrontierResult(
        record,
        tuple(_screened_rows(experiment, points, chosen, effect_clean)),
        tuple(points),
        effect_clean,
        experiment.metric(theta_clean),
        experiment.public(theta_clean),
        experiment.reference,
        time.perf_counter() - start,
        feature_names=tuple(dataset.feature_names),
        target_name=dataset.target_name,
        x_mean=scaler.mean_.copy(),
        x_scale=scaler.scale_.copy(),
        integer_columns=_integer_columns(given, X.shape[1], list(dataset.feature_names)),
        X_data=dataset.X,
        frozen_columns=tuple(settings["frozen_features"] or ()),
    )


def _checked(
    alphas, rate, baselines, seed
) -> tuple[tuple[float, ...], float, tuple[str, ...], int]:
    """:func:`run_frontier`'s α grid, rate, baselines and seed, checked."""
    alphas = _check_alphas(alphas)
    rate = float(check_positive(rate, "rate"))
    if isinstance(baselines, str):
        baselines = (baselines,)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InvalidInputError(
            f"baselines: unknown {unknown}; expected a subset of " + ", ".join(BASELINES)
        )
    baselines = tuple(dict.fromkeys(baselines))
    if not alphas and not baselines:
        raise InvalidInputError("alphas: give at least one α or one baseline")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"seed: expected an integer, got {seed!r}")
    return alphas, rate, baselines, int(seed)


def _victim_and_goal(
    dataset: str | Dataset, model: str | object | None, goal: str | Goal | None, data_dir
) -> tuple[Dataset, models.ModelSpec, str, Any, Goal]:
    """The data set (loaded by name), the victim's entry, its name, the estimator and
    the goal, checked against one another."""
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, data_dir=data_dir)
    if not isinstance(dataset, Dataset):
        raise InvalidInputError(f"dataset: expected a name or a Dataset, got {dataset!r}")
    if model is None:
        model = models.DEFAULT_MODEL[dataset.task]
    if isinstance(model, str):
        spec = models.get(model)
        model_name, victim = model, spec.make()
    else:
        if not (hasattr(model, "fit") and hasattr(model, "get_params")):
            raise InvalidInputError(
                f"model: expected a name or a scikit-learn estimator, got {model!r}"
            )
        spec = models.spec_for(model)
        model_name, victim = type(model).__name__, model
    goal = frontier_goal(spec.default_goal if goal is None else goal)
    problem = spec.goal_problem(goal.kind, getattr(goal, "target", None))
    if problem is not None:
        raise InvalidInputError(f"goal: {problem}")
    if spec.task != dataset.task:
        raise InvalidInputError(
            f"model: {model_name!r} is a {spec.task} model, but "
            f"{dataset.name!r} is a {dataset.task} data set"
        )
    return dataset, spec, model_name, victim, goal


def _attack_point(
    experiment: Experiment, name: str, alpha: float | None, attack: FlexiblePoisoning, seed: int
) -> AttackPoint:
    """One attack of the frontier (the flexible attack at α, or a baseline) with the
    same budget and constraints as every other."""
    X, y = experiment.split.X_train, experiment.split.y_train
    settings = attack.get_params(deep=False)
    m, task, victim = settings["n_points"], experiment.task, experiment.estimator
    t0 = time.perf_counter()
    effect_final = iterations = None
    warned: tuple[str, ...] = ()
    if name == "flexible" or name.startswith(EVADING):
        assert alpha is not None
        result = experiment.generate(experiment.configure(attack, alpha=alpha))
        Xp, yp = result.X_poison, result.y_poison
        effect_final = float(result.effect_history[-1])
        iterations = float(result.n_iter.mean())
        warned = result.warnings
    elif name == "random_clone":
        b = random_clone(X, y, m, task, random_state=seed)
        Xp, yp = b.X_poison, b.y_poison
    elif name == "label_flip":
        b = label_flip(victim, X, y, m, task, random_state=seed)
        Xp, yp = b.X_poison, b.y_poison
    else:
        limits = {k: settings[k] for k in (*ATTACK_ARGUMENTS, "data_units")}
        b = unconcealed(
            victim,
            X,
            y,
            m,
            goal=experiment.goal,
            random_state=seed,
            constraints=limits,
            **{k: settings[k] for k in ("max_iter", "trade_off", "starts", "passes")},
        )
        assert b.attack is not None
        Xp, yp = b.X_poison, b.y_poison
        effect_final = float(b.attack.effect_history[-1])
        iterations = float(b.attack.n_iter.mean())
        warned = experiment.in_data_terms(b.attack.warnings)
    x_c = X.mean(axis=0)
    return AttackPoint(
        name,
        alpha if name == "flexible" else None,
        Xp,
        np.asarray(yp),
        effect_final,
        _mean_c(Xp, x_c),
        iterations,
        time.perf_counter() - t0,
        warned,
    )


def _screened_rows(
    experiment: Experiment,
    points: list[AttackPoint],
    chosen: list,
    effect_clean: float,
) -> list[FrontierRow]:
    """Every attack point (and the clean rows first) without and with each sanitizer,
    the damage left withheld where it is within the sanitizer's own noise."""
    X, y = experiment.split.X_train, experiment.split.y_train
    clean_point = AttackPoint(CLEAN, None, np.empty((0, X.shape[1])), y[:0], None, 0.0, None, 0.0)
    rows: list[FrontierRow] = []
    shift: dict[str, float] = {}  # |E after each sanitizer on the clean rows − E_clean|
    for point in [clean_point, *points]:
        here = [
            FrontierRow(attack=point.attack, alpha=point.alpha, **vars(s.measured()))
            for s in experiment.screen(point.X_poison, point.y_poison, chosen, effect_clean)
        ]
        if point is clean_point:
            shift = {r.sanitizer: abs(r.effect - effect_clean) for r in here}
        rows += within_noise(here, effect_clean, shift, experiment.goal.higher_is_damage)
    return rows


def within_noise(
    screened: Sequence[FrontierRow],
    effect_clean: float,
    shift: dict[str, float],
    higher_is_damage: bool,
) -> list[FrontierRow]:
    """``screened`` (one attack's rows, ``"none"`` first) with ``damage_left`` None on
    each sanitizer s where the attack's damage, its change of E in the goal's direction,

        D = ±(E_none − E_clean)      (+ when higher E is more damage),

    is no larger than what s alone does to E on the clean rows,
    D ≤ |E_clean,s − E_clean| (``shift[s]``): at α near 1, for a random clone, or when
    the attack moved E the wrong way (D < 0), the ratio (E_s − E_clean) / (E_none −
    E_clean) measures the sanitizer, not the attack (on statsmodels' fair data, α = 0.9
    moved E_I by 0.060 where IsolationForest alone moves it by 0.071: the ratio read
    1.56, "more damage than without a sanitizer")."""
    damage = screened[0].effect - effect_clean
    damage = damage if higher_is_damage else -damage
    return [
        replace(s, damage_left=None)
        if s.damage_left is not None and damage <= shift.get(s.sanitizer, 0.0)
        else s
        for s in screened
    ]


def _integer_columns(given: Specs, d: int, names: list[str]) -> tuple[int, ...]:
    """The indices of the integer and one-hot features of the constraints."""
    groups = given.one_hot_groups or ()
    lists = [given.integer_features, *groups]
    return tuple(j for spec in lists for j in feature_indices(spec, "constraints", d, names))


__all__ = [
    "BASELINES",
    "DEFAULT_ALPHAS",
    "attack_label",
    "CLEAN",
    "ATTACK_LABELS",
    "EVADING",
    "FrontierSettings",
    "AttackPoint",
    "FrontierRow",
    "FrontierResult",
    "frontier_goal",
    "run_frontier",
]

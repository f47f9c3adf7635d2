"""The effect–concealment frontier: how much damage survives a real sanitizer.

A defender's question: *how far can k added rows push my model after my sanitizer has
run, and how many of them does it catch?* For one data set, victim, goal and poisoning
rate, :func:`run_frontier` crafts poison with the flexible attack for each α of a grid
(α = 0: effect only … α = 1: concealment only) and with the baseline attacks of
:mod:`flexpoison.baselines` at the same budget m, then sends every poisoned training
set through every sanitizer of :mod:`flexpoison.sanitizers` and measures

* **recall** — the share of the m poison rows the sanitizer removes;
* **clean removed** — the share of the n clean rows it removes (its false alarms);
* **effect left** — the goal's own effect E of the victim refitted on the rows kept,
  in the standardised space the attack works in:

  ========================  =====================================================
  ``integrity``             E_I = ‖θ − θ_t‖² (θ_t: the task's default preset;
                            lower = more damage)
  ``availability``          E_A = ‖θ − θ₀‖²  (θ₀: the victim on the clean training
                            rows; higher = more damage)
  ``loss-availability``     E_L = mean loss of θ on the clean training rows
                            (squared error / log-loss; higher = more damage)
  ========================  =====================================================

* **test metric** — test MSE (regression) or accuracy (classification) of that refit.

Sanitizer ``"none"`` (keep every row) is the reference: its effect is the attack's own
effect. A pseudo-attack ``"clean"`` (no poison at all) shows what each sanitizer does
to clean data — the "no attack" line of the figures.

Setup (as :mod:`flexpoison.experiments`): 70/30 split with the seed (stratified for
classification), features standardised on the training split, attacks crafted on the
standardised training rows with ``random_state=seed``. Each sanitizer is calibrated on
the clean training split and removes a share ``clean_removal`` (0.05) of it; ``three_sigma``
keeps the paper's fixed k = 3 (the rule the attack's 3σ box is designed to pass; pass
``ThreeSigma(k=None)`` in ``sanitizers`` for a calibrated one), ``trim`` keeps n rows
and runs on regression only; ``loss`` and ``trim`` fit the victim.

The evaluation refits are scikit-learn's (a clone of the victim, solved to tight
tolerance so that the refit on all rows reproduces the attack engine's θ_p); they are
evaluation, not part of the attack.

>>> result = run_frontier("ccpp", model="ridge", goal="integrity", rate=0.1,
...                       data_dir="shared/data")            # doctest: +SKIP
>>> write_frontier(result, "flexpoison-out/frontier-ccpp")   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import platform
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.base import is_classifier

from . import _io
from ._validation import check_fraction, check_positive
from .attack import FlexiblePoisoning
from ._estimators import solved_tightly
from .baselines import label_flip, random_clone, unconcealed
from .datasets import Dataset, load_dataset
from .errors import InvalidInputError
from .experiments import split_and_standardise
from .goals import Availability, Goal, Integrity, LossAvailability
from .sanitizers import SANITIZERS, Sanitizer, get_sanitizer

__all__ = [
    "MODELS", "GOALS", "BASELINES", "DEFAULT_ALPHAS", "EFFECT_NAMES",
    "FrontierSettings", "AttackPoint", "FrontierRow", "FrontierResult", "WrittenFrontier",
    "CSV_COLUMNS", "make_estimator", "make_goal", "victim_label", "run_frontier",
    "figures_for", "write_frontier", "render_section", "insert_report_section",
]

MODELS = ("linear", "ridge", "lasso", "elasticnet", "logistic")
GOALS = ("integrity", "availability", "loss-availability")
BASELINES = ("random_clone", "label_flip", "unconcealed")
DEFAULT_ALPHAS = tuple(round(0.1 * k, 1) for k in range(11))
#: The effect each goal kind is measured with.
EFFECT_NAMES = {"integrity": "E_I", "availability": "E_A", "loss-availability": "E_L"}
NO_SANITIZER = "none"
CLEAN = "clean"
_LABELS = {"random_clone": "random clone", "label_flip": "label flip",
           "unconcealed": "unconcealed (α = 0, data range)", CLEAN: "no attack"}


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class FrontierSettings:
    """What a frontier was computed on (everything needed to run it again)."""

    dataset: str
    task: Literal["regression", "classification"]
    model: str
    victim: str                  # repr of the scikit-learn estimator
    victim_label: str            # e.g. "Ridge(alpha=1)"
    goal: str                    # "integrity", "availability" or "loss-availability"
    effect_name: str             # "E_I", "E_A" or "E_L"
    higher_is_damage: bool       # False for E_I (the attacker lowers it)
    metric_name: str             # "test MSE" or "test accuracy"
    rate: float
    n_clean: int                 # clean training rows n
    n_poison: int                # budget m = round(rate · n)
    n_test: int
    n_features: int
    alphas: tuple[float, ...]
    baselines: tuple[str, ...]
    sanitizers: tuple[str, ...]  # "none" first
    seed: int
    max_iter: int
    tol: float
    clean_removal: float


@dataclass(frozen=True)
class AttackPoint:
    """One attack of the frontier: the poison rows it adds and what it cost.

    ``effect_attack`` is the engine's own E after the last point (flexible attack and
    ``unconcealed``), None for attacks that do not optimise (random clone, label flip).
    ``mean_concealment`` is the mean C = ‖x_p − x_c‖² (standardised units).
    """

    attack: str                  # "flexible", a baseline name, or "clean"
    alpha: float | None
    X_poison: np.ndarray = field(repr=False)
    y_poison: np.ndarray = field(repr=False)
    effect_attack: float | None
    mean_concealment: float
    mean_iterations: float | None
    seconds: float

    @property
    def label(self) -> str:
        return f"α = {self.alpha:g}" if self.attack == "flexible" else _LABELS[self.attack]


@dataclass(frozen=True)
class FrontierRow:
    """One (attack, sanitizer) measurement.

    Attributes
    ----------
    attack, alpha
        As in :class:`AttackPoint` (``alpha`` is None for baselines and ``"clean"``).
    sanitizer : str
        A sanitizer name, or ``"none"`` (every row kept).
    n_poison, poison_removed : int
        Poison rows added, and removed by the sanitizer.
    recall : float or None
        poison_removed / n_poison (None for ``"clean"``, which adds no poison).
    clean_removed : int
        Clean training rows removed.
    clean_removed_share : float
        clean_removed / n_clean.
    effect : float
        The goal's effect of the victim refitted on the rows kept.
    test_metric : float
        Test MSE / accuracy of that refit.
    damage_left : float or None
        (effect − E_clean) / (effect without sanitizer − E_clean), E_clean the clean
        model's effect: the share of the attack's damage that survives the sanitizer
        (1 = none removed, 0 = back to clean, < 0 = past it). None when the attack did
        no damage (|effect without sanitizer − E_clean| ≤ 1e-12·max(1, |E_clean|)).
    """

    attack: str
    alpha: float | None
    sanitizer: str
    n_poison: int
    poison_removed: int
    recall: float | None
    clean_removed: int
    clean_removed_share: float
    effect: float
    test_metric: float
    damage_left: float | None

    @property
    def label(self) -> str:
        return f"α = {self.alpha:g}" if self.attack == "flexible" else _LABELS[self.attack]


@dataclass(frozen=True)
class FrontierResult:
    """Every (attack, sanitizer) row of a frontier, with the settings and references.

    ``effect_clean`` / ``metric_clean``: the victim on the clean training rows, no
    sanitizer. ``theta_clean``: its θ₀; ``theta_reference``: θ_t (integrity) or θ₀.
    """

    settings: FrontierSettings
    rows: tuple[FrontierRow, ...]
    attacks: tuple[AttackPoint, ...]
    effect_clean: float
    metric_clean: float
    theta_clean: np.ndarray = field(repr=False)
    theta_reference: np.ndarray = field(repr=False)
    seconds: float
    feature_names: tuple[str, ...] = ()
    target_name: str = "y"
    x_mean: np.ndarray | None = field(default=None, repr=False)   # the standardisation:
    x_scale: np.ndarray | None = field(default=None, repr=False)  # x = z·scale + mean

    def poison_in_data_units(self, point: AttackPoint) -> np.ndarray:
        """``point.X_poison`` (standardised) back in the data set's units."""
        if self.x_mean is None:
            raise InvalidInputError("this frontier result does not carry its "
                                    "standardisation (built by hand, not run_frontier)")
        return point.X_poison * self.x_scale + self.x_mean

    def rows_for(self, sanitizer: str) -> list[FrontierRow]:
        """The rows of one sanitizer (or ``"none"``), in attack order."""
        return [r for r in self.rows if r.sanitizer == sanitizer]

    def row(self, attack: str, sanitizer: str, alpha: float | None = None) -> FrontierRow:
        """The row of one attack (``"flexible"`` needs ``alpha``) and sanitizer."""
        for r in self.rows:
            if r.attack == attack and r.sanitizer == sanitizer and (
                    attack != "flexible" or math.isclose(r.alpha, alpha, abs_tol=1e-12)):
                return r
        raise KeyError((attack, sanitizer, alpha))


# -------------------------------------------------------------------- set-up


def make_estimator(model: str):
    """The victim for ``--model``: ridge → Ridge(alpha=1), logistic →
    LogisticRegression(C=1), linear → LinearRegression(), lasso → Lasso(alpha=1),
    elasticnet → ElasticNet(alpha=1, l1_ratio=0.5)."""
    from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression,
                                      LogisticRegression, Ridge)
    factories = {
        "linear": LinearRegression,
        "ridge": lambda: Ridge(alpha=1.0),
        "lasso": lambda: Lasso(alpha=1.0, max_iter=10_000),
        "elasticnet": lambda: ElasticNet(alpha=1.0, l1_ratio=0.5, max_iter=10_000),
        "logistic": lambda: LogisticRegression(C=1.0, max_iter=10_000),
    }
    if model not in factories:
        raise InvalidInputError(f"model: unknown model {model!r}; expected one of "
                                + ", ".join(MODELS))
    return factories[model]()


def make_goal(goal: str | Goal) -> Goal:
    """``"integrity"`` → Integrity() (the task's default target preset),
    ``"availability"`` → Availability() (E_A), ``"loss-availability"`` →
    LossAvailability() (E_L on the clean training rows); Goal objects pass through."""
    if isinstance(goal, (Integrity, Availability, LossAvailability)):
        if isinstance(goal, LossAvailability) and goal.X_eval is not None:
            raise InvalidInputError("goal: the frontier measures E_L on the clean "
                                    "training rows; LossAvailability(X_eval=…) is not "
                                    "supported here")
        return goal
    factories = {"integrity": Integrity, "availability": Availability,
                 "loss-availability": LossAvailability}
    if goal not in factories:
        raise InvalidInputError(f"goal: unknown goal {goal!r}; expected one of "
                                + ", ".join(GOALS))
    return factories[goal]()


def victim_label(estimator) -> str:
    """'Ridge(alpha=1)', 'LogisticRegression(C=1)': the settings the victim depends on."""
    params = estimator.get_params()
    keys = ("C",) if "C" in params else ("alpha", "l1_ratio")
    shown = [f"{key}={params[key]:g}" for key in keys
             if isinstance(params.get(key), (int, float))]
    if params.get("fit_intercept") is False:
        shown.append("fit_intercept=False")
    return f"{type(estimator).__name__}({', '.join(shown)})"


def _check_alphas(alphas: Iterable[float]) -> tuple[float, ...]:
    values = tuple(check_fraction(a, "alphas") for a in alphas)
    if len(set(values)) != len(values):
        raise InvalidInputError(f"alphas: repeated values in {list(values)}")
    return values


def _sanitizers(names, task: str, victim, clean_removal: float
                ) -> list[tuple[str, Sanitizer]]:
    if names is None:
        names = [n for n in SANITIZERS if not (n == "trim" and task != "regression")]
    out = []
    for item in names:
        sanitizer = get_sanitizer(item, estimator=victim)
        if isinstance(item, str) and hasattr(sanitizer, "clean_removal"):
            sanitizer = replace(sanitizer, clean_removal=clean_removal)
        if sanitizer.name == "trim" and task != "regression":
            raise InvalidInputError("sanitizers: TRIM is defined for regression only")
        if sanitizer.name in [n for n, _ in out] or sanitizer.name == NO_SANITIZER:
            raise InvalidInputError(f"sanitizers: {sanitizer.name!r} given twice")
        out.append((sanitizer.name, sanitizer))
    return out


# --------------------------------------------------------------- evaluation refit


@dataclass(frozen=True)
class _Evaluator:
    """Refit on kept rows → θ (flat public layout) → (effect, test metric)."""

    estimator: object
    kind: str                    # goal kind
    reference: np.ndarray        # θ_t or θ₀
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    classes: np.ndarray | None

    def theta(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.task == "classification" and np.unique(y).size < 2:
            raise InvalidInputError("the rows kept by a sanitizer hold a single class; "
                                    "the victim cannot be refitted on them")
        model = solved_tightly(self.estimator).fit(X, y)
        coef = np.atleast_2d(model.coef_)
        if not model.fit_intercept:
            return coef.ravel()
        intercept = np.broadcast_to(np.atleast_1d(model.intercept_), (coef.shape[0],))
        return np.column_stack([coef, intercept]).ravel()

    def _scores(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        K = 1 if self.task == "regression" or self.classes.size == 2 \
            else self.classes.size
        rows = theta.reshape(K, -1)
        if rows.shape[1] == X.shape[1]:          # no intercept
            return X @ rows.T
        return X @ rows[:, :-1].T + rows[:, -1]

    def effect(self, theta: np.ndarray) -> float:
        if self.kind != "loss-availability":
            diff = theta - self.reference
            return float(diff @ diff)
        z = self._scores(theta, self.X_train)
        if self.task == "regression":
            return float(np.mean((z[:, 0] - self.y_train) ** 2))
        index = np.searchsorted(self.classes, self.y_train)
        if z.shape[1] == 1:                      # binary: t = ±1 for classes[1]/[0]
            t = np.where(index == 1, 1.0, -1.0)
            return float(np.mean(np.logaddexp(0.0, -t * z[:, 0])))
        from scipy.special import logsumexp
        return float(np.mean(logsumexp(z, axis=1) - z[np.arange(z.shape[0]), index]))

    def metric(self, theta: np.ndarray) -> float:
        z = self._scores(theta, self.X_test)
        if self.task == "regression":
            return float(np.mean((z[:, 0] - self.y_test) ** 2))
        index = (z[:, 0] > 0).astype(int) if z.shape[1] == 1 else np.argmax(z, axis=1)
        return float(np.mean(self.classes[index] == self.y_test))


# --------------------------------------------------------------------- the run


def _mean_c(X_poison: np.ndarray, x_c: np.ndarray) -> float:
    if X_poison.shape[0] == 0:
        return 0.0
    return float(np.mean(np.sum((X_poison - x_c) ** 2, axis=1)))


def run_frontier(dataset: str | Dataset, *, model: str | object = "ridge",
                 goal: str | Goal = "integrity", rate: float = 0.1,
                 alphas: Sequence[float] = DEFAULT_ALPHAS, seed: int = 0,
                 max_iter: int = 100, tol: float = 1e-6,
                 baselines: Sequence[str] = BASELINES,
                 sanitizers: Sequence[str | Sanitizer] | None = None,
                 clean_removal: float = 0.05, data_dir: str | os.PathLike | None = None,
                 progress: bool | None = False,
                 on_attack: Callable[[AttackPoint], None] | None = None
                 ) -> FrontierResult:
    """Attack for every α and baseline, sanitise with every sanitizer, measure.

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`~flexpoison.datasets.load_dataset` (with ``data_dir``) or a
        :class:`~flexpoison.datasets.Dataset`.
    model : str or scikit-learn estimator, default "ridge"
        One of :data:`MODELS` (see :func:`make_estimator`) or an unfitted estimator
        that :class:`~flexpoison.attack.FlexiblePoisoning` supports.
    goal : {"integrity", "availability", "loss-availability"} or Goal
        See :func:`make_goal`.
    rate : float > 0
        Poisoning rate; the budget is m = round(rate · n) rows, for every attack.
    alphas : sequence of float in [0, 1]
        The flexible attack's α grid (default 0, 0.1, …, 1).
    seed : int
        Seeds the split, the attacks' initial rows and the baselines.
    max_iter, tol : passed to the flexible attack (and ``unconcealed``).
    baselines : subset of :data:`BASELINES`
        Baseline attacks run with the same budget.
    sanitizers : sequence of names or sanitizers, optional
        Default: every sanitizer of :data:`~flexpoison.sanitizers.SANITIZERS`
        (``trim`` for regression only), named ones with ``clean_removal``.
    clean_removal : float in [0, 1)
        Share of the clean training rows each calibrated sanitizer removes.
    data_dir : path, optional
        Where :func:`~flexpoison.datasets.load_dataset` looks for the UCI files.
    progress : bool or None
        Progress bar over the attack points (None: only on a terminal).
    on_attack : callable, optional
        Called with each :class:`AttackPoint` as soon as it is crafted.

    Returns
    -------
    FrontierResult
        One row per (attack point, sanitizer) plus the ``"clean"`` reference rows.
    """
    start = time.perf_counter()
    alphas = _check_alphas(alphas)
    rate = float(check_positive(rate, "rate"))
    if isinstance(baselines, str):
        baselines = (baselines,)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InvalidInputError(f"baselines: unknown {unknown}; expected a subset of "
                                + ", ".join(BASELINES))
    baselines = tuple(dict.fromkeys(baselines))
    if not alphas and not baselines:
        raise InvalidInputError("alphas: give at least one α or one baseline")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"seed: expected an integer, got {seed!r}")
    seed = int(seed)
    goal = make_goal(goal)
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, data_dir=data_dir)
    if not isinstance(dataset, Dataset):
        raise InvalidInputError(f"dataset: expected a name or a Dataset, got {dataset!r}")
    if isinstance(model, str):
        model_name, victim = model, make_estimator(model)
    else:
        model_name, victim = type(model).__name__, model
    if not (hasattr(victim, "fit") and hasattr(victim, "get_params")):
        raise InvalidInputError(f"model: expected a name or a scikit-learn estimator, "
                                f"got {model!r}")
    task = dataset.task
    if is_classifier(victim) != (task == "classification"):
        kind = "classification" if is_classifier(victim) else "regression"
        raise InvalidInputError(f"model: {model_name!r} is a {kind} model, but "
                                f"{dataset.name!r} is a {task} data set")
    split = split_and_standardise(dataset, seed=seed)
    X, y = split.X_train, split.y_train
    n = X.shape[0]
    m = int(round(rate * n))
    if m < 1:
        raise InvalidInputError(f"rate: {rate} of {n} training rows rounds to 0 poison "
                                "rows; use a larger rate")
    chosen = _sanitizers(sanitizers, task, victim, clean_removal)

    def attack(alpha: float) -> FlexiblePoisoning:
        return FlexiblePoisoning(victim, goal=goal, alpha=alpha, n_points=m,
                                 max_iter=max_iter, tol=tol, random_state=seed,
                                 progress=False)

    # validates every setting (alpha, max_iter, tol, goal vs model) before any work
    objective = attack(alphas[0] if alphas else 0.0).objective(X, y)
    classes = np.unique(y) if task == "classification" else None
    evaluator = _Evaluator(victim, goal.kind, np.asarray(objective.theta_reference),
                           X, y, split.X_test, split.y_test, task, classes)
    x_c = X.mean(axis=0)

    points: list[AttackPoint] = []
    jobs: list[tuple[str, float | None]] = [("flexible", a) for a in alphas] + \
        [(b, None) for b in baselines]
    from tqdm.auto import tqdm
    bar = tqdm(jobs, disable=None if progress is None else not progress,
               desc="attack points", unit="attack")
    for name, alpha in bar:
        bar.set_postfix_str(f"α = {alpha:g}" if alpha is not None else name)
        t0 = time.perf_counter()
        effect_attack = iterations = None
        if name == "flexible":
            result = attack(alpha).generate(X, y)
            Xp, yp = result.X_poison, result.y_poison
            effect_attack = float(result.effect_history[-1])
            iterations = float(result.n_iter.mean())
        elif name == "random_clone":
            b = random_clone(X, y, m, task, random_state=seed)
            Xp, yp = b.X_poison, b.y_poison
        elif name == "label_flip":
            b = label_flip(victim, X, y, m, task, random_state=seed)
            Xp, yp = b.X_poison, b.y_poison
        else:
            b = unconcealed(victim, X, y, m, goal=goal, random_state=seed,
                            max_iter=max_iter)
            Xp, yp = b.X_poison, b.y_poison
            effect_attack = float(b.attack.effect_history[-1])
            iterations = float(b.attack.n_iter.mean())
        point = AttackPoint(name, alpha, Xp, np.asarray(yp), effect_attack,
                            _mean_c(Xp, x_c), iterations, time.perf_counter() - t0)
        points.append(point)
        if on_attack is not None:
            on_attack(point)
    bar.close()

    clean_point = AttackPoint(CLEAN, None, np.empty((0, X.shape[1])), y[:0], None, 0.0,
                              None, 0.0)
    theta_clean = evaluator.theta(X, y)
    effect_clean = evaluator.effect(theta_clean)
    metric_clean = evaluator.metric(theta_clean)
    rows = []
    for point in [clean_point, *points]:
        X_all = np.vstack([X, point.X_poison])
        y_all = np.concatenate([y, point.y_poison.astype(y.dtype, copy=False)])
        mp = point.X_poison.shape[0]
        effect_none = None
        for sname, sanitizer in [(NO_SANITIZER, None), *chosen]:
            if sanitizer is None:
                kept = np.arange(n + mp)
            else:
                kept = sanitizer(X_all, y_all, X_clean=X, y_clean=y, task=task)
            theta = evaluator.theta(X_all[kept], y_all[kept])
            effect = evaluator.effect(theta)
            if sanitizer is None:
                effect_none = effect
            clean_kept = int(np.count_nonzero(kept < n))
            poison_removed = mp - (kept.size - clean_kept)
            span = effect_none - effect_clean
            damage = None if point.attack == CLEAN or \
                abs(span) <= 1e-12 * max(1.0, abs(effect_clean)) \
                else (effect - effect_clean) / span
            rows.append(FrontierRow(
                attack=point.attack, alpha=point.alpha, sanitizer=sname, n_poison=mp,
                poison_removed=int(poison_removed),
                recall=None if mp == 0 else poison_removed / mp,
                clean_removed=n - clean_kept, clean_removed_share=(n - clean_kept) / n,
                effect=effect, test_metric=evaluator.metric(theta), damage_left=damage))

    settings = FrontierSettings(
        dataset=dataset.name, task=task, model=model_name, victim=repr(victim),
        victim_label=victim_label(victim), goal=goal.kind,
        effect_name=EFFECT_NAMES[goal.kind],
        higher_is_damage=goal.kind != "integrity",
        metric_name="test MSE" if task == "regression" else "test accuracy",
        rate=float(rate), n_clean=n, n_poison=m, n_test=int(split.X_test.shape[0]),
        n_features=int(X.shape[1]), alphas=alphas, baselines=baselines,
        sanitizers=(NO_SANITIZER, *[s for s, _ in chosen]), seed=seed,
        max_iter=int(max_iter), tol=float(tol), clean_removal=float(clean_removal))
    return FrontierResult(settings, tuple(rows), tuple(points), effect_clean,
                          metric_clean, theta_clean, evaluator.reference,
                          time.perf_counter() - start,
                          feature_names=tuple(dataset.feature_names),
                          target_name=dataset.target_name,
                          x_mean=split.scaler.mean_.copy(),
                          x_scale=split.scaler.scale_.copy())


# ------------------------------------------------------------------------ files

CSV_COLUMNS = ("attack", "alpha", "sanitizer", "n_poison", "poison_removed", "recall",
               "clean_removed", "clean_removed_share", "effect", "test_metric",
               "damage_left")


@dataclass(frozen=True)
class WrittenFrontier:
    """Where :func:`write_frontier` put things (``report`` None if none was updated)."""

    out_dir: Path
    files: tuple[Path, ...]
    report: Path | None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _key(s: FrontierSettings) -> str:
    return _slug(f"frontier-{s.dataset}-{s.model}-{s.goal}-{s.rate:g}-seed{s.seed}")


def _summary(result: FrontierResult) -> dict:
    import numpy
    import scipy
    import sklearn
    from . import __version__
    s = result.settings
    return {
        "settings": asdict(s),
        "clean": {"effect": result.effect_clean, "test_metric": result.metric_clean,
                  "theta_clean": result.theta_clean,
                  "theta_reference": result.theta_reference},
        "attacks": [{"attack": p.attack, "alpha": p.alpha, "label": p.label,
                     "n_poison": int(p.X_poison.shape[0]),
                     "effect_attack": p.effect_attack,
                     "mean_concealment": p.mean_concealment,
                     "mean_iterations": p.mean_iterations,
                     "seconds": round(p.seconds, 3)} for p in result.attacks],
        "rows": [asdict(r) for r in result.rows],
        "wall_time_seconds": round(result.seconds, 3),
        "versions": {"flexpoison": __version__, "python": platform.python_version(),
                     "numpy": numpy.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__},
    }


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _plot_one(result: FrontierResult, sanitizer: str, ax=None, legend: bool = True,
              title: str | None = None):
    from .plotting import plot_frontier
    s = result.settings
    flex = [r for r in result.rows_for(sanitizer) if r.attack == "flexible"]
    flex.sort(key=lambda r: r.alpha)
    base = {r.label: (r.recall, r.effect) for r in result.rows_for(sanitizer)
            if r.attack in BASELINES}
    clean_here = result.row(CLEAN, sanitizer).effect
    references = {"no attack": result.effect_clean}
    if sanitizer != NO_SANITIZER:
        references["no attack, after this sanitizer"] = clean_here
    return plot_frontier(
        [r.recall for r in flex], [r.effect for r in flex], [r.alpha for r in flex],
        s.effect_name, baselines=base, references=references,
        higher_is_damage=s.higher_is_damage, ax=ax, legend=legend,
        title=title if title is not None else
        f"{s.dataset}, {s.model}, {s.goal}, rate {s.rate:g}: sanitizer {sanitizer}")


def figures_for(result: FrontierResult) -> dict[str, bytes]:
    """PNG bytes by file name: one per sanitizer and ``frontier_overview.png``."""
    from matplotlib.figure import Figure
    s = result.settings
    names = [n for n in s.sanitizers if n != NO_SANITIZER]
    out = {f"frontier_{name}.png": _png(_plot_one(result, name)) for name in names}
    cols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / cols))
    fig = Figure(figsize=(5.2 * cols, 4.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for k, name in enumerate(names):
        _plot_one(result, name, ax=axes[k], legend=False, title=name)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    if names:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)),
                   fontsize="small")
    fig.suptitle(f"Effect–concealment frontier: {s.dataset}, {s.victim_label}, {s.goal} "
                 f"({s.effect_name}), {s.n_poison} poison rows (rate {s.rate:g})")
    out["frontier_overview.png"] = _png(fig)
    return out


def _cell(value) -> str:
    return "" if value is None else value


def poison_file_name(point: AttackPoint) -> str:
    """``poison_flexible_alpha0.5.csv``, ``poison_random_clone.csv``, …"""
    if point.attack == "flexible":
        return f"poison_flexible_alpha{point.alpha:g}.csv"
    return f"poison_{point.attack}.csv"


def write_frontier(result: FrontierResult, out_dir: str | os.PathLike, *,
                   report: str | os.PathLike | None = None, auto_report: bool = True
                   ) -> WrittenFrontier:
    """Write the frontier's files into ``out_dir`` (all or nothing) and the report.

    Files: ``frontier.csv`` (one row per attack × sanitizer, :data:`CSV_COLUMNS`),
    ``frontier.json`` (settings, references, attacks, rows, versions),
    ``frontier_<sanitizer>.png`` per sanitizer, ``frontier_overview.png``,
    ``frontier.html`` (self-contained) and, per attack, its poison rows in the data
    set's units (``poison_flexible_alpha0.5.csv``, ``poison_random_clone.csv``, …;
    :func:`poison_file_name`). Then, if ``report`` is given — or, with
    ``auto_report``, if ``out_dir``'s parent holds ``report.html`` (from
    ``flexpoison reproduce``) — a "Frontier" section is inserted into that report
    before ``</body>`` (replacing the section of an earlier run with the same data
    set, model, goal, rate and seed), atomically.
    """
    if report is not None:
        report = Path(report)
        if not report.is_file():
            raise InvalidInputError(f"report: {report} is not an existing file")
    elif auto_report:
        candidate = Path(out_dir).absolute().parent / "report.html"
        report = candidate if candidate.is_file() else None
    figures = figures_for(result)
    section = render_section(result, figures["frontier_overview.png"])
    names = []
    with _io.staged_output(out_dir) as stage:
        _io.write_csv(stage / "frontier.csv", CSV_COLUMNS,
                      [[_cell(getattr(r, c)) for c in CSV_COLUMNS] for r in result.rows])
        _io.write_json(stage / "frontier.json", _summary(result))
        if result.x_mean is not None:  # the poison rows of every attack, in data units
            header = (*result.feature_names, result.target_name)
            for point in result.attacks:
                if point.X_poison.shape[0]:
                    X_data = result.poison_in_data_units(point)
                    _io.write_csv(stage / poison_file_name(point), header,
                                  [(*x, y) for x, y in zip(X_data.tolist(),
                                                           point.y_poison.tolist())])
        for name, png in figures.items():
            (stage / name).write_bytes(png)
        (stage / "frontier.html").write_text(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"flexpoison frontier: {html.escape(result.settings.dataset)}</title>"
            f"<style>{_CSS}</style></head><body>\n{section}\n</body></html>\n",
            encoding="utf-8")
        names = sorted(p.name for p in stage.iterdir())
    out = Path(out_dir)
    if report is not None:
        insert_report_section(report, section, _key(result.settings))
    return WrittenFrontier(out, tuple(out / name for name in names), report)


# ------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}figure img{width:100%;border:1px solid #ddd}
"""


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if pct else f"{value:.4g}"


def render_section(result: FrontierResult, overview_png: bytes) -> str:
    """The "Frontier" section (HTML fragment, figure embedded as base64)."""
    e = html.escape
    s = result.settings
    key = _key(s)
    direction = "higher" if s.higher_is_damage else "lower"
    sanitizers = [n for n in s.sanitizers if n != NO_SANITIZER]
    img = base64.b64encode(overview_png).decode("ascii")
    parts = [
        f"<!-- flexpoison:{key} -->",
        f"<section id='{key}'>",
        f"<h2>Frontier: {e(s.dataset)}, {e(s.victim_label)}, {e(s.goal)} "
        f"({e(s.effect_name)}), rate {s.rate:g}</h2>",
        f"<p>How much damage do {s.n_poison} added rows (rate {s.rate:g} of "
        f"{s.n_clean} clean training rows) leave <em>after</em> a sanitizer has run, "
        f"and how many of them does it catch? Each sanitizer is calibrated on the clean "
        f"training split (removing {s.clean_removal:.0%} of it; three_sigma: the fixed "
        f"k = 3 rule; trim: keeps n rows); the victim is refitted on the rows it keeps. "
        f"Effect {e(s.effect_name)}: {direction} = more damage. The flexible attack "
        f"sweeps α over {', '.join(f'{a:g}' for a in s.alphas)}; baselines: "
        f"{', '.join(e(_LABELS[b]) for b in s.baselines) or 'none'}; seed {s.seed}, "
        f"max_iter {s.max_iter}. Without poison: {e(s.effect_name)} = "
        f"{result.effect_clean:.4g}, {e(s.metric_name)} = {result.metric_clean:.4g}. "
        f"Numbers: <code>frontier.csv</code>, <code>frontier.json</code>.</p>",
        f"<figure><img style='max-width:100%' alt='frontier overview' "
        f"src='data:image/png;base64,{img}'><figcaption>{e(s.effect_name)} after "
        "sanitising and refitting (y) against the share of poison rows the sanitizer "
        "removed (x)</figcaption></figure>",
        "<table><tr><th rowspan='2'>attack</th><th colspan='2'>no sanitizer</th>"
        + "".join(f"<th colspan='2'>{e(n)}</th>" for n in sanitizers) + "</tr><tr>"
        f"<th>{e(s.effect_name)}</th><th>{e(s.metric_name)}</th>"
        + "".join(f"<th>recall</th><th>{e(s.effect_name)}</th>" for _ in sanitizers)
        + "</tr>",
    ]
    for point in [CLEAN, *[(p.attack, p.alpha) for p in result.attacks]]:
        attack, alpha = (point, None) if point == CLEAN else point
        none = result.row(attack, NO_SANITIZER, alpha)
        cells = [f"<td>{e(none.label)}</td><td>{_fmt(none.effect)}</td>"
                 f"<td>{_fmt(none.test_metric)}</td>"]
        for n in sanitizers:
            r = result.row(attack, n, alpha)
            recall = _fmt(r.recall, pct=True) if r.recall is not None else \
                f"({_fmt(r.clean_removed_share, pct=True)} clean)"
            cells.append(f"<td>{recall}</td><td>{_fmt(r.effect)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    parts.append(f"</section>\n<!-- /flexpoison:{key} -->")
    return "\n".join(parts)


def insert_report_section(report: str | os.PathLike, section: str, key: str) -> Path:
    """Insert ``section`` into the HTML file ``report`` before ``</body>``, atomically.

    A section previously inserted under the same ``key`` (between the comments
    ``<!-- flexpoison:key -->`` and ``<!-- /flexpoison:key -->``) is replaced instead.
    Without ``</body>`` the section goes before ``</html>``, else at the end. The file
    is rewritten through a temporary file in its folder and ``os.replace``.
    """
    path = Path(report)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"report: cannot read {path}: {exc}") from None
    begin, end = f"<!-- flexpoison:{key} -->", f"<!-- /flexpoison:{key} -->"
    i = text.find(begin)
    j = text.find(end, i) if i >= 0 else -1
    if i >= 0 and j >= 0:
        new = text[:i] + section + text[j + len(end):]
    else:
        lower = text.lower()
        at = lower.rfind("</body>")
        if at < 0:
            at = lower.rfind("</html>")
        if at < 0:
            at = len(text)
        new = text[:at] + section + "\n" + text[at:]
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(new, encoding="utf-8")
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

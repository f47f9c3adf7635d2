"""One experiment pipeline: data → split → scale → attack → refit → metrics → sanitizers.

Every command runs its experiment through these steps, so that the same attack on the
same rows gives the same numbers whichever command ran it:

1. :func:`split_data` — a hold-out split with a seed (stratified for classification)
   and, optionally, features standardised on the training rows (the attack then works
   in that space; :meth:`Split.to_data_units` maps rows back);
2. :class:`Experiment` — the victim (a registry entry's estimator), the goal and the
   split; :meth:`Experiment.attack` runs :class:`~flexpoison.FlexiblePoisoning` on the
   training rows;
3. :meth:`Experiment.refit` — scikit-learn's own fit of the victim on the rows kept
   (solved tightly, so that on clean + poison rows it reproduces the engine's θ_p);
4. :meth:`Experiment.effect` / :meth:`Experiment.metric` — the goal's effect E of a
   model θ (its own definition, :meth:`Goal.effect`) and the test metric of the
   victim's task (:data:`flexpoison.models.METRICS`);
5. :meth:`Experiment.screen` — each sanitizer on clean + poison rows, the victim
   refitted on what it keeps, and what is left of the attack.

A victim without θ (``has_theta=False``, :class:`~flexpoison.models.ModelSpec`: the
kernel support vector classifier) is carried through the same steps by its decision values: a "θ" of
:meth:`Experiment.refit` is f at the goal's rows (x*, or the evaluation rows of E_L)
followed by f at the test rows; :meth:`Experiment.public` keeps the goal's rows, which
are what commands report as θ (``theta_*``, named by :meth:`Experiment.theta_names`) —
the same values an attack result's θ fields hold. Its test metrics come from refits
(:meth:`Experiment.metrics`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, cast

import numpy as np

from .. import models
from .._validation import MIN_TEST_ROWS, MIN_TRAIN_ROWS
from ..attack import AttackResult, FlexiblePoisoning, Goal
from ..attack.defaults import SEARCH_SETTINGS
from ..attack.ranges import restate
from ..attack.result import REFIT_GAP, refit_gap
from ..defences import SANITIZERS, Sanitizer, get_sanitizer, screen_combined
from ..errors import FlexPoisonWarning, InvalidInputError
from .outcomes import KEPT_ONE_CLASS, MEASURED, REMOVED_EVERY_ROW, UNMEASURED_WHY

NO_SANITIZER = "none"


@dataclass(frozen=True)
class Split:
    """A hold-out split in the space the attack works in.

    ``scaler`` (a fitted StandardScaler, or None) maps the data's units to that space;
    ``feature_names`` (or None) are the data's column names, for messages.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    scaler: Any = None  # a fitted StandardScaler, or None
    feature_names: tuple[str, ...] | None = None

    def to_data_units(self, X: np.ndarray) -> np.ndarray:
        """Rows of the attack's space in the data's own units."""
        return X if self.scaler is None else self.scaler.inverse_transform(X)

    def to_attack_space(self, X: np.ndarray) -> np.ndarray:
        """Rows in the data's units mapped into the attack's space."""
        return X if self.scaler is None else self.scaler.transform(X)


def split_data(
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    test_size: float = 0.3,
    seed: int = 0,
    standardize: bool = True,
    feature_names: Sequence[str] | None = None,
) -> Split:
    """scikit-learn's ``train_test_split`` with the seed (stratified for classification),
    then, with ``standardize``, a StandardScaler fitted on the training rows;
    ``feature_names`` name X's columns in messages."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    try:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X,
            y,
            test_size=test_size,
            random_state=seed,
            stratify=y if task == "classification" else None,
        )
    except ValueError as exc:  # too few rows, or a class too small to stratify
        reason = " ".join(str(exc).split())
        if task == "classification":
            labels, counts = np.unique(y, return_counts=True)
            reason = (
                f"{labels.size} classes, the smallest with {counts.min()} row(s); "
                "stratifying needs at least 2 rows per class in each part"
            )
        raise InvalidInputError(
            f"test_size: cannot split {len(y)} rows into train and test "
            f"(test_size {test_size}): {reason[:300]}"
        ) from None
    if len(y_tr) < MIN_TRAIN_ROWS or len(y_te) < MIN_TEST_ROWS:
        raise InvalidInputError(
            f"test_size: {len(y)} rows split into {len(y_tr)} training and {len(y_te)} test "
            f"rows; an experiment needs at least {MIN_TRAIN_ROWS} and {MIN_TEST_ROWS}"
        )
    names = None if feature_names is None else tuple(str(n) for n in feature_names)
    if not standardize:
        return Split(X_tr, X_te, y_tr, y_te, None, names)
    scaler = StandardScaler().fit(X_tr)
    return Split(scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te, scaler, names)


@dataclass(frozen=True)
class Screened:
    """What one sanitizer (or ``"none"``: every row kept) did to clean + poison rows.

    Attributes
    ----------
    sanitizer : str
        A sanitizer name, or ``"none"`` (every row kept).
    outcome : str
        ``"measured"``, or ``"removed every row"`` / ``"kept one class"`` when the
        rows kept leave no victim to refit; ``effect``, ``test_metric`` and
        ``damage_left`` are then None (what the sanitizer removed is still counted).
    n_poison, poison_removed : int
        Poison rows added, and removed by the sanitizer.
    recall : float or None
        poison_removed / n_poison (None when no poison was added).
    clean_removed : int
        Clean training rows removed.
    clean_removed_share : float
        clean_removed / n_clean.
    effect, test_metric : float or None
        The goal's effect and the test metric of the victim refitted on the rows kept.
    damage_left : float or None
        (effect − E_clean) / (E without sanitizer − E_clean), E_clean the clean
        model's effect: the share of the attack's damage that survives the sanitizer
        (1 = none removed, 0 = back to clean, < 0 = past it). None when the attack did
        no damage (|E without sanitizer − E_clean| ≤ 1e-12·max(1, |E_clean|)).
    """

    sanitizer: str
    outcome: str
    n_poison: int
    poison_removed: int
    recall: float | None
    clean_removed: int
    clean_removed_share: float
    effect: float | None
    test_metric: float | None
    damage_left: float | None

    def measured(self) -> Screened:
        """This measurement, or the :class:`InvalidInputError` of why there is none."""
        if self.outcome != MEASURED:
            raise InvalidInputError(f"{self.sanitizer}: {UNMEASURED_WHY[self.outcome]}")
        return self


@dataclass(frozen=True)
class Measured:
    """An attack with what the pipeline measured after it (:meth:`Experiment.run`).

    ``warnings`` are the result's, in the data's terms, plus the refit gap of a victim
    without θ; ``theta_before`` / ``theta_after`` are scikit-learn's tight refits on
    the clean and on the clean + poison training rows (θ, or, without θ, decision
    values: :meth:`Experiment.refit`), ``metric_before`` / ``metric_after`` their test
    metrics, ``seconds`` the attack's wall time.
    """

    result: AttackResult
    warnings: tuple[str, ...]
    theta_before: np.ndarray
    theta_after: np.ndarray
    metric_before: float
    metric_after: float
    seconds: float


def configured_attack(settings: Mapping[str, Any], **params) -> FlexiblePoisoning:
    """The attack a command's options, a sweep run's settings or a study configure: a
    :class:`FlexiblePoisoning` of the search settings ``settings`` holds (those named in
    :data:`~flexpoison.attack.defaults.SEARCH_SETTINGS`), and ``params``; no victim yet
    (:meth:`Experiment.configure` aims it)."""
    search = {key: settings[key] for key in SEARCH_SETTINGS if key in settings}
    return FlexiblePoisoning(None, **search, **params)


@dataclass(frozen=True)
class Experiment:
    """A victim, a goal and a split: everything an attack is run and measured against.

    ``estimator`` is an unfitted scikit-learn estimator of the model registry.
    """

    estimator: object
    goal: Goal
    split: Split

    @cached_property
    def victim(self) -> models.Victim:
        return models.victim(self.estimator, self.split.y_train)

    @property
    def task(self) -> models.Task:
        return self.victim.task

    def attacker(self, alpha: float, **settings) -> FlexiblePoisoning:
        """:class:`FlexiblePoisoning` of this victim and goal (``settings``: the rest)."""
        return FlexiblePoisoning(self.estimator, goal=self.goal, alpha=alpha, **settings)

    def configure(self, attack: FlexiblePoisoning, **params) -> FlexiblePoisoning:
        """A configured attack aimed at this victim and goal: scikit-learn's ``clone``
        of ``attack`` with ``estimator`` and ``goal`` set, and ``params`` (α, the budget,
        the seed, constraints …) by :meth:`~FlexiblePoisoning.set_params`. The settings a
        command, a sweep or a study chose travel as that one value."""
        from sklearn.base import clone

        return clone(attack).set_params(estimator=self.estimator, goal=self.goal, **params)

    def attack(self, alpha: float, *, certify: bool = False, **settings) -> AttackResult:
        """Run the attack at ``alpha`` (``settings``: the rest) on the training rows
        (:meth:`generate`)."""
        return self.generate(self.attacker(alpha, **settings), certify=certify)

    def generate(self, attacker: FlexiblePoisoning, *, certify: bool = False) -> AttackResult:
        """Run a configured attack on the training rows; its warnings (the result's,
        and those raised as :class:`~flexpoison.errors.FlexPoisonWarning`) speak of the
        data's columns in the data's units (:meth:`in_data_terms`). ``certify``: with the
        certified fewest rows that reach the model it reached
        (:func:`flexpoison.certify.certify_result`, a few seconds)."""
        with warnings.catch_warnings():  # raised again below, in the data's terms
            warnings.simplefilter("ignore", FlexPoisonWarning)
            result = attacker.generate(self.split.X_train, self.split.y_train)
        messages = self.in_data_terms(result.warnings)
        for message in messages:
            warnings.warn(message, FlexPoisonWarning, stacklevel=3)
        if certify:
            from ..certify import certify_result

            result = certify_result(result)
        return replace(result, warnings=messages)

    def run(self, attacker: FlexiblePoisoning, *, certify: bool = False) -> Measured:
        """The attack and every step after it that a command reports: the result in the
        data's terms, scikit-learn's tight refits on the clean and on the clean +
        poison rows (the latter the result's own refit check where it made one), their
        test metrics, and the refit gap of a victim without θ (one with θ checks
        itself, :func:`~flexpoison.attack.result.refit_warnings`); ``certify``: as in
        :meth:`generate`, its time not counted in the attack's."""
        started = time.perf_counter()
        result = self.generate(attacker)
        seconds = time.perf_counter() - started
        if certify:
            from ..certify import certify_result

            result = certify_result(result)
        X, y = self.split.X_train, self.split.y_train
        theta_before = self.refit(X, y)
        theta_after = result.theta_refit
        if theta_after is None:
            theta_after = self.refit(*self.with_poison(result.X_poison, result.y_poison))
        warned = result.warnings
        gap = refit_warning(result.theta_poisoned, self.public(theta_after))
        if gap is not None and not self.has_theta:
            warned = (*warned, gap)
        return Measured(
            result,
            warned,
            theta_before,
            theta_after,
            self.metric(theta_before),
            self.metric(theta_after),
            seconds,
        )

    def in_data_terms(self, messages: Sequence[str]) -> tuple[str, ...]:
        """An attack's warnings on the training rows, the range warning restated in the
        data's units and column names (:func:`flexpoison.attack.ranges.restate`)."""
        scaler = self.split.scaler
        mean, scale = (None, None) if scaler is None else (scaler.mean_, scaler.scale_)
        return restate(messages, mean, scale, self.split.feature_names)

    @property
    def has_theta(self) -> bool:
        """Whether the victim is a parameter vector θ (:attr:`ModelSpec.has_theta`)."""
        return self.victim.spec.has_theta

    @cached_property
    def _objective(self):
        """The attack's objective at α = 0 on the training rows (validates the victim
        and the goal against them)."""
        return self.attacker(0.0).objective(self.split.X_train, self.split.y_train)

    @cached_property
    def reference(self) -> np.ndarray:
        """θ_ref of the goal (θ_t, or θ₀), as the attack computes it; also validates
        the victim and the goal against the training rows. Without θ: the decision
        values of the reference at the goal's rows (v, or the clean model's f)."""
        return np.asarray(self._objective.theta_reference)

    @cached_property
    def _effect(self):
        if not self.has_theta:  # E of the decision values at the goal's rows
            return self._objective.decision_effect
        X = np.asarray(self.split.X_train, dtype=float)
        return self.goal.effect(
            self.victim, X, self.split.y_train, np.zeros(X.shape[1]), self.reference
        )

    @property
    def _n_goal_rows(self) -> int:
        return int(self._objective.decision_effect.Z.shape[0])

    def effect(self, theta: np.ndarray) -> float:
        """The goal's effect E of the model θ (flat, public layout; without θ, the
        decision values at the goal's rows, first — :meth:`refit`)."""
        theta = np.asarray(theta, dtype=float)
        if not self.has_theta:
            return float(self._effect(theta.ravel()[: self._n_goal_rows])[0])
        Theta = self.victim.learner.unpack(theta, self.split.X_train.shape[1])
        return self._effect.value(Theta, theta)

    def metric(self, theta: np.ndarray) -> float:
        """The test metric (MSE, accuracy, …) of the model θ on the test rows (without
        θ: of :meth:`refit`'s decision values, the test rows' after the goal's)."""
        if self.has_theta:
            return self.victim.metric(theta, self.split.X_test, self.split.y_test)
        f = np.asarray(theta, dtype=float).ravel()
        n, n_test = self._n_goal_rows, len(self.split.y_test)
        if f.size != n + n_test:
            raise InvalidInputError(
                f"theta: {self.victim.spec.class_name} has no θ; its test metric needs "
                "the decision values of a refit on the test rows (Experiment.refit)"
            )
        return self.victim.spec.metric.score(self.split.y_test, self.victim.decode(f[n:]))

    def metrics(self, result: AttackResult) -> tuple[float, float]:
        """The test metric of the clean and of the poisoned model of an attack: of its
        θ₀ and θ_p, or, without θ, of tight refits on the clean (+ poison) rows."""
        if self.has_theta:
            return self.metric(result.theta_clean), self.metric(result.theta_poisoned)
        X, y = self.split.X_train, self.split.y_train
        after = self.refit(*self.with_poison(result.X_poison, result.y_poison))
        return self.metric(self.refit(X, y)), self.metric(after)

    def public(self, theta: np.ndarray) -> np.ndarray:
        """What a command reports of a model from :meth:`refit`: θ, or, without θ, its
        decision values at the goal's rows (as an attack result's θ fields hold)."""
        theta = np.asarray(theta, dtype=float)
        return theta if self.has_theta else theta.ravel()[: self._n_goal_rows]

    def theta_names(self, features) -> list[str]:
        """Names of :meth:`public`'s entries: θ's (``w[feature]``…, ``b``), or, without
        θ, ``f(x*)`` (integrity) / ``f(row i)`` (the evaluation rows of E_L)."""
        if self.has_theta:
            return self.victim.theta_names(features)
        if self._objective.decision_effect.kind == "squared":
            return ["f(x*)"]
        return [f"f(row {i})" for i in range(self._n_goal_rows)]

    def refit(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """θ of scikit-learn's fit of the victim on (X, y), solved tightly; without θ,
        its decision values at the goal's rows followed by those at the test rows."""
        outcome = self._refittable(y)
        if outcome != MEASURED:
            raise InvalidInputError(UNMEASURED_WHY[outcome])
        spec = self.victim.spec
        fitted = spec.fit_tight(self.estimator, X, y)
        if not self.has_theta:
            rows = np.vstack([self._objective.decision_effect.Z, self.split.X_test])
            return np.asarray(fitted.decision_function(rows), dtype=float)
        return models.theta_of(fitted)

    def _refittable(self, y: np.ndarray) -> str:
        """The outcome of refitting the victim on rows with targets y: ``"measured"``,
        or the unmeasured outcome that says why not
        (:mod:`flexpoison.experiments.outcomes`)."""
        if len(y) == 0:
            return REMOVED_EVERY_ROW
        if self.victim.classes is not None and np.unique(y).size < 2:
            return KEPT_ONE_CLASS
        return MEASURED

    def with_poison(
        self, X_poison: np.ndarray, y_poison: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The training rows followed by the poison rows."""
        X, y = self.split.X_train, self.split.y_train
        return (
            np.vstack([X, X_poison]),
            np.concatenate([y, np.asarray(y_poison).astype(y.dtype, copy=False)]),
        )

    def sanitizers(
        self, names: Sequence[str | Sanitizer] | None, clean_removal: float
    ) -> list[tuple[str, Sanitizer]]:
        """Configured sanitizers by name (default: every one that applies to the task),
        each calibrated to remove ``clean_removal`` of the clean rows."""
        task = self.task
        if names is None:
            names = [n for n in SANITIZERS if not (n == "trim" and task != "regression")]
        out: list[tuple[str, Sanitizer]] = []
        for item in names:
            sanitizer = get_sanitizer(item, estimator=self.estimator)
            if isinstance(item, str) and hasattr(sanitizer, "clean_removal"):
                sanitizer = replace(cast(Any, sanitizer), clean_removal=clean_removal)
            if sanitizer.name == "trim" and task != "regression":
                raise InvalidInputError("sanitizers: TRIM is defined for regression only")
            if sanitizer.name in [n for n, _ in out] or sanitizer.name == NO_SANITIZER:
                raise InvalidInputError(f"sanitizers: {sanitizer.name!r} given twice")
            out.append((sanitizer.name, sanitizer))
        return out

    def screen(
        self,
        X_poison: np.ndarray,
        y_poison: np.ndarray,
        sanitizers: Sequence[tuple[str, Sanitizer | tuple[Sanitizer, ...]]],
        effect_clean: float,
    ) -> list[Screened]:
        """Without a sanitizer, then with each: the rows kept of clean + poison, the
        victim refitted on them, its effect and test metric (:class:`Screened`). An
        entry whose sanitizer is a tuple is the owner who runs them all together: the
        rows every one keeps (:func:`~flexpoison.defences.screen_combined`, each
        calibrated as alone). A sanitizer whose rows leave no victim to refit is
        recorded with its unmeasured outcome (:mod:`~flexpoison.experiments.outcomes`),
        not raised: what it removed is its result."""
        X_all, y_all = self.with_poison(X_poison, y_poison)
        X, y = self.split.X_train, self.split.y_train
        n, m = X.shape[0], X_poison.shape[0]
        out: list[Screened] = []
        effect_none = effect_clean
        for name, sanitizer in [(NO_SANITIZER, None), *sanitizers]:
            if sanitizer is None:
                kept = np.arange(n + m)
            elif isinstance(sanitizer, tuple):
                together = screen_combined(
                    sanitizer, X_all, y_all, X_clean=X, y_clean=y, task=self.task
                )
                kept = together.kept
            else:
                kept = np.asarray(
                    sanitizer(X_all, y_all, X_clean=X, y_clean=y, task=self.task), dtype=int
                )
            clean_kept = int(np.count_nonzero(kept < n))
            removed = int(m - (kept.size - clean_kept))
            outcome = self._refittable(y_all[kept])
            effect = metric = damage = None
            if outcome == MEASURED:
                theta = self.refit(X_all[kept], y_all[kept])
                effect, metric = self.effect(theta), self.metric(theta)
                if sanitizer is None:
                    effect_none = effect
                damage = _damage_left(effect, effect_none, effect_clean, m)
            out.append(
                Screened(
                    name,
                    outcome,
                    m,
                    removed,
                    None if m == 0 else removed / m,
                    n - clean_kept,
                    (n - clean_kept) / n,
                    effect,
                    metric,
                    damage,
                )
            )
        return out


def _damage_left(effect: float, effect_none: float, effect_clean: float, m: int) -> float | None:
    """(E − E_clean) / (E_none − E_clean): the share of the attack's damage a sanitizer
    leaves; None without poison or when the attack did no damage
    (|E_none − E_clean| ≤ 1e-12·max(1, |E_clean|))."""
    span = effect_none - effect_clean
    if m == 0 or abs(span) <= 1e-12 * max(1.0, abs(effect_clean)):
        return None
    return (effect - effect_clean) / span


def refit_warning(theta_exact: np.ndarray, theta_refit: np.ndarray) -> str | None:
    """A warning when scikit-learn's refit θ (or, without θ, its decision values)
    differs from the attack's by more than :data:`~flexpoison.attack.result.REFIT_GAP`
    of their largest magnitude (its solver stopped short: the metrics computed from it
    are that fit's, not the optimum's); None when they agree. A victim with θ is
    checked by the attack itself (:func:`~flexpoison.attack.result.refit_warnings`)."""
    exact = np.asarray(theta_exact, dtype=float).ravel()
    refit = np.asarray(theta_refit, dtype=float).ravel()
    if exact.shape != refit.shape:
        return None  # not comparable
    gap = refit_gap(exact, refit)
    if not gap > REFIT_GAP:
        return None
    return (
        f"scikit-learn's refit on the clean + poison rows differs from the exact "
        f"optimum the attack computed (largest difference {gap:.2g} of the largest "
        "value): its solver stopped short of the optimum, so the test metric 'after' is "
        "that of scikit-learn's fit; standardise the features or raise the victim's "
        "max_iter"
    )


__all__ = [
    "NO_SANITIZER",
    "Measured",
    "Split",
    "split_data",
    "Screened",
    "Experiment",
    "configured_attack",
    "refit_warning",
]

"""The points-needed view: how close to θ_t each attack gets with m rows, against the
certified fewest rows (issue 23).

For m = 1 … M, :func:`points_curve` reports E_I(θ_m) = ‖θ_m − θ_t‖² (and, for a
``flip-subpopulation`` target, the share of the subpopulation's rows θ_m misclassifies)
for two attacks on the same feasible set:

* ``flexpoison``, the default search at α = 0 (``FlexiblePoisoning(estimator,
  Integrity(θ_t), alpha=0, n_points=M)``);
* ``model-targeted``, Suya et al.'s online attack as the attack's strategy
  (:class:`~flexpoison.certify.ModelTargeted`, run over the whole budget).

Both are read off one run of M rows: θ_m is the run's ``theta_history[m − 1]``. That
is the attack with budget m itself, not an approximation of it: with one pass, each
row is crafted given the rows before it and joins the set for good (Algorithm 1), and
its random starts are drawn in the same order whatever the budget, so the first m
rows of the M-row run are the rows of the m-row run with the same seed (the
model-targeted rows are deterministic). ``tests/test_certify_curve.py`` checks it.

With ``passes`` > 1 the default attack crafts every row again given all the others,
so the first m rows of the M-row run are not the m-row attack: its curve is then one
run of its own per m (``FlexiblePoisoning(..., n_points=m, passes=passes)``, θ_m its
``theta_poisoned``), at the m of ``certify_at`` and M only; the model-targeted attack
(one pass by construction) is still read off one M-row run.

Drawn against them: ``lower_bound``, :func:`~flexpoison.certify.points_needed` at
θ_t over the attacks' box (its integer and one-hot constraints relaxed to it) — no
feasible set of fewer rows makes θ_t the victim's optimum — and, at the m of
``certify_at``, the bound at the model each attack reached, lower_bound(θ_m) ≤ m (θ_m
is the exact optimum of the clean rows and those m rows), and the efficiency
lower_bound(θ_m)/m: how close the m rows are to the fewest that reach θ_m.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .. import models
from .._progress import note, progress_bar
from .._validation import check_count, check_positive
from ..attack import AttackResult, FlexiblePoisoning, Integrity
from ..attack.containers import _column_names
from ..attack.subpopulation import PREFIX, Subpopulation
from ..errors import InvalidInputError
from ..models.victim import sorted_labels
from ._certificate import Certificate
from ._result import bound_in_box
from .online import ModelTargeted

#: The two attacks of the view, by the name each is reported under.
ATTACKS = ("flexpoison", "model-targeted")


@dataclass(frozen=True)
class AttackCurve:
    """One attack's curve.

    ``m`` the numbers of rows the curve has a model for (1 … ``n_points``, or with
    ``passes`` > 1 the m run, one run each); ``effect[k]`` is E_I after ``m[k]`` rows
    and ``distance[k]`` = ‖θ_m − θ_t‖ / ‖θ₀ − θ_t‖; ``subpopulation_error[k]`` the
    share of the subpopulation θ_m misclassifies (None without a subpopulation
    target); ``certified_m`` the m whose θ_m was certified, ``lower_bound`` the bound
    at each; ``reached_at`` the smallest m of ``m`` within ε (None: none is);
    ``warnings`` the runs', each once; ``seconds`` the attack's wall time, all its runs
    (certificates not counted); ``passes`` the attack's passes."""

    name: str
    m: np.ndarray
    effect: np.ndarray
    distance: np.ndarray
    subpopulation_error: np.ndarray | None
    certified_m: np.ndarray
    lower_bound: np.ndarray
    reached_at: int | None
    warnings: tuple[str, ...]
    seconds: float
    passes: int = 1

    @property
    def n_points(self) -> int:
        """M, the largest m."""
        return int(self.m[-1])

    @property
    def efficiency(self) -> np.ndarray:
        """lower_bound(θ_m) / m at each certified m, in [0, 1]."""
        return self.lower_bound / self.certified_m

    def describe(self) -> dict:
        """As plain JSON values."""
        sub = self.subpopulation_error
        return {
            "name": self.name,
            "m": [int(m) for m in self.m],
            "effect": self.effect.tolist(),
            "distance": self.distance.tolist(),
            "subpopulation_error": None if sub is None else sub.tolist(),
            "certified_m": self.certified_m.tolist(),
            "lower_bound": [_finite(v) for v in self.lower_bound],
            "efficiency": [_finite(v) for v in self.efficiency],
            "reached_at": self.reached_at,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
            "passes": self.passes,
        }


@dataclass(frozen=True)
class PointsCurve:
    """What :func:`points_curve` returns: the certificate for θ_t, E_I(θ₀), ε, the two
    :class:`AttackCurve` s and, for a subpopulation target, its size and the share of it
    θ₀ and θ_t misclassify."""

    certificate: Certificate
    effect_clean: float
    epsilon: float
    attacks: tuple[AttackCurve, ...]
    subpopulation: str | None = None
    subpopulation_rows: int = 0
    subpopulation_error_clean: float | None = None
    subpopulation_error_target: float | None = None

    @property
    def lower_bound(self) -> float:
        """The certified fewest rows that make θ_t the victim's optimum."""
        return self.certificate.lower_bound

    def attack(self, name: str) -> AttackCurve:
        """The curve of the attack ``name`` (:data:`ATTACKS`)."""
        for curve in self.attacks:
            if curve.name == name:
                return curve
        raise InvalidInputError(f"attack: expected one of {ATTACKS}, got {name!r}")

    def describe(self) -> dict:
        """As plain JSON values (an unreachable θ_t's bound +∞ as the string "inf")."""
        cert = self.certificate
        return {
            "lower_bound": _finite(cert.lower_bound),
            "min_points": _finite(cert.min_points),
            "scaling": cert.scaling,
            "exact_inner": cert.exact_inner,
            "relaxed": list(cert.relaxed),
            "theta_clean": cert.theta_clean.tolist(),
            "theta_target": cert.theta_target.tolist(),
            "effect_clean": self.effect_clean,
            "epsilon": self.epsilon,
            "subpopulation": self.subpopulation,
            "subpopulation_rows": self.subpopulation_rows,
            "subpopulation_error_clean": self.subpopulation_error_clean,
            "subpopulation_error_target": self.subpopulation_error_target,
            "attacks": [curve.describe() for curve in self.attacks],
        }


@dataclass(frozen=True)
class _Models:
    """One attack's models: θ_m (``theta[k]``) and E_I(θ_m) (``effect[k]``) at each m
    of ``m``; ``box`` the run whose clean rows and box certify them (the last, the
    M-row run: every run of the view has the same)."""

    m: np.ndarray
    theta: np.ndarray
    effect: np.ndarray
    box: AttackResult
    warnings: tuple[str, ...]
    seconds: float


def _models(results: list[AttackResult], seconds: float, per_run: bool) -> _Models:
    """Prefixes of the one run in ``results`` or, ``per_run``, each run's final model."""
    last = results[-1]
    if not per_run:
        m = np.arange(1, last.n_points + 1)
        theta, effect = np.asarray(last.theta_history), np.asarray(last.effect_history)
    else:
        m = np.array([r.n_points for r in results])
        theta = np.array([r.theta_poisoned for r in results])
        effect = np.array([r.effect_final for r in results])
    return _Models(m, theta, effect.astype(float), last, _each_kind(results), seconds)


def _kind(message: str) -> str:
    """A warning with its numbers and quoted names blanked: the same warning of
    another run of the attack, at another m."""
    return re.sub(r"'[^']*'|[-+]?\d[\d.e+-]*", "#", message)


def _each_kind(results: list[AttackResult]) -> tuple[str, ...]:
    """The runs' warnings, each kind once in the wording of the largest run that has it
    (the runs of a view are one attack at several m: the same warning, other numbers)."""
    if len(results) == 1:
        return tuple(dict.fromkeys(results[0].warnings))
    chosen: dict[str, str] = {}
    for result in sorted(results, key=lambda r: r.n_points):
        for message in result.warnings:
            chosen[_kind(message)] = message  # a larger run's wording replaces it
    return tuple(chosen.values())


def _runs(estimator, X, y, theta_target, progress, settings: dict, constraints: dict, per_m):
    """The default and the model-targeted attacks: name → :class:`_Models`, and θ_t (a
    preset resolved once, by the first run). Each is one run of ``settings["n_points"]``
    rows read at every m, but the default one with ``per_m`` = (passes, sizes):
    ``passes`` passes, one run per m of ``sizes``."""
    runs: dict[str, _Models] = {}
    passes, sizes = per_m or (1, [settings["n_points"]])
    rest = {k: v for k, v in settings.items() if k != "n_points"}
    target = theta_target
    for name, strategy in {"flexpoison": None, "model-targeted": ModelTargeted()}.items():
        per_run = strategy is None and per_m is not None
        results, seconds = [], 0.0
        for k, m in enumerate(sizes if per_run else [settings["n_points"]]):
            attack = FlexiblePoisoning(
                estimator,
                goal=Integrity(target),
                alpha=0.0,
                strategy=strategy,
                progress=progress,
                n_points=m,
                passes=passes if per_run else 1,
                **rest,
                **constraints,
            )
            more = f" ({passes} passes; run {k + 1} of {len(sizes)})" if per_run else ""
            note(progress, f"{name} attack: {m} rows{more}")
            started = time.perf_counter()
            with warnings.catch_warnings():  # kept on the curve
                warnings.simplefilter("ignore")
                results.append(attack.generate(X, y))
            seconds += time.perf_counter() - started
            target = np.asarray(results[-1].theta_target)
        runs[name] = _models(results, seconds, per_run)
    return runs, target


def points_curve(
    estimator,
    X,
    y,
    theta_target,
    n_points: int,
    *,
    epsilon: float = 0.1,
    certify_at=None,
    n_sigma: float | None = 3.0,
    random_state: int = 0,
    passes: int = 1,
    max_iter: int = 100,
    progress: bool | None = False,
    **constraints,
) -> PointsCurve:
    """E_I against m for the default and the model-targeted attacks, with the
    certified lower bound (module docstring).

    Parameters
    ----------
    estimator, X, y :
        As for :func:`~flexpoison.certify.points_needed`.
    theta_target : array-like, str or None
        θ_t, or a target preset (None: the victim's default preset).
    n_points : int
        M, the largest number of rows.
    epsilon : float, default 0.1
        ``reached_at`` is the first m with ‖θ_m − θ_t‖ ≤ ε·‖θ₀ − θ_t‖, i.e.
        E_I ≤ ε²·E_I(θ₀).
    certify_at : sequence of int, optional
        The m at which lower_bound(θ_m) is computed (each in 1 … M; about 1–7 s per
        m and attack). Default: 1, 2, 4, … and M. Empty: none. With ``passes`` > 1
        also the m the default attack is run at (with M).
    n_sigma : float or None, default 3
        The box, as for :class:`~flexpoison.attack.FlexiblePoisoning`.
    random_state : int, default 0
        The default attack's seed.
    passes : int, default 1
        The default attack's passes. 1: its curve is every m = 1 … M, read off one
        M-row run. More: the first m rows of the M-row run are no longer the m-row
        attack, so the curve is one run per m of ``certify_at`` and M only (1, 2, 4,
        …, M by default: about 2–3 M rows in all, each run ``passes`` passes, so 2–3
        times the cost of the M-row run alone), and ``reached_at`` is the smallest of
        those m within ε.
    max_iter : int, default 100
        The certificate's ascent (:func:`~flexpoison.certify.points_needed`).
    progress : bool or None, default False
        Progress on stderr (:mod:`flexpoison._progress`).
    **constraints :
        :class:`~flexpoison.attack.FlexiblePoisoning`'s ``bounds``,
        ``integer_features``, ``one_hot_groups``, ``round_fractional``, ``data_units``
        (frozen features are refused: the model-targeted rows range over the box).
        Both attacks honour them; the certificates relax them to the box (still valid).

    Returns
    -------
    PointsCurve
    """
    check_count(n_points, "n_points")
    check_positive(epsilon, "epsilon")
    if max_iter != 0:
        check_count(max_iter, "max_iter")
    check_count(passes, "passes")
    grid = _grid(certify_at, n_points)
    settings = dict(n_points=n_points, n_sigma=n_sigma, random_state=random_state)
    per_m = (passes, sorted({*grid, n_points})) if passes > 1 else None
    runs, target = _runs(estimator, X, y, theta_target, progress, settings, constraints, per_m)
    first = runs["flexpoison"].box
    certificate = bound_in_box(first, target, max_iter)
    relaxed = tuple(k for k in ("integer_features", "one_hot_groups") if constraints.get(k))
    certificate = replace(certificate, relaxed=relaxed)
    mask = _subpopulation(theta_target, X, y)
    victim = models.victim(estimator, np.asarray(y))
    bar = progress_bar(
        total=len(grid) * len(runs), progress=progress, desc="certificates", unit="m"
    )
    curves = []
    for name, run in runs.items():
        index = {int(m): k for k, m in enumerate(run.m)}
        bounds_m = []
        for m in grid:
            theta_m = run.theta[index[m]] if m in index else None
            bounds_m.append(math.nan if theta_m is None else _bound(run.box, theta_m, max_iter))
            bar.update(1)
        per_run = passes if name == "flexpoison" else 1
        curves.append(_curve(name, run, per_run, grid, bounds_m, epsilon, victim, mask, X, y))
    bar.close()
    if mask is None:
        return PointsCurve(certificate, first.effect_clean, float(epsilon), tuple(curves))
    return PointsCurve(
        certificate,
        first.effect_clean,
        float(epsilon),
        tuple(curves),
        str(theta_target).strip(),
        int(mask.sum()),
        _error(victim, certificate.theta_clean, X, y, mask),
        _error(victim, target, X, y, mask),
    )


def _curve(name, run: _Models, passes, grid, bounds_m, epsilon, victim, mask, X, y):
    """The :class:`AttackCurve` of ``run``, with ``bounds_m`` the bounds at ``grid``
    (NaN at an m the run has no model for)."""
    effect = run.effect
    start = run.box.effect_clean  # > 0: the attack refuses θ_t = θ₀
    distance = np.sqrt(np.maximum(effect, 0.0) / start) if start > 0 else np.zeros_like(effect)
    within = np.flatnonzero(distance <= epsilon)
    sub = None
    if mask is not None:
        sub = np.array([_error(victim, theta, X, y, mask) for theta in run.theta])
    done = [k for k, m in enumerate(grid) if m in run.m]
    return AttackCurve(
        name=name,
        m=run.m,
        effect=effect,
        distance=distance,
        subpopulation_error=sub,
        certified_m=np.array([grid[k] for k in done], dtype=float),
        lower_bound=np.array([bounds_m[k] for k in done], dtype=float),
        reached_at=int(run.m[within[0]]) if within.size else None,
        warnings=run.warnings,
        seconds=run.seconds,
        passes=passes,
    )


def _bound(result: AttackResult, theta: np.ndarray, max_iter: int) -> float:
    """lower_bound(θ) over the result's box (:func:`bound_in_box`)."""
    return float(bound_in_box(result, theta, max_iter).lower_bound)


def _grid(certify_at, n_points: int) -> list[int]:
    """The m to certify: ``certify_at`` checked (integers in 1 … M, sorted, once each),
    or 1, 2, 4, … and M."""
    if certify_at is None:
        powers = [2**k for k in range(int(math.log2(n_points)) + 1)]
        return sorted({*powers, n_points})
    try:
        grid = [check_count(m, "certify_at") for m in certify_at]
    except TypeError:
        raise InvalidInputError(
            f"certify_at: expected a sequence of integers, got {certify_at!r}"
        ) from None
    wrong = [m for m in grid if m > n_points]
    if wrong:
        raise InvalidInputError(f"certify_at: {wrong} above n_points = {n_points}")
    return sorted(set(grid))


def _subpopulation(theta_target, X, y) -> np.ndarray | None:
    """The rows a ``flip-subpopulation`` target selects (None for another target)."""
    if not (isinstance(theta_target, str) and theta_target.strip().startswith(PREFIX)):
        return None
    spec = Subpopulation.parse(theta_target.strip())
    labels = [str(c) for c in sorted_labels(np.asarray(y))]
    return spec.rows(np.asarray(X, dtype=float), np.asarray(y), _column_names(X), labels)


def _error(victim, theta: np.ndarray, X, y, mask: np.ndarray) -> float:
    """The share of the rows of ``mask`` that θ labels otherwise than y."""
    X_sub = np.asarray(X, dtype=float)[mask]
    return float(np.mean(victim.predict(theta, X_sub) != np.asarray(y)[mask]))


def _finite(value: float) -> float | str | None:
    """A number for JSON, which has no infinity: +∞ as "inf", NaN and −∞ (no bound at
    all) as None."""
    if value == math.inf:
        return "inf"
    return float(value) if math.isfinite(value) else None


__all__ = ["ATTACKS", "AttackCurve", "PointsCurve", "points_curve"]

"""Algorithm 1 of the paper: craft m poison rows one at a time by projected gradient descent.

:class:`FlexiblePoisoning` reads the victim from the model registry
(:mod:`flexpoison.models`), builds the feasible box (:mod:`flexpoison.attack.box`),
the goal's effect (:mod:`flexpoison.attack.goals`) and the objective W
(:mod:`flexpoison.attack.objective`), then crafts each point from a random clean row —
labels flipped for classification, responses kept for regression — by projected
gradient descent on W; each finished point joins the training set before the next
one starts. The poisoning rate is m / n, n the clean training rows.
"""

from __future__ import annotations

import copy
import functools
import numbers
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .. import engine, models
from .._progress import note, progress_bar
from .._threads import one_blas_thread_when_small
from .._validation import (
    check_count,
    check_features,
    check_fraction,
    check_positive,
    check_rate,
    check_targets,
    poison_count,
)
from ..errors import (
    FlexPoisonWarning,
    InvalidInputError,
    SingularHessianError,
    UnsupportedEstimatorError,
)
from ..models import Victim
from ..scalers import ColumnStats, scale
from . import constraints as constraints_
from . import evasion_check, search
from .box import Box, feasible_box
from .containers import EstimatorParams, _child, _column_names, _like
from .crafting import Crafting, RowStrategy, check_strategy, chosen_point, craft_point
from .defaults import DEFAULT_MAX_ITER, DEFAULT_STEP, DEFAULT_TOL, STEP_RULES, StepRule
from .diagnostics import cost_note, why_singular
from .effects import public_map
from .goals import GOALS, Goal, Integrity, ModelShape, TrainingRows
from .objective import Objective
from .result import AttackResult, PointReport, assess, refit_warnings
from .specs import Units, resolve_bounds

TradeOff = Literal["share", "paper"]


@dataclass(frozen=True)
class _Targets:
    """The share trade-off's targets: the gain sign·(E_clean − E) the attack is to have
    after each point of the first pass, and after every later re-crafted point."""

    first: list[float]
    final: float


@dataclass(frozen=True)
class _Run:
    """The points of one run, their reports, the evaluation of each added in order, and
    E after each point of the first pass, and those points."""

    chosen: list[search.Descent]
    reports: list[PointReport]
    evaluations: list
    first_effects: list[float]
    first_points: list[search.Descent]

    @property
    def effect_final(self) -> float:
        return float(self.evaluations[-1].E)


@dataclass(frozen=True)
class _Setup:
    X: np.ndarray
    victim: Victim
    box: Box
    objective: Objective
    theta_clean: np.ndarray
    t: np.ndarray  # encoded clean targets
    constraints: constraints_.Constraints | None = None
    bounds: tuple | None = None  # resolved: (lower, upper) arrays


@dataclass
class FlexiblePoisoning(EstimatorParams):
    """Craft poison rows against a scikit-learn model (Algorithm 1).

    It follows scikit-learn's conventions: :meth:`get_params` and :meth:`set_params`
    (so ``sklearn.base.clone`` works, and ``estimator__<name>`` reaches the victim's
    hyper-parameters); a pandas DataFrame in gives the poison rows as a DataFrame with
    the same columns (a Series of targets gives a Series); and
    :meth:`AttackResult.poisoned_model` is the victim as scikit-learn fits it on the
    clean plus poison rows.

    Parameters
    ----------
    estimator : unfitted scikit-learn estimator or Pipeline
        One of the victims of :data:`flexpoison.models.REGISTRY`; its hyper-parameters
        define the victim's training objective (settings that change it otherwise
        are refused by name). Or a pipeline of affine scalers (``StandardScaler``,
        ``MinMaxScaler``, ``MaxAbsScaler``) and such a model, refitted as a whole on
        the poisoned rows: the gradient includes the scaler's dependence on them, the
        box and θ are in the user's units (:mod:`flexpoison.scalers`). Or the kernel
        victim of :mod:`flexpoison.models.kernel` (no θ: goals on decision values
        only, :mod:`flexpoison.attack.kernel`).
    goal : Integrity, Availability or LossAvailability, default Integrity()
        What the attacker wants (see :mod:`flexpoison.attack.goals`).
    alpha : float in [0, 1], default 0.5
        Trade-off: α weighs concealment C, 1 − α the effect E.
    n_points : int, optional
        Number m of poison rows. Give exactly one of ``n_points`` and ``rate``.
    rate : float, optional
        Poisoning rate m / n (m = round(rate·n), at least 1).
    trade_off : {"share", "paper"}, default "share"
        "share": α is the share of the unconcealed attack's effect given up for
        concealment — after every point the attack has (1 − α) of the gain in E that
        the same attack at α = 0 has after as many points, each point lying as close to
        x_c as its path allows, so that α means the same on any data
        (:mod:`flexpoison.attack.search`; 0 < α < 1 first runs the α = 0 attack, then
        starts each point from that run's, at 1.0–1.3 times its cost). "paper": the
        paper's
        W = α·C ± (1 − α)·E, whose balance depends on n, d and the units.
    starts : int, default 4
        Descents per point: the paper's start (a random clean row, label flipped for
        classification, response kept for regression) and clones with other labels or
        responses; the point is the best of them that leaves E no worse than without
        it (a regressor may fall back to a row that does not move θ); from the second
        point on, also the point before (victims with θ). The starts are screened: each
        runs 3 iterations, the best two 10, and only the best runs to convergence, so
        four cost little more than one. 1: the paper's start alone.
    passes : int, default 1
        Passes over the points. After the first (Algorithm 1: each point crafted given
        the points before it), each further pass crafts every point again given all
        the others, starting also from where it was (the cyclic scheme of Jagielski et
        al., 2018). Each pass costs about as much as the first, plus refitting the
        model without the point (m − 1 fits per point).
    step : {"lbfgs", "backtracking", "paper"}, default "lbfgs"
        "lbfgs": projected L-BFGS in the box with an Armijo line search, falling back
        to a projected-gradient step at an L1 or hinge kink; "backtracking": projected
        gradient with the same line search (W never increases under either); "paper":
        x ← Π(x − ∇W / i) at iteration i (:mod:`flexpoison.attack.descent`).
    max_iter : int, default 100
        Gradient iterations per descent at most (per start; screened starts stop
        after a few, :mod:`flexpoison.attack.search`).
    tol : float, default 1e-5
        Stop a descent when |W⁽ⁱ⁺¹⁾ − W⁽ⁱ⁾| < tol · max(1, |W⁽ⁱ⁾|) (the paper's W), or
        below tol times what it has gained so far (the share trade-off's effect
        search; 10⁴·tol against a linear-kernel classifier, whose W is only piecewise
        smooth: :data:`flexpoison.attack.kernel.LINEAR_STOP_SCALE`).
    optimize_y : bool, default False
        Regression only: also optimise y_p by gradient, within [min y, max y].
    n_sigma : float or None, default 3.0
        Half-width of the feasible box in standard deviations (the paper's 3σ). None:
        no σ box, the box is ``bounds`` (e.g. the features' observed min and max).
    bounds : (lower, upper) or dict by column, optional
        Bounds intersected with the box (required, and finite, when ``n_sigma`` is
        None): two arrays of one value per feature, or ``{"age": (18, 90), 3: (0,
        None)}`` by column name or index (:mod:`flexpoison.attack.specs`).
    integer_features, frozen_features : lists of column names or indices, optional
        Integer features: each point is rounded inside the box, then repaired (a
        search among ⌊x_j⌋, ⌈x_j⌉ that keeps a change only if it lowers the point's W),
        and E, θ, C are those of the row returned. Frozen features keep the values of
        each point's source row (``PointReport.source_row``); the descent leaves them.
    one_hot_groups : list of lists of column names or indices, optional
        Groups of 0/1 columns (at most one 1 per clean row): each point holds a valid
        one-hot vector there, rounded and repaired as integers
        (:mod:`flexpoison.attack.constraints`).
    round_fractional : bool, default False
        Integer features must hold integers in every clean row; True: round anyway.
    data_units : (mean, scale), optional
        X is standardised, x = X·scale + mean: integer and one-hot features are
        integers of x, rounded there (``bounds`` stay in X's units).
    random_state : int or numpy Generator, optional
        Seeds the choice of initial rows (and flipped classes for K > 2).
    progress : bool or None, default False
        Progress over the crafted points on stderr: True = a bar on a terminal, else plain
        lines at a bounded rate; None = a bar on a terminal only (:mod:`flexpoison._progress`).
    strategy : RowStrategy, optional
        Another way to choose each row than the descent (integrity, α = 0, one pass):
        e.g. :class:`flexpoison.certify.ModelTargeted`, Suya et al.'s online attack
        (:mod:`flexpoison.attack.crafting`).
    evade : list of sanitizer names or sanitizers, optional
        Sanitizers of :mod:`flexpoison.defences` every crafted row is to pass: the 3σ
        filter, the sphere and the slab as convex sets of the search, the loss filter
        as ℓ(θ_p; x, y) ≤ τ, the others checked on the final set, rejected rows pulled
        toward the data (:mod:`flexpoison.attack.evasion`); the result reports each
        one's decision (:attr:`AttackResult.screenings`).
    evade_calibration : {"clean", "poisoned"}, default "clean"
        How the owner calibrates them: on the clean rows (:func:`flexpoison.defences.screen`),
        or on the training set as screened, poison included (re-calibrated after each point).
    evade_margin : float in [0, 1), default 0.01
        Share by which the attack shrinks every threshold it aims below.
    """

    _EXCLUSIVE = (("n_points", "rate"),)

    estimator: object
    goal: Goal = field(default_factory=Integrity)
    alpha: float = 0.5
    n_points: int | None = None
    rate: float | None = None
    trade_off: TradeOff = "share"
    starts: int = 4
    passes: int = 1
    step: StepRule = DEFAULT_STEP
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL
    optimize_y: bool = False
    n_sigma: float | None = 3.0
    bounds: tuple | None = None
    random_state: int | np.random.Generator | None = None
    progress: bool | None = False
    integer_features: list | None = None
    frozen_features: list | None = None
    one_hot_groups: list | None = None
    round_fractional: bool = False
    data_units: tuple | None = None
    strategy: RowStrategy | None = None
    evade: list | None = None
    evade_calibration: str = "clean"
    evade_margin: float = 0.01

    # ---------------------------------------------------------------- public API
    def objective(self, X, y, sample_weight=None) -> Objective:
        """W for one candidate point added to (X, y); x_c, θ₀ and θ_t from (X, y).

        The budget (``n_points``/``rate``) is not needed here and not checked."""
        return self._setup(X, y, sample_weight, need_budget=False).objective

    @one_blas_thread_when_small
    def generate(self, X, y, sample_weight=None) -> AttackResult:
        """Run Algorithm 1 on the clean training set (X, y); return the poison rows.

        Each point is the best of its descents (:mod:`flexpoison.attack.search`); a
        result that moved E by less than 1 % of the way, made it worse, or stopped
        more than 10 % of its points at ``max_iter`` warns
        (:class:`~flexpoison.errors.FlexPoisonWarning` and
        :attr:`AttackResult.warnings`)."""
        started = time.perf_counter()
        setup = self._setup(X, y, sample_weight)
        n, d = setup.X.shape
        size = setup.theta_clean.size
        note(self.progress, cost_note(n, d, size, time.perf_counter() - started) or "")
        m = poison_count(self.n_points, self.rate, n)  # _check_params: one of the two
        rng = np.random.default_rng(self.random_state)
        victim, box, goal = setup.victim, setup.box, self.goal
        effect_clean = setup.objective.effect_at(setup.objective.Theta_start)
        evasion = evasion_check.start(self, setup, m)
        alpha = float(self.alpha)
        targets, first = self._calibrated(setup, m, rng, effect_clean, evasion)
        effect_unconcealed = None if first is None else first.effect_final
        bar = self._phase(m, "poison points" + (f" (α = {alpha:g})" if first else ""))
        run = self._run(setup, m, rng, effect_clean, targets, bar.update, first, evasion)
        bar.close()
        chosen, reports, evaluations = run.chosen, run.reports, run.evaluations
        screenings: tuple = ()
        if evasion is not None:  # the final set as the owner screens it
            chosen, evaluations, screenings = evasion_check.conclude(
                evasion, setup, chosen, evaluations
            )
        m = len(chosen)  # a strategy may stop early
        thetas = [ev.theta for ev in evaluations]

        X_poison = np.asarray([c.x for c in chosen], dtype=float).reshape(m, d)
        effects = np.array([ev.E for ev in evaluations])
        progress = goal.progress(effect_clean, float(effects[-1]), setup.theta_clean)
        points = tuple(reports)
        calibration = () if first is None else tuple(first.reports)
        asked = alpha < 1.0  # α = 1 asks for concealment alone, under either trade-off
        warned = assess(progress, goal.effect_name, points, self.max_iter, calibration, asked)
        warned += constraints_.warnings(
            setup.constraints, X_poison, setup.X, self.n_sigma, setup.bounds, _column_names(X)
        )
        theta_refit = None
        if victim.spec.has_theta and victim.scaler is None and sample_weight is None:
            X_all = np.asarray(np.vstack([setup.X, X_poison.astype(box.dtype)]), dtype=np.float64)
            y_all = victim.decode(np.r_[setup.t, [c.t for c in chosen]])
            gap, theta_refit = refit_warnings(
                victim.spec, self.estimator, X_all, y_all, thetas[-1], victim.n_outputs
            )
            warned += gap
        for message in warned:  # at the caller's line: above generate, its BLAS wrapper
            warnings.warn(message, FlexPoisonWarning, stacklevel=3)
        return AttackResult(
            X_poison=constraints_.integer_dtypes(
                _like(X, X_poison.astype(box.dtype)), X, setup.constraints
            ),
            y_poison=_like(y, victim.decode(np.array([c.t for c in chosen]))),
            theta_clean=setup.theta_clean,
            theta_target=setup.objective.theta_reference,
            theta_poisoned=thetas[-1],
            theta_refit=theta_refit,
            W_history=[np.asarray(c.history) for c in chosen],
            effect_history=effects,
            theta_history=np.asarray(thetas).reshape(m, -1),
            effect_clean=effect_clean,
            concealment=np.array([c.ev.C for c in chosen]),
            points=points,
            x_c=setup.objective.x_c,
            lower=box.lower,
            upper=box.upper,
            n_clean=n,
            goal=goal.kind,
            progress=progress,
            warnings=warned,
            settings=self.settings(),
            effect_unconcealed=effect_unconcealed,
            estimator=self.estimator,
            X_clean=X,
            y_clean=y,
            screenings=screenings,
        )

    def _phase(self, m: int, desc: str):
        """A progress bar over m points (× passes): 0 < α < 1 crafts each twice, named."""
        return progress_bar(
            total=m * self.passes, progress=self.progress, desc=desc, unit="pt", leave=False
        )

    def _calibrated(self, setup, m, rng, effect_clean, evasion):
        """The share trade-off's targets and the α = 0 run they come from (None: none).

        It keeps (1 − α) of the α = 0 attack's gain after every point (module
        flexpoison.attack.search): 0 < α < 1 first runs that attack, from a copy of the
        generator ``rng``, so that both draw the same starts."""
        alpha, sign = float(self.alpha), self.goal.sign
        if self.trade_off != "share" or alpha == 0.0:
            return None, None
        if alpha == 1.0:
            return _Targets([0.0] * m, 0.0), None
        bar = self._phase(m, "calibration (α = 0 run)")
        first = self._run(
            setup, m, copy.deepcopy(rng), effect_clean, None, bar.update, None, evasion
        )
        bar.close()
        gains = [(1.0 - alpha) * sign * (effect_clean - e) for e in first.first_effects]
        return _Targets(gains, (1.0 - alpha) * sign * (effect_clean - first.effect_final)), first

    def _run(
        self,
        setup: _Setup,
        m: int,
        rng: np.random.Generator,
        effect_clean: float,
        targets: _Targets | None,
        tick: Callable[[], object],
        unconcealed: _Run | None = None,
        evasion: evasion_check.Evasion | None = None,
    ) -> _Run:
        """Craft the m points (Algorithm 1, then ``passes − 1`` cyclic passes); with
        ``targets`` each point keeps the gain that brings the total to its target.
        With ``unconcealed`` (the α = 0 run of the share trade-off) each point of the
        first pass descends from that run's point alone: its starts were screened
        there, and it lies next to this point's best on a training set that differs
        only by the concealment of the points before (one start instead of four)."""
        victim = setup.victim
        ctx = Crafting(
            setup,
            rng,
            _child(rng),  # the further starts' own stream: the paper's is rng's
            effect_clean,
            (float(setup.t.min()), float(setup.t.max())) if self.optimize_y else None,
            with_no_op=(
                self.starts > 1 and victim.classes is None and bool(victim.learner.loss.curvature)
            ),
            # the previous point's row: not for a kernel victim, whose dual system a
            # duplicated row makes singular
            with_previous=self.starts > 1 and victim.spec.has_theta,
        )
        chosen, reports = ctx.chosen, ctx.reports
        craft = functools.partial(craft_point, self, ctx)
        strategy = self.strategy
        chooser = None if strategy is None else strategy.chooser(self.estimator, setup)
        if strategy is not None:
            craft = functools.partial(chosen_point, strategy.name, chooser, ctx)
        if evasion is not None:  # each point in the sets calibrated on the rows so far
            craft = functools.partial(evasion_check.crafted, evasion, craft, ctx)
        objective = setup.objective
        Theta, effect_before = objective.Theta_start, effect_clean
        first_effects = []
        first_points = []
        for q in range(m):  # Algorithm 1: each point joins the training set for good
            target = None if targets is None else targets.first[q]
            warm = None if unconcealed is None else unconcealed.first_points[q]
            best, report = craft(objective, Theta, effect_before, target, warm=warm)
            chosen.append(best)
            reports.append(report)
            Theta, effect_before = best.ev.fit.Theta, best.ev.E
            first_effects.append(effect_before)
            first_points.append(best)
            objective = objective.with_point(best.x, best.t, Theta)
            tick()
            if strategy is not None and strategy.reached(effect_before, effect_clean):
                break
        for _ in range(1, self.passes):  # cyclic passes: each point again, given the rest
            for q in range(m):
                others = [c for k, c in enumerate(chosen) if k != q]
                # the model without point q, warm-started at the model with every point
                objective = setup.objective.with_points(
                    [c.x for c in others], [c.t for c in others], Theta
                )
                without = objective.Theta_start
                best, report = craft(
                    objective,
                    without,
                    objective.effect_at(without),
                    None if targets is None else targets.final,
                    previous=chosen[q],
                )
                chosen[q], reports[q] = best, report
                Theta = best.ev.fit.Theta
                tick()
        if self.passes > 1:  # the history of the final rows, added in order
            evaluations = search.replay(setup.objective, chosen)
        else:
            evaluations = [c.ev for c in chosen]
        return _Run(chosen, reports, evaluations, first_effects, first_points)

    def settings(self) -> dict:
        """The attack's settings as plain JSON-able values."""
        return {
            "estimator": repr(self.estimator),
            "goal": self.goal.describe(),
            "alpha": self.alpha,
            "n_points": self.n_points,
            "rate": self.rate,
            "trade_off": self.trade_off,
            "starts": self.starts,
            "passes": self.passes,
            "step": self.step,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "optimize_y": self.optimize_y,
            "n_sigma": self.n_sigma,
            "random_state": int(self.random_state)
            if isinstance(self.random_state, numbers.Integral)
            else None,
            **constraints_.settings(self),
            "strategy": None if self.strategy is None else self.strategy.describe(),
            **evasion_check.settings(self),
        }

    # ----------------------------------------------------------------- internals
    def _check_params(self, need_budget: bool = True) -> None:
        check_fraction(self.alpha, "alpha")
        rs = self.random_state
        if not (
            rs is None
            or isinstance(rs, np.random.Generator)
            or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and rs >= 0)
        ):
            raise InvalidInputError(
                f"random_state: expected None, an integer ≥ 0 or a numpy Generator, got {rs!r}"
            )
        if not isinstance(self.goal, tuple(GOALS.values())):
            raise InvalidInputError(
                f"goal: expected Integrity(...), Availability() or "
                f"LossAvailability(...), got {self.goal!r}"
            )
        if need_budget and (self.n_points is None) == (self.rate is None):
            raise InvalidInputError("give exactly one of n_points and rate")
        if self.n_points is not None:
            check_count(self.n_points, "n_points")
        if self.rate is not None:
            check_rate(self.rate, "rate")
        if self.step not in STEP_RULES:
            raise InvalidInputError(
                f"step: expected one of {', '.join(map(repr, STEP_RULES))}, got {self.step!r}"
            )
        if self.trade_off not in ("share", "paper"):
            raise InvalidInputError(
                f"trade_off: expected 'share' or 'paper', got {self.trade_off!r}"
            )
        check_count(self.starts, "starts")
        check_count(self.passes, "passes")
        if self.strategy is not None:
            check_strategy(self)
        evasion_check.check(self, evasion_check.resolve(self.evade))
        check_count(self.max_iter, "max_iter")
        check_positive(self.tol, "tol")
        if self.n_sigma is not None:
            check_positive(self.n_sigma, "n_sigma")

    def _setup(self, X, y, sample_weight, need_budget: bool = True) -> _Setup:
        self._check_params(need_budget)
        if sample_weight is not None:
            raise UnsupportedEstimatorError(
                "sample_weight is not supported: the victim is trained with unit weights"
            )
        spec = models.spec_for(self.estimator)
        kernel = not spec.has_theta  # decision-value goals only (models.kernel)
        task = spec.task
        names = _column_names(X)
        X = check_features(X, "X", min_rows=2)
        n, d = X.shape
        y_arr = check_targets(np.asarray(y), n, task)
        victim = models.victim(self.estimator, y_arr)
        if self.optimize_y and victim.classes is not None:
            raise InvalidInputError(
                "optimize_y: only regression responses can be "
                "optimised; class labels are flipped instead"
            )
        Xf = X.astype(float)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        bounds = resolve_bounds(self.bounds, d, names)
        box = feasible_box(Xf, self.n_sigma, bounds, names, dtype)
        units = Units.of(self.data_units, d)
        limits = constraints_.resolve(constraints_.specs(self), Xf, box, names, units)
        learner = victim.learner
        x_c = Xf.mean(axis=0)
        if kernel:
            from .kernel import KernelObjective

            t = victim.encode(y_arr)
            obj = KernelObjective.build(
                self.estimator, victim, Xf, y_arr, t, x_c, self.goal, float(self.alpha)
            )
            return _Setup(X, victim, box, obj, obj.decision(obj.Theta_start), t, limits, bounds)
        # centred features, where that leaves the public θ (Learner.centres)
        shift = x_c if learner.centres else np.zeros(d)
        t = victim.encode(y_arr)
        Phi = learner.features(Xf, shift)
        data = _data(learner, Phi, t)
        K, p = learner.n_outputs, Phi.shape[1]
        stats = None
        if victim.scaler is not None:  # a pipeline: its scaler's scale on these rows
            stats = ColumnStats.of(Xf)
            learner = learner.with_scales(scale(victim.scaler, stats))
        try:
            fit0 = engine.fit(learner, data, engine.start(learner, t, p))
        except SingularHessianError as exc:
            raise SingularHessianError(
                f"{learner.name}: the training objective's Hessian is singular: "
                f"{why_singular(Xf, learner.fit_intercept, names)}"
            ) from exc
        T = public_map(p, shift, learner.fit_intercept)
        theta_clean = learner.pack(fit0.Theta @ T)
        if not np.all(np.isfinite(theta_clean)):
            raise InvalidInputError(
                f"X: the clean model is not finite in float64 ({learner.name}); "
                f"{why_singular(Xf, learner.fit_intercept, names)}"
            )
        pinned = len(learner.pinned_rows)
        shape = ModelShape(
            d,
            K - pinned,
            learner.fit_intercept,
            spec.task,
            None if victim.classes is None else tuple(victim.classes),
            spec.target_preset(K - pinned),
            extra=pinned,
        )

        def fit(y_new: np.ndarray) -> np.ndarray:  # the exact fit with other labels
            t_new = victim.encode(y_new)
            data_new = _data(learner, Phi, t_new)
            return learner.pack(
                engine.fit(learner, data_new, engine.start(learner, t_new, p)).Theta @ T
            )

        rows = TrainingRows(Xf, y_arr, None if names is None else tuple(names), fit)
        reference = self.goal.reference(theta_clean, shape, rows)
        effect = self.goal.effect(victim, Xf, y_arr, shift, reference)
        objective = Objective(
            victim=victim,
            data=data,
            shift=shift,
            x_c=x_c,
            theta_reference=reference,
            goal=self.goal,
            alpha=float(self.alpha),
            Theta_start=fit0.Theta,
            effect=effect,
            stats=stats,
        )
        return _Setup(X, victim, box, objective, theta_clean, t, limits, bounds)


def _data(learner, Phi: np.ndarray, t: np.ndarray) -> engine.RowData | engine.GramData:
    """The engine's view of the rows: their Gram statistics when the loss has a constant
    curvature (least squares), else the rows themselves."""
    if learner.loss.curvature is not None:
        return engine.GramData.from_rows(Phi, t)
    return engine.RowData(Phi, t)

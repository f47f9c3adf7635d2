"""What an attack returns, and how far it got: per-point reports and an honest verdict.

An attack that silently fails is the worst outcome a red team can be handed: it reads
"success" and concludes its model is safe. So every result says how far the attack
moved the model (:attr:`AttackResult.progress`, measured by the goal:
:meth:`Goal.progress`), and carries a warning — also raised as a
:class:`FlexPoisonWarning` — when it moved E by less than 1 % of the way, made it
worse than no attack, or stopped more than 10 % of its points at ``max_iter``.

θ_poisoned is the exact optimum on the rows returned, computed in float64; every
result with θ is checked against scikit-learn's own tight refit of those rows
(:func:`refit_warnings`), and says so when the two differ by more than
:data:`REFIT_GAP` of max |θ_p|. :meth:`AttackResult.poisoned_model` fits the rows in
float64 whatever X's dtype: the returned float32 rows, upcast, are exactly the rows the
attack evaluated (its box rounds every iterate to float32), while scikit-learn fitting
float32 rows computes in float32 and can stop far from the optimum (0.98 of max |θ|
for a logistic regression on the raw breast-cancer features).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError

#: Below this share of the way (:meth:`Goal.progress`), the attack "barely moved" E.
BARELY = 0.01
#: Above this share of points stopped at ``max_iter``, the result says so: the default
#: search converges on all but a few (at most 5 % on the strength benchmark).
STUCK = 0.1
# A loss of progress within this share is rounding, not harm.
_ROUNDING = 1e-9


@dataclass(frozen=True)
class CertifiedRows:
    """The certified fewest rows that reach the model an integrity attack reached:
    ``lower_bound`` = :func:`flexpoison.certify.points_needed` with θ_t = θ_poisoned on the
    clean rows and the attack's box (constraints relaxed to it), so no feasible set of
    fewer rows makes θ_poisoned the victim's optimum; ``efficiency`` = lower_bound / m,
    in [0, 1]: how close the crafted m rows are to the fewest possible. ``lower_bound``
    is None where no certificate applies (``reason`` says why: a pipeline, a kernel
    machine, no poison row); ``seconds`` is what computing it took.
    """

    lower_bound: float | None
    n_points: int
    reason: str | None = None
    seconds: float = 0.0

    @property
    def efficiency(self) -> float | None:
        """lower_bound / m (None without a bound or without rows)."""
        if self.lower_bound is None or self.n_points == 0:
            return None
        return self.lower_bound / self.n_points

    def line(self) -> str:
        """The bound and the efficiency in words, or why there is none."""
        if self.lower_bound is None:
            return f"none ({self.reason})"
        return (
            f"any attack in this box needs >= {self.lower_bound:.4g} rows to reach this "
            f"model; efficiency {self.efficiency:.3f} ({self.seconds:.2g} s)"
        )

    def describe(self) -> dict:
        """As plain JSON values (``summary.json``)."""
        return {
            "lower_bound": self.lower_bound,
            "efficiency": self.efficiency,
            "reason": self.reason,
            "seconds": self.seconds,
        }


def kept_share(effect: float | None, effect_clean: float, effect_attack: float) -> float | None:
    """The share of an attack's change of E that a screening leaves,
    (E_after − E_clean) / (E_attack − E_clean): 1 when the owner's refit on the rows kept
    has the attack's E, 0 when it has the clean model's, below 0 when it moves E the
    other way. None without an E after screening or when the attack did not change E."""
    change = effect_attack - effect_clean
    if effect is None or change == 0.0:
        return None
    return (effect - effect_clean) / change


@dataclass(frozen=True)
class OwnerScreening:
    """One sanitizer's decision on an evading attack's final training set (clean +
    poison rows), calibrated as the owner calibrates it
    (:mod:`flexpoison.attack.evasion`); or, with ``combined``, the decision of the owner
    who runs every named sanitizer and keeps the rows all of them keep
    (:class:`flexpoison.defences.CombinedScreening`).

    Attributes
    ----------
    sanitizer : str
        Its registry name; for the combined owner the names joined by ``+``.
    calibration : {"clean", "poisoned"}
        Its thresholds from the clean rows, or from the clean + poison rows (each
        sanitizer on the whole set, as when it runs alone).
    rows_removed, poison_removed : int
        Rows it removes, and how many of them are poison rows.
    effect : float or None
        E of the victim scikit-learn refits on the rows it keeps (None for a victim
        without θ, or when it keeps a single class).
    pulled : int
        Poison rows the final check moved toward the data (all sanitizers together).
    rows : int
        Rows screened (clean + poison); ``rows_kept`` = rows − rows_removed.
    kept : float or None
        The share of the attack's change of E that is left after the screening
        (:func:`kept_share` of ``effect``, E_clean and the attack's final E).
    combined : bool
        True for the owner who runs all the named sanitizers together.
    """

    sanitizer: str
    calibration: str
    rows_removed: int
    poison_removed: int
    effect: float | None
    pulled: int = 0
    rows: int = 0
    kept: float | None = None
    combined: bool = False

    @property
    def rows_kept(self) -> int:
        """Rows left in the training set after the screening."""
        return self.rows - self.rows_removed

    def describe(self) -> dict:
        """As plain JSON values (``summary.json``)."""
        return {
            "sanitizer": self.sanitizer,
            "combined": self.combined,
            "calibration": self.calibration,
            "rows_kept": self.rows_kept,
            "rows_removed": self.rows_removed,
            "poison_removed": self.poison_removed,
            "effect_after_screening": self.effect,
            "effect_kept": self.kept,
            "pulled": self.pulled,
        }


@dataclass(frozen=True)
class PointReport:
    """How one poison point was crafted.

    Attributes
    ----------
    n_iter : int
        Gradient iterations spent on it, all its descents together (the screened
        starts' few and the chosen one's; 0 < α < 1: the concealed run's alone, not
        those of the α = 0 run it starts from).
    stop : {"tolerance", "stationary", "zero gradient", "max_iter", "reached"}
        Why that descent stopped (|ΔW| below tol; no feasible step lowers W; E's exact
        gradient is zero there — the point does not move θ locally, e.g. a support
        vector machine's θ pinned by its margin support vectors; the iteration
        budget; or it did not start: the share trade-off's start at the α = 0 run's
        point already had the gain the point keeps).
    start : str
        The start it came from (``"clone"``, ``"flipped"``, ``"opposite response"``,
        ``"lowest response"``, ``"highest response"``, ``"no-op"``, ``"previous point"``,
        ``"previous pass"``, ``"first-order"`` (a row inside a classifier's margin,
        :mod:`flexpoison.attack.first_order`, once a point has stalled at zero
        gradient), or ``"α = 0 point"``: the share trade-off descends from
        the α = 0 run's point; or the name of the ``strategy`` that chose it, e.g.
        ``"model-targeted"``).
    effect_before, effect_after : float
        E of the model without and with this point (the points before it included; after
        further ``passes``, all the other points).
    harmless : bool
        Whether the point leaves E no worse than the model without it.
    path : float
        Where the point lies on its concealment path, from the concealed anchor (0) to
        the point of largest effect (1) (the effect-share trade-off; 1 for the paper's
        W).
    source_row : int or None
        The clean row (an index into X) the point was cloned from, whose frozen
        features it keeps; None for a row built at x_c when no feature is frozen.
    repaired : int
        With integer features or one-hot groups: how many of them the repair step set
        otherwise than plain rounding (:mod:`flexpoison.attack.constraints`); E and θ
        are those of the rounded and repaired row.
    """

    n_iter: int
    stop: str
    start: str
    effect_before: float
    effect_after: float
    harmless: bool
    path: float
    source_row: int | None = None
    repaired: int = 0


@dataclass(frozen=True)
class AttackResult:
    """What :meth:`FlexiblePoisoning.generate` returns.

    Attributes
    ----------
    X_poison : ndarray of shape (m, d), or DataFrame
        The poison rows, in the units (and floating dtype) of the X passed in; a pandas
        DataFrame with the same columns when X was one.
    y_poison : ndarray of shape (m,), or Series
        Their responses or labels, in the user's values; a pandas Series with the same
        name when y was one.
    theta_clean, theta_target, theta_poisoned : ndarray
        θ₀, θ_t (θ₀ again for an availability goal) and θ_p trained on clean + all
        poison rows, flat (w…, b) — per class row for the multinomial model.
    W_history : list of ndarray
        For each crafted point, W at every iteration of the descent that produced it
        (entry 0 = its start). With the share trade-off and 0 < α < 1 a point starts
        from the α = 0 run's: the first point's history is that run's descent (on the
        same rows), then its own; a later point's is its own.
    effect_history : ndarray of shape (m,)
        E after each point joins the training set.
    theta_history : ndarray of shape (m, len(θ))
        θ_p after each point joins the training set (row q: clean + first q+1 points).
    effect_clean : float
        E before any poison (E_I(θ₀); 0 for E_A; the clean model's loss for E_L).
    concealment : ndarray of shape (m,)
        C = ‖x_p − x_c‖² of each point.
    points : tuple of PointReport
        How each point was crafted (iterations, stop reason, start, E before/after).
    x_c : ndarray of shape (d,)
        Centre of the clean training features.
    lower, upper : ndarray of shape (d,)
        The feasible box.
    n_clean : int
        Rows in the clean training set (the poisoning rate is m / n_clean).
    goal : str
        The goal's kind (``"integrity"``, ``"availability"``, ``"loss-availability"``).
    progress : float
        How far the attack moved E (the goal's :meth:`~Goal.progress`: for integrity the
        share of the way from θ₀ to θ_t closed; negative when E got worse).
    warnings : tuple of str
        What the result should not be trusted for (empty when the attack worked).
    settings : dict
        The attack's settings, for reports.
    effect_unconcealed : float or None
        With the share trade-off and 0 < α < 1: E after the same attack at α = 0 (same
        seed), whose gain the trade-off keeps the share 1 − α of; None otherwise.
    theta_refit : ndarray or None
        θ of scikit-learn's tight refit of the victim on the clean + poison rows, in
        float64: what the refit check compared θ_p with (:func:`refit_warnings`), kept
        so that a caller measuring the poisoned model need not fit it again. None where
        the check does not run (pipelines, sample weights, victims without θ).
    certificate : CertifiedRows or None
        The certified fewest rows that reach θ_poisoned, and the efficiency
        lower_bound / m (integrity goals; None until asked for: it takes a few seconds,
        see :func:`flexpoison.certify.certify_result`).
    screenings : tuple of OwnerScreening
        With ``evade``: each named sanitizer's decision on the final clean + poison
        rows, as the owner calibrates it, and E after it (:class:`OwnerScreening`);
        with several named, last, the owner who runs them all and keeps the rows every
        one keeps (``combined``).
    estimator, X_clean, y_clean : optional
        The victim and the clean training data the attack was given (for
        :meth:`poisoned_model`).
    """

    X_poison: np.ndarray
    y_poison: np.ndarray
    theta_clean: np.ndarray
    theta_target: np.ndarray
    theta_poisoned: np.ndarray
    W_history: list[np.ndarray]
    effect_history: np.ndarray
    theta_history: np.ndarray
    effect_clean: float
    concealment: np.ndarray
    points: tuple[PointReport, ...]
    x_c: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_clean: int
    goal: str
    progress: float
    warnings: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)
    effect_unconcealed: float | None = None
    theta_refit: np.ndarray | None = field(default=None, repr=False, compare=False)
    certificate: CertifiedRows | None = None
    screenings: tuple[OwnerScreening, ...] = ()
    estimator: object = field(default=None, repr=False, compare=False)
    X_clean: object = field(default=None, repr=False, compare=False)
    y_clean: object = field(default=None, repr=False, compare=False)

    @property
    def n_points(self) -> int:
        return self.X_poison.shape[0]

    @property
    def n_iter(self) -> np.ndarray:
        """Gradient iterations spent on each point, all its starts together."""
        return np.array([p.n_iter for p in self.points], dtype=int)

    @property
    def rates(self) -> np.ndarray:
        """Poisoning rate after each point: (q + 1) / n_clean."""
        return np.arange(1, self.n_points + 1) / self.n_clean

    def poisoned_model(self):
        """A clone of the victim fitted by scikit-learn on the clean rows followed by
        the poison rows, in float64 — the model a defender who trains on the poisoned
        set gets (its parameters agree with ``theta_poisoned`` to the solver's
        tolerance).

        The rows are passed to scikit-learn as float64 whatever X's dtype (a DataFrame
        keeps its columns): with float32 X they are the returned float32 rows upcast,
        the same values, on which ``theta_poisoned`` is the optimum. scikit-learn fitting
        the float32 rows as they are computes in float32 and can stop far from it (the
        module docstring's numbers; the result's warnings say so); to see that model,
        fit ``clone(result.estimator)`` on the float32 rows yourself."""
        if self.estimator is None or self.X_clean is None or self.y_clean is None:
            raise InvalidInputError(
                "poisoned_model: this result does not carry the victim and its clean "
                "data (it was not made by FlexiblePoisoning.generate)"
            )
        from sklearn.base import clone

        X = _stack(self.X_clean, self.X_poison)
        return clone(self.estimator).fit(X.astype(np.float64), _stack(self.y_clean, self.y_poison))

    @property
    def effect_final(self) -> float:
        """E with every poison row in the training set."""
        return float(self.effect_history[-1]) if self.n_points else self.effect_clean


def _stack(clean, poison):
    """The clean rows followed by the poison rows, in the clean data's container."""
    if type(clean).__module__.startswith("pandas"):
        import pandas as pd  # only reached when the user passed pandas objects

        return pd.concat([clean, poison], ignore_index=True)
    clean = np.asarray(clean)
    poison = np.asarray(poison)
    return np.concatenate([clean, poison.astype(np.result_type(clean.dtype, poison.dtype))])


#: Above this share of max |θ_p|, scikit-learn's tight refit is another model.
REFIT_GAP = 1e-6


def refit_gap(theta_exact: np.ndarray, theta_refit: np.ndarray) -> float:
    """max |θ_refit − θ_p| / max |θ_p| (0 when they are equal)."""
    exact = np.asarray(theta_exact, dtype=float).ravel()
    diff = float(np.max(np.abs(np.asarray(theta_refit, dtype=float).ravel() - exact)))
    return 0.0 if diff == 0.0 else diff / max(float(np.max(np.abs(exact))), 1e-300)


def refit_warnings(
    spec, estimator, X: np.ndarray, y: np.ndarray, theta_poisoned: np.ndarray, n_outputs: int
) -> tuple[tuple[str, ...], np.ndarray | None]:
    """The θ of scikit-learn's tight refit of the victim on the clean + poison rows
    (X, y: float64, what :meth:`AttackResult.poisoned_model` fits; None if it failed),
    and a warning, with both numbers, when it differs from θ_p by more than
    :data:`REFIT_GAP` of max |θ_p|; when the two θ fit the rows alike (collinear
    features: θ is not unique), the warning says that instead."""
    import warnings

    from ..models import theta_of
    from ..models.victim import decision_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its ConvergenceWarning is what we measure
        try:
            theta_refit = theta_of(spec.fit_tight(estimator, X, y))
        except (ValueError, ArithmeticError) as exc:
            return (f"scikit-learn could not refit the poisoned rows to compare ({exc})",), None
    if theta_refit.shape != np.shape(theta_poisoned):
        return (), None
    gap = refit_gap(theta_poisoned, theta_refit)
    if not gap > REFIT_GAP:
        return (), theta_refit
    j = int(np.argmax(np.abs(theta_refit - theta_poisoned)))
    both = f"θ[{j}] = {theta_poisoned[j]:.10g} here, {theta_refit[j]:.10g} in scikit-learn's"
    k = theta_poisoned.size - len(spec.extra_theta)
    ours = decision_scores(theta_poisoned[:k], X, n_outputs)
    theirs = decision_scores(theta_refit[:k], X, n_outputs)
    if np.max(np.abs(ours - theirs)) <= 1e-6 * max(float(np.max(np.abs(theirs))), 1e-300):
        return (
            f"theta_poisoned is one of several optima: scikit-learn's tight refit fits the "
            f"rows alike with another θ ({gap:.2g} of max |θ_p| apart; {both}), because "
            "features are collinear; predictions agree, coefficients are not unique",
        ), theta_refit
    return (
        f"scikit-learn's tight refit of the returned rows differs from theta_poisoned by "
        f"{gap:.2g} of max |θ_p| ({both}): one of the two solvers stopped short; "
        "standardise the features, or check with poisoned_model()",
    ), theta_refit


def assess(
    progress: float,
    effect_name: str,
    points: tuple[PointReport, ...],
    max_iter: int,
    calibration: tuple[PointReport, ...] = (),
    effect_asked: bool = True,
) -> tuple[str, ...]:
    """The warnings a result carries (module docstring); ``calibration``: the points of
    the α = 0 run whose gain the share trade-off keeps a share of; ``effect_asked``
    False: the attack was asked for no effect (α = 1: concealment alone, under either
    trade-off), so an effect that barely moved is no failure."""
    out = []
    if progress < -_ROUNDING:
        out.append(
            f"the attack made {effect_name} worse than no attack (progress "
            f"{progress:.1%} of the way): do not read it as a result"
        )
    elif progress < BARELY and effect_asked:
        out.append(
            f"the attack barely moved {effect_name} ({progress:.2%} of the way, "
            f"under {BARELY:.0%}): a failed attack, not evidence that the model "
            "is safe; try α = 0, more points, more starts or passes"
        )
    for reports, which in ((points, "points"), (calibration, "points of the α = 0 run")):
        stuck = sum(p.stop == "max_iter" for p in reports)
        if reports and stuck > STUCK * len(reports):
            out.append(
                f"{stuck} of {len(reports)} {which} stopped at max_iter = {max_iter} "
                "before converging; raise max_iter (--max-iter), or loosen tol (--tol)"
            )
    flat = sum(p.stop == "zero gradient" for p in points)
    if flat:
        out.append(
            f"{flat} of {len(points)} points stopped where {effect_name}'s exact gradient "
            "is zero: the point does not move the model locally (its θ pinned by the "
            "rows on its loss's kinks — margin support vectors, rows on the ε-tube's "
            "edge — or the row where its loss is flat), so gradient descent cannot "
            "improve it; try more starts or another goal"
        )
    return tuple(out)


__all__ = [
    "BARELY",
    "OwnerScreening",
    "kept_share",
    "PointReport",
    "AttackResult",
    "assess",
    "REFIT_GAP",
    "refit_gap",
    "refit_warnings",
]

"""The frontier's records: each attack point, each (attack, sanitizer) measurement,
the settings and the whole result (:func:`flexpoison.experiments.frontier.run_frontier`
makes them; :mod:`flexpoison.reporting.frontier` writes them).

Per (attack, sanitizer), on the training rows the sanitizer keeps (:class:`FrontierRow`):

* **recall** — the share of the m poison rows the sanitizer removes;
* **clean removed** — the share of the n clean rows it removes (its false alarms);
* **effect left** — the goal's own effect E of the victim refitted on the rows kept, in
  the standardised space the attack works in: E_I = ‖θ − θ_t‖² (θ_t the victim's
  default preset; lower = more damage), E_A = ‖θ − θ₀‖² or E_L the mean loss on the
  clean training rows (higher = more damage);
* **test metric** — test MSE (regression) or accuracy (classification) of that refit;
* **damage left** — (E_s − E_clean) / (E_none − E_clean): the share of the attack's
  change of E that survives the sanitizer s; None where the attack did less damage than
  s alone moves E on the clean rows, or none, where the ratio would measure the
  sanitizer (:func:`~flexpoison.experiments.frontier.within_noise`).

Sanitizer ``"none"`` (keep every row) is the reference: its effect is the attack's own.
The pseudo-attack ``"clean"`` (no poison) shows what each sanitizer does to clean data.

With several sanitizers to evade (``evading`` or ``evade`` of two or more names), the
rows also hold the owner who runs them **together**: sanitizer ``"sphere+slab"``
(:attr:`FrontierSettings.combined`), keeping the rows every one of them keeps, each
calibrated on the clean training rows as it is alone
(:func:`~flexpoison.defences.screen_combined`), measured like any sanitizer. The
attack ``"evading_sphere+slab"`` is the α = 0 attack built to evade them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..attack.specs import as_recorded
from ..errors import InvalidInputError
from .pipeline import Screened

CLEAN = "clean"
ATTACK_LABELS = {
    "random_clone": "random clone",
    "label_flip": "label flip",
    "unconcealed": "unconcealed (α = 0, data range)",
    CLEAN: "no attack",
}


# ------------------------------------------------------------------------ results


#: The attack built to evade one sanitizer is named ``EVADING + its name``.
EVADING = "evading_"


def attack_label(attack: str, alpha: float | None) -> str:
    """``α = 0.5`` for the flexible attack, "built to evade sphere" for the one built
    to evade a sanitizer, the baseline's name otherwise."""
    if attack.startswith(EVADING):
        return f"built to evade {attack[len(EVADING) :]}"
    return f"α = {alpha:g}" if attack == "flexible" else ATTACK_LABELS[attack]


@dataclass(frozen=True)
class FrontierSettings:
    """What a frontier was computed on (everything needed to run it again)."""

    dataset: str
    task: Literal["regression", "classification"]
    model: str  # the registry name, or the estimator's class name
    victim: str  # repr of the scikit-learn estimator
    victim_label: str  # the registry's label of the estimator
    goal: str  # "integrity", "availability" or "loss-availability"
    effect_name: str  # "E_I", "E_A" or "E_L"
    higher_is_damage: bool  # False for E_I (the attacker lowers it)
    metric_name: str  # "test MSE" or "test accuracy"
    rate: float
    n_clean: int  # clean training rows n
    n_poison: int  # budget m = round(rate · n)
    n_test: int
    n_features: int
    alphas: tuple[float, ...]
    baselines: tuple[str, ...]
    sanitizers: tuple[str, ...]  # "none" first
    seed: int
    max_iter: int
    tol: float
    clean_removal: float
    trade_off: str = "share"
    starts: int = 4
    passes: int = 1
    data_file: str | None = None  # a user's CSV file (Dataset.file), and its SHA-256
    data_sha256: str | None = None
    constraints: dict | None = None  # Specs.settings() of the feature constraints, if any
    evading: tuple[str, ...] = ()  # sanitizers each attacked by one built to evade it
    evade: tuple[str, ...] = ()  # sanitizers the flexible attack evades at every α
    # the owners who run several together ("sphere+slab", one per group of ≥ 2 names of
    # evading or evade), measured like a sanitizer; with ≥ 2 evading names the attack
    # "evading_sphere+slab" is built to evade them all
    combined: tuple[str, ...] = ()

    @property
    def screens(self) -> tuple[str, ...]:
        """Every screening measured: ``sanitizers`` (``"none"`` first), then ``combined``."""
        return (*self.sanitizers, *self.combined)


@dataclass(frozen=True)
class AttackPoint:
    """One attack of the frontier: the poison rows it adds and what it cost.

    ``effect_final`` is the engine's own E after the last point (flexible attack and
    ``unconcealed``), None for attacks that do not optimise (random clone, label flip).
    ``mean_concealment`` is the mean C = ‖x_p − x_c‖² (standardised units);
    ``mean_iterations`` the mean over points of their gradient iterations, all starts
    together (:attr:`~flexpoison.attack.PointReport.n_iter`: it can exceed
    ``max_iter``, which caps each start); ``warnings`` what the attack's result says
    it should not be trusted for.
    """

    attack: str  # "flexible", a baseline name, EVADING + a sanitizer's, or "clean"
    alpha: float | None
    X_poison: np.ndarray = field(repr=False)
    y_poison: np.ndarray = field(repr=False)
    effect_final: float | None
    mean_concealment: float
    mean_iterations: float | None
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return attack_label(self.attack, self.alpha)


@dataclass(frozen=True)
class FrontierRow(Screened):
    """One (attack, sanitizer) measurement: a :class:`Screened` with its attack.

    Attributes
    ----------
    attack, alpha
        As in :class:`AttackPoint` (``alpha`` is None for baselines and ``"clean"``).
    effect, test_metric
        Always measured: a frontier refuses a sanitizer that leaves no victim to refit
        (:meth:`Screened.measured`).
    """

    effect: float
    test_metric: float
    attack: str
    alpha: float | None

    @property
    def label(self) -> str:
        return attack_label(self.attack, self.alpha)


@dataclass(frozen=True)
class FrontierResult:
    """Every (attack, sanitizer) row of a frontier, with the settings and references.

    ``effect_clean`` / ``test_metric_clean``: the victim on the clean training rows, no
    sanitizer. ``theta_clean``: its θ₀; ``theta_reference``: θ_t (integrity) or θ₀
    (a victim without θ: decision values at the goal's rows, :meth:`Experiment.public`).
    """

    settings: FrontierSettings
    rows: tuple[FrontierRow, ...]
    attacks: tuple[AttackPoint, ...]
    effect_clean: float
    test_metric_clean: float
    theta_clean: np.ndarray = field(repr=False)
    theta_reference: np.ndarray = field(repr=False)
    seconds: float
    feature_names: tuple[str, ...] = ()
    target_name: str = "y"
    x_mean: np.ndarray | None = field(default=None, repr=False)  # the standardisation:
    x_scale: np.ndarray | None = field(default=None, repr=False)  # x = z·scale + mean
    integer_columns: tuple[int, ...] = ()  # integer and one-hot features (constraints)
    X_data: np.ndarray | None = field(default=None, repr=False)  # the data's rows, its units
    frozen_columns: tuple[int, ...] = ()  # frozen features (constraints)

    def poison_in_data_units(self, point: AttackPoint) -> np.ndarray:
        """``point.X_poison`` (standardised) back in the data set's units; integer and
        one-hot features (constraints) as the integers they are, and the data's own
        values (a cloned row's, a frozen feature's) exactly as the data holds them
        (:func:`~flexpoison.attack.specs.as_recorded`)."""
        if self.x_mean is None:
            raise InvalidInputError(
                "this frontier result does not carry its "
                "standardisation (built by hand, not run_frontier)"
            )
        X = point.X_poison * self.x_scale + self.x_mean
        columns = list(self.integer_columns)
        X[:, columns] = np.round(X[:, columns])
        if self.X_data is not None:
            X = as_recorded(X, self.X_data, self.frozen_columns)
        return X

    def rows_for(self, sanitizer: str) -> list[FrontierRow]:
        """The rows of one sanitizer (or ``"none"``), in attack order."""
        return [r for r in self.rows if r.sanitizer == sanitizer]

    def row(self, attack: str, sanitizer: str, alpha: float | None = None) -> FrontierRow:
        """The row of one attack (``"flexible"`` needs ``alpha``) and sanitizer."""
        for r in self.rows:
            if (
                r.attack == attack
                and r.sanitizer == sanitizer
                and (
                    attack != "flexible"
                    or (
                        r.alpha is not None
                        and alpha is not None
                        and math.isclose(r.alpha, alpha, abs_tol=1e-12)
                    )
                )
            ):
                return r
        raise KeyError((attack, sanitizer, alpha))


# -------------------------------------------------------------------- set-up


__all__ = [
    "CLEAN",
    "ATTACK_LABELS",
    "EVADING",
    "attack_label",
    "FrontierSettings",
    "AttackPoint",
    "FrontierRow",
    "FrontierResult",
]

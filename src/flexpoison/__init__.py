"""flexpoison: flexible data-poisoning attacks against scikit-learn models.

Implements "A Flexible Poisoning Attack Against Machine Learning" (Jiang et al.): poison
rows crafted by projected gradient descent through the victim's optimality conditions,
trading the effect E against the concealment C with one knob α, inside the 3σ box
around the clean data's centre.

>>> from flexpoison import FlexiblePoisoning, Integrity
>>> attack = FlexiblePoisoning(estimator, goal=Integrity("flip-top"),
...                            alpha=0.5, n_points=50, random_state=0)  # doctest: +SKIP
>>> result = attack.generate(X_train, y_train)  # doctest: +SKIP

``estimator`` is an unfitted scikit-learn estimator of the victims' registry,
:data:`flexpoison.models.REGISTRY` (``flexpoison.models.MODEL_NAMES`` lists them).

Conventions (one everywhere)
----------------------------
* Clean training set: n rows x_i with targets y_i, d features; m poison rows
  (x_p, y_p); the poisoning rate is m / n.
* x_c is the mean of the clean training features, σ their per-feature (population)
  standard deviation; the feasible box is x_c ± n_sigma·σ per feature (default 3σ),
  intersected with the user's bounds (:mod:`flexpoison.attack.box`).
* C = ‖x_p − x_c‖²; E is the goal's effect (E_I = ‖θ_p − θ_t‖², E_A = ‖θ_p − θ₀‖², or
  E_L the victim's mean loss), which the attacker lowers (integrity) or raises
  (availability) (:mod:`flexpoison.attack.goals`).
* α ∈ [0, 1]: 0 is all effect, 1 all concealment. By default (``trade_off="share"``)
  α is the share of the unconcealed (α = 0) attack's effect given up for concealment,
  after every point (:mod:`flexpoison.attack.search`); ``trade_off="paper"`` minimises the paper's
  W = α·C + (1 − α)·E_I (integrity) or W = α·C − (1 − α)·E (availability).
* A result's ``progress`` is how far E moved (integrity: the share of the way from θ₀
  to θ_t closed); ``warnings`` (also :class:`FlexPoisonWarning`) say when it is under
  1 %, negative, or most points stopped at ``max_iter`` (:mod:`flexpoison.attack.result`).
* θ₀ is the victim trained on the clean rows, θ_p on clean + poison rows, both with
  scikit-learn's own objective scaling; θ is flat (w_1, …, w_d, b), class rows in
  sorted label order for K ≥ 3 classes (:mod:`flexpoison.models`). For a pipeline
  victim (a scaler, then the model) θ is the pipeline's linear function of the raw
  features, in the user's units (:mod:`flexpoison.scalers`).
* Target presets: ``flip-top``, ``negate``, ``swap:A,B``, ``predict:v@x*``
  (:mod:`flexpoison.attack.goals`).

Limits (the same in the library and in every command; :mod:`flexpoison._validation`)
------------------------------------------------------------------------------------
* at most one poison row per clean training row: rate = m / n ≤ 1;
* an experiment (a command) needs at least 10 training rows and 5 test rows;
* every number the attack squares — features, responses, the box, a candidate row —
  must stay within ±1e150 (their sums of squares overflow float64 near 1e154);
  larger data are refused with the advice to rescale;
* a feature must vary by more than float64's precision around its mean, or not at all:
  a constant feature (a one-hot level absent from the rows) is frozen at its value by
  the σ box, and free within the user's finite bounds.

Errors are :class:`FlexPoisonError` subclasses with a message naming the argument:
:class:`InvalidInputError`, :class:`UnsupportedEstimatorError`,
:class:`SingularHessianError` (the model is not unique, with the reason: collinear
features, too few rows, or a scale float64 cannot resolve) and
:class:`ConvergenceError`.

Layers, top to bottom (imports point only downward): ``cli`` → ``reporting`` →
``sweeps`` → ``experiments`` → ``data``, ``defences`` → ``attack`` → ``models``
(the registry of victims) → ``engine``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ._lazy import lazy_getattr
from .errors import (
    ConvergenceError,
    FlexPoisonError,
    FlexPoisonWarning,
    InvalidInputError,
    SingularHessianError,
    UnsupportedEstimatorError,
)

if TYPE_CHECKING:
    from .attack import (
        AttackResult,
        Availability,
        Evaluation,
        FlexiblePoisoning,
        Integrity,
        LossAvailability,
        Objective,
        PointReport,
    )

try:
    __version__ = version("flexpoison")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# The attack's names are imported on first use, so that the command line (which
# imports this package first) starts without numpy, scipy or scikit-learn.
_LAZY = {
    name: "flexpoison.attack"
    for name in (
        "FlexiblePoisoning",
        "Integrity",
        "Availability",
        "LossAvailability",
        "AttackResult",
        "PointReport",
        "Objective",
        "Evaluation",
    )
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FlexiblePoisoning",
    "Integrity",
    "Availability",
    "LossAvailability",
    "AttackResult",
    "PointReport",
    "Objective",
    "Evaluation",
    "FlexPoisonError",
    "FlexPoisonWarning",
    "InvalidInputError",
    "UnsupportedEstimatorError",
    "SingularHessianError",
    "ConvergenceError",
    "__version__",
]

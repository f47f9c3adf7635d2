"""flexpoison: flexible data-poisoning attacks against scikit-learn models.

Implements "A Flexible Poisoning Attack Against Machine Learning" (Jiang et al.): poison
rows crafted by projected gradient descent through the victim's optimality conditions,
trading the effect E against the concealment C with one knob α, inside the 3σ box
around the clean data's centre.

>>> from flexpoison import FlexiblePoisoning, Integrity
>>> attack = FlexiblePoisoning(estimator, goal=Integrity("flip-top"),
...                            alpha=0.5, n_points=50, random_state=0)  # doctest: +SKIP
>>> result = attack.generate(X_train, y_train)  # doctest: +SKIP

``estimator`` is an unfitted scikit-learn estimator of :data:`flexpoison.models.REGISTRY`.

Conventions, one everywhere (the documentation's maths page states them in full):
n clean rows, d features, m poison rows, rate m / n ≤ 1; x_c and σ the clean features'
mean and population standard deviation; the feasible box x_c ± n_sigma·σ (default 3σ)
∩ the user's bounds (:mod:`~flexpoison.attack.box`); C = ‖x_p − x_c‖²; E the goal's
effect (E_I = ‖θ_p − θ_t‖², E_A = ‖θ_p − θ₀‖², E_L the mean loss), lowered for
integrity, raised for availability (:mod:`~flexpoison.attack.goals`); α ∈ [0, 1], by
default the share of the α = 0 attack's effect given up for concealment
(``trade_off="paper"``: the paper's W = α·C ± (1 − α)·E; :mod:`~flexpoison.attack.search`);
θ₀ / θ_p the victim trained on the clean / clean + poison rows with scikit-learn's own
objective, flat (w_1, …, w_d, b), class rows in sorted label order for K ≥ 3
(:mod:`~flexpoison.models`), for a pipeline in the user's units
(:mod:`~flexpoison.scalers`). A result's ``progress`` says how far E moved and its
``warnings`` when not to trust it (:mod:`~flexpoison.attack.result`).

Limits, the same in the library and every command (:mod:`flexpoison._validation`): a
command's split needs 10 training and 5 test rows; every number the attack squares
stays within ±1e150; a feature varies by more than float64's precision or not at all (a
constant feature is frozen by the σ box, free within finite user bounds). Errors are
:class:`FlexPoisonError` subclasses naming the argument: :class:`InvalidInputError`,
:class:`UnsupportedEstimatorError`, :class:`SingularHessianError` (the model is not
unique) and :class:`ConvergenceError`.

Layers, top to bottom (imports point only downward): ``cli`` → ``reporting`` →
``sweeps`` → ``experiments`` → ``data`` → ``attack`` → ``defences`` → ``models``
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
_LAZY["points_needed"] = "flexpoison.certify"  # the certified lower bound (issue 23)


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
    "points_needed",
    "FlexPoisonError",
    "FlexPoisonWarning",
    "InvalidInputError",
    "UnsupportedEstimatorError",
    "SingularHessianError",
    "ConvergenceError",
    "__version__",
]

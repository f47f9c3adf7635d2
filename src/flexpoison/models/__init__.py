"""The registry of supported victims: everything flexpoison knows about a model, once.

Each :class:`ModelSpec` in :data:`REGISTRY` (the entries: :mod:`flexpoison.models.entries`)
states, for one scikit-learn estimator: its name on the command line, its task, how its
hyper-parameters map onto the engine's declared objective (:mod:`flexpoison.models.terms`),
which parameters it ignores and which settings it refuses, the default integrity
target, how an exact ("tight") refit is configured, and the settings the contract test
suite checks. Commands, experiments, sweeps, reports and tests read the registry.

Every victim minimises scikit-learn's own training objective,
L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁ with N the rows trained on (clean + poison) and
the intercept not penalised but by liblinear's support vector machines; the table of
every entry's L(θ) is on the documentation's maths page ("The learners' objectives").

Goals: every entry with a parameter vector θ accepts every goal. ``svc``
(scikit-learn's ``SVC``, :mod:`flexpoison.models.kernel`) has no θ (``has_theta=False``):
it accepts ``Integrity("predict:v@x*")`` and ``LossAvailability`` only, refuses the
others by name (:meth:`ModelSpec.goal_problem`), and its θ outputs are its decision
values at the goal's rows.

θ layout and labels: θ is flat, (w_1, …, w_d, b) — without an intercept, b is left out;
HuberRegressor's is (w_1, …, w_d, b, σ); for K ≥ 3 classes the K × (d + 1) matrix of
class rows (w_k, b_k), flattened row by row, in the sorted order of the labels (the
multinomial logistic model with scikit-learn's gauge Σ_k b_k = 0). Targets are encoded
for the loss: a regression response as itself, binary labels as ±1 (the second sorted
class is +1), K ≥ 3 labels as their index in the sorted classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from ..errors import InvalidInputError, UnsupportedEstimatorError
from .entries import ENTRIES
from .spec import METRICS, Example, Metric, ModelSpec, Refusal, Task
from .terms import Terms


def _registry(entries: tuple[ModelSpec, ...]) -> Mapping[str, ModelSpec]:
    """The entries by name, refusing a name given twice (the command line's names are
    the registry's keys)."""
    names = [spec.name for spec in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"the registry names {', '.join(twice)} more than once")
    return MappingProxyType({spec.name: spec for spec in entries})


REGISTRY: Mapping[str, ModelSpec] = _registry(ENTRIES)
"""Every supported victim, by name (read-only)."""

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)

#: Where no goal is named: the goal each victim runs by default (``--goal``'s help).
DEFAULT_GOAL_HELP = "; ".join(
    [
        "integrity",
        *(
            f"{spec.default_goal} for {spec.name}"
            for spec in REGISTRY.values()
            if spec.default_goal != "integrity"
        ),
    ]
)

#: The victim used where none is named (frontier, the paper's experiments), per task.
DEFAULT_MODEL: Mapping[str, str] = MappingProxyType(
    {"regression": "ridge", "classification": "logistic"}
)

#: The model a sanitizer that fits one uses when it is given no victim, per task
#: (scikit-learn's defaults of the unregularised least-squares / logistic model).
DEFENDER_MODEL: Mapping[str, str] = MappingProxyType(
    {"regression": "linear", "classification": "logistic"}
)


def get(name: str) -> ModelSpec:
    """The entry named ``name`` (an :class:`InvalidInputError` lists the names)."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"model: unknown model {name!r}; expected one of " + ", ".join(MODEL_NAMES)
        ) from None


#: Entries :func:`tried_first` puts before the registry's (a contributor's own, checked).
_TRIED_FIRST: list[ModelSpec] = []


@contextmanager
def tried_first(spec: ModelSpec) -> Iterator[None]:
    """Within the block, :func:`spec_for` (and so every attack) reads an estimator of
    ``spec``'s class with ``spec`` before the registry's entries: how
    :func:`flexpoison.testing.check_victim` checks an entry that is not registered."""
    _TRIED_FIRST.insert(0, spec)
    try:
        yield
    finally:
        _TRIED_FIRST.remove(spec)


def spec_for(estimator) -> ModelSpec:
    """The entry of an estimator instance, by its exact class (a pipeline's: its
    model's, :mod:`flexpoison.scalers`)."""
    from ..scalers import read_pipeline

    estimator = read_pipeline(estimator)[1]
    for spec in (*_TRIED_FIRST, *REGISTRY.values()):
        if spec.applies_to(estimator):
            return spec
    raise UnsupportedEstimatorError(
        f"unsupported estimator {type(estimator).__name__}; flexpoison supports "
        + ", ".join(s.class_name for s in REGISTRY.values())
        + " (pass an unfitted scikit-learn instance)"
    )


from .victim import (  # noqa: E402  (it reads the registry above)
    Victim,
    decision_scores,
    theta_names,
    theta_of,
    victim,
)

__all__ = [
    "Task",
    "Metric",
    "METRICS",
    "Terms",
    "Example",
    "Refusal",
    "ModelSpec",
    "REGISTRY",
    "MODEL_NAMES",
    "DEFAULT_MODEL",
    "DEFENDER_MODEL",
    "DEFAULT_GOAL_HELP",
    "get",
    "spec_for",
    "tried_first",
    "theta_of",
    "decision_scores",
    "theta_names",
    "Victim",
    "victim",
]

"""The declaration of one victim (:class:`ModelSpec`), its test settings and refusals,
and the tasks' metrics. The entries themselves are in :mod:`flexpoison.models.entries`."""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from . import kernel
from .terms import Terms

Task = Literal["regression", "classification"]


# ---------------------------------------------------------------------- the tasks


@dataclass(frozen=True)
class Metric:
    """The test metric of a task: ``name`` for humans, ``key`` for files."""

    name: str
    key: str
    higher_is_better: bool

    def score(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if self.key == "mse":
            return float(np.mean((y_pred - y_true) ** 2))
        return float(np.mean(y_pred == y_true))


METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        "regression": Metric("test MSE", "mse", higher_is_better=False),
        "classification": Metric("test accuracy", "accuracy", higher_is_better=True),
    }
)


# -------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class Example:
    """A setting the contract test suite runs (``n_classes`` for classifiers)."""

    params: Mapping[str, Any]
    n_classes: int | None = None


@dataclass(frozen=True)
class Refusal:
    """A setting flexpoison refuses, as data: the contract suite builds the victim with
    ``params`` (on ``n_classes`` classes for a classifier) and expects one
    :class:`~flexpoison.errors.UnsupportedEstimatorError` whose message names
    ``names`` (the parameter, so that the user knows what to change)."""

    params: Mapping[str, Any]
    names: str
    n_classes: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One supported victim (see :mod:`flexpoison.models`). Every field is a keyword.

    Every constructor parameter of the scikit-learn class is declared in exactly one of
    :attr:`objective_params` (and ``fit_intercept``), :attr:`ignored` or the keys of
    :attr:`refusals`: the contract suite checks it, so that a parameter flexpoison does
    not model cannot be "supported" in silence.

    Attributes
    ----------
    name : str
        Its name on the command line and in sweep files, e.g. ``"ridge"``.
    estimator : str
        The scikit-learn class, ``"module:Class"`` (imported when first needed).
    task : {"regression", "classification"}
    objective_params : tuple of str
        The hyper-parameters that define the objective, shown in every label.
    reg_param : str or None
        The hyper-parameter ``--reg`` sets (None: the model is not regularised).
    defaults : mapping
        Constructor arguments of :meth:`make` (flexpoison's default victim).
    tight : mapping
        Solver settings under which scikit-learn's fit is exact to ~1e-12; empty when
        its fit is exact already (a direct solve: ``LinearRegression``'s least squares).
    terms : callable
        ``terms(params, n_classes) -> Terms``: the objective; refuses unsupported
        settings with :class:`~flexpoison.errors.UnsupportedEstimatorError`.
    default_target, default_target_multiclass : str
        The integrity target preset for one output, and for K ≥ 3 outputs.
    examples : tuple of Example
        Settings the contract test suite checks.
    tol_floor : float
        The smallest ``tol`` at which scikit-learn's solver still stops by its own
        criterion (0: any): below ~1e-11 liblinear's coordinate descent runs to
        ``max_iter`` and returns a point far from the optimum, so an oracle that
        tightens :attr:`tight` lowers ``tol`` no further.
    extra_theta : tuple of str
        Fitted attributes that end the public θ after (w, b), e.g. HuberRegressor's
        ``scale_`` (the learner's pinned outputs' intercepts, in that order).
    exact_fit : callable or None
        ``exact_fit(estimator, X, y) -> fitted``: an exact refit for an estimator whose
        solver cannot be tightened through its parameters (None: :meth:`tight_clone`
        fitted); :meth:`fit_tight` chooses.
    has_theta : bool
        Whether the model is a parameter vector θ (every linear victim). False: a
        kernel victim (:mod:`flexpoison.models.kernel`), "decision-value goals only" —
        it accepts the goals of :attr:`goals`, integrity with a ``predict:`` target
        only, has no ``fit_intercept``, and every θ output of a command holds the
        decision values f at the goal's rows instead (:mod:`flexpoison.experiments`).
    default_goal : str
        The goal a command runs when none is named (``integrity``: its default target
        preset applies; ``loss-availability`` for a victim without θ).
    ignored : tuple of str
        Constructor parameters that do not change the optimum, only how scikit-learn's
        solver reaches it (``tol``, ``max_iter``, ``solver`` where every solver has the
        same optimum, ``copy_X``, ``verbose`` …): flexpoison solves exactly whatever
        they say, and :attr:`tight` overrides them for its refits.
    refusals : tuple of Refusal
        The settings flexpoison refuses (each parameter whose other values change the
        objective in a way it does not model), one example each.
    serves : callable or None
        ``serves(params) -> bool`` when several entries share one scikit-learn class:
        whether this entry models an estimator with those parameters (None: every
        estimator of its class). :func:`flexpoison.models.spec_for` takes the first
        entry that serves.
    """

    name: str
    estimator: str
    task: Task
    objective_params: tuple[str, ...]
    reg_param: str | None
    defaults: Mapping[str, Any]
    tight: Mapping[str, Any]
    terms: Callable[[Mapping[str, Any], int | None], Terms] = field(repr=False)
    default_target: str
    default_target_multiclass: str | None = None
    examples: tuple[Example, ...] = ()
    tol_floor: float = 0.0
    extra_theta: tuple[str, ...] = ()
    exact_fit: Callable[[Any, Any, Any], Any] | None = field(default=None, repr=False)
    has_theta: bool = True
    default_goal: str = "integrity"
    ignored: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    serves: Callable[[Mapping[str, Any]], bool] | None = field(default=None, repr=False)

    def applies_to(self, estimator: Any) -> bool:
        """Whether this entry models ``estimator`` (a bare scikit-learn instance): its
        exact class, and :attr:`serves` when given."""
        kind: type = type(estimator)
        if kind.__name__ != self.class_name or kind is not self.estimator_class():
            return False  # the name first: without importing the class of every entry
        params: Mapping[str, Any] = estimator.get_params(deep=False)
        return self.serves is None or bool(self.serves(params))

    @property
    def declared_params(self) -> frozenset[str]:
        """Every constructor parameter this entry declares (see the class docstring)."""
        refused = {key for r in self.refusals for key in r.params}
        return frozenset({*self.objective_params, "fit_intercept", *self.ignored, *refused})

    @property
    def goals(self) -> tuple[str, ...]:
        """The goals (by name) this victim accepts."""
        return (
            ("integrity", "availability", "loss-availability") if self.has_theta else kernel.GOALS
        )

    def goal_problem(self, kind: str, target: object = None) -> str | None:
        """Why this victim cannot run the goal named ``kind`` with ``target`` (None:
        its default preset), in one sentence naming both; None when it can."""
        if self.has_theta:
            return None
        return kernel.goal_problem(kind, target, self.class_name)

    @property
    def class_name(self) -> str:
        return self.estimator.rpartition(":")[2]

    @property
    def metric(self) -> Metric:
        return METRICS[self.task]

    def estimator_class(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(importlib.import_module(module), name)

    def make(self, **params: Any):
        """An unfitted estimator: :attr:`defaults` updated with ``params``."""
        return self.estimator_class()(**{**self.defaults, **params})

    def tight_clone(self, estimator):
        """An unfitted clone of ``estimator`` whose solver runs to (near) machine
        precision, so that its fit reproduces the engine's exact optimum."""
        from sklearn.base import clone

        return clone(estimator).set_params(**self.tight)

    def fit_tight(self, estimator, X, y):
        """``estimator`` (unfitted) fitted on (X, y) to (near) machine precision: with
        :attr:`exact_fit` when the entry has one, else :meth:`tight_clone`'s fit."""
        if self.exact_fit is not None and type(estimator) is self.estimator_class():
            return self.exact_fit(estimator, X, y)
        return self.tight_clone(estimator).fit(X, y)

    def label(self, estimator) -> str:
        """``Ridge(alpha=1)``: the class with the hyper-parameters that define its
        objective (shown even at their defaults), and ``fit_intercept=False`` if so."""
        params = estimator.get_params(deep=False)
        shown = [f"{key}={_fmt(params[key])}" for key in self.objective_params if key in params]
        if params.get("fit_intercept") is False:
            shown.append("fit_intercept=False")
        return f"{self.class_name}({', '.join(shown)})"

    @property
    def default_label(self) -> str:
        """The label of :meth:`make`'s estimator, without importing scikit-learn."""
        shown = [
            f"{key}={_fmt(self.defaults[key])}"
            for key in self.objective_params
            if key in self.defaults
        ]
        return f"{self.class_name}({', '.join(shown)})"

    def target_preset(self, n_outputs: int) -> str:
        """The default integrity target for a model with ``n_outputs`` score rows."""
        if n_outputs > 1 and self.default_target_multiclass is not None:
            return self.default_target_multiclass
        return self.default_target


def _fmt(value) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


__all__ = ["Task", "Metric", "METRICS", "Example", "Refusal", "ModelSpec"]

"""Exceptions raised by flexpoison.

Every refusal is one of these, with a message that names the offending argument,
feature or estimator setting. They subclass :class:`ValueError` where the problem is a
bad value, so ``except ValueError`` keeps working for callers that do not care.
"""

from __future__ import annotations


class FlexPoisonError(Exception):
    """Base class of every error flexpoison raises on purpose."""


class InvalidInputError(FlexPoisonError, ValueError):
    """An argument or a data array is malformed (NaN/inf, wrong shape, out of range, ...)."""


class UnsupportedEstimatorError(FlexPoisonError, ValueError):
    """The victim estimator, or one of its settings, is not supported."""


class SingularHessianError(FlexPoisonError, ArithmeticError):
    """The learner's Hessian is singular, so its optimum (and gradient) is not unique."""


class FlexPoisonWarning(UserWarning):
    """A result that should not be trusted as it stands (an attack that barely moved
    the model, made it worse, or ran out of iterations): see ``AttackResult.warnings``."""


class ConvergenceError(FlexPoisonError, ArithmeticError):
    """A solver could not reach the learner's optimum (the problem is too badly
    conditioned in float64)."""

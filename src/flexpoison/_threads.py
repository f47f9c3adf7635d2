"""One BLAS thread for the attack's many small dense solves.

An attack factors and solves systems of the model's size (tens to hundreds of
coefficients) thousands of times. A multi-threaded BLAS gains nothing on systems that
small, and on a busy machine its threads wait for each other: with OpenBLAS's two
threads on a loaded 2-core machine a 100 × 100 solve took 158 ms against 0.35 ms on
one thread, and an L1-penalised attack on the house data (300 × 274 rows, 2 points) ran 134 s
against 21 s. :func:`small_problem` says where one thread is the better choice; large
problems keep the BLAS's own setting, where its threads pay on products over many rows
or thousands of features.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

#: Past this many features, or values in X, the products are large enough that the
#: BLAS's threads may pay.
MAX_FEATURES = 1000
MAX_VALUES = 10_000_000

F = TypeVar("F", bound=Callable[..., Any])

_CONTROLLER: list = []  # the one threadpoolctl controller, made on first use


def one_blas_thread():
    """A context in which BLAS/LAPACK run on one thread, by one threadpoolctl controller
    made on first use: building a controller scans the process's libraries (about 5 ms
    a time, which ``threadpool_limits`` pays on every call: 10 ms of a 330 ms attack on
    50,000 × 20 logistic rows), limiting with it costs 0.02 ms."""
    from threadpoolctl import ThreadpoolController

    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def small_problem(n_rows: int, n_features: int) -> bool:
    """Whether an attack on n_rows × n_features data runs on one BLAS thread:
    n_features ≤ :data:`MAX_FEATURES` and n_rows·n_features ≤ :data:`MAX_VALUES`."""
    return n_features <= MAX_FEATURES and n_rows * n_features <= MAX_VALUES


def one_blas_thread_when_small(method: F) -> F:
    """Run ``method(self, X, …)`` with the BLAS limited to one thread when X's shape is a
    :func:`small_problem` (X of any shape that numpy can read; anything else is left to
    the method's own checks)."""

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            shape = np.shape(X)
        except (TypeError, ValueError):  # ragged input: the method names the problem
            shape = ()
        if len(shape) != 2 or not small_problem(int(shape[0]), int(shape[1])):
            return method(self, X, *args, **kwargs)
        with one_blas_thread():
            return method(self, X, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


__all__ = [
    "small_problem",
    "one_blas_thread",
    "one_blas_thread_when_small",
    "MAX_FEATURES",
    "MAX_VALUES",
]

"""A certificate on an integrity attack's result: the fewest rows that reach θ_poisoned."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..attack.result import AttackResult, CertifiedRows
from ..errors import UnsupportedEstimatorError
from ._certificate import Certificate, points_needed


def certify_result(result: AttackResult, *, max_iter: int = 100) -> AttackResult:
    """``result`` with :attr:`~flexpoison.attack.AttackResult.certificate` filled:
    :func:`points_needed` for θ_t = θ_poisoned on the clean rows the attack was given,
    over its feasible box (``result.lower``, ``result.upper``; integer, frozen and
    one-hot constraints relaxed to it, which keeps the bound valid).

    θ_poisoned is the exact optimum on the clean rows and the m crafted rows, so the
    bound is at most m (the efficiency at most 1); it says how many of the m rows any
    attack in the same box would have needed at least. Where no certificate applies
    (not an integrity goal, a pipeline, a kernel machine, no poison row) the
    certificate's ``lower_bound`` is None and its ``reason`` says why. Cost: 1 to
    11 s per call (10 to 55 features, 250 to 400 rows: the search's L-BFGS ascent,
    100 evaluations by default, and its first-order direction, a level bundle method
    of at most 600 rounds; ``max_iter=0``: the scan alone, about 0.2 s, a lower bound
    2–10× lower).
    """
    m = result.n_points
    started = time.perf_counter()
    reason = _not_certifiable(result)
    if reason is not None:
        return replace(result, certificate=CertifiedRows(None, m, reason))
    try:
        certificate = bound_in_box(result, result.theta_poisoned, max_iter)
    except UnsupportedEstimatorError as exc:
        return replace(result, certificate=CertifiedRows(None, m, str(exc)))
    seconds = time.perf_counter() - started
    bound = CertifiedRows(float(certificate.lower_bound), m, None, seconds)
    return replace(result, certificate=bound)


def bound_in_box(result: AttackResult, theta, max_iter: int = 100) -> Certificate:
    """:func:`points_needed` for θ_t = ``theta`` on the clean rows ``result``'s attack
    was given, over its feasible box (``result.lower``, ``result.upper``)."""
    return points_needed(
        result.estimator,
        result.X_clean,
        result.y_clean,
        np.asarray(theta, dtype=float),
        n_sigma=None,
        bounds=(np.asarray(result.lower, float), np.asarray(result.upper, float)),
        max_iter=max_iter,
    )


def _not_certifiable(result: AttackResult) -> str | None:
    """Why ``result`` cannot carry a certificate, or None."""
    if result.goal != "integrity":
        return f"the {result.goal} goal has no target model to certify"
    if result.n_points == 0:
        return "no poison row"
    if result.estimator is None or result.X_clean is None or result.y_clean is None:
        return "the result does not carry the victim and its clean rows"
    return None

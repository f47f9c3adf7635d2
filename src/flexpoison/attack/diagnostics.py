"""Why an attack cannot start (the reasons behind a singular training objective), and
what a large one will cost."""

from __future__ import annotations

import numpy as np


def why_singular(X: np.ndarray, fit_intercept: bool, feature_names: list[str] | None = None) -> str:
    """Why a learner's Hessian on the rows X is (numerically) singular, and the remedy:
    fewer rows than parameters, collinear features (the standardised design, with the
    intercept's column, is rank deficient: smallest singular value ≤ 1e-8 of the
    largest), or else features on scales that leave float64 without the precision to
    tell the directions apart."""
    n, d = X.shape
    p = d + fit_intercept
    if n < p:
        return (
            f"the training rows ({n}) are fewer than the model's parameters ({p}), so "
            "it is not unique; add rows or an L2 penalty"
        )
    mean, sigma = X.mean(axis=0), X.std(axis=0)
    Z = (X - mean) / np.where(sigma > 0, sigma, 1.0)
    if fit_intercept:
        Z = np.column_stack([Z, np.ones(n)])
    singular = np.linalg.svd(Z, compute_uv=False)
    if singular[-1] <= 1e-8 * singular[0]:
        return (
            "its features are collinear (a feature is a linear combination of others, "
            "e.g. a duplicated column), so the model is not unique; remove redundant "
            "features or add an L2 penalty"
        )

    def name(j: int) -> str:
        return repr(feature_names[j]) if feature_names else f"feature {j}"

    spread = (
        name(int(np.argmin(sigma))),
        float(sigma.min()),
        name(int(np.argmax(sigma))),
        float(sigma.max()),
    )
    return (
        "its features are not collinear but their scales leave float64 without "
        f"the precision to solve it (σ from {spread[1]:.3g} for {spread[0]} to "
        f"{spread[3]:.3g} for {spread[2]}, largest |mean| {np.max(np.abs(mean)):.3g}); "
        "standardise the features (--standardize on the command line, or a "
        "StandardScaler) and attack again"
    )


#: A problem whose clean fit takes this long, or whose attack holds this many bytes,
#: is announced before its first point (:func:`cost_note`).
SLOW_SECONDS, LARGE_BYTES = 5.0, 1e9


def cost_note(n: int, d: int, n_coef: int, seconds: float) -> str | None:
    """What a large attack will cost, said before its first point: the clean fit's
    measured time and the memory the attack holds — its rows (X, the features with an
    intercept, scores: about 4·n·d floats) and its p × p matrices (Hessian, factor,
    inverse: about 8·p², p the coefficients) — or None for a small problem."""
    held = 8.0 * (4.0 * n * d + 8.0 * n_coef * n_coef)
    if seconds < SLOW_SECONDS and held < LARGE_BYTES:
        return None
    return (
        f"a large problem: {n:,} rows × {d:,} features, {n_coef:,} coefficients; the clean "
        f"fit took {seconds:.1f} s and the attack holds about {held / 1e9:.1f} GB; each "
        "point needs tens of warm-started solves, so points may take minutes (progress "
        "follows per point)"
    )


__all__ = ["why_singular", "cost_note", "SLOW_SECONDS", "LARGE_BYTES"]

"""Third-order sums of a smooth loss over rows, and the cubic model of Σ ℓ they make.

The local model of :mod:`flexpoison.engine.local` reads, for rows expanded about
scores of their own, the sums

    S = Σ_i D2_i ⊗ φ_iφ_iᵀ,   T = Σ_i ℓ‴(z_i) ⊗ φ_i ⊗ φ_i ⊗ φ_i,

formed here in one pass (:func:`centred_terms`); :class:`CubicSums` is the cubic
Taylor model of Σ_i ℓ(Θφ_i, t_i) and its gradient those sums give about a reference
Θ_r (the attack's loss effect on the training rows, answered without a pass over them).
"""

from __future__ import annotations

from contextlib import nullcontext
from itertools import combinations_with_replacement, product

import numpy as np

from .._threads import one_blas_thread
from .losses import Loss, declared

_FEW = 64  # rows up to which T's share is one product (n·p³), not one per feature
ROW_BLOCK = 4096  # rows per block when T is formed (cached: 4096·p floats and a weighted copy)


def _gram_and_cubes(
    Phi: np.ndarray, D2: np.ndarray | None, D3: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """S = Σ_i D2_i ⊗ φ_iφ_iᵀ (None without D2) and T = Σ_i D3_i ⊗ φ_i ⊗ φ_i ⊗ φ_i,
    D2 (n, K, K) and D3 (n, K, K, K) symmetric weights, flattened like θ, in one pass.

    For one index triple (k, l, m) of D3 the cube Σ_i D3_i,klm·φ_ia·φ_ib·φ_ic is
    symmetric in (a, b, c): its entries with a = min(a, b, c) are, for each a, the
    matrix product Φ_{≥a}ᵀ·diag(D3_klm·φ_a)·Φ_{≥a} (columns a…p−1), about n·p³/3
    multiply-adds in all, taken over blocks of rows (their transposes contiguous, so
    that each product is one BLAS call on cached rows); the rest by symmetry. The
    products are small, and run on one BLAS thread: on a busy 2-core machine two
    threads took 90 s for 2·10⁵ × 51 rows, one 3.4 s."""
    n, p = Phi.shape
    K = D3.shape[1]
    triples = list(combinations_with_replacement(range(K), 3))
    doubles = list(combinations_with_replacement(range(K), 2))
    heads = [[np.zeros((p - a, p - a)) for a in range(p)] for _ in triples]
    grams = [np.zeros((p, p)) for _ in doubles]
    with one_blas_thread() if n > _FEW else nullcontext():
        for start in range(0, n, ROW_BLOCK):
            QT = np.ascontiguousarray(Phi[start : start + ROW_BLOCK].T)
            for j, (k, l, m) in enumerate(triples if n > _FEW else ()):
                WT = QT * D3[start : start + ROW_BLOCK, k, l, m]
                for a, head in enumerate(heads[j]):
                    head += (WT[a:] * QT[a]) @ QT[a:].T
            if D2 is not None:
                for j, (k, l) in enumerate(doubles):
                    grams[j] += (QT * D2[start : start + ROW_BLOCK, k, l]) @ QT.T
    cubes = []
    for j, blocks in enumerate(heads):
        if n <= _FEW:  # a few rows (a kept candidate, a recentring): one product
            k, l, m = triples[j]
            pairs = (Phi[:, :, None] * Phi[:, None, :]).reshape(n, p * p)
            cubes.append(((Phi * D3[:, k, l, m, None]).T @ pairs).reshape(p, p, p))
            continue
        cube = np.empty((p, p, p))
        for a, head in enumerate(blocks):
            cube[a, a:, a:] = head
            cube[a:, a, a:] = head
            cube[a:, a:, a] = head
        cubes.append(cube)
    position = {triple: j for j, triple in enumerate(triples)}
    T = np.empty((K, p, K, p, K, p))
    for k, l, m in product(range(K), repeat=3):
        low, mid, high = sorted((k, l, m))
        T[k, :, l, :, m, :] = cubes[position[low, mid, high]]
    if D2 is None:
        return None, T.reshape(K * p, K * p, K * p)
    S = np.empty((K, p, K, p))
    for j, (k, l) in enumerate(doubles):
        S[k, :, l, :] = grams[j]
        S[l, :, k, :] = grams[j]
    return S.reshape(K * p, K * p), T.reshape(K * p, K * p, K * p)


def third_sums(loss: Loss, Phi: np.ndarray, t: np.ndarray, Theta: np.ndarray) -> np.ndarray:
    """T = Σ_i ℓ‴(z_i) ⊗ φ_i ⊗ φ_i ⊗ φ_i at Θ, shape (K·p, K·p, K·p) (flattened like θ)."""
    E = np.empty((Phi.shape[0],) + (Theta.shape[0],) * 3)
    d3 = declared(loss, "d3")
    for start in range(0, Phi.shape[0], ROW_BLOCK):
        E[start : start + ROW_BLOCK] = d3(
            Phi[start : start + ROW_BLOCK] @ Theta.T, t[start : start + ROW_BLOCK]
        )
    return _gram_and_cubes(Phi, None, E)[1]


def centred_terms(
    loss: Loss, Phi: np.ndarray, t: np.ndarray, Z: np.ndarray, Z_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The share in the model's sums at Θ_c of rows expanded about their scores Z
    (n, K) (their scores at Θ_c: Z_c): each row's Hessian term is modelled as
    ℓ''(z) + ℓ‴(z)·(z' − z) at scores z', so at Θ_c

        S = Σ_i [ℓ''(z_i) + ℓ‴(z_i)·(z_c,i − z_i)] ⊗ φ_iφ_iᵀ,   T = Σ_i ℓ‴(z_i) ⊗ φ_i ⊗ φ_i ⊗ φ_i.

    Rows need not share a centre: a row re-expanded about new scores changes S and T
    by its new terms minus its old ones (:meth:`LocalModel.extended`)."""
    d3 = declared(loss, "d3")(Z, t)
    D2 = loss.d2(Z, t) + np.einsum("iklm,im->ikl", d3, Z_c - Z)
    S, T = _gram_and_cubes(Phi, D2, d3)
    assert S is not None
    return S, T


class CubicSums:
    """F(θ) = Σ_i ℓ(Θφ_i, t_i) and ∇F, modelled about θ_r to third order:

        F(θ_r + Δ) ≈ F_r + G·Δ + ½·ΔᵀSΔ + ⅙·T[Δ, Δ, Δ],   ∇F ≈ G + S·Δ + ½·T[Δ, Δ],

    with F_r, G exact at θ_r and S, T the rows' modelled Hessian sums there and their
    third derivative sums (a row's error is its quartic Taylor term, within the local
    model's radius O((c·δ)²) of its share of F's change; :mod:`flexpoison.engine.local`).
    Calling it with Θ (K, p) returns (F, ∇F of shape (K, p)) in O((K·p)³)."""

    __slots__ = ("theta_ref", "F", "G", "S", "T")

    def __init__(
        self, theta_ref: np.ndarray, F: float, G: np.ndarray, S: np.ndarray, T: np.ndarray
    ):
        self.theta_ref, self.F, self.G, self.S, self.T = theta_ref, F, G, S, T

    def __call__(self, Theta: np.ndarray) -> tuple[float, np.ndarray]:
        delta = Theta.ravel() - self.theta_ref
        Td = self.T.dot(delta)  # T[Δ]
        SdTd = self.S.dot(delta) + 0.5 * Td.dot(delta)  # S·Δ + ½T[Δ, Δ]
        value = self.F + float(delta @ (self.G + 0.5 * self.S.dot(delta) + Td.dot(delta) / 6.0))
        return value, (self.G + SdTd).reshape(Theta.shape)


__all__ = ["CubicSums", "centred_terms", "third_sums"]

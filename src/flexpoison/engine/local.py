"""A smooth loss's kept rows to third order, one candidate row exact: trials in O((K·p)³).

For a loss without sufficient statistics (logistic, softmax, the log-link GLMs) an
exact θ_p needs passes over all n rows kept. The attack's trial rows need not. With
the kept rows' loss sums taken at a centre Θ_c (each row expanded about its own
scores c_i, at first those at Θ_c: see Cost below),

    S = Σ_i [ℓ''(c_i) + ℓ'''(c_i)·(Θ_cφ_i − c_i)] ⊗ φ_iφ_iᵀ,   T = Σ_i ℓ'''(c_i) ⊗ φ_i ⊗ φ_i ⊗ φ_i,

and their gradient sums G_r = Σ_i ℓ'(z_i(Θ_r)) ⊗ φ_i formed exactly at a reference
Θ_r near Θ_c, the gradient sums and the Hessian sums at θ = θ_r + Δ are modelled as

    G(θ) ≈ G_r + S_r·Δ + ½·T[Δ, Δ],   H(θ) ≈ S_r + T[Δ],   S_r = S + T[θ_r − θ_c].

With s = s(N) on N rows (the kept ones and a candidate (φ, t)), A = s·S_r + Λ₂ and
g_r = s·G_r + Λ₂θ_r, the stationarity condition is solved in two steps: a K-dimensional
root for the candidate's quadratic part, then one Newton step on the cubic model. The
steps, the trust bound that decides when a trial is the model's, and the cost are
derived on the documentation's maths page ("The local model of a smooth loss").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import SingularHessianError
from .adjoint import SolvedAdjoint
from .data import LossSums, RowData
from .learner import Learner
from .linalg import CholeskyFactor, cholesky
from .losses import Loss, declared
from .taylor import ROW_BLOCK, CubicSums, centred_terms

# T holds (K·p)³ floats: past this many (16 MB), forming it costs more than the Newton
# solves it saves (50 classes × 6 coefficients: 27 M floats, 85 s to form).
_MAX_T = 2_000_000


def _scalar_d12(loss: Loss) -> Callable[[float, float], tuple[float, float]]:
    """(ℓ'(z, t), ℓ''(z, t)) of a one-output loss at scalars, by its array methods
    (for a loss that does not declare ``scalar_d12``)."""
    z_arr, t_arr = np.empty((1, 1)), np.empty(1)

    def d12(z: float, t: float) -> tuple[float, float]:
        z_arr[0, 0], t_arr[0] = z, t
        return float(loss.d1(z_arr, t_arr)[0, 0]), float(loss.d2(z_arr, t_arr)[0, 0, 0])

    return d12


def root_floor(size0: float, lipschitz: float, spread: float) -> float:
    """A lower bound on ‖r‖_M = √(rᵀM·r) at the root of r = ℓ'(z₀ − M·r) from its
    start r₀ = ℓ'(z₀) alone: ‖r₀‖_M / (1 + L·μ), ``size0`` = ‖r₀‖_M, ``lipschitz``
    L ≥ the largest eigenvalue of ℓ'' anywhere and ``spread`` μ ≥ that of M (M
    symmetric positive semi-definite).

    With N = M^½ and v = N·r the root is v* = h(v*), h(v) = N·ℓ'(z₀ − N·v), and
    v₀ = N·r₀ = h(0). h is L·μ-Lipschitz (‖N‖² = μ), so ‖v₀ − v*‖ ≤ L·μ·‖v*‖ and
    ‖v₀‖ ≤ (1 + L·μ)·‖v*‖: ‖r*‖_M = ‖v*‖ ≥ ‖v₀‖/(1 + L·μ), with equality for a
    linear ℓ' of slope L where M·r₀ is along M's top eigenvector."""
    return size0 / (1.0 + lipschitz * spread)


class ModelHessian(SolvedAdjoint):
    """The factor of the model's Hessian at θ_r + Δ with the candidate,
    A + s·T[Δ] + s·ℓ''(z_p) ⊗ φφᵀ, formed on the first solve; where T[Δ] makes it
    indefinite (far outside the radius) the quadratic model's A + s·ℓ''(z_p) ⊗ φφᵀ
    is used instead."""

    __slots__ = ("_model", "_delta", "_phi", "_D", "_factor")

    def __init__(self, model: LocalModel, delta: np.ndarray, phi: np.ndarray, D: np.ndarray):
        self._model, self._delta, self._phi, self._D = model, delta, phi, D
        self._factor: CholeskyFactor | None = None

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self._factor is None:
            model = self._model
            try:
                H = model._hessian(self._delta, self._phi, self._D)
                self._factor = cholesky(H, model.learner.name)
            except SingularHessianError:
                H = model._hessian(np.zeros_like(self._delta), self._phi, self._D)
                self._factor = cholesky(H, model.learner.name)
        return self._factor.solve(b)


class LocalTrial:
    """θ_p of the model for one candidate: ``Theta`` (K, p), ``factor`` the Cholesky
    factor of the model's Hessian there, ``bound`` the bound c·δ on the model's reach
    and ``error`` the estimate ρ² of θ_p's error relative to its move (module
    docstring). Beyond the radius the cubic step is skipped: ``Theta`` is θ₁,
    ``factor`` None and ``error`` infinite; where the root's floor already lies beyond
    it (:func:`root_floor`) the root is not found either: ``Theta`` is None and
    ``bound`` that floor's."""

    __slots__ = ("Theta", "factor", "bound", "error")

    def __init__(
        self, Theta: np.ndarray | None, factor: ModelHessian | None, bound: float, error: float
    ):
        self.Theta, self.factor, self.bound, self.error = Theta, factor, bound, error

    @property
    def trusted(self) -> bool:
        """Whether the bound is within :attr:`LocalModel.RADIUS` and the estimated
        error within :attr:`LocalModel.ACCURACY`."""
        return self.bound <= LocalModel.RADIUS and self.error <= LocalModel.ACCURACY


class _Scores:
    """The kept rows' scores at the centre, (capacity, K), with room for rows to come
    (extended by one chain of models, like :class:`~flexpoison.engine.data.RowData`)."""

    __slots__ = ("z", "used")

    def __init__(self, z: np.ndarray, used: int):
        self.z, self.used = z, used

    @classmethod
    def of(cls, Z: np.ndarray) -> _Scores:
        n = Z.shape[0]
        out = cls(np.empty((n + 1 + max(16, n // 4), Z.shape[1])), n)
        out.z[:n] = Z
        return out

    def append(self, n: int, z: np.ndarray) -> _Scores:
        """The scores of the first n rows plus z (in place when possible)."""
        out = _Scores.of(self.z[:n]) if self.used != n or self.z.shape[0] == n else self
        out.z[n] = z
        out.used = n + 1
        return out


class LocalModel:
    """The model of a smooth loss's kept rows (module docstring), for one training set.

    Build it with :meth:`for_data`; :meth:`trial` answers a candidate row whatever n
    (``trusted`` within the radius); :meth:`solve` gives the exact optimum with a row,
    and :meth:`extended` the model of the rows with it.
    """

    #: Largest bound c·δ on the model's reach that a trusted trial may have.
    RADIUS = 1.0
    #: Largest estimated error of θ_p relative to its move (ρ²) a trusted trial may have.
    ACCURACY = 1e-5
    #: A Newton step of the exact solve below this size relative to θ ends it (taken:
    #: the error left is the step times the model Hessian's relative error, at most
    #: ~(c·δ)² ≤ 0.25 within the refresh radius, so ≤ 2.5e-9 relative and ~1e-12 in
    #: practice).
    TOL = 1e-8
    MAX_STEPS = 30

    def __init__(
        self,
        learner: Learner,
        data: RowData,
        centre: tuple[np.ndarray, np.ndarray, np.ndarray, _Scores] | None,
        Theta_ref: np.ndarray,
        G_ref: np.ndarray,
        drift: float,
        leverage: float | None,
    ):
        self.learner, self.data = learner, data
        # (Θ_c, S, T, the rows' scores at Θ_c); None: formed at Θ_r when first needed
        self.centre = centre
        self.Theta_ref, self.G_ref, self.drift = Theta_ref, G_ref, drift
        self.rate = float(declared(learner.loss, "curvature_rate"))
        self.n = data.n + 1  # rows trained on with a candidate
        self._s = learner.scale(self.n)
        self.leverage = leverage
        self._ready = False

    def _prepare(self) -> None:
        """Form what the trials read (once): the centre's sums if pending, A's
        factor, θ_0 and λ² (a model that is never asked costs only its pass)."""
        if self._ready:
            return
        learner, Theta_ref, G_ref = self.learner, self.Theta_ref, self.G_ref
        if self.centre is None:
            self.centre = self._centre_at(learner, self.data, Theta_ref)
        Theta_c, S, T, _ = self.centre
        self._T = T
        S_ref = S + T.dot((Theta_ref - Theta_c).ravel())
        self._S_ref = S_ref
        _, g_ref, A = learner.from_sums(LossSums(np.nan, G_ref, S_ref), self.n, Theta_ref)
        assert A is not None
        self._A = A
        self._factor = cholesky(A, learner.name)
        offset = self._factor.solve(g_ref)
        self._Theta0 = Theta_ref - offset.reshape(Theta_ref.shape)
        self._offset = float(np.sqrt(max(0.0, float(offset @ g_ref))))  # ‖θ_0 − θ_r‖_A
        K = Theta_ref.shape[0]
        # the score directions the bound measures: e_k, or e_k − 1/K (shift invariant)
        self._C = np.eye(K) - (1.0 / K if declared(learner.loss, "shift_invariant") else 0.0)
        self._eye = np.eye(K)
        self._theta_ref = Theta_ref.ravel()
        self._d12 = declared(learner.loss, "scalar_d12") or _scalar_d12(learner.loss)
        self._lipschitz = declared(learner.loss, "curvature_max")  # None: never skipped
        if self.leverage is None:
            self.leverage = self._leverage()  # λ²
        self._ready = True

    @classmethod
    def applies(cls, learner: Learner) -> bool:
        """Whether the model serves this learner: a smooth loss that declares its
        ``curvature_rate`` and ``d3``, no L1 term and no pinned outputs."""
        loss = learner.loss
        return (
            declared(loss, "curvature_rate") is not None
            and declared(loss, "d3") is not None
            and learner.l1 == 0
            and not learner.pinned_rows
        )

    @classmethod
    def for_data(cls, learner: Learner, data: object, Theta: np.ndarray) -> LocalModel | None:
        """The model of ``data``'s rows centred at ``Theta`` (one pass over them), or
        None where it does not apply."""
        if not isinstance(data, RowData) or not cls.applies(learner):
            return None
        if Theta.size**3 > _MAX_T:  # T too large to pay: the Newton solver alone
            return None
        loss = learner.loss
        G = loss.d1(data.Phi @ Theta.T, data.t).T @ data.Phi
        return cls(learner, data, None, Theta, G, 0.0, None)

    @staticmethod
    def _centre_at(
        learner: Learner, data: RowData, Theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Scores]:
        """(Θ, S, T, the rows' scores) at ``Theta``: every row expanded about Θ."""
        Z = data.Phi @ Theta.T
        S, T = centred_terms(learner.loss, data.Phi, data.t, Z, Z)
        return Theta, S, T, _Scores.of(Z)

    def _leverage(self) -> float:
        """λ² = max_{i,k} (c_k ⊗ φ_i)ᵀA⁻¹(c_k ⊗ φ_i) over the kept rows (one pass, by
        blocks of rows still in cache: on 10⁶ × 51 rows 0.38 s, 0.62 s in one product)."""
        Phi = self.data.Phi
        if Phi.shape[0] == 0:
            return 0.0
        K, p = self.Theta_ref.shape
        Ainv = self._factor.solve(np.eye(K * p)).reshape(K, p, K, p)
        Q = np.einsum("kl,lamb,km->kab", self._C, Ainv, self._C)
        blocks = [Phi[i : i + ROW_BLOCK] for i in range(0, Phi.shape[0], ROW_BLOCK)]
        return max(
            float(np.max(np.einsum("ij,ij->i", P @ Q[k], P))) for k in range(K) for P in blocks
        )

    def _candidate(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B = s·A⁻¹[e_k ⊗ φ] (Kp, K) and M = [e_k ⊗ φ]ᵀB (K, K) for the row φ."""
        self._prepare()
        assert self.leverage is not None
        K, p = self.Theta_ref.shape
        if K == 1:
            b = self._factor.solve(self._s * phi)
            return b[:, None], np.array([[phi.dot(b)]])
        E = np.zeros((K * p, K))
        for k in range(K):
            E[k * p : (k + 1) * p, k] = self._s * phi
        B = self._factor.solve(E)
        return B, np.einsum("a,kal->kl", phi, B.reshape(K, p, K))

    def _hessian(self, delta: np.ndarray, phi: np.ndarray, D: np.ndarray) -> np.ndarray:
        """The model's Hessian at θ_r + Δ with the candidate: A + s·T[Δ] + s·D ⊗ φφᵀ."""
        s = self._s
        K = D.shape[0]
        H = self._A + s * self._T.dot(delta)
        if K == 1:
            H += (s * D[0, 0]) * np.outer(phi, phi)
        else:  # s·D ⊗ φφᵀ (np.kron costs ~40 µs a call)
            p = phi.shape[0]
            H += (s * D[:, None, :, None] * np.outer(phi, phi)[None, :, None, :]).reshape(
                K * p, K * p
            )
        return H

    def _bound(self, move: float) -> float:
        """The bound c·δ on the model's reach for a move ‖θ − θ_r‖_A of at most
        ``move`` (module docstring): c·(drift + λ·move)."""
        assert self.leverage is not None  # set by _prepare
        return self.rate * (self.drift + math.sqrt(self.leverage) * move)

    def _beyond(self, size0: float, spread: float) -> float | None:
        """The bound with the root's ‖r‖_M at its floor (:func:`root_floor`; ``size0``
        = √(s·r₀ᵀM r₀), ``spread`` ≥ M's largest eigenvalue) where that floor already
        puts the trial past the radius, else None (also where the loss states no
        ``curvature_max``). The root found stops within 1e-8 of r (relative), so a
        floor past the radius by 1e-6 of it is past it for the root found too: the
        trial it skips is one the root would have left untrusted."""
        if self._lipschitz is None:
            return None
        bound = self._bound(self._offset + root_floor(size0, self._lipschitz, spread))
        return bound if bound > self.RADIUS * (1.0 + 1e-6) else None

    def _woodbury(
        self, b: np.ndarray, B: np.ndarray, DW: np.ndarray, phi: np.ndarray
    ) -> np.ndarray:
        """(A + s·D ⊗ φφᵀ)⁻¹b = y − B·DW·[e_k ⊗ φ]ᵀy, y = A⁻¹b, DW = D·(I + M·D)⁻¹
        (Woodbury)."""
        y = self._factor.solve(b)
        return y - B @ (DW @ (y.reshape(DW.shape[0], -1) @ phi))

    def _trial_one(self, phi: np.ndarray, t: float) -> LocalTrial | None:
        """:meth:`trial` for one output (K = 1), in scalars: the same steps, without
        the K × K algebra's array calls (half the cost of a trial)."""
        s = self._s
        d12 = self._d12
        b = self._factor.solve(s * phi)  # B
        m = float(phi.dot(b))  # M
        z0 = float(self._Theta0[0].dot(phi))
        r = d12(z0, t)[0]
        beyond = self._beyond(math.sqrt(max(0.0, s * r * r * m)), m)
        if beyond is not None:  # untrusted whatever the root: not found
            return LocalTrial(None, None, beyond, math.inf)
        # F(r) = r − ℓ'(z₀ − m·r) rises (F' = 1 + m·ℓ'' ≥ 1): Newton, kept inside the
        # bracket of the iterates seen on either side of the root (bisection where a
        # step would leave it: a far candidate's sigmoid makes plain Newton cycle)
        low, high = -math.inf, math.inf
        for _ in range(100):
            d1, d2 = d12(z0 - m * r, t)
            F = r - d1
            if F > 0.0:
                high = min(high, r)
            elif F < 0.0:
                low = max(low, r)
            new = r - F / (1.0 + d2 * m)
            if not low < new < high and math.isfinite(low) and math.isfinite(high):
                new = 0.5 * (low + high)
            dr, r = new - r, new
            if abs(dr) <= 1e-8 * (1.0 + abs(r)):
                break  # Newton converges quadratically: r is now exact to ~1e-15
        else:
            return None
        theta = self._Theta0[0] - b * r
        bound = self._bound(self._offset + math.sqrt(max(0.0, s * r * r * m)))
        if bound > self.RADIUS:
            return LocalTrial(theta[None], None, bound, math.inf)
        delta = theta - self._theta_ref
        sT = s * self._T.dot(delta)
        step = 0.5 * sT.dot(delta)
        w = d2 / (1.0 + m * d2)  # D·(I + M·D)⁻¹
        y = self._factor.solve(step)
        correction = y - b * (w * float(y.dot(phi)))
        y = self._factor.solve(step - sT.dot(correction))
        correction = y - b * (w * float(y.dot(phi)))
        theta = theta - correction
        if not math.isfinite(float(np.abs(theta).max())):
            return None
        share = float(np.abs(correction).max()) / max(float(np.abs(delta).max()), 1e-300)
        D = np.array([[d12(float(theta.dot(phi)), t)[1]]])
        factor = ModelHessian(self, theta - self._theta_ref, phi, D)
        return LocalTrial(theta[None], factor, bound, share * share)

    def trial(self, phi: np.ndarray, t: float) -> LocalTrial | None:
        """θ_p of the model with the candidate (φ, t) added (module docstring), or None
        if the K-dimensional root was not found in 50 Newton steps. The cubic step
        solves with J = J₀ + s·T[Δ₁] by one Neumann step on J₀ = A + s·ℓ''(z₁) ⊗ φφᵀ
        (Woodbury on A's factor: no new factorisation; the error left, O(δ²) of the
        step, is below the quartic term's); the model's Hessian at θ_p is factored
        when the gradient asks (line-search trials do not). One output takes the same
        steps in scalars (:meth:`_trial_one`)."""
        K, p = self.Theta_ref.shape
        if K == 1:
            self._prepare()
            return self._trial_one(phi, t)
        loss = self.learner.loss
        B, M = self._candidate(phi)
        z0 = self._Theta0 @ phi
        t_arr = np.array([t])
        r = loss.d1(z0[None], t_arr)[0]
        # M's largest eigenvalue is at most its largest absolute row sum (M symmetric)
        size0 = math.sqrt(max(0.0, self._s * float(r @ M @ r)))
        beyond = self._beyond(size0, float(np.abs(M).sum(axis=1).max()))
        if beyond is not None:  # untrusted whatever the root: not found
            return LocalTrial(None, None, beyond, math.inf)
        for _ in range(50):
            z = z0 - M @ r
            F = r - loss.d1(z[None], t_arr)[0]
            D = loss.d2(z[None], t_arr)[0]
            dr = np.linalg.solve(self._eye + D @ M, F)
            r = r - dr
            if np.abs(dr).max() <= 1e-8 * (1.0 + np.abs(r).max()):
                break  # Newton converges quadratically: r is now exact to ~1e-15
        else:
            return None
        theta = self._Theta0.ravel() - B @ r
        # ‖θ₁ − θ_r‖_A ≤ ‖θ_0 − θ_r‖_A + √(s·rᵀM r)
        bound = self._bound(self._offset + math.sqrt(max(0.0, self._s * float(r @ M @ r))))
        if bound > self.RADIUS:  # untrusted whatever the cubic step: θ₁ is its answer
            return LocalTrial(theta.reshape(K, p), None, bound, math.inf)
        delta = theta - self._theta_ref
        sT = self._s * self._T.dot(delta)  # s·T[Δ₁]
        step = 0.5 * sT.dot(delta)  # the cubic model's residual at θ₁, s/2·T[Δ₁, Δ₁]
        # J⁻¹·residual, J = J₀ + s·T[Δ₁], by one Neumann step on J₀ = A + s·ℓ''(z₁) ⊗ φφᵀ
        DW = D @ np.linalg.inv(self._eye + M @ D)
        correction = self._woodbury(step, B, DW, phi)
        correction = self._woodbury(step - sT.dot(correction), B, DW, phi)
        theta = theta - correction
        top = np.abs(theta).max()
        if not math.isfinite(top):
            return None
        # the cubic term's share of the move, squared: the quartic term's, estimated
        share = np.abs(correction).max() / max(np.abs(delta).max(), 1e-300)
        z = theta.reshape(K, p) @ phi
        factor = ModelHessian(self, theta - self._theta_ref, phi, loss.d2(z[None], t_arr)[0])
        return LocalTrial(theta.reshape(K, p), factor, bound, float(share * share))

    def solve(
        self, phi: np.ndarray, t: float, Theta: np.ndarray
    ) -> tuple[np.ndarray, tuple] | None:
        """The exact optimum on the rows plus (φ, t), by Newton steps from ``Theta``
        with the model's Hessian at each iterate applied to the exact gradient (one
        pass over the rows each), and what :meth:`extended` needs of the last pass;
        None if the steps do not shrink tenfold each (``Theta`` too far from the
        optimum: the caller solves exactly). It stops after a step below :attr:`TOL`
        relative to θ (the error left: see :attr:`TOL`)."""
        self._prepare()
        learner, loss = self.learner, self.learner.loss
        K, p = Theta.shape
        t_arr = np.array([t])
        previous = np.inf
        scale = 1.0 + np.abs(Theta).max()
        for _ in range(self.MAX_STEPS):
            passed = self.pass_at(phi, t, Theta)
            _, g, _ = learner.from_sums(LossSums(np.nan, passed[3], None), self.n, Theta)
            D = loss.d2((Theta @ phi)[None], t_arr)[0]
            delta = (Theta - self.Theta_ref).ravel()
            try:
                factor = cholesky(self._hessian(delta, phi, D), learner.name)
            except SingularHessianError:  # too far from the model's centre
                return None
            step = factor.solve(g).reshape(K, p)
            size = np.abs(step).max() / scale
            if size <= self.TOL:
                return Theta - step, passed
            if size > 0.1 * previous or not np.isfinite(size):
                return None
            previous = size
            Theta = Theta - step
        return None

    def rows_model(self, k: int) -> CubicSums:
        """The cubic model of Σ ℓ over the first k rows about θ_r (:class:`CubicSums`,
        prepared: one value pass over those rows): the model's sums less the later
        rows' own terms (their gradients at θ_r exact, their S and T terms about their
        centres), in O((n − k)·(K·p)³)."""
        self._prepare()
        assert self.centre is not None
        Theta_c, _, _, scores = self.centre
        loss, rows, Theta_r = self.learner.loss, self.data, self.Theta_ref
        Phi, t = rows.Phi[k:], rows.t[k:]
        G = self.G_ref - loss.d1(Phi @ Theta_r.T, t).T @ Phi
        S_later, T_later = centred_terms(loss, Phi, t, scores.z[k : rows.n], Phi @ Theta_c.T)
        S_later = S_later + T_later.dot((Theta_r - Theta_c).ravel())  # at θ_r
        F = float(np.sum(loss.value(rows.Phi[:k] @ Theta_r.T, rows.t[:k])))
        return CubicSums(self._theta_ref, F, G.ravel(), self._S_ref - S_later, self._T - T_later)

    def pass_at(self, phi: np.ndarray, t: float, Theta: np.ndarray) -> tuple:
        """One pass over the rows at Θ: (φ, t, Θ, G_all, Z), G_all the gradient sums
        over the rows and (φ, t), Z the kept rows' scores (what :meth:`extended`
        reads)."""
        loss, rows = self.learner.loss, self.data
        Z = rows.Phi @ Theta.T
        G = loss.d1(Z, rows.t).T @ rows.Phi
        G_all = G + np.outer(loss.d1((Theta @ phi)[None], np.array([t]))[0], phi)
        return phi, t, Theta, G_all, Z

    def extended(self, solved: tuple) -> LocalModel:
        """The model of the rows plus the row of a :meth:`solve` (``solved``, its
        second output, or a :meth:`pass_at`), referenced at the Θ of that pass. The row
        joins S and T expanded about its score at Θ. Each row keeps its own centre
        (:mod:`~flexpoison.engine.taylor`): when the drift (Z against the rows' centre scores)
        reaches RADIUS/2, the rows that drifted past RADIUS/4 are re-expanded about
        their scores at Θ (their terms swapped: work in proportion to their number),
        or, past a quarter of the rows, all are formed afresh at Θ when first asked."""
        phi, t, Theta, G_all, Z = solved
        n = self.data.n
        data = self.data.with_row(phi, t)
        if not self._ready:  # never asked: the next model forms its own centre if asked
            return LocalModel(self.learner, data, None, Theta, G_all, 0.0, None)
        assert self.centre is not None and self.leverage is not None
        Theta_c, S, T, scores = self.centre
        rate, loss = self.rate, self.learner.loss
        # |Z − z_c| whole: a max along the K axis (often of length 1) took 0.34 ms on
        # 50,000 rows, this one 0.03 ms; the rows' own maxima only where they are read
        moved = np.subtract(Z, scores.z[:n])
        drift = float(np.abs(moved, out=moved).max()) if n else 0.0
        z = (Theta @ phi)[None]
        t_arr = np.array([t])
        S_row, T_row = centred_terms(loss, phi[None], t_arr, z, (Theta_c @ phi)[None])
        if rate * drift <= 0.5 * self.RADIUS:
            # λ² under the larger set's A: the new row's own (≤ under this A), and the
            # kept rows' scaled by s(N)/s(N + 1) (1 unless the loss is averaged)
            _, M = self._candidate(phi)
            own = float(np.max(np.diag(self._C @ M @ self._C))) / self._s
            lev: float | None = max(self.leverage, own) * self._s / self.learner.scale(self.n + 1)
            centre = (Theta_c, S + S_row, T + T_row, scores.append(n, z[0]))
            return LocalModel(self.learner, data, centre, Theta, G_all, drift, lev)
        far = np.flatnonzero(rate * np.max(moved, axis=1) > 0.25 * self.RADIUS)
        if far.size > n // 4:  # most rows moved: formed afresh at Θ when first asked
            return LocalModel(self.learner, data, None, Theta, G_all, 0.0, None)
        Phi, t_far = self.data.Phi[far], self.data.t[far]
        Z_c = Phi @ Theta_c.T
        S_new, T_new = centred_terms(loss, Phi, t_far, Z[far], Z_c)
        S_old, T_old = centred_terms(loss, Phi, t_far, scores.z[far], Z_c)
        z_all = scores.z[:n].copy()
        z_all[far] = Z[far]
        drift = float(np.max(np.abs(Z - z_all))) if n else 0.0
        centre = (
            Theta_c,
            S + S_row + (S_new - S_old),
            T + T_row + (T_new - T_old),
            _Scores.of(z_all).append(n, z[0]),
        )
        return LocalModel(self.learner, data, centre, Theta, G_all, drift, None)


__all__ = ["LocalModel", "LocalTrial", "ModelHessian"]

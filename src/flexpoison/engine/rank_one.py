"""The squared residual on fixed statistics plus one candidate row, solved in O(p²).

The attack asks for θ on one fixed training set plus one candidate row thousands of
times. For a squared-residual loss (``loss.curvature`` c) :class:`RankOneSolver`
answers by a Sherman–Morrison update of a matrix factored once per training set, so a
candidate costs O(p²) whatever n is; it also evaluates a quadratic effect at the
optimum without forming θ, and evaluates the one gradient formula of
:mod:`flexpoison.engine.adjoint` in a basis it already holds, without a solve. When it cannot
answer exactly (L1: the warm start's active set is not the optimum's) it says so, and
the caller runs the general L1 solver on the statistics it holds
(:meth:`RankOneSolver.solve`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dger
from scipy.linalg.lapack import dpotrs

from ..errors import SingularHessianError
from . import l1
from .adjoint import RowTerm
from .data import Data, GramData
from .learner import Learner, identity
from .linalg import Fit, RankOneFactor, WoodburyInverse, cholesky


@dataclass(slots=True)
class Quadratic:
    """f(θ) = θᵀMθ + 2mᵀθ + m₀ on the flat θ of a one-output model (M symmetric).

    An effect E that is quadratic in θ declares itself this way, and
    :class:`RankOneSolver` then evaluates it at a candidate's optimum without forming θ.
    """

    M: np.ndarray
    m: np.ndarray
    m0: float

    def value(self, theta: np.ndarray) -> float:
        return float(theta @ (self.M @ theta + 2.0 * self.m)) + self.m0


@dataclass(slots=True)
class RankOneTrial:
    """A candidate row's optimum θ = θ₀ + βq, not yet formed (:meth:`RankOneSolver.fit_of`
    forms it). ``Qphi`` = Q·φ (q, then A⁻¹MA⁻¹φ when observing), ``denom`` =
    1 + κ·φᵀq, ``phi_theta`` = φᵀθ; ``value`` is the observed quadratic f at θ,
    ``re_phi`` = rₑᵀφ and ``qNq`` = φᵀA⁻¹MA⁻¹φ its parts (None, 0, 0 when the solver
    observes none)."""

    entry: _ActiveSet
    Qphi: np.ndarray
    beta: float
    denom: float
    phi_theta: float
    value: float | None
    re_phi: float
    qNq: float


class RankOneSolver:
    """The squared loss on fixed statistics (G, r) plus one row (φ, t), solved in O(p²).

    With κ = s(n + 1)·ℓ'' (ℓ'' the loss's constant curvature: κ = 2s for ℓ = (z − t)²),
    A = κG + λ₂P and c = κr, the smooth
    optimum solves (A + κφφᵀ) θ = c + κtφ, hence by Sherman–Morrison

        θ = θ₀ + β·q,   θ₀ = A⁻¹c,   q = A⁻¹φ,   β = κ(t − φᵀθ₀) / (1 + κ·φᵀq),

    and the Hessian's inverse is a :class:`RankOneFactor`. A⁻¹ is formed once per
    training set (from A's Cholesky factor), so a candidate row costs two products,
    Q·φ (Q stacks A⁻¹ and the block below) and R·φ (R stacks θ₀ᵀ and the rows below),
    and a dot, whatever n is. ``loss.curvature`` must be set (ℓ = (c/2)(z − t)²).

    With λ₁ > 0 the same formulas hold on an active set S with signs σ (c_S becomes
    c_S − λ_S σ_S, the inverses are restricted to S and padded with zeros): the set is
    read off the warm start, and the answer is the exact optimum when the signs hold
    and every inactive j has |c_j + κ(t − φᵀθ)φ_j − (Aθ)_j| ≤ λ_j (the KKT
    conditions). Otherwise :meth:`trial` returns None and the caller solves the problem
    from scratch (:func:`flexpoison.engine.fit.fit`).

    ``observe``, a :class:`Quadratic` f, is evaluated at every optimum without forming
    θ: f(θ₀ + βq) = f(θ₀) + 2β·(A⁻¹(Mθ₀ + m))ᵀφ + β²·φᵀ(A⁻¹MA⁻¹)φ, a row of R and a
    block of Q precomputed per active set.
    """

    def __init__(self, learner: Learner, gram: GramData, observe: Quadratic | None = None):
        curvature = learner.loss.curvature
        if curvature is None or learner.n_outputs != 1:
            raise TypeError(
                f"{learner.name}: the rank-one solver needs a one-output squared-residual loss"
            )
        p = gram.G.shape[0]
        d = p - learner.fit_intercept
        self.learner = learner
        self.p = p
        self.n = gram.n + 1
        self.kappa = learner.scale(self.n) * curvature
        A = self.kappa * gram.G
        if learner.l2 > 0:
            A.flat[:: p + 1] += learner.l2_weights(d)
        self.A = A
        self.c = self.kappa * gram.r
        self.lam = learner.l1_weights(d)
        self._free = self.lam == 0  # coordinates without an L1 term (always active)
        self.observe = observe
        self._rows = gram.rows  # Φ when G = ΦᵀΦ is of low rank (the dual form)
        self._sets: dict[bytes, _ActiveSet | None] = {}
        self._recent: list[tuple[np.ndarray, _ActiveSet | None]] = []
        self._answered = 0  # L1 trials that held their support
        self._full = None if learner.l1 > 0 else self._active_set(np.zeros(p))

    @classmethod
    def for_data(
        cls, learner: Learner, data: Data, observe: Quadratic | None = None
    ) -> RankOneSolver | None:
        """A solver when the learner's loss is quadratic and A is definite, else None."""
        if not (
            learner.loss.curvature is not None
            and learner.n_outputs == 1
            and isinstance(data, GramData)
        ):
            return None
        try:
            return cls(learner, data, observe)
        except SingularHessianError:  # e.g. OLS on fewer rows than features: the
            return None  # candidate row may still make H definite

    def fit(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit | None:
        """The exact optimum with (φ, t) added, or None (L1: the warm start's active set
        is not the optimum's)."""
        trial = self.trial(phi, t, Theta0)
        return None if trial is None else self.fit_of(trial)

    def solve(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> Fit:
        """The exact optimum with (φ, t) added, from ``Theta0`` by the general L1 solver
        (:func:`flexpoison.engine.l1.fit`) on the statistics held here: the Hessian
        A + κφφᵀ (a BLAS rank-one update of a copy of A) and c + κtφ — what
        :func:`flexpoison.engine.fit.fit` solves on the same rows, without forming A
        from the Gram matrix again (0.1 ms instead of 0.5 ms for 275 features). For
        the trials that :meth:`trial` refuses."""
        H = self.A.copy()
        dger(self.kappa, phi, phi, a=H.T, overwrite_a=1)  # H.T: the same, Fortran-ordered
        c = self.c + (self.kappa * t) * phi
        return l1.fit(H, c, self.lam, Theta0, self.learner.name, self.n)

    def trial(self, phi: np.ndarray, t: float, Theta0: np.ndarray) -> RankOneTrial | None:
        """The optimum with (φ, t) added as θ₀ + βq, with the observed quadratic's value
        there; None as for :meth:`fit`."""
        entry = self._full if self._full is not None else self._entry(Theta0)
        if entry is None:
            return None
        kappa = self.kappa
        # ndarray.dot rather than @: on arrays this small the call is the cost, and
        # the method's dispatch is about half of matmul's
        Qphi = entry.Q.dot(phi)  # q (, A⁻¹MA⁻¹φ)
        forms = Qphi.dot(phi).tolist()  # φᵀq (, φᵀA⁻¹MA⁻¹φ)
        scalars = entry.R.dot(phi).tolist()  # φᵀθ₀ (, rₑᵀφ), then the support rows
        phi_q, phi_theta0 = forms[0], scalars[0]
        denom = 1.0 + kappa * phi_q
        beta = kappa * (t - phi_theta0) / denom
        phi_theta = phi_theta0 + beta * phi_q
        if entry.active is not None:
            if not self._support_holds(
                entry, scalars[1 + (self.observe is not None) :], t, beta, phi_theta
            ):
                return None
            self._answered += 1
        if self.observe is None:
            return RankOneTrial(entry, Qphi, beta, denom, phi_theta, None, 0.0, 0.0)
        re_phi, qNq = scalars[1], forms[1]
        value = entry.value0 + beta * (2.0 * re_phi + beta * qNq)
        return RankOneTrial(entry, Qphi, beta, denom, phi_theta, value, re_phi, qNq)

    def implicit_gradient(
        self, trial: RankOneTrial, term: RowTerm, d: int, scale: float = 1.0
    ) -> tuple[np.ndarray, float | None]:
        """``scale`` × (∇_{x_p} f, ∂f/∂t_p) for the observed quadratic f at ``trial``'s
        optimum: the one-output formula a·u_w + b·(φᵀu)·w and c·(φᵀu) of
        :mod:`flexpoison.engine.adjoint` (``term``, at z_p = ``trial.phi_theta``),
        with the adjoint u = H⁻¹∇f and θ written in the basis (rₑ, θ₀, q, A⁻¹MA⁻¹φ)
        the trial already holds instead of solved for. With ∇f = 2(Mθ + m),

            u/2 = rₑ + β·A⁻¹MA⁻¹φ − c·q,   c = (κ/2)·φᵀu,
            φᵀu = qᵀ∇f / denom = 2(rₑᵀφ + β·φᵀA⁻¹MA⁻¹φ) / denom,   θ = θ₀ + β·q,

        so ∇_{x_p} f = 2a·rₑ + b·φᵀu·θ₀ + (b·φᵀu·β − 2a·c)·q + 2aβ·A⁻¹MA⁻¹φ (first d
        coordinates): one product of four coefficients with four rows."""
        entry, beta = trial.entry, trial.beta
        assert entry.r_e is not None, "the solver observes no quadratic"
        phi_u = 2.0 * (trial.re_phi + beta * trial.qNq) / trial.denom
        c = 0.5 * self.kappa * phi_u
        two_a, b_phi_u = 2.0 * term.a, term.b * phi_u
        coefs = np.array([two_a, b_phi_u, -two_a * c + b_phi_u * beta, two_a * beta])
        coefs *= scale
        rows = np.concatenate((entry.r_e[None], entry.theta0[None], trial.Qphi))
        grad_t = None if term.c is None else scale * (term.c * phi_u)
        return coefs.dot(rows)[:d], grad_t

    def fit_of(self, trial: RankOneTrial) -> Fit:
        """θ = θ₀ + βq of ``trial``, with its Hessian's inverse as a RankOneFactor."""
        entry, q = trial.entry, trial.Qphi[0]
        Theta = (entry.theta0 + trial.beta * q)[None]
        if entry.active is not None:  # the next warm start is usually this optimum
            self._remember(Theta, entry)
        return Fit(
            Theta, entry.active, RankOneFactor(entry.Ainv, q, self.kappa / trial.denom), self.n
        )

    def _support_holds(
        self, entry: _ActiveSet, values: list[float], t: float, beta: float, phi_theta: float
    ) -> bool:
        """Whether θ = θ₀ + βq is the optimum: the signs hold on the support,
        σ_j θ_j = σ_j θ₀_j + β·σ_j q_j > 0, and each inactive j meets KKT,
        |(c − Aθ₀)_j + γ·φ_j − β·(Aq)_j| ≤ λ_j with γ = κ(t − φᵀθ).

        ``values`` (from R·φ) holds σ_j q_j, φ_j and (Aq)_j. The test runs on Python
        floats: for the few coordinates of a linear model that is several times faster
        than a chain of tiny numpy operations."""
        n_sign, k = len(entry.sign_start), len(entry.r0)
        for start, slope in zip(entry.sign_start, values):
            if start + beta * slope <= 0.0:
                return False  # a weight crossed (or reached) zero: the support changes
        gamma = self.kappa * (t - phi_theta)
        for r, bound, phi_j, aq_j in zip(
            entry.r0, entry.bound, values[n_sign : n_sign + k], values[n_sign + k :]
        ):
            if abs(r + gamma * phi_j - beta * aq_j) > bound:
                return False  # an inactive weight wants to enter the support
        return True

    def _entry(self, Theta0: np.ndarray) -> _ActiveSet | None:
        for start, entry in self._recent:  # warm starts are usually recent optima
            if start is Theta0:
                return entry
        sign = np.sign(Theta0.ravel())
        sign[self._free] = 0.0
        key = sign.tobytes()
        if key not in self._sets and len(self._sets) >= 2 and self._answered < 4 * len(self._sets):
            # A new set costs O(p³), about 5 general solves (house data, an L1 model:
            # 6 ms against 1.2 ms): once 2 are held, one more is built only while the
            # sets answer 4 trials each on average. Where the supports keep changing
            # (rank-deficient designs, rows at the box's corners) they do not (9 of 833
            # trials held; sets built after 16 refusals took 7 % of the run).
            return None
        if key not in self._sets:
            self._sets[key] = self._active_set(sign)
        self._remember(Theta0, self._sets[key])
        return self._sets[key]

    def _remember(self, Theta: np.ndarray, entry: _ActiveSet | None) -> None:
        self._recent = [(Theta, entry)] + self._recent[:3]

    def _active_set(self, sign: np.ndarray) -> _ActiveSet | None:
        p, l1 = self.p, self.learner.l1 > 0
        if not l1 and self._rows is not None:
            dual = self._dual_set()
            if dual is not None:
                return dual
        eye = identity(p)
        if l1:
            active = (sign != 0) | self._free
            if not active.any():
                return None  # the empty support: left to the general solver
            inactive = np.flatnonzero(~active)
            # A_SS ⊕ I (the inactive rows and columns replaced by the identity's): one
            # p × p factorisation gives A_SS⁻¹ padded, once the identity block is zeroed
            A_S = self.A.copy()
            A_S[inactive] = 0.0
            A_S[:, inactive] = 0.0
            A_S[inactive, inactive] = 1.0
        else:
            active, A_S = None, self.A
        try:
            L = cholesky(A_S, self.learner.name)
        except SingularHessianError:
            if not l1:
                raise
            return None
        Ainv = dpotrs(L.L, eye, lower=1)[0]
        if l1:
            Ainv[inactive, inactive] = 0.0
        Ainv += Ainv.T  # symmetric to the last bit (then halved)
        Ainv *= 0.5
        theta0 = Ainv @ (self.c - self.lam * sign) if l1 else Ainv @ self.c
        blocks, rows = [Ainv], [theta0[None]]
        value0, r_e = 0.0, None
        if self.observe is not None:
            M, m = self.observe.M, self.observe.m
            r_e = Ainv @ (M @ theta0 + m)  # A⁻¹·½∇f(θ₀)
            blocks.append(Ainv @ M @ Ainv)
            rows.append(r_e[None])
            value0 = self.observe.value(theta0)
        Q = np.stack(blocks)
        if not l1:
            return _ActiveSet(
                Q=Q,
                R=np.concatenate(rows),
                theta0=theta0,
                Ainv=Ainv,
                active=None,
                value0=value0,
                r_e=r_e,
                sign_start=[],
                r0=[],
                bound=[],
            )
        pen = np.flatnonzero(active > self._free)  # active and penalised
        signs = sign[pen]
        A_I = self.A[inactive]
        support_rows = [signs[:, None] * Ainv[pen], eye[inactive], A_I @ Ainv]
        active.flags.writeable = False  # shared by every Fit on this support
        return _ActiveSet(
            Q=Q,
            R=np.concatenate(rows + support_rows),
            theta0=theta0,
            Ainv=Ainv,
            active=active,
            value0=value0,
            r_e=r_e,
            sign_start=(signs * theta0[pen]).tolist(),
            r0=(self.c[inactive] - A_I @ theta0).tolist(),
            bound=[lam * (1 + 1e-9) + 1e-14 for lam in self.lam[inactive].tolist()],
        )

    def _dual_set(self) -> _ActiveSet | None:
        """The precomputation of :meth:`_active_set` without L1, for fewer rows n than
        features p, in the dual: A = D + κΦᵀΦ with D = Λ₂ is inverted by
        :class:`WoodburyInverse` in O(n²p) (a coordinate without an L2 term, the
        intercept, takes D_jj = A_jj in D and −A_jj·e_jᵀe_j in the low-rank part), and Q
        applies A⁻¹ and A⁻¹MA⁻¹ as products instead of p × p blocks. None (the dense
        form) when more coordinates than rows lack an L2 term."""
        assert self._rows is not None
        Phi, p = self._rows, self.p
        diag = np.zeros(p)
        if self.learner.l2 > 0:
            diag += self.learner.l2_weights(p - self.learner.fit_intercept)
        bare = np.flatnonzero(diag <= 0.0)
        if bare.size > Phi.shape[0]:
            return None
        pad = np.diagonal(self.A)[bare].copy()
        pad[pad <= 0.0] = 1.0
        diag[bare] = pad
        U = np.zeros((Phi.shape[0] + bare.size, p))
        U[: Phi.shape[0]] = np.sqrt(self.kappa) * Phi
        U[Phi.shape[0] + np.arange(bare.size), bare] = np.sqrt(pad)
        signs = np.r_[np.ones(Phi.shape[0]), -np.ones(bare.size)]
        inverse = WoodburyInverse(diag, U, signs, self.learner.name)
        theta0 = inverse.dot(self.c)
        rows, value0, r_e, M = [theta0[None]], 0.0, None, None
        if self.observe is not None:
            M = self.observe.M
            r_e = inverse.dot(M @ theta0 + self.observe.m)
            rows.append(r_e[None])
            value0 = self.observe.value(theta0)
        return _ActiveSet(
            Q=_DualProducts(inverse, M),
            R=np.concatenate(rows),
            theta0=theta0,
            Ainv=inverse,
            active=None,
            value0=value0,
            r_e=r_e,
            sign_start=[],
            r0=[],
            bound=[],
        )


class _DualProducts:
    """Q of a dual :class:`_ActiveSet` as products: ``dot(φ)`` = (A⁻¹φ, A⁻¹MA⁻¹φ), the
    second only when M (an observed quadratic) is given."""

    __slots__ = ("inverse", "M")

    def __init__(self, inverse: WoodburyInverse, M: np.ndarray | None):
        self.inverse, self.M = inverse, M

    def dot(self, phi: np.ndarray) -> np.ndarray:
        q = self.inverse.dot(phi)
        if self.M is None:
            return q[None]
        return np.stack((q, self.inverse.dot(self.M @ q)))


@dataclass(frozen=True)
class _ActiveSet:
    """What :class:`RankOneSolver` precomputes for one active set S with signs σ.

    Q stacks the p × p blocks A⁻¹ and (when a quadratic f is observed) A⁻¹MA⁻¹, so
    that Q·φ gives q and A⁻¹MA⁻¹φ. R stacks the rows θ₀ᵀ, rₑᵀ = (A⁻¹(Mθ₀ + m))ᵀ
    (observed), σ_j·A⁻¹_j for the penalised support, the identity rows of the
    inactive set I and the rows I of A·A⁻¹, so that R·φ gives φᵀθ₀, rₑᵀφ, σ_j q_j, φ_I
    and (A q)_I. ``value0`` is f(θ₀) and ``r_e`` is rₑ (observed); ``sign_start``
    is σ_j θ₀_j, ``r0`` is (c − Aθ₀)_I and ``bound`` the KKT bound λ_I (with a
    rounding allowance), as Python floats for :meth:`RankOneSolver._support_holds`."""

    Q: np.ndarray | _DualProducts
    R: np.ndarray
    theta0: np.ndarray
    Ainv: np.ndarray | WoodburyInverse
    active: np.ndarray | None  # None: no L1 term, nothing to check
    value0: float
    r_e: np.ndarray | None
    sign_start: list[float]
    r0: list[float]
    bound: list[float]


__all__ = ["Quadratic", "RankOneTrial", "RankOneSolver"]

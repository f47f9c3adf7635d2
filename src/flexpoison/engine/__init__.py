"""The engine: learners' training objectives, their solvers, and the implicit gradient.

Bottom layer of flexpoison; it imports nothing of the package but
:mod:`flexpoison.errors`. Reading order:

``losses``    per-row losses ℓ(z, t) and their derivatives (each declared once)
``learner``   L(θ) = s(N)·Σ ℓ + (λ₂/2)‖W‖² + λ₁‖W‖₁, its gradient and Hessian
``data``      a training set as loss sums: rows kept, or Gram statistics
``linalg``    Cholesky / rank-one factors of H, and the fitted optimum (:class:`Fit`)
``fit``       the general solver (reference): the Solver protocol, SOLVERS in order
``smooth``    Newton's method, and proximal Newton for a smooth loss with L1
``l1``        feature-sign search for L1 penalties, rank-deficient designs included
``adjoint``   ∇_{x_p} E = −(∂g/∂x_p)ᵀ H⁻¹ ∇_θ E: the one gradient formula
``implicit``  the poisoning gradient of a fit, from its factor's row gradient
``rank_one``  fast path for squared residuals: O(p²) per candidate row
``scaled``    squared residuals whose L2 penalty's scale moves with the row (pipelines)
``newton``    fast path for smooth losses: warm-started chord Newton
``local``     the attack's trials on smooth losses: a third-order model, whatever n
``taylor``    the third-order sums the local model and its modelled effects are formed from
``hinge``     the support vector machines' losses (hinge, ε-insensitive, squared)
``kinks``     piecewise-linear losses: exact active-set solver, gradient on the kinks
``huber``     the Huber regression loss, its scale σ a second output's pinned intercept
``dual``      a kernel support vector classifier's exact dual fit (``active_set``, ``margin``)
``homotopy``  its optimum, for a linear kernel, followed as the candidate row moves
"""

from .adjoint import RowTerm, adjoint_gradient, mixed_derivative, row_term
from .data import Data, GramData, LossSums, PlusRow, RowData
from .fit import SOLVERS, Solver, backtrack, fit, hessian_factor, solver_for, start
from .hinge import (
    EpsilonLoss,
    HingeLoss,
    PiecewiseLinearLoss,
    SquaredEpsilonLoss,
    SquaredHingeLoss,
)
from .huber import HuberLoss
from .implicit import implicit_gradient
from .kinks import KinkFactor, inert
from .learner import Learner
from .linalg import CholeskyFactor, Factor, Fit, RankOneFactor, WoodburyInverse, cholesky
from .local import LocalModel, LocalTrial
from .losses import (
    ContinuousTargetLoss,
    Domain,
    LogisticLoss,
    Loss,
    OneVsAllSquaredLoss,
    SoftmaxLoss,
    SquaredLoss,
    TweedieLoss,
    declared,
)
from .newton import NewtonSolver
from .rank_one import Quadratic, RankOneSolver, RankOneTrial
from .scaled import ScaledSolver, ScaledTrial, scale_term
from .taylor import CubicSums, centred_terms, third_sums

__all__ = [
    "Loss",
    "ContinuousTargetLoss",
    "SquaredLoss",
    "LogisticLoss",
    "SoftmaxLoss",
    "OneVsAllSquaredLoss",
    "TweedieLoss",
    "PiecewiseLinearLoss",
    "SquaredHingeLoss",
    "HingeLoss",
    "SquaredEpsilonLoss",
    "EpsilonLoss",
    "HuberLoss",
    "KinkFactor",
    "inert",
    "Domain",
    "declared",
    "Learner",
    "Data",
    "RowData",
    "GramData",
    "PlusRow",
    "LossSums",
    "CholeskyFactor",
    "RankOneFactor",
    "WoodburyInverse",
    "Factor",
    "Fit",
    "cholesky",
    "Solver",
    "SOLVERS",
    "solver_for",
    "start",
    "fit",
    "backtrack",
    "hessian_factor",
    "RowTerm",
    "row_term",
    "mixed_derivative",
    "adjoint_gradient",
    "implicit_gradient",
    "Quadratic",
    "RankOneSolver",
    "RankOneTrial",
    "ScaledSolver",
    "ScaledTrial",
    "scale_term",
    "NewtonSolver",
    "LocalModel",
    "LocalTrial",
    "third_sums",
    "CubicSums",
    "centred_terms",
]

"""How many poison rows does it take? A certified lower bound (Suya et al. 2021).

:func:`points_needed` answers, for a convex linear victim and a target model θ_t:
any set of feasible poison rows (inside the attack's box, with any label or any
response in range) whose addition to the clean rows makes θ_t the victim's optimum has
at least ``lower_bound`` rows. It reads the victim's objective from the registry
(:mod:`flexpoison.models`, :class:`flexpoison.engine.Learner`), so that a loss averaged
over the rows (the penalty's weight diluted by every poison row) gets its own form of
the bound (:mod:`flexpoison.certify._bound`).

``_polygon``      the maximum of a difference of convex functions over a zonotope
``_inner``        M(θ): the largest loss gap over the feasible rows, per loss family
``_bound``        the bound A/B at one θ, from the learner's objective scaling
``_direction``    the direction of the best first-order bound near θ_t (a linear
                  programme, by a level bundle method): where the search looks last
``_certificate``  :func:`points_needed`: the search over θ and the result
``_result``       :func:`certify_result`: the bound for the model an attack reached
``online``        :func:`model_targeted`: Suya et al.'s online attack, one max-gap row
                  at a time; :class:`ModelTargeted`, the same as a strategy of
                  :class:`~flexpoison.attack.FlexiblePoisoning`
``curve``         :func:`points_curve`: E_I against m for the default and the
                  model-targeted attacks, with the certified bound (the points-needed
                  view)
"""

from ._certificate import Certificate, points_needed
from ._result import CertifiedRows, certify_result
from .curve import AttackCurve, PointsCurve, points_curve
from .online import ModelTargeted, OnlineResult, model_targeted

__all__ = [
    "Certificate",
    "points_needed",
    "CertifiedRows",
    "certify_result",
    "OnlineResult",
    "model_targeted",
    "ModelTargeted",
    "AttackCurve",
    "PointsCurve",
    "points_curve",
]

"""flexpoison: flexible data-poisoning attacks against scikit-learn's linear models.

Implements "A Flexible Poisoning Attack Against Machine Learning" (Jiang et al.): poison
rows crafted by projected gradient descent on W = α·C ± (1 − α)·E through the victim's
optimality conditions, inside the 3σ box around the clean data's centre.

>>> from sklearn.linear_model import Ridge
>>> from flexpoison import FlexiblePoisoning, Integrity
>>> attack = FlexiblePoisoning(Ridge(alpha=1.0), goal=Integrity("flip-top"),
...                            alpha=0.5, n_points=50, random_state=0)
>>> result = attack.generate(X_train, y_train)  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from .attack import AttackResult, Evaluation, FlexiblePoisoning, Objective
from .errors import (FlexPoisonError, InvalidInputError, SingularHessianError,
                     UnsupportedEstimatorError)
from .goals import Availability, Integrity, LossAvailability

try:
    __version__ = version("flexpoison")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "FlexiblePoisoning", "Integrity", "Availability", "LossAvailability", "AttackResult", "Objective",
    "Evaluation", "FlexPoisonError", "InvalidInputError", "UnsupportedEstimatorError",
    "SingularHessianError", "__version__",
]

"""Relative error of ∇_{x_p} W against central finite differences, per learner × goal.

    python benchmarks/gradient_errors.py

Two references per case: finite differences of flexpoison's own W, and of W computed
from an independent scikit-learn refit at tight tolerance (the tests assert ≤ 1e-5;
this prints the values). Uses the test suite's small synthetic data sets.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_gradients import (CASES, GOALS, ALPHA, _candidate, _central_difference,  # noqa: E402
                            _rel, _w_from_sklearn)

from flexpoison import FlexiblePoisoning  # noqa: E402


def main() -> None:
    print(f"{'learner':<20}{'goal':<20}{'vs own W':>12}{'vs sklearn W':>15}")
    for case, (est, X, y) in CASES.items():
        for goal_name, goal in GOALS.items():
            obj = FlexiblePoisoning(est, goal=goal, alpha=ALPHA, n_points=1).objective(X, y)
            x, y_p = _candidate(X, y)
            h = 1e-5 * X.std(0)
            grad = obj.gradient(x, y_p)
            own = _rel(grad, _central_difference(lambda v: obj.value(v, y_p), x, h))
            sk = _rel(grad, _central_difference(
                lambda v: _w_from_sklearn(est, X, y, obj, v, y_p), x, h))
            print(f"{case:<20}{goal_name:<20}{own:>12.2e}{sk:>15.2e}")


if __name__ == "__main__":
    main()

"""Relative error of ∇_{x_p} W against central finite differences, per learner × goal.

    python benchmarks/gradient_errors.py

Two references per case of the contract suite (tests/test_contract.py): finite
differences of flexpoison's own W, and of W computed from an independent scikit-learn
refit at tight tolerance (the tests assert ≤ 1e-5; this prints the values).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_contract import CASES, GOALS, gradient_errors  # noqa: E402


def main() -> None:
    print(f"{'case':<20}{'goal':<20}{'vs own W':>12}{'vs sklearn W':>15}")
    worst: dict[tuple[str, str], float] = {}
    for case in CASES:
        for kind in GOALS:
            own, sk, _ = gradient_errors(case, kind)
            print(f"{case.id:<20}{kind:<20}{own:>12.2e}{sk:>15.2e}")
            key = (case.spec.name, kind)
            worst[key] = max(worst.get(key, 0.0), sk)
    print("\nlargest error vs the scikit-learn refit, per model × goal:")
    for (name, kind), err in worst.items():
        print(f"  {name:<18}{kind:<20}{err:.2e}")


if __name__ == "__main__":
    main()

"""Time per iteration and per crafted point, and the default step rule against the paper's.

    python benchmarks/bench_attack.py [--points 40] [--data-dir ../shared/data]

Cases: Ridge on the CCPP training split (6,697 × 4, standardised) and binary
LogisticRegression on the breast-cancer training split (398 × 30, standardised), each
with the "backtracking" (default) and "paper" (s = 1/i) step rules, α ∈ {0.5, 0}.
Reports wall time per gradient iteration, per objective evaluation (trial points
included), per crafted point, mean iterations per point and the mean final W per
point (lower is better: how far each rule got).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from flexpoison import FlexiblePoisoning, Integrity
from flexpoison.attack import Objective
from flexpoison.data import load_dataset


def _split(X, y, stratify=False):
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y if stratify else None
    )
    return StandardScaler().fit_transform(X_train), y_train


def _run(estimator, X, y, alpha, step, m):
    calls = 0
    original = Objective.evaluate

    def counting(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    Objective.evaluate = counting
    try:
        attack = FlexiblePoisoning(
            estimator, goal=Integrity(), alpha=alpha, n_points=m, step=step, random_state=0
        )
        start = time.perf_counter()
        result = attack.generate(X, y)
        seconds = time.perf_counter() - start
    finally:
        Objective.evaluate = original
    iters = int(result.n_iter.sum())
    return dict(
        seconds=seconds,
        per_iter=seconds / max(iters, 1),
        per_eval=seconds / calls,
        per_point=seconds / m,
        iters=result.n_iter.mean(),
        final_W=float(np.mean([h[-1] for h in result.W_history])),
        E=float(result.effect_history[-1]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(
            "FLEXPOISON_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"
        ),
    )
    args = parser.parse_args()
    ccpp = load_dataset("ccpp", data_dir=args.data_dir)
    cancer = load_breast_cancer()
    cases = [
        ("Ridge", Ridge(alpha=1.0), *_split(ccpp.X, ccpp.y)),
        ("Logistic", LogisticRegression(C=1.0), *_split(cancer.data, cancer.target, stratify=True)),
    ]
    print(
        f"{'case':<22}{'rule':<14}{'α':>4}{'ms/iter':>10}{'ms/eval':>10}"
        f"{'ms/point':>10}{'iter/pt':>9}{'final W':>12}{'E after':>11}"
    )
    for name, est, X, y in cases:
        for alpha in (0.5, 0.0):
            for step in ("backtracking", "paper"):
                r = _run(est, X, y, alpha, step, args.points)
                label = f"{name} {X.shape[0]}×{X.shape[1]}"
                print(
                    f"{label:<22}{step:<14}{alpha:>4}{r['per_iter'] * 1e3:>10.3f}"
                    f"{r['per_eval'] * 1e3:>10.3f}{r['per_point'] * 1e3:>10.2f}"
                    f"{r['iters']:>9.1f}{r['final_W']:>12.4f}{r['E']:>11.4f}"
                )


if __name__ == "__main__":
    main()

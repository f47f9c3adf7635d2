"""Poisoning an RBF SVC (Biggio et al., 2012) against label flipping and a naive refit attack.

    python benchmarks/bench_svc.py [--rate 0.05] [--naive-points 2] [--max-iter 30]
    python benchmarks/bench_svc.py --kernel linear

``--kernel linear``: the same with SVC(kernel='linear', C=1), whose exact fit follows
its optimum as the candidate moves (:mod:`flexpoison.engine.homotopy`).

Breast cancer, standardised (scaler fitted on the training split), 70/30 split with
seed 0; victim SVC(kernel='rbf', C=1) with scikit-learn's gamma='scale' (refitted
with the poison rows; the gradient includes it). The attack: flexpoison's loss
availability goal — the mean hinge loss on the test split, raised — at α = 0, with
the exact gradient through the margin support vectors (:mod:`flexpoison.engine.dual`).
Baselines with the same budget (5 % of the training rows): label flipping
(:func:`flexpoison.attack.baselines.label_flip`) and the same attack whose gradient is
central finite differences of W, each W an exact refit (2d refits per gradient; run
on ``--naive-points`` points for its time per point). Prints the test accuracy of the
SVC refitted by scikit-learn on clean + poison rows, its drop, the hinge loss and the
time per point; the attack must beat label flipping.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from flexpoison import FlexiblePoisoning, LossAvailability
from flexpoison.attack import baselines
from flexpoison.attack.kernel import KernelEvaluation, KernelObjective


class NaiveObjective(KernelObjective):
    """The same W, its gradient by central differences of refits (step 1e-4·σ)."""

    def differentiate(self, ev, *, with_y=False):
        h = 1e-4 * self.scale
        grad = np.empty_like(ev.x)
        for j in range(ev.x.size):
            e = np.zeros_like(ev.x)
            e[j] = h[j]
            up = self.evaluate(ev.x + e, ev.t, with_gradient=False).W
            down = self.evaluate(ev.x - e, ev.t, with_gradient=False).W
            grad[j] = (up - down) / (2 * h[j])
        out = KernelEvaluation(
            ev.W, ev.C, ev.E, ev.x, ev.t, ev.phi, ev.theta, grad, None, ev.fit, ev.dE
        )
        out.dual, out.kernel, out.gamma_slope = ev.dual, ev.kernel, ev.gamma_slope
        return out


def _hinge(model, X, y) -> float:
    s = np.where(y == model.classes_[1], 1.0, -1.0)
    return float(np.mean(np.maximum(0.0, 1.0 - s * model.decision_function(X))))


def _score(estimator, X, y, X_test, y_test, X_p=None, y_p=None):
    if X_p is not None:
        X, y = np.vstack([X, X_p]), np.append(y, y_p)
    model = SVC(**estimator.get_params()).fit(X, y)
    return model.score(X_test, y_test), _hinge(model, X_test, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--naive-points", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument("--kernel", choices=("rbf", "linear"), default="rbf")
    args = parser.parse_args()
    data = load_breast_cancer()
    X_tr, X_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    svc = SVC(kernel=args.kernel, C=1.0)
    m = max(1, round(args.rate * X_tr.shape[0]))
    goal = LossAvailability(X_te, y_te)
    acc0, hinge0 = _score(svc, X_tr, y_tr, X_te, y_te)
    print(
        f"{args.kernel} SVC on breast cancer: {X_tr.shape[0]} training rows × {X_tr.shape[1]}, "
        f"{X_te.shape[0]} test rows; {m} poison rows ({args.rate:.0%})"
    )
    print(f"{'attack':<34}{'test acc':>9}{'drop':>8}{'test hinge':>12}{'s/point':>10}")
    print(f"{'clean':<34}{acc0:>9.4f}{0.0:>8.4f}{hinge0:>12.4f}{'':>10}")

    start = time.perf_counter()
    flip = baselines.label_flip(svc, X_tr, y_tr, m, "classification", random_state=0)
    seconds = time.perf_counter() - start
    acc, hinge = _score(svc, X_tr, y_tr, X_te, y_te, flip.X_poison, flip.y_poison)
    print(f"{'label flip':<34}{acc:>9.4f}{acc0 - acc:>8.4f}{hinge:>12.4f}{seconds / m:>10.3f}")

    attack = FlexiblePoisoning(
        svc,
        goal=goal,
        alpha=0.0,
        n_points=m,
        max_iter=args.max_iter,
        starts=args.starts,
        random_state=0,
    )
    start = time.perf_counter()
    result = attack.generate(X_tr, y_tr)
    seconds = time.perf_counter() - start
    acc_a, hinge_a = _score(svc, X_tr, y_tr, X_te, y_te, result.X_poison, result.y_poison)
    print(
        f"{'flexpoison (exact gradient)':<34}{acc_a:>9.4f}{acc0 - acc_a:>8.4f}"
        f"{hinge_a:>12.4f}{seconds / m:>10.3f}"
    )

    k = min(args.naive_points, m)
    naive = FlexiblePoisoning(
        svc,
        goal=goal,
        alpha=0.0,
        n_points=k,
        max_iter=args.max_iter,
        starts=args.starts,
        random_state=0,
    )
    setup = naive._setup(X_tr, y_tr, None)
    objective = setup.objective
    objective.__class__ = NaiveObjective
    objective.scale = X_tr.std(0)  # type: ignore[attr-defined]
    original = FlexiblePoisoning._setup
    FlexiblePoisoning._setup = lambda self, *a, **kw: setup  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        slow = naive.generate(X_tr, y_tr)
        seconds = time.perf_counter() - start
    finally:
        FlexiblePoisoning._setup = original  # type: ignore[method-assign]
    same = np.abs(slow.X_poison - result.X_poison[:k]).max()
    print(f"{f'naive refit FD gradient ({k} pts)':<34}{'':>9}{'':>8}{'':>12}{seconds / k:>10.3f}")
    print(f"  its first {k} rows differ from the exact gradient's by at most {same:.2e}")
    verdict = "PASS" if acc_a < acc and hinge_a > hinge else "FAIL"
    print(
        f"{verdict}: the attack {'beats' if verdict == 'PASS' else 'does not beat'} "
        f"label flipping (accuracy {acc_a:.4f} vs {acc:.4f}, hinge {hinge_a:.4f} vs "
        f"{hinge:.4f})"
    )


if __name__ == "__main__":
    main()

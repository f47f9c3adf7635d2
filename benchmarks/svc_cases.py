"""The support-vector-machine cases of issue 22, each in a child process with a time limit.

    python benchmarks/svc_cases.py [--limit 60] [--only NAME ...]

Every case prints its time and its outcome: ``ok`` with what it measured, ``refused``
with the error's one line, ``error`` (any other exception: a bug) or ``hang`` (no
answer within ``--limit`` seconds: a bug).

* ``fair-rbf``, ``fair-linear``: statsmodels' ``fair`` (small-integer features, many
  duplicated rows), 300 rows (random_state 0), y = affairs > 0, 15 points of
  ``LossAvailability()`` at α = 0 against ``SVC(kernel=…)``.
* ``C1e8-rbf``, ``C1e8-linear``, ``C1e8-poly``: breast cancer, standardised, 200 rows,
  ``SVC(C=1e8, kernel=…)``, 5 points.
* ``C1e8-fair-rbf``: the ``fair`` rows with ``SVC(C=1e8)`` (RBF), 5 points.
* ``poly100``: X = N(0, 1) + 100 (100 × 4), ``SVC(kernel='poly')``, 5 points.
* ``linearsvc-1000``, ``linearsvr-1000``: X = N(0, 1)·1000 (100 × 4),
  ``LinearSVC(C=2.9, loss='hinge')`` / ``LinearSVR(C=2.9)``, 3 points of
  ``Availability()``: θ_poisoned against a tight liblinear refit (tol 1e-12,
  max_iter 10⁶) of the returned rows, the primal objective of both (the lower one is
  nearer the optimum) and the optimality residual of both (:func:`residual`: 0 at the
  optimum, whatever solver found it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np

CASES = (
    "fair-rbf",
    "fair-linear",
    "C1e8-rbf",
    "C1e8-linear",
    "C1e8-poly",
    "C1e8-fair-rbf",
    "poly100",
    "linearsvc-1000",
    "linearsvr-1000",
)


def _fair():
    import statsmodels.api as sm

    d = sm.datasets.fair.load_pandas().data.sample(300, random_state=0)
    return d.drop(columns="affairs"), (d.affairs > 0).astype(int)


def _cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X)[:200], y[:200]


def _svc(X, y, n_points: int, **params) -> str:
    from sklearn.svm import SVC

    from flexpoison import FlexiblePoisoning, LossAvailability

    result = FlexiblePoisoning(
        SVC(**params), goal=LossAvailability(), alpha=0.0, n_points=n_points, random_state=0
    ).generate(X, y)
    return f"E_L {result.effect_clean:.4g} -> {result.effect_final:.4g}"


def _linear(kind: str) -> str:
    """θ_poisoned of a LinearSVC/LinearSVR at feature scale 1000 against liblinear."""
    from sklearn.base import clone
    from sklearn.svm import LinearSVC, LinearSVR

    from flexpoison import Availability, FlexiblePoisoning, models

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)) * 1000.0
    score = X @ np.array([1.0, -2.0, 0.5, 0.0]) / 1000.0
    if kind == "svc":
        estimator = LinearSVC(C=2.9, loss="hinge")
        y = (score + 0.5 * rng.normal(size=100) > 0).astype(int)
    else:
        estimator = LinearSVR(C=2.9)
        y = score + 0.3 * rng.normal(size=100)
    result = FlexiblePoisoning(
        estimator, goal=Availability(), alpha=0.0, n_points=3, random_state=0
    ).generate(X, y)
    rows = np.vstack([X, result.X_poison])
    targets = np.append(y, result.y_poison)
    tight = clone(estimator).set_params(tol=1e-12, max_iter=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tight.fit(rows, targets)
    theirs = models.theta_of(tight)
    ours = np.asarray(result.theta_poisoned, dtype=float)
    gap = float(np.abs(ours - theirs).max() / np.abs(ours).max())
    return (
        f"|θ_p − liblinear| / max|θ_p| = {gap:.1e}; primal objective flexpoison "
        f"{primal(estimator, rows, targets, ours):.10g}, liblinear "
        f"{primal(estimator, rows, targets, theirs):.10g}; optimality residual "
        f"flexpoison {residual(estimator, rows, targets, ours):.1e}, liblinear "
        f"{residual(estimator, rows, targets, theirs):.1e}"
    )


def primal(estimator, X, y, theta) -> float:
    """liblinear's objective C·Σ ℓ + ½‖w‖² + ½b² (intercept_scaling 1) at θ = (w, b)."""
    w, b = theta[:-1], theta[-1]
    z = X @ w + b
    C = estimator.C
    if type(estimator).__name__ == "LinearSVC":
        s = np.where(y == np.unique(y)[1], 1.0, -1.0)
        loss = np.maximum(0.0, 1.0 - s * z)
    else:
        loss = np.maximum(0.0, np.abs(z - y) - estimator.epsilon)
    return float(C * loss.sum() + 0.5 * w @ w + 0.5 * b * b)


def residual(estimator, X, y, theta, tol=1e-7) -> float:
    """min ‖θ + C·Σ g_i (x_i, 1)‖ / ‖θ‖ over the loss's subgradients g_i at each row (a
    bounded least-squares problem): 0 exactly when θ minimises :func:`primal`."""
    from scipy.optimize import lsq_linear

    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    z, C = Z @ theta, estimator.C
    if type(estimator).__name__ == "LinearSVC":
        s = np.where(y == np.unique(y)[1], 1.0, -1.0)
        m = s * z
        on = np.abs(m - 1) <= tol
        lo = np.where(on, np.minimum(-s, 0.0), np.where(m < 1, -s, 0.0))
        hi = np.where(on, np.maximum(-s, 0.0), np.where(m < 1, -s, 0.0))
    else:
        r, e = z - y, estimator.epsilon
        up, down = np.abs(r - e) <= tol, np.abs(r + e) <= tol
        lo = np.where(down, -1.0, np.where(up, 0.0, np.sign(r) * (np.abs(r) > e)))
        hi = np.where(up, 1.0, np.where(down, 0.0, np.sign(r) * (np.abs(r) > e)))
    free = lo < hi
    rest = theta + C * Z[~free].T @ lo[~free]
    if free.any():
        g = lsq_linear(C * Z[free].T, -rest, bounds=(lo[free], hi[free]), tol=1e-14).x
        rest = rest + C * Z[free].T @ g
    return float(np.linalg.norm(rest) / np.linalg.norm(theta))


def run(name: str) -> str:
    """Case ``name``: what it measured (an exception propagates)."""
    if name.startswith("fair-"):
        return _svc(*_fair(), 15, kernel=name.split("-")[1])
    if name == "C1e8-fair-rbf":
        return _svc(*_fair(), 5, kernel="rbf", C=1e8)
    if name.startswith("C1e8-"):
        return _svc(*_cancer(), 5, kernel=name.split("-")[1], C=1e8)
    if name == "poly100":
        rng = np.random.default_rng(0)
        X = rng.normal(size=(100, 4)) + 100.0
        y = (X[:, 0] + X[:, 1] + 0.5 * rng.normal(size=100) > 200).astype(int)
        return _svc(X, y, 5, kernel="poly")
    return _linear(name.split("-")[0].removeprefix("linear"))


def run_one(name: str) -> dict:
    from flexpoison import FlexPoisonError

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = {"outcome": "ok", "message": run(name)}
    except FlexPoisonError as exc:
        out = {"outcome": "refused", "message": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - a bug: reported, not raised
        out = {"outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
    out["time"] = time.perf_counter() - start
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--only", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_one(args.case)))
        return 0
    bad = 0
    for name in args.only:
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--case", name],
                capture_output=True,
                text=True,
                timeout=args.limit,
            )
            lines = done.stdout.strip().splitlines()
            out = json.loads(lines[-1]) if lines else {"outcome": "error", "message": done.stderr}
        except subprocess.TimeoutExpired:
            out = {"outcome": "hang", "message": f"no answer in {args.limit:g} s"}
        out.setdefault("time", time.perf_counter() - start)
        bad += out["outcome"] in ("error", "hang")
        print(f"{name:15s} {out['outcome']:8s} {out['time']:6.1f} s  {out['message']}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

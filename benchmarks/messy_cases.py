"""Issue 22's cases on messy data (not the SVMs: ``svc_cases.py``), each in a child
process with a time limit.

    python benchmarks/messy_cases.py [--limit 60] [--house PATH] [NAME ...]

Every case prints its time and outcome: what it measured, or the error's one line, or
``TIMEOUT`` (no answer within ``--limit`` seconds: a bug). The cases:

* ``house_lasso``: Jagielski et al.'s house data (``datasets/house-processed.csv`` of
  github.com/jagielski/manip-ml, given with ``--house``; 274 one-hot and continuous
  columns in [0, 1], rank 214 on 300 rows, 40 of them constant), 300 training and 500
  test rows (seed 0), ``Lasso(alpha=1.57e-4)``, 75 points (20 %), ``LossAvailability()``
  at α = 0 with y optimised, inside [0, 1]: the test MSE before and after.
* ``const_bounds``, ``const_3sigma``: Ridge on 100 × 4 rows with a constant column,
  under user bounds [−5, 5] and under the 3σ box.
* ``logit_50class``: multinomial logistic regression, 50 classes on 150 rows.
* ``logit_scale1000``: ``LogisticRegression(C=36.96)`` on 47 × 4 rows at scale 1000.
* ``logit_1e6``: logistic regression on 10⁶ × 50 rows, 10 points.
* ``ridge_5000``: Ridge with 5,000 features on 300 rows, 1 point.
* ``linearsvc_1000``, ``linearsvr_1000``: the refit gap of θ_poisoned and how many
  warnings the result carries.
* ``float32``: logistic, Poisson, Gamma and Tweedie on float32 rows: the gap between
  ``poisoned_model()`` (scikit-learn's default tolerance) and θ_poisoned.
* ``huber_const_y``, ``integer_nonint``, ``frozen_dupname``: input checks.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

HOUSE = os.environ.get("FLEXPOISON_HOUSE_CSV", "")


def house():
    import pandas as pd

    if not HOUSE:
        raise FileNotFoundError("give --house PATH (manip-ml's datasets/house-processed.csv)")
    d = pd.read_csv(HOUSE)
    y = d.iloc[:, 0].to_numpy(float)
    X = d.iloc[:, 1:].to_numpy(float)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, te = idx[:300], idx[300:800]
    return X[tr], y[tr], X[te], y[te]


def run(est, X, y, **kw):
    from flexpoison import FlexiblePoisoning
    from flexpoison.attack import LossAvailability

    kw.setdefault("goal", LossAvailability())
    kw.setdefault("alpha", 0.0)
    kw.setdefault("random_state", 0)
    a = FlexiblePoisoning(est, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = a.generate(X, y)
    return r


def c_house_lasso():
    from sklearn.linear_model import Lasso
    from sklearn.metrics import mean_squared_error as mse

    X, y, Xt, yt = house()
    r = run(
        Lasso(alpha=1.57e-4, max_iter=100000),
        X,
        y,
        n_points=75,
        n_sigma=None,
        bounds=(np.zeros(X.shape[1]), np.ones(X.shape[1])),
        optimize_y=True,
    )
    m0 = Lasso(alpha=1.57e-4, max_iter=100000).fit(X, y)
    return (
        f"test MSE {mse(yt, m0.predict(Xt)):.4g} -> {mse(yt, r.poisoned_model().predict(Xt)):.4g}"
    )


def c_const_bounds():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    X[:, 2] = 1.0
    y = X @ [1, 2, 0, 3] + rng.normal(size=100)
    r = run(Ridge(), X, y, n_points=5, bounds=(np.full(4, -5.0), np.full(4, 5.0)))
    return f"progress {r.progress:.3g} col2 {np.unique(r.X_poison[:, 2])[:3]}"


def c_const_3sigma():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    X[:, 2] = 1.0
    y = X @ [1, 2, 0, 3] + rng.normal(size=100)
    r = run(Ridge(), X, y, n_points=5)
    return f"progress {r.progress:.3g} col2 {np.unique(r.X_poison[:, 2])[:3]}"


def _svc_data(scale=1.0, n=100, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * scale
    y = (X[:, 0] + rng.normal(size=n) * scale > 0).astype(int)
    return X, y


def c_svc_C1e8_rbf():
    from sklearn.svm import SVC

    X, y = _svc_data()
    r = run(SVC(C=1e8), X, y, n_points=5)
    return f"progress {r.progress:.3g}"


def c_svc_C1e8_linear():
    from sklearn.svm import SVC

    X, y = _svc_data()
    r = run(SVC(C=1e8, kernel="linear"), X, y, n_points=5)
    return f"progress {r.progress:.3g}"


def c_svc_poly100():
    from sklearn.svm import SVC

    X, y = _svc_data(scale=1.0)
    X = X + 100
    r = run(SVC(kernel="poly"), X, y, n_points=5)
    return f"progress {r.progress:.3g}"


def c_logit_50class():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 5))
    y = np.arange(150) % 50
    r = run(LogisticRegression(), X, y, n_points=5)
    return f"progress {r.progress:.3g}"


def c_logit_scale1000():
    from sklearn.linear_model import LogisticRegression

    X, y = _svc_data(scale=1000.0, n=47, d=4)
    r = run(LogisticRegression(C=36.96), X, y, n_points=3)
    return f"progress {r.progress:.3g}"


def c_logit_1e6():
    from sklearn.linear_model import LogisticRegression

    X, y = _svc_data(n=1_000_000, d=50)
    r = run(LogisticRegression(), X, y, n_points=10)
    return f"progress {r.progress:.3g}"


def c_ridge_5000():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5000))
    y = X[:, 0] + rng.normal(size=300)
    r = run(Ridge(), X, y, n_points=1)
    return f"progress {r.progress:.3g}"


def _gap(r):
    m = r.poisoned_model()
    from flexpoison.models import REGISTRY  # noqa

    th = np.r_[np.ravel(m.coef_), np.ravel(m.intercept_)]
    t = r.theta_poisoned
    return np.max(np.abs(th - t)) / max(np.max(np.abs(t)), 1e-300)


def c_linearsvc_1000():
    from sklearn.svm import LinearSVC

    X, y = _svc_data(scale=1000.0)
    r = run(LinearSVC(C=2.9, loss="hinge", tol=1e-12, max_iter=1_000_000), X, y, n_points=3)
    return f"gap {_gap(r):.3g}; warnings {len(r.warnings)}"


def c_linearsvr_1000():
    from sklearn.svm import LinearSVR

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)) * 1000
    y = X @ [1, 2, 0, 3] / 1000
    r = run(LinearSVR(C=2.9, tol=1e-12, max_iter=1_000_000), X, y, n_points=3)
    return f"gap {_gap(r):.3g}; warnings {len(r.warnings)}"


def c_float32():
    from sklearn.linear_model import (
        GammaRegressor,
        LogisticRegression,
        PoissonRegressor,
        TweedieRegressor,
    )

    out = []
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    for est, y in [
        (LogisticRegression(), (X[:, 0] > 0).astype(int)),
        (PoissonRegressor(), rng.poisson(2, 100).astype(np.float32)),
        (GammaRegressor(), rng.gamma(2, size=100).astype(np.float32) + 0.1),
        (TweedieRegressor(power=1.5), rng.gamma(2, size=100).astype(np.float32) + 0.1),
    ]:
        r = run(est, X, y, n_points=3)
        out.append(f"{type(est).__name__[:6]} gap {_gap(r):.2g} w{len(r.warnings)}")
    return "; ".join(out)


def c_huber_const_y():
    from sklearn.linear_model import HuberRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.ones(50)
    r = run(HuberRegressor(), X, y, n_points=2)
    return f"progress {r.progress:.3g}"


def c_integer_nonint():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X[:, 0]
    r = run(Ridge(), X, y, n_points=2, integer_features=[0])
    return f"X_poison col0 {r.X_poison[:, 0]}"


def c_frozen_dupname():
    import pandas as pd
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(50, 2)), columns=["a", "a"])
    y = X.iloc[:, 0].to_numpy()
    run(Ridge(), X, y, n_points=2, frozen_features=["a"])
    return "accepted"


CASES = {k[2:]: v for k, v in globals().items() if k.startswith("c_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"cases (default: all): {', '.join(CASES)}")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--house", default=HOUSE, help="manip-ml's house-processed.csv")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        t = time.perf_counter()
        try:
            out = CASES[args.child]()
        except Exception as e:  # noqa: BLE001 - the outcome is what is measured
            out = f"{type(e).__name__}: {str(e)[:300]}"
        print(f"{time.perf_counter() - t:6.1f}s  {out}")
        return
    env = dict(os.environ, FLEXPOISON_HOUSE_CSV=args.house)
    for name in args.names or list(CASES):
        try:
            p = subprocess.run(
                [sys.executable, __file__, "--child", name],
                capture_output=True,
                text=True,
                timeout=args.limit,
                env=env,
            )
            line = (p.stdout.strip().splitlines() or [p.stderr.strip()[-300:]])[-1]
        except subprocess.TimeoutExpired:
            line = f"TIMEOUT >{args.limit:.0f}s"
        print(f"{name:18s} {line}", flush=True)


if __name__ == "__main__":
    main()

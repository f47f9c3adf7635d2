"""Random kernel SVC problems, each in its own process with a time limit (issue 22).

    python benchmarks/fuzz_svc.py [--cases 30] [--seed 0] [--limit 60]
    python benchmarks/fuzz_svc.py --case 7          # one case, in this process

A case draws n in [20, 200], d in [1, 10], one scale per feature from 1e-3 to 1e3 (and
an offset up to 100 times it), C from 1e-3 to 1e8 (log-uniform), a kernel among
linear, rbf, poly and sigmoid (sigmoid is refused by name), gamma ('scale', 'auto' or a
number), about a fifth of the rows duplicated, α, and 1–4 poison points with
``LossAvailability()``. Each case runs ``FlexiblePoisoning(...).generate`` in a child
process; its outcome is one of

* ``ok``      a result: the largest gap between θ_poisoned (the decision values at the
              clean rows) and a tight libsvm refit of the clean + returned rows, relative
              to max(1, max|f|) (``gap``), and which of the two fits is right: the
              primal objective ½‖w‖² + C Σ max(0, 1 − ỹf) of flexpoison's fit minus
              libsvm's, relative (negative or ~0: flexpoison's is right); libsvm's refit
              is marked when it stopped at 10⁷ iterations;
* ``refused`` a ``FlexPoisonError``: its one line is printed;
* ``error``   any other exception (a bug);
* ``hang``    no answer within ``--limit`` seconds (a bug).

The summary counts the outcomes; the exit status is 1 when any case is an error or hang.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np

KERNELS = ("linear", "rbf", "poly", "sigmoid")


def draw(seed: int) -> dict:
    """The settings and data of case ``seed`` (plain values: printable)."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 201)), int(rng.integers(1, 11))
    scales = 10.0 ** rng.uniform(-3, 3, d)
    offsets = scales * rng.uniform(-100, 100, d) * (rng.random() < 0.3)
    kernel = str(rng.choice(KERNELS))
    params: dict = {"kernel": kernel, "C": float(10.0 ** rng.uniform(-3, 8))}
    if kernel != "linear":
        params["gamma"] = str(rng.choice(["scale", "auto", "number"]))
        if params["gamma"] == "number":
            params["gamma"] = float(10.0 ** rng.uniform(-2, 1) / (d * float(np.mean(scales**2))))
    if kernel in ("poly", "sigmoid"):
        params["coef0"] = float(rng.choice([0.0, 1.0]))
        params["degree"] = int(rng.integers(1, 4))
    return {
        "seed": seed,
        "n": n,
        "d": d,
        "scales": scales.tolist(),
        "offsets": offsets.tolist(),
        "params": params,
        "duplicates": float(rng.choice([0.0, 0.2, 0.5])),
        "alpha": float(rng.choice([0.0, 0.5, 1.0])),
        "n_points": int(rng.integers(1, 5)),
    }


def data(case: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rows with the case's scales, offsets and duplicates; labels from a noisy linear rule."""
    rng = np.random.default_rng(case["seed"] + 10_000)
    n, d = case["n"], case["d"]
    Z = rng.normal(size=(n, d))
    y = (Z @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(int)
    y[:2] = [0, 1]
    copies = int(case["duplicates"] * n)
    if copies:  # rows replaced by copies of other rows, labels included
        source = rng.integers(0, n, copies)
        target = rng.choice(np.arange(2, n), min(copies, n - 2), replace=False)
        Z[target], y[target] = Z[source[: target.size]], y[source[: target.size]]
    X = Z * np.array(case["scales"]) + np.array(case["offsets"])
    return X, y


def run_one(seed: int) -> dict:
    """Run case ``seed`` here: its outcome as a dict (module docstring)."""
    from sklearn.svm import SVC

    from flexpoison import FlexiblePoisoning, FlexPoisonError, LossAvailability

    case = draw(seed)
    X, y = data(case)
    estimator = SVC(**case["params"])
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = FlexiblePoisoning(
                estimator,
                goal=LossAvailability(),
                alpha=case["alpha"],
                n_points=case["n_points"],
                random_state=seed,
            ).generate(X, y)
    except FlexPoisonError as exc:
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {
            "outcome": "refused",
            "time": time.perf_counter() - start,
            "message": f"{type(exc).__name__}: {line}",
        }
    except Exception as exc:  # noqa: BLE001 - a bug: reported, not raised
        return {
            "outcome": "error",
            "time": time.perf_counter() - start,
            "message": f"{type(exc).__name__}: {exc}",
        }
    elapsed = time.perf_counter() - start
    rows = np.vstack([X, result.X_poison])
    labels = np.append(y, result.y_poison)
    refit = SVC(**case["params"], tol=1e-12, max_iter=10**7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refit.fit(rows, labels)
    slow = any("max_iter" in str(w.message) for w in caught)
    f = refit.decision_function(X)
    ours = np.asarray(result.theta_poisoned, dtype=float)
    gap = float(np.abs(ours - f).max() / max(1.0, float(np.abs(f).max())))
    K = _gram(estimator, rows)
    t = np.where(labels == refit.classes_[1], 1.0, -1.0)
    theirs = np.zeros(rows.shape[0])
    theirs[refit.support_] = refit.dual_coef_[0]
    P_sklearn = primal(K, t, refit.C, theirs, float(refit.intercept_[0]))
    fit = _flexpoison_fit(estimator, rows, t, K)
    P_ours = primal(K, t, refit.C, fit.beta, fit.b)
    return {
        "outcome": "ok",
        "time": elapsed,
        "gap": gap,
        "refit_slow": slow,
        "primal": (P_ours - P_sklearn) / max(1.0, abs(P_sklearn)),
        "warnings": len(result.warnings),
    }


def primal(K: np.ndarray, t: np.ndarray, C: float, beta: np.ndarray, b: float) -> float:
    """The SVC's primal objective at w = Σ β_j φ(x_j) and b: ½βᵀKβ + C Σ max(0, 1 − ỹf)."""
    f = K @ beta + b
    return 0.5 * float(beta @ K @ beta) + C * float(np.maximum(0.0, 1.0 - t * f).sum())


def _gram(estimator, rows: np.ndarray) -> np.ndarray:
    """scikit-learn's kernel matrix of the fitted estimator's setting on ``rows``."""
    from sklearn.metrics.pairwise import pairwise_kernels

    p = estimator.get_params()
    gamma = p["gamma"]
    if gamma == "scale":
        gamma = 1.0 / (rows.shape[1] * rows.var())
    elif gamma == "auto":
        gamma = 1.0 / rows.shape[1]
    if p["kernel"] == "linear":
        return rows @ rows.T
    extra = {"degree": p["degree"], "coef0": p["coef0"]} if p["kernel"] == "poly" else {}
    return pairwise_kernels(rows, metric=p["kernel"], gamma=gamma, **extra)


def _flexpoison_fit(estimator, rows, t, K):
    """flexpoison's exact fit on ``rows`` (from libsvm's start)."""
    from flexpoison.engine import dual
    from flexpoison.models import kernel as kernel_models

    kernel = kernel_models.kernel_of(estimator, rows.shape[1])[0]
    return dual.fit(kernel, rows, t, estimator.C, K, solve=kernel_models.libsvm_fit)


def describe(case: dict) -> str:
    p = case["params"]
    shown = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in p.items()
    )
    return (
        f"n={case['n']} d={case['d']} scale≤{max(case['scales']):.0e} "
        f"dup={case['duplicates']} SVC({shown}) points={case['n_points']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--case", type=int, default=None, help="run one case in-process")
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_one(args.case)))
        return 0
    counts: dict[str, int] = {}
    for seed in range(args.seed, args.seed + args.cases):
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--case", str(seed)],
                capture_output=True,
                text=True,
                timeout=args.limit,
            )
            lines = done.stdout.strip().splitlines()
            out = (
                json.loads(lines[-1])
                if done.returncode == 0 and lines
                else {"outcome": "error", "message": done.stderr.strip().splitlines()[-1:]}
            )
        except subprocess.TimeoutExpired:
            out = {"outcome": "hang"}
        out.setdefault("time", time.perf_counter() - start)
        counts[out["outcome"]] = counts.get(out["outcome"], 0) + 1
        extra = ""
        if out["outcome"] == "ok":
            extra = f"gap {out['gap']:.1e}, primal ours − sklearn {out['primal']:+.1e}"
            extra += " (sklearn's refit hit max_iter)" if out["refit_slow"] else ""
        elif "message" in out:
            extra = str(out["message"])[:200]
        print(
            f"case {seed:3d} {out['outcome']:8s} {out['time']:6.1f} s  "
            f"{describe(draw(seed))}  {extra}",
            flush=True,
        )
    print("summary:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if counts.get("error") or counts.get("hang") else 0


if __name__ == "__main__":
    sys.exit(main())

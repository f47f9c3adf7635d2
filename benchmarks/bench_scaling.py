"""How the attack's cost grows with n, against the naive "refit scikit-learn" attack.

    python benchmarks/bench_scaling.py [--sizes 1e3,1e4,1e5,1e6] [--points N] [--quick]
                                       [--profile] [--million]

One run, one machine, every number from the same code:

* flexpoison — Algorithm 1 to convergence (default ``tol``/``max_iter``, Integrity goal,
  α = 0.5) for OLS, Ridge, Lasso, ElasticNet and binary / multinomial (K = 3) logistic
  regression on synthetic data (d = 8 standardised Gaussian features, fixed seed;
  regression y = Xw + noise, classification drawn from a linear model). The one-off
  setup (validation, feature map, Gram matrix or row store, the clean fit θ₀) is timed
  apart from the iterations; objective evaluations are counted (trial points of the
  line search included).
* naive — the identical Algorithm 1 with ``Objective.evaluate`` replaced by a refit of a
  clone of the scikit-learn estimator (tight tolerances) on every row trained on
  (clean + poison so far + the candidate); at accepted points (like flexpoison, not at
  line-search trials) the Hessian summed over all those rows at sklearn's θ, then
  flexpoison's ``implicit_gradient``. Final W per point is compared
  with flexpoison's; at large n it crafts fewer points (the ratios are per iteration
  and per point, so they still compare).
* every case runs in a fresh process (forked from a server that has only imported the
  libraries), which reports its own peak resident memory.

``--million``: Ridge, n = 10⁶, d = 8, 1 % poison (10,000 points) — wall time and peak
memory. ``--profile``: cProfile of the inner loop (Ridge, n = 10⁴), top 3 by tottime.
See benchmarks/README.md for the meaning of every column.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import dataclasses
import hashlib
import math
import multiprocessing as mp
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

D = 8
SEED = 2024
LEARNERS = ("OLS", "Ridge", "Lasso", "ElasticNet", "Logistic", "Multinomial")
LOGISTIC = ("Logistic", "Multinomial", "Logistic-BC")
BC = "Logistic-BC"  # binary logistic regression on 400 breast-cancer rows × 30 features
BC_ROWS = 400
ROOT = Path(__file__).resolve().parents[1]
ENGINE_DIRS = ("src/flexpoison/attack", "src/flexpoison/engine")
MEMORY_LIMIT_MIB = 2048
PRELOAD = [
    "numpy",
    "scipy.linalg",
    "scipy.special",
    "sklearn.base",
    "sklearn.linear_model",
    "tqdm.auto",
    "flexpoison",
    "flexpoison.attack.algorithm",
    "flexpoison.engine",
]


# ------------------------------------------------------------------ data and learners


def make_estimator(learner: str):
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge

    return {
        "OLS": LinearRegression(),
        "Ridge": Ridge(alpha=1.0),
        "Lasso": Lasso(alpha=0.05),
        "ElasticNet": ElasticNet(alpha=0.05, l1_ratio=0.5),
        "Logistic": LogisticRegression(C=1.0),
        "Multinomial": LogisticRegression(C=1.0),
        BC: LogisticRegression(C=1.0),
    }[learner]


# True regression weights (one exactly 0, so Lasso/ElasticNet have an inactive
# coefficient) and the class-score matrix of the multinomial model.
W_TRUE = np.array([1.5, 1.0, -0.8, 0.6, 0.0, -0.4, 0.3, -1.2])
W_CLASSES = np.array(
    [
        [1.0, -0.5, 0.8, 0.0, 0.3, -0.7, 0.2, 0.4],
        [-0.6, 1.1, -0.2, 0.5, -0.4, 0.3, 0.0, -0.8],
        [-0.4, -0.6, -0.6, -0.5, 0.1, 0.4, -0.2, 0.4],
    ]
)


def make_data(learner: str, n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Standardised Gaussian X (n, 8) and y, from a generator seeded by (seed, n, task);
    for the breast-cancer case, n rows (seeded choice) of scikit-learn's bundled copy of
    the Wisconsin data (569 × 30), standardised."""
    if learner == BC:
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        rows = np.random.default_rng([seed, n]).permutation(X.shape[0])[:n]
        X, y = X[rows], y[rows].astype(np.int64)
        return (X - X.mean(axis=0)) / X.std(axis=0), y
    task = 0 if learner not in LOGISTIC else 1 if learner == "Logistic" else 2
    rng = np.random.default_rng([seed, n, task])
    X = rng.standard_normal((n, D))
    X -= X.mean(axis=0)  # standardise in place (no n×d temporaries)
    X /= np.sqrt(np.einsum("ij,ij->j", X, X) / n)
    if task == 0:
        y = X @ W_TRUE + 0.5 + 0.5 * rng.standard_normal(n)
    elif task == 1:
        score = X @ W_TRUE + 0.3
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-score))).astype(np.int64)
    else:
        scores = X @ W_CLASSES.T + rng.gumbel(size=(n, 3))
        y = np.argmax(scores, axis=1).astype(np.int64)
    return X, y


# ----------------------------------------------------------------- the naive objective


def _naive_objective_class():
    """Objective whose evaluate refits scikit-learn on all rows (defined lazily, in the
    worker, so that this module imports nothing heavy at the top)."""
    from sklearn.base import clone

    from flexpoison import engine as lrn
    from flexpoison import models
    from flexpoison.attack import Evaluation, Objective

    def solved_tightly(estimator):
        return models.spec_for(estimator).tight_clone(estimator)

    def cholesky(H, learner, idx=None):  # the engine's factorisation (LAPACK potrf)
        return lrn.cholesky(H, learner.name, idx)

    @dataclasses.dataclass
    class Rows:
        """All rows trained on, in a buffer with room for the points still to come."""

        X: np.ndarray  # user units, (capacity, d)
        y: np.ndarray  # user labels/responses
        Phi: np.ndarray  # φ(x), (capacity, p)
        t: np.ndarray  # encoded targets
        estimator: object  # tight, unfitted
        evaluations: int = 0

    class NaiveObjective(Objective):
        """W exactly as :class:`Objective` defines it, θ_p from a scikit-learn refit."""

        @classmethod
        def from_objective(cls, objective, X, t, estimator, room):
            new = copy.copy(objective)
            new.__class__ = cls
            learner = objective.victim.learner
            n, d = X.shape
            Phi0 = learner.features(X[:1], objective.shift)
            capacity = n + room + 1
            rows = Rows(
                np.empty((capacity, d)),
                np.empty(capacity, dtype=np.asarray(objective.victim.decode(t[:1])).dtype),
                np.empty((capacity, Phi0.shape[1])),
                np.empty(capacity),
                solved_tightly(estimator),
            )
            rows.X[:n] = X
            rows.y[:n] = objective.victim.decode(t)
            rows.Phi[:n] = learner.features(X, objective.shift)
            rows.t[:n] = t
            new._rows, new._k = rows, n
            return new

        def evaluate(
            self, x, t, *, Theta_init=None, with_gradient=True, with_y=False, exact=True
        ):  # a refit is always exact
            rows, k = self._rows, self._k
            rows.evaluations += 1
            victim, learner = self.victim, self.victim.learner
            phi = learner.features(x, self.shift)[0]
            rows.X[k], rows.Phi[k], rows.t[k] = x, phi, t
            rows.y[k] = victim.decode(np.array([t]))[0]
            est = clone(rows.estimator).fit(rows.X[: k + 1], rows.y[: k + 1])
            coef = np.atleast_2d(est.coef_)
            K, d = coef.shape
            if learner.fit_intercept:
                theta = np.hstack([coef, np.atleast_1d(est.intercept_)[:, None]]).ravel()
                Theta = theta.reshape(K, d + 1).copy()
                Theta[:, -1] += Theta[:, :-1] @ self.shift  # public → internal (shifted)
            else:
                theta = coef.ravel().copy()
                Theta = coef.copy()
            active = None
            if learner.l1 > 0:  # differentiate on the active set, like the engine
                active = (Theta.ravel() != 0) | (learner.l1 * learner.penalty_mask(d) == 0)
            fit = lrn.Fit(Theta=Theta, active=active, factor=None, n=k + 1)
            E, dE = self.effect(Theta, theta)
            offset = x - self.x_c
            C = float(offset @ offset)
            a = self.alpha
            ev = Evaluation(
                W=a * C + self.goal.sign * (1 - a) * E,
                C=C,
                E=E,
                theta=theta,
                grad_x=None,
                grad_y=None,
                fit=fit,
                x=x,
                t=t,
                phi=phi,
                dE=dE,
            )
            if with_gradient or with_y:  # trial points of the line search skip this
                ev = self.differentiate(ev, with_y=with_y)
            return ev

        def _with_factor(self, fit, phi, t, learner=None):
            """The Hessian summed over every row trained on, at scikit-learn's θ (the
            candidate is still row k: differentiate follows its own evaluate)."""
            rows, k = self._rows, self._k
            learner = self.victim.learner
            _, H = learner.smooth_gradient_hessian(
                lrn.RowData(rows.Phi[: k + 1], rows.t[: k + 1]), fit.Theta
            )
            S = fit.active
            if S is None:
                factor = cholesky(H, learner)
            elif S.any():
                idx = np.flatnonzero(S)
                factor = cholesky(H[np.ix_(idx, idx)], learner, idx)
            else:
                factor = None
            return lrn.Fit(fit.Theta, fit.active, factor, fit.n)

        def with_point(self, x, t, Theta):
            new = copy.copy(self)  # the row at index k stays for good; rows are shared
            rows, k = self._rows, self._k
            rows.X[k] = x
            rows.Phi[k] = self.victim.learner.features(x, self.shift)[0]
            rows.t[k] = t
            rows.y[k] = self.victim.decode(np.array([t]))[0]
            new._k = k + 1
            new.Theta_start = Theta
            return new

    return NaiveObjective


@contextlib.contextmanager
def instrumented(naive_estimator=None, room: int = 0):
    """Count objective evaluations and time the setup inside ``generate``; with
    ``naive_estimator``, swap the naive objective in for this run only."""
    from flexpoison.attack import FlexiblePoisoning, Objective

    stats = {"setup": 0.0, "evals": 0, "naive_rows": None, "marks": []}
    original_setup, original_evaluate = FlexiblePoisoning._setup, Objective.evaluate
    Naive = _naive_objective_class() if naive_estimator is not None else None
    point_owner = Naive if Naive is not None else Objective
    original_with_point = point_owner.with_point

    def setup(self, *args, **kwargs):
        start = time.perf_counter()
        s = original_setup(self, *args, **kwargs)
        if Naive is not None:
            objective = Naive.from_objective(
                s.objective, s.X.astype(float), s.t, naive_estimator, room
            )
            stats["naive_rows"] = objective._rows
            s = dataclasses.replace(s, objective=objective)
        stats["marks"] = [time.perf_counter()]  # the loop starts here
        stats["setup"] += stats["marks"][0] - start
        return s

    def with_point(self, *args, **kwargs):  # called once per finished point
        out = original_with_point(self, *args, **kwargs)
        stats["marks"].append(time.perf_counter())
        return out

    def counting(self, *args, **kwargs):
        stats["evals"] += 1
        return original_evaluate(self, *args, **kwargs)

    FlexiblePoisoning._setup, Objective.evaluate = setup, counting
    point_owner.with_point = with_point
    try:
        yield stats
    finally:
        FlexiblePoisoning._setup, Objective.evaluate = original_setup, original_evaluate
        point_owner.with_point = original_with_point
        if stats["naive_rows"] is not None:
            stats["evals"] = stats["naive_rows"].evaluations


# ---------------------------------------------------------------------- one case


def _rss_mib() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _attack(learner: str, m: int, **kwargs):
    from flexpoison import FlexiblePoisoning

    return FlexiblePoisoning(make_estimator(learner), n_points=m, random_state=0, **kwargs)


def run_case(spec: dict) -> dict:
    """One (learner, n, mode) in this (fresh) process: mode 'flex', 'naive' or 'million'."""
    from sklearn.exceptions import ConvergenceWarning

    learner, n, m, mode = spec["learner"], spec["n"], spec["m"], spec["mode"]
    naive = mode == "naive"
    # warm-up on a tiny problem: lazy imports and first-call costs stay out of the timings
    Xw, yw = make_data(learner, 200, seed=SEED + 1)
    with instrumented(make_estimator(learner) if naive else None, room=1):
        _attack(learner, 1).generate(Xw, yw)
    del Xw, yw
    rss_before_data = _rss_mib()
    X, y = make_data(learner, n)
    rss_data = _rss_mib()

    setup_first = None
    if not naive:  # the one-off cost: first construction of the objective
        start = time.perf_counter()
        _attack(learner, m).objective(X, y)
        setup_first = time.perf_counter() - start
    best = None
    # best of up to 5 runs (flexpoison) or 3 (naive) while a run takes < 3 s: timings on a
    # shared or virtual machine vary by up to 2× from minute to minute
    for _ in range(3 if naive else 5):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            with instrumented(make_estimator(learner) if naive else None, room=m) as stats:
                start = time.perf_counter()
                result = _attack(learner, m).generate(X, y)
                total = time.perf_counter() - start
        run = (total - stats["setup"], total, dict(stats), result, caught)
        best = run if best is None or run[0] < best[0] else best
        if total > 3.0:
            break
    loop, total, stats, result, caught = best
    if naive and stats["evals"] == 0:
        raise RuntimeError(
            "the naive objective was never evaluated: generate no longer "
            "goes through Objective.evaluate; update bench_scaling.py"
        )
    iters = int(result.n_iter.sum())
    out = dict(
        spec,
        total=total,
        setup=stats["setup"],
        setup_first=setup_first,
        loop=loop,
        iters=iters,
        evals=stats["evals"],
        per_iter=loop / max(iters, 1),
        per_eval=loop / stats["evals"] if stats["evals"] else float("nan"),
        per_point=loop / m,
        peak_mib=_peak_mib(),
        rss_data_mib=rss_data,
        rss_base_mib=rss_before_data,
        data_mib=(X.nbytes + y.nbytes) / 2**20,
        warnings=sum(issubclass(w.category, ConvergenceWarning) for w in caught),
        final_W=[float(h[-1]) for h in result.W_history],
        n_iter=result.n_iter.tolist(),
        E=float(result.effect_history[-1]),
        point_seconds=np.diff(stats["marks"]).tolist(),
        E_clean=float(result.effect_clean),
    )
    if mode != "million":
        out["X_poison"] = result.X_poison.tolist()
    return out


def profile_case(spec: dict) -> dict:
    """cProfile of generate's inner loop (the setup inside generate is not profiled)."""
    from flexpoison.attack import FlexiblePoisoning

    learner, n, m = spec["learner"], spec["n"], spec["m"]
    Xw, yw = make_data(learner, 200, seed=SEED + 1)
    _attack(learner, 1).generate(Xw, yw)
    X, y = make_data(learner, n)
    profiler = cProfile.Profile()
    original_setup = FlexiblePoisoning._setup

    def setup(self, *args, **kwargs):
        profiler.disable()
        try:
            return original_setup(self, *args, **kwargs)
        finally:
            profiler.enable()

    FlexiblePoisoning._setup = setup
    runs, wall, iters = 0, 0.0, 0
    try:  # repeat until a second of loop has been profiled, so that noise averages out
        while wall < 1.0 and runs < 50:
            start = time.perf_counter()
            profiler.enable()
            result = _attack(learner, m).generate(X, y)
            profiler.disable()
            wall += time.perf_counter() - start
            runs += 1
            iters += int(result.n_iter.sum())
    finally:
        FlexiblePoisoning._setup = original_setup
    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _) in stats.stats.items():
        where = f"{Path(file).name}:{line}({func})" if line else func
        rows.append(dict(where=where, ncalls=nc, tottime=tt, cumtime=ct))
    rows.sort(key=lambda r: -r["tottime"])
    return dict(
        spec,
        wall=wall,
        runs=runs,
        total_tt=sum(r["tottime"] for r in rows),
        iters=iters,
        top=rows[: spec.get("top", 3)],
    )


# ------------------------------------------------------------------------ parent


def _plan(sizes, points, quick, logistic_max_n, learners=LEARNERS + (BC,)):
    """(learner, n, m_flex, m_naive) for every case. Logistic regression has no
    sufficient statistics: each evaluation re-solves Newton over all n rows, so at large
    n it crafts fewer points; the naive reference fewer still. The breast-cancer-sized
    case (400 × 30) runs at its one size."""
    plan = []
    for learner in learners:
        if learner == BC:
            plan.append((BC, BC_ROWS, points, min(points, 2 if quick else 10)))
            continue
        for n in sizes:
            if learner in LOGISTIC and n > logistic_max_n:
                continue
            m = points
            if learner in LOGISTIC and n >= 10**6:
                m = min(points, 2 if learner == "Logistic" else 1)
            elif learner in LOGISTIC and n >= 10**5:
                m = min(points, 5)
            m_naive = min(
                m, 2 if quick else 10 if n <= 10**3 else 5 if n <= 10**4 else 2 if n <= 10**5 else 1
            )
            plan.append((learner, n, m, m_naive))
    return plan


def _in_worker(fn, spec):
    """Run ``fn(spec)`` with the BLAS thread pools limited as asked (0: as configured)."""
    threads = spec.get("blas_threads", 0)
    if not threads:
        return fn(spec)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return fn(spec)


def _pool_run(executor, fn, spec):
    return executor.submit(_in_worker, fn, spec).result()


def _engine_tag() -> str:
    digest = hashlib.sha1()
    for folder in ENGINE_DIRS:
        for path in sorted((ROOT / folder).glob("*.py")):
            digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "?"
    return f"git {head}, attack/ + engine/ sha1 {digest.hexdigest()[:10]}"


def _machine() -> str:
    import numpy
    import scipy
    import sklearn

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i['num_threads']} threads"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except ImportError:
        blas = "?"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (
        f"machine: {platform.machine()} {model}; cores: {os.cpu_count()} "
        f"(usable {usable}); BLAS: {blas}\n"
        f"python {platform.python_version()}, numpy {numpy.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}; "
        f"engine: {_engine_tag()}"
    )


def _fmt_n(n: int) -> str:
    e = round(math.log10(n))
    return f"1e{e}" if 10**e == n else str(n)


def _num(value: float, width: int) -> str:
    """About 4 significant figures, never wider than ``width`` without a space."""
    if not math.isfinite(value):
        text = "-"
    elif abs(value) >= 1000:
        text = f"{value:.0f}"
    elif abs(value) >= 100:
        text = f"{value:.1f}"
    elif abs(value) >= 10:
        text = f"{value:.2f}"
    elif abs(value) >= 1:
        text = f"{value:.3f}"
    else:
        text = f"{value:.4f}"
    return " " + text.rjust(width - 1)


def _exponent(ns, ts):
    """Least-squares slope of log t against log n."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def _compare(flex: dict, naive: dict) -> dict:
    q = min(len(flex["final_W"]), len(naive["final_W"]))
    Wf, Wn = np.array(flex["final_W"][:q]), np.array(naive["final_W"][:q])
    Xf, Xn = np.array(flex["X_poison"][:q]), np.array(naive["X_poison"][:q])
    same = flex["n_iter"][:q] == naive["n_iter"][:q]
    # per point: the same q points in both runs (a point's cost depends on its iterations)
    flex_q, naive_q = sum(flex["point_seconds"][:q]), sum(naive["point_seconds"][:q])
    if len(flex["point_seconds"]) < q or len(naive["point_seconds"]) < q:
        flex_q, naive_q = flex["per_point"], naive["per_point"]  # marks missing: averages
    return dict(
        point_ratio=naive_q / flex_q,
        rel_W=float(np.max(np.abs(Wn - Wf) / np.maximum(np.abs(Wf), 1e-300))),
        dX=float(np.max(np.abs(Xn - Xf))),
        same_path=same,
    )


def run_table(args, executor) -> None:
    plan = _plan(args.sizes, args.points, args.quick, args.logistic_max_n, args.learners)
    results = []
    for learner, n, m, m_naive in plan:
        base = dict(learner=learner, n=n, blas_threads=args.blas_threads)
        flex = naive = None
        # flexpoison and naive runs alternate, so that both sample the machine's fast and
        # slow spells alike; each keeps its best round (a round of a case that took over
        # 10 s is not repeated)
        for _ in range(args.rounds):
            f = _pool_run(executor, run_case, dict(base, m=m, mode="flex"))
            v = _pool_run(executor, run_case, dict(base, m=m_naive, mode="naive"))
            print(
                f"  … {learner} n={_fmt_n(n)}: flexpoison {f['total']:.2f} s, naive "
                f"{v['total']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
            flex = f if flex is None or f["per_iter"] < flex["per_iter"] else flex
            naive = v if naive is None or v["per_iter"] < naive["per_iter"] else naive
            if f["total"] + v["total"] > 10.0:
                break
        results.append((flex, naive, _compare(flex, naive)))

    print("\nflexpoison (Algorithm 1 to convergence: tol 1e-6, max_iter 100, Integrity, α 0.5)")
    header = (
        f"{'learner':<12}{'n':>5}{'m':>4}{'it/pt':>7}{'ev/it':>6}{'setup s':>9}"
        f"{'ms/iter':>10}{'µs/eval':>11}{'ms/point':>11}{'peak MiB':>10}{'Δ MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for flex, _, _ in results:
        print(
            f"{flex['learner']:<12}{_fmt_n(flex['n']):>5}{flex['m']:>4}"
            f"{flex['iters'] / flex['m']:>7.1f}{flex['evals'] / max(flex['iters'], 1):>6.2f}"
            f"{_num(flex['setup_first'], 9)}{_num(flex['per_iter'] * 1e3, 10)}"
            f"{_num(flex['per_eval'] * 1e6, 11)}{_num(flex['per_point'] * 1e3, 11)}"
            f"{flex['peak_mib']:>10.0f}{max(flex['peak_mib'] - flex['rss_data_mib'], 0):>8.0f}"
        )

    print(
        "\nnaive reference (sklearn clone+fit on all rows at every evaluation, same "
        "Algorithm 1) vs flexpoison"
    )
    header = (
        f"{'learner':<12}{'n':>5}{'m':>4}{'it/pt':>7}{'ms/iter':>10}{'ms/point':>11}"
        f"{'peak MiB':>10}{'× iter':>8}{'× point':>9}{'max rel ΔW':>12}{'max |Δx|':>10}"
        f"{'path':>6}"
    )
    print(header)
    print("-" * len(header))
    for flex, naive, cmp in results:
        warn = f" ({naive['warnings']} ConvergenceWarning)" if naive["warnings"] else ""
        print(
            f"{naive['learner']:<12}{_fmt_n(naive['n']):>5}{naive['m']:>4}"
            f"{naive['iters'] / naive['m']:>7.1f}{_num(naive['per_iter'] * 1e3, 10)}"
            f"{_num(naive['per_point'] * 1e3, 11)}{naive['peak_mib']:>10.0f}"
            f"{_num(naive['per_iter'] / flex['per_iter'], 8)}"
            f"{_num(cmp['point_ratio'], 9)}"
            f"{cmp['rel_W']:>12.1e}{cmp['dX']:>10.1e}"
            f"{'same' if cmp['same_path'] else 'diff':>6}{warn}"
        )

    print("\nscaling exponent k in time ∝ n^k (least squares of log t on log n)")
    print(
        f"{'learner':<12}{'sizes':>16}{'flex ms/iter':>14}{'flex µs/eval':>14}{'naive ms/iter':>15}"
    )
    for learner in [name for name in args.learners if name != BC]:
        rows = [(f, nv) for f, nv, _ in results if f["learner"] == learner]
        ns = [f["n"] for f, _ in rows]
        sizes = f"{_fmt_n(min(ns))}–{_fmt_n(max(ns))} ({len(ns)})" if ns else "-"
        print(
            f"{learner:<12}{sizes:>16}"
            f"{_exponent(ns, [f['per_iter'] for f, _ in rows]):>14.2f}"
            f"{_exponent(ns, [f['per_eval'] for f, _ in rows]):>14.2f}"
            f"{_exponent(ns, [nv['per_iter'] for _, nv in rows]):>15.2f}"
        )

    notes = []
    skipped = [n for n in args.sizes if n > args.logistic_max_n]
    if skipped:
        notes.append(
            "logistic cases stop at n = "
            + _fmt_n(args.logistic_max_n)
            + " (--logistic-max-n): see the next note for why they are costly"
        )
    notes.append(
        "logistic regression keeps its rows (no sufficient statistics exist for "
        "the logistic loss): trial rows are answered by the local model (a "
        "third-order model of the rows' loss, O((Kp)³) whatever n) where its "
        "estimated error is below 1e-5, else by warm-started Newton over all n "
        "rows; the kept point costs one or two passes over the rows. At these "
        "default settings (α = 0.5, four starts, box corners) many trials fall "
        "outside the model at small n; --smooth measures the model where it "
        "serves. At n ≥ 1e5 the logistic cases craft fewer points (5; 2 binary "
        "and 1 multinomial at 1e6). The squared-loss learners keep the Gram "
        "matrix: O(d²) per evaluation (a Sherman–Morrison update) whatever n, "
        "O(n·d²) once in the setup and O(d³) once per crafted point"
    )
    if BC in args.learners:
        notes.append(
            f"{BC}: binary LogisticRegression(C=1) on {BC_ROWS} rows × 30 features "
            "of the Wisconsin breast-cancer data (scikit-learn's bundled copy, "
            "standardised): the breast-cancer-sized case, at its one size"
        )
    notes.append(
        "the naive reference crafts "
        + ("2 points" if args.quick else "10 points at 1e3, 5 at 1e4, 2 at 1e5, 1 at 1e6")
        + " (never more than flexpoison); × iter divides each run's mean time "
        "per iteration, × point the time both spent on the points both crafted "
        "(the same seeded initial rows), which ΔW and Δx also compare"
    )
    notes.append(
        f"times are the best of up to {args.rounds} alternating rounds (flexpoison, "
        "naive, flexpoison, …; one round when a round takes over 10 s), each "
        "the best of up to 5 runs for flexpoison and 3 for the naive reference "
        "(while a run takes < 3 s); load average before → after: " + args.load_note()
    )
    print("\nnotes:")
    for note in notes:
        print(f"- {note}")


def run_million(args, executor) -> None:
    m = 10_000
    r = _pool_run(
        executor,
        run_case,
        dict(learner="Ridge", n=10**6, m=m, mode="million", blas_threads=args.blas_threads),
    )
    ok = r["peak_mib"] < MEMORY_LIMIT_MIB
    print(
        f"\n--million: Ridge(alpha=1), n = 1e6, d = {D}, 1 % poison = {m} points, "
        "Algorithm 1 to convergence"
    )
    print(
        f"  wall time (generate, setup included) {r['total']:.1f} s  "
        f"= setup {r['setup']:.2f} s + {m} points × {r['per_point'] * 1e3:.2f} ms"
    )
    print(
        f"  iterations {r['iters']} ({r['iters'] / m:.1f}/point), evaluations "
        f"{r['evals']}; {r['per_iter'] * 1e3:.3f} ms/iter, {r['per_eval'] * 1e6:.1f} µs/eval"
    )
    print(
        f"  peak memory {r['peak_mib']:.0f} MiB ({'under' if ok else 'OVER'} the "
        f"{MEMORY_LIMIT_MIB} MiB limit); data {r['data_mib']:.0f} MiB, "
        f"process before data {r['rss_base_mib']:.0f} MiB"
    )
    print(f"  E_I: {r['E_clean']:.6g} clean → {r['E']:.6g} after {m} points")


def run_profile(args, executor) -> None:
    m = 20 if not args.quick else 5
    r = _pool_run(
        executor,
        profile_case,
        dict(learner="Ridge", n=10**4, m=m, top=args.top, blas_threads=args.blas_threads),
    )
    print(
        f"\ncProfile of generate's loop (Ridge, n = 1e4, {m} points × {r['runs']} runs, "
        f"{r['iters']} iterations; {r['wall']:.3f} s under the profiler, tottime sums to "
        f"{r['total_tt']:.3f} s), top {len(r['top'])} by tottime:"
    )
    print(f"{'ncalls':>9}{'tottime s':>11}{'share':>7}{'cumtime s':>11}  function")
    for row in r["top"]:
        print(
            f"{row['ncalls']:>9}{row['tottime']:>11.4f}"
            f"{row['tottime'] / r['total_tt']:>7.1%}{row['cumtime']:>11.4f}  {row['where']}"
        )


# ------------------------------------------------- smooth losses: the local model (--smooth)

PAPER_STEP = dict(step="paper", starts=1)  # the configuration of the issue's baselines


def _issue_data(n: int = 50_000, d: int = 20):
    """make_classification(n, d, n_informative=10, random_state=0), standardised."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=d, n_informative=10, random_state=0)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _bc_split():
    """Breast cancer, 70/30 split (seed 0), standardised on the 398 training rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _smooth_setting(case: str, n: int):
    """(X, y, estimator, goal, attack kwargs) of a --smooth case."""
    from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

    from flexpoison import Integrity, LossAvailability

    if case == "issue":
        X, y = _issue_data(n)
        return X, y, LogisticRegression(C=1.0), Integrity("negate"), dict(alpha=0.0)
    if case in ("Logistic", "Multinomial"):
        X, y = make_data(case, n)
        return X, y, LogisticRegression(C=1.0), Integrity("negate"), dict(alpha=0.0)
    if case == "bc-loss":
        X, y = _bc_split()
        box = dict(n_sigma=None, bounds=(X.min(axis=0), X.max(axis=0)))
        return X, y, LogisticRegression(C=1.0), LossAvailability(), dict(alpha=0.0, **box)
    if case in ("Lasso", "ElasticNet"):
        X, y = make_data("Ridge", n)
        est = Lasso(alpha=0.05) if case == "Lasso" else ElasticNet(alpha=0.05, l1_ratio=0.5)
        return X, y, est, Integrity(), {}
    raise ValueError(case)


def run_smooth_case(spec: dict) -> dict:
    """One --smooth case in this (fresh) process: the attack's time split into the
    one-off setup (with the first model's S and T, formed at the clean optimum on the
    first trial), the work that grows with n (the kept point's exact solve and the
    model's extension: Objective.exact and with_point; S and T formed at a new centre:
    LocalModel._prepare) and the rest (trials and gradients); the share of trials the
    model answered; θ after the last point against a tight scikit-learn refit."""
    from sklearn.base import clone

    from flexpoison import FlexiblePoisoning, models
    from flexpoison import engine as lrn
    from flexpoison.attack import Objective

    case, n, m, mode = spec["case"], spec["n"], spec["m"], spec["mode"]
    X, y, est, goal, kw = _smooth_setting(case, n)
    kw = dict(kw, **spec.get("kwargs", {}))

    def attack(points):
        return FlexiblePoisoning(est, goal=goal, n_points=points, random_state=0, **kw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with instrumented(clone(est) if mode == "naive" else None, room=1):
            attack(1).generate(X[:300], y[:300])  # warm-up: first-call costs out
        timed = {"exact": 0.0}
        trials = {"all": 0, "trusted": 0}
        exact0, with_point0, trial0 = Objective.exact, Objective.with_point, lrn.LocalModel.trial
        prepare0 = lrn.LocalModel._prepare

        def prepare(self):
            first = self.centre is None and not timed.get("first_centre")
            start = time.perf_counter()
            try:
                return prepare0(self)
            finally:
                spent = time.perf_counter() - start
                if first and spent > 1e-4:  # the first model, at the clean optimum: setup
                    timed["first_centre"] = spent
                else:
                    timed["exact"] += spent

        def exact(self, ev):
            start = time.perf_counter()
            try:
                return exact0(self, ev)
            finally:
                timed["exact"] += time.perf_counter() - start

        def with_point(self, *a):
            start = time.perf_counter()
            try:
                return with_point0(self, *a)
            finally:
                timed["exact"] += time.perf_counter() - start

        def trial(self, phi, t):
            out = trial0(self, phi, t)
            trials["all"] += 1
            trials["trusted"] += bool(out is not None and out.trusted)
            return out

        Objective.exact, Objective.with_point, lrn.LocalModel.trial = exact, with_point, trial
        lrn.LocalModel._prepare = prepare
        try:
            with instrumented(clone(est) if mode == "naive" else None, room=m) as stats:
                start = time.perf_counter()
                result = attack(m).generate(X, y)
                total = time.perf_counter() - start
        finally:
            Objective.exact, Objective.with_point, lrn.LocalModel.trial = (
                exact0,
                with_point0,
                trial0,
            )
            lrn.LocalModel._prepare = prepare0
    first = timed.get("first_centre", 0.0)
    loop = total - stats["setup"] - first
    iters = int(result.n_iter.sum())
    out = dict(
        spec,
        total=total,
        setup=stats["setup"] + first,
        loop=loop,
        iters=iters,
        per_iter=loop / max(iters, 1),
        per_point=loop / m,
        exact=timed["exact"],
        per_iter_rest=(loop - timed["exact"]) / max(iters, 1),
        trusted=trials["trusted"] / max(trials["all"], 1),
        peak_mib=_peak_mib(),
        E_clean=float(result.effect_clean),
        E=float(result.effect_final),
        X_poison=result.X_poison.tolist(),
    )
    if spec.get("probes"):  # the model's gradient against the exact one, out to 3σ
        objective = attack(1).objective(X, y)
        rng = np.random.default_rng(SEED)
        errors = []
        for i in range(spec["probes"]):
            x = np.clip(1.5 * rng.standard_normal(X.shape[1]), -3.0, 3.0)
            t = float(objective.victim.encode(y[i : i + 1])[0])
            model = objective.evaluate(x, t)
            if not model.modelled:
                continue
            exact = objective.evaluate(x, t, exact=True)
            errors.append(
                float(np.linalg.norm(model.grad_x - exact.grad_x) / np.linalg.norm(exact.grad_x))
            )
        out["probe_errors"] = errors
    if spec.get("check_theta"):
        tight = models.spec_for(est).tight_clone(clone(est))
        fitted = tight.fit(np.vstack([X, result.X_poison]), np.concatenate([y, result.y_poison]))
        theta = np.hstack(
            [np.atleast_2d(fitted.coef_), np.atleast_1d(fitted.intercept_)[:, None]]
        ).ravel()
        out["theta_rel"] = float(
            np.max(np.abs(result.theta_history[-1] - theta)) / np.max(np.abs(theta))
        )
    return out


def _smooth_line(label: str, r: dict) -> str:
    return (
        f"{label:<34}{_fmt_n(r['n']):>5}{r['m']:>6}{r['iters'] / r['m']:>7.1f}"
        f"{r['setup']:>8.2f}{r['total'] / r['m'] * 1e3:>10.2f}{r['per_point'] * 1e3:>10.2f}"
        f"{r['per_iter'] * 1e3:>9.3f}{r['per_iter_rest'] * 1e3:>9.3f}"
        f"{r['exact'] / r['m'] * 1e3:>9.2f}{r['trusted']:>8.0%}{r['peak_mib']:>7.0f}"
    )


def run_smooth(args, executor) -> None:
    """The judged numbers of the local model (benchmarks/README.md, --smooth)."""

    def run(case, n, m, mode="flex", **extra):
        spec = dict(case=case, n=n, m=m, mode=mode, blas_threads=args.blas_threads, **extra)
        best = None
        for _ in range(args.rounds if mode == "flex" else 1):
            r = _pool_run(executor, run_smooth_case, spec)
            best = r if best is None or r["loop"] < best["loop"] else best
            if r["total"] > 10.0:
                break
        print(f"  … {case} n={_fmt_n(n)} {mode}: {best['total']:.2f} s", file=sys.stderr)
        return best

    header = (
        f"{'case':<34}{'n':>5}{'m':>6}{'it/pt':>7}{'setup s':>8}{'ms/pt all':>10}"
        f"{'ms/pt':>10}{'ms/it':>9}{'ms/it¹':>9}{'exact²':>9}{'model³':>8}{'MiB':>7}"
    )
    print(
        "\n--smooth: logistic / multinomial victims through the local model "
        "(one fresh process per case)"
    )
    print(header)
    print("-" * len(header))
    issue = {}
    for config, kwargs in (("paper", PAPER_STEP), ("default", {})):
        issue[config] = run("issue", 50_000, 20, kwargs=kwargs, check_theta=True)
        print(_smooth_line(f"make_classification 50k×20 ({config})", issue[config]))
    scaling = {}
    for learner in ("Logistic", "Multinomial"):
        for n in args.sizes:
            scaling[learner, n] = run(
                learner, n, 20, kwargs=PAPER_STEP, probes=40 if n == 10**4 else 0
            )
            print(_smooth_line(f"{learner} d=8 negate α=0 (paper)", scaling[learner, n]))
    naive = {}
    for learner in ("Logistic", "Multinomial"):
        naive[learner] = run(learner, 10**4, 3, mode="naive", kwargs=PAPER_STEP)
        print(_smooth_line(f"{learner} NAIVE refit (paper)", naive[learner]))
    bc = {c: run("bc-loss", 398, 5, kwargs=k) for c, k in (("paper", PAPER_STEP), ("default", {}))}
    for config, r in bc.items():
        print(_smooth_line(f"breast cancer loss avail. ({config})", r))
    l1 = {}
    for learner in ("Lasso", "ElasticNet"):
        for n in (44, 300, 999):
            l1[learner, n] = run(learner, n, 5)
            print(_smooth_line(f"{learner} (default settings)", l1[learner, n]))
    print(
        "¹ per iteration without the work that grows with n  ² that work per point (ms): "
        "the kept point's exact solve, the model's extension, S and T at a new centre  "
        "³ share of trials the model answered"
    )

    print("\ncriteria")
    r = issue["paper"]
    print(
        f"- 50k×20, α = 0, paper step: {r['per_point'] * 1e3:.2f} ms per crafted point "
        f"after the setup ({r['setup']:.2f} s), {r['total'] / r['m'] * 1e3:.2f} ms with it; "
        f"θ after 20 points vs a tight scikit-learn refit: {r['theta_rel']:.1e} relative "
        f"(default settings: {issue['default']['per_point'] * 1e3:.1f} ms/point, "
        f"{issue['default']['theta_rel']:.1e})"
    )
    lo, hi = min(args.sizes), max(args.sizes)
    for learner in ("Logistic", "Multinomial"):
        a, b = scaling[learner, lo], scaling[learner, hi]
        print(
            f"- {learner}: t({_fmt_n(hi)})/t({_fmt_n(lo)}) per iteration "
            f"{b['per_iter'] / a['per_iter']:.2f} all in, "
            f"{b['per_iter_rest'] / a['per_iter_rest']:.2f} without the work that grows "
            f"with n; naive/flexpoison at 1e4: "
            f"{naive[learner]['per_iter'] / scaling[learner, 10**4]['per_iter']:.0f}× per "
            f"iteration, {naive[learner]['per_point'] / scaling[learner, 10**4]['per_point']:.0f}× "
            "per point"
            if (learner, 10**4) in scaling
            else ""
        )
    for learner in ("Logistic", "Multinomial"):
        errors = scaling.get((learner, 10**4), {}).get("probe_errors")
        if errors:
            print(
                f"- {learner} at 1e4: the model's poisoning gradient vs the exact one on "
                f"{len(errors)} modelled probes of 40 (rows 1.5·N(0, 1) cut at ±3σ): "
                f"median {np.median(errors):.1e}, max {np.max(errors):.1e} relative"
            )
    for config, r in bc.items():
        print(
            f"- breast cancer loss availability ({config}): {r['per_point'] * 1e3:.1f} ms "
            f"per point ({r['iters'] / r['m']:.0f} iterations per point)"
        )
    worst = max(l1.values(), key=lambda r: r["per_point"])
    print(
        f"- Lasso/ElasticNet under 1,000 rows: at most {worst['per_point']:.3f} s per point "
        f"({worst['case']}, n = {worst['n']})"
    )
    print(f"load average before → after: {args.load_note()}")


def run_million_logistic(args, executor) -> None:
    m = 10_000
    r = _pool_run(
        executor,
        run_smooth_case,
        dict(
            case="Logistic",
            n=10**6,
            m=m,
            mode="flex",
            kwargs=PAPER_STEP,
            blas_threads=args.blas_threads,
        ),
    )
    print(
        f"\n--million-logistic: LogisticRegression(C=1), n = 1e6, d = {D}, 1 % poison = {m} "
        "points, Integrity('negate'), α = 0, paper step"
    )
    print(
        f"  wall time {r['total']:.1f} s = setup {r['setup']:.2f} s + {m} points × "
        f"{r['per_point'] * 1e3:.2f} ms ({r['exact'] / m * 1e3:.2f} ms of it the exact "
        f"solve and the model's extension)"
    )
    print(
        f"  iterations {r['iters']} ({r['iters'] / m:.1f}/point), "
        f"{r['per_iter'] * 1e3:.3f} ms/iter; model answered {r['trusted']:.0%} of trials"
    )
    print(f"  peak memory {r['peak_mib']:.0f} MiB; E_I {r['E_clean']:.6g} → {r['E']:.6g}")


def _learners(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [name for name in names if name not in LEARNERS + (BC,)]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"learners: unknown {unknown}; choose from " + ",".join(LEARNERS + (BC,))
        )
    return names


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(float(s)) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 50:
        raise argparse.ArgumentTypeError("sizes: comma-separated row counts ≥ 50, e.g. 1e3,1e4")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="row counts n, comma-separated (default 1e3,1e4,1e5,1e6)",
    )
    parser.add_argument(
        "--points",
        type=int,
        default=None,
        help="poison points per flexpoison case (default 20; 5 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: n ∈ {1e3, 1e4}, few points (~3 min)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile top-3 of the inner loop (Ridge, n = 1e4)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS/LAPACK threads in each case (default 1; 0 = the "
        "libraries' own default, usually one per core)",
    )
    parser.add_argument(
        "--top", type=int, default=3, help="functions shown by --profile (default 3)"
    )
    parser.add_argument(
        "--logistic-max-n",
        type=lambda v: int(float(v)),
        default=10**6,
        help="largest n for the logistic cases (default 1e6)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating flexpoison/naive rounds per case, best kept "
        "(default 5; a case whose round takes over 10 s runs once)",
    )
    parser.add_argument(
        "--learners",
        type=_learners,
        default=LEARNERS + (BC,),
        help="comma-separated subset of " + ",".join(LEARNERS + (BC,)) + " (default: all)",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="only: Ridge at n = 1e6 with 1 %% poison (10,000 points)",
    )
    parser.add_argument(
        "--smooth",
        action="store_true",
        help="only: the local model's numbers (logistic, multinomial, "
        "breast cancer, Lasso/ElasticNet; ~6 min)",
    )
    parser.add_argument(
        "--million-logistic",
        action="store_true",
        help="only: LogisticRegression at n = 1e6, 10,000 points",
    )
    args = parser.parse_args()
    if args.sizes is None:
        args.sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5, 10**6]
    if args.points is None:
        args.points = 5 if args.quick else 20
    if args.points < 1 or args.top < 1 or args.rounds < 1 or args.blas_threads < 0:
        parser.error("--points, --top and --rounds must be ≥ 1, --blas-threads ≥ 0")

    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    load_before = os.getloadavg()
    args.load_note = lambda: (
        " ".join(f"{v:.2f}" for v in load_before)
        + " → "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
        + f" (1, 5, 15 min; {os.cpu_count()} cores)"
    )
    sys.stdout.reconfigure(line_buffering=True)
    print(_machine())
    print(
        "BLAS threads per case: "
        + (str(args.blas_threads) if args.blas_threads else "library default")
    )
    # one worker, a fresh process per case: timings never overlap, peak memory is per case
    with ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1) as executor:
        if args.million:
            run_million(args, executor)
        elif args.million_logistic:
            run_million_logistic(args, executor)
        elif args.smooth:
            run_smooth(args, executor)
        else:
            run_table(args, executor)
        if args.profile:
            run_profile(args, executor)


if __name__ == "__main__":
    main()

"""The certified lower bound against the rows flexpoison's attack needs (issue 23).

    python benchmarks/bench_certify.py              # four cases (~15 min on 2 shared cores)
    python benchmarks/bench_certify.py --passes 1   # the single-pass rows only
    python benchmarks/bench_certify.py --max-points 64 --cases diabetes-ridge
    python benchmarks/bench_certify.py --results     # the certificate on 8-row results

Per case: θ₀ the victim on the training rows (70 %, seeded; stratified for
classification), θ_t the target, and

* ``bound(θ_t)``: :func:`flexpoison.certify.points_needed` at θ_t — no set of feasible
  rows (3σ box, every label / every response in the observed range) with fewer rows
  makes θ_t the victim's optimum;
* the attack ``FlexiblePoisoning(estimator, Integrity(θ_t), alpha=0, n_points=M,
  random_state=0)`` (unconcealed; every other setting at its default), whose θ after k
  points is ``theta_history[k − 1]`` (Algorithm 1: each point joins the set before the
  next is crafted): the first k with ‖θ_k − θ_t‖ ≤ ε·‖θ₀ − θ_t‖, for ε = 0.5, 0.25, 0.1;
* the same for Suya et al.'s online attack, ``model_targeted(estimator, X, y, θ_t, M,
  epsilon=0.1)`` (:mod:`flexpoison.certify.online`: each row the feasible row of the
  largest loss gap at the current model), stopped at ε = 0.1;
* the attack with ``passes=3`` (Algorithm 1's cyclic passes: each row crafted again
  given the others): with more than one pass the first k rows of an M-row run are not
  the k-row run, so each m is its own run, ``n_points=m``, and its θ is
  ``theta_poisoned``; per ε, k is the smallest m found by bisection on [1, M] among
  the runs that come within ε (reaching ε need not be monotone in m: the smallest
  m found, not a proven smallest; ">M" if the M-row run does not);
* the efficiency bound(θ_k) / k at those k: θ_k is the optimum the k rows do reach, so
  bound(θ_k) ≤ k, and a ratio near 1 says no attack reaches θ_k with much fewer rows
  (with the certificate's seconds).

Cases: ``diabetes-ridge`` — scikit-learn's diabetes in raw units
(``load_diabetes(scaled=False)``), ``Ridge(alpha=1)``, target ``flip-top``;
``cancer-logistic`` and ``cancer-svc`` — breast cancer standardised on its training
rows, ``LogisticRegression(C=1)`` and ``LinearSVC(C=1)``; ``digits17-svc`` — digits 1
against 7 (constant pixels dropped, standardised), ``LinearSVC(C=1)``. The classifiers'
target is the victim trained with the labels of one k-means cluster (k = 8, seeded) of
one class (benign; '7') flipped: the preset ``flip-subpopulation:class=A,cluster=3/8``.
For them the bound for the registry's default preset (``negate``) is printed too (no
attack: it needs far more rows than the budget).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from flexpoison import FlexiblePoisoning, Integrity, models
from flexpoison.attack.subpopulation import Subpopulation
from flexpoison.certify import model_targeted, points_needed

EPSILONS = (0.5, 0.25, 0.1)


def diabetes_ridge():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    return Ridge(alpha=1.0), X, y, "flip-top", "target flip-top"


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return (X - X.mean(axis=0)) / X.std(axis=0), y, 1, "benign"


def _digits17():
    digits = load_digits()
    rows = np.isin(digits.target, (1, 7))
    X, y = digits.data[rows], digits.target[rows]
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    X = X[:, X.std(axis=0) > 0]  # constant pixels carry nothing (and σ = 0)
    return (X - X.mean(axis=0)) / X.std(axis=0), y, 7, "'7'"


def _subpopulation(data, estimator):
    """θ_t: the preset ``flip-subpopulation:class=A,cluster=3/8`` — the victim trained
    with the labels of k-means cluster 3 of 8 (by size, 0 the largest: a middle-sized
    one) of class A flipped to the other class."""
    X, y, source, name = data()
    target = f"flip-subpopulation:class={source},cluster=3/8"
    rows = Subpopulation.parse(target).rows(X, y, None, [str(c) for c in np.unique(y)])
    return estimator, X, y, target, f"{rows.sum()} {name} rows flipped ({target})"


CASES = {
    "diabetes-ridge": diabetes_ridge,
    "cancer-logistic": lambda: _subpopulation(_cancer, LogisticRegression(max_iter=10_000)),
    "cancer-svc": lambda: _subpopulation(_cancer, LinearSVC(max_iter=10_000)),
    "digits17-svc": lambda: _subpopulation(_digits17, LinearSVC(max_iter=10_000)),
}


def run(name: str, max_points: int, passes: int = 3) -> None:
    estimator, X, y, target, note = CASES[name]()
    started = time.perf_counter()
    cert = points_needed(estimator, X, y, target)
    certify_s = time.perf_counter() - started
    theta_t, theta_0 = cert.theta_target, cert.theta_clean
    start_distance = float(np.linalg.norm(theta_0 - theta_t))
    print(
        f"\n== {name}: n={X.shape[0]}, d={X.shape[1]}, {note}; bound(θ_t) = {cert.lower_bound:.2f} "
        f"rows ({certify_s:.1f} s; {cert.scaling}; exact inner max: {cert.exact_inner})"
    )
    if target.startswith("flip-subpopulation:"):  # the default preset (negate), bound only
        preset = points_needed(estimator, X, y, models.spec_for(estimator).default_target)
        print(f"bound for the default target preset: {preset.lower_bound:.2f} rows")
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = FlexiblePoisoning(
            estimator, goal=Integrity(theta_t), alpha=0.0, n_points=max_points, random_state=0
        ).generate(X, y)
    attacks = {"flexpoison": (np.asarray(result.theta_history), time.perf_counter() - started)}
    started = time.perf_counter()
    online = model_targeted(estimator, X, y, theta_t, max_points, epsilon=min(EPSILONS))
    attacks["model-targeted"] = (online.theta_history, time.perf_counter() - started)
    print(
        f"{'attack':>15} {'ε':>5} {'k':>6} {'bound(θ_t)':>11} {'bound(θ_k)':>11} {'efficiency':>11}"
        f" {'cert s':>7}"
    )
    for attack, (history, seconds) in attacks.items():
        rel = np.linalg.norm(history - theta_t, axis=1) / start_distance
        for eps in EPSILONS:
            reached = np.flatnonzero(rel <= eps)
            if reached.size == 0:
                print(f"{attack:>15} {eps:>5} {'>' + str(len(rel)):>6} {cert.lower_bound:>11.2f}")
                continue
            k = int(reached[0]) + 1
            _row(attack, eps, k, cert.lower_bound, estimator, X, y, history[k - 1])
        print(
            f"{attack:>15} ‖θ_k − θ_t‖/‖θ₀ − θ_t‖ at k = 1, 2, 4, …: "
            + ", ".join(f"{rel[k - 1]:.3f}" for k in _powers(len(rel)))
            + f" ({len(rel)} rows in {seconds:.1f} s)"
        )
    if passes > 1:
        _multi_pass(estimator, X, y, cert, max_points, passes)


def _row(attack, eps, k, bound_t, estimator, X, y, theta_k) -> None:
    """One line of the table: k, the bounds, the efficiency and the certificate's
    seconds at θ_k."""
    started = time.perf_counter()
    lb_k = points_needed(estimator, X, y, theta_k).lower_bound
    print(
        f"{attack:>15} {eps:>5} {k:>6} {bound_t:>11.2f} {lb_k:>11.2f} {lb_k / k:>11.3f}"
        f" {time.perf_counter() - started:>7.1f}"
    )


def _multi_pass(estimator, X, y, cert, max_points: int, passes: int) -> None:
    """Per ε, the smallest m found by bisection whose own ``passes``-pass m-row run
    comes within ε (module docstring), its bound and efficiency."""
    theta_t = cert.theta_target
    start_distance = float(np.linalg.norm(cert.theta_clean - theta_t))
    runs: dict[int, np.ndarray] = {}
    started = time.perf_counter()

    def distance(m: int) -> float:
        if m not in runs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs[m] = (
                    FlexiblePoisoning(
                        estimator,
                        goal=Integrity(theta_t),
                        alpha=0.0,
                        n_points=m,
                        passes=passes,
                        random_state=0,
                    )
                    .generate(X, y)
                    .theta_poisoned
                )
        return float(np.linalg.norm(runs[m] - theta_t)) / start_distance

    name = f"{passes} passes"
    for eps in EPSILONS:
        if distance(max_points) > eps:
            print(f"{name:>15} {eps:>5} {'>' + str(max_points):>6} {cert.lower_bound:>11.2f}")
            continue
        low, high = 0, max_points  # distance(high) ≤ ε; low: not reached (0: no rows)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if distance(middle) <= eps else (middle, high)
        _row(name, eps, high, cert.lower_bound, estimator, X, y, runs[high])
    print(
        f"{name:>15} ‖θ_m − θ_t‖/‖θ₀ − θ_t‖ of its own m-row run, m = "
        + ", ".join(f"{m}: {distance(m):.3f}" for m in sorted(runs))
        + f" ({len(runs)} runs in {time.perf_counter() - started:.1f} s)"
    )


def _powers(m: int) -> list[int]:
    out = [2**i for i in range(int(math.log2(m)) + 1)]
    return out if out[-1] == m else out + [m]


def _diabetes_standardised():
    X, y = load_diabetes(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    return Ridge(alpha=1.0), (X - X.mean(axis=0)) / X.std(axis=0), y, "flip-top", ""


#: ``--results``: the certificate on an attack's own result (8 rows, α = 0).
RESULT_CASES = {
    "cancer-logistic": lambda: _cluster0(_cancer, LogisticRegression(max_iter=10_000)),
    "cancer-svc": lambda: _cluster0(_cancer, LinearSVC(max_iter=10_000)),
    "diabetes-ridge": _diabetes_standardised,
    "digits17-svc": lambda: _cluster0(_digits17, LinearSVC(max_iter=10_000)),
}


def _cluster0(data, estimator):
    X, y, source, _ = data()
    return estimator, X, y, f"flip-subpopulation:class={source},cluster=0/8", ""


def results(n_points: int = 8) -> None:
    """The table of the certify page's "A certificate on an attack's result": per case
    the attack's progress, the bound for the model it reached (its efficiency) and the
    certificate's seconds."""
    from flexpoison.certify import certify_result

    print(f"{'case':>16} {'progress':>9} {'bound':>8} {'efficiency':>11} {'seconds':>8}")
    for name, make in RESULT_CASES.items():
        estimator, X, y, target, _ = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = FlexiblePoisoning(
                estimator, goal=Integrity(target), alpha=0.0, n_points=n_points, random_state=0
            ).generate(X, y)
        cert = certify_result(result).certificate
        print(
            f"{name:>16} {result.progress:>9.3f} {cert.lower_bound:>8.2f} "
            f"{cert.efficiency:>11.3f} {cert.seconds:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--max-points", type=int, default=128)
    parser.add_argument(
        "--passes", type=int, default=3, help="the multi-pass rows' passes (1: none)"
    )
    parser.add_argument(
        "--results", action="store_true", help="the certificate on 8-row attack results"
    )
    args = parser.parse_args()
    if args.results:
        results()
        return
    for name in args.cases.split(","):
        run(name.strip(), args.max_points, args.passes)


if __name__ == "__main__":
    main()

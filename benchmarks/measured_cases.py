"""The cases that showed the attack failing silently, before and after (issue of record).

    python benchmarks/measured_cases.py            # the four cases, about 3 minutes
    python benchmarks/measured_cases.py --starts   # also: gain and time for starts 1, 2, 4, 6

1. ``make_classification(10000, 10, n_informative=6, random_state=0)``, standardised,
   ``LogisticRegression(C=1)``, ``Integrity("negate")``, 1 % poison: how much of α = 0's
   reduction of E_I α = 0.5 keeps, and at what mean C.
2. ``load_diabetes(scaled=False)``, ``Ridge(alpha=1)``,
   ``Integrity("predict:300@50,1,25,90,180,110,50,4,4.6,90")``, 20 points, α ∈ {0, 0.5}:
   E_I must end below (α = 0) and not above (α = 0.5) its clean value.
3. ``make_regression(6698, 4, noise=10, random_state=0)``, 70/30 split (random_state 0),
   X and y standardised on the training rows, ``Ridge(alpha=1)``, ``LossAvailability()``,
   α = 0, response fixed, 20 points, the box = the training rows' min/max alone
   (``n_sigma=None``): the test MSE of a scikit-learn refit on clean + poison rows.

Every setting not named is the library's default. ``--starts`` runs five cases (20–30
points) at α = 0 and 0.5 with 1, 2, 4 and 6 starts and prints the attacker's gain in E,
the mean C and the time per point.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import (
    load_diabetes,
    load_wine,
    make_classification,
    make_regression,
)
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from flexpoison import (
    Availability,
    FlexiblePoisoning,
    FlexPoisonWarning,
    Integrity,
    LossAvailability,
)

PREDICT = "predict:300@50,1,25,90,180,110,50,4,4.6,90"


def _gain(result) -> float:
    sign = -1.0 if result.goal == "integrity" else 1.0
    return sign * (result.effect_final - result.effect_clean)


def _timed(attack: FlexiblePoisoning, X, y):
    start = time.perf_counter()
    result = attack.generate(X, y)
    return result, time.perf_counter() - start


def logistic_10k() -> None:
    X, y = make_classification(10000, 10, n_informative=6, random_state=0)
    X = StandardScaler().fit_transform(X)
    runs = {}
    for alpha in (0.0, 0.5):
        attack = FlexiblePoisoning(
            LogisticRegression(C=1),
            goal=Integrity("negate"),
            alpha=alpha,
            rate=0.01,
            random_state=0,
        )
        runs[alpha], seconds = _timed(attack, X, y)
        r = runs[alpha]
        print(
            f"logistic 10k α={alpha:g}: E_I {r.effect_clean:.4f} -> {r.effect_final:.4f}; "
            f"mean C {r.concealment.mean():.3g}; {seconds:.1f} s; warnings {len(r.warnings)}"
        )
    share = _gain(runs[0.5]) / _gain(runs[0.0])
    print(f"logistic 10k: α=0.5 keeps {share:.1%} of α=0's reduction")


def diabetes_predict() -> None:
    data = load_diabetes(scaled=False)
    for alpha in (0.0, 0.5):
        attack = FlexiblePoisoning(
            Ridge(alpha=1), goal=Integrity(PREDICT), alpha=alpha, n_points=20, random_state=0
        )
        r, seconds = _timed(attack, data.data, data.target)
        below = "below" if r.effect_final < r.effect_clean else "NOT below"
        print(
            f"diabetes predict α={alpha:g}: E_I {r.effect_clean:.6f} -> {r.effect_final:.6f} "
            f"({below} clean; progress {r.progress:.3%}); {seconds:.2f} s; "
            f"warnings: {'; '.join(r.warnings) or 'none'}"
        )


def ridge_loss() -> None:
    X, y = make_regression(6698, 4, noise=10, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    sx, sy = StandardScaler().fit(Xtr), StandardScaler().fit(ytr[:, None])
    Xtr, Xte = sx.transform(Xtr), sx.transform(Xte)
    ytr, yte = sy.transform(ytr[:, None])[:, 0], sy.transform(yte[:, None])[:, 0]
    for n_sigma in (None, 3.0):
        attack = FlexiblePoisoning(
            Ridge(alpha=1),
            goal=LossAvailability(),
            alpha=0.0,
            n_points=20,
            n_sigma=n_sigma,
            bounds=(Xtr.min(0), Xtr.max(0)),
            random_state=0,
        )
        r, seconds = _timed(attack, Xtr, ytr)
        clean = Ridge(alpha=1).fit(Xtr, ytr)
        poisoned = Ridge(alpha=1).fit(np.vstack([Xtr, r.X_poison]), np.append(ytr, r.y_poison))
        mse = [float(np.mean((m.predict(Xte) - yte) ** 2)) for m in (clean, poisoned)]
        box = "min/max alone" if n_sigma is None else "min/max ∩ 3σ"
        print(f"ridge loss, box {box}: test MSE {mse[0]:.4f} -> {mse[1]:.4f}; {seconds:.2f} s")


def starts_table() -> None:
    d = load_diabetes(scaled=False)
    X, y = make_regression(6698, 4, noise=10, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    w = load_wine()
    Xc, yc = make_classification(10000, 10, n_informative=6, random_state=0)
    cases = {
        "diabetes ridge flip-top": (Ridge(alpha=1), Integrity("flip-top"), d.data, d.target, 20),
        "regression lasso availability": (Lasso(alpha=0.01), Availability(), X, y, 20),
        "regression ridge loss": (Ridge(alpha=1), LossAvailability(), X, y, 20),
        "wine logistic integrity": (
            LogisticRegression(),
            Integrity(),
            StandardScaler().fit_transform(w.data),
            w.target,
            9,
        ),
        "10k logistic negate": (
            LogisticRegression(),
            Integrity("negate"),
            StandardScaler().fit_transform(Xc),
            yc,
            30,
        ),
    }
    for name, (estimator, goal, Xs, ys, m) in cases.items():
        for alpha in (0.0, 0.5):
            cells = []
            for starts in (1, 2, 4, 6):
                attack = FlexiblePoisoning(
                    estimator, goal=goal, alpha=alpha, n_points=m, starts=starts, random_state=0
                )
                r, seconds = _timed(attack, Xs, ys)
                cells.append(
                    f"{starts}: gain {_gain(r):.4g}, C {r.concealment.mean():.3g}, "
                    f"{1000 * seconds / m:.0f} ms/pt"
                )
            print(f"{name:30s} α={alpha:g} | " + " | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", action="store_true", help="also the starts table")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FlexPoisonWarning)  # each case prints its warnings
    start = time.perf_counter()
    ridge_loss()
    diabetes_predict()
    logistic_10k()
    if args.starts:
        starts_table()
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

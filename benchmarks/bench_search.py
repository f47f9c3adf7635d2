"""What the per-point search costs, as ratios: starts, the share trade-off, pipelines,
many rows, and the prediction goal against the rows placed at x*.

    python benchmarks/bench_search.py            # ~15 s on 2 cores
    python benchmarks/bench_search.py --repeats 5

Each time is the median of ``--repeats`` runs of ``generate`` in this process (one
BLAS thread), divided by the number of points. Beside the time ratios of the starts
and share lines, ``calls`` is the ratio of the objective's evaluations (trial values
and accepted points' gradients, counted on one more run): the same comparison in a
unit the machine's load does not move. Cases:

* **starts** — the default (4 starts, screened, plus the point before) against
  ``starts=1``, at α = 0: cost ratio and gain ratio, on raw diabetes (Ridge flip-top,
  Ridge loss availability, Lasso availability; 20, 20, 10 points), breast cancer
  (logistic loss availability, box = training range, 5 points) and wine (multinomial
  logistic availability, standardised, 5 points);
* **share** — α = 0.5 against α = 0 (the share trade-off's α = 0 run included), and
  the share of the α = 0 gain kept, on the first three of those cases;
* **pipeline** — ``make_pipeline(StandardScaler(), Ridge())`` against ``Ridge()`` on
  raw diabetes, loss availability, 20 points;
* **50k logistic** — ``make_classification(50,000, 20, n_informative=10)``
  standardised, ``LogisticRegression(C=1)``, ``Integrity("negate")``, α = 0, 20
  points, the defaults against the paper's step and one start (setup included);
* **prediction** — raw diabetes, Ridge, ``predict:300@x*`` at a diabetes row, 20
  points, α = 0: the poisoned model's prediction at x* (scikit-learn refit) against
  :func:`flexpoison.attack.baselines.at_target`'s.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine, make_classification
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from flexpoison import (
    Availability,
    FlexiblePoisoning,
    FlexPoisonWarning,
    Integrity,
    LossAvailability,
)
from flexpoison.attack.baselines import at_target
from flexpoison.attack.objective import Objective

X_STAR = [50, 1, 25, 90, 180, 110, 50, 4, 4.6, 90]


def cases():
    Xd, yd = load_diabetes(return_X_y=True, scaled=False)
    bc = load_breast_cancer()
    X_tr, _, y_tr, _ = train_test_split(
        bc.data, bc.target, test_size=0.3, stratify=bc.target, random_state=0
    )
    Xb = StandardScaler().fit(X_tr).transform(X_tr)
    box = dict(n_sigma=None, bounds=(Xb.min(axis=0), Xb.max(axis=0)))
    wine = load_wine()
    Xw = StandardScaler().fit_transform(wine.data)
    return [
        ("diabetes ridge flip-top", Ridge(), Integrity("flip-top"), Xd, yd, 20, {}),
        ("diabetes ridge loss", Ridge(), LossAvailability(), Xd, yd, 20, {}),
        ("diabetes lasso availability", Lasso(), Availability(), Xd, yd, 10, {}),
        ("bc logistic loss", LogisticRegression(), LossAvailability(), Xb, y_tr, 5, box),
        (
            "wine logistic availability",
            LogisticRegression(),
            Availability(),
            Xw,
            wine.target,
            5,
            {},
        ),
    ]


class Calls:
    """Counts the objective's evaluations (``Objective.evaluate``: a trial's value,
    and ``differentiate``: an accepted point's gradient) while active: the search's
    cost in the unit that does not move with the machine's load."""

    count = 0

    def __enter__(self):
        self._saved = Objective.evaluate, Objective.differentiate
        evaluate, differentiate = self._saved

        def counted_evaluate(obj, *a, **k):
            Calls.count += 1
            return evaluate(obj, *a, **k)

        def counted_differentiate(obj, *a, **k):
            Calls.count += 1
            return differentiate(obj, *a, **k)

        Objective.evaluate, Objective.differentiate = counted_evaluate, counted_differentiate
        Calls.count = 0
        return self

    def __exit__(self, *exc):
        Objective.evaluate, Objective.differentiate = self._saved


def timed(estimator, goal, X, y, m, repeats, count=False, **kw):
    """(seconds per point, median of ``repeats``; with ``count``, objective calls per
    point, counted on one more run, else 0; the last result)."""
    times = []
    for _ in range(repeats):
        attack = FlexiblePoisoning(estimator, goal=goal, n_points=m, random_state=0, **kw)
        start = time.perf_counter()
        result = attack.generate(X, y)
        times.append(time.perf_counter() - start)
    if not count:
        return float(np.median(times)) / m, 0.0, result
    with Calls():
        FlexiblePoisoning(estimator, goal=goal, n_points=m, random_state=0, **kw).generate(X, y)
    return float(np.median(times)) / m, Calls.count / m, result


def gain(result, goal) -> float:
    return goal.sign * (result.effect_clean - result.effect_final)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    warnings.simplefilter("ignore", FlexPoisonWarning)
    r = args.repeats
    print("starts: the default against starts=1, alpha = 0")
    print(f"  {'case':<29}{'ms/pt':>8}{'1 start':>9}{'cost':>7}{'calls':>7}{'gain':>7}{'it/pt':>7}")
    for name, est, goal, X, y, m, kw in cases():
        s4, c4, r4 = timed(est, goal, X, y, m, r, True, alpha=0.0, **kw)
        s1, c1, r1 = timed(est, goal, X, y, m, r, True, alpha=0.0, starts=1, **kw)
        print(
            f"  {name:<29}{s4 * 1e3:8.1f}{s1 * 1e3:9.1f}{s4 / s1:6.2f}x{c4 / c1:6.2f}x"
            f"{gain(r4, goal) / gain(r1, goal):6.2f}x{np.median(r4.n_iter):7.0f}"
        )
    print("share trade-off: alpha = 0.5 against alpha = 0")
    for name, est, goal, X, y, m, kw in cases()[:3]:
        s0, c0, r0 = timed(est, goal, X, y, m, r, True, alpha=0.0, **kw)
        s5, c5, r5 = timed(est, goal, X, y, m, r, True, alpha=0.5, **kw)
        print(
            f"  {name:<29} cost {s5 / s0:5.2f}x (calls {c5 / c0:5.2f}x), "
            f"share kept {gain(r5, goal) / gain(r0, goal):.3f}"
        )
    Xd, yd = load_diabetes(return_X_y=True, scaled=False)
    plain, _, _ = timed(Ridge(), LossAvailability(), Xd, yd, 20, r, alpha=0.0)
    piped, _, _ = timed(
        make_pipeline(StandardScaler(), Ridge()), LossAvailability(), Xd, yd, 20, r, alpha=0.0
    )
    print(
        f"pipeline: {piped * 1e3:.1f} ms/pt against Ridge {plain * 1e3:.1f} ms/pt "
        f"({piped / plain:.2f}x)"
    )
    X, y = make_classification(n_samples=50_000, n_features=20, n_informative=10, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    goal = Integrity("negate")
    for label, kw in (("defaults", {}), ("paper step, 1 start", dict(step="paper", starts=1))):
        s, _, res = timed(LogisticRegression(), goal, X, y, 20, 1, alpha=0.0, **kw)
        print(
            f"50k x 20 logistic, {label}: {s * 1e3:.1f} ms/pt, progress {res.progress:.4f}, "
            f"{np.median(res.n_iter):.0f} it/pt"
        )
    goal = Integrity("predict:300@" + ",".join(map(str, X_STAR)))
    _, _, res = timed(Ridge(), goal, Xd, yd, 20, 1, alpha=0.0)
    base = at_target(Ridge(), Xd, yd, 20, goal)
    refit = Ridge().fit(np.vstack([Xd, base.X_poison]), np.r_[yd, base.y_poison])
    clean = Ridge().fit(Xd, yd).predict([X_STAR])[0]
    print(
        f"prediction at x*: clean {clean:.1f}, flexpoison "
        f"{res.poisoned_model().predict([X_STAR])[0]:.1f}, at_target "
        f"{refit.predict([X_STAR])[0]:.1f} (asked: 300)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

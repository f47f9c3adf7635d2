"""flexpoison against secml 0.15.6 on the same rows, in the same run: strength and time.

    python benchmarks/bench_peers.py --secml-python /path/to/secml-venv/bin/python
    python benchmarks/bench_peers.py --cases logistic --repeats 3

secml needs Python 3.10 with numpy 1.23.5, scipy 1.9.3, scikit-learn 1.1.3 and
matplotlib 3.5.3 (it does not install beside flexpoison's numpy 2); make it once:

    python3.10 -m venv secml-venv
    secml-venv/bin/pip install secml==0.15.6 numpy==1.23.5 scipy==1.9.3 \\
        scikit-learn==1.1.3 matplotlib==3.5.3

The secml attack runs as a child process of this one (``--secml-python``, or the
``SECML_PYTHON`` environment variable; without it only flexpoison runs), on the rows
this script writes to a temporary file, and hands its poison rows back; both sets of
rows are then scored here by the same scikit-learn refit.

Data: scikit-learn's breast cancer (569 × 30), a 70/30 split stratified with seed 0,
standardised on the training rows. The attacker's box is the training rows' range
(flexpoison ``n_sigma=None, bounds=(min, max)``; secml ``lb, ub``). Cases:

* ``logistic`` — ``LogisticRegression(C=1)``, 5 points; flexpoison
  ``LossAvailability()`` (the mean log-loss on the training rows, raised) at α = 0 and
  every other setting at its default; secml ``CAttackPoisoningLogisticRegression``
  on ``CClassifierLogistic(C=1)`` with the training rows as its validation set.
* ``linear-svc`` — ``SVC(kernel="linear", C=1)``, 10 points; flexpoison
  ``LossAvailability(X_train, y_train)`` (the mean hinge loss on the training rows) at
  α = 0; secml ``CAttackPoisoningSVM`` on ``CClassifierSVM(C=1, kernel=CKernelLinear())`` (the
  attack needs the dual), same validation set.

secml's solver is its default ``pgd-ls`` with ``eta = eta_min = 0.05``,
``max_iter = 50``, ``eps = 1e-6`` (its poisoning tutorial's settings), random initial
points with ``random_seed = 0``.

Columns: the poisoned model's test accuracy and its mean training loss (log-loss, or
hinge for the SVC) after a scikit-learn refit on clean + poison rows; seconds per
poison point (flexpoison: the median of ``--repeats`` runs of ``generate``; secml: its
``run``, once, imports and process start not counted); and the time ratio
secml / flexpoison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from flexpoison import FlexiblePoisoning, FlexPoisonWarning, LossAvailability

CASES = {"logistic": 5, "linear-svc": 10}
SECML_ITER = 50

# Runs in secml's own interpreter: argv = input .npz, output .npz.
SECML_SCRIPT = """
import sys, time
import numpy as np
from secml.array import CArray
from secml.data import CDataset
from secml.ml.classifiers import CClassifierLogistic, CClassifierSVM
from secml.ml.kernels import CKernelLinear
from secml.adv.attacks.poisoning import (
    CAttackPoisoningLogisticRegression, CAttackPoisoningSVM)

d = np.load(sys.argv[1])
case, m = str(d["case"]), int(d["m"])
train = CDataset(CArray(d["X"]), CArray(d["y"]))
if case == "logistic":
    clf, attack_class = CClassifierLogistic(C=1.0), CAttackPoisoningLogisticRegression
else:
    clf, attack_class = CClassifierSVM(C=1.0, kernel=CKernelLinear()), CAttackPoisoningSVM
clf.fit(train.X, train.Y)
params = {"eta": 0.05, "eta_min": 0.05, "eta_max": None,
          "max_iter": int(d["max_iter"]), "eps": 1e-6}
attack = attack_class(classifier=clf, training_data=train, val=train,
                      lb=CArray(d["lb"]), ub=CArray(d["ub"]),
                      solver_params=params, random_seed=0)
attack.n_points = m
start = time.perf_counter()
_, _, poison, _ = attack.run(CArray(d["X_test"]), CArray(d["y_test"]))
seconds = time.perf_counter() - start
np.savez(sys.argv[2], X=poison.X.tondarray(), y=poison.Y.tondarray().ravel(),
         seconds=seconds)
"""


def data():
    bc = load_breast_cancer()
    X_train, X_test, y_train, y_test = train_test_split(
        bc.data, bc.target, test_size=0.3, stratify=bc.target, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def victim(case: str):
    if case == "logistic":
        return LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
    return SVC(kernel="linear", C=1.0, tol=1e-8)


def score(case, X, y, X_test, y_test, X_p, y_p) -> tuple[float, float]:
    """Test accuracy and mean training loss of the victim refitted on clean + poison."""
    model = victim(case).fit(np.vstack([X, X_p]), np.append(y, y_p))
    accuracy = float(model.score(X_test, y_test))
    z = model.decision_function(X)
    s = np.where(y == model.classes_[1], 1.0, -1.0)
    if case == "logistic":
        loss = float(np.mean(np.logaddexp(0.0, -s * z)))
    else:
        loss = float(np.mean(np.maximum(0.0, 1.0 - s * z)))
    return accuracy, loss


def flexpoison_run(case, X, y, m, repeats):
    goal = LossAvailability() if case == "logistic" else LossAvailability(X, y)
    estimator = LogisticRegression(C=1.0) if case == "logistic" else SVC(kernel="linear", C=1.0)
    attack = FlexiblePoisoning(
        estimator,
        goal=goal,
        alpha=0.0,
        n_points=m,
        n_sigma=None,
        bounds=(X.min(axis=0), X.max(axis=0)),
        random_state=0,
    )
    times = []
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FlexPoisonWarning)
            start = time.perf_counter()
            result = attack.generate(X, y)
            times.append(time.perf_counter() - start)
    iters = float(np.median(result.n_iter))
    return result.X_poison, result.y_poison, float(np.median(times)) / m, iters


def secml_run(python, case, X, y, X_test, y_test, m):
    with tempfile.TemporaryDirectory() as tmp:
        given, taken = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(
            given,
            case=case,
            m=m,
            X=X,
            y=y,
            X_test=X_test,
            y_test=y_test,
            lb=X.min(axis=0),
            ub=X.max(axis=0),
            max_iter=SECML_ITER,
        )
        script = Path(tmp, "secml_attack.py")
        script.write_text(SECML_SCRIPT)
        done = subprocess.run(
            [python, str(script), str(given), str(taken)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"secml failed:\n{done.stderr[-2000:]}")
        out = np.load(taken)
        return out["X"], out["y"].astype(int), float(out["seconds"]) / m


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secml-python", default=os.environ.get("SECML_PYTHON"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeats", type=int, default=3, help="flexpoison runs (median)")
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.blas_threads)
    X, X_test, y, y_test = data()
    print(f"breast cancer: train {X.shape[0]} × {X.shape[1]}, test {X_test.shape[0]}")
    head = f"{'case':<11}{'attack':<11}{'m':>3}{'test acc':>10}{'train loss':>12}"
    print(head + f"{'s/point':>11}{'it/pt':>7}{'secml/flex':>12}")
    for case in args.cases.split(","):
        m = CASES[case]
        clean = score(case, X, y, X_test, y_test, np.empty((0, X.shape[1])), [])
        print(f"{case:<11}{'clean':<11}{0:>3}{clean[0]:>10.4f}{clean[1]:>12.4f}")
        X_p, y_p, flex_s, iters = flexpoison_run(case, X, y, m, args.repeats)
        acc, loss = score(case, X, y, X_test, y_test, X_p, y_p)
        print(
            f"{case:<11}{'flexpoison':<11}{m:>3}{acc:>10.4f}{loss:>12.4f}{flex_s:>11.4f}"
            f"{iters:>7.0f}"
        )
        if args.secml_python:
            X_s, y_s, secml_s = secml_run(args.secml_python, case, X, y, X_test, y_test, m)
            acc, loss = score(case, X, y, X_test, y_test, X_s, y_s)
            print(
                f"{case:<11}{'secml':<11}{m:>3}{acc:>10.4f}{loss:>12.4f}{secml_s:>11.4f}"
                f"{'':>7}{secml_s / flex_s:>11.1f}×"
            )
    if not args.secml_python:
        print("(secml not run: give --secml-python or SECML_PYTHON; see the docstring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Experiment grids: expand a sweep file into runs, run them anywhere, keep the results.

A *sweep file* (TOML, read with :mod:`tomllib`; it is data, nothing in it is executed)
names a grid; every point of the grid is one *run*, a pure function of its settings.
Runs execute in local processes (default), in this process (``workers=1``) or on a Dask
cluster; the parent process alone writes each finished run into a SQLite store, in its
own transaction, so a sweep can be killed at any moment and resumed.

The sweep file
--------------
One table, ``[sweep]``. The grid is the product of the seven lists (sanitizers are not
a grid axis: every run measures every sanitizer listed)::

    [sweep]
    name = "demo"                        # optional label (default: the file's stem)
    datasets = ["iris", "breast_cancer"] # ccpp, airquality, iris, breast_cancer
    models = ["logistic"]                # linear, ridge, lasso, elasticnet, logistic
    goals = ["integrity", "availability"]  # also "loss-availability"
    alphas = [0.0, 0.5, 1.0]             # each in [0, 1]
    rates = [0.05, 0.1]                  # poisoning rates m / n, each > 0
    seeds = [0, 1]                       # integers in [0, 2**32 - 1]
    sanitizers = ["sphere", "loss"]      # optional, default none: three_sigma, sphere,
                                         #   slab, isolation_forest, lof, loss, trim
    max_iter = 100                       # optional attack settings (defaults shown)
    tol = 1e-6
    step = "backtracking"                # or "paper"
    n_sigma = 3.0
    test_size = 0.3                      # hold-out share of the split
    clean_removal = 0.05                 # share of clean rows each sanitizer removes
    data_dir = "../shared/data"          # optional; relative to the sweep file's folder
    skip_incompatible = false            # see below

Every list must be a non-empty array of the stated type with no repeated value; ints
are accepted where numbers are (``alphas = [0, 1]``), booleans never. Models are those
of ``flexpoison frontier`` (ridge = Ridge(alpha=1), lasso = Lasso(alpha=1),
elasticnet = ElasticNet(alpha=1, l1_ratio=0.5), logistic = LogisticRegression(C=1));
goals use the task's default target preset.

*Incompatible pairs.* A regression model on a classification data set (or the reverse),
or ``trim`` (regression only) on a classification data set, is refused by default,
naming the pair. With ``skip_incompatible = true`` such (data set, model) pairs are left
out of the grid, and ``trim`` is left out of the runs on classification data: one file
can then hold ``datasets = ["ccpp", "iris"]`` with ``models = ["ridge", "logistic"]``.

A file is refused as a whole, before any run starts and before the output directory is
created, with one line ``FILE: key 'sweep.KEY': reason``: unknown keys or tables, wrong
types, empty lists (an empty grid), unknown names, out-of-range values, incompatible
pairs, a rate that rounds to 0 poison rows, or a data set that cannot be loaded.

One run
-------
Load the data set; split 70/30 with the run's seed (stratified for classification) and
standardise on the training split (:func:`~flexpoison.experiments.split_and_standardise`);
craft poison with :class:`~flexpoison.attack.FlexiblePoisoning` at the run's α, rate
(m = round(rate·n)), goal and seed; record θ₀, θ_t, θ_p, E clean and final, E after
each point, mean C, iterations, W of the first point, test MSE / accuracy of θ₀ and
θ_p; and for each sanitizer, as ``flexpoison frontier`` measures it: recall on the
poison, share of clean rows removed, effect and test metric of the victim refitted on
the rows kept. BLAS thread pools are limited to one thread during a run, so a result
does not depend on the machine's thread count or on how many runs share its cores.

The run's *id* is the first 16 hex digits of the SHA-256 of the canonical JSON (sorted
keys, no spaces) of its settings: schema, dataset, model, goal, alpha, rate, seed,
sanitizers, max_iter, tol, step, n_sigma, test_size, clean_removal (null without
sanitizers). ``name`` and ``data_dir`` are not settings of a run: a run computed for
one grid is reused by any other grid that contains it (the data are identified by name;
their files are checked against their SHA-256 wherever they are read).

The store
---------
``OUT/results.sqlite``, WAL journal, ``synchronous=FULL``; table ``runs`` with one row per
run: ``run_id`` (primary key), ``status`` ('done' or 'failed'), ``settings`` and
``result`` (JSON), ``error`` (``Type: message``), ``traceback``, ``wall_seconds``,
``versions`` (JSON), ``worker`` (host:pid), ``attempts``, ``finished_at`` (UTC, ISO 8601).
A run without a row is pending. A finished ('done') row is never replaced.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import multiprocessing
import os
import platform
import re
import socket
import sqlite3
import threading
import time
import tomllib
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FlexPoisonError

__all__ = [
    "SCHEMA_VERSION", "STORE_NAME", "SweepFileError", "StoreError", "Run", "Sweep",
    "load_sweep", "run_id", "compute_run", "execute_run", "ResultsStore", "Outcome",
    "SweepReport", "run_sweep", "sweep_status", "StatusReport", "read_store",
    "format_table", "plot_store",
]

#: Version of a run's definition; part of every run's settings (and so of its id).
SCHEMA_VERSION = 1
STORE_NAME = "results.sqlite"
LOCK_NAME = ".flexpoison-sweep.lock"

class SweepFileError(FlexPoisonError, ValueError):
    """A sweep file is refused: ``FILE: key 'sweep.KEY': reason`` (one line)."""

    def __init__(self, path: str | os.PathLike, key: str | None, reason: str):
        self.path, self.key, self.reason = os.fspath(path), key, reason
        where = f"key {key!r}: " if key else ""
        super().__init__(f"{self.path}: {where}{' '.join(reason.split())}")


class StoreError(FlexPoisonError, RuntimeError):
    """The results store cannot be used (missing, locked by another sweep, foreign)."""


# --------------------------------------------------------------------- the sweep file


@dataclass(frozen=True)
class Run:
    """One point of the grid: its id and its settings (plain JSON values)."""

    run_id: str
    settings: Mapping

    def label(self) -> str:
        s = self.settings
        return (f"{s['dataset']} {s['model']} {s['goal']} α={s['alpha']:g} "
                f"rate={s['rate']:g} seed={s['seed']}")


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file, expanded into runs (grid order: data set, model, goal,
    α, rate, seed)."""

    name: str
    path: Path
    runs: tuple[Run, ...]
    data_dir: str | None
    skipped: tuple[str, ...] = ()     # the incompatible pairs left out, described

    def __len__(self) -> int:
        return len(self.runs)


def run_id(settings: Mapping) -> str:
    """First 16 hex digits of SHA-256 of the settings' canonical JSON."""
    return hashlib.sha256(_canonical(settings).encode("ascii")).hexdigest()[:16]


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_jsonable)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


_LISTS = ("datasets", "models", "goals", "alphas", "rates", "seeds", "sanitizers")
_DEFAULTS = {"max_iter": 100, "tol": 1e-6, "step": "backtracking", "n_sigma": 3.0,
             "test_size": 0.3, "clean_removal": 0.05, "skip_incompatible": False,
             "name": None, "data_dir": None}
_REQUIRED = _LISTS[:-1]
_KEYS = (*_LISTS, *_DEFAULTS)


class _Checker:
    """Type and range checks that name the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str | None, reason: str):
        raise SweepFileError(self.path, None if key is None else f"sweep.{key}", reason)

    def _type(self, value) -> str:
        return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
                list: "an array", dict: "a table"}.get(type(value),
                                                       type(value).__name__)

    def number(self, key, value, where=""):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"{where}expected a number, got {self._type(value)} "
                           f"({value!r})")
        if not math.isfinite(value):
            self.fail(key, f"{where}expected a finite number, got {value!r}")
        return float(value)

    def integer(self, key, value, where=""):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"{where}expected an integer, got {self._type(value)} "
                           f"({value!r})")
        return int(value)

    def string(self, key, value, where=""):
        if not isinstance(value, str):
            self.fail(key, f"{where}expected a string, got {self._type(value)} "
                           f"({value!r})")
        return value

    def array(self, key, value, kind: str, item: Callable):
        if not isinstance(value, list):
            example = {"strings": '["…"]', "numbers": "[0.5]", "integers": "[0]"}[kind]
            self.fail(key, f"expected an array of {kind} (e.g. {key} = {example}), got "
                           f"{self._type(value)} ({value!r})")
        if not value:
            self.fail(key, "empty array: the grid would have no runs" if key in _REQUIRED
                      else "empty array: leave the key out instead")
        items = [item(key, v, f"item {k + 1}: ") for k, v in enumerate(value)]
        repeated = [v for v, count in Counter(items).items() if count > 1]
        if repeated:
            self.fail(key, f"{repeated[0]!r} is given twice")
        return items

    def choice(self, key, value, choices, what, where="", canonical=str.lower):
        name = canonical(self.string(key, value, where))
        if name not in choices:
            self.fail(key, f"{where}unknown {what} {value!r}; expected one of "
                           + ", ".join(choices))
        return name

    def bounded(self, key, value, where, kind: str, ok: Callable[[float], bool],
                text: str):
        """A number (``kind="number"``) or integer satisfying ``ok``, else refuse."""
        value = self.number(key, value, where) if kind == "number" \
            else self.integer(key, value, where)
        if not ok(value):
            self.fail(key, f"{where}{value!r} is not in {text}")
        return value


def _dataset_key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read, validate and expand a sweep file (see the module docstring).

    Raises
    ------
    SweepFileError
        Anything wrong with the file, before any run starts.
    """
    path = Path(path)
    check = _Checker(path)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SweepFileError(path, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SweepFileError(path, None, f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise SweepFileError(path, None, f"cannot read it: {exc.strerror or exc}") \
            from None
    for key in document:
        if key != "sweep":
            raise SweepFileError(path, key, "unknown key; a sweep file holds one "
                                            "[sweep] table")
    table = document.get("sweep")
    if table is None:
        raise SweepFileError(path, "sweep", "missing: a sweep file holds one [sweep] "
                                            "table")
    if not isinstance(table, dict):
        raise SweepFileError(path, "sweep", "expected a table, [sweep]")
    for key in table:
        if key not in _KEYS:
            close = [k for k in _KEYS if _similar(k, key)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            check.fail(key, f"unknown key{hint}; expected one of " + ", ".join(_KEYS))
    for key in _REQUIRED:
        if key not in table:
            check.fail(key, "missing: the grid needs at least one value for each of "
                            + ", ".join(_REQUIRED))

    from sklearn.base import is_classifier

    from .datasets import DATASETS, load_dataset
    from .frontier import GOALS, MODELS, make_estimator
    from .sanitizers import SANITIZERS

    def names(key, choices, what, canonical=str.lower):
        return check.array(key, table[key], "strings",
                           lambda k, v, w: check.choice(k, v, choices, what, w, canonical))

    def numbers(key, kind, ok, text):
        return check.array(key, table[key], kind + "s",
                           lambda k, v, w: check.bounded(k, v, w, kind, ok, text))

    datasets = names("datasets", DATASETS, "data set", _dataset_key)
    models = names("models", MODELS, "model")
    goals = names("goals", GOALS, "goal")
    alphas = numbers("alphas", "number", lambda a: 0 <= a <= 1, "[0, 1]")
    rates = numbers("rates", "number", lambda r: r > 0, "(0, ∞)")
    seeds = numbers("seeds", "integer", lambda i: 0 <= i < 2**32, "[0, 2**32 - 1]")
    sanitizers = names("sanitizers", tuple(SANITIZERS), "sanitizer") \
        if "sanitizers" in table else []
    sanitizers = [name for name in SANITIZERS if name in sanitizers]  # canonical order

    opts = {**_DEFAULTS, **{k: table[k] for k in _DEFAULTS if k in table}}

    def scalar(key, kind, ok, text):
        return check.bounded(key, opts[key], "", kind, ok, text)

    max_iter = scalar("max_iter", "integer", lambda i: i >= 1, "[1, ∞)")
    tol = scalar("tol", "number", lambda t: t > 0, "(0, ∞)")
    n_sigma = scalar("n_sigma", "number", lambda k: k > 0, "(0, ∞)")
    test_size = scalar("test_size", "number", lambda t: 0 < t < 1, "(0, 1)")
    clean_removal = scalar("clean_removal", "number", lambda q: 0 <= q < 1, "[0, 1)")
    step = check.choice("step", opts["step"], ("backtracking", "paper"), "step rule")
    if not isinstance(opts["skip_incompatible"], bool):
        check.fail("skip_incompatible", f"expected true or false, got "
                                        f"{check._type(opts['skip_incompatible'])}")
    skip = opts["skip_incompatible"]
    name = path.stem if opts["name"] is None else check.string("name", opts["name"])
    data_dir = None
    if opts["data_dir"] is not None:
        folder = Path(check.string("data_dir", opts["data_dir"])).expanduser()
        folder = (path.parent / folder if not folder.is_absolute() else folder).resolve()
        if not folder.is_dir():
            check.fail("data_dir", f"{folder} is not a directory")
        data_dir = str(folder)

    # the data: task and size of each set (also proves it can be loaded here)
    tasks, n_train = {}, {}
    for name_ in datasets:
        try:
            ds = load_dataset(name_, data_dir=data_dir)
        except FlexPoisonError as exc:
            check.fail("datasets", f"cannot load {name_!r}: {exc}")
        tasks[name_] = ds.task
        n = ds.X.shape[0]
        n_train[name_] = n - math.ceil(test_size * n)

    skipped, pairs = [], []
    for ds_name in datasets:
        for model in models:
            model_task = "classification" if is_classifier(make_estimator(model)) \
                else "regression"
            if model_task != tasks[ds_name]:
                text = (f"{model!r} is a {model_task} model but {ds_name!r} is a "
                        f"{tasks[ds_name]} data set")
                if not skip:
                    check.fail("models", f"{text}; remove one of them, or set "
                                         "skip_incompatible = true to leave such pairs "
                                         "out of the grid")
                skipped.append(f"{ds_name} × {model}")
                continue
            pairs.append((ds_name, model))
    if not pairs:
        check.fail("models", "no (data set, model) pair is compatible ("
                             + "; ".join(skipped) + "): the grid would have no runs")
    if "trim" in sanitizers:
        bad = [d for d in datasets if tasks[d] != "regression"]
        if bad and not skip:
            check.fail("sanitizers", f"'trim' is defined for regression only, but "
                                     f"{bad[0]!r} is a classification data set; set "
                                     "skip_incompatible = true to leave trim out of "
                                     "its runs")
        skipped += [f"trim on {d}" for d in bad]
    for ds_name in datasets:
        for rate in rates:
            if int(round(rate * n_train[ds_name])) < 1:
                check.fail("rates", f"rate {rate!r} of the {n_train[ds_name]} training "
                                    f"rows of {ds_name!r} rounds to 0 poison rows")

    runs = []
    for ds_name, model in pairs:
        kept_sanitizers = [s for s in sanitizers
                           if not (s == "trim" and tasks[ds_name] != "regression")]
        for goal in goals:
            for alpha in alphas:
                for rate in rates:
                    for seed in seeds:
                        settings = {
                            "schema": SCHEMA_VERSION, "dataset": ds_name, "model": model,
                            "goal": goal, "alpha": alpha, "rate": rate, "seed": seed,
                            "sanitizers": kept_sanitizers, "max_iter": max_iter,
                            "tol": tol, "step": step, "n_sigma": n_sigma,
                            "test_size": test_size,
                            "clean_removal": clean_removal if kept_sanitizers else None,
                        }
                        runs.append(Run(run_id(settings), settings))
    return Sweep(name, path, tuple(runs), data_dir, tuple(skipped))


def _similar(a: str, b: str) -> bool:
    import difflib
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


# ------------------------------------------------------------------------- one run


def compute_run(settings: Mapping, data_dir: str | None = None) -> dict:
    """The result of one run: plain JSON values, a pure function of ``settings``.

    See the module docstring for what is measured. Raises whatever the attack raises.
    """
    from .attack import FlexiblePoisoning
    from .datasets import load_dataset
    from .experiments import holdout_metric, split_and_standardise
    from .frontier import EFFECT_NAMES, make_estimator, make_goal

    s = settings
    dataset = load_dataset(s["dataset"], data_dir=data_dir)
    split = split_and_standardise(dataset, test_size=s["test_size"], seed=s["seed"])
    victim = make_estimator(s["model"])
    goal = make_goal(s["goal"])
    X, y = split.X_train, split.y_train
    task = dataset.task
    attack = FlexiblePoisoning(victim, goal=goal, alpha=s["alpha"], rate=s["rate"],
                               step=s["step"], max_iter=s["max_iter"], tol=s["tol"],
                               n_sigma=s["n_sigma"], random_state=s["seed"],
                               progress=False)
    result = attack.generate(X, y)
    classes = np.unique(y) if task == "classification" else None
    out = {
        "task": task,
        "effect_name": EFFECT_NAMES[goal.kind],
        "metric_name": "test MSE" if task == "regression" else "test accuracy",
        "n_clean": int(result.n_clean),
        "n_test": int(split.X_test.shape[0]),
        "n_features": int(X.shape[1]),
        "n_poison": int(result.n_points),
        "rate_actual": result.n_points / result.n_clean,
        "theta_clean": result.theta_clean,
        "theta_target": result.theta_target,
        "theta_poisoned": result.theta_poisoned,
        "effect_clean": float(result.effect_clean),
        "effect_final": float(result.effect_history[-1]),
        "effect_history": result.effect_history,
        "mean_concealment": float(result.concealment.mean()),
        "iterations_total": int(result.n_iter.sum()),
        "iterations_per_point": result.n_iter,
        "W_first_point": result.W_history[0],
        "test_metric_before": holdout_metric(result.theta_clean, split, task, classes),
        "test_metric_after": holdout_metric(result.theta_poisoned, split, task, classes),
    }
    if s["sanitizers"]:
        out.update(_sanitised(s, victim, goal, split, result, task, classes))
    return out


def _sanitised(s, victim, goal, split, result, task, classes) -> dict:
    """Each sanitizer on clean + poison rows, measured as ``flexpoison frontier`` does."""
    # The frontier's own evaluation (sklearn refits at tight tolerance), so that the
    # two commands report the same numbers for the same attack and sanitizer.
    from .frontier import _Evaluator, _sanitizers

    X, y = split.X_train, split.y_train
    n, m = X.shape[0], result.n_points
    evaluator = _Evaluator(victim, goal.kind, np.asarray(result.theta_target), X, y,
                           split.X_test, split.y_test, task, classes)
    X_all = np.vstack([X, result.X_poison])
    y_all = np.concatenate([y, np.asarray(result.y_poison).astype(y.dtype, copy=False)])
    theta_clean = evaluator.theta(X, y)
    theta_all = evaluator.theta(X_all, y_all)
    effect_clean, effect_all = evaluator.effect(theta_clean), evaluator.effect(theta_all)
    span = effect_all - effect_clean
    rows = {}
    for name, sanitizer in _sanitizers(s["sanitizers"], task, victim, s["clean_removal"]):
        kept = sanitizer(X_all, y_all, X_clean=X, y_clean=y, task=task)
        theta = evaluator.theta(X_all[kept], y_all[kept])
        effect = evaluator.effect(theta)
        clean_kept = int(np.count_nonzero(kept < n))
        removed = m - (kept.size - clean_kept)
        rows[name] = {
            "recall": removed / m, "poison_removed": int(removed),
            "clean_removed": n - clean_kept, "clean_removed_share": (n - clean_kept) / n,
            "effect": effect, "test_metric": evaluator.metric(theta),
            "damage_left": None if abs(span) <= 1e-12 * max(1.0, abs(effect_clean))
            else (effect - effect_clean) / span,
        }
    return {"refit": {"effect_clean": effect_clean, "effect_poisoned": effect_all,
                      "test_metric_clean": evaluator.metric(theta_clean),
                      "test_metric_poisoned": evaluator.metric(theta_all)},
            "sanitizers": rows}


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one run (the row the parent writes)."""

    run_id: str
    settings: Mapping
    status: str                 # "done" or "failed"
    result: str | None          # canonical JSON
    error: str | None           # "Type: message"
    traceback: str | None
    wall_seconds: float
    versions: Mapping
    worker: str


_VERSIONS: dict | None = None


def _versions() -> dict:
    global _VERSIONS
    if _VERSIONS is None:
        import scipy
        import sklearn

        from . import __version__
        _VERSIONS = {"flexpoison": __version__, "python": platform.python_version(),
                     "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__}
    return dict(_VERSIONS)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def execute_run(payload: Mapping) -> Outcome:
    """Run one grid point where this is called (a worker), capturing any error.

    ``payload``: ``{"run_id", "settings", "data_dir"}``. BLAS/OpenMP pools are limited
    to one thread for the duration, so the numbers cannot depend on the thread count.
    Exceptions (``Exception``, not interrupts) become a 'failed' outcome.
    """
    from threadpoolctl import threadpool_limits

    # import everything the run uses first: threadpool_limits acts on loaded libraries
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    from . import attack, frontier  # noqa: F401

    worker = f"{socket.gethostname()}:{os.getpid()}"
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            result = compute_run(payload["settings"], payload.get("data_dir"))
        text = _canonical(result)
        status, error, trace = "done", None, None
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, not raised
        status, text, error, trace = "failed", None, _one_line(exc), \
            traceback.format_exc()
    return Outcome(payload["run_id"], payload["settings"], status, text, error, trace,
                   time.perf_counter() - start, _versions(), worker)


def _failed(payload: Mapping, error: str) -> Outcome:
    """A failure that happened outside the run function (a worker died, …)."""
    return Outcome(payload["run_id"], payload["settings"], "failed", None, error, None,
                   0.0, _versions(), "")


def _worker_versions() -> dict:
    return _versions()


# ---------------------------------------------------------------------- the store


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    settings     TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    traceback    TEXT,
    wall_seconds REAL NOT NULL,
    versions     TEXT NOT NULL,
    worker       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    finished_at  TEXT NOT NULL
);
"""


class ResultsStore:
    """``OUT/results.sqlite``: one row per finished run, written by one process.

    Each :meth:`record` is its own transaction (WAL journal, ``synchronous=FULL``), so
    a crash or SIGKILL loses at most the runs still in flight, never a written one.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"{self.path.parent}: no results store ({STORE_NAME}); run "
                             "'flexpoison sweep FILE --out DIR' first")
        self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            if create:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self.conn.execute(statement)
                    self.conn.execute("INSERT OR IGNORE INTO meta VALUES "
                                      "('schema_version', ?)", (str(SCHEMA_VERSION),))
            version = self.conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.path}: not a flexpoison results store ({exc})") \
                from None
        if version is None or version[0] != str(SCHEMA_VERSION):
            self.conn.close()
            raise StoreError(f"{self.path}: results store of schema version "
                             f"{version and version[0]}, this flexpoison writes "
                             f"{SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def statuses(self) -> dict[str, str]:
        """run_id → 'done' / 'failed' for every run in the store."""
        return dict(self.conn.execute("SELECT run_id, status FROM runs"))

    def record(self, outcome: Outcome) -> None:
        """Write one finished run atomically; a 'done' row is never replaced."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
        with self._transaction():
            self.conn.execute(
                "INSERT INTO runs (run_id, status, settings, result, error, traceback, "
                "wall_seconds, versions, worker, attempts, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                "settings = excluded.settings, result = excluded.result, "
                "error = excluded.error, traceback = excluded.traceback, "
                "wall_seconds = excluded.wall_seconds, versions = excluded.versions, "
                "worker = excluded.worker, attempts = runs.attempts + 1, "
                "finished_at = excluded.finished_at WHERE runs.status != 'done'",
                (outcome.run_id, outcome.status, _canonical(dict(outcome.settings)),
                 outcome.result, outcome.error, outcome.traceback,
                 float(outcome.wall_seconds), _canonical(dict(outcome.versions)),
                 outcome.worker, now))

    def rows(self, status: str | None = None) -> list[dict]:
        """Every row (settings, result and versions decoded), in rowid order."""
        query = ("SELECT rowid, run_id, status, settings, result, error, traceback, "
                 "wall_seconds, versions, worker, attempts, finished_at FROM runs")
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        out = []
        for row in self.conn.execute(query + " ORDER BY rowid", args):
            keys = ("rowid", "run_id", "status", "settings", "result", "error",
                    "traceback", "wall_seconds", "versions", "worker", "attempts",
                    "finished_at")
            item = dict(zip(keys, row))
            for key in ("settings", "result", "versions"):
                item[key] = None if item[key] is None else json.loads(item[key])
            out.append(item)
        return out


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold OUT/.flexpoison-sweep.lock: one sweep writes into a store at a time.

    An OS lock (flock), released by the kernel however the process ends (SIGKILL too).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    handle = open(out_dir / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise StoreError(f"{out_dir}: another flexpoison sweep is writing into this "
                             f"store{f' (pid {holder})' if holder else ''}; wait for it "
                             "or use another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def read_store(out_dir: str | os.PathLike, status: str | None = None) -> list[dict]:
    """The rows of ``OUT/results.sqlite`` (read only; see :meth:`ResultsStore.rows`)."""
    with ResultsStore(Path(out_dir) / STORE_NAME, create=False) as store:
        return store.rows(status)


# --------------------------------------------------------------------- executors


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _watch_parent(parent: int) -> None:
    """In a pool worker: exit when the sweep process is gone (e.g. SIGKILLed)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.25)

    threading.Thread(target=watch, name="flexpoison-parent-watch", daemon=True).start()


def _in_process(payloads: Sequence[Mapping], function, on_outcome) -> None:
    for payload in payloads:
        on_outcome(function(payload))


def _processes(payloads: Sequence[Mapping], workers: int, function, on_outcome) -> None:
    """A spawn-context process pool; at most ``workers`` runs in flight, so when a
    worker dies (out of memory, killed) the runs it may have held are known: they are
    recorded as failed and the sweep goes on with a fresh pool."""
    context = multiprocessing.get_context("spawn")
    queue = deque(payloads)
    while queue:
        with ProcessPoolExecutor(max_workers=min(workers, len(queue)),
                                 mp_context=context, initializer=_watch_parent,
                                 initargs=(os.getpid(),)) as pool:
            in_flight: dict = {}
            try:
                while queue or in_flight:
                    while queue and len(in_flight) < workers:
                        payload = queue.popleft()
                        in_flight[pool.submit(function, payload)] = payload
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    broken = False
                    for future in finished:
                        payload = in_flight.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            broken = True
                            outcome = _failed(payload, _WORKER_DIED)
                        except Exception as exc:  # noqa: BLE001 - e.g. not picklable
                            outcome = _failed(payload, _one_line(exc))
                        on_outcome(outcome)
                    if broken:
                        for payload in in_flight.values():
                            on_outcome(_failed(payload, _WORKER_DIED))
                        in_flight.clear()
                        break
            except BaseException:  # Ctrl-C: stop the runs in flight now
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    with contextlib.suppress(Exception):
                        process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise


_WORKER_DIED = ("WorkerDied: the worker process running this run (or one running "
                "beside it) ended abruptly (killed, out of memory, or a crash in native "
                "code); --retry-failed runs it again")


def _dask(client, payloads: Sequence[Mapping], function, on_outcome) -> None:
    from distributed import as_completed

    token = os.urandom(4).hex()
    futures = {client.submit(function, p, key=f"flexpoison-run-{p['run_id']}-{token}",
                             pure=False): p for p in payloads}
    try:
        for future in as_completed(list(futures)):
            payload = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, cancellation, …
                outcome = _failed(payload, _one_line(exc))
            future.release()
            on_outcome(outcome)
    except BaseException:
        client.cancel(list(futures))
        raise


# ------------------------------------------------------------------------- a sweep


@dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did."""

    total: int                  # runs in the grid
    skipped: int                # already done (or failed, without retry) before
    done: int                   # done now
    failed: int                 # failed now
    pending: int                # still without a row (interrupted)
    failed_total: int           # failed rows of the grid after the sweep
    executor: str
    seconds: float
    failures: tuple[tuple[str, str, str], ...] = ()   # (run_id, label, error) now


def _payloads(runs: Iterable[Run], data_dir: str | None) -> list[dict]:
    return [{"run_id": r.run_id, "settings": dict(r.settings), "data_dir": data_dir}
            for r in runs]


@contextlib.contextmanager
def _executor(workers: int | None, scheduler: str | None, dask_local: bool
              ) -> Iterator[tuple[str, Callable]]:
    """(description, runner(payloads, function, on_outcome)) for the chosen executor."""
    if scheduler is not None or dask_local:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise StoreError("Dask is not installed: pip install 'flexpoison[dask]'") \
                from None
        cluster = None
        try:
            if scheduler is not None:
                try:
                    client = Client(scheduler, timeout="20s")
                except (OSError, TimeoutError) as exc:
                    raise StoreError(f"--scheduler {scheduler}: cannot connect "
                                     f"({_one_line(exc)})") from None
                where = f"Dask scheduler {scheduler}"
            else:
                n = workers or _available_cpus()
                cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                client = Client(cluster)
                where = f"Dask LocalCluster ({n} worker processes)"
            try:
                try:
                    client.run(_worker_versions)
                except Exception as exc:  # noqa: BLE001
                    raise StoreError(f"the Dask workers cannot run flexpoison "
                                     f"({_one_line(exc)}); install it on every worker") \
                        from None
                yield where, lambda p, f, o: _dask(client, p, f, o)
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
        return
    n = workers or _available_cpus()
    if n == 1:
        yield "this process", lambda p, f, o: _in_process(p, f, o)
    else:
        yield f"{n} local processes", lambda p, f, o: _processes(p, n, f, o)


def run_sweep(sweep: Sweep, out_dir: str | os.PathLike, *, workers: int | None = None,
              scheduler: str | None = None, dask_local: bool = False,
              retry_failed: bool = False, progress: bool | None = None,
              function: Callable[[Mapping], Outcome] = execute_run) -> SweepReport:
    """Run every run of ``sweep`` that the store in ``out_dir`` does not hold yet.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    out_dir : path
        Created if missing; the store is ``out_dir/results.sqlite``.
    workers : int, optional
        Local processes (default: the CPUs available; 1 = run in this process), or the
        LocalCluster's workers with ``dask_local``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://HOST:PORT``): run there instead.
    dask_local : bool
        Start a Dask LocalCluster (``workers`` processes, one thread each).
    retry_failed : bool
        Run again the runs recorded as failed (otherwise they are skipped).
    progress : bool or None
        Progress bar on stderr (None: only on a terminal).
    function : callable
        The run function (default :func:`execute_run`); must be importable by name
        in the workers.
    """
    if scheduler is not None and dask_local:
        raise StoreError("give either a Dask scheduler or dask_local, not both")
    if scheduler is not None and workers is not None:
        raise StoreError("workers: the cluster behind a Dask scheduler has its own "
                         "workers; leave --workers out")
    out_dir = Path(out_dir)
    start = time.perf_counter()
    store_path = out_dir / STORE_NAME

    def to_run(statuses: Mapping[str, str]) -> list[Run]:
        return [r for r in sweep.runs if r.run_id not in statuses
                or (retry_failed and statuses[r.run_id] == "failed")]

    known: dict[str, str] = {}
    if store_path.is_file():
        with ResultsStore(store_path, create=False) as store:
            known = store.statuses()
    executor, runner = "nothing to run", None
    with contextlib.ExitStack() as stack:
        if to_run(known):  # connect (or start a cluster) before creating anything
            executor, runner = stack.enter_context(
                _executor(workers, scheduler, dask_local))
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(_exclusive(out_dir))
        store = stack.enter_context(ResultsStore(store_path))
        todo = to_run(store.statuses())  # under the lock: a subset of the runs above
        skipped = len(sweep.runs) - len(todo)
        counts: Counter = Counter()
        failures: list[tuple[str, str, str]] = []
        labels = {r.run_id: r.label() for r in todo}
        from tqdm.auto import tqdm
        bar = tqdm(total=len(sweep.runs), initial=skipped, unit="run",
                   desc=f"sweep {sweep.name}", dynamic_ncols=True, smoothing=0.1,
                   disable=None if progress is None else not progress)

        def on_outcome(outcome: Outcome) -> None:
            store.record(outcome)
            counts[outcome.status] += 1
            if outcome.status == "failed":
                failures.append((outcome.run_id, labels.get(outcome.run_id, ""),
                                 outcome.error or ""))
            bar.set_postfix(done=counts["done"], failed=counts["failed"],
                            left=len(todo) - sum(counts.values()), refresh=False)
            bar.update(1)

        try:
            if todo:
                bar.set_postfix(done=0, failed=0, left=len(todo))
                runner(_payloads(todo, sweep.data_dir), function, on_outcome)
        finally:
            bar.close()
        after = store.statuses()
    failed_total = sum(1 for r in sweep.runs if after.get(r.run_id) == "failed")
    pending = sum(1 for r in sweep.runs if r.run_id not in after)
    return SweepReport(len(sweep.runs), skipped, counts["done"], counts["failed"],
                       pending, failed_total, executor, time.perf_counter() - start,
                       tuple(failures))


# ---------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusReport:
    """Where a sweep stands in a store, by run."""

    total: int
    done: int
    failed: int
    pending: int
    store_exists: bool
    other_runs: int                           # rows of runs not in this grid
    failures: tuple[tuple[str, str, str, int], ...]  # (run_id, label, error, attempts)
    groups: tuple[tuple[tuple[str, str, str], Counter], ...]  # (ds, model, goal) → counts
    means: dict = field(default_factory=dict)   # (ds, model, goal) → mean numbers


def sweep_status(sweep: Sweep, out_dir: str | os.PathLike) -> StatusReport:
    """Count done / failed / pending runs of ``sweep`` in ``out_dir`` (reads only)."""
    path = Path(out_dir) / STORE_NAME
    rows = {}
    if path.is_file():
        rows = {row["run_id"]: row for row in read_store(out_dir)}
    in_grid = {r.run_id for r in sweep.runs}
    groups: dict[tuple, Counter] = {}
    sums: dict[tuple, list] = {}
    failures = []
    for run in sweep.runs:
        s = run.settings
        key = (s["dataset"], s["model"], s["goal"])
        row = rows.get(run.run_id)
        state = "pending" if row is None else row["status"]
        groups.setdefault(key, Counter())[state] += 1
        if state == "failed":
            failures.append((run.run_id, run.label(), row["error"] or "",
                             row["attempts"]))
        elif state == "done":
            res = row["result"]
            sums.setdefault(key, []).append(
                (res["effect_clean"], res["effect_final"], res["test_metric_before"],
                 res["test_metric_after"], row["wall_seconds"]))
    means = {key: tuple(float(np.mean(col)) for col in zip(*values))
             for key, values in sums.items()}
    total = Counter()
    for counts in groups.values():
        total.update(counts)
    return StatusReport(len(sweep.runs), total["done"], total["failed"], total["pending"],
                        path.is_file(), len(set(rows) - in_grid), tuple(failures),
                        tuple(groups.items()), means)


def format_table(report: StatusReport) -> str:
    """Per (data set, model, goal): runs done / failed / pending and mean numbers."""
    effect = {"integrity": "E_I", "availability": "E_A", "loss-availability": "E_L"}
    head = (f"{'dataset':<14}{'model':<11}{'goal':<18}{'done':>6}{'failed':>8}"
            f"{'pending':>9}   {'E clean -> poisoned':<22}{'test metric before -> after':<28}"
            f"{'s/run':>7}")
    lines = [head]
    for (ds, model, goal), counts in report.groups:
        mean = report.means.get((ds, model, goal))
        cells = ""
        if mean is not None:
            e = f"{effect[goal]} {mean[0]:.4g} -> {mean[1]:.4g}"
            t = f"{mean[2]:.4g} -> {mean[3]:.4g}"
            cells = f"{e:<22}{t:<28}{mean[4]:>7.2f}"
        lines.append(f"{ds:<14}{model:<11}{goal:<18}{counts['done']:>6}"
                     f"{counts['failed']:>8}{counts['pending']:>9}   {cells}")
    return "\n".join(lines)


# ----------------------------------------------------------------------- figures


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()


def plot_store(out_dir: str | os.PathLike) -> list[Path]:
    """Draw the standard figures of the finished runs in ``out_dir``'s store.

    Into ``out_dir/figures/`` (written together, replacing figures of the same name):

    * ``effect_vs_rate__DATASET__MODEL__GOAL.png``: the effect E against the poisoning
      rate m / n, one line per α (mean over seeds; rate 0 = the clean model);
    * ``metric_vs_rate__…png``: the test MSE / accuracy, likewise;
    * ``frontier__DATASET__MODEL__GOAL__rateR.png`` when the runs measured sanitizers:
      for each sanitizer, effect after sanitising against recall, one point per α
      (means over seeds).

    Runs that differ in other settings (max_iter, tol, step, n_sigma, test_size,
    clean_removal) are never averaged together: such groups get a suffix.
    Nothing is recomputed. Returns the files written.
    """
    from matplotlib.figure import Figure

    from . import _io
    from .plotting import plot_effect_vs_rate, plot_frontier, plot_metric_vs_rate
    from .sanitizers import SANITIZERS

    rows = read_store(out_dir, "done")
    if not rows:
        raise StoreError(f"{out_dir}: the results store holds no finished run to plot")
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        s = row["settings"]
        rest = {k: v for k, v in s.items() if k not in
                ("dataset", "model", "goal", "alpha", "rate", "seed", "sanitizers",
                 "clean_removal")}
        rest["clean_removal"] = s.get("clean_removal") if s.get("sanitizers") else None
        key = (s["dataset"], s["model"], s["goal"], _canonical(rest))
        groups.setdefault(key, []).append(row)
    per_name = Counter(key[:3] for key in groups)
    figures: dict[str, object] = {}
    for key, members in sorted(groups.items()):
        ds, model, goal, rest = key
        stem = f"{_slug(ds)}__{_slug(model)}__{_slug(goal)}"
        if per_name[key[:3]] > 1:
            stem += "__" + hashlib.sha256(rest.encode()).hexdigest()[:8]
        first = members[0]["result"]
        effect_name, metric_name = first["effect_name"], first["metric_name"]
        about = f"{ds}, {model}, {goal}"
        fig_e = Figure(figsize=(6.8, 4.4), layout="constrained")
        fig_m = Figure(figsize=(6.8, 4.4), layout="constrained")
        ax_e, ax_m = fig_e.add_subplot(), fig_m.add_subplot()
        alphas = sorted({r["settings"]["alpha"] for r in members})
        for k, alpha in enumerate(alphas):
            at = [r for r in members if r["settings"]["alpha"] == alpha]
            rates = sorted({r["settings"]["rate"] for r in at})
            x = [0.0] + [float(np.mean([r["result"]["rate_actual"] for r in at
                                        if r["settings"]["rate"] == q])) for q in rates]
            seeds = len({r["settings"]["seed"] for r in at})
            e = [float(np.mean([r["result"]["effect_clean"] for r in at]))] + [
                float(np.mean([r["result"]["effect_final"] for r in at
                               if r["settings"]["rate"] == q])) for q in rates]
            t = [float(np.mean([r["result"]["test_metric_before"] for r in at]))] + [
                float(np.mean([r["result"]["test_metric_after"] for r in at
                               if r["settings"]["rate"] == q])) for q in rates]
            label = f"α = {alpha:g}" + (f" (mean of {seeds} seeds)" if seeds > 1 else "")
            plot_effect_vs_rate(x, e, effect_name, label=label, ax=ax_e, color=f"C{k}")
            plot_metric_vs_rate(x, t, metric_name, label=label, ax=ax_m, color=f"C{k}")
        ax_e.set_title(f"${effect_name}$ vs poisoning rate\n{about}", fontsize="medium")
        ax_m.set_title(f"{metric_name} vs poisoning rate\n{about}", fontsize="medium")
        figures[f"effect_vs_rate__{stem}.png"] = fig_e
        figures[f"metric_vs_rate__{stem}.png"] = fig_m

        with_san = [r for r in members if r["result"].get("sanitizers")]
        for rate in sorted({r["settings"]["rate"] for r in with_san}):
            at = [r for r in with_san if r["settings"]["rate"] == rate]
            names = [n for n in SANITIZERS
                     if any(n in r["result"]["sanitizers"] for r in at)]
            cols = min(3, len(names))
            nrows = math.ceil(len(names) / cols)
            fig = Figure(figsize=(5.2 * cols, 4.0 * nrows + 0.6), layout="constrained")
            axes = fig.subplots(nrows, cols, squeeze=False).ravel()
            clean = float(np.mean([r["result"]["refit"]["effect_clean"] for r in at]))
            for ax, name in zip(axes, names):
                points = []
                for alpha in sorted({r["settings"]["alpha"] for r in at}):
                    cell = [r["result"]["sanitizers"][name] for r in at
                            if r["settings"]["alpha"] == alpha
                            and name in r["result"]["sanitizers"]]
                    if cell:
                        points.append((float(np.mean([c["recall"] for c in cell])),
                                       float(np.mean([c["effect"] for c in cell])), alpha))
                recall, effect, alpha_values = (list(v) for v in zip(*points))
                plot_frontier(recall, effect, alpha_values, effect_name,
                              references={"no attack": clean},
                              higher_is_damage=goal != "integrity", ax=ax,
                              legend=ax is axes[0], title=name)
            for ax in axes[len(names):]:
                ax.set_axis_off()
            fig.suptitle(f"Effect after sanitising vs recall: {about}, rate {rate:g} "
                         f"(mean over seeds)")
            figures[f"frontier__{stem}__rate{_slug(f'{rate:g}')}.png"] = fig
    with _io.staged_output(Path(out_dir) / "figures") as stage:
        for name, fig in figures.items():
            fig.savefig(stage / name, format="png", dpi=110)
    return [Path(out_dir) / "figures" / name for name in sorted(figures)]

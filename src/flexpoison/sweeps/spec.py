"""The sweep file: read, validate and expand a TOML grid into runs.

The schema is documented in :mod:`flexpoison.sweeps`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlexPoisonError

#: Version of a run's definition; part of every run's settings (and so of its id).
SCHEMA_VERSION = 1


class SweepFileError(FlexPoisonError, ValueError):
    """A sweep file is refused: ``FILE: key 'sweep.KEY': reason`` (one line)."""

    def __init__(self, path: str | os.PathLike, key: str | None, reason: str):
        self.path, self.key, self.reason = os.fspath(path), key, reason
        where = f"key {key!r}: " if key else ""
        super().__init__(f"{self.path}: {where}{' '.join(reason.split())}")


# --------------------------------------------------------------------- the sweep file


@dataclass(frozen=True)
class Run:
    """One point of the grid: its id and its settings (plain JSON values)."""

    run_id: str
    settings: Mapping

    def label(self) -> str:
        s = self.settings
        return (
            f"{s['dataset']} {s['model']} {s['goal']} α={s['alpha']:g} "
            f"rate={s['rate']:g} seed={s['seed']}"
        )


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file, expanded into runs (grid order: data set, model, goal,
    α, rate, seed)."""

    name: str
    path: Path
    runs: tuple[Run, ...]
    data_dir: str | None
    skipped: tuple[str, ...] = ()  # the incompatible pairs left out, described

    def __len__(self) -> int:
        return len(self.runs)


def run_id(settings: Mapping) -> str:
    """First 16 hex digits of SHA-256 of the settings' canonical JSON."""
    return hashlib.sha256(canonical(settings).encode("ascii")).hexdigest()[:16]


def canonical(value) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_jsonable,
    )


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


_LISTS = ("datasets", "models", "goals", "alphas", "rates", "seeds", "sanitizers")
_DEFAULTS = {
    "max_iter": 100,
    "tol": 1e-6,
    "step": "backtracking",
    "n_sigma": 3.0,
    "test_size": 0.3,
    "clean_removal": 0.05,
    "skip_incompatible": False,
    "name": None,
    "data_dir": None,
}
_REQUIRED = _LISTS[:-1]
_KEYS = (*_LISTS, *_DEFAULTS)


class _Checker:
    """Type and range checks that name the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str | None, reason: str):
        raise SweepFileError(self.path, None if key is None else f"sweep.{key}", reason)

    def _type(self, value) -> str:
        return {
            bool: "a boolean",
            int: "an integer",
            float: "a number",
            str: "a string",
            list: "an array",
            dict: "a table",
        }.get(type(value), type(value).__name__)

    def number(self, key, value, where=""):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"{where}expected a number, got {self._type(value)} ({value!r})")
        if not math.isfinite(value):
            self.fail(key, f"{where}expected a finite number, got {value!r}")
        return float(value)

    def integer(self, key, value, where=""):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"{where}expected an integer, got {self._type(value)} ({value!r})")
        return int(value)

    def string(self, key, value, where=""):
        if not isinstance(value, str):
            self.fail(key, f"{where}expected a string, got {self._type(value)} ({value!r})")
        return value

    def array(self, key, value, kind: str, item: Callable):
        if not isinstance(value, list):
            example = {"strings": '["…"]', "numbers": "[0.5]", "integers": "[0]"}[kind]
            self.fail(
                key,
                f"expected an array of {kind} (e.g. {key} = {example}), got "
                f"{self._type(value)} ({value!r})",
            )
        if not value:
            self.fail(
                key,
                "empty array: the grid would have no runs"
                if key in _REQUIRED
                else "empty array: leave the key out instead",
            )
        items = [item(key, v, f"item {k + 1}: ") for k, v in enumerate(value)]
        repeated = [v for v, count in Counter(items).items() if count > 1]
        if repeated:
            self.fail(key, f"{repeated[0]!r} is given twice")
        return items

    def choice(self, key, value, choices, what, where="", canonical=str.lower):
        name = canonical(self.string(key, value, where))
        if name not in choices:
            self.fail(
                key, f"{where}unknown {what} {value!r}; expected one of " + ", ".join(choices)
            )
        return name

    def bounded(self, key, value, where, kind: str, ok: Callable[[float], bool], text: str):
        """A number (``kind="number"``) or integer satisfying ``ok``, else refuse."""
        value = (
            self.number(key, value, where) if kind == "number" else self.integer(key, value, where)
        )
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
        raise SweepFileError(path, None, f"cannot read it: {exc.strerror or exc}") from None
    for key in document:
        if key != "sweep":
            raise SweepFileError(path, key, "unknown key; a sweep file holds one [sweep] table")
    table = document.get("sweep")
    if table is None:
        raise SweepFileError(path, "sweep", "missing: a sweep file holds one [sweep] table")
    if not isinstance(table, dict):
        raise SweepFileError(path, "sweep", "expected a table, [sweep]")
    for key in table:
        if key not in _KEYS:
            close = [k for k in _KEYS if _similar(k, key)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            check.fail(key, f"unknown key{hint}; expected one of " + ", ".join(_KEYS))
    for key in _REQUIRED:
        if key not in table:
            check.fail(
                key,
                "missing: the grid needs at least one value for each of " + ", ".join(_REQUIRED),
            )

    from .. import models as registry
    from ..attack import GOALS
    from ..data import DATASETS, load_dataset
    from ..defences import SANITIZERS

    def names(key, choices, what, canonical=str.lower):
        return check.array(
            key,
            table[key],
            "strings",
            lambda k, v, w: check.choice(k, v, choices, what, w, canonical),
        )

    def numbers(key, kind, ok, text):
        return check.array(
            key, table[key], kind + "s", lambda k, v, w: check.bounded(k, v, w, kind, ok, text)
        )

    datasets = names("datasets", DATASETS, "data set", _dataset_key)
    models = names("models", registry.MODEL_NAMES, "model")
    goals = names("goals", tuple(GOALS), "goal")
    alphas = numbers("alphas", "number", lambda a: 0 <= a <= 1, "[0, 1]")
    rates = numbers("rates", "number", lambda r: r > 0, "(0, ∞)")
    seeds = numbers("seeds", "integer", lambda i: 0 <= i < 2**32, "[0, 2**32 - 1]")
    sanitizers = (
        names("sanitizers", tuple(SANITIZERS), "sanitizer") if "sanitizers" in table else []
    )
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
        check.fail(
            "skip_incompatible",
            f"expected true or false, got {check._type(opts['skip_incompatible'])}",
        )
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
            model_task = registry.get(model).task
            if model_task != tasks[ds_name]:
                text = (
                    f"{model!r} is a {model_task} model but {ds_name!r} is a "
                    f"{tasks[ds_name]} data set"
                )
                if not skip:
                    check.fail(
                        "models",
                        f"{text}; remove one of them, or set "
                        "skip_incompatible = true to leave such pairs "
                        "out of the grid",
                    )
                skipped.append(f"{ds_name} × {model}")
                continue
            pairs.append((ds_name, model))
    if not pairs:
        check.fail(
            "models",
            "no (data set, model) pair is compatible ("
            + "; ".join(skipped)
            + "): the grid would have no runs",
        )
    if "trim" in sanitizers:
        bad = [d for d in datasets if tasks[d] != "regression"]
        if bad and not skip:
            check.fail(
                "sanitizers",
                f"'trim' is defined for regression only, but "
                f"{bad[0]!r} is a classification data set; set "
                "skip_incompatible = true to leave trim out of "
                "its runs",
            )
        skipped += [f"trim on {d}" for d in bad]
    for ds_name in datasets:
        for rate in rates:
            if int(round(rate * n_train[ds_name])) < 1:
                check.fail(
                    "rates",
                    f"rate {rate!r} of the {n_train[ds_name]} training "
                    f"rows of {ds_name!r} rounds to 0 poison rows",
                )

    runs = []
    for ds_name, model in pairs:
        kept_sanitizers = [
            s for s in sanitizers if not (s == "trim" and tasks[ds_name] != "regression")
        ]
        for goal in goals:
            for alpha in alphas:
                for rate in rates:
                    for seed in seeds:
                        settings = {
                            "schema": SCHEMA_VERSION,
                            "dataset": ds_name,
                            "model": model,
                            "goal": goal,
                            "alpha": alpha,
                            "rate": rate,
                            "seed": seed,
                            "sanitizers": kept_sanitizers,
                            "max_iter": max_iter,
                            "tol": tol,
                            "step": step,
                            "n_sigma": n_sigma,
                            "test_size": test_size,
                            "clean_removal": clean_removal if kept_sanitizers else None,
                        }
                        runs.append(Run(run_id(settings), settings))
    return Sweep(name, path, tuple(runs), data_dir, tuple(skipped))


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


__all__ = ["SCHEMA_VERSION", "SweepFileError", "Run", "Sweep", "run_id", "canonical", "load_sweep"]

"""The sweep file: read, validate and expand a TOML grid into runs.

The schema is documented on the documentation's "Sweeps" page (docs/sweeps.rst). Every
value a run would refuse is refused here, once, with the rule the library applies
(:mod:`flexpoison._validation` and the experiment's own split and box), so that a bad
file never starts a run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from .._validation import check_count, check_fraction, check_positive, check_rate
from ..attack.defaults import DEFAULT_MAX_ITER, DEFAULT_STEP, DEFAULT_TOL
from ..errors import FlexPoisonError, InvalidInputError
from .datafiles import CsvEntry, check_constraints, csv_entry, read_entry

#: Version of a run's definition; part of every run's settings (and so of its id).
SCHEMA_VERSION = 2
#: The most runs one sweep file may define: a larger grid is refused before it is
#: expanded (split it into several files; they can share one results store).
MAX_RUNS = 100_000
#: The largest sweep file read, in bytes (a grid within :data:`MAX_RUNS` needs far less).
MAX_FILE_BYTES = 16 * 2**20


class SweepFileError(FlexPoisonError, ValueError):
    """A sweep file is refused: ``FILE: key 'sweep.KEY': reason`` (one line)."""

    def __init__(self, path: str | os.PathLike, key: str | None, reason: str):
        self.path, self.key, self.reason = os.fspath(path), key, reason
        where = f"key {key!r}: " if key else ""
        super().__init__(f"{self.path}: {where}{' '.join(reason.split())}")


# --------------------------------------------------------------------- the sweep file


@dataclass(frozen=True, slots=True)
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
    #: The CSV files of the grid: data set label (``stem@sha256[:8]``) → absolute path.
    files: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.runs)


def run_id(settings: Mapping) -> str:
    """First 16 hex digits of SHA-256 of the settings' canonical JSON."""
    return hashlib.sha256(canonical(settings).encode("ascii")).hexdigest()[:16]


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_jsonable
)


def canonical(value) -> str:
    """Canonical JSON: sorted keys, no spaces, ASCII, no NaN (floats as their repr)."""
    return _CANONICAL.encode(value)


_LISTS = ("datasets", "models", "goals", "alphas", "rates", "seeds", "sanitizers")
_DEFAULTS = {
    "max_iter": DEFAULT_MAX_ITER,
    "tol": DEFAULT_TOL,
    "step": DEFAULT_STEP,
    "trade_off": "share",
    "starts": 4,
    "passes": 1,
    "n_sigma": 3.0,
    "test_size": 0.3,
    "clean_removal": 0.05,
    "evade_calibration": "clean",
    "skip_incompatible": False,
    "name": None,
    "data_dir": None,
}
_REQUIRED = _LISTS[:-1]
_KEYS = (*_LISTS, "evade", *_DEFAULTS)  # evade: sanitizers every run's attack evades


class _Checker:
    """Type and range checks that name the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str | None, reason: str) -> NoReturn:
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

    def library(self, key, where, check: Callable[..., Any], *args, name: str):
        """``check(*args, name)``, one of the library's own checks (the rule a run would
        apply); its refusal (``NAME: reason``) becomes this file's, naming the key."""
        try:
            return check(*args, name)
        except InvalidInputError as exc:
            self.fail(key, where + str(exc).removeprefix(f"{name}: "))

    def rate(self, key, value, where=""):
        """A poisoning rate, as the attack checks it (:func:`check_rate`)."""
        return self.library(key, where, check_rate, self.number(key, value, where), name="rate")


def _dataset_key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def load_sweep(
    path: str | os.PathLike,
    *,
    evade: Sequence[str] | None = None,
    evade_calibration: str | None = None,
) -> Sweep:
    """Read, validate and expand a sweep file (see the module docstring).

    ``evade`` and ``evade_calibration`` (the ``sweep`` command's ``--evade`` and
    ``--evade-calibration``), when given, replace the file's keys of those names.

    Raises
    ------
    SweepFileError
        Anything wrong with the file, before any run starts.
    """
    path = Path(path)
    check = _Checker(path)
    table = _read_table(path)
    given = {"evade": evade, "evade_calibration": evade_calibration}
    table.update({key: value for key, value in given.items() if value is not None})
    axes = _axes(check, table)
    opts = _options(check, table, path)
    if "evade_calibration" in table and not axes["evade"]:
        check.fail(
            "evade_calibration",
            "how the sanitizers to evade are calibrated, but no sanitizer is to be evaded "
            "(evade = [...], or --evade)",
        )
    data = _data_sets(check, axes, opts)
    axes["datasets"] = list(data)  # their labels, in the file's order
    pairs, skipped = _pairs(check, axes, data, opts["skip_incompatible"])
    _check_rates(check, axes["rates"], data)
    _check_size(path, pairs, axes)
    runs = tuple(_expand(pairs, axes, opts, data))
    files = {label: info.file for label, info in data.items() if info.file is not None}
    return Sweep(opts["name"], path, runs, opts["data_dir"], tuple(skipped), files)


def _read_table(path: Path) -> dict:
    """The file's ``[sweep]`` table: valid TOML, no other key, no unknown key in it, every
    grid axis present."""
    check = _Checker(path)
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_FILE_BYTES + 1)
        if len(text) > MAX_FILE_BYTES:
            raise SweepFileError(
                path, None, f"larger than {MAX_FILE_BYTES // 2**20} MiB: not a sweep file"
            )
        document = tomllib.loads(text.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SweepFileError(path, None, f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # where, not which bytes: see data.csvfile
        line = text[: exc.start].count(b"\n") + 1
        raise SweepFileError(path, None, f"line {line}: not UTF-8 text") from None
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
    return table


def _axes(check: _Checker, table: Mapping) -> dict[str, list]:
    """The grid's lists, validated item by item (sanitizers in their canonical order)."""
    from .. import models as registry
    from ..attack import GOALS
    from ..data import DATASETS
    from ..defences import SANITIZERS

    def names(key, choices, what, canonical=str.lower):
        return check.array(
            key,
            table[key],
            "strings",
            lambda k, v, w: check.choice(k, v, choices, what, w, canonical),
        )

    def alpha(key, value, where):
        number = check.number(key, value, where)
        return check.library(key, where, check_fraction, number, name="alpha")

    def seed(key, value, where):
        return check.bounded(
            key, value, where, "integer", lambda i: 0 <= i < 2**32, "[0, 2**32 - 1]"
        )

    def dataset(key, value, where):
        if isinstance(value, dict):
            return csv_entry(check, value, where)
        if not isinstance(value, str):
            check.fail(
                key,
                f"{where}expected a data set's name or a CSV file's table "
                f'{{ path = "FILE.csv", target = "COLUMN" }}, got {check._type(value)} '
                f"({value!r})",
            )
        return check.choice(key, value, DATASETS, "data set", where, _dataset_key)

    axes = {
        "datasets": check.array("datasets", table["datasets"], "strings", dataset),
        "models": names("models", registry.MODEL_NAMES, "model"),
        "goals": names("goals", tuple(GOALS), "goal"),
        "alphas": check.array("alphas", table["alphas"], "numbers", alpha),
        "rates": check.array("rates", table["rates"], "numbers", check.rate),
        "seeds": check.array("seeds", table["seeds"], "integers", seed),
    }
    chosen = names("sanitizers", tuple(SANITIZERS), "sanitizer") if "sanitizers" in table else []
    axes["sanitizers"] = [name for name in SANITIZERS if name in chosen]
    evade = names("evade", tuple(SANITIZERS), "sanitizer") if "evade" in table else []
    axes["evade"] = [name for name in SANITIZERS if name in evade]
    return axes


def _options(check: _Checker, table: Mapping, path: Path) -> dict:
    """The scalar settings, defaults filled in; each attack setting checked by the rule
    the attack applies to it."""
    from typing import get_args

    from ..attack import StepRule, TradeOff
    from ..attack.evasion import CALIBRATIONS
    from ..defences.base import check_share

    opts = {**_DEFAULTS, **{k: table[k] for k in _DEFAULTS if k in table}}

    def setting(key: str, kind: type, rule: Callable[..., Any]):
        """``opts[key]``, of TOML type ``kind`` (int, or float: any number), checked by
        the library's ``rule``."""
        value = check.integer(key, opts[key]) if kind is int else check.number(key, opts[key])
        return check.library(key, "", rule, value, name=key)

    out = {
        "max_iter": setting("max_iter", int, check_count),
        "tol": setting("tol", float, check_positive),
        "n_sigma": setting("n_sigma", float, check_positive),
        "test_size": check.bounded(
            "test_size", opts["test_size"], "", "number", lambda t: 0 < t < 1, "(0, 1)"
        ),
        "clean_removal": setting("clean_removal", float, check_share),
        "evade_calibration": check.choice(
            "evade_calibration", opts["evade_calibration"], CALIBRATIONS, "calibration"
        ),
        "step": check.choice("step", opts["step"], get_args(StepRule), "step rule"),
        "trade_off": check.choice("trade_off", opts["trade_off"], get_args(TradeOff), "trade-off"),
        "starts": setting("starts", int, check_count),
        "passes": setting("passes", int, check_count),
    }
    if not isinstance(opts["skip_incompatible"], bool):
        check.fail(
            "skip_incompatible",
            f"expected true or false, got {check._type(opts['skip_incompatible'])}",
        )
    out["skip_incompatible"] = opts["skip_incompatible"]
    out["name"] = path.stem if opts["name"] is None else check.string("name", opts["name"])
    out["data_dir"] = None
    if opts["data_dir"] is not None:
        folder = Path(check.string("data_dir", opts["data_dir"])).expanduser()
        folder = (path.parent / folder if not folder.is_absolute() else folder).resolve()
        if not folder.is_dir():
            check.fail("data_dir", f"{folder} is not a directory")
        out["data_dir"] = str(folder)
    return out


@dataclass(frozen=True)
class _Data:
    """What the grid needs to know of a data set: its task and its training rows; for a
    CSV file, the run's ``data`` setting and the file."""

    task: str
    n_train: int
    csv: dict | None = None
    file: str | None = None


def _data_sets(check: _Checker, axes: Mapping, opts: Mapping) -> dict[str, _Data]:
    """Load each data set (a CSV file: read strictly, its task given or that of every
    model of the grid), split it as its runs do (``test_size``; the grid's first seed)
    and build the attack's box on the training rows, so that what every run would refuse
    about the data is refused here: a missing file or column, a malformed file, too few
    training or test rows (``MIN_TRAIN_ROWS``, ``MIN_TEST_ROWS``), a class too small to
    stratify, a box beyond the magnitudes flexpoison can square (``n_sigma``). Keyed by
    label: the name, or ``stem@sha256[:8]`` for a CSV file."""
    from ..attack import feasible_box
    from ..data import load_dataset
    from ..experiments.paper import split_dataset

    seed = axes["seeds"][0]
    data: dict[str, _Data] = {}
    for k, entry in enumerate(axes["datasets"], start=1):
        csv = None
        if isinstance(entry, CsvEntry):
            name, dataset, csv = read_entry(check, entry, k, axes["models"])
            if name in data:
                check.fail(
                    "datasets",
                    f"item {k} ({entry.given}): the same data set {name!r} as an earlier "
                    'item (the same file); give one of them another name = "…"',
                )
        else:
            name = entry
            try:
                dataset = load_dataset(name, data_dir=opts["data_dir"])
            except FlexPoisonError as exc:
                check.fail("datasets", f"cannot load {name!r}: {exc}")
        try:
            split = split_dataset(dataset, test_size=opts["test_size"], seed=seed)
            X = np.asarray(split.X_train, dtype=float)
            if csv is not None and "constraints" in csv:  # as a run on the file uses them
                check_constraints(csv["constraints"], X, dataset, split, opts["n_sigma"])
            else:
                feasible_box(X, opts["n_sigma"])
        except InvalidInputError as exc:
            setting, _, reason = str(exc).partition(": ")
            if setting in ("test_size", "n_sigma"):
                check.fail(setting, f"data set {name!r}: {reason}")
            check.fail("datasets", f"{name!r}: {exc}")
        data[name] = _Data(dataset.task, int(split.y_train.shape[0]), csv, dataset.file)
    return data


def _pairs(
    check: _Checker, axes: Mapping, data: Mapping[str, _Data], skip: bool
) -> tuple[list[tuple[str, str]], list[str]]:
    """The compatible (data set, model) pairs, and what ``skip_incompatible`` leaves out
    (incompatible pairs, goals a model cannot run, ``trim`` on classification data),
    described."""
    from .. import models as registry

    skipped, pairs = [], []
    for ds_name in axes["datasets"]:
        task = data[ds_name].task
        for model in axes["models"]:
            model_task = registry.get(model).task
            if model_task != task:
                text = f"{model!r} is a {model_task} model but {ds_name!r} is a {task} data set"
                if not skip:
                    check.fail(
                        "models",
                        f"{text}; remove one of them, or set skip_incompatible = true to "
                        "leave such pairs out of the grid",
                    )
                skipped.append(f"{ds_name} × {model}")
                continue
            pairs.append((ds_name, model))
    for model in dict.fromkeys(model for _, model in pairs):  # e.g. svc: no θ goals
        for goal in axes["goals"]:
            problem = registry.get(model).goal_problem(goal)
            if problem is None:
                continue
            if not skip:
                check.fail(
                    "goals",
                    f"model {model!r}: {problem}; remove one of them, or set "
                    "skip_incompatible = true to leave such runs out of the grid",
                )
            skipped.append(f"{model} × {goal}")
    if not pairs:
        check.fail(
            "models",
            "no (data set, model) pair is compatible ("
            + "; ".join(skipped)
            + "): the grid would have no runs",
        )
    if "trim" in axes["sanitizers"]:
        bad = [d for d in axes["datasets"] if data[d].task != "regression"]
        if bad and not skip:
            check.fail(
                "sanitizers",
                f"'trim' is defined for regression only, but {bad[0]!r} is a classification "
                "data set; set skip_incompatible = true to leave trim out of its runs",
            )
        skipped += [f"trim on {d}" for d in bad]
    return pairs, skipped


def _check_rates(check: _Checker, rates: list[float], data: Mapping[str, _Data]) -> None:
    """Every rate gives every data set at least one poison row (m = round(rate·n))."""
    for ds_name, info in data.items():
        for rate in rates:
            if int(round(rate * info.n_train)) < 1:
                check.fail(
                    "rates",
                    f"rate {rate!r} of the {info.n_train} training rows of {ds_name!r} "
                    "rounds to 0 poison rows",
                )


def _check_size(path: Path, pairs: list[tuple[str, str]], axes: Mapping) -> None:
    """Refuse a grid of more than :data:`MAX_RUNS` runs, counted without expanding it."""
    count = len(pairs) * math.prod(len(axes[k]) for k in ("goals", "alphas", "rates", "seeds"))
    if count > MAX_RUNS:
        raise SweepFileError(
            path,
            "sweep",
            f"the grid has {count:,} runs, more than the limit {MAX_RUNS:,}; split it into "
            "several sweep files (they can share one --out) or give fewer values",
        )


def _expand(
    pairs: list[tuple[str, str]], axes: Mapping, opts: Mapping, data: Mapping[str, _Data]
) -> Iterator[Run]:
    """The runs, in grid order (data set, model, goal, α, rate, seed)."""
    from .. import models as registry

    for ds_name, model in pairs:
        evade = [s for s in axes["evade"] if s != "trim" or data[ds_name].task == "regression"]
        sanitizers = [
            s for s in axes["sanitizers"] if s != "trim" or data[ds_name].task == "regression"
        ]
        spec = registry.get(model)
        goals = [g for g in axes["goals"] if spec.goal_problem(g) is None]
        for goal in goals:
            for alpha in axes["alphas"]:
                for rate in axes["rates"]:
                    for seed in axes["seeds"]:
                        settings = {
                            "schema": SCHEMA_VERSION,
                            "dataset": ds_name,
                            "model": model,
                            "goal": goal,
                            "alpha": alpha,
                            "rate": rate,
                            "seed": seed,
                            "sanitizers": sanitizers,
                            "max_iter": opts["max_iter"],
                            "tol": opts["tol"],
                            "step": opts["step"],
                            "trade_off": opts["trade_off"],
                            "starts": opts["starts"],
                            "passes": opts["passes"],
                            "n_sigma": opts["n_sigma"],
                            "test_size": opts["test_size"],
                            "clean_removal": opts["clean_removal"] if sanitizers else None,
                        }
                        if evade:  # only then: the other runs keep their ids
                            settings["evade"] = evade
                            settings["clean_removal"] = opts["clean_removal"]
                            if opts["evade_calibration"] != "clean":  # likewise
                                settings["evade_calibration"] = opts["evade_calibration"]
                        if data[ds_name].csv is not None:  # a CSV file: what was read
                            settings["data"] = data[ds_name].csv
                        yield Run(run_id(settings), settings)


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


__all__ = [
    "SCHEMA_VERSION",
    "MAX_RUNS",
    "MAX_FILE_BYTES",
    "SweepFileError",
    "Run",
    "Sweep",
    "run_id",
    "canonical",
    "load_sweep",
]

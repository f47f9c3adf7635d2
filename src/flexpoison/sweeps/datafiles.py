"""A user's CSV file in a sweep file's ``datasets``: the table that names it, read up front.

``datasets = [{ path = "diabetes.csv", target = "progression" }, "iris"]``: a table names
a CSV file (``path``, relative to the sweep file's folder; ``target``, the column to
predict) with optional ``sep`` (one character, ``"tab"`` for a tab), ``task``
(``"regression"`` or ``"classification"``; default: the task of the grid's models, which
must then share one) and ``name`` (default: the file's stem). The file is read by the
same strict reader as ``flexpoison attack --data`` (:func:`flexpoison.data.load_csv_dataset`)
when the sweep file is read, so a missing file, a missing column or a malformed row is
refused before any run starts, naming the item. An empty ``path``, a directory, or a
path that is not a regular file (a device, a pipe) is refused as such. ``path`` may name
any file, so no refusal prints what the file holds (:mod:`flexpoison.data.csvfile`):
only the file, the line and what is wrong.

The table may also hold the feature constraints of ``flexpoison attack`` and
``frontier``, under the options' names (:data:`CONSTRAINT_KEYS`): ``integer = ["age"]``,
``frozen = ["sex"]``, ``one_hot = [["red", "green", "blue"]]`` (one array per group;
columns by name, or by 0-based position in the file's header, as ``--integer 3`` on the
command line, named in the runs' settings either way: :func:`by_name`),
``round_fractional = true``, ``within_range = true`` and ``bounds = { age = [18, 90] }``
(a ``--bounds`` file's table, by name, read by the same parser,
:func:`flexpoison.attack.specs.named_bounds`), all in the file's units. They are checked
against the file when the sweep file is read (an unknown or target column, a fraction in
an integer column, naming its line, a group that is not one-hot), and every run on the
file passes them to the attack (:meth:`flexpoison.attack.specs.Specs.attack_arguments`);
the runs' ``data`` setting then holds them too (``constraints``), so they are part of the
run's id.

Its runs call it ``NAME@HASH`` (``HASH``: the first 8 hex digits of the file's SHA-256),
and carry ``data = {sha256, target, task, sep}`` in their settings, so that two files of
the same name, or a file edited between two sweeps, never share a run; the file's path
is not a setting (it travels beside the run to the worker, which checks the SHA-256).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlexPoisonError, InvalidInputError

if TYPE_CHECKING:
    import numpy as np

    from ..attack.specs import Specs
    from ..data import Dataset
    from .spec import _Checker

#: The feature constraints a CSV file's table may hold, spelled as the commands' options
#: (``--one-hot``: ``one_hot``), and the :class:`~flexpoison.attack.specs.Specs` field
#: each sets.
CONSTRAINT_KEYS = {
    "integer": "integer_features",
    "frozen": "frozen_features",
    "one_hot": "one_hot_groups",
    "round_fractional": "round_fractional",
    "bounds": "bounds",
    "within_range": "within_range",
}
#: The keys of a CSV file's table in ``datasets`` (``path`` and ``target`` required).
CSV_KEYS = ("path", "target", "sep", "task", "name", *CONSTRAINT_KEYS)
TASKS = ("regression", "classification")


@dataclass(frozen=True)
class CsvEntry:
    """A user's CSV file in ``datasets``, its path resolved (``given``: as written)."""

    path: Path
    target: str
    sep: str
    task: str | None
    name: str | None
    given: str = field(compare=False)
    constraints: Specs | None = field(default=None, compare=False)  # in the file's units

    def __repr__(self) -> str:
        return f"{{ path = {json.dumps(self.given)}, target = {json.dumps(self.target)} }}"


def csv_entry(check: _Checker, table: dict, where: str) -> CsvEntry:
    """One table of ``datasets`` (``where``: ``"item K: "``): known keys, a path and a
    target, each of its type; the path resolved against the sweep file's folder."""
    from ..data import check_sep

    for key in table:
        if key not in CSV_KEYS:
            close = [k for k in CSV_KEYS if difflib.SequenceMatcher(None, k, key).ratio() >= 0.75]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            check.fail(
                "datasets",
                f"{where}unknown key {key!r}{hint} in a CSV file's table; expected one of "
                + ", ".join(CSV_KEYS),
            )
    for key in ("path", "target"):
        if key not in table:
            check.fail(
                "datasets",
                f'{where}missing {key!r}: a CSV file is {{ path = "FILE.csv", target = '
                '"COLUMN" } (optional: sep, task, name)',
            )
    given = check.string("datasets", table["path"], f"{where}path: ")
    if not given.strip():
        check.fail("datasets", f"{where}path: empty string; give the CSV file's path")
    path = Path(given).expanduser()
    path = (path if path.is_absolute() else check.path.parent / path).resolve()
    where = f"{where.removesuffix(': ')} ({given}): "

    def text(key: str) -> str:
        value = check.string("datasets", table[key], f"{where}{key}: ")
        if not value.strip():
            check.fail("datasets", f"{where}{key}: empty string")
        return value

    try:
        sep = check_sep(check.string("datasets", table.get("sep", ","), f"{where}sep: "))
    except InvalidInputError as exc:
        check.fail("datasets", f"{where}{exc}")
    task = None
    if "task" in table:
        task = check.choice("datasets", table["task"], TASKS, "task", f"{where}task: ")
    name = text("name") if "name" in table else None
    constraints = _constraints(check, table, where)
    return CsvEntry(path, text("target"), sep, task, name, given, constraints)


def _constraints(check: _Checker, table: dict, where: str) -> Specs | None:
    """The constraint keys of a CSV file's table (module docstring), each of its TOML
    type; the columns are checked against the file by :func:`read_entry`."""
    from ..attack.specs import Specs

    def names(key: str, value) -> list[str | int]:
        if not isinstance(value, list) or not value:
            check.fail(
                "datasets",
                f"{where}{key}: expected a non-empty array of column names or 0-based "
                f'positions, e.g. ["age"] or [3], got {value!r}',
            )
        return [
            v
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0
            else check.string("datasets", v, f"{where}{key}: ")
            for v in value
        ]

    found: dict = {}
    for key, field_name in CONSTRAINT_KEYS.items():
        if key not in table:
            continue
        value = table[key]
        if key in ("round_fractional", "within_range"):
            if not isinstance(value, bool):
                check.fail("datasets", f"{where}{key}: expected true or false, got {value!r}")
        elif key == "one_hot":
            if not isinstance(value, list) or not value:
                check.fail(
                    "datasets",
                    f'{where}one_hot: expected an array of groups, e.g. [["red", "green"]], '
                    f"got {value!r}",
                )
            value = [names("one_hot", group) for group in value]
        elif key == "bounds":
            if not isinstance(value, dict):
                check.fail(
                    "datasets",
                    f"{where}bounds: expected a table, e.g. {{ age = [18, 90] }}, got {value!r}",
                )
        else:
            value = names(key, value)
        found[field_name] = value
    if found.get("round_fractional") and "integer_features" not in found:
        check.fail("datasets", f"{where}round_fractional applies to integer columns; give integer")
    return Specs(**found) if found else None


def read_entry(
    check: _Checker, entry: CsvEntry, item: int, models: Sequence[str]
) -> tuple[str, Dataset, dict]:
    """Read the file of ``entry`` (item ``item`` of ``datasets``) for the grid's
    ``models``: its label ``NAME@HASH``, the data set and the runs' ``data`` setting."""
    from .. import models as registry
    from ..data.csvfile import read_csv

    where = f"item {item} ({entry.given}): "
    task = entry.task
    if task is None:
        tasks = {registry.get(m).task for m in models}
        if len(tasks) > 1:
            check.fail(
                "datasets",
                f"{where}the grid's models are of both tasks: say which this file's target "
                'is, task = "regression" or "classification"',
            )
        task = tasks.pop()
    if not entry.path.is_file():
        if entry.path.is_dir():
            problem = f"{entry.path} is a directory, not a CSV file; name a file in it"
        elif entry.path.exists():
            problem = (
                f"{entry.path} is not a regular file (a device, a pipe or a socket); name "
                "a CSV file"
            )
        else:
            problem = (
                f"no such file {entry.path} (a relative path is read from the sweep file's folder)"
            )
        check.fail("datasets", where + problem)
    try:
        table = read_csv(entry.path, entry.sep)
        dataset = table.dataset(entry.target, task, entry.name)
    except FlexPoisonError as exc:
        check.fail("datasets", f"{where}{exc}")
    assert dataset.sha256 is not None  # read from a file
    data: dict[str, Any] = {
        "sha256": dataset.sha256,
        "target": entry.target,
        "task": task,
        "sep": entry.sep,
    }
    if entry.constraints is not None:
        try:
            specs = by_name(entry.constraints, table.columns)
            check_columns(
                specs, dataset, lambda row: f"line {table.lines[row]} of {table.path.name}"
            )
        except InvalidInputError as exc:
            check.fail("datasets", f"{where}{exc}")
        data["constraints"] = specs.settings()
    return f"{dataset.name}@{dataset.sha256[:8]}", dataset, data


def by_name(specs: Specs, header: Sequence[str]) -> Specs:
    """``specs`` with every column given by its 0-based position in the file's
    ``header`` named instead, as ``--integer 3`` is on the command line (the runs'
    settings, and so their ids, then hold names however the columns were given); a
    position past the header is refused, naming it."""
    from dataclasses import replace

    keys = {field_name: key for key, field_name in CONSTRAINT_KEYS.items()}

    def named(field_name: str, columns):
        out = []
        for column in columns:
            if isinstance(column, int):
                if column >= len(header):
                    raise InvalidInputError(
                        f"{keys[field_name]}: column position {column} is beyond the data "
                        f"file's {len(header)} columns (0 to {len(header) - 1})"
                    )
                column = header[column]
            out.append(column)
        return out

    integer, frozen, groups = specs.integer_features, specs.frozen_features, specs.one_hot_groups
    return replace(
        specs,
        integer_features=None if integer is None else named("integer_features", integer),
        frozen_features=None if frozen is None else named("frozen_features", frozen),
        one_hot_groups=None
        if groups is None
        else [named("one_hot_groups", group) for group in groups],
    )


def check_columns(
    specs: Specs, dataset: Dataset, where: Callable[[int], str] = lambda row: f"row {row}"
) -> None:
    """Refuse constraints that name a column the data set's features do not hold (or
    its target), by the sweep file's key; unless ``round_fractional``, an integer
    column holding a fraction on any row of the file, naming the row (``where(row)``:
    its line in the file)."""
    from ..attack.constraints import check_integers
    from ..attack.specs import feature_column, named_bounds

    features, target = list(dataset.feature_names), dataset.target_name
    keys = {field_name: key for key, field_name in CONSTRAINT_KEYS.items()}
    lists = {
        "integer_features": [specs.integer_features],
        "frozen_features": [specs.frozen_features],
        "one_hot_groups": list(specs.one_hot_groups or ()),
    }
    for field_name, groups in lists.items():
        for group in groups:
            for name in group or ():
                feature_column(name, features, target, keys[field_name])
    if specs.bounds is not None:
        named_bounds(specs.bounds, features, target, "bounds")
    if specs.integer_features and not specs.round_fractional:
        columns = [features.index(name) for name in specs.integer_features]
        try:
            check_integers(
                dataset.X,
                columns,
                features,
                where,
                remedy="drop it from integer, or add round_fractional = true to round the "
                "poison rows there all the same",
            )
        except InvalidInputError as exc:
            raise InvalidInputError(
                "integer: " + str(exc).removeprefix("integer_features: ")
            ) from None


def check_constraints(settings: dict, X: np.ndarray, dataset, split, n_sigma: float) -> None:
    """Refuse the constraints of a CSV file's table (a run's ``data["constraints"]``,
    ``settings``) that a run on the training rows X
    (standardised by ``split``) would refuse: bounds that leave a feature no value, an
    integer feature whose box holds no integer, a one-hot group without a valid vector
    (:func:`flexpoison.attack.constraints.resolve`)."""
    from ..attack import feasible_box
    from ..attack.constraints import resolve
    from ..attack.specs import ATTACK_ARGUMENTS, Specs, Units

    names = list(dataset.feature_names)
    arguments = Specs(**settings).attack_arguments(X, names, split.scaler)
    given = Specs(**{key: arguments[key] for key in ATTACK_ARGUMENTS})
    try:
        box = feasible_box(X, n_sigma, arguments["bounds"], names)
        resolve(given, X, box, names, Units.of(arguments["data_units"], X.shape[1]))
    except InvalidInputError as exc:  # the library's argument, as the file's key
        argument, _, reason = str(exc).partition(": ")
        key = {v: k for k, v in CONSTRAINT_KEYS.items()}.get(argument, argument)
        raise InvalidInputError(f"{key}: {reason}") from None


__all__ = [
    "CONSTRAINT_KEYS",
    "CSV_KEYS",
    "TASKS",
    "CsvEntry",
    "csv_entry",
    "read_entry",
    "by_name",
    "check_columns",
    "check_constraints",
]

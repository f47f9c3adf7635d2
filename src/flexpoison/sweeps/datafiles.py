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

Its runs call it ``NAME@HASH`` (``HASH``: the first 8 hex digits of the file's SHA-256),
and carry ``data = {sha256, target, task, sep}`` in their settings, so that two files of
the same name, or a file edited between two sweeps, never share a run; the file's path
is not a setting (it travels beside the run to the worker, which checks the SHA-256).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FlexPoisonError, InvalidInputError

if TYPE_CHECKING:
    from ..data import Dataset
    from .spec import _Checker

#: The keys of a CSV file's table in ``datasets`` (``path`` and ``target`` required).
CSV_KEYS = ("path", "target", "sep", "task", "name")
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
    return CsvEntry(path, text("target"), sep, task, name, given)


def read_entry(
    check: _Checker, entry: CsvEntry, item: int, models: Sequence[str]
) -> tuple[str, Dataset, dict]:
    """Read the file of ``entry`` (item ``item`` of ``datasets``) for the grid's
    ``models``: its label ``NAME@HASH``, the data set and the runs' ``data`` setting."""
    from .. import models as registry
    from ..data import load_csv_dataset

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
        dataset = load_csv_dataset(entry.path, entry.target, task, sep=entry.sep, name=entry.name)
    except FlexPoisonError as exc:
        check.fail("datasets", f"{where}{exc}")
    assert dataset.sha256 is not None  # read from a file
    data = {"sha256": dataset.sha256, "target": entry.target, "task": task, "sep": entry.sep}
    return f"{dataset.name}@{dataset.sha256[:8]}", dataset, data


__all__ = ["CSV_KEYS", "TASKS", "CsvEntry", "csv_entry", "read_entry"]

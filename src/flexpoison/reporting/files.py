"""Writing results all-or-nothing: staged output directories, CSV and JSON files.

:func:`staged_output` collects the files of a run in a temporary directory and moves
them into place (renames on one file system) only when every one of them was written,
so a failed run never leaves a half-written result behind, and removes the stale
files an earlier run of the same writer left (``owned``). :func:`write_csv` is the one
CSV writer of flexpoison: every number is written as the shortest text that reads back
as the same float. :func:`warning_note` is the note every HTML report shows for the
attacks whose results should not be trusted as they stand (style: :data:`WARNING_CSS`).
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

#: The style of :func:`warning_note`, for a report's stylesheet.
WARNING_CSS = (
    ".warning{border-left:4px solid #a11;background:#fdf2f2;padding:.5em 1em;margin:1em 0}"
)


def warning_note(items: list[tuple[str, str]]) -> str:
    """A visible HTML note listing (which attack, warning) pairs; '' when there are none
    (a failed attack must be seen, not read as a safe model)."""
    if not items:
        return ""
    e = html.escape
    return (
        "<div class='warning'><strong>Read these attacks with their warnings (a weak or "
        "failed attack is not evidence that a model is safe):</strong><ul>"
        + "".join(f"<li>{e(what)}: {e(message)}</li>" for what, message in items)
        + "</ul></div>"
    )


def write_csv(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    sep: str = ",",
    *,
    integer_columns: Collection[str | int] = (),
) -> None:
    """Write a header and rows (call it inside :func:`staged_output`, which makes the
    file appear complete or not at all).

    Every float is written as the shortest text that reads back as the same value
    (:func:`format_number`): ``0.34``, ``312`` for 312.0, ``311.99999999999994`` for
    that different float; never rounded. Columns in ``integer_columns`` (names, or
    0-based positions) hold integers by declaration: their values are written rounded
    to the nearest integer (``312``). ``None`` is an empty cell."""
    integer = {columns.index(c) if isinstance(c, str) else int(c) for c in integer_columns}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(
            [_cell(value, k in integer) for k, value in enumerate(row)] for row in rows
        )


def format_number(value: float | np.floating) -> str:
    """The shortest text that parses back to exactly ``value`` in its own precision
    (a float32 as float32), without a trailing ``.0``: ``0.34``, ``312``, ``1e-07``,
    ``-0``, ``nan``, ``inf``."""
    if isinstance(value, np.floating) and not isinstance(value, np.float64):
        text = str(value)  # numpy's shortest round trip for its own precision
    else:
        text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _cell(value: object, integer: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if integer and math.isfinite(value):
            return str(int(round(float(value))))
        return format_number(value)
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON (numpy arrays and scalars as lists and numbers)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, allow_nan=False, default=_jsonable)
        handle.write("\n")


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


@contextlib.contextmanager
def staged_output(
    out_dir: str | os.PathLike[str], *, owned: Callable[[str], bool] | None = None
) -> Iterator[Path]:
    """Yield an empty staging directory; on success move its files into ``out_dir``.

    The staging directory is a hidden one inside ``out_dir`` (created, with its
    parents, if missing): nothing is written outside ``out_dir``. At the end the
    entries of ``out_dir`` that the new files replace — those of the same names and,
    if ``owned`` is given, every entry whose name ``owned`` accepts (what an earlier
    run of the same writer left, so that none of it is read with the new files) — are
    set aside, the new files are renamed into place and the old ones deleted; other
    entries are kept. Every move is a rename within one file system, so each file is
    either the old one or the complete new one. On an exception the staging directory
    and the directories this call created are removed, and ``out_dir`` is left as it
    was.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory")
    created = [p for p in (*reversed(out_dir.parents), out_dir) if not p.exists()]
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = _make_stage(out_dir, ".flexpoison")
    try:
        yield stage
        _swap_in(stage, out_dir, owned)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _swap_in(stage: Path, out_dir: Path, owned: Callable[[str], bool] | None) -> None:
    """Move the staged entries into ``out_dir``, the entries they replace aside first
    (restored if a move fails), then delete those."""
    new = sorted(item.name for item in stage.iterdir())
    hidden = {stage.name}
    old = [
        item.name
        for item in out_dir.iterdir()
        if item.name not in hidden
        and not item.name.endswith((".partial", ".old"))
        and (item.name in new or (owned is not None and owned(item.name)))
    ]
    trash = _make_stage(out_dir, ".flexpoison", suffix=".old") if old else None
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in old:
            assert trash is not None
            os.replace(out_dir / name, trash / name)
            moved_old.append(name)
        for name in new:
            os.replace(stage / name, out_dir / name)
            moved_new.append(name)
    except BaseException:
        for name in moved_new:  # put everything back as it was
            with contextlib.suppress(OSError):
                os.replace(out_dir / name, stage / name)
        for name in moved_old:
            assert trash is not None
            with contextlib.suppress(OSError):
                os.replace(trash / name, out_dir / name)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _make_stage(parent: Path, prefix: str, suffix: str = ".partial") -> Path:
    # os.mkdir rather than tempfile.mkdtemp: staged directories (reproduce's one per
    # data set) are moved into place, so they should get the user's usual permissions
    # (umask), not mkdtemp's private 0o700.
    while True:
        stage = parent / f"{prefix}.{secrets.token_hex(4)}{suffix}"
        try:
            stage.mkdir()
            return stage
        except FileExistsError:
            continue


__all__ = ["write_csv", "format_number", "write_json", "staged_output"]

"""Writing results all-or-nothing: staged output directories, CSV and JSON files.

:func:`staged_output` collects the files of a run in a temporary directory beside the
destination and moves them into place only when every one of them was written, so a
failed run never leaves a half-written result behind. :func:`warning_note` is the note
every HTML report shows for the attacks whose results should not be trusted as they
stand (style: :data:`WARNING_CSS`).
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
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
        "<div class='warning'><strong>Do not read these attacks as results as they "
        "stand:</strong><ul>"
        + "".join(f"<li>{e(what)}: {e(message)}</li>" for what, message in items)
        + "</ul></div>"
    )


def write_csv(
    path: Path, columns: Sequence[str], rows: Sequence[Sequence[object]], sep: str = ","
) -> None:
    """Write a header and rows; floats are written with full (round-trip) precision."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(value) for value in row] for row in rows])


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
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
def staged_output(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging directory; on success move its files into ``out_dir``.

    The staging directory is created beside ``out_dir`` (same file system, so the
    moves are renames). If ``out_dir`` does not exist, the staging directory itself is
    renamed to it, so the directory appears complete or not at all; otherwise each
    file replaces its namesake in ``out_dir``. On an exception the staging directory
    and any parent directories this call created are removed, and ``out_dir`` is
    left as it was.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory")
    created = [parent for parent in reversed(out_dir.parents) if not parent.exists()]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = _make_stage(out_dir)
    try:
        yield stage
        if not out_dir.exists():
            os.rename(stage, out_dir)
        else:
            for item in sorted(stage.iterdir()):
                os.replace(item, out_dir / item.name)
            stage.rmdir()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for parent in reversed(created):
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _make_stage(out_dir: Path) -> Path:
    # os.mkdir rather than tempfile.mkdtemp: the stage may become out_dir itself, so
    # it should get the user's usual permissions (umask), not mkdtemp's private 0o700.
    while True:
        stage = out_dir.parent / f".{out_dir.name}.{secrets.token_hex(4)}.partial"
        try:
            stage.mkdir()
            return stage
        except FileExistsError:
            continue


__all__ = ["write_csv", "write_json", "staged_output"]

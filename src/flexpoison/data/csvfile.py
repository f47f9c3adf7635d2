"""The user's own data: a CSV file read strictly, and numbers read from a text file.

Reading is strict on purpose: a poisoning experiment on a silently mis-parsed file is
worse than none. Every problem is one :class:`DataFileError` whose message names the
file, the line (1 = the header) and what is wrong there.

A refusal never prints what the file holds: a path may name any file (a sweep file's
``path``, ``--data``, ``--target FILE``), and its text (``/etc/passwd``'s first line,
``/proc/self/environ``'s variables) must not reach a terminal or a log through an error
message. A cell is never quoted ("line 7, column 'age': not a number"); a column is
named by its position until the whole file has been read as a table (UTF-8, a header of
two or more distinct names, every line of its width), and by its header name only then,
as that is the schema the user addresses (``target``): at most
:data:`MAX_NAMES_SHOWN` names, each cut to :data:`MAX_NAME_SHOWN` characters.

:func:`load_csv_dataset` (:func:`read_csv`, then :meth:`CsvTable.dataset`) is the one
way every command and sweep turns a user's file into a :class:`Dataset`: the target
column, every other column a numeric feature, the task saying how the target is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlexPoisonError, InvalidInputError
from .dataset import Dataset

#: Spellings of the tab separator accepted wherever a separator is given.
SEP_ALIASES = {"tab": "\t", "\\t": "\t"}
#: The most column names a refusal lists, and the most characters shown of each.
MAX_NAMES_SHOWN, MAX_NAME_SHOWN = 20, 40


def shown(name: str) -> str:
    """A column name of a file read as a table, as a refusal quotes it: its repr, cut
    to :data:`MAX_NAME_SHOWN` characters."""
    if len(name) > MAX_NAME_SHOWN:
        return repr(name[: MAX_NAME_SHOWN - 1]) + "…"
    return repr(name)


def _listed(names) -> str:
    """At most :data:`MAX_NAMES_SHOWN` column names, quoted by :func:`shown`."""
    names = list(names)
    text = ", ".join(shown(n) for n in names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return text + (f" and {more} more" if more > 0 else "")


class DataFileError(FlexPoisonError, ValueError):
    """A data file cannot be used: unreadable, malformed, or missing a column."""


# -------------------------------------------------------------------------- reading


@dataclass(frozen=True, eq=False)
class CsvTable:
    """A CSV file read as text: its header, its data rows and where each row starts.

    Attributes
    ----------
    path : Path
        The file read.
    sha256 : str
        Hex SHA-256 digest of the file's bytes.
    columns : tuple of str
        The header row, exactly as spelt in the file.
    rows : list of list of str
        The data rows (blank lines skipped), each with ``len(columns)`` cells.
    lines : list of int
        The file line on which each data row ends (1 = the header).
    sep : str
        The field separator.
    """

    path: Path
    sha256: str
    columns: tuple[str, ...]
    rows: list[list[str]]
    lines: list[int]
    sep: str

    def column_index(self, name: str) -> int:
        """Position of column ``name``; if absent, a :class:`DataFileError` listing all."""
        try:
            return self.columns.index(name)
        except ValueError:
            raise DataFileError(
                f"{self.path}: no column {name!r}; the columns are {_listed(self.columns)}"
            ) from None

    def features_and_target(
        self, target: str, task: str
    ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Split into X (every other column, as floats), y and the feature names.

        ``task`` is ``"regression"`` (y must be numeric) or ``"classification"``
        (y are labels: integers if every label is one, strings otherwise).
        """
        j = self.column_index(target)
        features = [k for k in range(len(self.columns)) if k != j]
        if not features:
            raise DataFileError(
                f"{self.path}: the target column {target!r} is the only "
                "column; there are no features"
            )
        X = np.empty((len(self.rows), len(features)))
        for i, row in enumerate(self.rows):
            for col, k in enumerate(features):
                X[i, col] = self._number(row[k], i, k)
        target_cells = [row[j].strip() for row in self.rows]
        if task == "regression":
            hint = (
                " (a regression target must be numeric; class labels need a classification --model)"
            )
            y = np.array([self._number(row[j], i, j, hint) for i, row in enumerate(self.rows)])
        else:
            for i, cell in enumerate(target_cells):
                if not cell:
                    raise DataFileError(
                        f"{self.path}, line {self.lines[i]}: empty label "
                        f"in the target column {target!r}"
                    )
            try:
                y = np.array([int(cell) for cell in target_cells], dtype=np.int64)
            except ValueError:
                y = np.array(target_cells, dtype=str)
                integral = _integral(target_cells)
                if integral is not None:  # 0.0 / 1.0, as pandas writes integer labels
                    y = integral
                elif all(_is_number(cell) for cell in target_cells):
                    raise DataFileError(
                        f"{self.path}: the target column {target!r} holds numbers that are "
                        f"not integers ({len(set(target_cells))} distinct values in "
                        f"{len(target_cells)} rows), not class labels; use a regression "
                        "--model, or integer / named classes"
                    ) from None
        return X, y, tuple(self.columns[k] for k in features)

    def dataset(self, target: str, task: str, name: str | None = None) -> Dataset:
        """The table as a :class:`Dataset` (:meth:`features_and_target`), named ``name``
        (default: the file's stem), with the file and its SHA-256."""
        if task not in ("regression", "classification"):
            raise InvalidInputError(
                f"task: expected 'regression' or 'classification', got {task!r}"
            )
        X, y, features = self.features_and_target(target, task)
        return Dataset(
            name=self.path.stem if name is None else name,
            X=X,
            y=y,
            feature_names=features,
            target_name=target,
            task=task,  # type: ignore[arg-type]  # checked above
            description=(
                f"Read from {self.path} (sha256 {self.sha256}): {len(self.rows)} rows, "
                f"{len(features)} features, target column {target!r} ({task})."
            ),
            file=str(self.path.resolve()),
            sha256=self.sha256,
        )

    def _number(self, cell: str, i: int, k: int, hint: str = "") -> float:
        """The cell as a float; a refusal names its line and column, never its text."""
        where = f"{self.path}, line {self.lines[i]}, column {shown(self.columns[k])}"
        text = cell.strip()
        if not text:
            raise DataFileError(
                f"{where}: empty cell (missing values are not supported; drop or fill the row)"
            )
        try:
            value = float(text)
        except ValueError:
            if _DECIMAL_COMMA.fullmatch(text):
                hint = " (a decimal comma? write a decimal point)" + hint
            raise DataFileError(f"{where}: not a number{hint}") from None
        if not math.isfinite(value):
            raise DataFileError(f"{where}: not a finite number (inf or nan)")
        return value


_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


def _integral(cells: list[str]) -> np.ndarray | None:
    """The cells as int64 labels if every one is a finite number with an integer value
    (``0.0``, ``1.0``, ``2e0``: what ``to_csv`` writes for integer labels held as
    floats), else None."""
    out = np.empty(len(cells), dtype=np.int64)
    for i, cell in enumerate(cells):
        try:
            value = float(cell)
        except ValueError:
            return None
        if not (np.isfinite(value) and value == int(value) and abs(value) < 2**53):
            return None
        out[i] = int(value)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_sep(sep: str) -> str:
    """The field separator ``sep`` as one character (``'tab'`` or ``'\\t'``: a tab);
    anything else than one character other than a quote or a newline is refused."""
    value = SEP_ALIASES.get(sep, sep) if isinstance(sep, str) else sep
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
        raise InvalidInputError(
            "sep: must be a single character other than a quote or a newline "
            f"('tab' for a tab), got {sep!r}"
        )
    return value


def read_csv(path: str | os.PathLike[str], sep: str = ",") -> CsvTable:
    """Read a UTF-8 CSV file with a header row, strictly.

    Every data row must have as many fields as the header; blank lines are skipped;
    column names must be unique and non-empty. Cells stay text until
    :meth:`CsvTable.features_and_target` converts them. ``sep`` is checked by
    :func:`check_sep`.

    Raises
    ------
    DataFileError
        Naming the file, the line and the problem.
    InvalidInputError
        ``sep`` is not a separator.
    """
    path = Path(path)
    sep = check_sep(sep)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataFileError(f"{path}: a directory, not a CSV file; name a file in it") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(f"{path}, line {line}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if header is None:
                header = record
                _check_header(path, header, sep)
                continue
            if len(record) != len(header):
                raise DataFileError(
                    f"{path}, line {reader.line_num}: {len(record)} fields, but the header "
                    f"has {len(header)} (separator {sep!r})"
                )
            rows.append(record)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataFileError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise DataFileError(f"{path}: the file is empty; expected a header row and data")
    if not rows:
        raise DataFileError(f"{path}: no data rows after the header")
    return CsvTable(path, hashlib.sha256(raw).hexdigest(), tuple(header), rows, lines, sep)


def _check_header(path: Path, header: list[str], sep: str) -> None:
    """Two or more named, distinct columns; a refusal names positions, not the text
    (the file is not known to be a table yet)."""
    if len(header) == 1:
        raise DataFileError(
            f"{path}, line 1: the header has a single column (no {sep!r} on the line): "
            f"not a CSV file with separator {sep!r}; is the separator right? (see --sep, "
            "or sep in a sweep file)"
        )
    names = [name.strip() for name in header]
    if "" in names:
        raise DataFileError(
            f"{path}, line 1: column {names.index('') + 1} of the header has no name"
        )
    first: dict[str, int] = {}
    for k, name in enumerate(header, start=1):
        if name in first:
            raise DataFileError(
                f"{path}, line 1: columns {first[name]} and {k} of the header have the "
                "same name; give each column its own"
            )
        first[name] = k


def load_csv_dataset(
    path: str | os.PathLike[str],
    target: str,
    task: str,
    *,
    sep: str = ",",
    name: str | None = None,
) -> Dataset:
    """A user's CSV file as a :class:`Dataset`: :func:`read_csv` then
    :meth:`CsvTable.dataset` (``target``: the column to predict; ``task``:
    ``"regression"``, a numeric target, or ``"classification"``, class labels)."""
    return read_csv(path, sep).dataset(target, task, name)


def read_vector(path: str | os.PathLike[str]) -> np.ndarray:
    """Numbers from a text file: one per line, or comma separated (blank lines skipped)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataFileError(f"{path}: a directory, not a file of numbers") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(f"{path}, line {at}: not UTF-8 text") from None
    values = []
    for number, line in enumerate(text.splitlines(), start=1):  # never quoted: see top
        for k, token in enumerate(line.replace(",", " ").split(), start=1):
            try:
                value = float(token)
            except ValueError:
                raise DataFileError(
                    f"{path}, line {number}: item {k} is not a number (expected numbers, "
                    "one per line or comma separated)"
                ) from None
            if not math.isfinite(value):
                raise DataFileError(f"{path}, line {number}: item {k} is not finite")
            values.append(value)
    if not values:
        raise DataFileError(f"{path}: no numbers in the file")
    return np.array(values)


__all__ = [
    "SEP_ALIASES",
    "DataFileError",
    "CsvTable",
    "check_sep",
    "read_csv",
    "load_csv_dataset",
    "read_vector",
]

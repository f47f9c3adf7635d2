"""Strict readers of the two UCI files: every problem names the file, the line and the cause.

Parsing is strict on purpose: a wrong header, a row with the wrong number of fields, a
value that is not a number, or a truncated file raises
:class:`~flexpoison.data.dataset.DataError`; a data set is returned whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset
from .uci import REGISTRY, RemoteFile, how_to_provide

# --------------------------------------------------------------------------
# CCPP
# --------------------------------------------------------------------------

CCPP_FEATURES: tuple[str, ...] = ("AT", "V", "AP", "RH")
CCPP_TARGET = "PE"

_CCPP_DESCRIPTION = (
    "Combined Cycle Power Plant (UCI id 294, doi:10.24432/C5002N), licensed "
    "CC BY 4.0. Tüfekci, P. (2014), Prediction of full load electrical power "
    "output of a base load operated combined cycle power plant using machine "
    "learning methods, Int. J. Electrical Power & Energy Systems 60, 126-140, "
    "doi:10.1016/j.ijepes.2014.02.027. Features: ambient temperature AT (°C), "
    "exhaust vacuum V (cm Hg), ambient pressure AP (mbar), relative humidity "
    "RH (%); target: net hourly electrical energy output PE (MW). The file is "
    "a CSV export of Sheet1 of UCI's Folds5x2_pp.xlsx. {n} rows, all kept "
    "(there are no missing values; the {n_dup} rows that duplicate an earlier "
    "row are in the original too and are kept). Read from {path}."
)


def read_ccpp(path: str | os.PathLike[str], *, verify: bool = True) -> Dataset:
    """Read the Combined Cycle Power Plant CSV (``Folds5x2_pp.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file: header ``AT,V,AP,RH,PE``, ``,`` separated, ``.``
        decimals; a UTF-8 byte-order mark is allowed.
    verify : bool, default True
        Refuse the file unless its SHA-256 equals the reference copy's.

    Returns
    -------
    Dataset
        ``X`` with columns AT, V, AP, RH and ``y`` = PE; every row kept
        (9,568 in the reference copy).

    Raises
    ------
    DataError
        File unreadable, checksum mismatch, wrong header, a row with the wrong
        number of fields, a value that is not a number, an empty line, or a
        truncated file (last line without line break).
    """
    path = Path(path)
    entry = REGISTRY["ccpp"]
    text = _read_text(path, entry, verify=verify)
    columns = CCPP_FEATURES + (CCPP_TARGET,)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", strict=True)
    try:
        header = next(reader)
        _check_header(path, header, columns, allow_empty_tail=False)
        width = len(columns)
        values: list[list[float]] = []
        for row in reader:
            line = reader.line_num
            if not row or all(not f.strip() for f in row):
                raise DataError(f"{path}, line {line}: empty line in the data")
            if len(row) != width:
                raise DataError(f"{path}, line {line}: expected {width} fields, found {len(row)}")
            values.append([_parse_point(path, line, c, f) for c, f in zip(columns, row)])
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}") from exc
    if not values:
        raise DataError(f"{path}: no data rows after the header")
    data = np.array(values, dtype=np.float64)
    return Dataset(
        name="ccpp",
        X=np.ascontiguousarray(data[:, :4]),
        y=np.ascontiguousarray(data[:, 4]),
        feature_names=CCPP_FEATURES,
        target_name=CCPP_TARGET,
        task="regression",
        description=_CCPP_DESCRIPTION.format(
            n=f"{len(values):,}",
            n_dup=len(values) - len(np.unique(data, axis=0)),
            path=path,
        ),
    )


# --------------------------------------------------------------------------
# Air Quality
# --------------------------------------------------------------------------

AIRQUALITY_COLUMNS: tuple[str, ...] = (
    "Date", "Time", "CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)",
    "PT08.S2(NMHC)", "NOx(GT)", "PT08.S3(NOx)", "NO2(GT)", "PT08.S4(NO2)",
    "PT08.S5(O3)", "T", "RH", "AH",
)  # fmt: skip
AIRQUALITY_FEATURES: tuple[str, ...] = (
    "PT08.S1(CO)", "PT08.S2(NMHC)", "PT08.S3(NOx)", "PT08.S4(NO2)",
    "PT08.S5(O3)", "T", "RH", "AH",
)  # fmt: skip
AIRQUALITY_TARGET = "C6H6(GT)"
#: The missing-value sentinel of the Air Quality file (written -200 or -200,0).
AIRQUALITY_MISSING = -200.0

_AQ_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}\Z")
_AQ_TIME = re.compile(r"\d{1,2}\.\d{2}\.\d{2}\Z")

_AQ_DESCRIPTION = (
    "Air Quality (UCI id 360, doi:10.24432/C59K5F), licensed CC BY 4.0. "
    "De Vito, S., Massera, E., Piga, M., Martinotto, L., Di Francia, G. (2008), "
    "On field calibration of an electronic nose for benzene estimation in an "
    "urban pollution monitoring scenario, Sensors and Actuators B: Chemical "
    "129(2), 750-757. Hourly averages from a gas multisensor device in an "
    "Italian city, March 2004 - April 2005. Target: benzene concentration "
    "C6H6(GT) (µg/m³); features: the five sensor responses PT08.S1(CO), "
    "PT08.S2(NMHC), PT08.S3(NOx), PT08.S4(NO2), PT08.S5(O3), temperature T "
    "(°C), relative humidity RH (%) and absolute humidity AH. The reference "
    "columns CO(GT), NMHC(GT) (90 % missing), NOx(GT) and NO2(GT) are not "
    "used. The file has {n_raw} data rows (n_raw={n_raw_plain}); -200 marks a "
    "missing value. {kept} Read from {path}."
)


def read_airquality(
    path: str | os.PathLike[str],
    *,
    drop_missing: bool = True,
    verify: bool = True,
) -> Dataset:
    """Read the UCI Air Quality CSV (``AirQualityUCI.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file: ``;`` separated, decimal commas, header
        ``Date;Time;CO(GT);...;AH`` optionally followed by empty fields (the
        original has two), and optionally trailing lines of empty fields only
        (the original has 114), which are skipped.
    drop_missing : bool, default True
        Drop every row in which the target ``C6H6(GT)`` or any of the eight
        features is missing (-200). With False, all data rows are returned
        and missing values are NaN; this gives the raw row count.
    verify : bool, default True
        Refuse the file unless its SHA-256 equals the reference copy's.

    Returns
    -------
    Dataset
        ``X`` with columns :data:`AIRQUALITY_FEATURES` and ``y`` =
        ``C6H6(GT)``. The reference copy has 9,357 data rows; 366 of them miss
        all nine of these values, so 8,991 are kept when `drop_missing` is
        True.

    Raises
    ------
    DataError
        File unreadable, checksum mismatch, wrong header, a row with the wrong
        number of fields, a value in an unnamed column, a malformed date or
        time, a value that is not a decimal-comma number, a data row after the
        trailing empty lines, or a truncated file.

    Notes
    -----
    All thirteen measurement columns are parsed and checked, even those not
    returned, so that a damaged file is noticed wherever it is damaged.
    """
    path = Path(path)
    text = _read_text(path, REGISTRY["airquality"], verify=verify)
    values = _airquality_values(path, text)
    measured = AIRQUALITY_COLUMNS[2:]
    data = np.array(values, dtype=np.float64)
    data[data == AIRQUALITY_MISSING] = np.nan
    cols = [measured.index(c) for c in AIRQUALITY_FEATURES]
    X = data[:, cols]
    y = data[:, measured.index(AIRQUALITY_TARGET)]
    n_raw = len(values)
    missing = np.isnan(X).any(axis=1) | np.isnan(y)
    n_missing = int(missing.sum())
    if drop_missing:
        X, y = X[~missing], y[~missing]
        kept = (
            f"{n_missing:,} rows miss the target or a feature and were dropped; "
            f"{X.shape[0]:,} rows kept."
        )
    else:
        kept = (
            f"No rows dropped (drop_missing=False): {n_missing:,} rows miss the "
            "target or a feature, shown as NaN."
        )
    return Dataset(
        name="airquality",
        X=np.ascontiguousarray(X),
        y=np.ascontiguousarray(y),
        feature_names=AIRQUALITY_FEATURES,
        target_name=AIRQUALITY_TARGET,
        task="regression",
        description=_AQ_DESCRIPTION.format(
            n_raw=f"{n_raw:,}", n_raw_plain=n_raw, kept=kept, path=path
        ),
    )


def _airquality_values(path: Path, text: str) -> list[list[float]]:
    """The thirteen measurement columns of every data row of the Air Quality CSV,
    checked field by field (:func:`read_airquality` lists what is refused)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=True)
    n_named = len(AIRQUALITY_COLUMNS)
    measured = AIRQUALITY_COLUMNS[2:]
    values: list[list[float]] = []
    try:
        header = next(reader)
        _check_header(path, header, AIRQUALITY_COLUMNS, allow_empty_tail=True)
        width = len(header)
        first_empty_line: int | None = None
        for row in reader:
            line = reader.line_num
            if all(not f.strip() for f in row):  # also true for a blank line
                if first_empty_line is None:
                    first_empty_line = line
                continue
            if first_empty_line is not None:
                raise DataError(
                    f"{path}, line {line}: data row after the empty line "
                    f"{first_empty_line}; empty lines are allowed only at the end"
                )
            _check_airquality_row(path, line, row, width)
            values.append(
                [_parse_comma(path, line, c, f) for c, f in zip(measured, row[2:n_named])]
            )
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}") from exc
    if not values:
        raise DataError(f"{path}: no data rows after the header")
    return values


def _check_airquality_row(path: Path, line: int, row: list[str], width: int) -> None:
    """A data row's shape: ``width`` fields, nothing in the unnamed columns, a date
    DD/MM/YYYY and a time HH.MM.SS."""
    if len(row) != width:
        raise DataError(f"{path}, line {line}: expected {width} fields, found {len(row)}")
    for k in range(len(AIRQUALITY_COLUMNS), width):
        if row[k].strip():
            raise DataError(
                f"{path}, line {line}: unexpected value {row[k]!r} in "
                f"unnamed column {k + 1} (it should be empty)"
            )
    if not _AQ_DATE.match(row[0].strip()):
        raise DataError(f"{path}, line {line}: column Date: {row[0]!r} is not a date DD/MM/YYYY")
    if not _AQ_TIME.match(row[1].strip()):
        raise DataError(f"{path}, line {line}: column Time: {row[1]!r} is not a time HH.MM.SS")


# --------------------------------------------------------------------------
# Reading and parsing helpers
# --------------------------------------------------------------------------

_NUMBER_POINT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NUMBER_COMMA = re.compile(r"[+-]?\d+(?:,\d+)?\Z")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_text(path: Path, entry: RemoteFile, *, verify: bool) -> str:
    """Read `path` once, check its digest (if `verify`), decode, check its end."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            f"{path}: {entry.title} data file not found. {how_to_provide(entry)}"
        ) from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from exc
    if verify:
        actual = _sha256(data)
        if actual != entry.sha256:
            raise DataError(
                f"{path}: checksum mismatch: expected sha256 {entry.sha256}, got "
                f"{actual}. This is not the reference copy of {entry.filename} "
                f"({entry.title}). If you modified it on purpose, load it with "
                "verify=False (the format checks still apply)."
            )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}, line {line}: not UTF-8/ASCII text (byte {exc.start})") from exc
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    if not text.endswith(("\n", "\r")):
        last = len(io.StringIO(text, newline="").readlines())
        raise DataError(
            f"{path}, line {last}: the last line has no line break; the file "
            "looks truncated (the reference copy ends every line with CRLF)"
        )
    return text


def _check_header(
    path: Path,
    header: list[str],
    columns: tuple[str, ...],
    *,
    allow_empty_tail: bool,
) -> None:
    names = [h.strip() for h in header]
    named = names[: len(columns)]
    tail = names[len(columns) :]
    if tuple(named) == columns and (not tail or (allow_empty_tail and not any(tail))):
        return
    found = [n for n in names if n]
    missing = [c for c in columns if c not in found]
    unexpected = [n for n in found if n not in columns]
    details = []
    if missing:
        details.append("missing: " + ", ".join(missing))
    if unexpected:
        details.append("unexpected: " + ", ".join(unexpected))
    if not details:
        if len(found) > len(columns) or any(tail):
            details.append("duplicate or extra columns")
        else:
            details.append("columns out of order")
    raise DataError(
        f"{path}, line 1: wrong header ({'; '.join(details)}); expected the "
        f"columns {', '.join(columns)} in this order, found {', '.join(names)}"
    )


def _parse_point(path: Path, line: int, column: str, field: str) -> float:
    s = field.strip()
    if not _NUMBER_POINT.match(s):
        raise DataError(f"{path}, line {line}: column {column}: {field!r} is not a number")
    return float(s)


def _parse_comma(path: Path, line: int, column: str, field: str) -> float:
    s = field.strip()
    if not _NUMBER_COMMA.match(s):
        raise DataError(
            f"{path}, line {line}: column {column}: {field!r} is not a number with a decimal comma"
        )
    return float(s.replace(",", "."))


__all__ = ["read_ccpp", "read_airquality"]

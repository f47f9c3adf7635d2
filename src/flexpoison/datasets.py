"""Loaders for the four data sets of the paper's experiments (section V).

===================  ==============  ==========================================
name                 task            source
===================  ==============  ==========================================
``"ccpp"``           regression      UCI Combined Cycle Power Plant (CSV file)
``"airquality"``     regression      UCI Air Quality (CSV file)
``"iris"``           classification  scikit-learn's bundled Iris
``"breast_cancer"``  classification  scikit-learn's bundled Wisconsin Diagnostic
===================  ==============  ==========================================

Where the UCI files are looked for
----------------------------------
:func:`load_dataset` looks for ``ccpp/Folds5x2_pp.csv`` and
``airquality/AirQualityUCI.csv`` in the first of these that applies:

1. the ``data_dir`` argument, if given;
2. else the folder named by the environment variable ``FLEXPOISON_DATA_DIR``,
   if set;
3. else the per-user cache, ``pooch.os_cache("flexpoison")`` (the environment
   variable ``FLEXPOISON_CACHE_DIR`` overrides it);
4. else, if ``download=True``, the file is downloaded from the UCI repository
   into that cache.

A folder given by (1) or (2) is authoritative: if the file is not there, the
loader says so instead of silently falling back to the cache or the network.
In (1)-(3) the layout is ``<dir>/ccpp/Folds5x2_pp.csv`` and
``<dir>/airquality/AirQualityUCI.csv``.

Every file is checked against the SHA-256 digest of the reference copy
(:data:`REGISTRY`) before it is parsed; ``verify=False`` skips that check for a
deliberately modified copy (the format checks still apply). A downloaded file
is always checked, whatever ``verify`` says, and is stored in the cache only if
it matches.

Downloads
---------
The download URLs are ``UCI_BASE_URL`` + ``RemoteFile.url_path``; the
environment variable ``FLEXPOISON_DATA_URL`` replaces ``UCI_BASE_URL`` (for a
mirror, or a local server in tests).

* Air Quality: UCI's zip (``360/air+quality.zip``) holds ``AirQualityUCI.csv``
  unchanged; it is extracted with :class:`pooch.Unzip` and the CSV's SHA-256 is
  checked. The zip's own digest is not pinned (``archive_sha256=None``) because
  UCI re-packs its archives; the check on the extracted CSV is what guarantees
  the data.
* CCPP: UCI's zip (``294/combined+cycle+power+plant.zip``) holds only
  ``Folds5x2_pp.xlsx`` and ``.ods`` workbooks, no CSV, and flexpoison does not
  read spreadsheets. So CCPP is never downloaded: without a local copy the
  loader raises :class:`DataError` explaining how to provide the CSV.

Parsing is strict: a wrong header, a row with the wrong number of fields, a
value that is not a number, or a truncated file raises :class:`DataError`
naming the file, the line and the problem. A data set is returned whole or not
at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping

import numpy as np

from .errors import FlexPoisonError

__all__ = [
    "DATASETS",
    "REGISTRY",
    "UCI_BASE_URL",
    "DataError",
    "Dataset",
    "RemoteFile",
    "cache_dir",
    "load_dataset",
    "read_airquality",
    "read_ccpp",
]

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("ccpp", "airquality", "iris", "breast_cancer")

#: Base of the download URLs; ``FLEXPOISON_DATA_URL`` overrides it.
UCI_BASE_URL = "https://archive.ics.uci.edu/static/public/"

ENV_DATA_DIR = "FLEXPOISON_DATA_DIR"
ENV_CACHE_DIR = "FLEXPOISON_CACHE_DIR"
ENV_DATA_URL = "FLEXPOISON_DATA_URL"


class DataError(FlexPoisonError, ValueError):
    """A data set cannot be provided: file missing, checksum mismatch, bad format.

    The message names the file and the problem (and, for parse errors, the
    line), and says how to fix it where there is something the user can do.
    """


# --------------------------------------------------------------------------
# The Dataset container
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set ready for an experiment.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    X : numpy.ndarray
        Features, shape ``(n, d)``, dtype float64.
    y : numpy.ndarray
        Target, shape ``(n,)``: float64 for regression, int64 class labels
        ``0 .. k-1`` for classification.
    feature_names : tuple of str
        The ``d`` column names of `X`, in order, as spelt in the source.
    target_name : str
        Name of the target column.
    task : {"regression", "classification"}
        The learning task.
    description : str
        Source, citation and DOI, licence, and which rows were kept and why.

    Notes
    -----
    Instances compare by identity (``eq=False``): comparing the arrays
    element-wise is left to the caller. The arrays are ordinary, writable
    NumPy arrays owned by this instance; each call of :func:`load_dataset`
    returns fresh ones.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    task: Literal["regression", "classification"]
    description: str

    def __post_init__(self) -> None:
        if self.task not in ("regression", "classification"):
            raise DataError(
                f"Dataset {self.name!r}: task must be 'regression' or "
                f"'classification', not {self.task!r}"
            )
        if not isinstance(self.X, np.ndarray) or self.X.ndim != 2:
            raise DataError(f"Dataset {self.name!r}: X must be a 2-D numpy array")
        if self.X.dtype != np.float64:
            raise DataError(
                f"Dataset {self.name!r}: X must have dtype float64, not {self.X.dtype}"
            )
        if not isinstance(self.y, np.ndarray) or self.y.ndim != 1:
            raise DataError(f"Dataset {self.name!r}: y must be a 1-D numpy array")
        if self.y.shape[0] != self.X.shape[0]:
            raise DataError(
                f"Dataset {self.name!r}: X has {self.X.shape[0]} rows but y has "
                f"{self.y.shape[0]}"
            )
        want = np.float64 if self.task == "regression" else np.int64
        if self.y.dtype != want:
            raise DataError(
                f"Dataset {self.name!r}: y must have dtype {np.dtype(want)} for "
                f"{self.task}, not {self.y.dtype}"
            )
        if len(self.feature_names) != self.X.shape[1]:
            raise DataError(
                f"Dataset {self.name!r}: {len(self.feature_names)} feature names "
                f"for {self.X.shape[1]} columns"
            )

    @property
    def n_samples(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])


# --------------------------------------------------------------------------
# Registry of the UCI files
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """Where a UCI file lives locally and remotely, and its reference digest.

    Parameters
    ----------
    path : str
        Location relative to a data folder or the cache, with ``/``
        separators, e.g. ``"airquality/AirQualityUCI.csv"``.
    sha256 : str
        SHA-256 of the reference CSV (hex). Always checked for downloads.
    url_path : str
        Download location relative to the base URL (:data:`UCI_BASE_URL`
        or ``FLEXPOISON_DATA_URL``).
    archive_sha256 : str or None
        SHA-256 of the downloaded zip, or None when it is not pinned (the
        extracted CSV is still checked against `sha256`).
    member : str or None
        Name of the CSV inside the zip, or None when the archive holds no CSV
        flexpoison can read (the file then cannot be downloaded).
    title : str
        Human-readable name used in messages.
    """

    path: str
    sha256: str
    url_path: str
    archive_sha256: str | None
    member: str | None
    title: str

    @property
    def filename(self) -> str:
        """Base name of the CSV file."""
        return self.path.rsplit("/", 1)[-1]


_REGISTRY: dict[str, RemoteFile] = {
    "ccpp": RemoteFile(
        path="ccpp/Folds5x2_pp.csv",
        sha256="18d3af05bc856b77d58301cb6ddfd2d8dd5d6e1fd7e422278a7f774182163d71",
        url_path="294/combined+cycle+power+plant.zip",
        archive_sha256=None,
        member=None,  # the zip holds only Folds5x2_pp.xlsx / .ods: not read
        title="Combined Cycle Power Plant",
    ),
    "airquality": RemoteFile(
        path="airquality/AirQualityUCI.csv",
        sha256="13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996",
        url_path="360/air+quality.zip",
        archive_sha256=None,
        member="AirQualityUCI.csv",
        title="Air Quality",
    ),
}

#: The UCI files, by data set name (read-only).
REGISTRY: Mapping[str, RemoteFile] = MappingProxyType(_REGISTRY)


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load one of the paper's data sets.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (case-insensitive; ``-`` may stand for
        ``_``).
    data_dir : str or os.PathLike, optional
        Folder holding ``ccpp/Folds5x2_pp.csv`` and/or
        ``airquality/AirQualityUCI.csv``. When given, the file must be there.
        When omitted, ``FLEXPOISON_DATA_DIR`` is used if set, else the cache
        (see the module documentation). Ignored for Iris and breast cancer.
    download : bool, default True
        Whether a UCI file that is not found locally may be downloaded into
        the cache. Never applies to CCPP, which UCI does not ship as CSV.
    verify : bool, default True
        Check a local file's SHA-256 against the reference copy. Set to False
        to load a deliberately modified copy; the header and format checks
        still apply. Downloads are always verified.

    Returns
    -------
    Dataset
        The whole data set. Air Quality comes with the rows that miss the
        target or any feature dropped (see :func:`read_airquality`).

    Raises
    ------
    DataError
        Unknown name; file not found (the message says where it was looked for
        and how to provide it); checksum mismatch; download failure; or a
        malformed file.

    Examples
    --------
    >>> ds = load_dataset("iris")
    >>> ds.X.shape, ds.task
    ((150, 4), 'classification')
    """
    key = _canonical_name(name)
    if key == "iris":
        return _load_iris()
    if key == "breast_cancer":
        return _load_breast_cancer()
    path, in_cache = _find_file(key, data_dir=data_dir, download=download)
    reader = read_ccpp if key == "ccpp" else read_airquality
    try:
        return reader(path, verify=verify)
    except DataError as exc:
        if not in_cache:
            raise
        raise DataError(
            f"{exc} The file is in the download cache: delete it to download "
            "it again."
        ) from exc


def cache_dir() -> Path:
    """Folder where downloaded data files are kept.

    Returns
    -------
    pathlib.Path
        ``FLEXPOISON_CACHE_DIR`` if that environment variable is set and not
        empty, else ``pooch.os_cache("flexpoison")``. The folder may not exist
        yet.
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("flexpoison"))


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
    entry = _REGISTRY["ccpp"]
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
                raise DataError(
                    f"{path}, line {line}: expected {width} fields, found {len(row)}"
                )
            values.append(
                [_parse_point(path, line, c, f) for c, f in zip(columns, row)]
            )
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
    entry = _REGISTRY["airquality"]
    text = _read_text(path, entry, verify=verify)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=True)
    n_named = len(AIRQUALITY_COLUMNS)
    measured = AIRQUALITY_COLUMNS[2:]
    try:
        header = next(reader)
        _check_header(path, header, AIRQUALITY_COLUMNS, allow_empty_tail=True)
        width = len(header)
        values: list[list[float]] = []
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
            if len(row) != width:
                raise DataError(
                    f"{path}, line {line}: expected {width} fields, found {len(row)}"
                )
            for k in range(n_named, width):
                if row[k].strip():
                    raise DataError(
                        f"{path}, line {line}: unexpected value {row[k]!r} in "
                        f"unnamed column {k + 1} (it should be empty)"
                    )
            if not _AQ_DATE.match(row[0].strip()):
                raise DataError(
                    f"{path}, line {line}: column Date: {row[0]!r} is not a "
                    "date DD/MM/YYYY"
                )
            if not _AQ_TIME.match(row[1].strip()):
                raise DataError(
                    f"{path}, line {line}: column Time: {row[1]!r} is not a "
                    "time HH.MM.SS"
                )
            values.append(
                [
                    _parse_comma(path, line, c, f)
                    for c, f in zip(measured, row[2:n_named])
                ]
            )
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}") from exc
    if not values:
        raise DataError(f"{path}: no data rows after the header")

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


# --------------------------------------------------------------------------
# scikit-learn's bundled data sets
# --------------------------------------------------------------------------


def _load_iris() -> Dataset:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    classes = ", ".join(f"{i} = {c}" for i, c in enumerate(bunch.target_names))
    return Dataset(
        name="iris",
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(f) for f in bunch.feature_names),
        target_name="species",
        task="classification",
        description=(
            "Iris (UCI id 53, doi:10.24432/C56C76), licensed CC BY 4.0. Fisher, "
            "R. A. (1936), The use of multiple measurements in taxonomic "
            "problems, Annals of Eugenics 7(2), 179-188. Taken from "
            "scikit-learn's bundled copy (sklearn.datasets.load_iris), which "
            "follows Fisher's paper and differs from the UCI file in two values. "
            f"150 rows, 4 features (cm), all kept; 3 classes of 50: {classes}."
        ),
    )


def _load_breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    classes = ", ".join(f"{i} = {c}" for i, c in enumerate(bunch.target_names))
    counts = np.bincount(bunch.target)
    return Dataset(
        name="breast_cancer",
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(f) for f in bunch.feature_names),
        target_name="diagnosis",
        task="classification",
        description=(
            "Breast Cancer Wisconsin (Diagnostic) (UCI id 17, "
            "doi:10.24432/C5DW2B), licensed CC BY 4.0. Wolberg, W., "
            "Mangasarian, O., Street, N., Street, W. (1995); Street, W. N., "
            "Wolberg, W. H., Mangasarian, O. L. (1993), Nuclear feature "
            "extraction for breast tumor diagnosis, Proc. SPIE 1905, 861-870. "
            "Taken from scikit-learn's bundled copy "
            "(sklearn.datasets.load_breast_cancer). 569 rows, 30 features "
            "(mean, standard error and worst value of 10 cell-nucleus "
            f"measurements), all kept; labels {classes} "
            f"({counts[0]} and {counts[1]} rows)."
        ),
    )


# --------------------------------------------------------------------------
# Locating and downloading the UCI files
# --------------------------------------------------------------------------


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise DataError(
            f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}"
        )
    return key


def _how_to_provide(entry: RemoteFile) -> str:
    return (
        f"Put the file at <DIR>/{entry.path} and pass data_dir=<DIR> (CLI: "
        f"--data-dir <DIR>) or set the environment variable {ENV_DATA_DIR}=<DIR>."
    )


def _find_file(
    key: str, *, data_dir: str | os.PathLike[str] | None, download: bool
) -> tuple[Path, bool]:
    """Locate a UCI file, downloading it into the cache if allowed.

    Returns the path and whether it is in the cache.
    """
    entry = _REGISTRY[key]
    env_dir = os.environ.get(ENV_DATA_DIR)
    if data_dir is not None or env_dir:
        if data_dir is not None:
            base, origin = Path(data_dir).expanduser(), "the data_dir argument"
        else:
            base, origin = Path(env_dir).expanduser(), f"${ENV_DATA_DIR}"  # type: ignore[arg-type]
        candidate = base / entry.path
        if candidate.is_file():
            return candidate, False
        where = "" if base.is_dir() else f" (the folder {base} does not exist)"
        raise DataError(
            f"{entry.title} data file {entry.filename} not found at {candidate}"
            f"{where}; the folder comes from {origin}. {_how_to_provide(entry)}"
        )

    cache = cache_dir()
    cached = cache / entry.path
    if cached.is_file():
        return cached, True

    if entry.member is None:
        url = _url(entry)
        raise DataError(
            f"{entry.title} data file {entry.filename} not found (looked in the "
            f"cache: {cached}; no data_dir argument, {ENV_DATA_DIR} not set). "
            f"It cannot be downloaded: the UCI archive {url} ships it only as "
            "xlsx/ods workbooks, which flexpoison does not read. The reference "
            f"CSV (sha256 {entry.sha256}) is the export of Sheet1 published as "
            "Folds5x2_pp.csv in the GitHub repository "
            "chuanzhang1990/power_plant_operation (commit 553702f5). A CSV you "
            "export from Sheet1 yourself holds the same values but will not "
            "match that checksum: load it with verify=False. "
            f"{_how_to_provide(entry)}"
        )
    if not download:
        raise DataError(
            f"{entry.title} data file {entry.filename} not found (looked in the "
            f"cache: {cached}; no data_dir argument, {ENV_DATA_DIR} not set) and "
            f"downloads are disabled (download=False). {_how_to_provide(entry)} "
            f"Or allow the download from {_url(entry)} into the cache "
            f"({ENV_CACHE_DIR} sets its location)."
        )
    _download(entry, cache)
    return cached, True


def _url(entry: RemoteFile) -> str:
    base = os.environ.get(ENV_DATA_URL) or UCI_BASE_URL
    return base.rstrip("/") + "/" + entry.url_path.lstrip("/")


def _download(entry: RemoteFile, cache: Path) -> None:
    """Download `entry`'s archive, extract and verify the CSV, move it into `cache`.

    Works in a private temporary folder inside `cache`, removed afterwards, so
    that only a verified CSV ever lands at ``cache / entry.path`` (atomically,
    with :func:`os.replace`), even with concurrent downloads.
    """
    import pooch

    assert entry.member is not None
    url = _url(entry)
    target = cache / entry.path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    except OSError as exc:
        raise DataError(
            f"cannot create the cache folder {target.parent} for {entry.filename}: "
            f"{exc}. Set {ENV_CACHE_DIR} to a writable folder. "
            f"{_how_to_provide(entry)}"
        ) from exc
    try:
        archive_name = entry.url_path.rsplit("/", 1)[-1] or "archive.zip"
        known = f"sha256:{entry.archive_sha256}" if entry.archive_sha256 else None
        try:
            pooch.retrieve(
                url,
                known_hash=known,
                fname=archive_name,
                path=tmp,
                processor=pooch.Unzip(members=[entry.member], extract_dir="extracted"),
                progressbar=False,
            )
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(
                f"could not download {entry.title} ({entry.filename}) from {url}: "
                f"{exc}. {_how_to_provide(entry)}"
            ) from exc
        extracted = tmp / "extracted" / entry.member
        if not extracted.is_file():
            raise DataError(
                f"the archive downloaded from {url} has no member {entry.member!r}; "
                f"nothing was stored in the cache. {_how_to_provide(entry)}"
            )
        actual = _sha256(extracted.read_bytes())
        if actual != entry.sha256:
            raise DataError(
                f"{entry.member} downloaded from {url} failed the checksum: "
                f"expected sha256 {entry.sha256}, got {actual}. It was discarded; "
                f"nothing was stored in the cache {cache}. {_how_to_provide(entry)}"
            )
        os.replace(extracted, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
            f"{path}: {entry.title} data file not found. {_how_to_provide(entry)}"
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
        raise DataError(
            f"{path}, line {line}: not UTF-8/ASCII text (byte {exc.start})"
        ) from exc
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
            f"{path}, line {line}: column {column}: {field!r} is not a number "
            "with a decimal comma"
        )
    return float(s.replace(",", "."))

"""Loaders for the four data sets of the paper's experiments (section V).

===================  ==============  ==========================================
name                 task            source
===================  ==============  ==========================================
``"ccpp"``           regression      UCI Combined Cycle Power Plant (CSV file)
``"airquality"``     regression      UCI Air Quality (CSV file)
``"iris"``           classification  scikit-learn's bundled Iris
``"breast_cancer"``  classification  scikit-learn's bundled Wisconsin Diagnostic
===================  ==============  ==========================================

Where the UCI files are looked for, and how they are checked and parsed, is
described in :mod:`flexpoison.data.uci`.
"""

from __future__ import annotations

import os

import numpy as np

from .dataset import DataError, Dataset
from .readers import read_airquality, read_ccpp
from .uci import find_file

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("ccpp", "airquality", "iris", "breast_cancer")


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
    path, in_cache = find_file(key, data_dir=data_dir, download=download)
    reader = read_ccpp if key == "ccpp" else read_airquality
    try:
        return reader(path, verify=verify)
    except DataError as exc:
        if not in_cache:
            raise
        raise DataError(
            f"{exc} The file is in the download cache: delete it to download it again."
        ) from exc


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


def _canonical_name(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}")
    return key


__all__ = ["DATASETS", "load_dataset"]

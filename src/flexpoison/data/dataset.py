"""The container every experiment reads: :class:`Dataset`, and :class:`DataError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import FlexPoisonError


class DataError(FlexPoisonError, ValueError):
    """A data set cannot be provided: file missing, checksum mismatch, bad format.

    The message names the file and the problem (and, for parse errors, the
    line), and says how to fix it where there is something the user can do.
    """


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
        Target, shape ``(n,)``: float64 for regression; for classification, int64
        class labels (``0 .. k-1`` for the built-in sets) or, from a user's CSV file,
        string labels as spelt in the file.
    feature_names : tuple of str
        The ``d`` column names of `X`, in order, as spelt in the source.
    target_name : str
        Name of the target column.
    task : {"regression", "classification"}
        The learning task.
    description : str
        Source, citation and DOI, licence, and which rows were kept and why.
    file : str or None
        The user's CSV file it was read from (None for the built-in sets).
    sha256 : str or None
        Hex SHA-256 digest of that file's bytes (None for the built-in sets).

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
    file: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.task not in ("regression", "classification"):
            raise DataError(
                f"Dataset {self.name!r}: task must be 'regression' or "
                f"'classification', not {self.task!r}"
            )
        if not isinstance(self.X, np.ndarray) or self.X.ndim != 2:
            raise DataError(f"Dataset {self.name!r}: X must be a 2-D numpy array")
        if self.X.dtype != np.float64:
            raise DataError(f"Dataset {self.name!r}: X must have dtype float64, not {self.X.dtype}")
        if not isinstance(self.y, np.ndarray) or self.y.ndim != 1:
            raise DataError(f"Dataset {self.name!r}: y must be a 1-D numpy array")
        if self.y.shape[0] != self.X.shape[0]:
            raise DataError(
                f"Dataset {self.name!r}: X has {self.X.shape[0]} rows but y has {self.y.shape[0]}"
            )
        want = np.float64 if self.task == "regression" else np.int64
        labels = self.task == "classification" and self.y.dtype.kind == "U"
        if self.y.dtype != want and not labels:
            also = " or strings" if self.task == "classification" else ""
            raise DataError(
                f"Dataset {self.name!r}: y must have dtype {np.dtype(want)}{also} for "
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


__all__ = ["DataError", "Dataset"]

"""Data: the paper's four data sets, and the user's own CSV files, read strictly.

``dataset``  the :class:`Dataset` container every experiment reads, :class:`DataError`
``loaders``  :func:`load_dataset` by name (CCPP, Air Quality, Iris, breast cancer)
``uci``      where the UCI files are found, downloaded and checked
``readers``  strict parsers of the two UCI files
``csvfile``  a user's CSV file (:func:`read_csv`; as a :class:`Dataset`:
             :func:`load_csv_dataset`) and θ vectors from text files
"""

from .csvfile import CsvTable, DataFileError, check_sep, load_csv_dataset, read_csv, read_vector
from .dataset import DataError, Dataset
from .loaders import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "DataError",
    "load_dataset",
    "CsvTable",
    "DataFileError",
    "check_sep",
    "read_csv",
    "load_csv_dataset",
    "read_vector",
]

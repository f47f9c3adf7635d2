"""The user's containers: column names and pandas objects in, the same containers out;
and a random stream of its own for the further starts."""

from __future__ import annotations

import numpy as np


def _child(rng: np.random.Generator) -> np.random.Generator:
    """A generator independent of ``rng`` that leaves ``rng``'s stream untouched (a
    spawned child); ``rng`` itself if it cannot spawn (no seed sequence)."""
    try:
        return rng.spawn(1)[0]
    except (TypeError, ValueError, AttributeError):
        return rng


def _like(data, values: np.ndarray):
    """``values`` in the container of the user's ``data``: a pandas DataFrame with the
    same columns, a Series with the same name, else the ndarray itself."""
    kind = type(data).__name__
    if type(data).__module__.startswith("pandas") and kind in ("DataFrame", "Series"):
        import pandas as pd  # only reached when the user passed pandas objects

        if kind == "DataFrame":
            return pd.DataFrame(values, columns=data.columns)
        return pd.Series(values, name=data.name)
    return values


def _column_names(X) -> list[str] | None:
    """The column names of a table-like X (a pandas DataFrame's ``columns``), if any."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = [str(c) for c in columns]
    return names if len(names) == np.shape(X)[1] else None

"""The user's containers: column names and pandas objects in, the same containers out;
scikit-learn's parameter protocol for the attack; and a random stream of its own for
the further starts."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Self

import numpy as np

from ..errors import InvalidInputError


class EstimatorParams:
    """``get_params``/``set_params`` over a dataclass's fields, with the nested
    ``estimator__<name>`` of scikit-learn (so ``sklearn.base.clone`` works)."""

    estimator: Any

    def get_params(self, deep: bool = True) -> dict:
        """The attack's parameters by name (scikit-learn's estimator convention); with
        ``deep``, also the victim's, as ``estimator__<name>``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        if deep and hasattr(self.estimator, "get_params"):
            inner = self.estimator.get_params(deep=True)
            out.update({f"estimator__{key}": value for key, value in inner.items()})
        return out

    #: Parameters of which one at most is set: setting one clears the others (the later
    #: setting wins, as a scikit-learn user expects of ``set_params``).
    _EXCLUSIVE: tuple[tuple[str, ...], ...] = ()

    def set_params(self, **params) -> Self:
        """Set parameters by name (``estimator__<name>`` sets the victim's); returns
        the attack. An unknown name is refused; values are checked by ``generate``.
        Setting one of two exclusive parameters (``n_points`` and ``rate``) to a value
        clears the other."""
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        nested = {}
        for key, value in params.items():
            name, _, inner = key.partition("__")
            if name not in names or (inner and name != "estimator"):
                raise InvalidInputError(
                    f"set_params: {type(self).__name__} has no parameter {key!r} "
                    f"(its parameters: {', '.join(names)}, and estimator__<name>)"
                )
            if inner:
                nested[inner] = value
            else:
                setattr(self, name, value)
                for group in self._EXCLUSIVE:
                    if (
                        name in group
                        and value is not None
                        and not (set(group) - {name}) & set(params)
                    ):
                        for other in group:
                            if other != name:
                                setattr(self, other, None)
        if nested:
            if not hasattr(self.estimator, "set_params"):
                raise InvalidInputError(
                    f"set_params: the estimator {self.estimator!r} has no set_params"
                )
            self.estimator.set_params(**nested)
        return self


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

"""Names of a package imported from their modules on first use, so that the command line
(which imports the packages' light parts first) starts without numpy, scipy or
scikit-learn."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_getattr(
    package: str, where: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: ``name`` is read from the module
    ``where[name]`` (absolute, or relative to ``package`` when it starts with a dot) on
    first use and kept in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name], package), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_getattr"]

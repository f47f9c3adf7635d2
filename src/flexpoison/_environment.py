"""The environment a result was computed in, recorded beside every result file."""

from __future__ import annotations

import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    import numpy
    import scipy
    import sklearn

    from . import __version__

    return (
        ("flexpoison", __version__),
        ("python", platform.python_version()),
        ("numpy", numpy.__version__),
        ("scipy", scipy.__version__),
        ("scikit-learn", sklearn.__version__),
    )


def versions() -> dict[str, str]:
    """flexpoison's version and those of Python, numpy, scipy and scikit-learn."""
    return dict(_versions())


__all__ = ["versions"]

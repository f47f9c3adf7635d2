"""The ``flip-subpopulation`` target: θ_t trained on the clean rows with a subpopulation's
labels flipped (Koh et al., 2022; Suya et al., 2021 build attainable targets this way).

Syntax: ``flip-subpopulation:TERM,TERM,…``, every term narrowing the rows:

``class=A``
    rows labelled A;
``FEATURE<v`` (also ``<=``, ``>``, ``>=``, ``==``, ``!=``)
    rows whose feature meets the condition; FEATURE is a column name (X a DataFrame)
    or ``x<j>``, column j counted from 0; v in the units of the X given to the attack;
``cluster=C/K``
    of the rows the other terms keep, k-means cluster C of K (scikit-learn's ``KMeans``,
    ``n_init=10``, ``random_state=0``, on those rows standardised), clusters numbered by
    size, 0 the largest (ties: the one holding the earliest row), so the number does not
    depend on k-means' label order;
``to=B``
    the label the rows get: binary classification, the other class (the default);
    three or more classes, required.

e.g. ``flip-subpopulation:class=1,cluster=2/8`` or ``flip-subpopulation:x0<30``.
θ_t is the victim's exact fit on (X, y with the selected rows relabelled). Regression
has no label to flip and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError

PREFIX = "flip-subpopulation:"
SYNTAX = "'flip-subpopulation:class=A,cluster=C/K,FEATURE<v,to=B' (any of the terms)"
_CONDITION = re.compile(r"^(.+?)\s*(<=|>=|==|!=|<|>)\s*([^<>=!]+)$")
_OPERATORS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class TrainingRows:
    """The clean training rows, for a target defined by them: X (n, d) in the attack's
    units, the labels y, X's column names (or None), and ``fit(y_new)``, the victim's
    exact fit on X with labels y_new as a flat public θ."""

    X: np.ndarray
    y: np.ndarray
    names: tuple[str, ...] | None
    fit: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Subpopulation:
    """A parsed ``flip-subpopulation`` target (see the module docstring)."""

    label: str | None = None
    conditions: tuple[tuple[str, str, float], ...] = ()
    cluster: tuple[int, int] | None = None
    to: str | None = None

    @classmethod
    def parse(cls, target: str) -> Subpopulation:
        """The terms of ``target``; one error naming the term that cannot be read."""
        body = target[len(PREFIX) :].strip()
        if not body:
            raise InvalidInputError(f"target: {target!r} names no rows; expected {SYNTAX}")
        label = to = None
        cluster = None
        conditions: list[tuple[str, str, float]] = []
        for term in (t.strip() for t in body.split(",")):
            key, eq, value = term.partition("=")
            keyword = key.strip() in ("class", "to", "cluster") and not value.startswith("=")
            if eq and keyword and value.strip():  # not 'class==1': a column named class
                key, value = key.strip(), value.strip()
                if key == "class":
                    label = value
                elif key == "to":
                    to = value
                else:
                    cluster = _cluster(value, target)
                continue
            match = _CONDITION.match(term)
            if match is None:
                raise InvalidInputError(
                    f"target: cannot read the term {term!r} of {target!r}; expected {SYNTAX}"
                )
            name, op, number = match.groups()
            try:
                v = float(number)
            except ValueError:
                raise InvalidInputError(
                    f"target: {term!r} in {target!r} compares with {number!r}, not a number"
                ) from None
            if not np.isfinite(v):
                raise InvalidInputError(f"target: {term!r} in {target!r} is not finite")
            conditions.append((name.strip(), op, v))
        return cls(label, tuple(conditions), cluster, to)

    def rows(self, X: np.ndarray, y: np.ndarray, names, classes: list[str]) -> np.ndarray:
        """The selected rows' mask: class, conditions, then the k-means cluster."""
        keep = np.ones(len(y), dtype=bool)
        if self.label is not None:
            keep &= np.array([str(v) for v in y]) == _label(self.label, classes, "class")
        for name, op, v in self.conditions:
            keep &= _OPERATORS[op](X[:, _column(name, X.shape[1], names)], v)
        if self.cluster is not None and keep.any():
            keep[keep] = _cluster_mask(X[keep], *self.cluster)
        return keep


def in_attack_units(target: str, names: Sequence[str], transform: Callable | None) -> str:
    """``target`` with its features named by column (``x<j>``) and, given ``transform``
    (the data's per-column scaling, rows → rows), its thresholds in the scaled units:
    for a command line whose attack sees standardised columns without names."""
    spec = Subpopulation.parse(target)
    d = len(names)
    terms = [] if spec.label is None else [f"class={spec.label}"]
    for name, op, v in spec.conditions:
        j = _column(name, d, names)
        if transform is not None:
            row = np.zeros((1, d))
            row[0, j] = v
            v = float(transform(row)[0, j])
        terms.append(f"x{j}{op}{v!r}")
    if spec.cluster is not None:
        terms.append(f"cluster={spec.cluster[0]}/{spec.cluster[1]}")
    if spec.to is not None:
        terms.append(f"to={spec.to}")
    return PREFIX + ",".join(terms)


def _cluster(value: str, target: str) -> tuple[int, int]:
    c, slash, k = value.partition("/")
    try:
        index, count = int(c), int(k)
    except ValueError:
        index = count = -1
    if not slash or count < 2 or not 0 <= index < count:
        raise InvalidInputError(
            f"target: cluster={value!r} in {target!r} must be C/K with K ≥ 2 and 0 ≤ C < K, "
            "e.g. cluster=2/8"
        )
    return index, count


def _label(value: str, classes: list[str], term: str) -> str:
    if value not in classes:
        raise InvalidInputError(f"target: {term}={value!r} is not among the labels {classes}")
    return value


def _column(name: str, d: int, names) -> int:
    if names is not None and name in names:
        return list(names).index(name)
    if re.fullmatch(r"x\d+", name) and int(name[1:]) < d:
        return int(name[1:])
    known = f"the columns {list(names)} or " if names is not None else ""
    raise InvalidInputError(
        f"target: no feature {name!r}; expected {known}x0 … x{d - 1} (column j from 0)"
    )


def _cluster_mask(X: np.ndarray, index: int, count: int) -> np.ndarray:
    """Rows in k-means cluster ``index`` of ``count``, clusters numbered by size
    (largest first; ties: the earliest row), on the rows standardised."""
    from sklearn.cluster import KMeans

    if X.shape[0] < count:
        raise InvalidInputError(
            f"target: cluster=…/{count} asks for {count} clusters of {X.shape[0]} rows"
        )
    scale = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    labels = KMeans(n_clusters=count, n_init=10, random_state=0).fit_predict(Z)
    order = sorted(range(count), key=lambda c: (-np.sum(labels == c), np.argmax(labels == c)))
    return labels == order[index]


def flip_subpopulation(target: str, rows: TrainingRows | None, classes) -> np.ndarray:
    """θ_t of ``target``: the victim fitted on the rows with the subpopulation relabelled."""
    if rows is None:
        raise InvalidInputError(
            f"target: {target!r} is defined by the training rows; give it to an attack "
            "(FlexiblePoisoning), not as a function of θ₀ alone"
        )
    if classes is None:
        raise InvalidInputError(
            f"target: {target!r} flips labels, and a regression has none; give an "
            "explicit θ_t (e.g. fitted on responses you changed) instead"
        )
    spec = Subpopulation.parse(target)
    labels = [str(c) for c in classes]
    mask = spec.rows(rows.X, rows.y, rows.names, labels)
    if not mask.any():
        raise InvalidInputError(f"target: {target!r} selects no training row")
    if spec.to is not None:
        to = _label(spec.to, labels, "to")
    elif len(labels) == 2:
        to = None  # each row to the other class
    else:
        raise InvalidInputError(
            f"target: {target!r}: with {len(labels)} classes say which label the rows "
            "get, e.g. ',to=" + labels[0] + "'"
        )
    y_new = np.asarray(rows.y).copy()
    if to is None:
        first = np.array([str(v) for v in y_new]) == labels[0]
        y_new[mask & first] = classes[1]
        y_new[mask & ~first] = classes[0]
    else:
        y_new[mask] = classes[labels.index(to)]
    if np.unique(y_new).size < len(labels):
        raise InvalidInputError(
            f"target: {target!r} leaves a class with no row ({mask.sum()} rows "
            "relabelled); choose a smaller subpopulation"
        )
    return rows.fit(y_new)

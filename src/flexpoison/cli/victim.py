"""The victim and its target, as every command on a user's CSV file states them
(``attack``, ``certify``), declared once: ``--model``, ``--reg``, ``--l1-ratio``,
``--no-intercept`` (:func:`victim_options`, read by :func:`check_victim_options` and
:func:`hyper_parameters`); ``--target`` (:data:`TARGET`, read by :func:`goal_for`);
``--n-sigma``, ``--test-size`` and ``--standardize`` (the box and the split)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import models
from ..attack.goals import GOALS
from ..scalers import FIXED_SCALER, REFITTED_SCALER
from .common import one_line

F = TypeVar("F", bound=Callable[..., Any])

MODEL_HELP = "; ".join(
    f"{spec.name} = scikit-learn's {spec.class_name}" for spec in models.REGISTRY.values()
)
REG_HELP = ", ".join(
    f"{spec.reg_param} for {spec.name}" for spec in models.REGISTRY.values() if spec.reg_param
)

_VICTIM = (
    click.option(
        "--model",
        required=True,
        type=click.Choice(models.MODEL_NAMES),
        help="The victim: " + MODEL_HELP + ". Class labels may be integers or "
        "strings; 3 or more classes give a multiclass model.",
    ),
    click.option(
        "--reg",
        type=click.FloatRange(min=0),
        metavar="FLOAT",
        default=1.0,
        show_default=True,
        help="The model's regularisation strength: "
        + REG_HELP
        + ". Not used by unregularised models.",
    ),
    click.option(
        "--l1-ratio",
        type=click.FloatRange(0, 1),
        metavar="FLOAT",
        default=0.5,
        show_default=True,
        help="The l1_ratio of models that have one (1 = pure L1, 0 = pure L2).",
    ),
    click.option(
        "--no-intercept",
        is_flag=True,
        help="Fit the model without an intercept (fit_intercept=False).",
    ),
)


def victim_options(function: F) -> F:
    """``--model``, ``--reg``, ``--l1-ratio`` and ``--no-intercept``."""
    for option in reversed(_VICTIM):
        function = option(function)
    return function


TARGET = click.option(
    "--target",
    "target",
    metavar="PRESET|FILE",
    help="Integrity target theta_t: a preset - 'flip-top' (flip the sign of "
    "the largest weight; regression default), 'negate' (negate the "
    "weights; binary default), 'swap:A,B' (swap classes A and B; "
    "multinomial default: the two closest classes), 'predict:v@x1,x2,...' "
    "(pull the prediction at x* toward v, x* in the CSV's units), "
    "'flip-subpopulation:class=A,cluster=C/K,COLUMN<v,to=B' (any of the terms; the "
    "clean fit with those rows' labels flipped; clusters by size, 0 the largest; "
    "v in the CSV's units) - or a file "
    "with theta = (w..., b) per class row, one number per line or comma "
    "separated (in standardised units with --standardize).",
)

N_SIGMA = click.option(
    "--n-sigma",
    metavar="FLOAT",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Feasible box half-width: every poison feature stays within "
    "x_c +/- n_sigma * sigma of the clean training rows.",
)


def epsilon_option(default: float | None, use: str) -> Callable[[F], F]:
    """``--epsilon``, the closeness to theta_t every command measures the same way;
    ``use`` says what the command does with it."""
    return click.option(
        "--epsilon",
        metavar="FLOAT",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=default is not None,
        help="'Within epsilon of theta_t': ||theta_m - theta_t|| <= epsilon * "
        f"||theta_0 - theta_t||; {use}",
    )


def test_size_option(purpose: str) -> Callable[[F], F]:
    """``--test-size``; ``purpose`` says what the held-out rows are for."""
    return click.option(
        "--test-size",
        metavar="FLOAT",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=0.3,
        show_default=True,
        help="Share of the rows held out (split with --seed; stratified for "
        f"classification) {purpose}",
    )


STANDARDIZE = click.option(
    "--standardize/--no-standardize",
    default=False,
    show_default=True,
    help=f"Standardise the features with {FIXED_SCALER}; theta, C and E are in those "
    "units, and poison rows are mapped back to the data file's units. Not the victim of "
    f"{REFITTED_SCALER}.",
)


def check_victim_options(ctx: click.Context, spec) -> None:
    """Refuse victim options that do not apply to ``spec`` (the model named)."""
    params, model = ctx.params, ctx.params["model"]
    given = {
        name
        for name in params
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
    }
    if params["no_intercept"] and not spec.has_theta:
        raise click.UsageError(f"--no-intercept does not apply to --model {model}")
    if "reg" in given and spec.reg_param is None:
        raise click.UsageError(f"--reg has no effect with --model {model} (it is not regularised)")
    if "l1_ratio" in given and "l1_ratio" not in spec.objective_params:
        raise click.UsageError(f"--l1-ratio does not apply to --model {model}")


def hyper_parameters(spec, reg: float, l1_ratio: float, no_intercept: bool) -> dict:
    """The estimator's constructor arguments for --reg, --l1-ratio, --no-intercept;
    a value the model refuses (e.g. --reg 0 for a model that needs > 0) is one error
    naming --reg."""
    from ..errors import UnsupportedEstimatorError

    params: dict = {"fit_intercept": not no_intercept} if spec.has_theta else {}
    if spec.reg_param is not None:
        params[spec.reg_param] = reg
    if "l1_ratio" in spec.objective_params:
        params["l1_ratio"] = l1_ratio
    try:
        spec.terms({**spec.defaults, **params}, None)
    except UnsupportedEstimatorError as exc:
        raise click.UsageError(f"--reg / --l1-ratio: {one_line(exc)}") from None
    return params


def settings_used(ctx: click.Context, sep: str, spec) -> dict:
    """Every option as used (paths as given; --reg/--l1-ratio None where unused)."""
    settings = {
        name: str(value) if isinstance(value, Path) else value for name, value in ctx.params.items()
    }
    settings["sep"] = sep
    if spec.reg_param is None:
        settings["reg"] = None
    if "l1_ratio" not in spec.objective_params:
        settings["l1_ratio"] = None
    return settings


def has_target(goal: str) -> bool:
    """Whether the goal named ``goal`` takes a target model (``--target``)."""
    return "target" in {f.name for f in dataclasses.fields(GOALS[goal])}


def goal_for(goal: str, target: str | None, scaler, names):
    """The goal by name, with its target (a preset, or a θ_t read from a file)."""
    from ..attack import subpopulation
    from ..data import read_vector

    make: Any = GOALS[goal]  # a goal with a target when one is given (checked before)
    if target is None:
        return make()
    if target.startswith(subpopulation.PREFIX):  # names and units: the CSV's
        return make(
            target=subpopulation.in_attack_units(
                target, names, None if scaler is None else scaler.transform
            )
        )
    if Path(target).is_file():
        return make(target=read_vector(target))
    if os.sep in target or target.endswith((".txt", ".csv")):
        raise click.BadParameter(f"no such file {target!r}", param_hint="'--target'")
    if scaler is not None and target.startswith("predict:"):
        target = _standardized_predict(target, scaler)
    return make(target=target)


def _standardized_predict(target: str, scaler) -> str:
    """'predict:v@x*' with x* mapped from the CSV's units into standardised space."""
    import numpy as np

    value, _, point = target[len("predict:") :].partition("@")
    try:
        x_star = np.array([[float(s) for s in point.split(",")]])
        z_star = scaler.transform(x_star)[0]
    except ValueError:  # malformed or wrong length: the attack reports it, unchanged
        return target
    return f"predict:{value}@" + ",".join(repr(float(z)) for z in z_star)


__all__ = [
    "MODEL_HELP",
    "REG_HELP",
    "victim_options",
    "TARGET",
    "N_SIGMA",
    "epsilon_option",
    "test_size_option",
    "STANDARDIZE",
    "check_victim_options",
    "hyper_parameters",
    "settings_used",
    "has_target",
    "goal_for",
]


@dataclasses.dataclass(frozen=True)
class OnData:
    """A command's victim on the user's file: the table read, its data set, the
    estimator, the split, the goal, the feature constraints (data units) and the
    attack's arguments for them (attack units)."""

    table: Any
    dataset: Any
    estimator: Any
    split: Any
    goal: Any
    constraints: Any
    arguments: dict


def on_data(ctx: click.Context, spec, sep: str, goal: str, columns: list[str]) -> OnData:
    """Read ``--data``, make the victim (``--reg``, ``--l1-ratio``, ``--no-intercept``),
    split (``--test-size``, ``--seed``, ``--standardize``), build the goal with its
    ``--target`` and the feature constraints, as every command that attacks a file does;
    ``columns`` is filled with the feature columns' names (for error messages)."""
    from ..experiments import split_data
    from .common import read_data
    from .constraints import constraints_from

    p = ctx.params
    table, dataset = read_data(p["data"], sep, p["target_column"], spec.task, columns)
    names = dataset.feature_names
    estimator = spec.make(**hyper_parameters(spec, p["reg"], p["l1_ratio"], p["no_intercept"]))
    split = split_data(
        dataset.X,
        dataset.y,
        task=spec.task,
        test_size=p["test_size"],
        seed=p["seed"],
        standardize=p["standardize"],
        feature_names=names,
    )
    goal_ = goal_for(goal, p["target"], split.scaler, names)
    constraints = constraints_from(table, dataset, p)
    arguments = constraints.attack_arguments(split.X_train, names, split.scaler)
    return OnData(table, dataset, estimator, split, goal_, constraints, arguments)

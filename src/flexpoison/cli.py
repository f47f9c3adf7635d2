"""The ``flexpoison`` command line.

``flexpoison attack`` crafts poison rows for a CSV file against a scikit-learn linear
or logistic model and writes them, with a JSON summary and two figures, into a
directory. The command only parses, calls the library and writes: the attack is
:class:`flexpoison.FlexiblePoisoning`, the files are handled by :mod:`flexpoison._io`,
the figures are drawn by :mod:`flexpoison.plotting`.

User mistakes (bad options, malformed files, refused settings) end in one line
``Error: ...`` and a non-zero exit status, never a traceback. Subcommands are added
to the :func:`main` group.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np

from . import __version__
from . import _io
from .errors import FlexPoisonError

MODELS = ("linear", "ridge", "lasso", "elasticnet", "logistic")
OUTPUT_FILES = ("poison.csv", "summary.json", "W_first_point.png", "effect_vs_rate.png")


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="flexpoison")
def main() -> None:
    """flexpoison: flexible data-poisoning attacks (Jiang et al.) against
    scikit-learn's linear and logistic models.

    Run 'flexpoison COMMAND --help' for the options of a command.
    """


# --------------------------------------------------------------------------- attack


@main.command(no_args_is_help=True)
@click.option("--data", required=True, metavar="FILE.csv",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV file with a header row: one target column, every other column a "
                   "numeric feature. Read strictly: a malformed row is an error naming "
                   "its line.")
@click.option("--sep", default=",", show_default=True,
              help="Field separator of the CSV file (one character; 'tab' or '\\t' for "
                   "tabs). poison.csv is written with the same separator.")
@click.option("--target-column", required=True, metavar="COL",
              help="Name of the column to predict (the response, or the class label).")
@click.option("--model", required=True, type=click.Choice(MODELS),
              help="The victim: scikit-learn's LinearRegression, Ridge, Lasso, ElasticNet "
                   "or LogisticRegression (L2). Labels for 'logistic' may be integers "
                   "or strings; 3 or more classes give the multinomial model.")
@click.option("--reg", type=click.FloatRange(min=0), metavar="FLOAT", default=1.0,
              show_default=True,
              help="The model's regularisation strength: alpha for ridge, lasso and "
                   "elasticnet (> 0 for the last two), C for logistic (> 0; smaller = "
                   "stronger). Not used by 'linear'.")
@click.option("--l1-ratio", type=click.FloatRange(0, 1), metavar="FLOAT", default=0.5,
              show_default=True, help="ElasticNet's l1_ratio (1 = lasso, 0 = ridge).")
@click.option("--no-intercept", is_flag=True,
              help="Fit the model without an intercept (fit_intercept=False).")
@click.option("--alpha", metavar="FLOAT", type=click.FloatRange(0, 1), default=0.5,
              show_default=True,
              help="The attacker's trade-off in [0, 1]: minimise W = alpha*C +/- "
                   "(1 - alpha)*E, with C = ||x_p - x_c||^2 the concealment cost. "
                   "0 = effect only, 1 = concealment only.")
@click.option("--goal", type=click.Choice(("integrity", "availability",
                                           "loss-availability")),
              default="integrity", show_default=True,
              help="integrity: pull the model towards a target theta_t "
                   "(E_I = ||theta_p - theta_t||^2); availability: push it away from "
                   "the clean model theta_0 (E_A = ||theta_p - theta_0||^2); "
                   "loss-availability: raise the model's own mean training loss (E_L, "
                   "as Biggio et al. and Jagielski et al. measure availability).")
@click.option("--target", "target", metavar="PRESET|FILE",
              help="Integrity target theta_t: a preset - 'flip-top' (flip the sign of "
                   "the largest weight; regression default), 'negate' (negate the "
                   "weights; binary default), 'swap:A,B' (swap classes A and B; "
                   "multinomial default: the two closest classes), 'predict:v@x1,x2,...' "
                   "(nearest model predicting v at x*, x* in the CSV's units) - or a file "
                   "with theta = (w..., b) per class row, one number per line or comma "
                   "separated (in standardised units with --standardize).")
@click.option("--rate", metavar="FLOAT", type=click.FloatRange(min=0, min_open=True),
              help="Poisoning rate m / n: poison rows per clean training row; "
                   "m = round(rate * n_train). Give exactly one of --rate and --n-points.")
@click.option("--n-points", type=click.IntRange(min=1), metavar="INTEGER",
              help="Number m of poison rows. Give exactly one of --rate and --n-points.")
@click.option("--step", type=click.Choice(("backtracking", "paper")),
              default="backtracking", show_default=True,
              help="Gradient step rule: 'paper' = step 1/i at iteration i (as in the "
                   "paper); 'backtracking' = line search on W, W never increases.")
@click.option("--max-iter", metavar="INTEGER", type=click.IntRange(min=1), default=100,
              show_default=True,
              help="Gradient iterations per poison point at most.")
@click.option("--tol", metavar="FLOAT", type=click.FloatRange(min=0, min_open=True),
              default=1e-6, show_default=True,
              help="Stop a point when |W(i+1) - W(i)| < tol * max(1, |W(i)|).")
@click.option("--optimize-y", is_flag=True,
              help="Regression only: optimise the poison responses too (within the "
                   "observed range), not just the features.")
@click.option("--n-sigma", metavar="FLOAT", type=click.FloatRange(min=0, min_open=True),
              default=3.0, show_default=True,
              help="Feasible box half-width: every poison feature stays within "
                   "x_c +/- n_sigma * sigma of the clean training rows.")
@click.option("--within-range", is_flag=True,
              help="Also keep every poison feature within the range observed in the "
                   "clean training rows (the box becomes its intersection with "
                   "[min, max]), so no value is one the data never showed.")
@click.option("--test-size", metavar="FLOAT",
              type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.3,
              show_default=True,
              help="Share of the rows held out (split with --seed; stratified for "
                   "logistic) to report the test metric before and after poisoning: "
                   "MSE for regression, accuracy for classification.")
@click.option("--standardize/--no-standardize", default=False, show_default=True,
              help="Standardise the features with a StandardScaler fitted on the clean "
                   "training rows; the attack runs in standardised space (theta, C, E "
                   "are in it) and poison.csv is mapped back to the original units. The "
                   "victim is then 'scaler fitted on clean rows + model'.")
@click.option("--seed", metavar="INTEGER", type=click.IntRange(0, 2**32 - 1), default=0,
              show_default=True,
              help="Seed of the train/test split and of the attack's initial points.")
@click.option("--out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (created if missing): poison.csv, summary.json, "
                   "W_first_point.png, effect_vs_rate.png. They are written together "
                   "or not at all; files of the same names are replaced.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar and no closing report (there is no bar either when "
                   "stderr is not a terminal).")
def attack(data: Path, sep: str, target_column: str, model: str, reg: float,
           l1_ratio: float, no_intercept: bool, alpha: float, goal: str,
           target: str | None, rate: float | None, n_points: int | None, step: str,
           max_iter: int, tol: float, optimize_y: bool, n_sigma: float,
           within_range: bool, test_size: float, standardize: bool, seed: int, out: Path,
           quiet: bool) -> None:
    """Craft poison rows for FILE.csv against a linear or logistic model.

    The rows are split into train and test (--test-size, --seed); the attack adds m
    poison rows to the training split, one at a time, each by projected gradient
    descent on W inside the n-sigma box. Writes into DIR: poison.csv (the poison rows,
    same columns and order as FILE.csv, original units), summary.json (models, effect,
    concealment, test metric before/after, settings, versions, data checksum),
    W_first_point.png and effect_vs_rate.png.

    \b
    Example:
      flexpoison attack --data ccpp.csv --target-column PE --model ridge \\
          --alpha 0.5 --goal integrity --target flip-top --rate 0.05 --out runs/ccpp
    """
    started = time.perf_counter()
    sep = _check_options(click.get_current_context())
    task = "classification" if model == "logistic" else "regression"
    columns: list[str] = []  # the feature columns' names, for error messages
    with _user_errors(columns):
        from sklearn.preprocessing import StandardScaler

        from .attack import FlexiblePoisoning

        table = _io.read_csv(data, sep)
        X, y, feature_names = table.features_and_target(target_column, task)
        columns.extend(feature_names)
        estimator = _estimator(model, reg, l1_ratio, fit_intercept=not no_intercept)
        victim = _victim_label(estimator, standardize)
        settings = _settings(click.get_current_context(), sep)
        X_train, X_test, y_train, y_test = _split(X, y, test_size, seed, task, data)
        scaler = StandardScaler().fit(X_train) if standardize else None
        to_space = scaler.transform if scaler is not None else _identity
        to_original = scaler.inverse_transform if scaler is not None else _identity

        X_space = to_space(X_train)
        bounds = (X_space.min(0), X_space.max(0)) if within_range else None
        attacker = FlexiblePoisoning(
            estimator, goal=_goal(goal, target, scaler), alpha=alpha, n_points=n_points,
            rate=rate, step=step, max_iter=max_iter, tol=tol, optimize_y=optimize_y,
            n_sigma=n_sigma, bounds=bounds, random_state=seed,
            progress=not quiet and sys.stderr.isatty())
        attack_started = time.perf_counter()
        result = attacker.generate(X_space, y_train)
        attack_seconds = time.perf_counter() - attack_started

        X_poison = to_original(result.X_poison)
        refit = _refit(estimator, task, to_space(X_train), y_train, result.X_poison,
                       result.y_poison, to_space(X_test), y_test)
        effect_name = {"integrity": "E_I", "availability": "E_A",
                       "loss-availability": "E_L"}[result.goal]
        classes = np.unique(y_train) if task == "classification" else None
        summary = {
            "flexpoison_version": __version__,
            "numpy_version": np.__version__,
            "scikit_learn_version": _sklearn_version(),
            "data_file": str(data.resolve()),
            "data_sha256": table.sha256,
            "target_column": target_column,
            "feature_names": list(feature_names),
            "task": task,
            "classes": classes,
            "model": victim,
            "settings": settings,
            "seed": seed,
            "n_rows": len(table.rows),
            "n_train": result.n_clean,
            "n_test": len(y_test),
            "n_poison": result.n_points,
            "rate": result.n_points / result.n_clean,
            "attack_space": "standardized" if standardize else "original",
            "theta_names": _theta_names(feature_names, classes, not no_intercept),
            "theta_clean": result.theta_clean,
            "theta_target": result.theta_target,
            "theta_poisoned": result.theta_poisoned,
            "theta_poisoned_sklearn": refit["theta_poisoned"],
            "effect_name": effect_name,
            "effect_before": result.effect_clean,
            "effect_after": result.effect_history[-1],
            "effect_per_point": result.effect_history,
            "concealment_per_point": result.concealment,
            "iterations_per_point": result.n_iter,
            "test_metric": refit["metric"],
            "test_metric_before": refit["before"],
            "test_metric_after": refit["after"],
            "x_c": to_original(result.x_c[None, :])[0],
            "box_lower": to_original(result.lower[None, :])[0],
            "box_upper": to_original(result.upper[None, :])[0],
            "attack_seconds": attack_seconds,
        }
        figures = _figures(result, effect_name, alpha, f"{data.name}, {victim}")
        summary["wall_time_seconds"] = time.perf_counter() - started
        try:
            with _io.staged_output(out) as stage:
                _io.write_csv(stage / "poison.csv", table.columns,
                              _poison_rows(table.columns, target_column, feature_names,
                                           X_poison, result.y_poison), sep)
                _io.write_json(stage / "summary.json", summary)
                for name, figure in figures.items():
                    figure.savefig(stage / name, format="png", dpi=120)
        except OSError as exc:
            raise click.ClickException(f"--out {out}: cannot write the results "
                                       f"({exc.strerror or _one_line(exc)})") from None
    if not quiet:
        click.echo(f"{result.n_points} poison rows against {len(y_train)} training rows "
                   f"(rate {summary['rate']:.4g}); {effect_name}: "
                   f"{result.effect_clean:.4g} -> {result.effect_history[-1]:.4g}; "
                   f"test {refit['metric']}: {refit['before']:.4g} -> "
                   f"{refit['after']:.4g}")
        click.echo(f"wrote {', '.join(OUTPUT_FILES)} to {out}")


# ------------------------------------------------------------------------- helpers


def _check_options(ctx: click.Context) -> str:
    """Refuse option combinations that make no sense; return the separator to use."""
    params = ctx.params
    given = {name for name in params
             if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    if (params["rate"] is None) == (params["n_points"] is None):
        raise click.UsageError("give exactly one of --rate and --n-points")
    model = params["model"]
    if params["goal"] != "integrity" and params["target"] is not None:
        raise click.UsageError("--target applies to --goal integrity only (availability "
                               "pushes the model away from the clean one)")
    if "reg" in given and model == "linear":
        raise click.UsageError("--reg has no effect with --model linear (it is not "
                               "regularised); use ridge, lasso or elasticnet")
    if params["reg"] == 0 and model in ("lasso", "elasticnet", "logistic"):
        name = "C" if model == "logistic" else "alpha"
        raise click.UsageError(f"--reg (the model's {name}) must be > 0 for --model "
                               f"{model}")
    if "l1_ratio" in given and model != "elasticnet":
        raise click.UsageError("--l1-ratio applies to --model elasticnet only")
    if params["optimize_y"] and model == "logistic":
        raise click.UsageError("--optimize-y applies to regression models only (class "
                               "labels of logistic poison rows are flipped instead)")
    sep = {"tab": "\t", "\\t": "\t"}.get(params["sep"], params["sep"])
    if len(sep) != 1 or sep in "\"\r\n":
        raise click.UsageError(f"--sep must be a single character other than a quote "
                               f"or a newline, got {params['sep']!r}")
    out = params["out"].absolute()
    ancestor = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise click.UsageError(f"--out: cannot write into {ancestor}")
    return sep


@contextlib.contextmanager
def _user_errors(columns: list[str] | None = None) -> Iterator[None]:
    """Turn refusals (flexpoison's errors, file-system errors) into one-line errors.

    Once the data file is read, ``columns`` (filled in place with the feature columns'
    names) makes "feature j" in a message name the file's column instead."""
    try:
        yield
    except FlexPoisonError as exc:
        name, colon, rest = _one_line(exc).partition(": ")
        message = f"{_FLAGS[name]}: {rest}" if colon and name in _FLAGS else _one_line(exc)
        if columns:
            message = re.sub(r"\bfeature (\d+)\b",
                             lambda m: f"column {columns[int(m.group(1))]!r}"
                             if int(m.group(1)) < len(columns) else m.group(0), message)
        raise click.ClickException(message) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"{where}{exc.strerror or _one_line(exc)}") from None


# The attack's error messages start with its argument's name; say the option instead.
_FLAGS = {"alpha": "--alpha", "rate": "--rate", "n_points": "--n-points",
          "target": "--target", "optimize_y": "--optimize-y", "max_iter": "--max-iter",
          "tol": "--tol", "n_sigma": "--n-sigma", "step": "--step"}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _identity(X: np.ndarray) -> np.ndarray:
    return X


def _settings(ctx: click.Context, sep: str) -> dict:
    """Every option as used (paths as given; --reg/--l1-ratio None where unused)."""
    settings = {name: str(value) if isinstance(value, Path) else value
                for name, value in ctx.params.items()}
    settings["sep"] = sep
    if settings["model"] == "linear":
        settings["reg"] = None
    if settings["model"] != "elasticnet":
        settings["l1_ratio"] = None
    return settings


def _estimator(model: str, reg: float, l1_ratio: float, fit_intercept: bool):
    """The unfitted scikit-learn estimator for --model, --reg, --l1-ratio."""
    from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression,
                                      LogisticRegression, Ridge)

    if model == "linear":
        return LinearRegression(fit_intercept=fit_intercept)
    if model == "ridge":
        return Ridge(alpha=reg, fit_intercept=fit_intercept)
    if model == "lasso":
        return Lasso(alpha=reg, fit_intercept=fit_intercept, max_iter=10_000)
    if model == "elasticnet":
        return ElasticNet(alpha=reg, l1_ratio=l1_ratio, fit_intercept=fit_intercept,
                          max_iter=10_000)
    return LogisticRegression(C=reg, fit_intercept=fit_intercept, max_iter=10_000)


def _split(X: np.ndarray, y: np.ndarray, test_size: float, seed: int, task: str,
           data: Path):
    """scikit-learn's train_test_split with the seed, stratified for classification."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(X, y, test_size=test_size, random_state=seed,
                                stratify=y if task == "classification" else None)
    except ValueError as exc:  # too few rows, or a class too small to stratify
        raise click.ClickException(f"{data}: cannot split {len(y)} rows into train and "
                                   f"test (--test-size {test_size}): "
                                   f"{_one_line(exc)}") from None


def _goal(goal: str, target: str | None, scaler):
    """Availability(), or Integrity with a preset or a θ_t read from a file."""
    from .goals import Availability, Integrity, LossAvailability

    if goal == "availability":
        return Availability()
    if goal == "loss-availability":
        return LossAvailability()
    if target is None:
        return Integrity()
    if Path(target).is_file():
        return Integrity(_io.read_vector(target))
    if os.sep in target or target.endswith((".txt", ".csv")):
        raise click.BadParameter(f"no such file {target!r}", param_hint="'--target'")
    if scaler is not None and target.startswith("predict:"):
        target = _standardized_predict(target, scaler)
    return Integrity(target)


def _standardized_predict(target: str, scaler) -> str:
    """'predict:v@x*' with x* mapped from the CSV's units into standardised space."""
    value, _, point = target[len("predict:"):].partition("@")
    try:
        x_star = np.array([[float(s) for s in point.split(",")]])
        z_star = scaler.transform(x_star)[0]
    except ValueError:  # malformed or wrong length: the attack reports it, unchanged
        return target
    return f"predict:{value}@" + ",".join(repr(float(z)) for z in z_star)


def _refit(estimator, task: str, X_train, y_train, X_poison, y_poison, X_test, y_test
           ) -> dict:
    """scikit-learn's fits on clean and clean + poison rows, scored on the test split."""
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, mean_squared_error

    score, metric = (mean_squared_error, "mse") if task == "regression" else \
        (accuracy_score, "accuracy")
    clean = clone(estimator).fit(X_train, y_train)
    poisoned = clone(estimator).fit(np.vstack([X_train, X_poison]),
                                    np.concatenate([y_train, y_poison]))
    return {"metric": metric,
            "before": float(score(y_test, clean.predict(X_test))),
            "after": float(score(y_test, poisoned.predict(X_test))),
            "theta_poisoned": _theta(poisoned)}


def _theta(fitted) -> np.ndarray:
    """A fitted estimator's flat θ = (w…, b) per output row, flexpoison's layout."""
    coef = np.atleast_2d(fitted.coef_)
    if not fitted.fit_intercept:
        return coef.ravel()
    intercept = np.broadcast_to(fitted.intercept_, (coef.shape[0],))
    return np.column_stack([coef, intercept]).ravel()


def _theta_names(features: tuple[str, ...], classes: np.ndarray | None,
                 intercept: bool) -> list[str]:
    """Names of θ's entries: w[feature]… then b, per class row (multinomial only)."""
    rows = [""] if classes is None or len(classes) == 2 else [f"[{c}]" for c in classes]
    names = []
    for row in rows:
        names += [f"w{row}[{feature}]" for feature in features]
        if intercept:
            names.append(f"b{row}")
    return names


def _poison_rows(columns: tuple[str, ...], target: str, features: tuple[str, ...],
                 X_poison: np.ndarray, y_poison: np.ndarray) -> list[list]:
    """Poison rows in the input file's column order, the target in its place."""
    where = {name: k for k, name in enumerate(features)}
    return [[y_i if name == target else x_i[where[name]] for name in columns]
            for x_i, y_i in zip(X_poison, y_poison)]


def _victim_label(estimator, standardize: bool) -> str:
    """'Ridge(alpha=1)': the estimator with the settings the victim depends on."""
    params = estimator.get_params()
    keys = ("C",) if "C" in params else ("alpha", "l1_ratio")
    shown = [f"{key}={params[key]:g}" for key in keys if key in params]
    if not params["fit_intercept"]:
        shown.append("fit_intercept=False")
    label = f"{type(estimator).__name__}({', '.join(shown)})"
    return f"StandardScaler + {label}" if standardize else label


def _figures(result, effect_name: str, alpha: float, about: str) -> dict:
    """The two figures of a run, by file name."""
    from .plotting import plot_effect_vs_rate, plot_w_history

    about = f"{about}, α = {alpha:g}"
    return {
        "W_first_point.png": plot_w_history(
            result.W_history[0], effect_name=effect_name,
            title=f"W vs iteration, first poison point\n{about}"),
        "effect_vs_rate.png": plot_effect_vs_rate(
            np.concatenate([[0.0], result.rates]),
            np.concatenate([[result.effect_clean], result.effect_history]), effect_name,
            title=f"${effect_name}$ vs poisoning rate ({result.goal})\n{about}",
            label=f"α = {alpha:g}"),
    }


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


# ------------------------------------------------------------------- other commands
# Each lives in its own module and is registered here, so `cli.py` stays a table of
# contents; their heavy imports (experiments, sanitizers) happen when they run.
from ._cli_reproduce import reproduce  # noqa: E402

main.add_command(reproduce)
from ._cli_frontier import frontier  # noqa: E402

main.add_command(frontier)
from ._cli_sweep import plot, sweep  # noqa: E402

main.add_command(sweep)
main.add_command(plot)

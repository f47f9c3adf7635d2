"""One run of a sweep: a pure function of its settings, and the worker that runs it."""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from ..errors import FlexPoisonWarning
from .spec import canonical

# ------------------------------------------------------------------------- one run


def compute_run(
    settings: Mapping, data_dir: str | None = None, data_file: str | None = None
) -> dict:
    """The result of one run: plain JSON values, a pure function of ``settings``.

    The experiment pipeline (:mod:`flexpoison.experiments.pipeline`) on the named data
    set, victim and goal; the documentation's "Sweeps" page says what is measured. A run
    on a CSV file (settings ``data``) reads ``data_file``, which must be the file the run
    was defined on (its SHA-256). Raises whatever the attack raises.
    """
    from .. import models
    from ..attack import goal_from_name
    from ..attack.specs import Specs
    from ..experiments.paper import split_dataset
    from ..experiments.pipeline import Experiment, configured_attack
    from ..experiments.record import of_result

    s = settings
    dataset = run_dataset(s, data_dir, data_file)
    split = split_dataset(dataset, test_size=s["test_size"], seed=s["seed"])
    spec = models.get(s["model"])
    goal = goal_from_name(s["goal"])
    experiment = Experiment(spec.make(), goal, split)
    constraints = Specs(**(s.get("data") or {}).get("constraints", {}))  # a CSV file's
    names = list(dataset.feature_names)
    evade: dict = {}  # the sanitizers the attack evades, configured as the run measures them
    if s.get("evade"):
        evade = {
            "evade": [z for _, z in experiment.sanitizers(s["evade"], s["clean_removal"])],
            "evade_calibration": s.get("evade_calibration", "clean"),
        }
    with warnings.catch_warnings():  # a run's warnings are part of its result
        warnings.simplefilter("ignore", FlexPoisonWarning)
        attack = configured_attack(s, alpha=s["alpha"], random_state=s["seed"])
        limits = constraints.attack_arguments(split.X_train, names, split.scaler)
        result = experiment.generate(experiment.configure(attack, **limits, **evade))
    clean, poisoned = experiment.metrics(result)
    out = of_result(
        result,
        "sweep",
        task=spec.task,
        effect_name=goal.effect_name,
        metric_name=spec.metric.name,
        n_test=int(split.X_test.shape[0]),
        n_features=int(split.X_train.shape[1]),
        test_metric_clean=clean,
        test_metric_poisoned=poisoned,
    )
    out["iterations_total"] = int(result.n_iter.sum())
    out["W_first_point"] = result.W_history[0]
    if evade:  # what each evaded sanitizer did to the final set
        out["screenings"] = [z.describe() for z in result.screenings]
    if s["sanitizers"]:
        out.update(_sanitised(experiment, result, s["sanitizers"], s["clean_removal"]))
    return out


def run_dataset(settings: Mapping, data_dir: str | None = None, data_file: str | None = None):
    """The data set of a run: a built-in one by name, or the CSV file ``data_file`` read
    as its ``data`` setting says, refused unless it is the file the run was defined on."""
    from ..data import DataFileError, load_csv_dataset, load_dataset
    from ..errors import InvalidInputError

    csv = settings.get("data")
    if csv is None:
        return load_dataset(settings["dataset"], data_dir=data_dir)
    if data_file is None:
        raise InvalidInputError(
            f"data_file: the runs of {settings['dataset']!r} read a CSV file; give its path"
        )
    dataset = load_csv_dataset(data_file, csv["target"], csv["task"], sep=csv["sep"])
    if dataset.sha256 != csv["sha256"]:
        raise DataFileError(
            f"{data_file}: not the file of {settings['dataset']!r} (SHA-256 "
            f"{str(dataset.sha256)[:8]}…, expected {csv['sha256'][:8]}…): it changed since "
            "the sweep file was read; run the sweep again to read it anew"
        )
    return dataset


def _sanitised(experiment, result, names, clean_removal: float) -> dict:
    """Each sanitizer on clean + poison rows, measured as ``flexpoison frontier`` does
    (the same pipeline step, :meth:`Experiment.screen`).

    Every sanitizer's row holds an ``outcome`` (:mod:`flexpoison.experiments.outcomes`):
    measured, or, when it left no victim to refit, "removed every row" or "kept one
    class", with what it removed and None for ``effect``, ``test_metric`` and
    ``damage_left``. Such a run is done, not failed: what the sanitizer did is its
    result."""
    X, y = experiment.split.X_train, experiment.split.y_train
    theta_clean = experiment.refit(X, y)
    effect_clean = experiment.effect(theta_clean)
    chosen = experiment.sanitizers(names, clean_removal)
    none, *screened = experiment.screen(result.X_poison, result.y_poison, chosen, effect_clean)
    none.measured()
    return {
        "refit": {
            "effect_clean": effect_clean,
            "effect_poisoned": none.effect,
            "test_metric_clean": experiment.metric(theta_clean),
            "test_metric_poisoned": none.test_metric,
        },
        "sanitizers": {s.sanitizer: _sanitizer_row(s) for s in screened},
    }


def _sanitizer_row(s) -> dict:
    """A sanitizer's row in a run's result: :class:`Screened` without the names the run
    already holds (the sanitizer is the key, the poison count a setting)."""
    row = asdict(s)
    del row["sanitizer"], row["n_poison"]
    return row


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one run (the row the parent writes)."""

    run_id: str
    settings: Mapping
    status: str  # "done" or "failed"
    result: str | None  # canonical JSON
    error: str | None  # "Type: message"
    traceback: str | None
    wall_seconds: float
    versions: Mapping
    worker: str


def versions() -> dict:
    """The versions a worker runs (recorded with every run)."""
    from .._environment import versions as environment

    return environment()


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def execute_run(payload: Mapping) -> Outcome:
    """Run one grid point where this is called (a worker), capturing any error.

    ``payload``: ``{"run_id", "settings", "data_dir"}`` and, for a run on a CSV file,
    ``"data_file"`` (its path, readable where the run executes). BLAS/OpenMP pools are limited
    to one thread for the duration, so the numbers cannot depend on the thread count.
    Exceptions (``Exception``, not interrupts) become a 'failed' outcome.
    """
    # import everything the run uses first: threadpool_limits acts on loaded libraries
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    from ..experiments import pipeline  # noqa: F401

    worker = f"{socket.gethostname()}:{os.getpid()}"
    start = time.perf_counter()
    try:
        data_file = payload.get("data_file")
        extra = {"data_file": data_file} if data_file else {}
        with threadpool_limits(limits=1):
            result = compute_run(payload["settings"], payload.get("data_dir"), **extra)
        text = canonical(result)
        status, error, trace = "done", None, None
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, not raised
        status, text, error, trace = "failed", None, one_line(exc), traceback.format_exc()
    return Outcome(
        payload["run_id"],
        payload["settings"],
        status,
        text,
        error,
        trace,
        time.perf_counter() - start,
        versions(),
        worker,
    )


def failed_outcome(payload: Mapping, error: str) -> Outcome:
    """A failure that happened outside the run function (a worker died, …)."""
    return Outcome(
        payload["run_id"], payload["settings"], "failed", None, error, None, 0.0, versions(), ""
    )


__all__ = [
    "compute_run",
    "run_dataset",
    "Outcome",
    "execute_run",
    "failed_outcome",
    "one_line",
    "versions",
]

"""Experiment grids: expand a sweep file into runs, run them anywhere, keep the results.

A *sweep file* (TOML, read with :mod:`tomllib`; it is data, nothing in it is executed)
names a grid; every point of the grid is one *run*, a pure function of its settings.
Runs execute in local processes (default), in this process (``workers=1``) or on a Dask
cluster; the parent process alone writes each finished run into a SQLite store, in its
own transaction, so a sweep can be killed at any moment and resumed.

The sweep file
--------------
One table, ``[sweep]``. The grid is the product of the seven lists (sanitizers are not
a grid axis: every run measures every sanitizer listed)::

    [sweep]
    name = "demo"                        # optional label (default: the file's stem)
    datasets = ["iris", "breast_cancer"] # ccpp, airquality, iris, breast_cancer, or a
                                         #   CSV file: { path = "FILE.csv", target = "COL" }
    models = ["<model>"]                 # names of flexpoison.models.MODEL_NAMES
    goals = ["integrity", "availability"]  # also "loss-availability"
    alphas = [0.0, 0.5, 1.0]             # each in [0, 1]
    rates = [0.05, 0.1]                  # poisoning rates m / n, each in (0, MAX_RATE]
    seeds = [0, 1]                       # integers in [0, 2**32 - 1]
    sanitizers = ["sphere", "loss"]      # optional, default none: three_sigma, sphere,
                                         #   slab, isolation_forest, lof, loss, trim
    max_iter = 100                       # optional attack settings (defaults shown):
    tol = 1e-5                           #   an integer >= 1, numbers > 0
    step = "lbfgs"                       # or "backtracking", "paper"
    trade_off = "share"                  # or "paper" (the paper's W = αC ± (1-α)E)
    starts = 4                           # descents per point, an integer >= 1
    passes = 1                           # passes over the points, an integer >= 1
    n_sigma = 3.0                        # > 0
    test_size = 0.3                      # hold-out share of the split, in (0, 1)
    clean_removal = 0.05                 # share of clean rows each sanitizer removes, [0, 1)
    data_dir = "data"                    # optional; relative to the sweep file's folder
    skip_incompatible = false            # see below

Every list must be a non-empty array of the stated type with no repeated value; ints
are accepted where numbers are (``alphas = [0, 1]``), booleans never. ``MAX_RATE`` is
:data:`flexpoison._validation.MAX_RATE` (at most one poison row per clean training row,
as everywhere in flexpoison). Models are the registry's
(:data:`flexpoison.models.REGISTRY`), each with its default hyper-parameters
(:meth:`flexpoison.models.ModelSpec.make`; ``flexpoison frontier --help`` lists them);
goals use the victim's default target preset. A victim without θ (``has_theta=False``,
e.g. the kernel support vector classifier) runs ``loss-availability`` only (integrity
needs a ``predict:`` target, availability θ): a grid that pairs it with another goal is
refused, or, with ``skip_incompatible = true``, those runs are left out; its θ fields
(``theta_*``) hold its decision values at the goal's rows, its test metrics come from
tight refits.

*Your own CSV files.* An item of ``datasets`` may be a table naming a CSV file,
``{ path = "diabetes.csv", target = "progression" }``, beside built-in names:
``path`` is relative to the sweep file's folder, ``target`` the column to predict (every
other column a numeric feature); optional ``sep`` (one character, ``"tab"`` for a tab),
``task`` (``"regression"`` or ``"classification"``; default: the task of the grid's
models, which must then all share it) and ``name`` (default: the file's stem). The file
is read when the sweep file is, by the reader of ``flexpoison attack --data``
(:func:`flexpoison.data.load_csv_dataset`), so a missing file, a missing column, a
malformed row or an unknown key is refused up front, naming the item. The table may
also hold the feature constraints of ``flexpoison attack`` under its options' names:
``integer = ["age"]``, ``frozen = ["sex"]``, ``one_hot = [["red", "green"]]``,
``round_fractional = true``, ``within_range = true``, ``bounds = { age = [18, 90] }``
(the ``--bounds`` file's table, read by the same parser), checked against the file up
front and passed to every run's attack. Its runs call the
data set ``NAME@HASH``, ``HASH`` the first 8 hex digits of the file's SHA-256
(``diabetes@34e91054``), in the store, ``--status`` and the figures; see
:mod:`flexpoison.sweeps.datafiles`.

*Incompatible pairs.* A regression model on a classification data set (or the reverse),
or ``trim`` (regression only) on a classification data set, is refused by default,
naming the pair. With ``skip_incompatible = true`` such (data set, model) pairs are left
out of the grid, and ``trim`` is left out of the runs on classification data: one file
can then hold a regression and a classification data set with a model of each task.

*The run limit.* A grid may hold at most :data:`~flexpoison.sweeps.spec.MAX_RUNS`
(100,000) runs. The runs are counted before the grid is expanded, and a larger grid is
refused with ``FILE: key 'sweep': the grid has N runs, more than the limit L; …``: split
it into several files (they can share one ``--out``: a run computed for one is reused by
the others). A file larger than :data:`~flexpoison.sweeps.spec.MAX_FILE_BYTES` (16 MiB)
is not read.

A file is refused as a whole, before any run starts and before the output directory is
created, with one line ``FILE: key 'sweep.KEY': reason``: unknown keys or tables, wrong
types, empty lists (an empty grid), unknown names, incompatible pairs, a data set that
cannot be loaded, a grid over the run limit, and every value a run would refuse, checked
with the rule the library applies to it (:mod:`flexpoison._validation`, the experiment's
split and the attack's box): out-of-range values, a rate above ``MAX_RATE`` or one that
rounds to 0 poison rows of a data set, a ``test_size`` that leaves a data set fewer than
``MIN_TRAIN_ROWS`` training or ``MIN_TEST_ROWS`` test rows (or too few rows of a class to
stratify), an ``n_sigma`` whose box exceeds ``MAX_MAGNITUDE``. The data checks split each
data set as its runs do, with the grid's first seed.

One run
-------
Load the data set; split 70/30 with the run's seed (stratified for classification) and
standardise the features with a StandardScaler fitted on the clean training rows and
then held fixed (:mod:`flexpoison.scalers`; :func:`~flexpoison.experiments.split_data`);
craft poison with :class:`~flexpoison.attack.FlexiblePoisoning` at the run's α, rate
(m = round(rate·n)), goal and seed; record θ₀, θ_t, θ_p, E clean and final, E after
each point, mean C, iterations, W of the first point, test MSE / accuracy of θ₀ and
θ_p; and for each sanitizer, as ``flexpoison frontier`` measures it: recall on the
poison, share of clean rows removed, effect and test metric of the victim refitted on
the rows kept, with ``outcome = "measured"``. A sanitizer that leaves no victim to refit
is an outcome of the run, not a failure: ``"removed every row"`` (e.g. the ``loss``
filter on data a model fits almost exactly, once poison moves the model) or, on
classification data, ``"kept one class"``, with what it removed and ``effect``,
``test_metric`` and ``damage_left`` null; the run is done, ``--status`` and the sweep's
table count such runs per sanitizer, and ``plot`` names them in the panel's title
instead of drawing them. BLAS thread pools are limited to one thread during a run, so a result
does not depend on the machine's thread count or on how many runs share its cores.

The run's *id* is the first 16 hex digits of the SHA-256 of the canonical JSON (sorted
keys, no spaces) of its settings: schema, dataset, model, goal, alpha, rate, seed,
sanitizers, max_iter, tol, step, trade_off, starts, passes, n_sigma, test_size,
clean_removal (null without sanitizers), and for a CSV file ``data``: ``{sha256, target,
task, sep}`` (and ``constraints`` when the table gives any), the file's full SHA-256
and how it was read. ``name`` and ``data_dir`` are
not settings of a run, nor is a CSV file's path: a run computed for one grid is reused
by any other grid that contains it (the built-in data are identified by name, their
files checked against their SHA-256 wherever they are read; a CSV file by its name and
SHA-256, so two files of one name, or a file edited between two sweeps, never share a
run, while a file moved elsewhere keeps its runs). The path travels beside the settings
to the worker (a Dask worker must be able to read it, as it must ``data_dir``), which
refuses a file whose SHA-256 is not the run's. Runs on the built-in sets have the
settings, and so the ids, they had before CSV files were accepted: the store's
:data:`~flexpoison.sweeps.spec.SCHEMA_VERSION` is unchanged and existing stores stay
valid.

The store
---------
``OUT/results.sqlite``, WAL journal, ``synchronous=FULL``; table ``runs`` with one row per
run: ``run_id`` (primary key), ``status`` ('done' or 'failed'), ``settings`` and
``result`` (JSON), ``error`` (``Type: message``), ``traceback``, ``wall_seconds``,
``versions`` (JSON), ``worker`` (host:pid), ``attempts``, ``finished_at`` (UTC, ISO 8601).
A run without a row is pending. A finished ('done') row is never replaced.

One sweep writes into a store at a time (an OS lock on ``OUT/.flexpoison-sweep.lock``,
released however the process ends): a second ``flexpoison sweep`` on the same ``--out``
is refused at once, ``OUT/results.sqlite: in use by another flexpoison sweep (pid N)``,
with what to do (wait and run it again, or give another ``--out``). A new store is
built under a temporary name and moved into place whole, so no command ever sees one
half made: ``--status`` and ``plot`` see no store, then a complete one.

Opening the store runs SQLite's ``PRAGMA quick_check`` (about 0.5 s for a store of
100,000 runs); a damaged store (or a directory, or a foreign file, in its place) is
refused by ``flexpoison sweep``, ``sweep --status`` and ``plot`` with one line naming
the file: move it aside and run the sweep again (the runs it held are then computed
again). ``--status`` streams the store, reading a few columns and four numbers of each
result, so its memory does not grow with the results.

Ctrl-C stops a sweep at once, whatever it is doing (reading the file, starting workers,
running): each local worker leaves its run and exits cleanly, the runs finished so far
are in the store, the command ends with exit status 130 and one line saying so, and the
same command resumes. ``benchmarks/stress_sweep.py`` checks this under 10 SIGINTs and 10
SIGKILLs at random moments: no run lost, none duplicated.
"""

from .executors import SweepReport, run_sweep
from .run import Outcome, compute_run, execute_run
from .spec import MAX_RUNS, SCHEMA_VERSION, Run, Sweep, SweepFileError, load_sweep, run_id
from .status import StatusReport, format_table, sweep_status
from .store import STORE_NAME, ResultsStore, StoreError, read_store

__all__ = [
    "SCHEMA_VERSION",
    "MAX_RUNS",
    "STORE_NAME",
    "SweepFileError",
    "StoreError",
    "Run",
    "Sweep",
    "load_sweep",
    "run_id",
    "compute_run",
    "execute_run",
    "ResultsStore",
    "Outcome",
    "SweepReport",
    "run_sweep",
    "sweep_status",
    "StatusReport",
    "read_store",
    "format_table",
]

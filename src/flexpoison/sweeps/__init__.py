"""Experiment grids: expand a sweep file into runs, run them anywhere, keep the results.

A *sweep file* (TOML, read with :mod:`tomllib`; it is data, nothing in it is executed)
names a grid: the product of its data sets (built-in names, or the user's CSV files with
their feature constraints), models, goals, alphas, rates and seeds; every sanitizer it
lists is measured in every run. Every point of the grid is one *run*, a pure function
of its settings, identified by the hash of their canonical JSON, so a run computed for
one grid is reused by any other that contains it. A file is refused as a whole, before
any run starts, with one line naming the key and the reason (:mod:`.spec`).

Runs execute in local processes (default), in this process (``workers=1``) or on a Dask
cluster (:mod:`.executors`); one run is the experiment pipeline with BLAS limited to one
thread (:mod:`.run`). The parent process alone writes each finished run into
``OUT/results.sqlite`` in its own transaction (:mod:`.store`), under an OS lock, so a
sweep can be killed at any moment and resumed; ``--status`` and ``plot`` read the store
(:mod:`.status`, :mod:`flexpoison.reporting.sweeps`).

The file format, what one run records, and the store's guarantees are stated in full
on the documentation's "Sweeps" page (``docs/sweeps.rst``).
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

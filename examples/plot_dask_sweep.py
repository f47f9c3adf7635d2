"""
A sweep on a Dask cluster
=========================

A sweep is a grid of runs — data sets × models × goals × α × rates × seeds, with
sanitizers measured in every run — described by a TOML file. Each run is a pure
function of its settings, identified by a hash of them, so local processes, one
process and a Dask cluster give the same numbers run for run; finished runs go into
a SQLite store, one transaction each, and a rerun skips them.

This example runs a tiny grid (Iris, logistic regression, two goals, two values of α:
four runs) on a Dask ``LocalCluster`` started here with one in-process worker, so
that it stays light. On a real cluster, pass its scheduler's address instead
(``flexpoison sweep grid.toml --out runs/grid --scheduler tcp://HOST:PORT``).
"""

# %%
# The sweep file
# --------------
# Its schema is in the :mod:`flexpoison.sweeps` docstring and in
# ``flexpoison sweep --help``; a bad file is refused, naming the key, before anything
# runs.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from distributed import LocalCluster

from flexpoison.sweeps import (
    format_table,
    load_sweep,
    read_store,
    run_sweep,
    sweep_status,
)

folder = Path(tempfile.mkdtemp())
(folder / "grid.toml").write_text(
    """
[sweep]
name = "tiny"
datasets = ["iris"]
models = ["logistic"]
goals = ["integrity", "availability"]
alphas = [0.0, 0.5]
rates = [0.05]
seeds = [0]
sanitizers = ["sphere", "lof"]
max_iter = 20
"""
)
sweep = load_sweep(folder / "grid.toml")
for run in sweep.runs:
    print(run.run_id, run.label())

# %%
# Running it on Dask
# ------------------
# :func:`~flexpoison.sweeps.run_sweep` with ``scheduler=`` sends the runs to the
# cluster behind that address; the parent process alone writes the store.
# (``dask_local=True`` would start a LocalCluster of worker processes itself, as
# ``flexpoison sweep --dask`` does.)
out = folder / "runs"
with LocalCluster(
    n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
) as cluster:
    report = run_sweep(
        sweep, out, scheduler=cluster.scheduler_address, progress=False
    )
print(
    f"{report.done} done, {report.failed} failed in {report.seconds:.1f} s "
    f"on {report.executor.split(' inproc')[0]}"
)

# %%
# A second run of the same grid finds every run in the store and computes nothing:
# this is also how a killed sweep resumes.
again = run_sweep(sweep, out, workers=1, progress=False)
print(f"second run: {again.skipped} skipped, {again.done} computed")

# %%
# Reading the results
# -------------------
# ``flexpoison sweep grid.toml --out DIR --status`` prints this table; every run's
# settings and result are JSON in ``DIR/results.sqlite``, readable with any SQL tool
# or with :func:`~flexpoison.sweeps.read_store`. Per run: the effect and the test
# accuracy, clean -> poisoned, and the share of the poison rows each sanitizer
# caught. The availability attack costs accuracy, most at α = 0; the integrity
# attack moves the model toward θ_t (two classes' rows swapped), which at 5 % of the
# rows changes no test prediction for the worse.
print(format_table(sweep_status(sweep, out)))

rows = read_store(out, status="done")
for row in rows:
    s, r = row["settings"], row["result"]
    recall = ", ".join(
        f"{k} {v['recall']:.0%}" for k, v in r["sanitizers"].items()
    )
    print(
        f"{s['goal']:>12} α={s['alpha']:<3g} "
        f"{r['effect_name']} {r['effect_clean']:.3g} -> "
        f"{r['effect_final']:.3g}, "
        f"{r['metric_name']} {r['test_metric_clean']:.3f} -> "
        f"{r['test_metric_poisoned']:.3f}\n{'caught by':>20} {recall}"
    )

# %%
# The effect after each poison point joins the data, per goal and α (rate 0 is the
# clean model). ``flexpoison plot DIR`` draws the standard figures of a store.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for ax, goal in zip(axes, ("integrity", "availability")):
    for row in rows:
        s, r = row["settings"], row["result"]
        if s["goal"] != goal:
            continue
        effects = [r["effect_clean"], *r["effect_history"]]
        rates = np.arange(len(effects)) / r["n_clean"]
        ax.plot(rates, effects, marker="o", label=f"α = {s['alpha']:g}")
    effect_name = "E_I" if goal == "integrity" else "E_A"
    ax.set(
        xlabel="poisoning rate m / n",
        ylabel=effect_name,
        title=f"iris, logistic, {goal}",
    )
    ax.legend()
plt.show()

"""
The effect–concealment frontier against sanitizers
==================================================

The defender's question: *how much damage do k added rows do after my sanitizer has
run, and how many of them does it catch?* :func:`flexpoison.experiments.frontier.run_frontier`
crafts poison for a grid of α and for three baselines with the same budget (random
clones, label/response flipping of the most influential rows, and an unconcealed
α = 0 optimiser whose box is the data range), sends every poisoned training set
through every sanitizer, refits the victim on the rows each one keeps, and measures
what is left.

Here: the diabetes data, a ridge regression, the integrity goal (``flip-top``), a
5 % poisoning rate, and three sanitizers — distance to the centroid (``sphere``),
loss-based filtering (``loss``) and TRIM — each calibrated to remove 5 % of the clean
rows.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes

from flexpoison import FlexPoisonWarning
from flexpoison.data import Dataset
from flexpoison.experiments.frontier import run_frontier
from flexpoison.reporting.plotting import plot_frontier

diabetes = load_diabetes(scaled=False)
data = Dataset(
    name="diabetes",
    X=np.asarray(diabetes.data, dtype=float),
    y=np.asarray(diabetes.target, dtype=float),
    feature_names=tuple(diabetes.feature_names),
    target_name="progression",
    task="regression",
    description="scikit-learn's diabetes data set, raw units",
)

# %%
# The run splits 70/30 (seed 0), standardises the features on the training rows and
# attacks in that space. Each attack's warnings are kept on its
# :class:`~flexpoison.experiments.frontier.AttackPoint`. Printed: each attack's mean
# concealment C and, before any sanitizer, its E_I (lower: nearer θ_t) and test MSE,
# clean -> poisoned. At α = 0 the flexible attack moves the model furthest toward
# θ_t; a higher α trades that for rows nearer the centre.
sanitizers = ["sphere", "loss", "trim"]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FlexPoisonWarning)
    frontier = run_frontier(
        data,
        model="ridge",
        goal="integrity",
        rate=0.05,
        alphas=[0.0, 0.25, 0.5, 0.75, 1.0],
        sanitizers=sanitizers,
        seed=0,
    )
s = frontier.settings
print(f"{s.n_poison} poison rows against {s.n_clean} clean training rows")
print(f"{'attack':>31} {'mean C':>6} {'E_I':>12} {'test MSE':>12}")
for point in frontier.attacks:
    row = frontier.row(point.attack, "none", point.alpha)  # no sanitizer
    print(
        f"{point.label:>31} {point.mean_concealment:6.2f} "
        f"{frontier.effect_clean:4.0f} -> {row.effect:4.0f} "
        f"{frontier.test_metric_clean:4.0f} -> {row.test_metric:4.0f}"
    )

# %%
# Recall and damage left
# ----------------------
# For each attack and sanitizer: the share of the poison rows removed (recall) and
# the share of the attack's damage that survives sanitising and refitting
# (``damage_left``: 1 = none removed, 0 = back to the clean model). It is a ratio to
# the damage done without a sanitizer, so it is left out (—) where the attack did less
# damage than the sanitizer alone moves E_I on the clean rows, or none (the random
# clone, α near 1): there the ratio would measure the sanitizer, not the attack.
print(f"{'attack':>31} " + " ".join(f"{name:>13}" for name in sanitizers))
for point in frontier.attacks:
    if point.attack == "clean":
        continue
    cells = []
    for name in sanitizers:
        row = frontier.row(point.attack, name, point.alpha)
        left = "—" if row.damage_left is None else f"{row.damage_left:.2f}"
        cells.append(f"{row.recall:5.0%} / {left:>5}")
    print(f"{point.label:>31} " + " ".join(f"{c:>13}" for c in cells))

# %%
# The frontier, one panel per sanitizer
# -------------------------------------
# Each point is E_I of the victim refitted on what the sanitizer kept, against the
# share of poison it caught; lower E_I is more damage for the integrity goal. The
# flexible attack's line is annotated with α; the dashed lines are the clean model
# with and without the sanitizer.
# Each panel has its own E_I axis, fitted to the α series: a baseline far outside it
# is drawn at the panel's edge with an arrow and its value.
fig, axes = plt.subplots(
    1, len(sanitizers), figsize=(12, 5), layout="constrained"
)
for ax, name in zip(axes, sanitizers):
    flexible = [r for r in frontier.rows_for(name) if r.attack == "flexible"]
    baselines = {
        r.label: (r.recall, r.effect)
        for r in frontier.rows_for(name)
        if r.attack not in ("flexible", "clean")
    }
    plot_frontier(
        [r.recall for r in flexible],
        [r.effect for r in flexible],
        [r.alpha for r in flexible],
        "integrity",
        baselines=baselines,
        references={
            "no attack, no sanitizer": frontier.effect_clean,
            "no attack, sanitized": frontier.row("clean", name).effect,
        },
        title=name,
        ax=ax,
        legend=False,
    )
    ax.set_xlabel("recall: share of poison removed")
fig.legend(
    *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3
)
plt.show()

# %%
# ``flexpoison frontier`` runs the same measurement from the command line, over every
# sanitizer and the α grid 0, 0.1, …, 1, and writes CSV, JSON, one figure per
# sanitizer and the poison rows of every attack in the data set's units.

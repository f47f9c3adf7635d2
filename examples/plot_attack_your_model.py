"""
Attack your own model
=====================

A red team has a CSV file and a scikit-learn model, and asks: *how far can an attacker
who may add 5 % more rows to my training data push this model?* This example writes
scikit-learn's diabetes data, in its raw units and with its column names, to a CSV
file; reads it back as the command line does; attacks a ridge regression with the
integrity goal (flip the sign of the largest weight) at full strength (α = 0); and
reads the result back — the poison rows in the file's own schema, how far the attack
got, its warnings, how each point was crafted, and the test error before and after.
Last, it shows what α = 0.5 trades away for rows that are harder to spot.
"""

# %%
# A CSV file of your own
# ----------------------
# Any CSV file with a header row works: one target column, every other column a
# numeric feature.
import tempfile
import textwrap
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from flexpoison import FlexiblePoisoning, FlexPoisonWarning, Integrity
from flexpoison.data import read_csv

folder = Path(tempfile.mkdtemp())
diabetes = load_diabetes(scaled=False)
columns = [*diabetes.feature_names, "progression"]
np.savetxt(
    folder / "diabetes.csv",
    np.column_stack([diabetes.data, diabetes.target]),
    delimiter=",",
    header=",".join(columns),
    comments="",
    fmt="%.6g",
)
print((folder / "diabetes.csv").read_text().splitlines()[:3])

# %%
# Read it back strictly (a malformed row is an error that names its line), split it,
# and fit the victim on the clean training rows.
table = read_csv(folder / "diabetes.csv")
X, y, features = table.features_and_target("progression", task="regression")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0
)
clean = Ridge(alpha=1.0).fit(X_train, y_train)
print(f"{len(y_train)} training rows, features: {', '.join(features)}")

# %%
# The attack
# ----------
# Integrity with the ``flip-top`` target: θ_t is the clean model with the sign of its
# largest weight flipped. ``alpha=0`` asks for the whole effect and nothing for
# concealment (the end of this page shows what α = 0.5 trades). A weak or failed
# attack warns with a :class:`~flexpoison.FlexPoisonWarning`; here the warnings are
# recorded to be shown.
attack = FlexiblePoisoning(
    Ridge(alpha=1.0),
    goal=Integrity(target="flip-top"),
    alpha=0.0,
    rate=0.05,
    random_state=0,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", FlexPoisonWarning)
    result = attack.generate(X_train, y_train)

top = int(np.argmax(np.abs(result.theta_clean[:-1])))
rate = result.n_points / result.n_clean
print(f"{result.n_points} poison rows (rate {rate:.3f})")
thetas = result.theta_clean, result.theta_target, result.theta_poisoned
w_clean, w_target, w_poisoned = (theta[top] for theta in thetas)
print(
    f"largest weight, w[{features[top]}]: clean {w_clean:+.2f}, "
    f"target {w_target:+.2f}, poisoned {w_poisoned:+.2f}"
)
before, after = result.effect_clean, result.effect_final
print(f"E_I = ||θ_p − θ_t||²: {before:.4g} -> {after:.4g}")
print(f"progress: {result.progress:.1%} of the way from θ₀ to θ_t")
# each warning cut to two lines here (in full: result.warnings), and raised too
for message in result.warnings or ["none"]:
    short = textwrap.shorten(message, 170, placeholder=" …")
    print(textwrap.fill(f"warning: {short}", 88, subsequent_indent="  "))
raised = [str(w.message) for w in caught]
assert raised == list(result.warnings)
print(f"raised as FlexPoisonWarning: the same {len(raised)}")

# %%
# The progress and the warnings are the attack's own verdict: a result under 1 % of
# the way, a result that made E worse, or points that ran out of iterations say so,
# because a failed attack is not evidence that the model is safe.
#
# How each point was crafted
# --------------------------
# One :class:`~flexpoison.attack.PointReport` per poison row: iterations (``iter``:
# all its starts together, so it can exceed ``max_iter``, which caps each start), why
# the descent stopped, the start it came from, E before and after the point joined the
# data, and where it lies on its concealment path (0: hidden at the centre, 1: the
# point of largest effect).
print(
    f"{'point':>5} {'iter (all starts)':>17} {'stop':>10} {'start':>17} "
    f"{'E before':>9} {'E after':>9} {'path':>5}"
)
for q, p in enumerate(result.points[:6]):
    print(
        f"{q:5d} {p.n_iter:17d} {p.stop:>10} {p.start:>17} "
        f"{p.effect_before:9.1f} {p.effect_after:9.1f} {p.path:5.2f}"
    )

# %%
# The poison rows, in the file's schema
# -------------------------------------
# ``X_poison`` has the units of the input: ages in years, blood pressure in mm Hg. The
# attack is continuous, so ``sex`` (1 or 2 in the file) comes back as a real number —
# declare it with ``integer_features`` or ``frozen_features`` (the example on real
# column constraints shows how), or give ``bounds``.
poison = np.column_stack([result.X_poison, result.y_poison])
np.savetxt(
    folder / "poison.csv",
    poison,
    delimiter=",",
    header=",".join(columns),
    comments="",
    fmt="%.6g",
)
print("\n".join((folder / "poison.csv").read_text().splitlines()[:4]))

# %%
# The poisoned model is the one scikit-learn fits on the same rows, and the test
# error moves with it.
poisoned = Ridge(alpha=1.0).fit(
    np.vstack([X_train, result.X_poison]),
    np.concatenate([y_train, result.y_poison]),
)
theta_sklearn = np.append(poisoned.coef_, poisoned.intercept_)
print(
    "max |θ_p − scikit-learn's refit|:",
    f"{np.max(np.abs(theta_sklearn - result.theta_poisoned)):.2e}",
)


def mse(model) -> float:
    """The model's mean squared error on the held-out rows."""
    return float(np.mean((model.predict(X_test) - y_test) ** 2))


print(f"test MSE: clean {mse(clean):.0f} -> poisoned {mse(poisoned):.0f}")

# %%
# The paper's two figures
# -----------------------
# W at every iteration of the first point, and E_I after each point joins the data.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
left.plot(result.W_history[0], marker=".")
left.set(xlabel="iteration", ylabel="W", title="first poison point")
right.plot(
    np.r_[0, result.rates],
    np.r_[result.effect_clean, result.effect_history],
    marker="o",
)
right.set(
    xlabel="poisoning rate m / n",
    ylabel=r"$E_I = \|\theta_p - \theta_t\|^2$",
    title="effect vs rate",
)
plt.show()

# %%
# What α trades away
# ------------------
# The integrity goal moves the model toward θ_t; a higher test error is its side
# effect, not its aim. ``alpha=0.5`` keeps half of the α = 0 attack's change of E_I
# and spends the rest on concealment: rows nearer the data's centre (smaller
# C = ‖x_p − x_c‖², in the raw units here), which sanitizers catch less often — and,
# on these data, a model so little changed that its test error ends *below* the
# clean model's. The attack is weaker, not harmless: the largest weight still moves
# toward its flipped sign.
header = ("α", "E_I after", "mean C", f"w[{features[top]}]", "test MSE")
print("{:>4} {:>10} {:>8} {:>8} {:>14}".format(*header))
for alpha in (0.0, 0.5):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        r = FlexiblePoisoning(
            Ridge(alpha=1.0),
            goal=Integrity(target="flip-top"),
            alpha=alpha,
            rate=0.05,
            random_state=0,
        ).generate(X_train, y_train)
    before, after = mse(clean), mse(r.poisoned_model())
    print(
        f"{alpha:4g} {r.effect_final:10.4g} {r.concealment.mean():8.4g} "
        f"{r.theta_poisoned[top]:+8.2f} {before:6.0f} -> {after:.0f}"
    )

"""
How many poison rows does it take?
==================================

A red team's question: *could an attacker make our model misclassify this group of
patients, and with how many added rows?* An attack that gets there with m rows says
that m rows suffice. :func:`flexpoison.certify.points_curve` also says how many rows
*any* attack needs at least, with the certified lower bound of Suya et al. (ICML
2021; the derivation is on :doc:`/certify`), and draws both against m.

Here: scikit-learn's breast cancer data (standardised), a logistic regression, and a
target model θ_t that misclassifies a subpopulation: the model trained with the labels
of one k-means cluster of benign tumours flipped to malignant (the preset
``flip-subpopulation:class=1,cluster=3/8``).
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from flexpoison.certify import points_curve
from flexpoison.reporting.certify import plot_points_needed

X, y = load_breast_cancer(return_X_y=True)
X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
X = (X - X.mean(axis=0)) / X.std(axis=0)
target = "flip-subpopulation:class=1,cluster=3/8"

# %%
# Two attacks add up to 24 rows each, one at a time, inside the 3σ box: flexpoison's
# own search (α = 0: effect only) and Suya et al.'s model-targeted attack (each row
# the feasible row of the largest loss gap ℓ(θ_m) − ℓ(θ_t) at the current model).
# Each curve is read off one 24-row run: with one pass, the first m rows of a run
# are the m-row attack itself. At m = 1, 4, 16 and 24 the model each attack
# reached, θ_m, is certified too (about a second each).
curve = points_curve(
    LogisticRegression(max_iter=10_000),
    X,
    y,
    target,
    24,
    epsilon=0.1,
    certify_at=[1, 4, 16, 24],
)
print(
    f"subpopulation: {curve.subpopulation_rows} benign rows; θ₀ misclassifies "
    f"{curve.subpopulation_error_clean:.0%} of them, θ_t "
    f"{curve.subpopulation_error_target:.0%}"
)
print(
    f"certified: no feasible set of fewer than {curve.lower_bound:.1f} rows "
    "makes θ_t the victim's optimum"
)
for attack in curve.attacks:
    m = attack.reached_at
    where = f"at m = {m}" if m else f"not in {attack.n_points} rows"
    print(
        f"{attack.name:>15}: within ε = 0.1 of θ_t {where}; misclassifies "
        f"{attack.subpopulation_error[-1]:.0%} of the subpopulation at m = 24"
    )

# %%
# The efficiency of an attack's m rows is lower_bound(θ_m) / m: θ_m is the exact
# optimum of the clean rows and those m rows, so the bound is at most m, and an
# efficiency near 1 says that no attack reaches the same model with much fewer rows.
print(f"{'m':>4} " + " ".join(f"{a.name:>15}" for a in curve.attacks))
for k, m in enumerate(curve.attacks[0].certified_m):
    cells = [f"{a.efficiency[k]:15.2f}" for a in curve.attacks]
    print(f"{m:4.0f} " + " ".join(cells))

# %%
# The view
# --------
# Top: E_I = ‖θ_m − θ_t‖² against m, the dashed line "within ε = 0.1 of θ_t", and
# shaded, the m that cannot make θ_t itself the optimum. Coming *within ε* of θ_t can
# take fewer rows than reaching it exactly, which is why a curve may cross the dashed
# line inside the shaded region. Middle: the share of the subpopulation each θ_m
# misclassifies. Bottom: the certified efficiency at the m certified.
fig = plt.figure(figsize=(6.4, 8.4), layout="constrained")
plot_points_needed(
    curve, title="breast cancer, logistic regression", figure=fig
)
plt.show()

# %%
# From the command line, on a CSV file, the same view (``points_needed.json`` and
# ``points_needed.png``)::
#
#     flexpoison certify --data cancer.csv --target-column label \
#         --model logistic --standardize --n-points 24 \
#         --target 'flip-subpopulation:class=1,cluster=3/8' --out runs/cancer

"""
Constraints on real columns
===========================

Real columns are not all free real numbers: an age is a whole number of years, a
patient's sex is not the attacker's to choose, and a categorical column encoded one
hot must stay one-hot. Without constraints the attack is continuous, so on the raw
diabetes data it returns ages such as 51.3 and a ``sex`` of 1.64 — rows no data owner
would accept. :class:`~flexpoison.FlexiblePoisoning` takes three kinds of constraint,
by column name (a DataFrame's) or index:

* ``integer_features`` — columns whose values must be integers (``age``), as every
  clean row's are there (a column holding 0.32 is refused unless
  ``round_fractional=True`` asks for rounding all the same);
* ``frozen_features`` — columns the attacker cannot choose: each poison row keeps the
  value of the clean row it was cloned from (``sex``);
* ``one_hot_groups`` — groups of 0/1 columns of which one is 1 per row (here a
  body-mass-index category, encoded as three columns).

Each point is optimised continuously, then rounded inside the box and repaired by a
coordinate search that keeps a change only if it lowers the point's W; E, θ and C are
those of the rows returned.
"""

# %%
# The raw data, with a one-hot column group
# -----------------------------------------
# scikit-learn's diabetes data in their raw units, as a DataFrame, plus the
# body-mass-index category (under 25, 25 to 30, 30 and over) encoded one hot.
import textwrap
import warnings

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from flexpoison import FlexiblePoisoning, FlexPoisonWarning, Integrity

frame = load_diabetes(as_frame=True, scaled=False).frame
target = frame.pop("target")
bmi = frame["bmi"]
frame["bmi_under_25"] = (bmi < 25).astype(float)
frame["bmi_25_to_30"] = ((bmi >= 25) & (bmi < 30)).astype(float)
frame["bmi_30_and_over"] = (bmi >= 30).astype(float)
bmi_group = ["bmi_under_25", "bmi_25_to_30", "bmi_30_and_over"]
print(frame[["age", "sex", "bmi", *bmi_group]].head())

# %%
# The attack, with and without the constraints
# --------------------------------------------
# A DataFrame in gives DataFrames out: the poison rows have the input's columns.
# ``alpha=0.5`` keeps half of the α = 0 attack's change of E_I and spends the rest on
# rows nearer the data's centre.
settings = dict(
    goal=Integrity(target="flip-top"), alpha=0.5, n_points=15, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FlexPoisonWarning)
    free = FlexiblePoisoning(Ridge(alpha=1.0), **settings).generate(
        frame, target
    )
    constrained = FlexiblePoisoning(
        Ridge(alpha=1.0),
        integer_features=["age"],
        frozen_features=["sex"],
        one_hot_groups=[bmi_group],
        **settings,
    ).generate(frame, target)

shown = ["age", "sex", "bmi", *bmi_group]
print("free:\n", free.X_poison[shown].head().round(2))
print("constrained:\n", constrained.X_poison[shown].head().round(2))

# %%
# Every constrained poison row is a row the schema allows: a whole age, the ``sex``
# of the clean row it was cloned from (``PointReport.source_row``), exactly one BMI
# category. The constraints may cost some of the effect; both results say how far
# they got.
X_p = constrained.X_poison
sources = [p.source_row for p in constrained.points]
assert np.all(X_p["age"] == np.round(X_p["age"]))
assert np.all(X_p["sex"].to_numpy() == frame["sex"].to_numpy()[sources])
assert np.all(X_p[bmi_group].isin([0.0, 1.0]).to_numpy())
assert np.all(X_p[bmi_group].sum(axis=1) == 1)
for name, result in (("free", free), ("constrained", constrained)):
    print(
        f"{name:>11}: E_I {result.effect_clean:.4g} -> "
        f"{result.effect_final:.4g} (progress {result.progress:.1%})"
    )
    for (
        message
    ) in result.warnings:  # cut to two lines here; in full in result.warnings
        short = textwrap.shorten(message, 170, placeholder=" …")
        print(
            textwrap.fill(
                f"warning: {short}",
                88,
                initial_indent=" " * 13,
                subsequent_indent=" " * 15,
            )
        )

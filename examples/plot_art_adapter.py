"""
flexpoison from the Adversarial Robustness Toolbox
==================================================

Teams that already run their evaluations with the Adversarial Robustness Toolbox
(ART) can call the flexible attack as an ART white-box poisoning attack:
:class:`flexpoison.art.FlexiblePoisoningAttack` takes one of ART's scikit-learn
wrappers and follows ART's interface, ``poison(x, y) -> (x_poison, y_poison)``,
returning *new* rows to add to the clean training set. The rows are flexpoison's,
seed for seed; ``attack.result`` is the full :class:`~flexpoison.AttackResult`, with
its progress and warnings. ART is an optional dependency:
``pip install 'flexpoison[art]'``.
"""

# %%
# A binary classifier on the breast-cancer data, the ART way
# ----------------------------------------------------------
# ART works in float32 with one-hot labels; the wrapper need not be fitted (the
# attack reads only its hyper-parameters).
import textwrap
import warnings

import numpy as np
from art.estimators.classification import SklearnClassifier
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from flexpoison import FlexPoisonWarning, LossAvailability
from flexpoison.art import FlexiblePoisoningAttack

X, labels = load_breast_cancer(return_X_y=True)
X_train, X_test, l_train, l_test = train_test_split(
    X, labels, test_size=0.3, random_state=0, stratify=labels
)
scaler = StandardScaler().fit(X_train)
x_train = scaler.transform(X_train).astype(np.float32)
x_test = scaler.transform(X_test).astype(np.float32)
y_train = np.eye(2, dtype=np.float32)[l_train]
y_test = np.eye(2, dtype=np.float32)[l_test]

classifier = SklearnClassifier(LogisticRegression(C=1.0))

# %%
# The attack, through ART's interface
# -----------------------------------
# The loss-availability goal raises the model's own mean training loss — the
# availability attack of Biggio et al. — and ``alpha=0`` asks for all of it, with no
# concealment.
attack = FlexiblePoisoningAttack(
    classifier,
    goal=LossAvailability(),
    alpha=0.0,
    n_points=10,
    random_state=0,
    verbose=False,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", FlexPoisonWarning)
    x_poison, y_poison = attack.poison(x_train, y_train)
result = attack.result
print(
    f"{len(x_poison)} poison rows ({x_poison.dtype}, labels {y_poison.shape}) "
    f"for {len(x_train)} training rows"
)
before, after = result.effect_clean, result.effect_final
print(f"mean training loss E_L: {before:.4f} -> {after:.4f}")
# each warning cut to two lines here (in full: result.warnings), and raised too
for message in result.warnings or ["none"]:
    short = textwrap.shorten(message, 170, placeholder=" …")
    print(textwrap.fill(f"warning: {short}", 88, subsequent_indent="  "))
raised = [str(w.message) for w in caught]
assert raised == list(result.warnings)
print(f"raised as FlexPoisonWarning: the same {len(raised)}")

# %%
# Train on the poisoned set and compare
# -------------------------------------
# The wrapper is left untouched by the attack: fit it on the clean and on the
# poisoned set yourself.


def accuracy(wrapper) -> float:
    """Share of the held-out rows the wrapped model labels right."""
    predicted = np.argmax(wrapper.predict(x_test), axis=1)
    return float(np.mean(predicted == np.argmax(y_test, axis=1)))


classifier.fit(x_train, y_train)
clean_accuracy = accuracy(classifier)
classifier.fit(np.vstack([x_train, x_poison]), np.vstack([y_train, y_poison]))
poisoned_accuracy = accuracy(classifier)
print(f"test accuracy: clean {clean_accuracy:.3f} -> {poisoned_accuracy:.3f}")

# %%
# What α trades away
# ------------------
# ``alpha=0.5`` keeps half of the α = 0 attack's gain in E_L and spends the rest on
# rows nearer the data's centre (smaller mean C = ‖x_p − x_c‖²), harder for a
# sanitizer to single out; the model is then hurt less.
for alpha in (0.0, 0.5):
    attack = FlexiblePoisoningAttack(
        classifier,
        goal=LossAvailability(),
        alpha=alpha,
        n_points=10,
        random_state=0,
        verbose=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlexPoisonWarning)
        x_poison, y_poison = attack.poison(x_train, y_train)
    classifier.fit(
        np.vstack([x_train, x_poison]), np.vstack([y_train, y_poison])
    )
    print(
        f"α = {alpha:g}: E_L {attack.result.effect_final:.4f}, "
        f"mean C {attack.result.concealment.mean():5.1f}, "
        f"test accuracy {clean_accuracy:.3f} -> {accuracy(classifier):.3f}"
    )

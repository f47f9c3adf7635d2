"""Target presets are deterministic, documented functions of θ₀."""

from __future__ import annotations

import numpy as np
import pytest

from flexpoison import Availability, Integrity, models
from flexpoison.attack.goals import ModelShape

LOGISTIC = models.get("logistic")
REG = ModelShape(3, 1, True, "regression", None, models.get("ridge").target_preset(1))
BIN = ModelShape(3, 1, True, "classification", (0, 1), LOGISTIC.target_preset(1))
MULTI = ModelShape(2, 3, True, "classification", ("a", "b", "c"), LOGISTIC.target_preset(3))


def test_flip_top_flips_the_largest_weight_not_the_intercept():
    theta0 = np.array([0.5, -2.0, 1.0, 10.0])
    assert np.array_equal(Integrity("flip-top").reference(theta0, REG), [0.5, 2.0, 1.0, 10.0])
    assert np.array_equal(Integrity().reference(theta0, REG), [0.5, 2.0, 1.0, 10.0])


def test_negate_keeps_the_intercept_and_is_the_binary_default():
    theta0 = np.array([0.5, -2.0, 1.0, 3.0])
    expected = [-0.5, 2.0, -1.0, 3.0]
    assert np.array_equal(Integrity("negate").reference(theta0, BIN), expected)
    assert np.array_equal(Integrity().reference(theta0, BIN), expected)


def test_swap_named_and_default_closest_rows():
    theta0 = np.array([[1.0, 0.0, 0.0], [5.0, 5.0, 1.0], [5.5, 5.0, 1.0]]).ravel()
    swapped = Integrity("swap:a,c").reference(theta0, MULTI).reshape(3, 3)
    assert np.array_equal(swapped, theta0.reshape(3, 3)[[2, 1, 0]])
    default = Integrity().reference(theta0, MULTI).reshape(3, 3)
    assert np.array_equal(default, theta0.reshape(3, 3)[[0, 2, 1]])
    with pytest.raises(ValueError, match="names a class that is not among"):
        Integrity("swap:a,z").reference(theta0, MULTI)


def test_predict_is_the_nearest_theta_with_the_requested_prediction():
    theta0 = np.array([1.0, 2.0, -1.0, 0.5])
    x_star = np.array([1.0, 0.5, 2.0])
    theta_t = Integrity("predict:7@1,0.5,2").reference(theta0, REG)
    phi = np.append(x_star, 1.0)
    assert phi @ theta_t == pytest.approx(7.0)
    # nearest: θ_t − θ₀ is parallel to φ*
    delta = theta_t - theta0
    assert np.allclose(delta, (delta @ phi) / (phi @ phi) * phi)


def test_explicit_vector_and_availability_reference():
    theta0 = np.arange(4.0)
    assert np.array_equal(Integrity([1, 2, 3, 4]).reference(theta0, REG), [1, 2, 3, 4])
    assert np.array_equal(Availability().reference(theta0, REG), theta0)

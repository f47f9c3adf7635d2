"""The result record: each field declared once, every writer's record built from it, and
version-1 records (each writer's own spellings) mapped to it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from conftest import make_regression
from flexpoison import FlexiblePoisoning
from flexpoison.experiments import record as rec


def test_each_field_is_declared_once_with_a_meaning_and_a_unit():
    assert len(set(rec.FIELD_NAMES)) == len(rec.FIELDS)
    assert all(f.meaning and f.unit for f in rec.FIELDS)


def test_version_1_names_map_to_declared_fields_and_never_shadow_one():
    for names in rec.LEGACY.values():
        assert set(names.values()) <= set(rec.FIELD_NAMES)
        assert not set(names) & set(rec.FIELD_NAMES)  # an old name is no current one
        assert len(set(names.values())) == len(names)  # one old name per field
    for writer, fields in rec.FROM_RESULT.items():
        assert set(fields) <= set(rec.FIELD_NAMES), writer


def test_a_record_refuses_an_undeclared_name():
    with pytest.raises(ValueError, match="effect_before not declared"):
        rec.record(effect_clean=1.0, effect_before=1.0)
    assert rec.record(rate=0.5, n_points=2) == {
        "record_version": rec.RECORD_VERSION,
        "n_points": 2,
        "rate": 0.5,
    }


def test_upgrade_maps_version_1_and_keeps_a_current_record():
    old = {"E_I_clean": 2.0, "E_I_final": 1.0, "mean_C": 0.5, "at_rates": []}
    new = rec.upgrade(old, "reproduce")
    assert new == {
        "record_version": rec.RECORD_VERSION,
        "effect_clean": 2.0,
        "effect_final": 1.0,
        "mean_concealment": 0.5,
        "at_rates": [],  # the writer's extra, kept
    }
    assert rec.upgrade(new, "reproduce") == new
    assert rec.upgrade({"effect": 3.0, "theta_reference": [1]}, "frontier") == {
        "record_version": rec.RECORD_VERSION,
        "effect_clean": 3.0,
        "theta_target": [1],
    }


@pytest.mark.parametrize("writer", sorted(rec.FROM_RESULT))
def test_a_record_of_a_result_holds_the_results_own_values(writer):
    X, y = make_regression(n=40, d=3, seed=1)
    result = FlexiblePoisoning(Ridge(), n_points=2, max_iter=5, random_state=0).generate(X, y)
    out = rec.of_result(result, writer, seconds=1.5)
    assert out["record_version"] == rec.RECORD_VERSION and out["seconds"] == 1.5
    assert out["effect_clean"] == result.effect_clean
    assert out["effect_final"] == result.effect_final == result.effect_history[-1]
    np.testing.assert_array_equal(out["theta_poisoned"], result.theta_poisoned)
    assert out["rate"] == 2 / 40 and out["n_points"] == 2
    if "mean_concealment" in out:
        assert out["mean_concealment"] == pytest.approx(np.mean(result.concealment))
    if "n_iter" in out:
        np.testing.assert_array_equal(out["n_iter"], [p.n_iter for p in result.points])


def test_the_documentation_table_lists_every_field_and_its_old_names():
    table = rec.fields_table()
    assert all(f"``{name}``" in table for name in rec.FIELD_NAMES)
    assert "``E_I_clean`` (reproduce)" in table and "``effect_before`` (attack)" in table


def test_the_configured_attack_travels_as_one_value():
    from flexpoison import Integrity
    from flexpoison.experiments import Experiment, configured_attack, split_data

    X, y = make_regression(n=40, d=3, seed=2)
    options = {"max_iter": 3, "starts": 2, "tol": 1e-3, "rate": 0.2, "seed": 7, "out": "x"}
    template = configured_attack(options, random_state=7)  # a command's options
    assert (template.max_iter, template.starts, template.tol, template.rate) == (3, 2, 1e-3, 0.2)
    assert template.estimator is None and template.random_state == 7
    experiment = Experiment(Ridge(), Integrity(), split_data(X, y, task="regression"))
    attack = experiment.configure(template, alpha=0.25, n_points=3)
    assert attack.estimator is experiment.estimator and attack.goal is experiment.goal
    assert (attack.alpha, attack.n_points, attack.rate, attack.max_iter) == (0.25, 3, None, 3)
    assert template.estimator is None and template.alpha == 0.5 and template.rate == 0.2
    result = experiment.generate(attack)
    assert result.n_points == 3 and result.settings["max_iter"] == 3

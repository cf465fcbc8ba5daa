"""The fit report: Laplace covariance against the exact linear-Gaussian posterior, the delta method through bounds,
flat directions of a product that only the data's product determines, stuck-at-bound flags, the files it writes."""

import json

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin.calibrate import (
    Bounded,
    FreeParameter,
    FreeParameters,
    MeasurementLoss,
    Normal,
    Positive,
    Term,
    Unbounded,
    fit_least_squares,
    fit_report,
    joint_residuals,
)
from organtwin.io import write_fit_report


class Line(eqx.Module):
    a: jnp.ndarray
    b: jnp.ndarray


T = np.linspace(0.0, 1.0, 40)
RNG = np.random.default_rng(0)
SIGMA = 0.1
TRUE_A, TRUE_B = 1.5, 2.0
Y = TRUE_A + TRUE_B * T + SIGMA * RNG.standard_normal(T.size)


def _fit(forward, free_params, start, noise_sd=SIGMA, truth=None):
    term = Term("y", MeasurementLoss(Y, noise_sd), forward)
    free = FreeParameters(free_params, start)
    res = fit_least_squares(joint_residuals([term]), free, start, max_steps=100, progress=False)
    return res, fit_report(res, free, start, [term], truth=truth)


def test_laplace_covariance_is_the_exact_posterior_of_a_linear_gaussian_model():
    res, rep = _fit(
        lambda m: m.a + m.b * T, ["a", "b"], Line(jnp.asarray(1.0), jnp.asarray(1.0)), truth={"a": TRUE_A, "b": TRUE_B}
    )
    X = np.stack([np.ones_like(T), T], 1)
    beta = np.linalg.lstsq(X, Y, rcond=None)[0]
    chi2 = np.sum(((X @ beta - Y) / SIGMA) ** 2)
    s2 = max(1.0, chi2 / (T.size - 2))
    C = s2 * SIGMA**2 * np.linalg.inv(X.T @ X)
    np.testing.assert_allclose(rep.values, beta, rtol=1e-6)  # LM converges to the least-squares solution
    np.testing.assert_allclose(rep.sd, np.sqrt(np.diag(C)), rtol=1e-6)
    np.testing.assert_allclose(rep.correlation[0, 1], C[0, 1] / np.sqrt(C[0, 0] * C[1, 1]), rtol=1e-6)
    assert rep.identified == ["a", "b"] and not rep.flat_directions and not rep.at_bounds
    assert rep.chi2 == pytest.approx(chi2, rel=1e-8) and rep.n_residuals == T.size
    d = rep.to_dict()
    assert d["parameters"]["b"]["truth"] == TRUE_B
    assert abs(d["parameters"]["b"]["relative_error"]) < 3 * rep.sd[1] / TRUE_B


def test_the_delta_method_carries_the_covariance_through_a_bound_transform():
    # the same line with b fitted through a sigmoid: the SD of b must not depend on the parametrisation
    _, plain = _fit(lambda m: m.a + m.b * T, ["a", "b"], Line(jnp.asarray(1.0), jnp.asarray(1.0)))
    _, bounded = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Bounded(0.0, 10.0))], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    np.testing.assert_allclose(bounded.values, plain.values, rtol=1e-5)
    np.testing.assert_allclose(bounded.sd, plain.sd, rtol=1e-4)


def test_a_product_of_two_parameters_is_flagged_as_a_flat_direction():
    # y = a·b·t + c: the data fix a·b but not a and b apart; the flat direction is +log a − log b
    model = {"a": jnp.asarray(1.0), "b": jnp.asarray(1.0), "c": jnp.asarray(1.0)}
    _, rep = _fit(
        lambda m: m["a"] * m["b"] * T + m["c"],
        [FreeParameter("a", Positive()), FreeParameter("b", Positive()), "c"],
        model,
    )
    assert set(rep.not_identified) == {"a", "b"} and rep.identified == ["c"]
    assert len(rep.flat_directions) == 1
    comp = rep.flat_directions[0]["components"]
    assert set(comp) == {"a", "b"} and comp["a"] == pytest.approx(-comp["b"], abs=1e-6)
    assert rep.singular_values.min() < 1e-6 * rep.singular_values.max()
    assert "NOT identified" in rep.summary() and "flat directions" in rep.summary()


def test_a_prior_narrows_the_posterior_but_not_the_data_only_sd():
    model = {"a": jnp.asarray(1.0), "b": jnp.asarray(1.0), "c": jnp.asarray(1.0)}
    _, rep = _fit(
        lambda m: m["a"] * m["b"] * T + m["c"],
        [FreeParameter("a", Positive(), Normal(1.0, 0.01)), FreeParameter("b", Positive()), "c"],
        model,
    )
    i = rep.names.index("a")
    assert rep.sd[i] < 0.011  # the prior's 0.01 (the data add nothing to a alone)
    assert rep.sd_data[i] > 1.0  # ... but the data alone do not determine it: still flagged
    assert "a" in rep.not_identified


def test_a_parameter_pushed_to_its_bound_is_reported():
    # the data want b = 2 but the bound stops it at 1.2
    _, rep = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Bounded(0.5, 1.2))], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    assert len(rep.at_bounds) == 1 and rep.at_bounds[0].startswith("b at its upper bound 1.2")


def test_the_report_files_are_valid_json_and_a_readable_summary(tmp_path):
    _, rep = _fit(
        lambda m: m.a + m.b * T, ["a", FreeParameter("b", Unbounded())], Line(jnp.asarray(1.0), jnp.asarray(1.0))
    )
    paths = write_fit_report(rep, tmp_path / "out")
    d = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(d["parameters"]) == {"a", "b"} and d["terms"]["y"]["n"] == T.size
    assert d["terms"]["y"]["rms_residual"] == pytest.approx(np.sqrt(rep.chi2 / T.size) * SIGMA, rel=1e-6)
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert "parameter" in text and "chi2" in text
    assert not list((tmp_path / "out").glob("*.tmp")) and len(paths) == 2

"""The sampled posterior of a fit (issue 26 item 2): NUTS on a linear-Gaussian problem whose posterior is known exactly
(mean and SD within Monte-Carlo error, R-hat < 1.01, both gradient modes the same chains), the profile likelihood's
intervals against the exact ones, the density's priors and bound Jacobians, and a short run of a built-in case
through `organtwin calibrate --sample` (posterior.npz, the "posterior" section of report.json, the corner plot)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import RESULTS
from organtwin.calibrate import (
    Bounded,
    CalibrationError,
    FreeParameter,
    FreeParameters,
    LogNormal,
    Normal,
    Positive,
    Unbounded,
    fit_least_squares,
    log_posterior,
    profile_likelihood,
    sample_posterior,
)
from organtwin.viz._posterior_plot import axis_label

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def linear():
    """y = A θ + noise (σ = 0.5), θ ~ N(0, 3²) a priori, two columns of A nearly collinear (a correlated posterior):
    the posterior is N(m, C) with C = (AᵀA/σ² + I/9)⁻¹, m = C Aᵀy/σ²."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        A = rng.standard_normal((20, 3))
        A[:, 2] = 0.9 * A[:, 1] + 0.1 * A[:, 2]
        sig, tau = 0.5, 3.0
        y = A @ np.array([1.0, -0.5, 2.0]) + sig * rng.standard_normal(20)
        model = {"theta": jnp.zeros(3)}
        free = FreeParameters([FreeParameter("theta", Unbounded(), Normal(0.0, tau))], model)
        res = lambda m: (jnp.asarray(A) @ m["theta"] - y) / sig
        fit = fit_least_squares(res, free, model, progress=False)
        C = np.linalg.inv(A.T @ A / sig**2 + np.eye(3) / tau**2)
        mean = C @ (A.T @ y / sig**2)
        yield res, free, model, fit, mean, C


def test_linear_gaussian_posterior_matches_the_exact_one(linear):
    """Stan's window adaptation (the mass matrix re-estimated from the warmup draws, started from Laplace)."""
    res, free, model, fit, mean, C = linear
    with jax.enable_x64(True):
        s = sample_posterior(
            res, free, model, fit.u, draws=1200, chains=4, warmup=200, noise_scale=1.0, seed=3, adaptation="window"
        )
        # the same chains with the gradient by reverse mode (one adjoint) instead of a forward-mode Jacobian
        r = sample_posterior(
            res,
            free,
            model,
            fit.u,
            draws=1200,
            chains=4,
            warmup=200,
            noise_scale=1.0,
            seed=3,
            adaptation="window",
            reverse_residuals=res,
        )
    assert s.gradient == "forward" and r.gradient == "reverse"
    np.testing.assert_allclose(r.draws, s.draws, rtol=1e-8, atol=1e-10)
    sd = np.sqrt(np.diag(C))
    assert s.draws.shape == (4, 300, 3) and s.names == ("theta[0]", "theta[1]", "theta[2]")
    assert s.result == RESULTS.successful, s.message
    assert np.all(s.rhat < 1.01)
    assert np.all(s.ess_bulk > 400) and np.all(s.ess_tail > 400)
    # the mean within 4 Monte-Carlo standard errors (SD / sqrt(ESS)), the SD within 4 of its own (~ SD / sqrt(2 ESS))
    assert np.all(np.abs(s.mean - mean) < 4 * sd / np.sqrt(s.ess_bulk)), (s.mean, mean)
    assert np.all(np.abs(s.sd - sd) < 4 * sd / np.sqrt(2 * s.ess_bulk)), (s.sd, sd)
    # the credible intervals against the exact Gaussian ones (1.96 SD), within the same error
    np.testing.assert_allclose(s.interval_95, np.stack([mean - 1.96 * sd, mean + 1.96 * sd], 1), atol=0.15 * sd.max())
    assert int(np.sum(s.divergences)) == 0 and 0.6 < s.acceptance <= 1.0
    assert s.seconds >= s.seconds_sampling > 0 and np.isfinite(s.seconds_per_effective_sample())
    d = s.to_dict()
    assert d["parameters"]["theta[1]"]["rhat"] < 1.01 and d["result"] == "successful"
    assert "R-hat" in s.summary(sd)


def test_laplace_mass_matrix_posterior_matches_the_exact_one(linear):
    """The default adaptation: the Laplace covariance as the inverse mass matrix (here exact), only the step size
    adapted in a short warmup; the same checks against the exact posterior as the window adaptation's, over 2,000
    draws (NUTS on a whitened Gaussian is antithetic: its bulk ESS exceeds the draws)."""
    res, free, model, fit, mean, C = linear
    with jax.enable_x64(True):
        s = sample_posterior(res, free, model, fit.u, draws=2000, chains=4, warmup=150, noise_scale=1.0, seed=3)
    sd = np.sqrt(np.diag(C))
    assert s.adaptation == "laplace" and "Laplace covariance" in s.to_dict()["sampler"]
    assert s.draws.shape == (4, 500, 3) and s.warmup == 150
    assert s.result == RESULTS.successful, s.message
    assert np.all(s.rhat < 1.01)
    assert np.all(s.ess_bulk > 400) and np.all(s.ess_tail > 400)
    assert np.all(np.abs(s.mean - mean) < 4 * sd / np.sqrt(s.ess_bulk)), (s.mean, mean)
    assert np.all(np.abs(s.sd - sd) < 4 * sd / np.sqrt(2 * s.ess_bulk)), (s.sd, sd)
    np.testing.assert_allclose(s.interval_95, np.stack([mean - 1.96 * sd, mean + 1.96 * sd], 1), atol=0.15 * sd.max())
    assert int(np.sum(s.divergences)) == 0 and 0.6 < s.acceptance <= 1.0
    # the exact mass matrix: a step size near 1 (whitened units) and few leapfrog steps per draw
    assert np.all((s.step_size > 0.5) & (s.step_size < 1.5)) and s.mean_steps < 6, (s.step_size, s.mean_steps)


@pytest.mark.slow  # two NUTS compilations (vmapped and lax.map chains): ~170 s on the shared 2 cores at load 15 (-m slow)
def test_chains_one_after_another_give_the_same_draws(linear):
    """``vmap_chains=False`` (the chains by ``lax.map``, for the eikonal) draws exactly what the vmapped chains do."""
    res, free, model, fit, *_ = linear
    with jax.enable_x64(True):
        kw = dict(draws=16, chains=2, warmup=6, chunk=4, noise_scale=1.0, seed=2)
        v = sample_posterior(res, free, model, fit.u, **kw)  # type: ignore[arg-type]
        m = sample_posterior(res, free, model, fit.u, vmap_chains=False, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(m.u_draws, v.u_draws, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.step_size, v.step_size, rtol=1e-12)


def test_profile_likelihood_of_a_gaussian(linear):
    """A linear-Gaussian profile is exactly quadratic: Δ = ½ (θ - m)² / C_ii, so its 68/95 % intervals are m ± 1 and
    ±1.96 SD (up to the linear interpolation between grid points)."""
    res, free, model, fit, mean, C = linear
    with jax.enable_x64(True):
        prof = profile_likelihood(res, free, model, fit.u, "theta[2]", points=41, noise_scale=1.0)
    sd = np.sqrt(C[2, 2])
    np.testing.assert_allclose(prof.delta, 0.5 * (prof.values - mean[2]) ** 2 / C[2, 2], atol=1e-6)
    assert np.all(prof.converged)
    np.testing.assert_allclose(prof.interval_68, [mean[2] - sd, mean[2] + sd], rtol=0, atol=0.02 * sd)
    np.testing.assert_allclose(prof.interval_95, [mean[2] - 1.96 * sd, mean[2] + 1.96 * sd], rtol=0, atol=0.02 * sd)
    # the others re-fitted at each point: the conditional mean of theta[0:2] given theta[2]
    k = 10
    cond = mean[:2] + C[:2, 2] / C[2, 2] * (prof.values[k] - mean[2])
    np.testing.assert_allclose(prof.others[k, :2], cond, atol=1e-6)
    with pytest.raises(CalibrationError, match="not a free value"):
        profile_likelihood(res, free, model, fit.u, "theta[7]")


def test_log_posterior_priors_and_bound_jacobians():
    """The density in u: a uniform prior between a Bounded parameter's bounds (its log-Jacobian), a LogNormal prior's
    1/x, a Positive parameter's softplus Jacobian; differences between two points checked by hand."""
    with jax.enable_x64(True):
        model = {"a": jnp.asarray(1.0), "b": jnp.asarray(2.0), "c": jnp.asarray(0.5)}
        free = FreeParameters(
            [
                FreeParameter("a", Bounded(0.0, 4.0)),
                FreeParameter("b", Positive(), LogNormal(2.0, 0.5)),
                FreeParameter("c", Unbounded(), Normal(0.0, 2.0)),
            ],
            model,
        )
        logp = log_posterior(lambda m: jnp.zeros(1), free)
        u = jnp.asarray([0.3, 0.7, -0.4])
        sig = lambda t: 1 / (1 + np.exp(-t))
        a, b, c = 4 * sig(0.3), np.log1p(np.exp(0.7)), -0.4
        expected = (
            np.log(4 * sig(0.3) * (1 - sig(0.3)))  # d a / d u
            + np.log(sig(0.7))  # d softplus / d u
            - 0.5 * ((np.log(b) - np.log(2.0)) / 0.5) ** 2
            - np.log(b)  # log-normal density in b
            - 0.5 * (c / 2.0) ** 2
        )
        np.testing.assert_allclose(float(logp(u, model)), expected, rtol=1e-12)
        assert np.isfinite(a)


def test_sample_refuses_bad_arguments(linear):
    res, free, model, fit, *_ = linear
    with pytest.raises(CalibrationError, match="at least 2 chains"):
        sample_posterior(res, free, model, fit.u, chains=1)
    with pytest.raises(CalibrationError, match="u_opt has shape"):
        sample_posterior(res, free, model, fit.u[:2])
    with pytest.raises(CalibrationError, match="adaptation must be"):
        sample_posterior(res, free, model, fit.u, adaptation="stan")


def test_axis_labels_are_readable():
    assert axis_label("circulation.model.blocks.LV.e_active", "mmHg/mL") == "LV e_active (mmHg/mL)"
    assert axis_label("sites.lv.position[2]", "mm") == "lv position z (mm)"
    assert axis_label("tissue.velocity[1, 0]", "m/s") == "velocity region #2 (m/s)"
    assert axis_label("circulation.model.blocks.sys_art_RL.resistance[0]") == "sys_art_RL resistance"


@pytest.mark.slow  # compiling NUTS through the 0D beat's forward-mode Jacobian: ~2 minutes on 2 cores (-m slow)
def test_sample_on_the_built_in_0d_case(tmp_path):
    """The built-in 0D case (calibration/c_volume_cuff) fitted and sampled as `organtwin calibrate --sample` does it
    (`sample_calibration`, `write_calibration` with the samples, `posterior_pictures`), with a handful of draws (not
    converged, and said so): the files and sections they make; RA e_active, which the data say little about, is
    profiled."""
    from organtwin.io import load_calibration_case, run_calibration, write_calibration
    from organtwin.io._calibration import sample_calibration
    from organtwin.viz import posterior_pictures

    folder = ROOT / "calibration/c_volume_cuff"
    truth = json.loads((folder / "truth.json").read_text())
    outcome = run_calibration(
        load_calibration_case(folder / "case.toml"), progress=False, truth=truth, say=lambda *a: None
    )
    samples = sample_calibration(outcome, draws=16, warmup=8, say=lambda *a: None)
    post = samples.posterior
    assert post.draws.shape == (4, 4, 4) and np.all(np.isfinite(post.draws))
    assert post.result == RESULTS.sampling_not_converged and "not converged" in post.message
    out = tmp_path / "fit"
    draw = lambda folder: posterior_pictures(samples, folder, truth=truth, laplace_sd=outcome.report.sd)
    write_calibration(outcome, out, pictures=draw, samples=samples)
    with np.load(out / "posterior.npz") as z:
        assert z["draws"].shape == (4, 4, 4)
        assert list(z["units"]) == ["mmHg/mL", "mmHg·s/mL", "mL/mmHg", "mmHg/mL"]
    rep = json.loads((out / "report.json").read_text())
    e = rep["posterior"]["parameters"]["circulation.model.blocks.LV.e_active"]
    for key in ("laplace_68", "laplace_95", "credible_68", "credible_95", "rhat", "ess_bulk", "ess_tail", "unit"):
        assert key in e
    assert e["credible_95"][0] <= e["credible_68"][0] <= e["credible_68"][1] <= e["credible_95"][1]
    assert rep["posterior"]["draws"] == 16 and rep["posterior"]["chains"] == 4
    assert set(rep["posterior"]["profiles"]) == set(rep["not_identified"]) and rep["not_identified"]
    assert json.loads((out / "fit.json").read_text())["posterior"]["draws"] == 16
    assert "R-hat" in (out / "summary.txt").read_text()
    assert (out / "posterior_corner.png").stat().st_size > 10_000 and (out / "profiles.png").exists()

"""Coverage of the calibration's intervals (issue 26, item 3), the small version of benchmarks/calibrate_coverage.py:
the coverage arithmetic on known answers, a linear-Gaussian toy whose Laplace intervals must cover at their nominal
rate over many cheap noise draws (one compiled fit reused for every draw), and (``slow``: two compilations through
the eikonal) an eikonal fit on a deliberately coarse slab where plain Laplace misses the truth (mesh bias) while
Laplace + the discretisation term covers it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import ep
from organtwin.calibrate import (
    ActivationMap,
    ActivationTimeLoss,
    Bounded,
    FreeParameter,
    FreeParameters,
    Term,
    Unbounded,
    combine_sd,
    joint_residuals,
    refine_mesh,
)
from organtwin.calibrate._coverage import (
    NOMINAL,
    compiled_refit,
    coverage,
    coverage_rows,
    laplace_summary,
    symmetric_intervals,
)
from organtwin.mesh import choose_fibres, slab_mesh


def test_coverage_counts_hits_misses_and_failed_draws():
    lo = np.array([[-1.0, 0.5], [0.5, -2.0], [np.nan, -1.0], [-0.1, 0.0]])
    hi = np.array([[1.0, 2.0], [2.0, 2.0], [1.0, 1.0], [0.1, 0.0]])
    p, se = coverage(np.zeros(2), lo, hi)
    np.testing.assert_allclose(p, [0.5, 0.75])  # the NaN bound (a failed fit) is a miss; a closed bound holds 0
    np.testing.assert_allclose(se, np.sqrt(p * (1 - p) / 4))
    rows = coverage_rows(["a", "b"], [0.0, 0.0], [[0.5, 1.0], [-1.5, 0.0]], [[1.0, 0.5], [1.0, 0.5]])
    assert rows[0]["cover_68"] == 0.5 and rows[0]["cover_95"] == 1.0  # |0.5| <= 1 SD, |1.5| <= 1.96 SD
    assert rows[1]["cover_68"] == 0.5 and rows[1]["cover_95"] == 0.5  # 2 SD out, then exact
    assert rows[0]["mean_abs_bias_over_sd"] == pytest.approx(1.0) and rows[1]["mean_abs_bias_over_sd"] == 1.0
    iv = symmetric_intervals([1.0], [2.0])
    assert iv["68"][0][0] == -1.0 and iv["95"][1][0] == pytest.approx(1.0 + 1.959964 * 2)


def test_linear_gaussian_laplace_intervals_cover_at_the_nominal_rate():
    """y = A θ + N(0, σ²): the Laplace SD is the exact posterior SD (up to the fitted noise scale, max(1, χ²/dof),
    which can only widen it), so over 300 draws the coverage is nominal within 4 binomial SEs (plus the scale's small
    widening at 68 %). One compiled fit reused for every draw."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        m, n, sigma = 30, 300, 0.3
        A = jnp.asarray(np.column_stack([np.ones(m), np.linspace(-1, 1, m)]))
        truth = np.array([0.7, -1.3])
        model = {"theta": jnp.zeros(2)}
        free = FreeParameters([FreeParameter("theta", Unbounded())], model)
        residuals_of = lambda model, y: (A @ model["theta"] - y) / sigma
        ys = jnp.asarray(np.asarray(A) @ truth + sigma * rng.standard_normal((n, m)))
        fit = compiled_refit(residuals_of, free, max_steps=20)
        outs = [fit(jnp.zeros(2), model, ys[i]) for i in range(n)]
        assert all(o.ok for o in outs)
        ls = [laplace_summary(o, free) for o in outs]
    x = np.stack([s.values for s in ls])
    sd = np.stack([s.sd for s in ls])
    exact_sd = sigma * np.sqrt(np.diag(np.linalg.inv(np.asarray(A).T @ np.asarray(A))))
    assert np.all(sd >= exact_sd * (1 - 1e-9)) and np.all(np.median(sd, axis=0) < 1.05 * exact_sd)
    x_exact = np.linalg.lstsq(np.asarray(A), np.asarray(ys).T, rcond=None)[0].T
    np.testing.assert_allclose(x, x_exact, atol=1e-8)
    rows = coverage_rows(["intercept", "slope"], truth, x, sd)
    for r in rows:
        for k in ("68", "95"):
            se = np.sqrt(NOMINAL[k] * (1 - NOMINAL[k]) / n)
            print(f"{r['parameter']}: {k} % coverage {r[f'cover_{k}']:.3f} (nominal {NOMINAL[k]:.3f} ± {se:.3f})")
            assert abs(r[f"cover_{k}"] - NOMINAL[k]) < 4 * se + (0.02 if k == "68" else 0.0)
        assert 0.7 < r["mean_abs_bias_over_sd"] < 0.9  # E|z| = 0.798 for a standard normal


SIZE, TRUE_V, NOISE = (8.0, 4.0, 1.0), 0.6, 0.1  # mm, m/s, ms


def _slab(h):
    return choose_fibres(slab_mesh(SIZE, h), "none", source="test", needs_fibres=False)[0]


def _problem(mesh, amap):
    model = {"tissue": ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))}
    free = FreeParameters([FreeParameter("tissue.velocity[0, 0]", Bounded(0.2, 1.5))], model)
    loss = ActivationTimeLoss.from_map(mesh, amap, fit_offset=False, noise_sd=NOISE)
    site = (ep.EikonalSite(np.zeros(3), 0.0, radius=0.0),)
    sim = lambda m: {"act": ep.simulate_eikonal(m["tissue"], site, forward_mode=True).activation}
    residuals_of = lambda model, measured: joint_residuals(
        [Term("map", ActivationTimeLoss(loss.nodes, loss.weights, measured, loss.distance_mm, False, NOISE), _act)],
        sim,
    )(model)
    return model, free, residuals_of, loss


def _act(s):
    return s["act"]


@pytest.mark.slow
def test_on_a_coarse_mesh_laplace_misses_and_laplace_plus_discretisation_covers():
    """Slow (about 45 s of CPU, measured: two compilations of a Levenberg–Marquardt fit through the forward-mode
        eikonal, the coarse and the refined slab's; the draws themselves take milliseconds each).

    Data from the exact solution (a point source at a corner of an isotropic slab: t = |x| / v) at 150 surface
        nodes of a fine slab, 6 noise draws of 0.1 ms; fitted on the slab at h = 1 mm (one compiled fit for every draw),
        the discretisation term from the re-fit at h/2 (one compiled re-fit). The coarse mesh biases the velocity by
        several statistical SDs, so plain Laplace's 95 % interval misses in most draws (its coverage is computed and
        printed: that is the point of the term); Laplace + discretisation covers the truth in at least 5 of 6."""
    with jax.enable_x64(True):
        fine = _slab(0.5)
        exact = np.linalg.norm(np.asarray(fine.points), axis=1) / TRUE_V
        clean = ActivationMap.synthetic(fine, exact, 150, seed=3)
        coarse = _slab(1.0)
        model, free, residuals_of, loss = _problem(coarse, clean)
        model2, free2, residuals_of2, loss2 = _problem(refine_mesh(coarse), clean)
        fit = compiled_refit(residuals_of, free, max_steps=20)
        refit = compiled_refit(residuals_of2, free2, max_steps=5, rtol=1e-8, atol=1e-8)
        u0 = jnp.asarray(free.pack(model))
        vals, sds, totals = [], [], []
        for seed in range(6):
            y = jnp.asarray(clean.times_ms + np.random.default_rng(100 + seed).normal(0, NOISE, clean.n_points))
            out = fit(u0, model, y)
            s = laplace_summary(out, free)
            out2 = refit(out.u, model2, y)
            assert bool(out.ok) and bool(out2.ok)
            vals.append(s.values)
            sds.append(s.sd)
            totals.append(combine_sd(s.sd, np.asarray(out2.values) - np.asarray(out.values)))
    laplace_rows = coverage_rows(["v"], [TRUE_V], vals, sds)[0]
    disc_rows = coverage_rows(["v"], [TRUE_V], vals, totals)[0]
    print(
        f"Laplace 95 % coverage {laplace_rows['cover_95']:.2f}, |bias|/SD {laplace_rows['mean_abs_bias_over_sd']:.1f}"
    )
    print(
        f"Laplace + disc 95 % coverage {disc_rows['cover_95']:.2f}, |bias|/SD {disc_rows['mean_abs_bias_over_sd']:.2f}"
    )
    assert laplace_rows["mean_abs_bias_over_sd"] > 3  # the mesh bias is several statistical SDs
    assert laplace_rows["cover_95"] <= 0.5
    assert disc_rows["cover_95"] >= 5 / 6 and disc_rows["mean_abs_bias_over_sd"] < 2

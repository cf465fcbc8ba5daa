"""Activation-map fits: surface projection, the activation-time loss, Adam."""

import numpy as np
import pytest

from organtwin import ep
from organtwin.calibrate import (
    ActivationMap,
    ActivationTimeLoss,
    Bounded,
    CalibrationError,
    FreeParameter,
    FreeParameters,
    Term,
    fit_adam,
    fit_least_squares,
    fit_report,
    joint_residuals,
    project_onto_surface,
)
from organtwin.mesh import read_mesh


def test_projection_finds_the_foot_point_on_a_triangle_surface():
    # the unit square z = 0 in two triangles; points above, beside and below it
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    q = np.array([[0.25, 0.5, 2.0], [0.9, 0.2, -0.5], [2.0, 0.5, 0.0], [-1.0, -1.0, 1.0]])
    nodes, w, d = project_onto_surface(pts, tri, q)
    foot = np.einsum("mk,mkj->mj", w, pts[nodes])
    np.testing.assert_allclose(foot, [[0.25, 0.5, 0], [0.9, 0.2, 0], [1.0, 0.5, 0], [0, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(d, [2.0, 0.5, 1.0, np.sqrt(3.0)], atol=1e-12)
    assert np.all(w >= -1e-12) and np.allclose(w.sum(1), 1.0)


def test_a_volume_map_is_interpolated_in_its_tets_and_outside_points_are_projected():
    """Points inside the tissue (a map made on all nodes of another mesh) take the value of the field in their tet, not
    of the boundary nearest to them: a linear field is reproduced exactly; points outside are projected as before."""
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((10.0, 6.0, 4.0), 1.0)
    field = 2.0 * mesh.points[:, 0] - 1.5 * mesh.points[:, 1] + 0.5 * mesh.points[:, 2]  # ms, linear
    rng = np.random.default_rng(0)
    inside = rng.uniform([0.5, 0.5, 0.5], [9.5, 5.5, 3.5], (200, 3))  # >= 0.5 mm deep
    outside = np.array([[5.0, 3.0, 6.0], [-2.0, 3.0, 2.0]])  # 2 mm above, 2 mm beside
    pts = np.vstack([inside, outside])
    amap = ActivationMap(pts, np.zeros(len(pts)), "volume map")
    loss = ActivationTimeLoss.from_map(mesh, amap, fit_offset=False)
    pred = np.asarray(loss.predicted(field))
    lin = 2.0 * pts[:, 0] - 1.5 * pts[:, 1] + 0.5 * pts[:, 2]
    np.testing.assert_allclose(pred[:200], lin[:200], atol=1e-9)
    np.testing.assert_allclose(loss.distance_mm[:200], 0.0)
    np.testing.assert_allclose(loss.distance_mm[200:], [2.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(pred[200:], [2 * 5 - 1.5 * 3 + 0.5 * 4, 2 * 0 - 1.5 * 3 + 0.5 * 2], atol=1e-9)


@pytest.fixture(scope="module")
def synthetic_map():
    """Truth: LV 0.6, RV 0.4 m/s (isotropic), two sites; 400 points on the surface, 1 mm off it, times shifted by
    +17 ms (a map's arbitrary reference) with 1 ms noise."""
    mesh = read_mesh("meshes/biv.vtu")
    tissue = ep.EikonalTissue.from_mesh(mesh, {1: ep.ConductionVelocity(0.6), 2: ep.ConductionVelocity(0.4)})
    sites = (ep.EikonalSite((0.0, 0.0, -60.0), radius=5.0), ep.EikonalSite((0.0, -25.0, -25.0), 5.0, radius=5.0))
    act = ep.simulate_eikonal(tissue, sites).activation
    amap = ActivationMap.synthetic(mesh, act, 400, off_surface_mm=1.0, offset_ms=17.0, noise_ms=1.0, seed=3)
    return mesh, tissue, sites, amap


def _loss_setup(synthetic_map):
    mesh, tissue, sites, amap = synthetic_map
    loss = ActivationTimeLoss.from_map(mesh, amap)
    start = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))
    free = FreeParameters(
        [FreeParameter("velocity[0, 0]", Bounded(0.1, 2.0)), FreeParameter("velocity[1, 0]", Bounded(0.1, 2.0))], start
    )
    return loss, start, free, sites


@pytest.mark.slow  # 26 s (issue 19 suite time): fit_adam's steps run on a toy in test_calibrate_outcomes, the eikonal's
# reverse-mode gradient it follows is checked in test_eikonal (forward vs reverse vs differences) and test_ecg
def test_adam_lowers_the_activation_loss(synthetic_map):
    loss, start, free, sites = _loss_setup(synthetic_map)
    res = fit_adam(
        lambda t: loss(ep.simulate_eikonal(t, sites).activation),
        free,
        start,
        learning_rate=0.05,
        steps=40,
        progress=False,
    )
    assert res.history[-1] < 0.2 * res.history[0]
    assert float(res.values["velocity[0, 0]"]) == pytest.approx(0.6, rel=0.1)
    assert float(res.values["velocity[1, 0]"]) == pytest.approx(0.4, rel=0.1)
    assert float(loss.rmse(ep.simulate_eikonal(res.model, sites).activation)) < 3.0  # ms


def test_a_map_far_from_the_mesh_is_a_one_line_error(synthetic_map):
    mesh, _, _, amap = synthetic_map
    moved = ActivationMap(amap.points_mm * 1000.0, amap.times_ms, "lat.csv")  # in µm by mistake
    with pytest.raises(CalibrationError, match="lat.csv: point 0 is .* mm from the mesh surface") as e:
        ActivationTimeLoss.from_map(mesh, moved)
    assert "\n" not in str(e.value)


def test_levenberg_marquardt_with_forward_mode_recovers_the_velocities_in_few_steps(synthetic_map):
    loss, start, free, sites = _loss_setup(synthetic_map)
    term = Term("map", loss, lambda t: ep.simulate_eikonal(t, sites, forward_mode=True).activation)
    res = fit_least_squares(joint_residuals([term]), free, start, max_steps=20, progress=False)
    # Gauss-Newton on 2 parameters: converges where Adam needs tens of steps; truth 0.6 / 0.4 m/s, 1 ms noise on
    # 400 points gives a velocity SD well under 1%, so 5% is the mesh/interpolation error budget
    assert res.steps <= 20 and "converged" in res.message
    assert float(res.values["velocity[0, 0]"]) == pytest.approx(0.6, rel=0.05)
    assert float(res.values["velocity[1, 0]"]) == pytest.approx(0.4, rel=0.05)
    # the objective is half the whitened sum of squares: ~ m/2 at the noise level (1 ms on 400 points)
    assert res.loss < 0.5 * 400 * 2.0**2
    assert res.history[-1] < res.history[0]
    # the report: both velocities identified (400 points at 1 ms: relative SD well under 5%), the truth inside
    # a few SDs plus the discretisation error, activation RMSE at the noise level
    rep = fit_report(res, free, start, [term], truth={"velocity[0, 0]": 0.6, "velocity[1, 0]": 0.4})
    assert rep.identified == ["velocity[0, 0]", "velocity[1, 0]"] and not rep.flat_directions
    assert np.all(rep.relative_sd() < 0.02)
    assert rep.terms["map"]["rmse_ms"] < 3.0 and rep.terms["map"]["n_points"] == 400
    assert abs(rep.terms["map"]["offset_ms"] + 17.0) < 3.0  # the map's +17 ms reference, removed


@pytest.mark.slow  # ~1 min on 2 cores; multi-start as one vmapped job is also covered by test_calibrate_case.py (LM)
def test_multi_start_adam_runs_the_starts_together_and_keeps_the_best(synthetic_map):
    loss, start, free, sites = _loss_setup(synthetic_map)
    u0 = np.stack([np.asarray(free.pack(start)), np.asarray(free.pack(start)) + np.array([1.0, -1.0])])
    res = fit_adam(
        lambda t: loss(ep.simulate_eikonal(t, sites).activation),
        free,
        start,
        learning_rate=0.05,
        steps=30,
        u0=u0,
        progress=False,
    )
    assert res.history.shape == (31, 2) and res.starts_u.shape == (2, 2) and res.starts_loss.shape == (2,)
    assert res.loss == pytest.approx(float(np.min(res.starts_loss)))
    assert np.all(res.history[-1] < res.history[0])


def test_a_start_of_the_wrong_shape_is_a_one_line_error(synthetic_map):
    loss, start, free, sites = _loss_setup(synthetic_map)
    with pytest.raises(CalibrationError, match=r"u0 has shape \(3,\)"):
        fit_adam(
            lambda t: loss(ep.simulate_eikonal(t, sites).activation),
            free,
            start,
            u0=np.zeros(3),
            steps=1,
            progress=False,
        )


def test_adam_calibrates_regional_monodomain_conductivities():
    """The monodomain model (Mitchell-Schaeffer strand, two regions) fitted by name: "sigma[r, 0]" (region r's
    longitudinal conductivity, S/m) from activation times at 40 nodes (0.05 ms noise), reverse mode through the
    checkpointed time loop, Adam with a cosine schedule. Truth 0.13 / 0.09 S/m from 0.1 / 0.1: within 5 % (the
    activation times' sensitivity, ~1/sqrt(sigma), makes that ~0.1 ms of misfit, twice the noise)."""
    import jax.numpy as jnp
    import optax

    from organtwin.calibrate import MeasurementLoss, Positive
    from organtwin.ionic import MitchellSchaeffer2003
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((6.0, 0.4, 0.4), 0.2)
    cx = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(cx < 3.0, 1, 2))

    def tissue(s1, s2):
        return ep.Tissue.from_mesh(
            mesh,
            {1: ep.Conductivity(s1, 0.02), 2: ep.Conductivity(s2, 0.03)},
            MitchellSchaeffer2003(),
            dtype=jnp.float64,
        )

    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.6, 1, 1)), 50_000.0, duration=2.0)
    probe = np.arange(0, mesh.n_nodes, 7)

    def run(t):
        return ep.simulate_monodomain(t, [stim], 28.0, 0.02).activation[probe]

    data = np.asarray(run(tissue(0.13, 0.09))) + np.random.default_rng(0).normal(0, 0.05, probe.size)
    loss = MeasurementLoss(data, 0.05)
    start = tissue(0.1, 0.1)
    free = FreeParameters(
        [FreeParameter("sigma[0, 0]", Positive(0.1)), FreeParameter("sigma[1, 0]", Positive(0.1))], start
    )
    res = fit_adam(
        lambda t: loss(run(t)),
        free,
        start,
        learning_rate=optax.cosine_decay_schedule(0.1, 40),
        steps=40,
        progress=False,
    )
    assert float(res.values["sigma[0, 0]"]) == pytest.approx(0.13, rel=0.05)
    assert float(res.values["sigma[1, 0]"]) == pytest.approx(0.09, rel=0.05)
    assert res.history[-1] < 0.05 * res.history[0]

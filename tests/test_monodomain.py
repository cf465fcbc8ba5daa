"""Monodomain solver (organtwin.ep): units, stability limit, plane-wave convergence in dx and dt, Godunov vs Strang,
explicit vs theta scheme, exact activation interpolation, probes and snapshots, regional models, constant memory,
float32 vs float64, chunking and restarts.

Strands: `slab_mesh((L, h, h), h)` is one Kuhn-split cell across. For a field that depends on x only, the P1 stiffness
with the lumped mass on this mesh reduces exactly to the 1D three-point finite-difference Laplacian, so a plane wave along
the strand is the 1D monodomain problem and its conduction velocity converges like dx² (spatial) and dt (time: forward
Euler / Rush–Larsen reaction steps are first order, so Strang splitting does not raise the order).
"""

import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

import organtwin.ep as ep
from organtwin import MeshError
from organtwin.ep._splitting import _stiffness, host_stability_limit
from organtwin.ionic import AbstractIonicModel, MitchellSchaeffer2003
from organtwin.ionic._base import param
from organtwin.mesh import lumped_mass, slab_mesh

SIGMA = 0.1334  # S/m, the Niederer longitudinal monodomain conductivity: D = 100 * 0.1334 / 140 = 0.0953 mm²/ms


def strand(dx, length=9.6):
    return slab_mesh((length, dx, dx), dx)


@functools.cache
def _strand_run(dx, dt, splitting=ep.Splitting.GODUNOV, diffusion=ep.ExplicitLumped(), t1=28.0):
    """Activation times and x coordinates on a Mitchell–Schaeffer strand of 9.6 mm (float64), cached across tests.

    The options are chosen so that most runs share compiled code: dt is a traced value and 28 ms is a whole number of
    200-step chunks for every dt used here.
    """
    mesh = strand(dx)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.8, 1, 1)), 50_000.0, duration=2.0)
    res = ep.simulate_monodomain(tissue, [stim], t1, dt, splitting=splitting, diffusion=diffusion)
    return np.asarray(res.activation), mesh.points[:, 0], res


def strand_cv(dx, dt, *, x=(2.4, 7.2), **kw):
    """Conduction velocity (mm/ms = m/s) between x[0] and x[1] on the strand."""
    act, px, _ = _strand_run(dx, dt, **kw)
    ta, tb = (act[np.abs(px - xi) < 1e-9].mean() for xi in x)
    return (x[1] - x[0]) / (tb - ta)


def observed_order(values, ratio=2.0):
    """Order p from successive differences of a sequence computed with step h, h/2, h/4, ... (log-log fit)."""
    d = np.abs(np.diff(values))
    k = np.arange(d.size)
    slope = np.polyfit(k * np.log(1 / ratio), np.log(d), 1)[0]
    return slope


# ================================================================================================== tissue set-up
def test_diffusion_units():
    mesh = strand(0.5, 2.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.1334, 0.0176), MitchellSchaeffer2003())
    D = np.asarray(t.diffusion_tensors())
    # D[mm²/ms] = 100 sigma[S/m] / (chi[1/mm] Cm[µF/cm²]); fibres along x.
    np.testing.assert_allclose(D[:, 0, 0], 100 * 0.1334 / 140, rtol=1e-12)
    np.testing.assert_allclose(D[:, 1, 1], 100 * 0.0176 / 140, rtol=1e-12)
    np.testing.assert_allclose(D[:, 0, 1], 0, atol=1e-15)
    mono = ep.Conductivity.harmonic_mean(ep.Conductivity(0.17, 0.019), ep.Conductivity(0.62, 0.24))
    assert float(mono.sigma_l) == pytest.approx(0.1334, abs=1e-4)  # REFERENCE.md: 0.1334 and 0.0176 S/m
    assert float(mono.sigma_t) == pytest.approx(0.0176, abs=1e-4)


def test_fibres_required_when_anisotropic():
    mesh = strand(0.5, 2.0).replace(fibres=None)
    with pytest.raises(MeshError, match="needs fibre directions"):
        ep.Tissue.from_mesh(mesh, ep.Conductivity(0.13, 0.02), MitchellSchaeffer2003())
    ep.Tissue.from_mesh(mesh, ep.Conductivity(0.13), MitchellSchaeffer2003())  # isotropic: fine without fibres
    with pytest.raises(ValueError, match=r"no ionic model given for region\(s\) \[2\]"):
        two = strand(0.5, 2.0).replace(regions=np.repeat([1, 2], 12))
        ep.Tissue.from_mesh(two, ep.Conductivity(0.13), {1: MitchellSchaeffer2003()})
    with pytest.raises(ValueError, match="sheet"):
        ep.Tissue.from_mesh(strand(0.5, 2.0), ep.Conductivity(0.13, 0.02, 0.01), MitchellSchaeffer2003())


def test_orthotropic_tensor():
    mesh = strand(0.5, 2.0)
    mesh = mesh.replace(sheets=np.tile([0.0, 1.0, 0.0], (mesh.n_cells, 1)))
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.14, 0.07, 0.028), MitchellSchaeffer2003())
    D = np.asarray(t.diffusion_tensors())[0]
    np.testing.assert_allclose(np.diag(D), np.array([0.14, 0.07, 0.028]) * 100 / 140, rtol=1e-6)


def test_regional_models_and_border_rule():
    # Two halves at x = 2 (a node plane). Nodes inside a half take its model; a node on the plane takes the region
    # holding the larger share of its volume (ties: the first region), computed here by brute force.
    mesh = slab_mesh((4.0, 0.5, 0.5), 0.25)
    cx = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(cx < 2.0, 1, 2))
    slow = MitchellSchaeffer2003(tau_close=60.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), {1: MitchellSchaeffer2003(), 2: slow}, dtype=jnp.float64)
    px = mesh.points[:, 0]
    vol = mesh.cell_volumes()
    expected = np.where(px < 2.0, 0, 1)
    for node in np.flatnonzero(np.abs(px - 2.0) < 1e-9):
        cells = np.flatnonzero(np.any(mesh.tets == node, axis=1))
        share = [vol[cells][mesh.regions[cells] == r].sum() for r in (1, 2)]
        expected[node] = 0 if share[0] >= share[1] else 1
    assert 0 < expected[np.abs(px - 2.0) < 1e-9].sum() < np.sum(np.abs(px - 2.0) < 1e-9)  # both outcomes occur
    np.testing.assert_array_equal(np.asarray(t.model_nodes[0]), np.flatnonzero(expected == 0))
    np.testing.assert_array_equal(np.asarray(t.model_nodes[1]), np.flatnonzero(expected == 1))
    # Equal models are merged into one group.
    same = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), {1: MitchellSchaeffer2003(), 2: MitchellSchaeffer2003()})
    assert len(same.models) == 1
    # Each region its own APD: tau_close 150 vs 60 ms. Alone, this strand has APD 284 ms (150) and 127 ms (60) (measured
    # with uniform tissue); coupled, electrotonic currents across the border pull the two towards each other (the
    # space constant is millimetres), so the halves sit strictly between those values, apart by tens of ms.
    stim = ep.Stimulus(ep.NamedSurface("x0"), 80_000.0, duration=2.0)
    res = ep.simulate_monodomain(t, [stim], 320.0, 0.05, record=ep.Record(repolarisation=True))
    apd = np.asarray(res.apd)
    left, right = apd[px < 1.0].mean(), apd[px > 3.0].mean()
    assert 127 < right < left - 25 < 284, (left, right)


# ================================================================================================== stability limit
def test_stability_limit_matches_dense_eigenvalue():
    mesh = slab_mesh((2.0, 1.0, 0.5), 0.25)
    mesh = mesh.replace(points=mesh.points + 0.03 * np.sin(7 * mesh.points[:, [1, 2, 0]]))  # a generic mesh
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.1334, 0.0176), MitchellSchaeffer2003(), dtype=jnp.float64)
    K = np.asarray(_stiffness(t).todense())
    m = np.asarray(lumped_mass(t.geometry))
    lam = np.linalg.eigvals(K / m[:, None]).real.max()
    exact = 2 / lam
    ops = ep.ExplicitLumped().operators(t, 0.01)
    assert host_stability_limit(t, ops, 0.01) == pytest.approx(exact, rel=2e-3)
    assert host_stability_limit(t, ops, 0.01) <= exact
    assert float(ep.explicit_stability_limit(t)) == pytest.approx(exact, rel=2e-2)
    assert float(ep.explicit_stability_limit(t)) <= exact


def test_too_large_dt_is_a_one_line_error():
    mesh = slab_mesh((2.0, 1.0, 0.6), 0.2)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA, 0.0176), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Sphere((0, 0, 0), 0.5), 50_000.0)
    with pytest.raises(ValueError) as err:
        ep.simulate_monodomain(t, [stim], 2.0, 0.5)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("dt 0.5 ms exceeds the explicit stability limit") and "diffusion=ThetaScheme()" in msg
    limit = float(msg.split("limit ")[1].split(" ms")[0])
    # Just below the limit it runs; above it (check disabled) forward Euler blows up: the highest mode grows by
    # |1 - dt λ_max| = 2 per step at 1.5x the limit.
    ep.simulate_monodomain(t, [stim], 20.0, 0.95 * limit)
    with pytest.raises(RuntimeError, match="diverged"):
        ep.simulate_monodomain(t, [stim], 20.0, 1.5 * limit, diffusion=ep.ExplicitLumped(check_stability=False))


# ================================================================================================== convergence
def test_plane_wave_cv_converges_second_order_in_dx():
    # dt fixed (below the explicit limit of the finest strand): the dt error is the same at every dx and cancels in the
    # differences. Measured CVs: 0.32597, 0.33102, 0.33288, 0.33334 m/s; differences shrink by ~4 per halving.
    cvs = [strand_cv(dx, 0.0035) for dx in (0.4, 0.2, 0.1, 0.05)]
    p = observed_order(cvs)
    assert 1.7 < p < 2.3, (cvs, p)
    extrapolated = cvs[-1] + (cvs[-1] - cvs[-2]) / (2**p - 1)
    assert abs(cvs[-1] - extrapolated) / extrapolated < 5e-4


def test_cv_converges_first_order_in_dt_godunov_and_strang():
    # Both splittings are first order overall (first-order reaction integrator) and tend to the same CV.
    dts = (0.014, 0.007, 0.0035)
    god = [strand_cv(0.1, dt) for dt in dts]
    strang = [strand_cv(0.1, dt, splitting=ep.Splitting.STRANG) for dt in dts]
    for seq in (god, strang):
        assert 0.7 < observed_order(seq) < 1.3, seq
    lim_g = god[-1] + (god[-1] - god[-2])
    lim_s = strang[-1] + (strang[-1] - strang[-2])
    assert abs(lim_g - lim_s) / lim_g < 1e-4  # the same dt -> 0 limit
    assert abs(god[0] - strang[0]) / god[0] < 2e-3  # and close at every dt


def test_explicit_and_theta_agree():
    ref, px, _ = _strand_run(0.1, 0.007)
    lumped, _, res_l = _strand_run(0.1, 0.007, diffusion=ep.ThetaScheme(mass=ep.Mass.LUMPED))
    consistent, _, _ = _strand_run(0.1, 0.007, diffusion=ep.ThetaScheme())
    # Same spatial operator, different time discretisation of the diffusion (forward Euler vs Crank–Nicolson): O(dt)
    # apart, ~0.07% of the CV at dt 0.007 ms (0.02 ms of arrival time at the far end).
    np.testing.assert_allclose(lumped, ref, rtol=1e-3, atol=0.01)
    # The consistent mass changes the spatial discretisation (O(dx²), here < 1% of the arrival time at 9.6 mm).
    np.testing.assert_allclose(consistent, ref, rtol=0.01, atol=0.1)
    assert 1 <= int(res_l.cg_iterations) / res_l.n_steps < 20
    # The theta scheme takes steps far above the explicit limit (0.016 ms here) and stays close.
    large, _, _ = _strand_run(0.1, 0.035, diffusion=ep.ThetaScheme())
    np.testing.assert_allclose(large, consistent, rtol=0.02, atol=0.2)


def test_theta_cg_failure_raises():
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 50_000.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        ep.simulate_monodomain(t, [stim], 1.0, 0.1, diffusion=ep.ThetaScheme(rtol=1e-14, max_steps=1))


# ================================================================================================== recording
class _Passive(AbstractIonicModel):
    """A membrane with no ionic current and no states: V is the integral of the stimulus."""

    V0: Array = param(-80.0)
    s0: Array = param(())

    state_names: ClassVar[tuple[str, ...]] = ()
    gate_indices: ClassVar[tuple[int, ...]] = ()
    default_dt: ClassVar[float] = 0.1
    default_stimulus: ClassVar[tuple[float, float]] = (1.0, 1.0)
    citation: ClassVar[str] = "test model"

    def derivatives(self, V, s, istim=0.0):
        return jnp.zeros_like(V), jnp.zeros((0,) + jnp.shape(V), jnp.result_type(V))

    def gate_inf_tau(self, V, s):
        z = jnp.zeros((0,) + jnp.shape(V), jnp.result_type(V))
        return z, z


def test_activation_interpolation_is_exact_for_a_linear_ramp():
    # V(t) = -80 + 7.3 t everywhere (uniform: no diffusion current), crossing 0 mV at 80 / 7.3 = 10.9589... ms,
    # in the middle of a step of 0.05 ms; linear interpolation in time recovers it to round-off.
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), _Passive(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((-1, -1, -1), (5, 5, 5)), 7.3, duration=100.0, units=ep.StimulusUnits.PER_CAPACITANCE)
    rec = ep.Record(snapshots_at=(5.0, 0.0), probes=[[0.3, 0.2, 0.1]], probe_every=20)
    res = ep.simulate_monodomain(t, [stim], 15.0, 0.05, record=rec)
    np.testing.assert_allclose(np.asarray(res.activation), 80 / 7.3, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.snapshot_times), [5.0, 0.0])
    np.testing.assert_allclose(np.asarray(res.snapshots[0]), -80 + 7.3 * 5.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.snapshots[1]), -80.0)
    np.testing.assert_allclose(np.asarray(res.probe_times), np.arange(16) * 1.0)
    np.testing.assert_allclose(np.asarray(res.probes[:, 0]), -80 + 7.3 * np.arange(16), rtol=1e-12)
    # The same rule offline on samples at uneven times.
    ts = np.sort(np.random.default_rng(0).uniform(0, 20, 37))
    assert float(ep.first_crossing(ts, -80 + 7.3 * ts)) == pytest.approx(80 / 7.3, rel=1e-12)
    assert float(ep.first_crossing(ts, 10 - 7.3 * ts, 0.0, upward=False)) == pytest.approx(10 / 7.3, rel=1e-12)
    assert np.isinf(float(ep.first_crossing(ts, -90 + 0 * ts)))


def test_probes_interpolate_and_snapshots_match():
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 80_000.0)
    node = 17
    mid = 0.5 * (mesh.points[4] + mesh.points[5])  # middle of an edge along x
    rec = ep.Record(snapshots_at=(6.0,), probes=[mesh.points[node], mid], probe_every=10)
    res = ep.simulate_monodomain(t, [stim], 8.0, 0.02, record=rec)
    k = int(np.argmin(np.abs(np.asarray(res.probe_times) - 6.0)))
    snap = np.asarray(res.snapshots[0])
    assert float(res.probe_times[k]) == pytest.approx(6.0)
    assert float(res.probes[k, 0]) == pytest.approx(snap[node], rel=1e-12)
    assert float(res.probes[k, 1]) == pytest.approx(0.5 * (snap[4] + snap[5]), rel=1e-12)
    with pytest.raises(ValueError, match="outside the mesh"):
        ep.simulate_monodomain(t, [stim], 1.0, 0.02, record=ep.Record(probes=[[10.0, 0, 0]]))


def test_memory_does_not_grow_with_steps():
    # The compiled run's temporary memory for 1k and 16k steps, activation, repolarisation and a probe recorded: only the
    # probe samples (an output: 8 bytes per sample, possibly held twice) grow. (Without probes the two are equal.)
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 50_000.0)

    def temp_bytes(record, t1):
        def run(tissue):
            r = ep.simulate_monodomain(tissue, [stim], t1, 0.01, record=record, chunk_steps=500)
            return r.activation, r.apd, r.probes

        return jax.jit(run).lower(t).compile().memory_analysis().temp_size_in_bytes

    rec = ep.Record(repolarisation=True, probes=[[1.0, 0.1, 0.1]], probe_every=100)
    small, large = temp_bytes(rec, 10.0), temp_bytes(rec, 160.0)
    extra_samples = (16_000 - 1_000) // 100
    assert large - small <= 2 * 8 * extra_samples, (small, large)
    assert small < 100 * 8 * mesh.n_nodes  # some dozens of (nodes,) arrays, nothing per step


def test_float32_agrees_with_float64():
    mesh = strand(0.2, 4.0)
    t64 = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.8, 1, 1)), 50_000.0)
    rec = ep.Record(repolarisation=True)
    r64 = ep.simulate_monodomain(t64, [stim], 300.0, 0.02, record=rec)
    r32 = ep.simulate_monodomain(t64, [stim], 300.0, 0.02, record=rec, dtype=jnp.float32)
    assert r32.activation.dtype == jnp.float32 and r32.final.V.dtype == jnp.float32
    # Round-off in float32 (~1e-7 relative on V ~ 100 mV, over 15,000 steps) moves the crossings by far less than the
    # step: activation within 2e-3 ms (a tenth of dt; measured ~1e-4), repolarisation (a slow downstroke, ~0.5 mV/ms,
    # so a V error ε shifts it by ε / 0.5 ms) within 0.05 ms.
    np.testing.assert_allclose(np.asarray(r32.activation, float), np.asarray(r64.activation), atol=2e-3)
    np.testing.assert_allclose(np.asarray(r32.repolarisation, float), np.asarray(r64.repolarisation), atol=0.05)


def test_progress_chunks_and_restart_give_the_same_run():
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 50_000.0)
    ref = ep.simulate_monodomain(t, [stim], 12.0, 0.01)
    calls = []
    res = ep.simulate_monodomain(t, [stim], 12.0, 0.01, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(200 * k, 1200) for k in range(1, 7)]  # 200-step chunks
    np.testing.assert_array_equal(np.asarray(res.activation), np.asarray(ref.activation))
    np.testing.assert_array_equal(np.asarray(res.final.V), np.asarray(ref.final.V))
    # Other chunk lengths (one with a partial last chunk) give the same run.
    other = ep.simulate_monodomain(t, [stim], 12.0, 0.01, chunk_steps=500)
    np.testing.assert_allclose(np.asarray(other.final.V), np.asarray(ref.final.V), rtol=1e-13, atol=1e-10)
    # Restart: 0 -> 6 ms, then 6 -> 12 ms from the final state, equals 0 -> 12 ms.
    first = ep.simulate_monodomain(t, [stim], 6.0, 0.01)
    second = ep.simulate_monodomain(t, [stim], 12.0, 0.01, initial=first.final)
    assert float(second.final.t) == pytest.approx(12.0)
    np.testing.assert_allclose(np.asarray(second.final.V), np.asarray(ref.final.V), rtol=1e-12, atol=1e-9)
    both = np.where(
        np.isfinite(np.asarray(first.activation)), np.asarray(first.activation), np.asarray(second.activation)
    )
    np.testing.assert_allclose(both, np.asarray(ref.activation), rtol=1e-12)


def test_hot_loop_options_leave_the_result_unchanged():
    # The eager run compiles its time loop with HOT_LOOP_OPTIONS (512-bit vectors, a code-generation preference); the
    # same run inside a user's jit (no options: JAX refuses them on a nested jit) must give the same activation times
    # (the arithmetic is the same; only the vector width of the loops differs: agreement to float64 round-off x steps).
    mesh = strand(0.2, 4.0)
    t = ep.Tissue.from_mesh(mesh, ep.Conductivity(SIGMA), MitchellSchaeffer2003(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.NamedSurface("x0"), 50_000.0)
    eager = ep.simulate_monodomain(t, [stim], 60.0, 0.02).activation
    jitted = jax.jit(lambda tt: ep.simulate_monodomain(tt, [stim], 60.0, 0.02).activation)(t)
    with_options = jax.jit(
        lambda tt: ep.simulate_monodomain(tt, [stim], 60.0, 0.02).activation, compiler_options=ep.HOT_LOOP_OPTIONS
    )(t)
    assert np.all(np.isfinite(np.asarray(eager)))
    np.testing.assert_allclose(np.asarray(eager), np.asarray(jitted), atol=1e-9)
    np.testing.assert_allclose(np.asarray(with_options), np.asarray(jitted), atol=1e-9)

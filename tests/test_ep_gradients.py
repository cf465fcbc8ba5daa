"""Gradients through the monodomain time loop (organtwin.ep) against central finite differences, in float64.

Losses on activation times (linearly interpolated in time, so piecewise smooth in the parameters) and on probe traces,
w.r.t. conductivities per region and per node (the per-cell override), ionic-model parameters and the stimulus strength,
with explicit and theta-scheme diffusion, with and without checkpointing, eagerly and under jit.

Tolerance. The losses are smooth except where a node's threshold crossing moves from one time step to the next (a kink of
the interpolated activation time) or an ionic gate switches (Mitchell–Schaeffer's h gate at v_gate). With a relative FD
step h = 1e-6 such events are rare, the O(h²) truncation error is ~1e-12 relative and the round-off error ~1e-16 |L| / h
~1e-10 relative, so 1e-4 relative agreement is a safe margin that still catches any wrong term (a missing chain-rule
factor, an un-differentiated path: errors of order one). Larger steps (1e-4) hit kinks: they were measured to disagree by a
few percent, which is why the step is small.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import central_differences

import organtwin.ep as ep
from organtwin.ionic import MitchellSchaeffer2003
from organtwin.mesh import slab_mesh

RTOL = 1e-4
H = 1e-6  # relative finite-difference step


@pytest.fixture(scope="module")
def setup():
    mesh = slab_mesh((6.0, 0.4, 0.4), 0.2)  # a strand of 279 nodes, two regions
    cx = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(cx < 3.0, 1, 2))
    tissue = ep.Tissue.from_mesh(
        mesh,
        {1: ep.Conductivity(0.13, 0.02), 2: ep.Conductivity(0.09, 0.03)},
        {1: MitchellSchaeffer2003(), 2: MitchellSchaeffer2003(tau_in=0.35)},
        dtype=jnp.float64,
    )
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.6, 1, 1)), 50_000.0, duration=2.0)
    weights = jnp.asarray(0.5 + mesh.points[:, 0] / 6.0)  # a smooth, non-uniform weighting of the nodes
    return mesh, tissue, stim, weights


def central_fd(f, x, directions):
    """Central differences along each direction, with a step that changes no component by more than H relative."""
    return central_differences(f, x, directions, H)


def assert_close(ad, fd, rtol=RTOL):
    ad, fd = np.asarray(ad, float), np.asarray(fd, float)
    scale = np.max(np.abs(fd))
    np.testing.assert_allclose(ad, fd, rtol=rtol, atol=rtol * 1e-2 * scale)


# ---------------------------------------------------------------------------------------------- per region + ionic
def _unpack(tissue, stim, theta):
    """theta = [sigma table (2 x 2), tau_in and tau_out of both models, stimulus strength / 1e4]."""
    t = eqx.tree_at(lambda t: t.sigma, tissue, theta[:4].reshape(2, 2))
    t = eqx.tree_at(
        lambda t: (t.models[0].tau_in, t.models[0].tau_out, t.models[1].tau_in, t.models[1].tau_out),
        t,
        tuple(theta[4:8]),
    )
    s = eqx.tree_at(lambda s: s.strength, stim, theta[8] * 1e4)
    return t, s


def _theta0(tissue, stim):
    m0, m1 = tissue.models
    return jnp.concatenate(
        [
            tissue.sigma.reshape(-1),
            jnp.stack([m0.tau_in, m0.tau_out, m1.tau_in, m1.tau_out]),
            jnp.atleast_1d(stim.strength / 1e4),
        ]
    ).astype(jnp.float64)


def test_activation_gradient_regions_ionic_stimulus(setup):
    mesh, tissue, stim, w = setup

    def loss(theta, checkpoint=True):
        t, s = _unpack(tissue, stim, theta)
        res = ep.simulate_monodomain(t, [s], 28.0, 0.02, checkpoint=checkpoint)
        return jnp.sum(w * res.activation)

    theta = _theta0(tissue, stim)
    assert np.isfinite(float(loss(theta)))  # every node activates
    g = jax.grad(loss)(theta)
    fd = central_fd(loss, theta, list(np.eye(theta.size)))
    assert_close(g, fd)
    assert np.all(np.asarray(g)[[0, 2]] < 0)  # faster conduction along the fibre: earlier activation
    # jit(grad) (the traced path: stability check inside the computation) is the same computation.
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(loss))(theta)), np.asarray(g), rtol=1e-10)


@pytest.mark.slow
def test_checkpointing_changes_memory_not_values(setup):
    mesh, tissue, stim, w = setup

    def loss(theta, checkpoint, chunk_steps=None):
        t, s = _unpack(tissue, stim, theta)
        res = ep.simulate_monodomain(t, [s], 28.0, 0.02, checkpoint=checkpoint, chunk_steps=chunk_steps)
        return jnp.sum(w * res.activation)

    theta = _theta0(tissue, stim)
    g = jax.grad(loss)(theta, ep.Checkpointing.CHUNKS_AND_STEPS)
    for ckpt, chunk in [(ep.Checkpointing.NONE, None), (ep.Checkpointing.CHUNKS, None), (ep.Checkpointing.CHUNKS, 7)]:
        np.testing.assert_allclose(np.asarray(jax.grad(loss)(theta, ckpt, chunk)), np.asarray(g), rtol=1e-10)


# ---------------------------------------------------------------------------------------------- per node
def test_activation_gradient_per_node_conductivity(setup):
    mesh, tissue, stim, w = setup
    n = mesh.n_nodes
    base = jnp.asarray(tissue.sigma)[jnp.where(jnp.asarray(mesh.points[:, 0]) < 3.0, 0, 1)]  # (nodes, 2)

    def loss(flat):
        t = tissue.with_nodal_conductivity(flat.reshape(n, 2))
        return jnp.sum(w * ep.simulate_monodomain(t, [stim], 28.0, 0.02).activation)

    x = base.reshape(-1)
    g = jax.grad(loss)(x)
    assert g.shape == (2 * n,)
    rng = np.random.default_rng(0)
    dirs = [jnp.asarray(rng.normal(size=2 * n)) * x for _ in range(2)]  # relative perturbations of every node
    dirs.append(jnp.zeros(2 * n).at[2 * 100].set(1.0))  # one node's longitudinal conductivity
    fd = central_fd(loss, x, dirs)
    assert_close([float(jnp.vdot(g, d)) for d in dirs], fd)


# ---------------------------------------------------------------------------------------------- probe traces
def _probe_loss_check(setup, diffusion, dt):
    mesh, tissue, stim, _ = setup
    rec = ep.Record(activation=False, probes=[[2.0, 0.2, 0.2], [4.5, 0.1, 0.3]], probe_every=5)

    def traces(sigma):
        t = eqx.tree_at(lambda t: t.sigma, tissue, sigma.reshape(2, 2))
        return ep.simulate_monodomain(t, [stim], 24.0, dt, record=rec, diffusion=diffusion).probes

    target = traces(tissue.sigma.reshape(-1) * 1.1)  # "data" from faster tissue

    def loss(sigma):
        return jnp.mean(jnp.square(traces(sigma) - target))

    x = tissue.sigma.reshape(-1)
    g = jax.grad(loss)(x)
    fd = central_fd(loss, x, list(np.eye(4)))
    assert_close(g, fd)


def test_probe_trace_gradient(setup):
    _probe_loss_check(setup, ep.ExplicitLumped(), 0.02)


@pytest.mark.slow
def test_probe_trace_gradient_theta_scheme(setup):
    # Through the CG solves (lineax implicit differentiation: one more CG solve per step in the backward pass).
    _probe_loss_check(setup, ep.ThetaScheme(rtol=1e-13, max_steps=500), 0.04)


# ---------------------------------------------------------------------------------------------- through the lookup table
def test_gradient_through_the_gate_table_tentusscher():
    """Ten Tusscher 2006 uses the Rush–Larsen lookup table by default: the table is built from the model's parameters in
    the traced program, so d(loss)/d(parameters of the tabulated gates) flows through it. Checked against central
    differences for a probe-trace loss w.r.t. the conductivity, an I_to s-gate parameter (tabulated) and g_Na (not in the
    table). The interpolation is piecewise linear in V with 0.05 mV pieces: the loss is smooth to the FD step's
    resolution (V moves by ~1e-6 mV), so the same tolerance applies. And the table changes activation by < 1e-3 ms."""
    from organtwin.ionic import TenTusscher2006

    mesh = slab_mesh((3.0, 0.4, 0.4), 0.2)
    tissue = ep.Tissue.from_mesh(mesh, ep.Conductivity(0.1334, 0.0176), TenTusscher2006.epicardial(), dtype=jnp.float64)
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.6, 1, 1)), 50_000.0, duration=2.0)
    rec = ep.Record(probes=np.array([[2.4, 0.2, 0.2]]), probe_every=5)
    kw = dict(diffusion=ep.ThetaScheme(), record=rec)

    def run(theta, lookup=ep.VoltageLookup()):
        t = eqx.tree_at(lambda t: t.sigma, tissue, tissue.sigma.at[0, 0].set(theta[0]))
        t = eqx.tree_at(lambda t: (t.models[0].s_inf_vhalf, t.models[0].g_Na), t, (theta[1], theta[2]))
        return ep.simulate_monodomain(t, [stim], 8.0, 0.02, lookup=lookup, **kw)

    def loss(theta):
        return jnp.mean(run(theta).probes[:, 0] ** 2) / 1e3

    m = tissue.models[0]
    theta = jnp.array([float(tissue.sigma[0, 0]), float(m.s_inf_vhalf), float(m.g_Na)])
    ad = jax.grad(loss)(theta)
    fd = central_fd(loss, theta, np.eye(3))
    assert np.all(np.abs(fd) > 0)
    assert_close(ad, fd)
    exact, tab = run(theta, lookup=None), run(theta)
    act_e, act_t = np.asarray(exact.activation), np.asarray(tab.activation)
    assert np.isfinite(act_e).sum() > 0.5 * act_e.size
    np.testing.assert_allclose(act_t, act_e, atol=1e-3)

"""Virtual cohorts: N models of one network in one compiled solve."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import unchecked

from organtwin._errors import NetworkError
from organtwin.flow import zerod as z


def _cohort_models(n=4):
    rng = np.random.default_rng(1)
    return [
        z.regazzoni2022(params={"LV": {"e_active": 2.75 * f1}, "sys": {"r_ar": 0.8 * f2}}).model
        for f1, f2 in rng.uniform(0.8, 1.2, (n, 2))
    ]


def test_stack_keeps_shared_parameters_once_and_indexes_back():
    models = _cohort_models()
    c = z.Cohort.stack(models)
    assert c.size == 4 and sum(c.stacked) == 2  # only LV e_active and the systemic R differ
    assert c.model.blocks["LV"].e_active.shape == (4,) and c.model.blocks["LA"].e_active.shape == ()
    m2 = c[2]
    assert float(m2.blocks["LV"].e_active) == float(models[2].blocks["LV"].e_active)
    with pytest.raises(NetworkError, match="another network structure"):
        z.Cohort.stack(
            [models[0], z.Network([z.FlowBC("q", 1.0), z.WindkesselRCR("r", 1.0, 1.0, 1.0)], [("q", "r")]).compile()]
        )


def test_cohort_solve_is_each_models_own_solve():
    circ = z.regazzoni2022()
    models = _cohort_models()
    c = z.Cohort.stack(models)
    y0 = jnp.stack([circ.y0] * c.size)
    integ = z.Integrator.fixed(5e-4, diffrax.Midpoint())
    ts = jnp.linspace(0.0, 2 * circ.period, 41)
    sol = jax.jit(lambda cc, y: z.simulate_cohort(cc, 0.0, 2 * circ.period, y, ts=ts, integrator=integ))(c, y0)
    assert sol.ys.shape == (4, 41, models[0].structure.n_state)
    for i, m in enumerate(models):
        ref = z.simulate_zerod(m, 0.0, 2 * circ.period, circ.y0, ts=ts, integrator=integ)
        np.testing.assert_allclose(sol.ys[i], ref.ys, rtol=1e-10, atol=1e-10)
    obs = sol.observe()
    assert obs["pressure"].shape[:2] == (4, 41)
    # blood volume is conserved by every member
    bv = jax.vmap(lambda i: jax.vmap(c[0].blood_volume)(sol.ys[i]))(jnp.arange(4))
    np.testing.assert_allclose(bv, bv[:, :1] * np.ones((1, 41)), rtol=1e-12)
    with unchecked(), pytest.raises(NetworkError, match="y0 must be"):  # organtwin's own refusal, without the checker
        z.simulate_cohort(c, 0.0, 1.0, circ.y0)


def test_cohort_with_a_steady_start_matches_svzerod_style_runs():
    """RCR outlets with steady starts (svZeroDSolver's steady_initial) for several parameter sets at once."""
    nets = [
        z.Network(
            [
                z.FlowBC("in", z.Waveform(jnp.array([0.0, 0.5, 1.0]), jnp.array([1.0, 3.0, 1.0]))),
                z.BloodVessel("v", resistance=r, capacitance=1e-3, inductance=1e-2),
                z.WindkesselRCR("out", rp=10.0, c=1e-2, rd=100.0 * r, pd=5.0),
            ],
            [("in", "v"), ("v", "out")],
        ).compile()
        for r in (1.0, 2.0, 3.0)
    ]
    c = z.Cohort.stack(nets)
    y0 = jnp.stack([m.initial_state() for m in nets])
    integ = z.Integrator.fixed(1e-3, diffrax.Bosh3())
    sol = z.simulate_cohort(c, 0.0, 3.0, y0, ts=jnp.linspace(0.0, 3.0, 31), integrator=integ, steady_start=True)
    for i, m in enumerate(nets):
        ref = z.simulate_zerod(
            m, 0.0, 3.0, m.steady_state(m.initial_state()), ts=jnp.linspace(0.0, 3.0, 31), integrator=integ
        )
        np.testing.assert_allclose(sol.ys[i], ref.ys, rtol=1e-10)

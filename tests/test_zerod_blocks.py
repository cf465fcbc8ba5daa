"""0D blocks against analytic solutions; activation functions; the implicit and fixed-step integrators."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import RESULTS
from organtwin.flow import zerod as z


def test_rcr_driven_by_a_sinusoid_has_the_windkessel_impedance():
    """Q(t) = Q0 + Q1 sin(w t) into an RCR (Rp, C, Rd, Pd): at the periodic state the inlet pressure is
    Pd + Q0 (Rp + Rd) + Q1 |Z| sin(w t + arg Z), Z(w) = Rp + Rd / (1 + i w Rd C)."""
    T, q0, q1, rp, c, rd, pd = 1.0, 5.0, 3.0, 50.0, 2e-3, 800.0, 10.0
    w = 2 * np.pi / T
    ts = np.linspace(0.0, T, 1001)  # the waveform is sampled: linear interpolation error ~(w dt)^2/8 = 5e-6
    wave = z.Waveform(jnp.asarray(ts), jnp.asarray(q0 + q1 * np.sin(w * ts)))
    m = z.Network([z.FlowBC("in", wave), z.WindkesselRCR("out", rp=rp, c=c, rd=rd, pd=pd)], [("in", "out")]).compile()
    integ = z.Integrator.adaptive(1e-10, 1e-10)
    ps = z.periodic_steady_state(m, T, m.initial_state(pressure={"pressure_c:out": pd}), tol=1e-9, integrator=integ)
    assert ps.result == RESULTS.successful
    tt = jnp.linspace(0.0, T, 201)
    obs = z.simulate_zerod(m, 0.0, T, ps.y0, ts=tt, integrator=integ).observe()
    Z = rp + rd / (1 + 1j * w * rd * c)
    exact = pd + q0 * (rp + rd) + q1 * np.abs(Z) * np.sin(w * np.asarray(tt) + np.angle(Z))
    inlet = [i for i, p in enumerate(m.structure.ports) if p[0] == "in:out"][0]
    got = np.asarray(obs["port_pressure"][:, inlet])
    assert np.max(np.abs(got - exact)) / (q1 * np.abs(Z)) < 1e-4


def test_vessel_inductance_rings_at_the_lc_frequency():
    """A charged vessel (R -> C -> L) with no inflow, its outlet at zero pressure: C dP_c/dt = -Q, L dQ/dt = P_c, so
    P_c = P0 cos(t / sqrt(L C)) (R carries no flow and does not damp it)."""
    r, c, l, p_out = 0.5, 1.0, 2.0, 0.0
    m = z.Network(
        [
            z.FlowBC("in", 0.0),
            z.BloodVessel("v", resistance=r, capacitance=c, inductance=l),
            z.PressureBC("out", p_out),
        ],
        [("in", "v"), ("v", "out")],
    ).compile()
    y0 = m.initial_state(pressure={"c:v": 10.0})
    ts = jnp.linspace(0.0, 20.0, 401)
    sol = z.simulate_zerod(m, 0.0, 20.0, y0, ts=ts, integrator=z.Integrator.adaptive(1e-10, 1e-10))
    wn = 1 / np.sqrt(l * c)
    t = np.asarray(ts)
    exact = 10.0 * np.cos(wn * t)  # R sits upstream where no flow passes (Q_in = 0): no damping
    np.testing.assert_allclose(np.asarray(sol.ys[:, 0]), exact, atol=1e-7)


def test_two_hill_activation_peaks_at_one_and_follows_its_formula():
    T = 0.8
    a = z.TwoHill(0.0, 0.215 * T, 0.362 * T, 1.32, 27.4, T)
    t = jnp.linspace(0.0, T, 80001)
    v = np.asarray(a(t))
    assert v.max() == pytest.approx(1.0, abs=1e-6)
    s = np.asarray(t[1234])
    g1, g2 = (s / (0.215 * T)) ** 1.32, (s / (0.362 * T)) ** 27.4
    assert v[1234] == pytest.approx(float(a.normalization) * g1 / (1 + g1) / (1 + g2), rel=1e-12)
    # periodic
    np.testing.assert_allclose(np.asarray(a(t[:100] + T)), v[:100], atol=1e-12)


def test_double_cosine_and_half_cosine_shapes():
    dc = z.DoubleCosine(0.1, 0.3, 0.2, 1.0)
    assert (
        float(dc(0.1)) == 0.0 and float(dc(0.4 - 1e-12)) == pytest.approx(1.0) and float(dc(0.5)) == pytest.approx(0.5)
    )
    assert float(dc(0.65)) == 0.0 and float(dc(1.25)) == pytest.approx(float(dc(0.25)))
    hc = z.HalfCosine(0.2, 0.4, 1.0)
    assert float(hc(0.4)) == pytest.approx(1.0) and float(hc(0.1)) == 0.0 and float(hc(0.7)) == 0.0


@pytest.fixture(scope="module")
def periodic_regazzoni():
    circ = z.regazzoni2022(valve_law=z.ValveLaw.PIECEWISE)
    # tol 1e-7 is below this loop's float64 cycle-to-cycle floor: the 500 cycles' state is used as it is
    y = z.periodic_steady_state(circ.model, circ.period, circ.y0, tol=1e-7, throw=False).y0
    return circ, y


@pytest.mark.parametrize(
    "integ, tol",
    [
        (z.Integrator.implicit(rtol=1e-8, atol=1e-8), 1e-5),  # Kvaerno5, for stiff valves
        (z.Integrator.fixed(2e-4), 2e-3),  # Kvaerno3 + chord iterations, fixed steps
        (z.Integrator.fixed(1e-4, diffrax.Tsit5()), 2e-3),
    ],
)
def test_implicit_and_fixed_step_integrators_agree_with_the_adaptive_one(periodic_regazzoni, integ, tol):
    """One beat of the paper's switching-valve loop from its periodic state: volumes agree with adaptive Tsit5 at
    rtol 1e-10 (relative to the stroke volume), and every method keeps the blood volume to round-off."""
    circ, y = periodic_regazzoni
    ts = jnp.linspace(0.0, circ.period, 81)
    ref = z.simulate_zerod(circ.model, 0.0, circ.period, y, ts=ts, integrator=z.Integrator.adaptive(1e-10, 1e-10))
    sol = jax.jit(lambda yy: z.simulate_zerod(circ.model, 0.0, circ.period, yy, ts=ts, integrator=integ).ys)(y)
    st = circ.model.structure
    vols = slice(st.n_cap, st.n_cap + st.n_chamber)
    sv = float(jnp.ptp(ref.ys[:, st.n_cap + st.chambers.index("LV")]))
    assert float(jnp.max(jnp.abs(sol[:, vols] - ref.ys[:, vols]))) / sv < tol
    bv = jax.vmap(circ.model.blood_volume)(sol)
    assert float(jnp.ptp(bv) / bv[0]) < 1e-10

"""0D circulation: analytic solutions, conservation, periodic state, gradients, cohorts, errors."""

import json
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin._errors import NetworkError
from organtwin.flow import zerod as z


@pytest.fixture
def zerod_data():
    return Path(__file__).parent / "data" / "zerod"


def _rcr_network(q=5.0, rp=100.0, c=1e-3, rd=1000.0, pd=10.0, stenosis=0.0):
    return z.Network(
        [
            z.FlowBC("in", q),
            z.BloodVessel("v", resistance=50.0, capacitance=0.0, inductance=0.0, stenosis=stenosis),
            z.WindkesselRCR("out", rp=rp, c=c, rd=rd, pd=pd),
        ],
        [("in", "v"), ("v", "out")],
    )


def test_rcr_charging_matches_the_exponential():
    """Constant inflow Q into an RCR from rest: P_c(t) = Pd + Q·Rd·(1 − exp(−t/(Rd·C)))."""
    q, rd, c, pd = 5.0, 1000.0, 1e-3, 10.0
    m = _rcr_network(q, rd=rd, c=c, pd=pd).compile()
    y0 = m.initial_state(pressure={"pressure_c:out": pd})
    ts = jnp.linspace(0.0, 3.0, 31)
    sol = z.simulate_zerod(m, 0.0, 3.0, y0, ts=ts, integrator=z.Integrator.adaptive(1e-10, 1e-10))
    exact = pd + q * rd * (1.0 - np.exp(-np.asarray(ts) / (rd * c)))
    assert np.max(np.abs(np.asarray(sol.ys[:, 0]) - exact)) / (q * rd) < 1e-8
    # the inlet pressure adds the vessel's and Rp's resistive drops (ports are observed, not integrated)
    obs = sol.observe()
    inlet = [i for i, p in enumerate(m.structure.ports) if p[0] == "in:v"][0]
    np.testing.assert_allclose(obs["port_pressure"][:, inlet], exact + q * (50.0 + 100.0), rtol=1e-8)
    np.testing.assert_allclose(obs["port_flow"][:, inlet], q, rtol=1e-12)


def test_steady_state_with_stenosis_is_the_quadratic_pressure_drop():
    q, s = 5.0, 2.0
    m = _rcr_network(q, stenosis=s).compile()
    x = m.steady_state()
    p = m.pressures(0.0, x)
    node = dict(m.structure.terminal_nodes)
    # inlet = Pd + Q (Rd + Rp + R) + S Q^2
    assert float(p[node["in:v"]]) == pytest.approx(10.0 + q * (1000.0 + 100.0 + 50.0) + s * q * q, rel=1e-10)
    assert float(jnp.max(jnp.abs(m.rhs(0.0, x)))) < 1e-8


@pytest.fixture(scope="module")
def regazzoni():
    c = z.regazzoni2022()
    return c, z.simulate_circulation(c, points_per_cycle=401)


def test_regazzoni_reaches_a_periodic_state_and_conserves_blood(regazzoni):
    circ, res = regazzoni
    assert res.change < 1e-6 and 2 <= res.cycles < 200
    v = res.blood_volume
    assert np.ptp(v) / v.mean() < 1e-10  # Σ C·p + Σ V is an exact invariant of the closed loop
    assert v.mean() == pytest.approx(float(circ.model.blood_volume(circ.y0)), rel=1e-10)
    lv = res.metrics["LV"]
    # Physiological ranges for a healthy adult at 75 bpm (e.g. Maceira et al. 2006, J Cardiovasc Magn Reson 8:417):
    assert 100 < lv["EDV_mL"] < 160 and 35 < lv["ESV_mL"] < 70 and 0.5 < lv["EF"] < 0.7
    assert 100 < res.metrics["aorta"]["systolic_mmHg"] < 140 and 60 < res.metrics["aorta"]["diastolic_mmHg"] < 90
    assert 4.0 < lv["cardiac_output_L_per_min"] < 7.0 and 1000 < lv["dPdt_max_mmHg_per_s"] < 2500
    # both ventricles eject the same stroke volume at the periodic state
    assert res.metrics["RV"]["SV_mL"] == pytest.approx(lv["SV_mL"], rel=1e-4)
    # the valves close: no backflow beyond the closed-valve leak
    assert res.flow["aortic"].min() > -0.01 * res.flow["aortic"].max()


# Fixed steps: then the gradient is exactly that of the discrete map, and a central difference agrees to ~1e-9. With the
# adaptive controller, reverse mode does not see how the step sizes move with the parameters (diffrax freezes them), so
# the two differ by ~1e-4 relative even at rtol 1e-10 (measured: dEF/dR_AR -0.1496785 adaptive vs -0.1496630 FD); and an
# FD of an adaptive solve carries the solver's error divided by h.
_TIGHT = z.Integrator.fixed(1e-4, diffrax.Tsit5())


def _ef(model, y0, period, cycles, integrator=_TIGHT):
    ps = z.periodic_steady_state(model, period, y0, cycles=cycles, integrator=integrator)
    ts = jnp.linspace(0.0, period, 201)
    sol = z.simulate_zerod(model, 0.0, period, ps.y0, ts=ts, integrator=integrator)
    return z.haemodynamics(model, sol.ts, sol.ys, period)["LV"]["EF"]


def test_ejection_fraction_gradient_matches_finite_differences(regazzoni):
    circ, _ = regazzoni
    start = z.periodic_steady_state(circ.model, circ.period, circ.y0, tol=1e-5).y0

    @jax.jit
    def ef(e_active, r_ar):
        m = eqx.tree_at(
            lambda m: (m.blocks["LV"].e_active, m.blocks["sys_art_RL"].resistance),
            circ.model,
            (e_active, jnp.reshape(r_ar, (1,))),
        )
        return _ef(m, start, circ.period, 2)

    e0, r0 = jnp.asarray(2.75), jnp.asarray(0.8)
    g = jax.grad(ef, argnums=(0, 1))(e0, r0)
    for i, (x0, h) in enumerate(((e0, 1e-3), (r0, 1e-4))):
        args = [e0, r0]
        args[i] = x0 + h
        fp = ef(*args)
        args[i] = x0 - h
        fm = ef(*args)
        fd = (fp - fm) / (2 * h)
        assert float(g[i]) == pytest.approx(float(fd), rel=1e-6), (i, g[i], fd)
    assert float(g[0]) > 0 and float(g[1]) < 0  # stronger contraction raises EF, higher afterload lowers it


def test_cohort_vmap_matches_single_runs(regazzoni):
    circ, _ = regazzoni
    scales = jnp.array([0.8, 1.0, 1.2])

    def one(scale):
        m = eqx.tree_at(lambda m: m.blocks["LV"].e_active, circ.model, 2.75 * scale)
        return z.periodic_steady_state(m, circ.period, circ.y0, cycles=3).y0

    batched = jax.jit(jax.vmap(one))(scales)
    single = jnp.stack([jax.jit(one)(s) for s in scales])
    np.testing.assert_allclose(batched, single, rtol=1e-6, atol=1e-8)


def test_float32_runs(regazzoni):
    circ32 = z.regazzoni2022(dtype=jnp.float32)
    assert circ32.y0.dtype == jnp.float32
    ps = jax.jit(
        lambda c: z.periodic_steady_state(
            c.model, c.period, c.y0, cycles=2, integrator=z.Integrator.adaptive(1e-5, 1e-5)
        )
    )(circ32)
    assert ps.y0.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(ps.y0)))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: z.Network([z.BloodVessel("a", 1.0)], [("a", "b")]), "unknown block 'b'"),
        (lambda: z.Network([z.BloodVessel("a", 1.0), z.BloodVessel("a", 2.0)], []), "two blocks are named 'a'"),
        (
            lambda: z.Network([z.PressureBC("p", 1.0), z.Valve("v", 1.0, 10.0)], [("p", "v")]).compile(),
            "needs an upstream and a downstream",
        ),
        (
            lambda: z.Network(
                [z.PressureBC("p", 1.0), z.Junction("j"), z.PressureBC("q", 2.0)], [("p", "j"), ("j", "q")]
            ).compile(),
            "two prescribed pressures",
        ),
        (lambda: z.BloodVessel("a", -1.0), "resistance must be finite and >= 0"),
        (lambda: z.Valve("v", 10.0, 1.0), "Rmin <= Rmax"),
        (lambda: z.regazzoni2022(params={"LV": {"emax": 1.0}}), "unknown parameter LV.emax"),
    ],
)
def test_bad_networks_give_one_line_errors(build, match):
    with pytest.raises(NetworkError, match=match) as e:
        build()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["vessels"][0]["zero_d_element_values"].update(R_poiseuile=1.0), "unknown parameter 'R_poiseuile'"),
        (
            lambda c: c["boundary_conditions"][0].update(bc_type="CORONARY_LUMPED"),
            "bc_type 'CORONARY_LUMPED' is not supported",
        ),
        (lambda c: c.pop("simulation_parameters"), "lacks 'simulation_parameters'"),
        (lambda c: c["vessels"][0]["boundary_conditions"].update(outlet="NOPE"), "unknown outlet boundary condition"),
        (lambda c: c["boundary_conditions"][0]["bc_values"].update(Q=[1.0, float("nan")], t=[0.0, 1.0]), "NaN"),
    ],
)
def test_bad_svzerod_configs_give_one_line_errors(edit, match, zerod_data):
    cfg = json.loads((zerod_data / "pulsatile_rcr.json").read_text())
    edit(cfg)
    with pytest.raises(NetworkError, match=match) as e:
        z.read_svzerod(cfg)
    assert "\n" not in str(e.value)


def test_invalid_json_names_line_and_column(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"simulation_parameters": {\n  "x": 1,,\n}}')
    with pytest.raises(NetworkError, match=r"invalid JSON at line 2 column"):
        z.read_svzerod(p)


def test_float32_circulation_matches_float64(regazzoni):
    """The whole periodic-state run in float32 (its default tolerances: rtol 1e-5, cycle change 1e-4)."""
    _, res64 = regazzoni
    res32 = z.simulate_circulation(z.regazzoni2022(dtype=jnp.float32), points_per_cycle=401)
    assert res32.blood_volume.dtype == np.float32
    for k in ("EF", "EDV_mL", "dPdt_max_mmHg_per_s"):
        assert res32.metrics["LV"][k] == pytest.approx(res64.metrics["LV"][k], rel=2e-3), k

"""0D solves report how they ended (`organtwin.RESULTS`) instead of raising from inside diffrax: ``throw=False``
returns the outcome, ``throw=True`` raises through ``result.error_if`` (eagerly and under jit alike), and the runners
behind the command line turn a failure into one line naming the time."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import RESULTS
from organtwin._errors import NetworkError
from organtwin.flow import zerod as z


def _rcr():
    m = z.Network(
        [z.FlowBC("in", 5.0), z.WindkesselRCR("out", rp=100.0, c=1e-3, rd=1000.0, pd=10.0)], [("in", "out")]
    ).compile()
    return m, m.initial_state(pressure={"pressure_c:out": 10.0}, dtype=jnp.float64)


def test_simulate_zerod_result_and_throw():
    m, y0 = _rcr()
    few = z.Integrator(z.Integrator.adaptive().solver, z.Integrator.adaptive().controller, 1e-4, max_steps=5)
    sol = z.simulate_zerod(m, 0.0, 3.0, y0, integrator=few, throw=False)
    assert sol.result == RESULTS.max_steps_reached
    t = float(sol.failed_time)
    assert 0.0 < t < 3.0  # where the integration stopped
    assert np.all(np.isfinite(np.asarray(sol.ys)[np.asarray(sol.ts) <= t]))
    ok = z.simulate_zerod(m, 0.0, 3.0, y0, throw=False)
    assert ok.result == RESULTS.successful and np.isnan(float(ok.failed_time))
    # one code path: raises eagerly and under jit
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of solver steps"):
        z.simulate_zerod(m, 0.0, 3.0, y0, integrator=few)
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of solver steps"):
        jax.block_until_ready(eqx.filter_jit(lambda y: z.simulate_zerod(m, 0.0, 3.0, y, integrator=few).ys)(y0))


def test_periodic_steady_state_reports_max_cycles():
    circ = z.regazzoni2022(dtype=jnp.float64)
    ps = z.periodic_steady_state(circ.model, circ.period, circ.y0, max_cycles=2, throw=False)
    assert ps.result == RESULTS.max_cycles_reached and int(ps.cycles) == 2 and float(ps.change) > 1e-6
    with pytest.raises(eqx.EquinoxRuntimeError, match="periodic steady state was not reached"):
        z.periodic_steady_state(circ.model, circ.period, circ.y0, max_cycles=2)
    # exactly `cycles` cycles: no convergence asked, none reported
    ps = z.periodic_steady_state(circ.model, circ.period, circ.y0, cycles=2)
    assert ps.result == RESULTS.successful


def test_circulation_failure_is_one_line_with_the_time():
    circ = z.regazzoni2022(dtype=jnp.float64)
    base = z.Integrator.adaptive()
    few = z.Integrator(base.solver, base.controller, base.dt0, max_steps=50)
    with pytest.raises(NetworkError) as e:
        z.simulate_circulation(circ, integrator=few, max_cycles=3)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("circulation: the ODE solver failed at t = ")
    assert "(the maximum number of solver steps was reached); check the parameters" in msg
    with pytest.raises(NetworkError, match=r"circulation: no periodic state after 2 cycles \(cycle-to-cycle change"):
        z.simulate_circulation(circ, max_cycles=2)


def test_activation_durations_checked_given_or_traced():
    with pytest.raises(NetworkError, match=r"piecewise_cosine activation: period must be > 0 s \(got -0.8\)"):
        z.DoubleCosine(0.0, 0.3, 0.2, -0.8)

    @eqx.filter_jit
    def build(period):
        return z.DoubleCosine(0.0, 0.3, 0.2, period)(jnp.asarray(0.1))

    assert float(build(jnp.asarray(1.0))) > 0
    with pytest.raises(eqx.EquinoxRuntimeError, match="period must be > 0 s"):
        jax.block_until_ready(build(jnp.asarray(-1.0)))

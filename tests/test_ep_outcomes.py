"""Solver outcomes of electrophysiology (issue 19, item 1): every solution carries ``result`` (an `organtwin.RESULTS`);
with ``throw=False`` a failure is reported there (with where it happened), not raised; with ``throw=True`` the same
outcome raises through one check, eagerly (naming time, node, coordinates) and under jit. Tiny meshes, one cell."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin import RESULTS, ep
from organtwin._solution import raise_if_failed
from organtwin.ionic import AlievPanfilov1996, MitchellSchaeffer2003, simulate_cell
from organtwin.mesh import slab_mesh


def test_raise_if_failed_one_check_eager_and_under_jit():
    x = jnp.ones(2)
    assert raise_if_failed(x, RESULTS.successful) is x
    with pytest.raises(RuntimeError) as e:
        raise_if_failed(x, RESULTS.diverged, [(RESULTS.diverged, "fixed")], describe=lambda r: "detailed, one line")
    assert str(e.value) == "detailed, one line"
    with pytest.raises(RuntimeError, match="fixed"):  # no describe: the solver's wording of the outcome
        raise_if_failed(x, RESULTS.diverged, [(RESULTS.diverged, "fixed")])

    @eqx.filter_jit
    def f(x, r):
        return raise_if_failed(x, r, [(RESULTS.diverged, "fixed under jit")], describe=lambda r: "never called")

    np.testing.assert_array_equal(f(x, RESULTS.successful), x)
    with pytest.raises(eqx.EquinoxRuntimeError, match="fixed under jit"):
        jax.block_until_ready(f(x, RESULTS.diverged))


def _tissue(model, dtype=jnp.float64):
    return ep.Tissue.from_mesh(slab_mesh((2.0, 1.0, 1.0), 0.5), ep.Conductivity(0.13, 0.02), model, dtype=dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_monodomain_result_successful_and_diverged_without_throw(dtype):
    tissue = _tissue(AlievPanfilov1996(), dtype)
    ok = ep.simulate_monodomain(tissue, [ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 50_000.0)], 1.0, 0.02)
    assert ok.result == RESULTS.successful and int(ok.failed_index) == -1 and np.isnan(float(ok.failed_time))
    huge = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 5e9, duration=2.0)
    with pytest.warns(Warning, match="far beyond an action potential"):
        sol = ep.simulate_monodomain(tissue, [huge], 1.0, 0.02, throw=False)
    assert sol.result == RESULTS.diverged
    node, t = int(sol.failed_index), float(sol.failed_time)
    assert np.asarray(tissue.points)[node, 0] <= 0.1 and 0.02 <= t <= 0.2  # a stimulated node, early
    assert not np.isfinite(np.asarray(sol.final.V)[node])
    with pytest.raises(RuntimeError) as e:  # the same outcome, raised: the message names the same time and node
        with pytest.warns(Warning):
            ep.simulate_monodomain(tissue, [huge], 1.0, 0.02)
    assert f"at t = {t:.6g} ms, node {node} at (" in str(e.value)


def test_monodomain_cg_not_converged_without_throw():
    tissue = _tissue(MitchellSchaeffer2003())
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.1, 1, 1)), 50_000.0)
    sol = ep.simulate_monodomain(
        tissue, [stim], 0.5, 0.1, diffusion=ep.ThetaScheme(rtol=1e-14, max_steps=1), throw=False, check_front=False
    )
    assert sol.result == RESULTS.cg_not_converged and int(sol.failed_index) == -1
    assert float(sol.failed_time) == pytest.approx(0.1)  # the first step's CG already failed


def test_eikonal_result_without_throw():
    t = ep.EikonalTissue.from_mesh(slab_mesh((4.0, 1.0, 1.0), 0.5), ep.ConductionVelocity(0.6), dtype=jnp.float64)
    site = ep.EikonalSite(jnp.zeros(3), radius=0.6)
    ok = ep.simulate_eikonal(t, site)
    assert ok.result == RESULTS.successful and int(ok.failed_index) == -1
    bad = eqx.tree_at(lambda x: x.points, t, t.points.at[20].set(jnp.nan))
    sol = ep.simulate_eikonal(bad, site, throw=False)
    assert sol.result == RESULTS.diverged and np.isnan(np.asarray(sol.activation)[int(sol.failed_index)])
    few = ep.simulate_eikonal(t, site, max_sweeps=2, throw=False)
    assert few.result == RESULTS.eikonal_not_converged
    with pytest.raises(RuntimeError, match=r"simulate_eikonal: the sweeps did not converge within max_sweeps=2"):
        ep.simulate_eikonal(t, site, max_sweeps=2)


def test_cell_result_without_throw():
    tr = simulate_cell(AlievPanfilov1996(), bcl=50.0, beats=1, stim_amplitude=1e6, throw=False)
    assert tr.result == RESULTS.diverged and int(tr.failed_field) == 0  # Vm first
    assert 0.05 <= float(tr.failed_time) <= 1.0
    ok = simulate_cell(AlievPanfilov1996(), bcl=50.0, beats=1)
    assert ok.result == RESULTS.successful and int(ok.failed_field) == -1 and np.isnan(float(ok.failed_time))


def test_a_traced_velocity_that_is_not_positive_and_finite_is_an_outcome():
    """Concrete, such a velocity is refused before the solve; traced (jit, vmap, inside a fit) it gave finite times
    (NaN velocities: 0 ms everywhere) and ``successful``. Now ``eikonal_invalid_velocity``, and ``throw`` raises it."""

    mesh = slab_mesh((2.0, 1.0, 1.0), 0.5).replace(fibres=None)
    tissue = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))
    site = ep.EikonalSite((0.0, 0.0, 0.0), radius=0.6)
    quiet = jax.jit(lambda t: ep.simulate_eikonal(t, site, throw=False))
    assert quiet(tissue).result == RESULTS.successful
    for v in (jnp.nan, -0.5, 0.0, jnp.inf):
        bad = eqx.tree_at(lambda t: t.velocity, tissue, jnp.full_like(tissue.velocity, v))
        assert quiet(bad).result == RESULTS.eikonal_invalid_velocity, v
    bad = eqx.tree_at(lambda t: t.velocity, tissue, jnp.full_like(tissue.velocity, jnp.nan))
    with pytest.raises(RuntimeError, match="a conduction velocity is not positive and finite"):
        jax.jit(lambda t: ep.simulate_eikonal(t, site).activation)(bad).block_until_ready()

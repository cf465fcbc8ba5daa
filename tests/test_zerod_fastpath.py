"""The 0D right-hand side's fast paths agree with the general forms they replace.

* decoupled linear algebraic points (``alg_diagonal``): one division per point, against the Newton solve;
* net inflow from incidence tables (gathers), against a scatter-add;
* like blocks (chambers, valves) evaluated on their stacked parameters, against one block at a time;
* the activation phase without ``jnp.mod``, the one-cosine double cosine, the loop-free waveform interpolation.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from organtwin.flow import zerod as z
from organtwin.flow.zerod._activation import phase
from organtwin.flow.zerod._algebraic import _pressures_newton, pressures_and_flows
from organtwin.flow.zerod._waveform import _count_le, _interp

DATA = Path(__file__).parent / "data" / "zerod"


def _model(name):
    return z.read_svzerod(DATA / f"{name}.json").network.compile()


def _states(model, n=5, seed=0):
    rng = np.random.default_rng(seed)
    st = model.structure
    scale = np.r_[np.full(st.n_cap, 100.0), np.full(st.n_chamber, 100.0), np.full(len(st.inductive), 50.0)]
    return [jnp.asarray(scale * rng.uniform(0.2, 1.5, st.n_state)) for _ in range(n)]


@pytest.mark.parametrize(
    "name, diagonal",
    [("closed_loop_heart", True), ("pulsatile_rcr", True), ("bifurcation_bvj", False), ("bifurcation", False)],
)
def test_decoupled_algebraic_points_match_newton(name, diagonal):
    m = _model(name)
    assert m.structure.alg_diagonal is diagonal
    for k, x in enumerate(_states(m)):
        t = 0.05 + 0.13 * k
        p, q = pressures_and_flows(m, t, x)
        p_newton = _pressures_newton(m, t, x)
        q_newton = m._edge_flows(t, p_newton, x[m.structure.n_cap + m.structure.n_chamber :])
        np.testing.assert_allclose(p, p_newton, rtol=1e-10, atol=1e-9 * float(jnp.max(jnp.abs(p_newton))))
        np.testing.assert_allclose(q, q_newton, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(q_newton))))
        # the algebraic points' mass balance holds (at points joined only by inductors, its rate does)
        n0 = m.structure.n_nodes - m.structure.n_alg
        bal = np.delete(np.asarray(m._inflow(q)[n0:]), list(m.structure.alg_rate))
        assert float(jnp.max(jnp.abs(bal))) <= 1e-9 * float(jnp.max(jnp.abs(q)))


@pytest.mark.parametrize("name", ["closed_loop_heart", "bifurcation_bvj", "pulsatile_rcr"])
def test_inflow_tables_match_scatter(name):
    m = _model(name)
    a, b = m.structure.edge_ends
    q = jnp.asarray(np.random.default_rng(1).normal(size=m.structure.n_edges))
    zero = jnp.zeros(m.structure.n_nodes + 1)
    ref = zero.at[b].add(q).at[a].add(-q)[:-1]
    np.testing.assert_allclose(m._inflow(q), ref, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(m._inflow(q, slice(3, None)), ref[3:], rtol=1e-14, atol=1e-14)


def test_like_blocks_are_evaluated_together_in_their_order():
    act = z.DoubleCosine(0.0, 0.3, 0.15, 1.0)
    blocks = [
        z.Chamber("A", 2.0, 0.1, 5.0, act),
        z.Chamber("B", 1.0, 0.05, 8.0, z.HalfCosine(0.1, 0.4, 1.0)),
        z.Chamber("C", 2.5, 0.08, 4.0, act),
        z.Chamber("D", 0.5, 0.2, 9.0, z.HalfCosine(0.2, 0.3, 1.0)),
        z.Valve("v1", 0.01, 100.0, law=z.ValveLaw.PIECEWISE),
        z.Valve("v2", 0.02, 50.0, 5.0),
        z.Valve("v3", 0.03, 70.0, law=z.ValveLaw.PIECEWISE),
        z.Valve("v4", 0.01, 90.0, 20.0),
    ]
    m = z.Network(
        blocks, [("A", "v1"), ("v1", "B"), ("B", "v2"), ("v2", "C"), ("C", "v3"), ("v3", "D"), ("D", "v4"), ("v4", "A")]
    ).compile()
    vols = jnp.array([50.0, 60.0, 70.0, 80.0])
    for t in (0.05, 0.2, 0.35, 0.9):
        got = m._grouped(["D", "A", "B", "C"], lambda blk, i, t=t: blk.pressure(t, vols[i]), jnp.float64)
        ref = jnp.stack([m.blocks[n].pressure(t, vols[i]) for i, n in enumerate(["D", "A", "B", "C"])])
        np.testing.assert_allclose(got, ref, rtol=1e-14)
    dp = jnp.array([1.0, -2.0, 0.5, -0.1])
    got = m._grouped(["v1", "v2", "v3", "v4"], lambda blk, i: blk.flow(dp[i]), jnp.float64)
    ref = jnp.stack([m.blocks[n].flow(dp[i]) for i, n in enumerate(["v1", "v2", "v3", "v4"])])
    np.testing.assert_allclose(got, ref, rtol=1e-14)


def test_phase_is_mod():
    x = jnp.concatenate([jnp.linspace(-3.0, 30.0, 20001), jnp.arange(0, 40) * 0.8, jnp.arange(0, 40) * 0.8 - 1e-15])
    for period in (0.8, 1.0, 0.37):
        ref = np.mod(np.asarray(x), period)
        got = np.asarray(phase(x, period))
        assert np.all((got >= 0) & (got < period))
        d = np.abs(got - ref)
        d = np.minimum(d, period - d)  # values next to a multiple of the period may land on either side
        assert d.max() < 1e-13
    g = jax.grad(lambda p: phase(2.5, p))(0.8)
    assert float(g) == pytest.approx(float(jax.grad(lambda p: jnp.mod(2.5, p))(0.8)))


def test_double_cosine_one_cosine_matches_the_two_cosine_form():
    act = z.DoubleCosine(0.6, 0.104, 0.68, 0.8)  # Regazzoni's atria: relaxation wraps past the period
    t = jnp.linspace(0.0, 2.4, 7001)
    s = jnp.mod(t - 0.6, 0.8)
    r = jnp.mod(t - 0.704, 0.8)
    ref = jnp.where(
        s < 0.104,
        0.5 * (1 - jnp.cos(jnp.pi * s / 0.104)),
        jnp.where(r < 0.68, 0.5 * (1 + jnp.cos(jnp.pi * r / 0.68)), 0.0),
    )
    np.testing.assert_allclose(jax.vmap(act)(t), ref, atol=1e-13)
    gr = jax.vmap(jax.grad(lambda tt: act(tt)))(t)
    gref = jax.vmap(
        jax.grad(
            lambda tt: jnp.where(
                jnp.mod(tt - 0.6, 0.8) < 0.104,
                0.5 * (1 - jnp.cos(jnp.pi * jnp.mod(tt - 0.6, 0.8) / 0.104)),
                jnp.where(
                    jnp.mod(tt - 0.704, 0.8) < 0.68, 0.5 * (1 + jnp.cos(jnp.pi * jnp.mod(tt - 0.704, 0.8) / 0.68)), 0.0
                ),
            )
        )
    )(t)
    np.testing.assert_allclose(gr, gref, atol=1e-9)


@pytest.mark.parametrize("n", [2, 5, 50, 64, 65, 100, 1000])
def test_waveform_interpolation_matches_jnp_interp(n):
    rng = np.random.default_rng(n)
    xp = np.unique(np.r_[0.0, rng.uniform(0, 1, n - 1), 1.0])
    fp = rng.normal(size=xp.size)
    xs = np.concatenate([rng.uniform(-0.2, 1.2, 300), xp])
    counts = jax.vmap(lambda x: _count_le(jnp.asarray(xp), x))(jnp.asarray(xs))
    np.testing.assert_array_equal(counts, np.searchsorted(xp, xs, side="right"))
    got = jax.vmap(lambda x: _interp(x, jnp.asarray(xp), jnp.asarray(fp)))(jnp.asarray(xs))
    np.testing.assert_allclose(
        got, jnp.interp(jnp.asarray(xs), jnp.asarray(xp), jnp.asarray(fp)), rtol=1e-14, atol=1e-14
    )
    g = jax.grad(lambda f: _interp(0.37, jnp.asarray(xp), f))(jnp.asarray(fp))
    np.testing.assert_allclose(g, jax.grad(lambda f: jnp.interp(0.37, jnp.asarray(xp), f))(jnp.asarray(fp)), rtol=1e-13)
    w = z.Waveform(jnp.asarray(xp), jnp.asarray(fp))
    np.testing.assert_allclose(
        jax.vmap(w)(jnp.asarray(xs + 3.0)),
        jnp.interp(jnp.mod(jnp.asarray(xs + 3.0), 1.0), jnp.asarray(xp), jnp.asarray(fp)),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("name, vessel", [("closed_loop_heart", "SYS_AR_R"), ("pulsatile_rcr", "aorta")])
def test_decoupled_path_gradients_match_newton(name, vessel):
    """Derivatives with respect to every parameter: the division path as the Newton one (whose single step is exact
    for the linear network), except the stenosis coefficients, zero here: there the division's are the implicit
    derivatives, checked against a difference with the network compiled nonlinear (S = eps)."""
    import json

    import equinox as eqx

    m = _model(name)
    x = _states(m, 1, seed=3)[0]

    def value(mm, newton):
        if newton:
            p = _pressures_newton(mm, 0.3, x)
            q = mm._edge_flows(0.3, p, x[mm.structure.n_cap + mm.structure.n_chamber :])
        else:
            p, q = pressures_and_flows(mm, 0.3, x)
        return jnp.sum(jnp.sin(p * 1e-3)) + jnp.sum(jnp.cos(q * 1e-2))

    params, static = eqx.partition(m, eqx.is_inexact_array)
    g_fast = jax.grad(lambda pr: value(eqx.combine(pr, static), False))(params)
    g_newton = jax.grad(lambda pr: value(eqx.combine(pr, static), True))(params)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_fast), jax.tree.leaves(g_newton)):
        assert np.all(np.isfinite(np.asarray(a)))
        if "stenosis" not in jax.tree_util.keystr(path):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12 * (1 + float(jnp.max(jnp.abs(b)))))
    cfg = json.loads((DATA / f"{name}.json").read_text())
    eps = 1e-7
    next(v for v in cfg["vessels"] if v["vessel_name"] == vessel)["zero_d_element_values"]["stenosis_coefficient"] = eps
    m_eps = z.read_svzerod(cfg).network.compile()
    assert m_eps.structure.n_alg == m.structure.n_alg and not m_eps.structure.alg_diagonal
    fd = (float(value(m_eps, True)) - float(value(m, False))) / eps
    assert float(g_fast.blocks[vessel].stenosis) == pytest.approx(fd, rel=1e-3, abs=1e-6 * (1 + abs(fd)))

"""The heart period of the closed loop is an array leaf: it can be calibrated, and derivatives with respect to it are
those of the beat (central finite differences)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from organtwin.flow import zerod as z


def test_period_is_a_leaf_and_drives_every_chamber():
    circ = z.regazzoni2022(dtype=jnp.float64)
    assert eqx.is_inexact_array(circ.period) and float(circ.period) == 0.8
    c2 = eqx.tree_at(lambda c: c.period, circ, jnp.asarray(0.9))
    for name in z.CHAMBERS:
        assert float(c2.beat_model.blocks[name].activation.period) == 0.9


def test_period_is_a_free_parameter_of_a_fit():
    from organtwin.calibrate import FreeParameters

    circ = z.regazzoni2022(dtype=jnp.float64)
    free = FreeParameters(["period", "model.blocks.LV.e_active"], circ)
    back = free.unpack(circ, free.pack(eqx.tree_at(lambda c: c.period, circ, jnp.asarray(0.9))))
    assert float(back.period) == 0.9 and float(back.beat_model.blocks["LV"].activation.period) == 0.9


def test_grad_wrt_period_matches_central_difference():
    """d/dT of the LV volume after one beat from the preset's initial state: reverse mode through the solve (the end
    time and every chamber's activation phase depend on T) against a central difference.

    Fixed steps, so the output is a smooth function of T between step boundaries: dt = 1.9 ms puts none at T = 0.8 s
    (at a boundary the map has a one-sided derivative; dt = 2 ms gives 39 vs 126 mL/s). The central difference
    converges as O(h) here (measured: 1e-5 s off by 3e-3 relative, 1e-6 s by 3e-4), so h = 1e-7 s."""
    jax.config.update("jax_enable_x64", True)
    circ = z.regazzoni2022(dtype=jnp.float64)
    integ = z.Integrator.fixed(1.9e-3, z.Integrator.adaptive().solver)  # Tsit5, fixed steps: smooth in T
    i_lv = circ.model.structure.n_cap + circ.model.structure.chambers.index("LV")

    @jax.jit
    def lv_volume(period):
        c = eqx.tree_at(lambda c: c.period, circ, period)
        return z.periodic_steady_state(c.beat_model, c.period, c.y0, cycles=1, integrator=integ).y0[i_lv]

    T, h = 0.8, 1e-7
    g = float(jax.grad(lv_volume)(jnp.asarray(T)))
    fd = (float(lv_volume(jnp.asarray(T + h))) - float(lv_volume(jnp.asarray(T - h)))) / (2 * h)
    assert np.isfinite(g) and abs(g) > 1.0  # mL/s: the end-of-beat volume moves with the beat length
    assert abs(g - fd) <= 1e-3 * abs(fd), (g, fd)

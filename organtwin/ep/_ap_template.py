"""Action-potential template: Vm(x, t) from activation times (the reaction-eikonal shortcut to an ECG).

``Vm = V_rest + A · u(t - t_a) · (1 - r(t - t_a - APD))`` with a smooth upstroke ``u(s) = (1 + tanh(s / τ_up)) / 2`` and a
smooth repolarisation ``r(s) = (1 + tanh(s / τ_rep)) / 2``; ``t_a`` the node's activation time and ``APD`` its action
potential duration (per node, or one value), so Vm crosses the midpoint of the upstroke at t_a and of the repolarisation
at t_a + APD. Defaults: V_rest -85 mV, amplitude 110 mV (peak +25 mV), τ_up 0.5 ms (a ~2 ms upstroke, max dV/dt
A / (2 τ_up) = 110 V/s), τ_rep 15 ms (a ~60 ms repolarisation, as in human ventricular action potentials). Everything is
differentiable (activation times, APD, the shape parameters).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = ["APTemplate"]


def _param(x):
    return jnp.asarray(x)


class APTemplate(eqx.Module):
    """The template's shape (final); call ``template(activation, times, apd)`` for Vm of shape (times, nodes)."""

    v_rest: Array = eqx.field(default=-85.0, converter=_param)
    amplitude: Array = eqx.field(default=110.0, converter=_param)
    tau_up: Array = eqx.field(default=0.5, converter=_param)
    tau_rep: Array = eqx.field(default=15.0, converter=_param)

    def __call__(
        self,
        activation: Float[ArrayLike, " nodes"],
        times: Float[ArrayLike, " times"],
        apd: Float[ArrayLike, " nodes"] | Float[ArrayLike, ""] | float = 250.0,
    ) -> Float[Array, "times nodes"]:
        """Vm (mV) at ``times`` (ms) for nodes activating at ``activation`` (ms; ``inf``: never, stays at rest)."""
        ta = jnp.asarray(activation)
        t = jnp.asarray(times, ta.dtype)[:, None]
        reached = jnp.isfinite(ta)
        s = t - jnp.where(reached, ta, 0.0)[None, :]
        up = 0.5 * (1.0 + jnp.tanh(s / self.tau_up))
        down = 0.5 * (1.0 + jnp.tanh((s - jnp.atleast_1d(jnp.asarray(apd, ta.dtype))[None, :]) / self.tau_rep))
        return self.v_rest + jnp.where(reached[None, :], self.amplitude * up * (1.0 - down), 0.0)

"""Time integration of a compiled 0D model with diffrax, and its periodic steady state.

``Integrator.adaptive()`` (default): Tsit5 with a PID step-size controller — measured fastest at equal accuracy on the
valve-switching closed loop (the implicit methods spend most steps rejecting Newton failures at valve switches);
``Integrator.implicit()``: Kvaerno5 (L-stable ESDIRK) + PID, for stiff networks; ``Integrator.fixed(dt, solver)``: fixed
steps (Kvaerno3 by default, ``diffrax.Tsit5()`` for non-stiff cohorts). Time is in seconds.
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from ..._errors import NetworkError
from ._network import ZeroDModel

__all__ = ["Integrator", "PeriodicState", "ZeroDSolution", "periodic_steady_state", "simulate_zerod"]


class Integrator(eqx.Module):
    """How to integrate (final): a diffrax solver, a step-size controller and the first step dt0 (s)."""

    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    dt0: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=200_000)

    @classmethod
    def adaptive(cls, rtol: float = 1e-7, atol: float = 1e-8, solver=None, dt0: float = 1e-4) -> "Integrator":
        """Tsit5 (explicit, 5th order) with a PID controller: the fastest accurate choice for the valve-switching
        circulation here (262 steps per beat for Regazzoni 2022 at rtol 1e-6; benchmarks/RESULTS.md)."""
        return cls(solver or diffrax.Tsit5(), diffrax.PIDController(rtol=rtol, atol=atol), dt0)

    @classmethod
    def implicit(cls, rtol: float = 1e-7, atol: float = 1e-8, dt0: float = 1e-4) -> "Integrator":
        """Kvaerno5 (L-stable ESDIRK) with a PID controller, for stiff networks (tiny compliances behind valves)."""
        return cls(diffrax.Kvaerno5(), diffrax.PIDController(rtol=rtol, atol=atol), dt0)

    @classmethod
    def fixed(cls, dt: float, solver=None, *, newton_tol: float = 1e-9) -> "Integrator":
        """Fixed steps of ``dt`` s; the default Kvaerno3 solves its stages by a chord iteration to ``newton_tol``."""
        if not dt > 0:
            raise NetworkError(f"fixed time step must be > 0 s (got {dt})")
        if solver is None:
            solver = diffrax.Kvaerno3(root_finder=diffrax.VeryChord(rtol=newton_tol, atol=newton_tol,
                                                                    norm=optx.max_norm))
        return cls(solver, diffrax.ConstantStepSize(), float(dt))


def _vector_field(t, y, model):
    return model.rhs(t, y)


def _solve(model: ZeroDModel, t0, t1, y0, integ: Integrator, saveat):
    return diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field), integ.solver, t0, t1, integ.dt0, y0, args=model,
        stepsize_controller=integ.controller, saveat=saveat, max_steps=integ.max_steps,
        throw=True)


class ZeroDSolution(eqx.Module):
    """States at the saved times (final); ``observe()`` gives pressures, flows and volumes over time."""

    ts: Float[Array, " times"]
    ys: Float[Array, "times states"]
    model: ZeroDModel

    def observe(self) -> dict:
        return jax.vmap(self.model.observe)(self.ts, self.ys)


def simulate_zerod(model: ZeroDModel, t0: float, t1: float, y0: Float[Array, " states"], *,
                   ts: Float[Array, " times"] | None = None, integrator: Integrator | None = None) -> ZeroDSolution:
    """Integrate from ``t0`` to ``t1`` (s) from state ``y0``, saving at ``ts`` (default: 201 points)."""
    integ = integrator or Integrator.adaptive()
    ts = jnp.linspace(t0, t1, 201, dtype=y0.dtype) if ts is None else jnp.asarray(ts, y0.dtype)
    sol = _solve(model, t0, t1, y0, integ, diffrax.SaveAt(ts=ts))
    return ZeroDSolution(ts, sol.ys, model)


class PeriodicState(eqx.Module):
    """The state at the start of a cycle once cycles repeat (final)."""

    y0: Float[Array, " states"]
    cycles: Array          # cycles integrated
    change: Array          # last cycle-to-cycle change (relative, max over states)
    converged: Array


def _groups(model: ZeroDModel) -> np.ndarray:
    st = model.structure
    return np.array([0] * st.n_cap + [1] * st.n_chamber + [2] * len(st.inductive), dtype=np.int32)


def cycle_change(model: ZeroDModel, y_old, y_new) -> Array:
    """max_i |Δy_i| / scale(i), the scale being the largest magnitude among states of the same kind (pressures,
    volumes, flows), so a flow near zero at the start of a beat does not blow the ratio up."""
    g = _groups(model)
    err = jnp.zeros((), y_new.dtype)
    for k in range(3):
        idx = np.nonzero(g == k)[0]
        if idx.size:
            scale = jnp.maximum(jnp.max(jnp.abs(y_new[idx])), jnp.finfo(y_new.dtype).tiny)
            err = jnp.maximum(err, jnp.max(jnp.abs(y_new[idx] - y_old[idx])) / scale)
    return err


def periodic_steady_state(model: ZeroDModel, period: float, y0: Float[Array, " states"], *, tol: float = 1e-6,
                          max_cycles: int = 500, cycles: int | None = None,
                          integrator: Integrator | None = None) -> PeriodicState:
    """Integrate whole cycles until the cycle-to-cycle change is below ``tol`` (a while loop, not differentiable), or
    exactly ``cycles`` cycles (a scan, differentiable with respect to everything in ``model`` and ``y0``)."""
    integ = integrator or Integrator.adaptive()
    period = float(period)

    def one(y, k):
        t0 = k * period
        return _solve(model, t0, t0 + period, y, integ, diffrax.SaveAt(t1=True)).ys[-1]

    if cycles is not None:
        def body(carry, k):
            y, _ = carry
            y1 = one(y, k.astype(y.dtype))
            return (y1, cycle_change(model, y, y1)), None
        (y, change), _ = jax.lax.scan(body, (y0, jnp.asarray(jnp.inf, y0.dtype)), jnp.arange(cycles))
        return PeriodicState(y, jnp.asarray(cycles), change, change < tol)

    def cond(c):
        _, k, change = c
        return (change >= tol) & (k < max_cycles)

    def body(c):
        y, k, _ = c
        y1 = one(y, k.astype(y.dtype))
        return y1, k + 1, cycle_change(model, y, y1)

    y, k, change = jax.lax.while_loop(cond, body, (y0, jnp.asarray(0), jnp.asarray(jnp.inf, y0.dtype)))
    return PeriodicState(y, k, change, change < tol)

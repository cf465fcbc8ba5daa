"""Steady states of a 0D model: the steady state with every waveform at its mean (svZeroDSolver's
``steady_initial``), and the periodic steady state of a periodic model (cycles integrated until they repeat).
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
from ..._solution import RESULTS
from ._model import ZeroDModel
from ._solve import Integrator, _finish, _solve, default_integrator, saved

__all__ = ["PeriodicState", "cycle_change", "periodic_steady_state", "steady_state"]


def steady_state(model: ZeroDModel, x0=None, *, dtype=None, t=None) -> Array:
    """The steady state with every waveform at its mean (svZeroDSolver's ``steady_initial``); needs a pressure
    reference and no chambers.

    ``t``: capacitors referenced to a waveform keep the volume C (P − mean P_ref) they hold in the steady state
    while their reference moves to its value at ``t`` (their pressure shifts by it), as svZeroDSolver carries its
    steady volume_im into the unsteady run. ``None``: the steady state itmodel.
    """
    st = model.structure
    if st.n_chamber:
        raise NetworkError(
            "steady initial state: the network has chambers, whose elastance never settles; give "
            "initial conditions instead"
        )
    if st.states:
        raise NetworkError(
            "steady initial state: the network has blocks with states of their own ("
            + ", ".join(row.block for row in st.states)
            + "), which never settle; give initial conditions instead"
        )
    if not st.n_pressure:
        raise NetworkError(
            "steady initial state: the network has no prescribed or distal pressure, so its "
            "pressure level is undetermined; give initial conditions instead"
        )
    x0 = model.initial_state(dtype=dtype) if x0 is None else x0
    tol = 1e-10 if x0.dtype == jnp.float64 else 1e-5
    n_state, n_alg = st.n_state, st.n_alg

    def fn(zz, _):  # mass balance at every non-prescribed point, and each inductor's law, with dQ/dt = 0
        x, p_alg = zz[:n_state], zz[n_state:]
        p = jnp.concatenate([model._known_pressures(0.0, x, True), p_alg])
        q_ind = x[st.n_cap :]
        inflow = model._inflow(model._edge_flows(0.0, p, q_ind, True))
        n0 = st.n_nodes - n_alg
        return jnp.concatenate(
            [inflow[: st.n_cap], model._inductor_rates(p, q_ind) * model._rl(st.inductive, x.dtype)[1], inflow[n0:]]
        )

    z0 = jnp.concatenate([x0, jnp.full((n_alg,), jnp.mean(x0[: st.n_cap]) if st.n_cap else 0.0, x0.dtype)])
    sol = optx.root_find(fn, optx.Newton(rtol=tol, atol=tol * 1e-3), z0, max_steps=100, throw=False)
    x = sol.value[:n_state]
    if t is not None and st.cap_refs:
        charge = model._reference_flows(t, x.dtype, rates=False) - model._reference_means(x.dtype)
        x = x.at[: st.n_cap].add(charge / model.node_capacitance(x.dtype)[: st.n_cap])
    return x


class PeriodicState(eqx.Module):
    """The state at the start of a cycle once cycles repeat (final).

    ``result``: ``RESULTS.successful``; ``RESULTS.max_cycles_reached`` when the cycle-to-cycle change stayed at or
    above ``tol`` for ``max_cycles`` cycles (the while-loop form only: with ``cycles=`` exactly that many run, as
    asked); or the ODE solver's failure, with ``failed_time`` the time (s, counted from the first cycle's start) it
    stopped at (NaN otherwise)."""

    y0: Float[Array, " states"]
    cycles: Array  # cycles integrated
    change: Array  # last cycle-to-cycle change (relative, max over states)
    result: RESULTS
    failed_time: Array


def _groups(model: ZeroDModel) -> np.ndarray:
    st = model.structure
    return np.array(
        [0] * st.n_cap + [1] * st.n_chamber + [2] * len(st.inductive) + list(range(3, 3 + st.n_internal)),
        dtype=np.int32,
    )  # (a block's own states are of mixed kinds: each is its own scale)


def cycle_change(model: ZeroDModel, y_old, y_new) -> Array:
    """max_i |Δy_i| / scale(i), the scale being the largest magnitude among states of the same kind (pressures,
    volumes, flows), so a flow near zero at the start of a beat does not blow the ratio up."""
    g = _groups(model)
    err = jnp.zeros((), y_new.dtype)
    for k in range(int(g.max(initial=0)) + 1):
        idx = np.nonzero(g == k)[0]
        if idx.size:
            scale = jnp.maximum(jnp.max(jnp.abs(y_new[idx])), jnp.finfo(y_new.dtype).tiny)
            err = jnp.maximum(err, jnp.max(jnp.abs(y_new[idx] - y_old[idx])) / scale)
    return err


def periodic_steady_state(
    model: ZeroDModel,
    period: float | Array,
    y0: Float[Array, " states"],
    *,
    tol: float = 1e-6,
    max_cycles: int = 500,
    cycles: int | None = None,
    integrator: Integrator | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
    throw: bool = True,
) -> PeriodicState:
    """Integrate whole cycles until the cycle-to-cycle change is below ``tol`` (a while loop, not differentiable), or
    exactly ``cycles`` cycles (a scan, differentiable with respect to everything in ``model`` and ``y0``).

    The model must be periodic with ``period`` (every waveform and activation), so each cycle is integrated on the
    same clock [0, period]: the answer does not depend on how many cycles ran, and float32 keeps its resolution of
    time (at t = 160 s its spacing, 1.5e-5 s, is already the size of a step through a valve switch). ``adjoint``: as
    `simulate_zerod` (`diffrax.ForwardMode()` makes the ``cycles`` scan differentiable by ``jax.jvp``). ``throw``: a
    failure (`PeriodicState.result`, e.g. ``RESULTS.max_cycles_reached``) raises, eagerly and under jit; ``False``:
    inspect ``result``."""
    integ = integrator or default_integrator(y0.dtype)
    T = jnp.asarray(period)  # an array: differentiable, e.g. a calibrated heart period
    ok = RESULTS.successful

    def one(y):
        t0, t1 = jnp.zeros((), y.dtype), jnp.asarray(T, y.dtype)  # time in the state's precision
        sol = _solve(model, t0, t1, y, integ, diffrax.SaveAt(t1=True), adjoint)
        ts, ys = saved(sol)
        return ys[-1], RESULTS.promote(sol.result), ts[-1]  # ts[-1]: where it stopped, on failure

    def step(y, k, result, failed):
        """One more cycle while nothing failed; after a failure the state is kept (no integration from inf)."""

        def run(y):
            y1, res, t_stop = one(y)
            t_fail = k.astype(y.dtype) * jnp.asarray(T, y.dtype) + t_stop  # in the state's precision
            return y1, res, jnp.where(res == ok, jnp.nan, t_fail).astype(y.dtype)

        return jax.lax.cond(result == ok, run, lambda y: (y, result, failed), y)

    nan = jnp.asarray(jnp.nan, y0.dtype)
    if cycles is not None:

        def scan_body(carry, k):
            y, _, result, failed = carry
            y1, result, failed = step(y, k, result, failed)
            return (y1, cycle_change(model, y, y1), result, failed), None

        init = (y0, jnp.asarray(jnp.inf, y0.dtype), RESULTS.where(True, ok, ok), nan)
        (y, change, result, failed), _ = jax.lax.scan(scan_body, init, jnp.arange(cycles))
        return _finish(PeriodicState(y, jnp.asarray(cycles), change, result, failed), throw)

    def cond(c):
        _, k, change, result, _ = c
        return (change >= tol) & (k < max_cycles) & (result == ok)

    def body(c):
        y, k, _, result, failed = c
        y1, result, failed = step(y, k, result, failed)
        return y1, k + 1, cycle_change(model, y, y1), result, failed

    init = (y0, jnp.asarray(0), jnp.asarray(jnp.inf, y0.dtype), RESULTS.where(True, ok, ok), nan)
    y, k, change, result, failed = jax.lax.while_loop(cond, body, init)
    result = RESULTS.where(result == ok, RESULTS.where(change < tol, ok, RESULTS.max_cycles_reached), result)
    return _finish(PeriodicState(y, k, change, result, failed), throw)

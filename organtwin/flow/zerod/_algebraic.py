"""Algebraic elimination: the pressures of points with neither capacitance, a chamber nor a prescribed pressure.

Their pressures make the flows balance. When each such point meets only linear resistors to known points (or only
inductors, by the rate of its balance) — svZeroDSolver's junctions and zero-R vessels, RCR and vessel outlets — every
balance is one division (`_divide_out`, differentiated by the implicit function theorem); where valves meet points
that are otherwise decoupled, each balance by Newton's method kept inside a bracket (`_bracketed_newton`); otherwise
they are found by Newton's method, unrolled (differentiable). Regazzoni's closed loop as built here has none. Which case applies is
decided once, from the topology (`Topology.alg_diagonal`, `Topology.alg_linear`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    from ._model import ZeroDModel

__all__ = ["balance_residual", "diagonal_conductance", "pressures_and_flows", "resistive_flow"]


@jax.custom_jvp
def resistive_flow(dp, r, s, level):
    """Q solving R Q + S |Q| Q = ΔP, in a form stable for S → 0 and finite for R = 0 (a stenosis alone: Q =
    sign(ΔP) √(|ΔP| / S), svZeroDSolver's BloodVessel with R = L = 0, its CStenosis cases), 0 at ΔP = 0.

    Its derivatives are those of the implicit equation, ∂Q/∂ΔP = 1 / (R + 2 S |Q|) = 1 / √(R² + 4 S |ΔP|),
    ∂Q/∂R = −Q ∂Q/∂ΔP, ∂Q/∂S = −|Q| Q ∂Q/∂ΔP; for R = 0 the slope at ΔP = 0 is infinite and is taken at
    |ΔP| = eps · ``level`` (the size of the two pressures: the smallest drop they resolve) instead: finite, so that
    Newton's method on the algebraic points steps away from a zero drop, where the exact slope would stop it, and
    then converges as on any square root. ``level`` is not differentiated."""
    root = jnp.sqrt(r * r + 4.0 * s * jnp.abs(dp))
    den = r + root
    return jnp.where(den > 0, 2.0 * dp / jnp.where(den > 0, den, 1.0), 0.0)


@resistive_flow.defjvp
def _resistive_flow_jvp(primals, tangents):
    dp, r, s, level = primals
    d_dp, d_r, d_s, _ = tangents
    q = resistive_flow(dp, r, s, level)
    eps = jnp.finfo(jnp.result_type(dp)).eps
    floor = eps * jnp.abs(level) + eps**2
    slope = 1.0 / jnp.sqrt(r * r + 4.0 * s * jnp.maximum(jnp.abs(dp), floor))
    return q, slope * (d_dp - q * d_r - jnp.abs(q) * q * d_s)


def diagonal_conductance(model: ZeroDModel, dtype):
    """∂r/∂p_i of each algebraic point's balance when they are decoupled (``alg_diagonal``): −Σ 1/R over the
    linear resistors at a point of index 1, −Σ 1/L over the inductors at a point of index 2 (only edges at an
    algebraic point enter, whose R or L is > 0: no 1/0 in the values or their derivatives)."""
    st = model.structure
    n0 = st.n_nodes - st.n_alg
    rate = set(st.alg_rate)
    res_used, ind_used = [], []
    terms = [[] for _ in range(st.n_alg)]  # per point: indices into [1/R of res_used, 1/L of ind_used]
    for rows, used, want_rate in ((st.resistive, res_used, False), (st.inductive, ind_used, True)):
        for e, row in enumerate(rows):
            hits = [nd - n0 for nd in (row.a, row.b) if nd >= n0 and ((nd - n0) in rate) == want_rate]
            if hits:
                used.append(e)
            for i in hits:
                terms[i].append(len(used) - 1 + (len(res_used) if want_rate else 0))
    k = max(len(t) for t in terms)
    pad = len(res_used) + len(ind_used)
    table = np.full((st.n_alg, k), pad, dtype=np.int32)
    for i, t in enumerate(terms):
        table[i, : len(t)] = t
    vals = [jnp.zeros((1,), dtype)]
    if ind_used:
        vals.insert(0, 1.0 / model._rl(st.inductive, dtype)[1][np.array(ind_used)])
    if res_used:
        vals.insert(0, 1.0 / model._rl(st.resistive, dtype)[0][np.array(res_used)])
    return -jnp.sum(jnp.concatenate(vals)[table], axis=-1)


def balance_residual(model: ZeroDModel, t, p, q_ind, steady, q=None):
    st = model.structure
    n0 = st.n_nodes - st.n_alg
    q = model._edge_flows(t, p, q_ind, steady) if q is None else q
    r = model._inflow(q, slice(n0, None))
    if st.alg_rate or st.alg_floating:
        # points joined only by inductors: d/dt of their mass balance (linear in p), exact for the ODE and
        # kept by any Runge–Kutta method since the balance is a linear invariant
        rate = model._inflow(model._edge_rates(t, p, q_ind), slice(n0, None))
        r = jnp.where(np.isin(np.arange(st.n_alg), st.alg_rate), rate, r)
        for cluster in st.alg_floating:  # a cluster joined to the rest only by inductors: the rate of its summed
            r = r.at[cluster[0]].set(jnp.sum(rate[np.array(cluster)]))  # balance, in place of its first point's
    return r


def pressures_and_flows(model: ZeroDModel, t, x, steady=False):
    """(pressure of every point, flow of every edge) at state ``x``: what the right-hand side needs, each part
    evaluated once (prescribed flows, valves and elastances are not evaluated again after the algebraic solve)."""
    st = model.structure
    q_ind = x[st.n_cap + st.n_chamber :]
    if not st.alg_diagonal:
        p = _pressures_newton(model, t, x, steady)
        return p, model._edge_flows(t, p, q_ind, steady)
    # linear and decoupled (decided at compile time): each balance r_i = r_i(0) + (∂r_i/∂p_i) p_i, solved exactly
    # by one division, with no Jacobian to build or factorise. Only resistors touch algebraic points (valves make
    # the network nonlinear, prescribed and inductor flows do not depend on pressure), so only the resistors'
    # flows change from those at p_alg = 0.
    known = model._known_pressures(t, x, steady)
    n0 = known.shape[0]
    p0 = jnp.concatenate([known, jnp.zeros((st.n_alg,), known.dtype)])
    parts = model._edge_flow_parts(t, p0, q_ind, steady)
    r0 = balance_residual(model, t, p0, q_ind, steady, q=jnp.concatenate(parts))
    p_alg = _divide_out(bool(steady), model, jnp.asarray(t, known.dtype), known, q_ind, r0)
    p = p0 + jnp.pad(p_alg, (n0, 0))
    if st.resistive:
        parts[1] = model._resistive_flows(p)
    return p, jnp.concatenate(parts)


def _pressures_newton(model: ZeroDModel, t, x, steady=False):
    st = model.structure
    known = model._known_pressures(t, x, steady)
    if not st.n_alg:
        return known
    q_ind = x[st.n_cap + st.n_chamber :]
    n0 = known.shape[0]

    def residual(p_alg, _):
        return balance_residual(model, t, jnp.concatenate([known, p_alg]), q_ind, steady)

    # Newton on the algebraic points' mass balance: one step is exact when the edges touching them are linear
    # resistors (decided at compile time); otherwise a fixed number of steps, unrolled (differentiable).
    guess = jnp.full((st.n_alg,), jnp.mean(known) if n0 else 0.0, known.dtype)

    def step(p_alg, _):
        r, jac = residual(p_alg, None), jax.jacfwd(residual)(p_alg, None)
        return p_alg - jnp.linalg.solve(jac, r), None

    if _valves_decoupled(st, n0):
        return jnp.concatenate([known, _bracketed_newton(residual, known, guess)])
    # (a stenosis with R = 0 at an algebraic point: a square root, whose Newton iterates from a zero drop need ~12
    # steps to reach the quadratic regime, `resistive_flow`)
    steps = 1 if st.alg_linear else (24 if st.alg_sqrt else 12)
    p_alg, _ = jax.lax.scan(step, guess, None, length=steps)
    return jnp.concatenate([known, p_alg])


def _valves_decoupled(st, n0: int) -> bool:
    """Whether a valve touches an algebraic point and every algebraic point's balance depends on its own pressure
    only (no resistor, valve or inductor between two algebraic points, no point set by a rate, no transfer): then
    each balance is a decreasing function of one pressure and `_bracketed_newton` solves it (decided at compile
    time)."""
    alg = lambda nd: nd >= n0
    if not any(alg(row.a) or alg(row.b) for row in st.valves) or st.alg_rate or st.alg_floating:
        return False
    if any(alg(a) or alg(b) for a, b, _ in st.transfers):
        return False
    return not any(alg(row.a) and alg(row.b) for row in st.resistive + st.valves + st.inductive)


def _bracketed_newton(residual, known, guess, steps: int = 30):
    """The algebraic pressures where valves meet them, each balance r_i(p_i) = 0 solved alone (`_valves_decoupled`)
    by Newton's method kept inside a bracket (bisection where a Newton step would leave it or slows down, as
    ``rtsafe`` in Numerical Recipes), unrolled.

    A plain Newton iteration fails here: a ValveTanh's resistance, R = Rmin + (Rmax − Rmin) ½(1 + tanh(k(P_out −
    P_in))) (svZeroDSolver src/model/ValveTanh.h, after Pfaller et al. 2019, eqs. 16 and 22), so its conductance
    1/R changes by Rmax/Rmin (10⁷ in a heart model) within a few 1/k of ΔP = 0, so from the closed side Newton leaps far past the root and from the open side
    falls back, and after a fixed number of steps the balance could be off by the full valve flow: mass was not
    conserved (a closed loop with tanh valves gained blood every beat). Every edge's flow increases with its
    pressure drop (for the tanh valve too: d(ΔP/R)/dΔP = (Rmin + (Rmax − Rmin) σ(x)(1 − x(1 − σ(x))))/R² > 0,
    x = −2kΔP), so each r_i decreases in p_i and a sign change brackets its root. The bracket starts at the span of the
    known pressures and widens (×10, up to four times) where a prescribed or inductor flow pushes the root outside;
    one last plain Newton step at the converged point gives the derivatives of the implicit function theorem."""
    dtype = known.dtype
    n = guess.shape[0]
    kmin, kmax = (jnp.min(known), jnp.max(known)) if known.shape[0] else (jnp.zeros((), dtype), jnp.zeros((), dtype))
    span = jnp.maximum(kmax - kmin, jnp.maximum(jnp.abs(kmax), jnp.abs(kmin)) * 1e-3 + 1e-12)
    # each end: the nearest of kmin − g·span (kmax + g·span) whose residual has the right sign, one batched evaluation
    grow = jnp.asarray([1.0, 10.0, 100.0, 1e3, 1e4], dtype)
    ends = jnp.concatenate([kmin - grow * span, kmax + grow * span])
    r_ends = jax.vmap(lambda e: residual(jnp.full((n,), e, dtype), None))(ends)  # (2 × 5, n)
    first = lambda ok: jnp.argmax(jnp.concatenate([ok, jnp.ones_like(ok[:1])]), axis=0).clip(0, 4)
    lo = ends[:5][first(r_ends[:5] >= 0)]
    hi = ends[5:][first(r_ends[5:] <= 0)]

    def with_slope(p):  # balances and their slopes ∂r_i/∂p_i (the Jacobian is diagonal here)
        return jax.jvp(lambda q: residual(q, None), (p,), (jnp.ones_like(p),))

    def step(carry, _):
        p, lo, hi, dx_old = carry
        r, d = with_slope(p)
        lo = jnp.where(r > 0, p, lo)  # r decreases in p: the root lies above p where r > 0
        hi = jnp.where(r < 0, p, hi)
        newton = p - r / jnp.where(d < 0, d, -1.0)
        keep = (d < 0) & (newton > lo) & (newton < hi) & (jnp.abs(newton - p) <= 0.5 * jnp.abs(dx_old))
        p_new = jnp.where(r == 0, p, jnp.where(keep, newton, 0.5 * (lo + hi)))
        return (p_new, lo, hi, p_new - p), None

    p0 = jnp.clip(guess, lo, hi)
    (p, lo, hi, _), _ = jax.lax.scan(step, (p0, lo, hi, hi - lo), None, length=steps)
    r, d = with_slope(p)
    return jnp.clip(p - r / jnp.where(d < 0, d, -1.0), lo, hi)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _divide_out(steady, model, t, known, q_ind, r0):
    """The algebraic pressures of a decoupled linear network from its balances at p_alg = 0: p = -r(0) / (∂r/∂p).

    Derivatives are those of the balance r(p, θ) = 0 at the solution (implicit function theorem: dp = -∂r/∂θ dθ /
    (∂r/∂p)), not of the division: the same for every parameter the linear network has, and exact also for a stenosis
    coefficient that is 0 (the network was compiled linear for it), where r is not linear in p away from S = 0."""
    return -r0 / diagonal_conductance(model, known.dtype)


@_divide_out.defjvp
def _divide_out_jvp(steady, primals, tangents):
    model, t, known, q_ind, r0 = primals
    d_model, d_t, d_known, d_q, _ = tangents
    p_alg = _divide_out(steady, model, t, known, q_ind, r0)

    def balance(m, tt, kn, qi):
        return balance_residual(m, tt, jnp.concatenate([kn, p_alg]), qi, steady)

    _, dr = jax.jvp(balance, (model, t, known, q_ind), (d_model, d_t, d_known, d_q))
    return p_alg, -dr / diagonal_conductance(model, known.dtype)

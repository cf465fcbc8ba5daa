"""Anisotropic eikonal activation on tetrahedral meshes: ``sqrt(∇t · V ∇t) = 1`` with the velocity tensor
``V = v_f² f fᵀ + v_s² s sᵀ + v_n² n nᵀ`` per cell (fibre f, sheet s, normal n; velocities in m/s = mm/ms), earliest
activation sites with onset times, differentiable.

Discretisation (Fu, Kirby & Whitaker 2013, "A fast iterative method for solving the eikonal equation on tetrahedral
domains", SIAM J Sci Comput 35:C473 — the scheme of fim-python): the travel time at a vertex x of a tet is the minimum over
the points p of the opposite face of ``t(p) + ||x - p||_M`` with t linear on the face and ``M = V⁻¹`` the cell's metric;
``||x - p||_M = sqrt((x-p)ᵀ M (x-p))``. The minimisation over the triangle is solved in closed form: the stationary point
inside the face (when it is inside and causal) and the minimum over each of its three edges (a clamped 1-D closed form),
whichever is least — exact, because the objective is convex.

Iteration: all (tet, vertex) updates at once, a node keeping the least of its candidates and its current value
(``segment_min``), repeated inside ``lax.while_loop`` until no value changes (a parallel Bellman–Ford sweep: the number of
sweeps is about the number of elements along the longest shortest path). No Python loop over nodes or sweeps.

Gradients (`jax.custom_vjp`): at the converged fixed point every node's time is one local update of its *parent*
candidate (or its source value). With the parents frozen, ``t = F(t, θ)`` is a triangular (causal) system, and the adjoint
``w = g + (∂F/∂t)ᵀ w`` converges in at most as many sweeps as the forward pass; then ``dL/dθ = (∂F/∂θ)ᵀ w``. This is
implicit differentiation of the fixed point (exact for the discrete solution wherever the parents are unique). ∂F/∂t has
three entries per node (the parent face's vertices), computed once by forward mode, so an adjoint sweep is a 3-wide
scatter over the nodes (cheaper than a forward sweep over every tet); ``(∂F/∂θ)ᵀ w`` is one ``vjp`` of F evaluated at
each node's parent candidate only (n local solves, not the 4 × cells of a sweep). No unrolling:
memory independent of the number of sweeps. (Chosen over unrolling the sweeps, whose memory grows with their number,
and over a causality-ordered adjoint, which needs a sort; this one stays in jit and on the GPU.)
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._errors import InputError
from .._solution import RESULTS, raise_if_failed
from .._types import ArrayLike as NumpyOrJax

__all__ = [
    "ConductionVelocity",
    "EikonalProblem",
    "EikonalResult",
    "EikonalSite",
    "EikonalTissue",
    "eikonal_local_updates",
    "check_velocity_range",
    "node_metric",
    "simulate_eikonal",
    "site_source_times",
    "solve_eikonal",
    "velocity_metric",
]

_BIG = 1e30  # "not yet reached" (finite, so that differences and gradients stay finite)

# For each local vertex a (the target), the three others (the face), in a fixed order.
_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]], dtype=np.int32)


def velocity_metric(fibres, sheets, velocities) -> Float[Array, "cells 3 3"]:
    """``M = V⁻¹ = Σ_k v_k⁻² a_k a_kᵀ`` per cell for the orthonormal directions ``a = (f, s, n = f × s)`` and velocities
    ``(cells, 3)`` m/s (fibre, sheet, normal). ``sheets`` None: transversely isotropic (``v_s`` is used across the
    fibre and ``v_n`` is ignored).

    Symmetric positive definite by construction for positive velocities, whatever the directions: the fibre is
    normalised and the sheet made orthonormal to it (Gram–Schmidt) inside (`organtwin.mesh.orthonormal_frame`); a
    fibre that is no direction (zero, NaN) gives the isotropic ``I / v_s²``, a sheet that is none (zero, NaN, parallel to
    the fibre) the transversely isotropic tensor. (Without this, the placeholder pair f = (0,0,1), s = (0,1,1) of
    public meshes gave, with equal speeds, a metric that is not ``I / v²`` and activation earlier than |x - x0| / v.)"""
    from ..mesh import orthonormal_frame

    f, s, n, _, ok_s = orthonormal_frame(fibres, sheets)
    v = jnp.asarray(velocities)
    inv2 = 1.0 / jnp.square(v)
    eye = jnp.eye(3, dtype=f.dtype)
    ff = f[:, :, None] * f[:, None, :]
    trans = inv2[:, 1, None, None] * eye[None] + (inv2[:, 0] - inv2[:, 1])[:, None, None] * ff
    if s is None or n is None:  # no sheets given
        return trans
    ss = s[:, :, None] * s[:, None, :]
    nn = n[:, :, None] * n[:, None, :]
    ortho = inv2[:, 0, None, None] * ff + inv2[:, 1, None, None] * ss + inv2[:, 2, None, None] * nn
    return jnp.where(ok_s[:, None, None], ortho, trans)


def _safe_sqrt(q):
    """sqrt with a zero (not infinite) derivative at 0: the apex of a travel-time cone, a point on an edge's line."""
    pos = q > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, q, 1.0)), 0.0)


def _norm_M(d, M):
    return _safe_sqrt(jnp.einsum("...i,...ij,...j->...", d, M, d))


def _edge_min(A, B, C, t1, t2):
    """min over λ in [0, 1] of ``t1 + λ (t2 - t1) + sqrt(A - 2 B λ + C λ²)``: the travel time to a vertex x from the
    edge x1 + λ (x2 - x1), with ``A = aᵀMa``, ``B = aᵀMe``, ``C = eᵀMe`` (a = x - x1, e = x2 - x1). Closed form,
    clamped (the objective is convex); an unreached end (time >= 1e30 / 2) leaves the other end's vertex update."""
    reached = jnp.maximum(t1, t2) < 0.5 * _BIG
    d = jnp.where(reached, t2 - t1, 0.0)  # safe arithmetic: no inf or nan in either branch
    causal = C > d * d
    disc = jnp.maximum(A * C - B * B, 0.0) / jnp.where(causal, C - d * d, 1.0)
    lam = (B - d * _safe_sqrt(disc)) / C
    lam = jnp.where(causal, jnp.clip(lam, 0.0, 1.0), jnp.where(d > 0, 0.0, 1.0))
    lam = jnp.where(reached, lam, jnp.where(t1 <= t2, 0.0, 1.0))
    t_start = jnp.where(reached, t1, jnp.minimum(t1, t2))
    return t_start + lam * d + _safe_sqrt(A - 2.0 * B * lam + C * lam * lam)


def _constants(x, x1, x2, x3, M):
    """``(A, b0, b1, G00, G01, G11)`` (stacked on the last axis) of the face (x1, x2, x3) seen from the target x in the
    metric M: ``A = aᵀMa``, ``b = Eᵀ M a``, ``G = Eᵀ M E`` with a = x - x1, E = [x2 - x1, x3 - x1]; any leading
    shape."""
    a, e2, e3 = x - x1, x2 - x1, x3 - x1

    def dot(u, v):
        return jnp.einsum("...i,...ij,...j->...", u, M, v)

    return jnp.stack([dot(a, a), dot(e2, a), dot(e3, a), dot(e2, e2), dot(e2, e3), dot(e3, e3)], axis=-1)


def _face_constants(points, tets, metric) -> Float[Array, "cells 4 6"]:
    """`_constants` per (tet, target vertex), for the opposite face in the cell's metric. They depend on the geometry
    and the metric only, so a sweep needs just these six numbers and the three face times."""
    P = points[tets]  # (cells, 4, 3)
    Pf = P[:, jnp.asarray(_FACES)]  # (cells, 4, 3 face vertices, 3)
    return _constants(P, Pf[:, :, 0], Pf[:, :, 1], Pf[:, :, 2], metric[:, None])


def _face_min(K, t1, t2, t3):
    """min over the face of ``t(p) + ||x - p||_M`` (t linear on the face) from the constants K (`_face_constants`):
    the interior stationary point when it is inside the face and causal, else the least of the three edge minima."""
    A, b0, b1, G00, G01, G11 = (K[..., i] for i in range(6))
    reached = jnp.maximum(jnp.maximum(t1, t2), t3) < 0.5 * _BIG
    d0 = jnp.where(reached, t2 - t1, 0.0)
    d1 = jnp.where(reached, t3 - t1, 0.0)
    det = G00 * G11 - G01 * G01
    ok_det = det > 1e-12 * G00 * G11
    inv = 1.0 / jnp.where(ok_det, det, 1.0)
    lam0_0 = (G11 * b0 - G01 * b1) * inv
    lam0_1 = (G00 * b1 - G01 * b0) * inv
    r0 = (G11 * d0 - G01 * d1) * inv
    r1 = (G00 * d1 - G01 * d0) * inv
    dr = d0 * r0 + d1 * r1
    causal = reached & ok_det & (dr < 1.0)
    s = _safe_sqrt(jnp.maximum(A - b0 * lam0_0 - b1 * lam0_1, 0.0) / jnp.where(causal, 1.0 - dr, 1.0))
    l0 = lam0_0 - s * r0
    l1 = lam0_1 - s * r1
    inside = causal & (l0 >= 0) & (l1 >= 0) & (l0 + l1 <= 1)
    interior = jnp.where(inside, t1 + l0 * d0 + l1 * d1 + s, _BIG)
    e12 = _edge_min(A, b0, G00, t1, t2)
    e13 = _edge_min(A, b1, G11, t1, t3)
    # edge x2 -> x3: a' = a - e2, e' = e3 - e2
    e23 = _edge_min(A - 2.0 * b0 + G00, b1 - b0 - G01 + G00, G11 - 2.0 * G01 + G00, t2, t3)
    return jnp.minimum(interior, jnp.minimum(jnp.minimum(e12, e13), e23))


def _updates_from_constants(K, tets, t) -> Float[Array, "cells 4"]:
    Tf = t[tets][:, jnp.asarray(_FACES)]  # (cells, 4, 3)
    return jnp.minimum(_face_min(K, Tf[..., 0], Tf[..., 1], Tf[..., 2]), _BIG)


def eikonal_local_updates(points, tets, metric, t) -> Float[Array, "cells 4"]:
    """The candidate time of every vertex of every tet from its opposite face, ``(cells, 4)``."""
    return _updates_from_constants(_face_constants(points, tets, metric), tets, t)


class EikonalProblem(eqx.Module):
    """What `solve_eikonal` needs (final): geometry and connectivity, the metric per cell and the source values.

    Attributes:
        points: (nodes, 3) mm.
        tets: (cells, 4) int.
        metric: (cells, 3, 3) ``V⁻¹`` in (ms/mm)² (`velocity_metric`).
        t_source: (nodes,) ms: the activation time imposed at source nodes, a large number (1e30) elsewhere.
    """

    points: Float[Array, "nodes 3"]
    tets: Int[Array, "cells 4"]
    metric: Float[Array, "cells 3 3"]
    t_source: Float[Array, " nodes"]


def _forward(prob: EikonalProblem, max_sweeps: int):
    """Sweeps to the fixed point. Only tets with a vertex that changed in the previous sweep can produce a new
    candidate, so a sweep updates just those, gathered into the smallest of a few fixed-size buffers (1/16, 1/4 and 1/2
    of the tets; a full sweep when more are active): the same iteration as updating every tet, at the cost of the band
    around the front (measured on a 441k-tet BiV: a median of 21% of the tets active per sweep)."""
    t0 = prob.t_source
    K = _face_constants(prob.points, prob.tets, prob.metric)  # loop-invariant: once per solve
    n, n_cells = t0.shape[0], prob.tets.shape[0]
    flat = prob.tets.reshape(-1)
    caps = sorted({max(1, min(n_cells, n_cells // d + 64)) for d in (16, 4, 2)})
    # padded copies: row n_cells is a dummy tet on the sentinel node n (time 1e30), its candidates go to segment n
    tets_pad = jnp.concatenate([prob.tets, jnp.full((1, 4), n, prob.tets.dtype)])
    K_pad = jnp.concatenate([K, jnp.ones((1,) + K.shape[1:], K.dtype)])

    def full(t, active):
        cand = _updates_from_constants(K, prob.tets, t)
        return jax.ops.segment_min(cand.reshape(-1), flat, num_segments=n)

    def band(cap):
        def sweep(t, active):
            idx = jnp.nonzero(active, size=cap, fill_value=n_cells)[0]
            tt = tets_pad[idx]
            t_ext = jnp.concatenate([t, jnp.full((1,), _BIG, t.dtype)])
            cand = _updates_from_constants(K_pad[idx], tt, t_ext)
            return jax.ops.segment_min(cand.reshape(-1), tt.reshape(-1), num_segments=n + 1)[:n]

        return sweep

    def cond(c):
        _, changed, k = c
        return jnp.any(changed) & (k < max_sweeps)

    def body(c):
        t, changed, k = c
        active = jnp.any(changed[prob.tets], axis=1)  # tets that can give a new candidate
        which = jnp.sum(jnp.sum(active) > jnp.asarray(caps))  # the smallest buffer that holds them (len(caps): full)
        best = jax.lax.switch(which, [band(c) for c in caps] + [full], t, active)
        t_new = jnp.minimum(jnp.minimum(t, best), prob.t_source)
        return t_new, t_new < t, k + 1

    changed0 = t0 < 0.5 * _BIG
    t, _, k = jax.lax.while_loop(cond, body, (t0, changed0, jnp.zeros((), jnp.int32)))
    return t, k


def _parents(prob: EikonalProblem, t):
    """For each node the flat (cell*4 + vertex) index of the candidate that gives its time, or -1 for a source value."""
    cand = eikonal_local_updates(prob.points, prob.tets, prob.metric, t).reshape(-1)
    flat_nodes = prob.tets.reshape(-1)
    n = t.shape[0]
    is_min = cand <= t[flat_nodes] * (1 + 1e-12) + 1e-12
    idx = jnp.arange(cand.shape[0], dtype=jnp.int32)
    first = jax.ops.segment_min(jnp.where(is_min, idx, cand.shape[0]), flat_nodes, num_segments=n)
    from_source = prob.t_source <= t
    return jnp.where(from_source | (first >= cand.shape[0]), -1, first)


def _parent_rows(prob: EikonalProblem, parents):
    """The parent candidate of every node: its face's nodes (nodes, 3) and its constants (nodes, 6), computed for
    those (tet, vertex) pairs only (one per node, not four per tet: the backward and tangent passes evaluate and
    differentiate n local solves, not the 4 x cells of a sweep). Rows of source nodes use pair 0 (masked by callers)."""
    n = prob.t_source.shape[0]
    p = jnp.maximum(parents, 0)
    cell, vert = p // 4, p % 4
    tet = prob.tets[cell]  # (nodes, 4)
    face_nodes = tet[jnp.arange(n)[:, None], jnp.asarray(_FACES)[vert]]  # (nodes, 3)
    target = jnp.take_along_axis(tet, vert[:, None], axis=1)[:, 0]
    X = prob.points
    K = _constants(X[target], X[face_nodes[:, 0]], X[face_nodes[:, 1]], X[face_nodes[:, 2]], prob.metric[cell])
    return face_nodes, K


def _frozen_map(prob: EikonalProblem, t, parents):
    """``F(t, θ)``: each node's time from its parent candidate (or its source value), parents fixed."""
    face_nodes, K = _parent_rows(prob, parents)
    T = t[face_nodes]
    cand = jnp.minimum(_face_min(K, T[:, 0], T[:, 1], T[:, 2]), _BIG)
    return jnp.where(parents >= 0, cand, prob.t_source)


@eqx.filter_custom_vjp
def _solve(prob: EikonalProblem, max_sweeps: int):
    return _forward(prob, max_sweeps)


@_solve.def_fwd
def _solve_fwd(perturbed, prob, max_sweeps):
    t, k = _forward(prob, max_sweeps)
    return (t, k), (t, _parents(prob, t))


def _parent_jacobian(prob: EikonalProblem, t, parents):
    """The frozen map's Jacobian w.r.t. t: at most three entries per row (the parent face's vertices), by forward mode
    once. Returns (face_nodes (nodes, 3), dF (nodes, 3)); rows of source nodes are 0. The matrix is nilpotent (the
    parents are causal), so the linear iterations below are exact after (depth of the parent tree) sweeps."""
    has = parents >= 0
    face_nodes, Kp = _parent_rows(jax.lax.stop_gradient(prob), parents)
    Tp = t[face_nodes]

    def f(T):
        return _face_min(Kp, T[:, 0], T[:, 1], T[:, 2])

    eye = jnp.eye(3, dtype=t.dtype)
    dF = jnp.stack([jax.jvp(f, (Tp,), (jnp.broadcast_to(eye[k], Tp.shape),))[1] for k in range(3)], axis=1)
    return face_nodes, jnp.where(has[:, None] & jnp.isfinite(dF), dF, 0.0)


def _causal_iteration(step, x0, max_sweeps):
    """x <- step(x) from x0 until nothing changes (at most max_sweeps + 1 times), inside ``lax.while_loop``."""

    def cond(c):
        _, delta, k = c
        return (delta > 0) & (k < max_sweeps + 1)

    def body(c):
        x, _, k = c
        x_new = step(x)
        return x_new, jnp.max(jnp.abs(x_new - x)), k + 1

    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.array(1.0, x0.dtype), jnp.zeros((), jnp.int32)))
    return x


@_solve.def_bwd
def _solve_bwd(residuals, grad_obj, perturbed, prob, max_sweeps):
    t, parents = residuals
    g, _ = grad_obj
    g = jnp.where(jnp.isfinite(g), g, 0.0)
    n = t.shape[0]
    face_nodes, dF = _parent_jacobian(prob, t, parents)
    flat = face_nodes.reshape(-1)
    # adjoint: w = g + Jᵀ w, a 3-wide scatter per sweep
    w = _causal_iteration(
        lambda w: g + jax.ops.segment_sum((w[:, None] * dF).reshape(-1), flat, num_segments=n), g, max_sweeps
    )
    _, vjp_p = eqx.filter_vjp(lambda pr: _frozen_map(pr, t, parents), prob)
    return vjp_p(w)[0]


@eqx.filter_custom_jvp
def _solve_forward_mode(prob: EikonalProblem, *, max_sweeps: int):
    return _forward(prob, max_sweeps)


@_solve_forward_mode.def_jvp
def _solve_jvp(primals, tangents, *, max_sweeps: int):
    """Tangent of the fixed point (forward mode, for Jacobians with few parameters and many outputs, e.g.
    Gauss–Newton): with the parents frozen, dt = J dt + (∂F/∂θ) dθ, solved by the same causal iteration as the
    adjoint (a 3-wide gather per sweep); (∂F/∂θ) dθ is one ``jvp`` of the frozen map."""
    (prob,), (dprob,) = primals, tangents
    t, k = _forward(prob, max_sweeps)
    parents = _parents(prob, t)
    face_nodes, dF = _parent_jacobian(prob, t, parents)
    if dprob is None:
        b = jnp.zeros_like(t)
    else:
        _, b = eqx.filter_jvp(lambda pr: _frozen_map(pr, t, parents), (prob,), (dprob,))
    b = jnp.where(jnp.isfinite(b), b, 0.0)
    dt = _causal_iteration(lambda dt: b + jnp.sum(dF * dt[face_nodes], axis=1), b, max_sweeps)
    return (t, k), (dt, None)


def solve_eikonal(
    problem: EikonalProblem, *, max_sweeps: int = 10_000, forward_mode: bool = False
) -> tuple[Float[Array, " nodes"], Array]:
    """Activation times (ms, ``inf`` where unreachable) and the number of sweeps, for an `EikonalProblem`.

    Differentiable w.r.t. the problem's floating arrays (metric → velocities and fibres, points, source times) by
    implicit differentiation of the converged fixed point (module docstring): reverse mode (``grad``, ``vjp``) by
    default; ``forward_mode=True`` gives a custom JVP instead (``jvp``, ``jacfwd``: a Jacobian with few parameters and
    many outputs, as Gauss–Newton needs) and no reverse mode."""
    if forward_mode:
        t, sweeps = _solve_forward_mode(problem, max_sweeps=max_sweeps)
    else:
        t, sweeps = _solve(problem, max_sweeps)
    return jnp.where(t >= 0.5 * _BIG, jnp.inf, t), sweeps


class EikonalSite(eqx.Module):
    """An earliest-activation site (final): a point ``position`` (mm) activating at ``onset`` (ms).

    The source is relaxed over a ball of ``radius`` mm: every node within it starts at ``onset + ||x - position||_M``
    (the exact travel time in the homogeneous medium of its cells), so activation times are smooth functions of the
    position and the onset (gradients w.r.t. both), and the point-source singularity does not spoil the solver's order
    near the site. The ball must contain at least one node (``radius`` >= about one edge length). ``radius = 0``: the
    node nearest to ``position`` alone starts (at ``onset`` plus its travel time from the position), as a point source
    at a node does in fim-python (``x0``); the times then depend on the position only through that node.
    """

    position: Float[Array, "3"] = eqx.field(converter=jnp.asarray)
    onset: Float[Array, ""] = eqx.field(default=0.0, converter=jnp.asarray)
    radius: float = eqx.field(default=1.0, static=True)

    def __check_init__(self):
        if not (self.radius >= 0):
            raise InputError(f"EikonalSite: radius must be >= 0 mm, got {self.radius}")
        if jnp.shape(self.position) != (3,):
            raise InputError(
                f"EikonalSite: position must be three coordinates in mm, got shape {jnp.shape(self.position)}"
            )


def node_metric(tets, metric, n_nodes: int) -> Float[Array, "nodes 3 3"]:
    """The mean of the metrics of the cells around each node."""
    tets = jnp.asarray(tets)
    flat = tets.reshape(-1)
    m = jnp.repeat(metric, 4, axis=0)
    s = jax.ops.segment_sum(m, flat, num_segments=n_nodes)
    c = jax.ops.segment_sum(jnp.ones(flat.shape[0], metric.dtype), flat, num_segments=n_nodes)
    return s / jnp.maximum(c, 1.0)[:, None, None]


def site_source_times(points, nodal_metric, sites) -> Float[Array, " nodes"]:
    """(nodes,) initial times from the sites (the least over sites; 1e30 outside every site's ball)."""
    t = jnp.full(points.shape[0], _BIG, points.dtype)
    for s in sites:
        d = points - s.position.astype(points.dtype)[None, :]
        r2 = jnp.sum(d * d, axis=-1)
        if s.radius > 0:
            inside = r2 <= s.radius**2
        else:  # the nearest node only
            inside = jnp.arange(points.shape[0]) == jnp.argmin(jax.lax.stop_gradient(r2))
        tt = s.onset.astype(points.dtype) + _norm_M(jnp.where(inside[:, None], d, 0.0), nodal_metric)
        t = jnp.minimum(t, jnp.where(inside, tt, _BIG))
    return t


# ================================================================================================== user-facing API
def _velocity(x) -> Array:
    if x is None:
        raise InputError("ConductionVelocity.fibre must be positive and finite (m/s), got None")
    return jnp.asarray(float(x) if isinstance(x, (int, float)) else x)


def _optional_velocity(x) -> Array | None:
    return None if x is None else _velocity(x)


class ConductionVelocity(eqx.Module):
    """Conduction velocities of one region, m/s (= mm/ms) (final): along the fibre, the sheet and the sheet normal.

    ``sheet`` None: equal to ``fibre`` (isotropic); ``normal`` None: equal to ``sheet`` (transversely isotropic).
    """

    fibre: Array = eqx.field(converter=_velocity)
    sheet: Array | None = eqx.field(default=None, converter=_optional_velocity)
    normal: Array | None = eqx.field(default=None, converter=_optional_velocity)

    def __check_init__(self):
        for name in ("fibre", "sheet", "normal"):
            v = getattr(self, name)
            if (
                v is not None
                and not isinstance(v, jax.core.Tracer)
                and not bool(np.all((np.asarray(v) > 0) & np.isfinite(np.asarray(v))))
            ):
                raise InputError(
                    f"ConductionVelocity.{name} must be positive and finite (m/s), got {np.asarray(v).tolist()}"
                )

    def triple(self) -> Array:
        s = self.fibre if self.sheet is None else self.sheet
        n = s if self.normal is None else self.normal
        return jnp.stack([jnp.asarray(self.fibre), jnp.asarray(s), jnp.asarray(n)])

    @property
    def isotropic(self) -> bool:
        vals = [v for v in (self.sheet, self.normal) if v is not None]
        if any(isinstance(v, jax.core.Tracer) for v in vals + [self.fibre]):
            return False
        return all(float(v) == float(self.fibre) for v in vals)


class EikonalTissue(eqx.Module):
    """Geometry, fibres and conduction velocities of an eikonal problem (final). Build it with `EikonalTissue.from_mesh`.

    Attributes:
        points: (nodes, 3) mm.
        tets: (cells, 4) int.
        fibres, sheets: (cells, 3) unit directions, or None (isotropic tissue / transversely isotropic without sheets).
        cell_region: (cells,) index into ``velocity`` (``region_ids[cell_region[c]]`` is the mesh region id).
        velocity: (regions, 3) m/s along fibre, sheet, normal.
        velocity_cells: optional (cells, 3) m/s replacing ``velocity`` per cell (scar, calibration per cell).
        fast_cells: (cells,) bool: cells of the fast endocardial layer (isotropic ``fast_velocity``), or None.
        fast_velocity: m/s, the layer's velocity.
        region_ids: the mesh region ids of the table rows (static).
    """

    points: Float[Array, "nodes 3"]
    tets: Int[Array, "cells 4"]
    fibres: Float[Array, "cells 3"] | None
    sheets: Float[Array, "cells 3"] | None
    cell_region: Int[Array, " cells"]
    velocity: Float[NumpyOrJax, "regions 3"]  # numpy from a user or a test, JAX when fitted
    velocity_cells: Float[Array, "cells 3"] | None
    fast_cells: Array | None
    fast_velocity: Array
    region_ids: tuple = eqx.field(static=True)

    @classmethod
    def from_mesh(
        cls,
        mesh,
        velocity,
        *,
        fast_endocardium: str | tuple[str, ...] | None = None,
        fast_velocity: float = 2.0,
        dtype=None,
    ) -> "EikonalTissue":
        """Set up from a `Mesh` (mm).

        Args:
            velocity: one `ConductionVelocity` for every region, or ``{region_id: ConductionVelocity}``.
            fast_endocardium: name(s) of surfaces whose adjacent layer of cells (every cell with a node on the
                surface) conducts isotropically at ``fast_velocity`` m/s: a stand-in for the Purkinje network.
            fast_velocity: m/s (default 2.0).
            dtype: floating dtype (default: JAX's default float).

        Raises:
            MeshError: one line, for NaN/inf or zero fibres or sheets, or sheets parallel to their fibre (fibres that
                are not unit or sheets not orthogonal are fine: `velocity_metric` repairs them inside).
            ValueError: non-positive or non-finite velocities.
        """
        from ..mesh import region_index, require_usable_directions
        from ._tissue import _per_region

        # host check at solver entry: no zero/NaN direction reaches the solver (non-unit or non-orthogonal ones are
        # repaired inside velocity_metric), and every velocity is positive and finite
        require_usable_directions(mesh.fibres, mesh.sheets, "EikonalTissue.from_mesh")
        if not (math.isfinite(fast_velocity) and fast_velocity > 0):
            raise InputError(
                f"EikonalTissue.from_mesh: fast_velocity must be a positive velocity in m/s, got {fast_velocity}"
            )
        dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
        ids = mesh.region_ids
        vels = _per_region(velocity, ids, "conduction velocity", ConductionVelocity)
        if not all(v.isotropic for v in vels.values()):
            mesh.require_fibres("an anisotropic eikonal tissue")
        table = jnp.stack([vels[r].triple() for r in ids.tolist()]).astype(dtype)
        cell_region, _ = region_index(mesh.regions, ids)
        fast = None
        if fast_endocardium is not None:
            names = (fast_endocardium,) if isinstance(fast_endocardium, str) else tuple(fast_endocardium)
            on = np.zeros(mesh.n_nodes, bool)
            for name in names:
                if name not in mesh.surfaces:
                    raise InputError(
                        f"no surface {name!r} in the mesh for the fast endocardial layer (surfaces: "
                        f"{', '.join(mesh.surfaces) or 'none'})"
                    )
                on[np.unique(mesh.surfaces[name].triangles)] = True
            fast = jnp.asarray(on[mesh.tets].any(axis=1))
        return cls(
            points=jnp.asarray(mesh.points, dtype),
            tets=jnp.asarray(mesh.tets, jnp.int32),
            fibres=None if mesh.fibres is None else jnp.asarray(mesh.fibres, dtype),
            sheets=None if mesh.sheets is None else jnp.asarray(mesh.sheets, dtype),
            cell_region=jnp.asarray(cell_region),
            velocity=table,
            velocity_cells=None,
            fast_cells=fast,
            fast_velocity=jnp.asarray(fast_velocity, dtype),
            region_ids=tuple(int(r) for r in ids.tolist()),
        )

    @property
    def n_nodes(self) -> int:
        return self.points.shape[0]

    def cell_velocities(self) -> Float[Array, "cells 3"]:
        v = self.velocity[self.cell_region] if self.velocity_cells is None else self.velocity_cells
        if self.fast_cells is not None:
            v = jnp.where(self.fast_cells[:, None], self.fast_velocity, v)
        return jnp.asarray(v)  # velocity_cells may be a numpy field

    def metric(self) -> Float[Array, "cells 3 3"]:
        v = self.cell_velocities()
        if self.fibres is None:
            n = self.tets.shape[0]
            return jnp.broadcast_to(jnp.eye(3, dtype=v.dtype), (n, 3, 3)) / jnp.square(v[:, 0])[:, None, None]
        return velocity_metric(self.fibres, self.sheets, v)


class EikonalResult(eqx.Module):
    """What `simulate_eikonal` returns (final): ``activation`` (nodes,) ms (``inf`` where unreachable), the number
    of parallel sweeps the solver took, the outcome ``result`` (an `organtwin.RESULTS`: ``successful``, ``diverged``
    when an activation time is NaN or -inf, ``eikonal_not_converged`` when the sweeps took all ``max_sweeps``) and
    ``failed_index``, the first node whose time is NaN or -inf (-1 if none)."""

    activation: Float[Array, " nodes"]
    sweeps: Int[Array, ""]
    result: RESULTS
    failed_index: Int[Array, ""]


def simulate_eikonal(
    tissue: EikonalTissue, sites, *, max_sweeps: int = 10_000, forward_mode: bool = False, throw: bool = True
) -> EikonalResult:
    """Activation times of an `EikonalTissue` from earliest-activation `EikonalSite` s (one or a sequence).

    Differentiable w.r.t. the velocities (per region, per cell, the fast layer's), the fibres, the sites' positions and
    onsets (implicit differentiation of the converged fixed point; see the module docstring). Jit-able.
    ``forward_mode=True``: forward-mode derivatives (``jax.jvp``/``jacfwd``) instead of reverse mode (`solve_eikonal`).

    ``throw`` (default True): raise when the solve failed (``result.result`` is not ``RESULTS.successful``); with
    False, inspect ``result.result`` (and ``result.failed_index``) yourself. ``inf`` marks unreached nodes, not an
    error.

    Raises:
        ValueError (called eagerly, before the solve): velocities that are not positive and finite, or whose arrival
            times this mesh and dtype cannot represent (`check_velocity_range`); sites that select no node.
        EquinoxTracetimeError (a RuntimeError; ``throw``, called eagerly): ``RESULTS.diverged``, an activation time
            is NaN or -inf, naming the first such node and its coordinates (mm); ``RESULTS.eikonal_not_converged``,
            the sweeps took all ``max_sweeps``. Under jit the same check (``raise_if_failed``) raises an
            EquinoxRuntimeError with a fixed message.
    """
    if isinstance(sites, EikonalSite):
        sites = (sites,)
    sites = tuple(sites)
    if not sites:
        raise InputError("simulate_eikonal: give at least one EikonalSite")
    for s in sites:
        if not isinstance(s, EikonalSite):
            raise TypeError(f"simulate_eikonal: sites must be EikonalSite objects, got {type(s).__name__}")
    for name in ("velocity", "velocity_cells", "fast_velocity"):
        v = getattr(tissue, name)
        if v is not None and not isinstance(v, jax.core.Tracer):
            ok = np.isfinite(np.asarray(v)) & (np.asarray(v) > 0)
            if not ok.all():
                raise InputError(
                    f"simulate_eikonal: tissue.{name} must be positive and finite (m/s); "
                    f"{int((~ok).sum())} entries are not (e.g. {np.asarray(v)[~ok].ravel()[0]!r})"
                )
    concrete = not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves((tissue, sites)))
    if concrete:
        check_velocity_range(tissue, sites)
    reached = _any_source(tissue, sites)
    if not isinstance(reached, jax.core.Tracer) and not bool(reached):
        from ._stimulus import nearest_node

        near = "; ".join(
            f"site {k}: {nearest_node(tissue.points, point=np.asarray(s.position))}" for k, s in enumerate(sites)
        )
        raise InputError(
            f"simulate_eikonal: no mesh node lies within any site's radius ({near}); move the sites onto "
            f"the mesh or raise EikonalSite(radius=...) (mm)"
        )
    result = _simulate(tissue, sites, max_sweeps, forward_mode)
    if throw:

        def describe(outcome):
            if outcome == RESULTS.eikonal_not_converged:
                return not_converged
            if outcome == RESULTS.eikonal_invalid_velocity:
                return _INVALID_UNDER_JIT
            from ..ionic import nonfinite_message

            a = np.asarray(result.activation)
            k = int(result.failed_index)
            return nonfinite_message(
                "simulate_eikonal",
                time_ms=None,
                index=k,
                field="activation_time",
                value=a[k],
                point=np.asarray(tissue.points[k]),
                cause=f"{int(np.sum(np.isnan(a) | (a == -np.inf)))} of {a.size} nodes; check the velocities, fibres "
                "and site onsets for NaN/inf",
            )

        not_converged = (
            f"simulate_eikonal: the sweeps did not converge within max_sweeps={max_sweeps}; raise max_sweeps or "
            "check the conduction velocities"
        )
        messages = [
            (RESULTS.eikonal_invalid_velocity, _INVALID_UNDER_JIT),
            (RESULTS.diverged, _NAN_UNDER_JIT),
            (RESULTS.eikonal_not_converged, not_converged),
        ]
        result = raise_if_failed(result, result.result, messages, describe)
    return result


_INVALID_UNDER_JIT = (
    "simulate_eikonal: a conduction velocity is not positive and finite (m/s); check the tissue's velocities"
)
_NAN_UNDER_JIT = (
    "simulate_eikonal: non-finite activation_time (NaN) at some node; check the velocities, fibres and site onsets"
)


#: Margins of `check_velocity_range`: the slowest arrival must stay 1e3 times below what the dtype and the solver's
#: "unreached" mark hold (paths longer than the bounding-box diagonal, squared lengths in the local solver), and an
#: element's travel time above 10 units in the last place of the largest time (else the times lose all precision).
_RANGE_MARGIN = 1e3
_PRECISION_ULPS = 10.0


def check_velocity_range(tissue: "EikonalTissue", sites=()) -> None:
    """Refuse conduction velocities whose arrival times cannot be represented for this mesh in its dtype (one line
    naming the velocity, what was measured and the limit).

    With L the mesh's bounding-box diagonal (mm), h its shortest edge, v_min / v_max the slowest / fastest velocity
    (m/s = mm/ms), T the latest onset and eps, max, tiny the dtype's machine epsilon, largest and smallest normal
    number:

    - too slow: the slowest arrival ``L / v_min`` must be below ``min(0.5e30, sqrt(max)) / 1e3`` ms (0.5e30 is the
      solver's "unreached" mark; the local solver squares lengths over velocities, so they must stay below sqrt(max));
      float32: 1.8e16 ms, float64: 5e26 ms; that is v_min > L / limit.
    - too fast: an element's travel time ``h / v_max`` must exceed ``10 eps (T + L / v_min)`` (else neighbouring times
      are equal to within rounding: no precision is left) and ``1e3 sqrt(tiny)`` (squared times stay normal numbers).
    """
    v = np.asarray(tissue.cell_velocities(), np.float64)
    pts = np.asarray(tissue.points, np.float64)
    if v.size == 0 or pts.size == 0:
        return
    fi = jnp.finfo(jnp.asarray(tissue.points).dtype)
    eps, big, tiny = float(fi.eps), float(fi.max), float(fi.tiny)
    L = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    tets = np.asarray(tissue.tets)
    pairs = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
    h = min(float(np.min(np.linalg.norm(pts[tets[:, a]] - pts[tets[:, b]], axis=1))) for a, b in pairs)
    onsets = [abs(float(np.asarray(s.onset))) for s in sites] or [0.0]
    T = max(onsets)
    t_cap = min(0.5 * _BIG, math.sqrt(big)) / _RANGE_MARGIN
    dname = fi.dtype.name
    kmin = np.unravel_index(int(np.argmin(v)), v.shape)
    kmax = np.unravel_index(int(np.argmax(v)), v.shape)
    direction = ("fibre", "sheet", "normal")

    def which(k):
        c = int(k[0])
        if tissue.velocity_cells is None and not (tissue.fast_cells is not None and bool(tissue.fast_cells[c])):
            return f"region {tissue.region_ids[int(tissue.cell_region[c])]}, {direction[int(k[1])]}"
        return f"cell {c}, {direction[int(k[1])]}"

    vmin, vmax = float(v[kmin]), float(v[kmax])
    if L > 0 and L / vmin > t_cap:
        raise InputError(
            f"conduction velocity {vmin:.3g} m/s ({which(kmin)}) is too slow for this mesh: the latest arrival over "
            f"its {L:.4g} mm diagonal would be ~{L / vmin:.3g} ms, beyond what {dname} activation times can hold "
            f"({t_cap:.3g} ms); use velocities >= {L / t_cap:.3g} m/s (cardiac tissue: 0.05-4 m/s)"
        )
    t_scale = T + (L / vmin if L > 0 else 0.0)
    need = max(_PRECISION_ULPS * eps * t_scale, _RANGE_MARGIN * math.sqrt(tiny))
    if h > 0 and h / vmax < need and T > L / vmin and h / vmax >= _RANGE_MARGIN * math.sqrt(tiny):
        raise InputError(
            f"site onsets up to {T:.4g} ms leave {dname} activation times a resolution of ~{need:.3g} ms, more than "
            f"the {h / vmax:.3g} ms an element (shortest edge {h:.3g} mm) takes at {vmax:.3g} m/s: the times would "
            f"lose all precision; shift the onsets nearer 0 ms (below {h / vmax / (_PRECISION_ULPS * eps):.3g} ms) or "
            f"compute in float64"
        )
    if h > 0 and h / vmax < need:
        raise InputError(
            f"conduction velocity {vmax:.3g} m/s ({which(kmax)}) is too fast for this mesh in {dname}: an element "
            f"(shortest edge {h:.3g} mm) is crossed in {h / vmax:.3g} ms, below the resolution of activation times up "
            f"to {t_scale:.3g} ms ({need:.3g} ms); the times would lose all precision; use velocities <= "
            f"{h / need:.3g} m/s (cardiac tissue: 0.05-4 m/s)"
        )


def _problem(tissue: EikonalTissue, sites) -> EikonalProblem:
    M = tissue.metric()
    t_src = site_source_times(tissue.points, node_metric(tissue.tets, M, tissue.n_nodes), sites)
    return EikonalProblem(tissue.points, tissue.tets, M, t_src)


@eqx.filter_jit
def _any_source(tissue, sites):
    return jnp.any(jax.lax.stop_gradient(_problem(tissue, sites).t_source) < 0.5 * _BIG)


@eqx.filter_jit
def _simulate(tissue, sites, max_sweeps, forward_mode):
    t, k = solve_eikonal(_problem(tissue, sites), max_sweeps=max_sweeps, forward_mode=forward_mode)
    # inf alone is "unreached" (a part not connected to any site); NaN or -inf is a failure
    bad = jax.lax.stop_gradient(jnp.isnan(t) | (t == -jnp.inf))
    # a velocity that is not positive and finite: refused before the solve when concrete (simulate_eikonal); traced
    # (under jit, vmap, a fit) it gave finite, wrong times (NaN velocities: 0 ms everywhere) and "successful"
    v = jax.lax.stop_gradient(tissue.cell_velocities())
    invalid = ~jnp.all(jnp.isfinite(v) & (v > 0))
    result = RESULTS.where(
        invalid,
        RESULTS.eikonal_invalid_velocity,
        RESULTS.where(
            jnp.any(bad),
            RESULTS.diverged,
            RESULTS.where(k >= max_sweeps, RESULTS.eikonal_not_converged, RESULTS.successful),
        ),
    )
    return EikonalResult(t, k, result, jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32))

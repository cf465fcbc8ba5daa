"""Losses on measured data and the fits that minimise them over `FreeParameters`.

* `ActivationTimeLoss` — local activation times measured at scattered points (an electroanatomical map), each point
  projected onto the closest point of the mesh's boundary surface; the model's activation there is the barycentric
  interpolation of its nodal times. An electroanatomical map's times are relative to an arbitrary reference, so by
  default the mean difference (a global time shift) is removed in closed form (``fit_offset``).
* `fit_adam` — optax Adam (any optax schedule as the learning rate) on loss(model) + the priors' penalties; jitted
  steps, a progress line with the loss.

Not here yet (issue 6): Levenberg–Marquardt / Gauss–Newton with optimistix. Its Jacobian needs forward mode (a few
parameters, many residuals), and the eikonal's derivative is a custom VJP only; optimistix's reverse-mode option vmaps
the eikonal's adjoint over every residual at once (32 GB for 400 map points on the built-in BiV, measured). What it
needs: a custom JVP of the eikonal (the tangent of the frozen-parent fixed point is one more causal sweep) and
``diffrax.ForwardMode`` for the 0D solves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from ._params import CalibrationError, FreeParameters

__all__ = ["ActivationTimeLoss", "FitResult", "fit_adam", "project_onto_surface"]


# --------------------------------------------------------------------------------------------- surface projection
def _closest_on_triangles(p, a, b, c):
    """Closest points to p (n, 3) on triangles (a, b, c) (n, 3 each): barycentric weights (n, 3) and squared
    distances (Ericson, Real-Time Collision Detection, 5.1.5; vectorised, region by region)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    with np.errstate(divide="ignore", invalid="ignore"):
        v = vb / denom
        w = vc / denom
    bary = np.stack([1 - v - w, v, w], axis=1)                       # inside the face
    regions = [
        ((d1 <= 0) & (d2 <= 0), lambda: np.array([1.0, 0.0, 0.0])),
        ((d3 >= 0) & (d4 <= d3), lambda: np.array([0.0, 1.0, 0.0])),
        ((d6 >= 0) & (d5 <= d6), lambda: np.array([0.0, 0.0, 1.0])),
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        t_ab = d1 / (d1 - d3)
        e_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        t_ac = d2 / (d2 - d6)
        e_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    out = bary.copy()
    out[e_bc] = np.stack([np.zeros(e_bc.sum()), 1 - t_bc[e_bc], t_bc[e_bc]], axis=1)
    out[e_ac] = np.stack([1 - t_ac[e_ac], np.zeros(e_ac.sum()), t_ac[e_ac]], axis=1)
    out[e_ab] = np.stack([1 - t_ab[e_ab], t_ab[e_ab], np.zeros(e_ab.sum())], axis=1)
    for mask, value in reversed(regions):
        out[mask] = value()
    q = out[:, :1] * a + out[:, 1:2] * b + out[:, 2:] * c
    return out, np.sum((p - q) ** 2, axis=1)


def project_onto_surface(points, triangles, query, *, candidates: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest point of a triangle surface to each query point (host, numpy + scipy's k-d tree).

    Returns (triangle vertex indices (m, 3), barycentric weights (m, 3), distances (m,) mm). The exact closest point
    over the ``candidates`` triangles with the nearest centroids (enough on a mesh whose triangles are of similar size).
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    tri = np.asarray(triangles)
    q = np.asarray(query, np.float64)
    k = min(candidates, tri.shape[0])
    _, cand = cKDTree(pts[tri].mean(axis=1)).query(q, k=k)
    cand = cand.reshape(q.shape[0], k)
    best_w = np.zeros((q.shape[0], 3))
    best_d = np.full(q.shape[0], np.inf)
    best_t = np.zeros(q.shape[0], np.int64)
    for j in range(k):   # k candidate triangles per point, each pass vectorised over all points
        t = cand[:, j]
        w, d = _closest_on_triangles(q, pts[tri[t, 0]], pts[tri[t, 1]], pts[tri[t, 2]])
        better = d < best_d
        best_w[better], best_d[better], best_t[better] = w[better], d[better], t[better]
    return tri[best_t], best_w, np.sqrt(best_d)


def _surface_triangles(mesh) -> np.ndarray:
    from ..mesh._generate import _boundary_faces

    faces, _ = _boundary_faces(np.asarray(mesh.tets), mesh.n_nodes)
    return faces


# ----------------------------------------------------------------------------------------------------------- losses
class ActivationTimeLoss(eqx.Module):
    """Mean squared difference (ms²) between measured and model activation times at the measured points (final).

    Attributes:
        nodes, weights: (m, 3) the surface triangle and barycentric weights of each point's projection.
        measured_ms: (m,) measured local activation times.
        distance_mm: (m,) how far each measured point was from the surface (host diagnostics).
        fit_offset: remove the mean difference (a global time shift of the map) before squaring.
    """

    nodes: Int[Array, "m 3"]
    weights: Float[Array, "m 3"]
    measured_ms: Float[Array, " m"]
    distance_mm: np.ndarray
    fit_offset: bool = eqx.field(static=True, default=True)

    @classmethod
    def from_map(cls, mesh, activation_map, *, fit_offset: bool = True, max_distance_mm: float = 10.0,
                 dtype=None) -> "ActivationTimeLoss":
        """Project an `ActivationMap` (points mm, times ms) onto the boundary surface of ``mesh``; a point farther
        than ``max_distance_mm`` from it is a one-line error (a map in another frame or unit)."""
        tri = _surface_triangles(mesh)
        nodes, w, dist = project_onto_surface(mesh.points, tri, activation_map.points_mm)
        far = np.flatnonzero(dist > max_distance_mm)
        if far.size:
            i = int(far[0])
            raise CalibrationError(f"{activation_map.source or 'activation map'}: point {i} is {dist[i]:.1f} mm from "
                                   f"the mesh surface ({far.size} points farther than {max_distance_mm} mm); is the map "
                                   "in the mesh's frame and in mm?")
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(jnp.asarray(nodes, jnp.int32), jnp.asarray(w, dtype),
                   jnp.asarray(activation_map.times_ms, dtype), dist, fit_offset)

    def predicted(self, activation_ms: Float[Array, " nodes"]) -> Float[Array, " m"]:
        return jnp.sum(self.weights * activation_ms[self.nodes], axis=-1)

    def residuals(self, activation_ms: Float[Array, " nodes"]) -> Float[Array, " m"]:
        r = self.predicted(activation_ms) - self.measured_ms
        return r - jnp.mean(r) if self.fit_offset else r

    def __call__(self, activation_ms) -> Array:
        return jnp.mean(jnp.square(self.residuals(activation_ms)))

    def rmse(self, activation_ms) -> Array:
        """Root-mean-square error, ms (after the offset when ``fit_offset``)."""
        return jnp.sqrt(self(activation_ms))


# -------------------------------------------------------------------------------------------------------------- fits
@dataclass(frozen=True)
class FitResult:
    """The fitted model, its free parameters' values, the objective's history and how the fit ended."""

    model: object
    u: np.ndarray
    values: dict
    loss: float
    history: np.ndarray
    steps: int
    seconds: float
    message: str


def _objective(loss, free: FreeParameters, model):
    def f(u):
        return loss(free.unpack(model, u)) + free.prior_penalty(u)
    return f


def fit_adam(loss, free: FreeParameters, model, *, learning_rate=1e-2, steps: int = 200, u0=None,
             progress: bool = True, print_every: int = 20) -> FitResult:
    """Minimise ``loss(model) + priors`` over the free parameters with optax Adam (``learning_rate`` a float or an
    optax schedule), ``steps`` jitted steps from ``u0`` (default: the model's current values)."""
    objective = _objective(loss, free, model)
    opt = optax.adam(learning_rate)
    u = free.pack(model) if u0 is None else jnp.asarray(u0)
    state = opt.init(u)

    @jax.jit
    def step(u, state):
        value, g = jax.value_and_grad(objective)(u)
        updates, state = opt.update(g, state, u)
        return optax.apply_updates(u, updates), state, value

    history = []
    t0 = time.perf_counter()
    for k in range(int(steps)):
        u, state, value = step(u, state)
        v = float(value)
        if not np.isfinite(v):
            raise CalibrationError(f"fit: the loss became {v} at step {k}; lower the learning rate or tighten bounds")
        history.append(v)
        if progress and (k % print_every == 0 or k == steps - 1):
            print(f"fit {k + 1}/{steps}: loss {v:.6g}", flush=True)
    final = float(objective(u))
    return FitResult(free.unpack(model, u), np.asarray(u), {k: np.asarray(v) for k, v in free.values(u).items()},
                     final, np.asarray(history + [final]), int(steps), time.perf_counter() - t0,
                     f"{steps} Adam steps")

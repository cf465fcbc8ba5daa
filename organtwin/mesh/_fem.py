"""Linear (P1) tetrahedral finite elements: geometry, mass, conductivity tensors, element stiffness.

Everything here is pure JAX: jit-able, differentiable (w.r.t. the points, the conductivities and the fibre fields), and the
floating dtype follows the inputs (float32 in, float32 out; float64 needs ``jax_enable_x64`` set by the caller). The public
functions are wrapped in ``jax.jit`` (one compilation per shape when called eagerly; inlined inside a caller's jit).

Conventions: for a tet with vertices ``p0..p3`` the barycentric basis functions ``λ0..λ3`` have constant gradients; ``grads[c, a]``
is ∇λ_a on cell ``c``. The element stiffness of ``-div(D grad u)`` is ``K_ab = |T| ∇λ_a · D ∇λ_b``; the consistent element
mass is ``M_ab = |T| (1 + δ_ab) / 20`` and its row sums (the lumped mass) are ``|T| / 4``.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._errors import InputError, MeshError

__all__ = [
    "P1Geometry",
    "p1_geometry",
    "lumped_mass",
    "element_mass",
    "element_stiffness",
    "conductivity_tensors",
    "orthonormal_frame",
    "region_values",
    "region_index",
    "cell_gradient",
]


class P1Geometry(eqx.Module):
    """Per-cell data of the P1 basis on a tetrahedral mesh (final).

    Attributes:
        grads: (cells, 4, 3) gradients of the four barycentric basis functions, 1/mm.
        volumes: (cells,) unsigned tet volumes, mm³.
        tets: (cells, 4) int32 connectivity (a pytree leaf, so it is traced, never baked into a compiled function).
        n_nodes: number of mesh nodes (static).
    """

    grads: Float[Array, "cells 4 3"]
    volumes: Float[Array, " cells"]
    tets: Int[Array, "cells 4"]
    n_nodes: int = eqx.field(static=True)

    @classmethod
    def from_mesh(cls, mesh, dtype=None) -> "P1Geometry":
        """The geometry of a `Mesh`; ``dtype`` of the coordinates (default: JAX's default float, float32 unless x64 is on)."""
        points = jnp.asarray(mesh.points, dtype=dtype)
        return p1_geometry(points, mesh.tets, n_nodes=mesh.n_nodes)

    @property
    def n_cells(self) -> int:
        return int(self.tets.shape[0])

    @property
    def dtype(self):
        return self.volumes.dtype


@functools.partial(jax.jit, static_argnames=("n_nodes",))
def p1_geometry(
    points: Float[ArrayLike, "nodes 3"], tets: Int[ArrayLike, "cells 4"], *, n_nodes: int | None = None
) -> P1Geometry:
    """Basis gradients and volumes of every tet; differentiable w.r.t. ``points``.

    ``tets`` must be concrete (host or device integers); ``n_nodes`` defaults to ``points.shape[0]``.
    Volumes are unsigned (``|det J| / 6``), so inverted tets still give a positive mass; degenerate tets give inf/nan gradients
    (check meshes on the host first).
    """
    points = jnp.asarray(points)
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.result_type(float))
    tets = jnp.asarray(tets, dtype=jnp.int32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise MeshError(f"points must have shape (nodes, 3), got {points.shape}")
    if tets.ndim != 2 or tets.shape[1] != 4:
        raise MeshError(f"tets must have shape (cells, 4), got {tets.shape}")
    p = points[tets]  # (c, 4, 3)
    e1, e2, e3 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
    # Rows of J^{-1} for J = [e1 e2 e3] (columns): (e2 x e3, e3 x e1, e1 x e2) / det J.
    c23, c31, c12 = jnp.cross(e2, e3), jnp.cross(e3, e1), jnp.cross(e1, e2)
    det = jnp.sum(e1 * c23, axis=-1)
    g123 = jnp.stack([c23, c31, c12], axis=1) / det[:, None, None]
    grads = jnp.concatenate([-g123.sum(axis=1, keepdims=True), g123], axis=1)
    volumes = jnp.abs(det) / 6
    return P1Geometry(
        grads=grads, volumes=volumes, tets=tets, n_nodes=int(points.shape[0] if n_nodes is None else n_nodes)
    )


@jax.jit
def lumped_mass(geom: P1Geometry) -> Float[Array, " nodes"]:
    """Row sums of the consistent mass matrix: each node gets a quarter of the volume of every tet it belongs to."""
    quarter = jnp.broadcast_to((geom.volumes / 4)[:, None], geom.tets.shape)
    return jax.ops.segment_sum(quarter.reshape(-1), geom.tets.reshape(-1), num_segments=geom.n_nodes)


@jax.jit
def element_mass(geom: P1Geometry) -> Float[Array, "cells 4 4"]:
    """Consistent P1 element mass matrices ``|T| (1 + δ_ab) / 20``."""
    pattern = (jnp.ones((4, 4), geom.dtype) + jnp.eye(4, dtype=geom.dtype)) / 20
    return geom.volumes[:, None, None] * pattern[None]


def _unit(v, axis=-1):
    """``v / |v|`` with a zero (or NaN/inf) vector mapped to zero (and a finite gradient there)."""
    fin = jnp.all(jnp.isfinite(v), axis=axis, keepdims=True)
    v = jnp.where(fin, v, 0)
    n2 = jnp.sum(v * v, axis=axis, keepdims=True)
    ok = n2 > 0
    return jnp.where(ok, v / jnp.sqrt(jnp.where(ok, n2, 1)), 0)


def orthonormal_frame(fibres, sheets=None):
    """``(f, s, n, ok_f, ok_s)``: the unit fibre, the sheet made orthogonal to it (Gram–Schmidt) and normalised, the
    normal ``n = f × s``, and per-cell flags: ``ok_f`` the fibre is a direction (finite, non-zero), ``ok_s`` the sheet
    is too after Gram–Schmidt (finite and |s - (s·f) f| > 1e-3 |s|, i.e. not parallel to the fibre). Where a flag is
    false the vectors are zero, so a tensor built on them must fall back (isotropic / transversely isotropic): that is
    how every conductivity and velocity tensor stays symmetric positive definite whatever the input. Differentiable."""
    f = _unit(jnp.asarray(fibres))
    ok_f = jnp.sum(f * f, axis=-1) > 0.5
    if sheets is None:
        return f, None, None, ok_f, jnp.zeros_like(ok_f)
    s = jnp.asarray(sheets)
    s = _unit(s)
    r = s - jnp.sum(s * f, axis=-1, keepdims=True) * f
    ok_s = ok_f & (jnp.sum(r * r, axis=-1) > 1e-6)
    s = jnp.where(ok_s[..., None], _unit(jnp.where(ok_s[..., None], r, 1.0)), 0)
    return f, s, jnp.cross(f, s), ok_f, ok_s


@jax.jit
def conductivity_tensors(
    sigma_l,
    sigma_t,
    fibres: Float[ArrayLike, "*cells 3"] | None = None,
    *,
    sigma_n=None,
    sheets: Float[ArrayLike, "*cells 3"] | None = None,
) -> Float[Array, "*cells 3 3"]:
    """Conductivity tensors from fibre (and sheet) directions.

    - ``fibres is None``: isotropic ``sigma_l I`` (``sigma_t`` is ignored); with scalar ``sigma_l`` the result is one (3, 3)
      tensor, which `element_stiffness` broadcasts over cells.
    - transversely isotropic (default): ``sigma_t I + (sigma_l - sigma_t) f fᵀ``.
    - orthotropic, when both ``sheets`` and ``sigma_n`` are given: ``sigma_l f fᵀ + sigma_t s sᵀ + sigma_n n nᵀ`` with
      ``n = f × s``. Here ``sigma_t`` is the conductivity along the sheet direction and ``sigma_n`` along the sheet normal.

    ``sigma_*`` are scalars or per-cell arrays (cells,). Fibres are normalised inside (differentiably; a zero or NaN fibre
    gives the isotropic ``sigma_t I``); sheets are made orthogonal to the fibre (Gram–Schmidt) and normalised, and a
    sheet that is no direction (zero, NaN, parallel to the fibre) gives the transversely isotropic tensor
    (`orthonormal_frame`): symmetric positive definite for positive sigmas whatever the directions.
    """
    sigma_l = jnp.asarray(sigma_l)
    sigma_t = jnp.asarray(sigma_t)
    if fibres is None:
        if sheets is not None or sigma_n is not None:
            raise InputError("conductivity_tensors: sheets/sigma_n need fibres as well")
        eye = jnp.eye(3, dtype=jnp.result_type(sigma_l, float))
        return _per_batch(sigma_l, sigma_l.shape) * jnp.broadcast_to(eye, sigma_l.shape + (3, 3))
    f, s, n, _, ok_s = orthonormal_frame(fibres, None if sigma_n is None else sheets)
    dtype = jnp.result_type(f, sigma_l, sigma_t)
    # Every operand broadcast to one batch shape explicitly (scalar or per-cell sigmas, one or per-cell directions):
    # the package is tested under jax_numpy_rank_promotion="raise".
    batch = jnp.broadcast_shapes(sigma_l.shape, sigma_t.shape, f.shape[:-1])
    eye = jnp.broadcast_to(jnp.eye(3, dtype=dtype), batch + (3, 3))
    ff = jnp.broadcast_to(f[..., :, None] * f[..., None, :], batch + (3, 3))
    sl, st = _per_batch(sigma_l, batch), _per_batch(sigma_t, batch)
    if sigma_n is None:
        if sheets is not None:
            # No separate normal conductivity: the sheet direction does not matter (transversely isotropic).
            pass
        return st * eye + (sl - st) * ff
    if sheets is None:
        raise InputError("conductivity_tensors: sigma_n (orthotropic) needs sheet directions (sheets=...)")
    assert s is not None and n is not None  # orthonormal_frame gives both with sheets
    sigma_n = jnp.asarray(sigma_n)
    batch = jnp.broadcast_shapes(batch, sigma_n.shape, s.shape[:-1])
    eye, ff = jnp.broadcast_to(eye, batch + (3, 3)), jnp.broadcast_to(ff, batch + (3, 3))
    sl, st, sn = _per_batch(sigma_l, batch), _per_batch(sigma_t, batch), _per_batch(sigma_n, batch)
    ss = jnp.broadcast_to(s[..., :, None] * s[..., None, :], batch + (3, 3))
    nn = jnp.broadcast_to(n[..., :, None] * n[..., None, :], batch + (3, 3))
    ortho = sl * ff + st * ss + sn * nn
    # a sheet that is no direction (zero, NaN, parallel to the fibre): transversely isotropic with sigma_t
    trans = st * eye + (sl - st) * ff
    return jnp.where(_per_batch(ok_s, batch), ortho, trans)


def _per_batch(a, batch: tuple[int, ...]) -> Array:
    """``a`` (a scalar or one value per batch entry) as ``batch + (1, 1)``, to scale (batch, 3, 3) tensors."""
    return jnp.broadcast_to(a, batch)[..., None, None]


def region_index(regions, ids=None) -> tuple[np.ndarray, np.ndarray]:
    """Host helper: map region ids (e.g. ``mesh.regions``) to ``0..R-1``.

    Returns ``(index, ids)``: ``index`` (cells,) int32 with ``ids[index] == regions``. ``ids`` defaults to the sorted unique
    ids present; pass it to fix the order of a parameter table. Raises MeshError for a region id missing from ``ids``.
    """
    regions = np.asarray(regions)
    ids = np.unique(regions) if ids is None else np.asarray(ids)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], regions)
    pos = np.clip(pos, 0, len(ids) - 1)
    index = order[pos]
    bad = ids[index] != regions
    if np.any(bad):
        missing = np.unique(regions[bad]).tolist()
        raise MeshError(f"region id(s) {missing} have no entry in the parameter table (table ids: {ids.tolist()})")
    return index.astype(np.int32), ids


@jax.jit
def region_values(
    region_index: Int[ArrayLike, " cells"], table: Float[ArrayLike, " regions *rest"]
) -> Float[Array, " cells *rest"]:
    """Per-cell values ``table[region_index]`` (differentiable w.r.t. ``table``).

    ``region_index`` is (cells,) int in ``0..R-1`` (see `region_index` to build it from region ids); ``table`` is (R,) or
    (R, ...) (e.g. per-region fibre conductivity pairs).
    """
    return jnp.asarray(table)[jnp.asarray(region_index)]


@jax.jit
def element_stiffness(geom: P1Geometry, D) -> Float[Array, "cells 4 4"]:
    """P1 element stiffness ``|T| G D Gᵀ`` of ``-div(D grad u)``.

    ``D`` is a scalar, per-cell scalars (cells,), one tensor (3, 3) or per-cell tensors (cells, 3, 3).
    """
    D = jnp.asarray(D)
    G = geom.grads
    if D.ndim <= 1:
        GG = jnp.einsum("cai,cbi->cab", G, G)
        return (geom.volumes * D)[:, None, None] * GG
    if D.shape[-2:] != (3, 3):
        raise InputError(f"element_stiffness: D must be scalar, (cells,), (3, 3) or (cells, 3, 3), got shape {D.shape}")
    GD = jnp.einsum("cai,...ij->caj", G, D) if D.ndim == 2 else jnp.einsum("cai,cij->caj", G, D)
    return geom.volumes[:, None, None] * jnp.einsum("caj,cbj->cab", GD, G)


@jax.jit
def cell_gradient(geom: P1Geometry, u: Float[ArrayLike, " nodes *rest"]) -> Float[Array, "cells 3 *rest"]:
    """The (constant) gradient of the P1 interpolant of nodal values ``u`` on every cell: ``Σ_a u[tets[c, a]] ∇λ_a``."""
    u = jnp.asarray(u)
    return jnp.einsum("cai,ca...->ci...", geom.grads, u[geom.tets])

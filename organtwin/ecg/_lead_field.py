"""Lead-field ECG with a torso (reciprocity): one Laplace solve per electrode on the torso volume conductor, computed
once and reused for every beat and every gradient.

By Helmholtz reciprocity (Geselowitz 1967), the potential of electrode e (relative to a reference node) produced by the
heart's impressed current density ``-σ_i ∇Vm`` is ``φ_e = -∫_heart σ_i ∇Vm · ∇Z_e dV``, where ``Z_e`` is the potential
in the torso when a unit current enters at e and leaves at the reference: ``∇·(σ_b ∇Z_e) = 0`` in the torso, insulated
skin, a point source at e, ``Z_e = 0`` at the reference node. In an infinite medium ``Z_e = 1/(4π σ_b r)`` and this is
the pseudo-ECG (`pseudo_ecg_matrix`); in a bounded torso the insulated skin raises the potentials (near a flat
boundary, twice the infinite-medium value). Every electrode shares the reference, so the 12 leads (differences and
Wilson's terminal) do not depend on it.

The heart mesh need not conform to the torso mesh: ∇Z_e (constant per torso tet) is taken in the torso tet that
contains each heart cell's centroid (located once, on the host). Homogeneous torso conductivity ``sigma_b`` (S/m).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import MeshError
from ._pseudo_ecg import lead_matrix

__all__ = ["TorsoLeadFields", "torso_lead_fields", "lead_field_matrix"]


class TorsoLeadFields:
    """The solved lead fields (host container): ``Z`` (k, torso nodes), the electrode and reference torso nodes, the
    torso mesh and its conductivity."""

    def __init__(self, torso, Z, electrode_nodes, reference_node, sigma_b):
        self.torso = torso
        self.Z = Z
        self.electrode_nodes = np.asarray(electrode_nodes)
        self.reference_node = int(reference_node)
        self.sigma_b = float(sigma_b)


def torso_lead_fields(
    torso, electrodes, *, sigma_b: float = 0.2, reference_node: int | None = None, on_skin: bool = True
) -> TorsoLeadFields:
    """Solve the k lead fields of a torso `Mesh` for electrodes at ``electrodes`` (k, 3) mm.

    Each electrode is the torso's skin node nearest to it (``on_skin``; else the nearest node anywhere). The reference
    (Z = 0) defaults to the skin node farthest from the electrodes' centroid. ``sigma_b`` S/m (0.2: a homogeneous
    torso). Solved once, in float64, by a sparse direct factorisation (scipy's SuperLU; the fields are returned in
    JAX's default float).
    """
    from ..mesh import SparsityPattern, assemble_stiffness, p1_geometry

    pts = np.asarray(torso.points, float)
    el = np.asarray(electrodes, float).reshape(-1, 3)
    if on_skin:
        if "skin" not in torso.surfaces:
            raise MeshError("torso_lead_fields: the torso mesh has no surface named 'skin' (or pass on_skin=False)")
        cand = np.unique(torso.surfaces["skin"].triangles)
    else:
        cand = np.arange(pts.shape[0])
    d = np.linalg.norm(pts[cand][None, :, :] - el[:, None, :], axis=-1)
    nodes = cand[np.argmin(d, axis=1)]
    if reference_node is None:
        skin = np.unique(torso.surfaces["skin"].triangles) if "skin" in torso.surfaces else np.arange(pts.shape[0])
        reference_node = int(skin[np.argmax(np.linalg.norm(pts[skin] - el.mean(axis=0), axis=1))])
    # The lead fields are a one-off precomputation (not differentiated): float64 and a sparse direct solve on the host
    # (scipy's SuperLU), robust where float32 CG stagnates on this nearly singular problem (insulated torso, one
    # grounded node).
    import scipy.sparse.linalg as sla

    dtype = jnp.result_type(float)
    geom = p1_geometry(jnp.asarray(pts, dtype), jnp.asarray(torso.tets))
    K = assemble_stiffness(geom, jnp.asarray(sigma_b, dtype), SparsityPattern.from_mesh(torso)).to_scipy().astype(float)
    K = (0.5 * (K + K.T)).tocsc()
    n = pts.shape[0]
    free = np.ones(n, bool)
    free[reference_node] = False
    idx = np.flatnonzero(free)
    lu = sla.splu(K[idx][:, idx].tocsc())
    B = np.zeros((idx.size, nodes.size))
    pos = np.full(n, -1)
    pos[idx] = np.arange(idx.size)
    for j, nd in enumerate(nodes):
        if pos[nd] >= 0:
            B[pos[nd], j] = 1.0
    X = lu.solve(B)
    Z = np.zeros((nodes.size, n))
    Z[:, idx] = X.T
    return TorsoLeadFields(torso, jnp.asarray(Z, dtype), nodes, reference_node, sigma_b)


def _locate_cells(torso, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of a torso tet containing each point (the least violating one if none does) and the point's barycentric
    coordinates in it (clipped to the tet)."""
    from scipy.spatial import KDTree

    pts = np.asarray(torso.points, float)
    tets = np.asarray(torso.tets)
    cent = pts[tets].mean(axis=1)
    k = min(32, tets.shape[0])
    _, cand = KDTree(cent).query(x, k=k)
    cand = cand.reshape(x.shape[0], k)
    P = pts[tets[cand]]  # (n, k, 4, 3)
    T = np.stack([P[..., 1, :] - P[..., 0, :], P[..., 2, :] - P[..., 0, :], P[..., 3, :] - P[..., 0, :]], axis=-1)
    lam = np.linalg.solve(T, (x[:, None, :] - P[..., 0, :])[..., None])[..., 0]
    bary = np.concatenate([1.0 - lam.sum(-1, keepdims=True), lam], axis=-1)
    best = np.argmax(bary.min(-1), axis=1)
    rows = np.arange(x.shape[0])
    b = np.clip(bary[rows, best], 0.0, None)
    return cand[rows, best], b / b.sum(-1, keepdims=True)


def lead_field_matrix(heart_points, heart_tets, sigma_i, fields: TorsoLeadFields) -> Float[Array, "k nodes"]:
    """The lead matrix (electrodes × heart nodes) of the lead-field ECG: ``φ = L @ Vm`` (mV), as `pseudo_ecg_matrix`
    but with the torso's lead fields. ``sigma_i``: the heart's intracellular (monodomain) conductivity, S/m (scalar,
    per cell, or per-cell tensors)."""
    import jax

    from ..mesh import cell_gradient, p1_geometry

    hp = np.asarray(heart_points, float)
    ht = np.asarray(heart_tets)
    cells, bary = _locate_cells(fields.torso, hp[ht].mean(axis=1))
    Z = fields.Z
    tt = jnp.asarray(fields.torso.tets)
    tgeom = p1_geometry(jnp.asarray(fields.torso.points, Z.dtype), tt)
    gZ = cell_gradient(tgeom, Z.T)  # (torso cells, 3, k), constant per tet
    # Recovered nodal gradients (volume-weighted average of the surrounding tets' gradients, second order on smooth
    # fields) interpolated at the heart cells' centroids: Z is smooth around the heart, far from the electrodes.
    w = jnp.repeat(tgeom.volumes, 4)
    num = jax.ops.segment_sum(
        jnp.repeat(gZ, 4, axis=0) * w[:, None, None], tt.reshape(-1), num_segments=fields.torso.n_nodes
    )
    den = jax.ops.segment_sum(w, tt.reshape(-1), num_segments=fields.torso.n_nodes)
    g_nodes = num / den[:, None, None]  # (torso nodes, 3, k)
    g = jnp.einsum("ca,cajk->cjk", jnp.asarray(bary, Z.dtype), g_nodes[tt[jnp.asarray(cells)]])
    grad = jnp.moveaxis(g, -1, 0)  # (k, heart cells, 3)
    return lead_matrix(jnp.asarray(heart_points, Z.dtype), jnp.asarray(heart_tets), sigma_i, grad)

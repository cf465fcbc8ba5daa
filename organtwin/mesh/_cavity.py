"""Cavity volumes (mL) enclosed by a mesh's endocardial surfaces.

The volume inside a closed triangulated surface is, by the divergence theorem,

    V = Σ_triangles (p0 − o) · ((p1 − o) × (p2 − o)) / 6

for any origin o (the surface's centroid is used, for round-off), with every triangle oriented the same way. Surfaces
read from files are often not consistently oriented, so the orientation is repaired first: triangles sharing an edge
are flipped until each shared edge is run through once in each direction (breadth-first over each connected piece); the
sign of each piece's volume is then dropped (|V|), so the result does not depend on which way the normals point.

An endocardium is usually open: it ends at the base (the cut at the AV junction) or at the valve rings. Each boundary
loop of such a surface (the rim) is closed with a fan of triangles from the loop's centroid, oriented with the surface;
for a planar rim (a flat base cut) this is the exact flat lid, for a curved rim a cone-like lid through the rim's
centroid. Every loop is closed this way (the mitral and aortic openings of an LV endocardium are two loops, two lids).

A surface cannot be closed when an edge is shared by more than two of its triangles (non-manifold), when the rim
touches itself (a vertex with more than two rim edges), or when it cannot be oriented (a Möbius-like strip): each is a
one-line `MeshError` saying which and where. Units: mesh in mm, volumes in mL (1 mL = 1000 mm³).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .._errors import MeshError

__all__ = ["CavityVolume", "cavity_volume", "cavity_volumes", "is_cavity_surface"]

# Surfaces taken as cavities by `cavity_volumes` even when open (closed at their rim): endocardia and blood pools.
_CAVITY_NAME = re.compile(r"(^|[_\W])(endo|endocardium|cavity|blood|pool|lumen)($|[_\W])|^endo", re.IGNORECASE)


@dataclass(frozen=True)
class CavityVolume:
    """The volume enclosed by a surface.

    Attributes:
        name: the surface.
        volume_ml: enclosed volume, mL.
        closed: True when the surface was closed as it is (no lid added).
        rims: number of boundary loops closed with a lid.
        pieces: connected pieces of the surface (their volumes are added).
        lid_area_mm2: area of the lids added (0 for a closed surface).
        triangles: triangles of the surface.
    """

    name: str
    volume_ml: float
    closed: bool
    rims: int
    pieces: int
    lid_area_mm2: float
    triangles: int

    def describe(self) -> str:
        how = "closed surface" if self.closed else f"open, closed at {self.rims} rim{'s' if self.rims != 1 else ''}"
        return f"{self.volume_ml:.4g} mL ({how})"


def is_cavity_surface(name: str) -> bool:
    """Whether a surface name says it bounds a cavity (``endo_lv``, ``LV endocardium``, ``la_cavity``, ...)."""
    return bool(_CAVITY_NAME.search(str(name)))


def _orient(tris: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Consistently oriented triangles and the connected piece of each; raises for non-manifold/unorientable ones."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    n = tris.shape[0]
    e = np.stack([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]], axis=1).reshape(-1, 2)  # directed edges
    owner = np.repeat(np.arange(n), 3)
    lo, hi = e.min(axis=1).astype(np.int64), e.max(axis=1).astype(np.int64)
    key = lo * (int(tris.max()) + 1) + hi
    order = np.argsort(key, kind="stable")
    ks = key[order]
    uniq, start, count = np.unique(ks, return_index=True, return_counts=True)
    if np.any(count > 2):
        k = int(np.argmax(count))
        a, b = divmod(int(uniq[k]), int(tris.max()) + 1)
        raise MeshError(
            f"{what}: cannot be closed: {int(np.sum(count > 2))} edges are shared by more than two of its "
            f"triangles (non-manifold, e.g. nodes {a}-{b} in {int(count[k])} triangles); split it into "
            f"separate surfaces"
        )
    pairs = start[count == 2]
    t1, t2 = owner[order[pairs]], owner[order[pairs + 1]]
    same = e[order[pairs], 0] == e[order[pairs + 1], 0]  # the two run the edge the same way: one must flip
    graph = coo_matrix((np.where(same, 2, 1), (t1, t2)), shape=(n, n)).tocsr()
    graph = graph + graph.T
    n_pieces, piece = connected_components(graph, directed=False)
    flip = np.zeros(n, dtype=bool)
    for p in range(n_pieces):
        root = int(np.flatnonzero(piece == p)[0])
        bfs, pred = breadth_first_order(graph, root, directed=False, return_predecessors=True)
        if bfs.size < 2:
            continue
        rel = np.asarray(graph[bfs[1:], pred[bfs[1:]]]).reshape(-1) == 2
        for t, q, r in zip(bfs[1:].tolist(), pred[bfs[1:]].tolist(), rel.tolist()):
            flip[t] = flip[q] ^ r
    out = tris.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    bad = int(np.sum(same ^ flip[t1] ^ flip[t2]))
    if bad:
        raise MeshError(
            f"{what}: cannot be closed: it cannot be oriented consistently ({bad} shared edges disagree, a "
            f"Möbius-like surface); check the surface's triangles"
        )
    return out, piece


def _rims(tris: np.ndarray, what: str) -> list[np.ndarray]:
    """The boundary loops of oriented triangles, each as the node sequence in the triangles' direction."""
    e = np.stack([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]], axis=1).reshape(-1, 2).astype(np.int64)
    n = int(tris.max()) + 1
    fwd = e[:, 0] * n + e[:, 1]
    rev = e[:, 1] * n + e[:, 0]
    boundary = e[~np.isin(fwd, rev)]
    if boundary.size == 0:
        return []
    starts, counts = np.unique(boundary[:, 0], return_counts=True)
    if np.any(counts > 1):
        v = int(starts[np.argmax(counts)])
        raise MeshError(
            f"{what}: cannot be closed: its rim touches itself at node {v} ({int(counts.max())} rim loops meet "
            f"there); split the surface or close the openings in the mesh"
        )
    nxt = dict(zip(boundary[:, 0].tolist(), boundary[:, 1].tolist()))
    loops, seen = [], set()
    for v0 in boundary[:, 0].tolist():
        if v0 in seen:
            continue
        loop, v = [], v0
        while v not in seen:
            seen.add(v)
            loop.append(v)
            if v not in nxt:
                raise MeshError(f"{what}: cannot be closed: its rim is broken at node {v}")
            v = nxt[v]
        if v != v0:
            raise MeshError(f"{what}: cannot be closed: its rim does not form loops (node {v})")
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def cavity(mesh, surface_name: str) -> CavityVolume:
    """The volume enclosed by the surface ``surface_name`` of ``mesh`` (closed, or closed at its rims; module
    docstring), as a `CavityVolume`. One-line `MeshError` for a missing or empty surface or one that cannot be closed."""
    if surface_name not in mesh.surfaces:
        have = ", ".join(sorted(mesh.surfaces)) or "none"
        raise MeshError(
            f"the mesh has no surface named {surface_name!r} (surfaces: {have}); name the endocardial "
            f"surfaces endo_lv / endo_rv (`organtwin mesh surfaces`)"
        )
    tris = np.asarray(mesh.surfaces[surface_name].triangles, dtype=np.int64).reshape(-1, 3)
    what = f"surface {surface_name!r}"
    if tris.shape[0] == 0:
        raise MeshError(f"{what} has no triangles; it encloses no cavity")
    pts = np.asarray(mesh.points, dtype=np.float64)
    oriented, piece = _orient(tris, what)
    total, lid_area, rims, closed = 0.0, 0.0, 0, True
    for p in range(int(piece.max()) + 1):
        t = oriented[piece == p]
        loops = _rims(t, what)
        caps = []
        for loop in loops:
            c = pts[loop].mean(axis=0)
            a, b = pts[loop], pts[np.roll(loop, -1)]
            # lid triangles (b, a, centroid): each rim edge a -> b run the other way, as a closed surface needs
            caps.append((b, a, np.broadcast_to(c, a.shape)))
            lid_area += float(np.sum(np.linalg.norm(np.cross(a - c, b - c), axis=1)) / 2.0)
        rims += len(loops)
        closed &= not loops
        o = pts[np.unique(t)].mean(axis=0)
        p0, p1, p2 = pts[t[:, 0]] - o, pts[t[:, 1]] - o, pts[t[:, 2]] - o
        v = float(np.sum(np.einsum("ij,ij->i", p0, np.cross(p1, p2))))
        for q0, q1, q2 in caps:
            v += float(np.sum(np.einsum("ij,ij->i", q0 - o, np.cross(q1 - o, q2 - o))))
        total += abs(v) / 6.0
    return CavityVolume(surface_name, total / 1000.0, closed, rims, int(piece.max()) + 1, lid_area, int(tris.shape[0]))


def cavity_volume(mesh, surface_name: str) -> float:
    """The cavity volume (mL) enclosed by the surface ``surface_name`` (closed, or closed at its base rim with flat
    fans; module docstring). Orientation-independent. One-line `MeshError` for a missing surface or one that cannot be
    closed (non-manifold edges, a rim that touches itself, a non-orientable surface)."""
    return cavity(mesh, surface_name).volume_ml


def cavity_volumes(mesh) -> dict:
    """``{surface name: CavityVolume or MeshError}`` for every surface that bounds a cavity: those named like one
    (``endo_lv``, ``endo_rv``, ``*cavity*``, ``*endocardium*``, ...; open ones are closed at their rims) and any other
    surface that is closed as it is (e.g. an epicardium, or LA / RA cavity surfaces). A named cavity surface that cannot
    be closed maps to the error saying why."""
    out = {}
    for name in mesh.surfaces:
        try:
            c = cavity(mesh, name)
        except MeshError as e:
            if is_cavity_surface(name):
                out[name] = e
            continue
        if c.closed or is_cavity_surface(name):
            out[name] = c
    return out

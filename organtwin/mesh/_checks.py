"""Checks and light repairs of a tetrahedral mesh, run on every mesh read from a file.

Every check is vectorised numpy (a four-chamber heart with ~10⁶ tets is checked in about a second). Problems that
make the mesh unusable raise a one-line `MeshError`; problems that can be repaired without guessing (inverted tets, unused
nodes) are repaired with a one-line `MeshWarning`; suspicious but legal meshes (several parts, coordinates that look like
metres or µm) only warn.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import MeshError, MeshWarning
from ._fibre_checks import check_fibres
from ._mesh import Mesh, Surface

__all__ = ["check_mesh", "guess_units"]

# A tet is degenerate when |V| <= _ZERO_VOLUME_RTOL * median |V|: far below any tet a mesher makes on purpose (a sliver
# with 1e-4 of the median edge length in one direction still has ~1e-4 of the median volume), far above round-off.
_ZERO_VOLUME_RTOL = 1e-12

# Heart meshes are ~20-300 mm across. A bounding-box diagonal under 1 (mm) is a heart in metres; over 5000 (mm) a heart
# in µm. Between these, anything is taken as mm (cm cannot be told from a small mm slab, so it is not guessed).
_METRES_BELOW = 1.0
_MICROMETRES_ABOVE = 5000.0


def _first(ids, k: int = 5) -> str:
    ids = np.asarray(ids).ravel()
    head = ", ".join(str(int(i)) for i in ids[:k])
    return head + (", ..." if ids.size > k else "")


def _units(points) -> tuple[str, float, float]:
    """(units, factor to mm, bounding-box diagonal) from the finite coordinates."""
    points = np.asarray(points, dtype=np.float64)
    finite = points[np.isfinite(points).all(axis=1)] if points.size else points.reshape(-1, 3)
    if finite.shape[0] == 0:
        return "mm", 1.0, float("nan")
    diag = float(np.linalg.norm(finite.max(axis=0) - finite.min(axis=0)))
    if diag < _METRES_BELOW:
        return "m", 1000.0, diag
    if diag > _MICROMETRES_ABOVE:
        return "µm", 1e-3, diag
    return "mm", 1.0, diag


_UNIT_WORDS = {"m": "metres", "µm": "µm", "mm": "mm"}


def guess_units(points) -> tuple[str, float, str]:
    """Guess the length unit of coordinates from the bounding-box diagonal (hearts are ~20-300 mm across).

    Returns ``(units, factor_to_mm, reason)`` with units one of ``"mm"``, ``"m"``, ``"µm"``.
    """
    units, factor, diag = _units(points)
    if not np.isfinite(diag):
        return units, factor, "no finite coordinates; assumed mm"
    if units == "mm":
        return units, factor, f"bounding box diagonal {diag:.4g} mm is plausible for a mesh in mm"
    return (
        units,
        factor,
        f"bounding box diagonal {diag:.3g} suggests {_UNIT_WORDS[units]} (hearts are ~20-300 mm across)",
    )


def _warn(message: str) -> None:
    warnings.warn(message, MeshWarning, stacklevel=3)


def _check_indices(mesh: Mesh, source: str) -> None:
    n = mesh.n_nodes
    bad = ((mesh.tets < 0) | (mesh.tets >= n)).any(axis=1)
    if bad.any():
        ids = np.flatnonzero(bad)
        raise MeshError(
            f"{source}: {ids.size} tets name nodes that do not exist (the mesh has {n} nodes; first tet ids: "
            f"{_first(ids)}); the connectivity does not match the points, re-export the mesh from its source"
        )
    for name, s in mesh.surfaces.items():
        bad = ((s.triangles < 0) | (s.triangles >= n)).any(axis=1)
        if bad.any():
            raise MeshError(
                f"{source}: surface {name!r} has {int(bad.sum())} triangles naming nodes that do not exist (the mesh has "
                f"{n} nodes; first triangle ids: {_first(np.flatnonzero(bad))}); re-export the surface with the mesh"
            )
    for name, ns in mesh.node_sets.items():
        bad = (ns < 0) | (ns >= n)
        if bad.any():
            raise MeshError(
                f"{source}: node set {name!r} names {int(bad.sum())} nodes that do not exist (the mesh has {n} nodes; "
                f"first: {_first(ns[bad])}); the node set belongs to another mesh"
            )


def _drop_unreferenced(mesh: Mesh, source: str) -> Mesh:
    n = mesh.n_nodes
    used = np.zeros(n, dtype=bool)
    used[mesh.tets.ravel()] = True
    n_unused = int(n - used.sum())
    if n_unused == 0:
        return mesh
    new_index = np.cumsum(used) - 1
    surfaces, lost_tris = {}, 0
    for name, s in mesh.surfaces.items():
        keep = used[s.triangles].all(axis=1)
        lost_tris += int((~keep).sum())
        if keep.any():
            surfaces[name] = Surface(new_index[s.triangles[keep]], s.tag)
    node_sets, lost_nodes = {}, 0
    for name, ns in mesh.node_sets.items():
        keep = used[ns]
        lost_nodes += int((~keep).sum())
        if keep.any():
            node_sets[name] = new_index[ns[keep]]
    extra = ""
    if lost_tris:
        extra += f", and {lost_tris} surface triangles on them"
    if lost_nodes:
        extra += f", and {lost_nodes} node-set entries on them"
    _warn(f"{source}: dropped {n_unused} nodes not used by any tet{extra}; the other nodes were renumbered")
    return mesh.replace(
        points=mesh.points[used],
        tets=new_index[mesh.tets],
        surfaces=surfaces,
        node_sets=node_sets,
        point_data={k: v[used] for k, v in mesh.point_data.items()},
    )


def _component_sizes(mesh: Mesh) -> np.ndarray:
    """Tets per connected component (tets connected through shared nodes), largest first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, t = mesh.n_nodes, mesh.tets
    # A star from each tet's first node to its other three nodes connects all four: enough for connectivity.
    rows = np.repeat(t[:, 0], 3)
    cols = t[:, 1:].ravel()
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    if n_comp == 1:
        return np.array([mesh.n_cells])
    sizes = np.bincount(labels[t[:, 0]], minlength=n_comp)
    sizes = sizes[sizes > 0]
    return np.sort(sizes)[::-1]


def _face_counts(tets: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct triangle face of the tets (sorted node ids, (f, 3)) and how many tets hold it."""
    faces = np.sort(tets[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3).astype(np.int64), axis=1)
    if n_nodes < 2**21:  # one int64 key per face: far faster than np.unique(axis=0)
        keys = (faces[:, 0] << 42) | (faces[:, 1] << 21) | faces[:, 2]
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        return faces[first], counts
    return np.unique(faces, axis=0, return_counts=True)


def _check_manifold(mesh: Mesh, source: str) -> None:
    """A triangle held by more than two tets is an error; a boundary vertex whose boundary faces do not form a single
    disc around it (two parts touching only at a vertex or along an edge) is a warning with counts."""
    key = np.sort(mesh.tets, axis=1)
    order = np.lexsort(key.T[::-1])
    same = (key[order[1:]] == key[order[:-1]]).all(axis=1)
    if same.any():
        dup = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))
        raise MeshError(
            f"{source}: {dup.size} tets are duplicates of another tet (same four nodes; first tet ids: {_first(dup)}); "
            "remove the duplicated tets (the mesh was written twice or merged with itself)"
        )
    faces, counts = _face_counts(mesh.tets, mesh.n_nodes)
    over = counts > 2
    if over.any():
        ids = np.flatnonzero(over)
        worst = ids[np.argmax(counts[ids])]
        raise MeshError(
            f"{source}: {ids.size} triangle faces are shared by more than two tets (e.g. the face of nodes "
            f"{', '.join(str(int(i)) for i in faces[worst])} is in {int(counts[worst])} tets); a face can bound at most "
            "two tets, so tets overlap or are duplicated: remove the duplicates or remesh (e.g. with gmsh or TetGen)"
        )
    tris = faces[counts == 1]
    if tris.shape[0] == 0:
        return
    # The link of a boundary vertex v: one edge (a, b) for each boundary triangle (v, a, b). On a manifold boundary
    # every link is a single cycle: each (v, a) is in exactly two triangles and the link is connected.
    v = tris.ravel()
    a = tris[:, [1, 2, 0]].ravel()
    b = tris[:, [2, 0, 1]].ravel()
    n = mesh.n_nodes
    ends = np.concatenate([v * n + a, v * n + b])  # link vertices (v, a) and (v, b) as one integer each
    nodes, index, degree = np.unique(ends, return_inverse=True, return_counts=True)
    index = index.ravel()
    edges_pinched = np.unique(
        np.minimum(nodes // n, nodes % n)[degree > 2] * n + np.maximum(nodes // n, nodes % n)[degree > 2]
    ).size
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = v.size
    graph = coo_matrix((np.ones(m, dtype=np.int8), (index[:m], index[m:])), shape=(nodes.size, nodes.size))
    _, labels = connected_components(graph, directed=False)
    owner = nodes // n
    parts = np.bincount(np.unique(owner * nodes.size + labels) // nodes.size, minlength=n)
    at_edge = np.zeros(n, dtype=bool)
    at_edge[owner[degree > 2]] = True
    pinched = (parts > 1) | at_edge
    if pinched.any():
        ids = np.flatnonzero(pinched)
        _warn(
            f"{source}: the boundary is non-manifold at {ids.size} nodes (first node ids: {_first(ids)}; "
            f"{edges_pinched} edges with more than two boundary faces): parts of the mesh touch only at a vertex or "
            "along an edge, which is legal in some pipelines but usually a meshing fault (current or flow passes "
            "through a single node); remesh or separate the parts"
        )


def check_mesh(mesh: Mesh, *, source: str = "mesh") -> Mesh:
    """Check a mesh, repair what can be repaired safely, and return the (possibly repaired) mesh.

    Errors (`MeshError`, one line, naming `source`): no tets; tets, surface triangles or node sets naming nodes that do
    not exist; NaN/inf coordinates; zero-volume tets (|V| <= 1e-12 × median |V|); triangle faces shared by more than
    two tets (duplicated or overlapping tets).

    Repairs (`MeshWarning`): inverted tets (negative volume) get two nodes swapped; nodes used by no tet are dropped and
    the rest renumbered (surfaces, node sets and point fields follow).

    Warnings only (`MeshWarning`): a non-manifold boundary (parts touching only at a vertex or along an edge: the
    boundary faces around a node do not form one disc); several disconnected parts (sizes in tets); coordinates that
    look like metres or µm.

    Args:
        mesh: the mesh to check.
        source: what to call the mesh in messages, usually the file it came from.
    """
    if mesh.n_cells == 0:
        raise MeshError(
            f"{source}: the mesh has no tetrahedra; organtwin needs a tetrahedral volume mesh "
            "(tetrahedralise the surface first, e.g. with gmsh, TetGen or meshtool)"
        )
    _check_indices(mesh, source)

    finite = np.isfinite(mesh.points).all(axis=1)
    if not finite.all():
        ids = np.flatnonzero(~finite)
        raise MeshError(
            f"{source}: {ids.size} nodes have NaN or infinite coordinates (first node ids: {_first(ids)}); "
            "fix or remove these nodes in the source mesh"
        )

    vol = mesh.cell_volumes()
    absvol = np.abs(vol)
    tol = _ZERO_VOLUME_RTOL * float(np.median(absvol))
    zero = absvol <= tol
    if zero.any():
        ids = np.flatnonzero(zero)
        raise MeshError(
            f"{source}: {ids.size} tets have zero volume (first tet ids: {_first(ids)}; |V| <= 1e-12 x median volume, "
            "e.g. a repeated or coplanar node); remove or remesh these degenerate tets"
        )

    inverted = vol < 0
    if inverted.any():
        tets = mesh.tets.copy()
        tets[inverted] = tets[inverted][:, [0, 2, 1, 3]]
        _warn(
            f"{source}: {int(inverted.sum())} of {mesh.n_cells} tets were inverted (negative volume) and were "
            "reoriented by swapping two of their nodes"
        )
        mesh = mesh.replace(tets=tets)

    mesh = _drop_unreferenced(mesh, source)
    _check_manifold(mesh, source)

    sizes = _component_sizes(mesh)
    if sizes.size > 1:
        shown = ", ".join(str(int(s)) for s in sizes[:6]) + (", ..." if sizes.size > 6 else "")
        _warn(
            f"{source}: the mesh has {sizes.size} disconnected parts of {shown} tets; they do not exchange current "
            "or flow, remove the small parts if they are artefacts (mesh.keep_cells)"
        )

    mesh = check_fibres(mesh, source=source)  # fibres/sheets: refuse zero/NaN, normalise, Gram-Schmidt, placeholders

    units, factor, diag = _units(mesh.points)
    if units != "mm":
        f = f"{factor:g}"
        _warn(
            f"{source}: bounding box diagonal {diag:.3g} suggests {_UNIT_WORDS[units]}; pass --scale {f} "
            f"(or scale={f}) to read it in mm (hearts are ~20-300 mm across)"
        )
    return mesh

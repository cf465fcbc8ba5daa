"""Small meshes for the mesh I/O, check and quality tests, built with numpy; and the broken files in tests/data/bad/.

`python tests/make_meshes.py` rewrites tests/data/bad/ (the files are committed; this shows how they were made).
The tests load this file with `load_helpers()` below (tests/ is not a package).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent / "data"
BAD = HERE / "bad"

# Kuhn (Freudenthal) split of the unit cube into 6 tets: one per order of the axes, walking 000 -> 111. Neighbouring
# cubes split their shared square along the same diagonal, so the mesh is conforming.
_CORNER = {(i, j, k): i + 2 * j + 4 * k for i in (0, 1) for j in (0, 1) for k in (0, 1)}
_KUHN = []
for order in ([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]):
    c = [0, 0, 0]
    tet = [_CORNER[tuple(c)]]
    for axis in order:
        c[axis] = 1
        tet.append(_CORNER[tuple(c)])
    _KUHN.append(tet)
_KUHN = np.array(_KUHN)


def box_mesh(n=(2, 2, 2), size=(1.0, 1.0, 1.0)):
    """Points (mm) and positively oriented tets of a box [0, size] split into n cubes (cuboids) per axis, 6 tets each."""
    nx, ny, nz = n
    x, y, z = (np.linspace(0.0, s, k + 1) for s, k in zip(size, n))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    points = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
    node = np.arange(points.shape[0]).reshape(nx + 1, ny + 1, nz + 1)
    corners = np.empty((nx, ny, nz, 8), dtype=np.int64)
    for (i, j, k), c in _CORNER.items():
        corners[..., c] = node[i : i + nx, j : j + ny, k : k + nz]
    tets = corners.reshape(-1, 8)[:, _KUHN].reshape(-1, 4)
    p = points[tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    tets[vol < 0] = tets[vol < 0][:, [0, 2, 1, 3]]
    return points, tets


def boundary_faces(points, tets, axis: int, value: float):
    """Tet faces lying on the plane points[:, axis] == value (each boundary square gives two triangles)."""
    faces = tets[:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]].reshape(-1, 3)
    on = np.isclose(points[faces, axis], value).all(axis=1)
    return np.unique(np.sort(faces[on], axis=1), axis=0)


def two_region_mesh(n=(4, 2, 2), size=(4.0, 2.0, 2.0)):
    """A box with regions 1 ("lv", x < mid) and 2 ("rv"), unit fibres and orthogonal sheets, surfaces "left" (tag 10,
    x = 0) and "right" (tag 20, x = max), a float and an int cell field, a point field and a node set."""
    from organtwin.mesh import Mesh, Surface

    points, tets = box_mesh(n, size)
    centre = points[tets].mean(axis=1)
    regions = np.where(centre[:, 0] < size[0] / 2, 1, 2)
    angle = np.linspace(0.0, np.pi / 3, tets.shape[0])
    fibres = np.column_stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)])
    sheets = np.column_stack([-np.sin(angle), np.cos(angle), np.zeros_like(angle)])
    return Mesh(
        points,
        tets,
        regions,
        fibres=fibres,
        sheets=sheets,
        surfaces={
            "left": Surface(boundary_faces(points, tets, 0, 0.0), 10),
            "right": Surface(boundary_faces(points, tets, 0, size[0]), 20),
        },
        node_sets={"apex": np.flatnonzero(np.isclose(points[:, 0], 0.0) & np.isclose(points[:, 1], 0.0))},
        point_data={"phi": points[:, 0] / size[0]},
        cell_data={"scar": centre[:, 1] / size[1], "layer": (centre[:, 2] > size[2] / 2).astype(np.int32)},
        region_names={1: "lv", 2: "rv"},
    )


def sorted_triangles(tri) -> set:
    return {tuple(t) for t in np.sort(np.asarray(tri), axis=1).tolist()}


def canonical(mesh, decimals: int = 9):
    """Node and tet orders that do not depend on the file format: nodes sorted by (rounded) coordinates, tets by their
    sorted canonical node ids. Returns (node_order, node_rank, tet_order, canonical_tets).

    Formats may reorder (gmsh 4.1 groups nodes by entity and tets by physical group), so round trips compare in this
    order. Rounding to 1e-9 mm merges only coordinates that differ by float round-off (the test grids are 1e-1 apart).
    """
    key = np.round(mesh.points, decimals)
    node_order = np.lexsort(key.T[::-1])
    rank = np.empty_like(node_order)
    rank[node_order] = np.arange(node_order.size)
    tets = np.sort(rank[mesh.tets], axis=1)
    tet_order = np.lexsort(tets.T[::-1])
    return node_order, rank, tet_order, tets[tet_order]


def assert_same_mesh(a, b, *, rtol=1e-12, names=True, fibres=True, data=True, node_sets=True, surface_names=None):
    """Assert that mesh b holds what mesh a holds, up to node and tet order.

    rtol: relative tolerance on coordinates and float fields (scaled by the bounding-box size for coordinates).
    surface_names: the names expected in b (default: those of a, or "surface_<tag>" when names=False).
    """
    na, ra, ta, ca = canonical(a)
    nb, rb, tb, cb = canonical(b)
    size = float(np.ptp(a.points, axis=0).max())
    np.testing.assert_allclose(b.points[nb], a.points[na], rtol=0, atol=rtol * size)
    np.testing.assert_array_equal(cb, ca)
    assert np.all(b.cell_volumes() > 0)
    np.testing.assert_array_equal(b.regions[tb], a.regions[ta])
    if surface_names is None:
        surface_names = sorted(a.surfaces) if names else sorted(f"surface_{s.tag}" for s in a.surfaces.values())
    assert sorted(b.surfaces) == sorted(surface_names)
    by_tag = {s.tag: s for s in b.surfaces.values()}
    for s in a.surfaces.values():
        got = by_tag[s.tag]
        assert sorted_triangles(rb[got.triangles]) == sorted_triangles(ra[s.triangles])
    if names:
        assert dict(b.region_names) == dict(a.region_names)
    if fibres:
        for name in ("fibres", "sheets"):
            np.testing.assert_allclose(getattr(b, name)[tb], getattr(a, name)[ta], rtol=rtol, atol=rtol)
    else:
        assert b.fibres is None and b.sheets is None
    if data:
        assert sorted(b.cell_data) == sorted(a.cell_data)
        assert sorted(b.point_data) == sorted(a.point_data)
        for k, v in a.cell_data.items():
            np.testing.assert_allclose(b.cell_data[k][tb], v[ta], rtol=rtol, atol=rtol)
        for k, v in a.point_data.items():
            np.testing.assert_allclose(b.point_data[k][nb], v[na], rtol=rtol, atol=rtol)
    if node_sets:
        assert sorted(b.node_sets) == sorted(a.node_sets)
        for k, v in a.node_sets.items():
            assert set(rb[b.node_sets[k]].tolist()) == set(ra[v].tolist())


# ---------------------------------------------------------------------------------------------- broken files (legacy VTK)
_TET_PTS = [(0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 10), (10, 10, 10)]


def _vtk(points, cells, cell_type=10, title="organtwin test mesh") -> str:
    """A legacy ascii VTK unstructured grid (cell type 10 = tetra, 5 = triangle)."""
    lines = ["# vtk DataFile Version 4.2", title, "ASCII", "DATASET UNSTRUCTURED_GRID", f"POINTS {len(points)} double"]
    lines += [" ".join(str(x) for x in p) for p in points]
    lines.append(f"CELLS {len(cells)} {sum(len(c) + 1 for c in cells)}")
    lines += [" ".join(str(x) for x in [len(c), *c]) for c in cells]
    lines.append(f"CELL_TYPES {len(cells)}")
    lines += [str(cell_type)] * len(cells)
    return "\n".join(lines) + "\n"


BAD_FILES = {
    # two good tets sharing a face; node 4 has a NaN coordinate
    "nan_coordinate.vtk": _vtk([*_TET_PTS[:4], ("nan", 10, 10)], [[0, 1, 2, 3], [1, 2, 3, 4]]),
    # tet 1 names node 7, the file has 5 nodes
    "missing_node.vtk": _vtk(_TET_PTS, [[0, 1, 2, 3], [1, 2, 3, 7]]),
    # tet 1 has four coplanar nodes (z = 0)
    "zero_volume.vtk": _vtk([*_TET_PTS[:4], (10, 10, 0)], [[0, 1, 2, 3], [0, 1, 2, 4]]),
    # tet 1 is listed with the opposite orientation
    "inverted.vtk": _vtk(_TET_PTS, [[0, 1, 2, 3], [1, 3, 2, 4]]),
    # node 4 is used by no tet
    "unreferenced_node.vtk": _vtk(_TET_PTS, [[0, 1, 2, 3]]),
    # two tets that share no node
    "disconnected.vtk": _vtk(
        [*_TET_PTS[:4], *[(x + 30, y, z) for x, y, z in _TET_PTS[:4]]], [[0, 1, 2, 3], [4, 5, 6, 7]]
    ),
    # a 40 mm heart written in metres
    "metres.vtk": _vtk([(x * 4e-3, y * 4e-3, z * 4e-3) for x, y, z in _TET_PTS], [[0, 1, 2, 3], [1, 2, 3, 4]]),
    # the same in µm
    "micrometres.vtk": _vtk([(x * 4e3, y * 4e3, z * 4e3) for x, y, z in _TET_PTS[:4]], [[0, 1, 2, 3]]),
    # a surface only
    "no_tets.vtk": _vtk(_TET_PTS[:4], [[0, 1, 2], [0, 1, 3]], cell_type=5),
    # not a mesh at all
    "not_a_mesh.vtu": "this is not an XML file\n",
    # gmsh 2.2 file cut off inside the node list
    "truncated.msh": "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n5\n1 0 0 0\n2 10 0 0\n",
    # openCARP: header says 6 points, 5 follow
    "short.pts": "6\n" + "".join(f"{x * 1000} {y * 1000} {z * 1000}\n" for x, y, z in _TET_PTS),
    "short.elem": "1\nTt 0 1 2 3 1\n",
    # openCARP with a triangle among the tets (skipped with a warning)
    "mixed.pts": "5\n" + "".join(f"{x * 1000} {y * 1000} {z * 1000}\n" for x, y, z in _TET_PTS),
    "mixed.elem": "3\nTt 0 1 2 3 1\nTr 0 1 2 5\nTt 1 2 3 4 2\n",
}


def write_bad_files(folder: Path = BAD) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in BAD_FILES.items():
        (folder / name).write_text(text)


if __name__ == "__main__":
    write_bad_files()
    print(f"wrote {len(BAD_FILES)} files to {BAD}")

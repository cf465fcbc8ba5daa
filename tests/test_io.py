"""Reading and writing meshes: round trips through every format, tet blocks, names, bad files, atomic writes."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import make_meshes as H  # tests/make_meshes.py (tests/ is on sys.path under pytest)
import meshio
import numpy as np
import pytest

from organtwin._errors import MeshError, MeshWarning
from organtwin.mesh import Mesh, Surface, read_mesh, read_opencarp, read_vtx, write_mesh, write_vtx

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"


@pytest.fixture
def mesh():
    return H.two_region_mesh()


@contextlib.contextmanager
def _no_warnings():
    """Any MeshWarning (a repair, a dropped field) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeshWarning)
        yield


# ---------------------------------------------------------------------------------------------------------- round trips
# Coordinates and fields are stored as float64 (binary) or with 17 significant digits (ascii), so they come back to
# round-off: rtol 1e-12 of the box size. openCARP goes through µm (x * 1000 / 1000), still round-off.
FULL = dict(names=True, fibres=True, data=True, node_sets=True)
ROUND_TRIPS = {
    "vtu": ("m.vtu", {}, FULL),
    "vtu-ascii": ("m.vtu", {"binary": False}, FULL),
    "vtk-binary": ("m.vtk", {}, FULL),
    "vtk-ascii": ("m.vtk", {"binary": False}, FULL),
    "msh2-ascii": ("m.msh", {"file_format": "gmsh22", "binary": False}, FULL),
    "msh2-binary": ("m.msh", {"file_format": "gmsh22", "binary": True}, FULL),
    "msh4-binary": ("m.msh", {}, FULL),
    "msh4-ascii": ("m.msh", {"binary": False}, FULL),
    "xdmf": ("m.xdmf", {}, FULL),
    # Medit holds only points, cells and integer refs: regions and surface tags survive, names/fibres/fields do not.
    "medit": ("m.mesh", {}, dict(names=False, fibres=False, data=False, node_sets=False)),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
def test_round_trip(case, mesh, tmp_path):
    name, kwargs, keeps = ROUND_TRIPS[case]
    path = tmp_path / name
    if keeps["data"]:
        with _no_warnings():  # nothing may be dropped or repaired
            write_mesh(mesh, path, **kwargs)
            back = read_mesh(path)
    else:
        with pytest.warns(MeshWarning, match="dropped fibres, sheets"):
            write_mesh(mesh, path, **kwargs)
        back = read_mesh(path)
    H.assert_same_mesh(mesh, back, **keeps)
    if not keeps["data"]:
        assert back.cell_data == {} and back.point_data == {} and back.node_sets == {}
    # nothing but the output (and XDMF's companion .h5) is left in the folder: no temporary files
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name] + (["m.h5"] if name.endswith(".xdmf") else []))


def test_round_trip_keeps_order_where_the_format_does(mesh, tmp_path):
    # All formats but gmsh 4.1 keep nodes and tets in the mesh's order.
    write_mesh(mesh, tmp_path / "m.vtu")
    back = read_mesh(tmp_path / "m.vtu")
    np.testing.assert_array_equal(back.points, mesh.points)
    np.testing.assert_array_equal(back.tets, mesh.tets)
    np.testing.assert_array_equal(back.cell_data["layer"], mesh.cell_data["layer"])
    assert back.cell_data["layer"].dtype.kind == "i"


def test_vtu_goes_through_the_one_vtu_writer_and_opens_in_vtk(mesh, tmp_path):
    """write_mesh's .vtu is VtuWriter.for_mesh's file (the results writer's code), binary and ascii; VTK reads both with
    every cell and every array."""
    from organtwin.io import VtuWriter
    from organtwin.mesh._vtu import read_vtu_point_array

    n_tris = sum(s.n_faces for s in mesh.surfaces.values())
    for binary in (True, False):
        path = write_mesh(mesh, tmp_path / "m.vtu", binary=binary)
        w = VtuWriter.for_mesh(mesh, point_data=mesh.point_data, rename_tag_fields=False, binary=binary)
        assert path.read_bytes() == w.encode()
        assert (b"<AppendedData" in path.read_bytes()) == binary
        if binary:
            name = next(iter(mesh.point_data))
            np.testing.assert_array_equal(read_vtu_point_array(path, name), mesh.point_data[name])
        vtk = pytest.importorskip("vtk")
        r = vtk.vtkXMLUnstructuredGridReader()
        r.SetFileName(str(path))
        r.Update()
        grid = r.GetOutput()
        assert grid.GetNumberOfPoints() == mesh.n_nodes
        assert grid.GetNumberOfCells() == mesh.n_cells + n_tris
        cd, pd = grid.GetCellData(), grid.GetPointData()
        cells = {cd.GetArrayName(i) for i in range(cd.GetNumberOfArrays())}
        assert cells >= {"region", "fibres", "sheets", *mesh.cell_data}
        points = {pd.GetArrayName(i) for i in range(pd.GetNumberOfArrays())}
        assert points >= {*mesh.point_data, *(f"nodeset:{k}" for k in mesh.node_sets)}


def test_gmsh_files_open_in_gmsh_with_physical_names(mesh, tmp_path):
    gmsh = pytest.importorskip("gmsh")
    for kwargs in ({}, {"file_format": "gmsh22", "binary": False}):
        write_mesh(mesh, tmp_path / "m.msh", **kwargs)
        gmsh.initialize()
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.open(str(tmp_path / "m.msh"))
            groups = gmsh.model.getPhysicalGroups()
            names = {(d, t): gmsh.model.getPhysicalName(d, t) for d, t in groups}
            n_tets = sum(len(t) for t in gmsh.model.mesh.getElements(3)[1])
        finally:
            gmsh.finalize()
        assert names == {(3, 1): "lv", (3, 2): "rv", (2, 10): "left", (2, 20): "right"}
        assert n_tets == mesh.n_cells


def test_opencarp_round_trip_and_file_layout(mesh, tmp_path):
    base = tmp_path / "heart"
    with pytest.warns(MeshWarning, match="openCARP files hold no region names"):
        write_mesh(mesh, tmp_path / "heart.pts")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["heart.apex.vtx", "heart.elem", "heart.left.surf", "heart.lon", "heart.pts", "heart.right.surf"]

    pts = (tmp_path / "heart.pts").read_text().split("\n")
    assert int(pts[0]) == mesh.n_nodes
    np.testing.assert_allclose([float(x) for x in pts[-2].split()], mesh.points[-1] * 1000.0)  # µm on disk
    elem = (tmp_path / "heart.elem").read_text().split("\n")
    assert int(elem[0]) == mesh.n_cells
    assert elem[1].split() == ["Tt", *map(str, mesh.tets[0]), str(mesh.regions[0])]
    lon = (tmp_path / "heart.lon").read_text().split("\n")
    assert lon[0] == "2" and len(lon[1].split()) == 6
    vtx = (tmp_path / "heart.apex.vtx").read_text().split()
    assert vtx[:2] == [str(mesh.node_sets["apex"].size), "intra"]

    for source in (base, tmp_path / "heart.pts", tmp_path / "heart.elem"):
        with _no_warnings():
            back = read_mesh(source)
        H.assert_same_mesh(mesh, back, names=False, surface_names=["left", "right"], data=False)
    np.testing.assert_array_equal(read_vtx(tmp_path / "heart.apex.vtx"), mesh.node_sets["apex"])


def test_opencarp_scale_and_legacy_files(tmp_path):
    # A hand-written openCARP mesh: two tets (µm), a .lon without header line (CARP style), a node set marked "extra",
    # and an unrelated .vtx in the same folder that names nodes this mesh does not have.
    (tmp_path / "slab.pts").write_text("5\n0 0 0\n10000 0 0\n0 10000 0\n0 0 10000\n10000 10000 10000\n")
    (tmp_path / "slab.elem").write_text("2\nTt 0 1 2 3 7\nTt 1 2 3 4 8\n")
    (tmp_path / "slab.lon").write_text("1 0 0\n0 1 0\n")
    (tmp_path / "stim.vtx").write_text("2\nextra\n0\n3\n")
    (tmp_path / "other.vtx").write_text("1\nintra\n99\n")
    with pytest.warns(MeshWarning, match="other.vtx"):
        m = read_mesh(tmp_path / "slab.pts")
    np.testing.assert_allclose(m.points.max(axis=0), [10.0, 10.0, 10.0])  # µm -> mm
    np.testing.assert_array_equal(m.regions, [7, 8])
    np.testing.assert_array_equal(m.fibres, [[1, 0, 0], [0, 1, 0]])
    assert m.sheets is None
    assert list(m.node_sets) == ["stim"] and m.node_sets["stim"].tolist() == [0, 3]
    with pytest.warns(MeshWarning, match="other.vtx"):
        m_mm = read_opencarp(tmp_path / "slab", scale=1.0, check=False)
    np.testing.assert_allclose(m_mm.points.max(axis=0), [1e4, 1e4, 1e4])


def test_write_vtx_round_trip(tmp_path):
    write_vtx(tmp_path / "s.vtx", [3, 1, 4])
    assert read_vtx(tmp_path / "s.vtx").tolist() == [3, 1, 4]


# ------------------------------------------------------------------------------------------------- what read_mesh maps
def _points_tets():
    points, tets = H.box_mesh((2, 1, 1), (2.0, 1.0, 1.0))
    return points, tets


def test_several_tet_blocks_merge_with_block_index_as_region(tmp_path):
    # Abaqus .inp keeps same-type blocks apart (VTU would merge them on reading).
    points, tets = _points_tets()
    half = len(tets) // 2
    m = meshio.Mesh(points, [("tetra", tets[:half]), ("tetra", tets[half:])])
    meshio.write(tmp_path / "blocks.inp", m)
    mesh = read_mesh(tmp_path / "blocks.inp")
    np.testing.assert_array_equal(mesh.tets, tets)
    np.testing.assert_array_equal(mesh.regions, np.repeat([1, 2], [half, len(tets) - half]))


def test_gmsh_volumes_without_physical_groups_become_regions_by_block(tmp_path):
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        a = gmsh.model.occ.addBox(0, 0, 0, 10, 10, 10)
        b = gmsh.model.occ.addBox(10, 0, 0, 10, 10, 10)
        gmsh.model.occ.fragment([(3, a)], [(3, b)])
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMax", 5.0)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(tmp_path / "blocks.msh"))  # no physical groups: gmsh saves every element, one block per entity
    finally:
        gmsh.finalize()
    with _no_warnings():
        mesh = read_mesh(tmp_path / "blocks.msh")
    assert mesh.region_ids.tolist() == [1, 2]
    vol = mesh.cell_volumes()
    for rid in (1, 2):
        assert vol[mesh.regions == rid].sum() == pytest.approx(1000.0, rel=1e-12)
    assert len(mesh.surfaces) == 11  # 6 + 6 box faces, the shared one once


def test_region_array_wins_over_block_index_and_follows_priority(tmp_path):
    points, tets = _points_tets()
    n = len(tets)
    half = n // 2
    split = lambda a: [a[:half], a[half:]]
    material = np.arange(n) % 3 + 5
    tag = np.arange(n) % 2 + 1
    ids = (np.arange(n) % 4).astype(np.float64)  # float but whole numbers: accepted as ids
    m = meshio.Mesh(
        points,
        [("tetra", tets[:half]), ("tetra", tets[half:])],
        cell_data={"Material": split(material), "ID": split(ids), "TAG": split(tag)},
    )
    meshio.write(tmp_path / "tags.vtu", m)
    mesh = read_mesh(tmp_path / "tags.vtu")
    np.testing.assert_array_equal(mesh.regions, tag)  # "tag" comes before "material" and "id" (case-insensitive)
    assert sorted(mesh.cell_data) == ["ID", "Material"]


def test_a_cell_numbering_is_not_taken_as_regions(tmp_path):
    points, tets = H.box_mesh((3, 3, 2), (3.0, 3.0, 2.0))  # 108 tets
    n = len(tets)
    m = meshio.Mesh(points, [("tetra", tets)], cell_data={"ID": [np.arange(n)], "material": [np.arange(n) % 2 + 1]})
    meshio.write(tmp_path / "ids.vtu", m)
    mesh = read_mesh(tmp_path / "ids.vtu")
    np.testing.assert_array_equal(mesh.regions, np.arange(n) % 2 + 1)
    np.testing.assert_array_equal(mesh.cell_data["ID"], np.arange(n))


def test_fibre_and_sheet_aliases_and_extra_arrays(tmp_path):
    points, tets = _points_tets()
    n = len(tets)
    f = np.tile([0.0, 0.0, 1.0], (n, 1))
    s = np.tile([1.0, 0.0, 0.0], (n, 1))
    m = meshio.Mesh(
        points,
        [("tetra", tets)],
        point_data={"T": points[:, 0]},
        cell_data={"Fibers": [f], "s0": [s], "normal": [np.cross(f, s)], "fibre_angle": [np.zeros(n)]},
    )
    meshio.write(tmp_path / "f.vtu", m)
    mesh = read_mesh(tmp_path / "f.vtu")
    np.testing.assert_array_equal(mesh.fibres, f)
    np.testing.assert_array_equal(mesh.sheets, s)
    assert sorted(mesh.cell_data) == ["fibre_angle", "normal"]
    assert list(mesh.point_data) == ["T"]
    np.testing.assert_array_equal(mesh.regions, np.ones(n))


def test_triangles_without_tags_become_one_surface_per_block(tmp_path):
    points, tets = _points_tets()
    left = H.boundary_faces(points, tets, 0, 0.0)
    right = H.boundary_faces(points, tets, 0, 2.0)
    m = meshio.Mesh(points, [("triangle", left), ("tetra", tets), ("triangle", right), ("line", [[0, 1]])])
    meshio.write(tmp_path / "s.vtu", m)
    mesh = read_mesh(tmp_path / "s.vtu")
    assert sorted(mesh.surfaces) == ["surface_1", "surface_2"]
    assert H.sorted_triangles(mesh.surfaces["surface_1"].triangles) == H.sorted_triangles(left)
    assert H.sorted_triangles(mesh.surfaces["surface_2"].triangles) == H.sorted_triangles(right)


def test_gmsh_api_file_with_physical_names(tmp_path):
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("two")
        a = gmsh.model.occ.addBox(0, 0, 0, 10, 10, 10)
        b = gmsh.model.occ.addBox(10, 0, 0, 10, 10, 10)
        gmsh.model.occ.fragment([(3, a)], [(3, b)])
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [a], 11, name="myocardium")
        gmsh.model.addPhysicalGroup(3, [b], 12, name="scar")
        left = [t for d, t in gmsh.model.getEntities(2) if abs(gmsh.model.occ.getCenterOfMass(d, t)[0]) < 1e-9]
        gmsh.model.addPhysicalGroup(2, left, 5, name="endo")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 4.0)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(tmp_path / "two.msh"))
    finally:
        gmsh.finalize()
    with _no_warnings():
        mesh = read_mesh(tmp_path / "two.msh")
    assert dict(mesh.region_names) == {11: "myocardium", 12: "scar"}
    assert list(mesh.surfaces) == ["endo"] and mesh.surfaces["endo"].tag == 5
    vol = mesh.cell_volumes()
    # each box is 10 x 10 x 10 mm: the tets fill it exactly (up to round-off)
    for rid in (11, 12):
        assert vol[mesh.regions == rid].sum() == pytest.approx(1000.0, rel=1e-12)
    t = mesh.points[mesh.surfaces["endo"].triangles]
    area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()
    assert area == pytest.approx(100.0, rel=1e-12)


def test_other_cells_are_ignored_with_a_warning_and_tetra10_keeps_corners(tmp_path):
    points, tets = _points_tets()
    hexa = np.array([[0, 1, 2, 3, 4, 5, 6, 7]])
    m = meshio.Mesh(points, [("tetra", tets), ("hexahedron", hexa)])
    meshio.write(tmp_path / "h.vtu", m)
    with pytest.warns(MeshWarning, match="ignored 1 hexahedron cells"):
        mesh = read_mesh(tmp_path / "h.vtu")
    assert mesh.n_cells == len(tets)

    # tetra10: the mid-edge nodes are used by no corner-only tet, so they are dropped (and said so)
    extra = np.arange(6 * len(tets)).reshape(-1, 6) + len(points)
    p10 = np.vstack([points, np.repeat(points[:1], extra.size, axis=0) + 0.5])
    m = meshio.Mesh(p10, [("tetra10", np.hstack([tets, extra]))])
    meshio.write(tmp_path / "t10.vtu", m)
    with pytest.warns(MeshWarning) as record:
        mesh = read_mesh(tmp_path / "t10.vtu")
    messages = [str(w.message) for w in record]
    assert any("corner nodes of" in s and "tetra10" in s for s in messages)
    assert any(f"dropped {extra.size} nodes" in s for s in messages)
    np.testing.assert_array_equal(mesh.tets, tets)


def test_scale_converts_to_mm(tmp_path, mesh):
    write_mesh(mesh.scaled(1e-3), tmp_path / "m.vtu")  # a mesh in metres
    with pytest.warns(MeshWarning, match=r"suggests metres; pass --scale 1000 \(or scale=1000\) to read it in mm"):
        read_mesh(tmp_path / "m.vtu")
    with _no_warnings():
        back = read_mesh(tmp_path / "m.vtu", scale=1000)
    np.testing.assert_allclose(back.points, mesh.points, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------- bad input
def _assert_one_line_naming(message: str, path: Path):
    assert "\n" not in message
    assert str(path) in message


BAD_ERRORS = {
    "nan_coordinate.vtk": "1 nodes have NaN or infinite coordinates (first node ids: 4)",
    "missing_node.vtk": "1 tets name nodes that do not exist (the mesh has 5 nodes; first tet ids: 1)",
    "zero_volume.vtk": "1 tets have zero volume (first tet ids: 1;",
    "no_tets.vtk": "the file holds no tetrahedra (2 triangle)",
    "not_a_mesh.vtu": "cannot read mesh file",
    "truncated.msh": "cannot read mesh file",
    "short.pts": "the header says 6 points but 5 follow",
}


@pytest.mark.parametrize("name", sorted(BAD_ERRORS))
def test_bad_files_raise_one_line_errors(name):
    path = BAD / name
    with pytest.raises(MeshError) as info:
        read_mesh(path)
    assert BAD_ERRORS[name] in str(info.value)
    _assert_one_line_naming(str(info.value), path)


BAD_WARNINGS = {
    "inverted.vtk": ("1 of 2 tets were inverted (negative volume) and were reoriented", 2),
    "unreferenced_node.vtk": ("dropped 1 nodes not used by any tet", 1),
    "disconnected.vtk": ("the mesh has 2 disconnected parts of 1, 1 tets", 2),
    "metres.vtk": ("suggests metres; pass --scale 1000 (or scale=1000)", 2),
    "micrometres.vtk": ("suggests µm; pass --scale 0.001 (or scale=0.001)", 1),
    "mixed.pts": ("kept 2 tets (Tt) and skipped 1 other elements (Tr: 1)", 2),
}


@pytest.mark.parametrize("name", sorted(BAD_WARNINGS))
def test_suspicious_files_warn_in_one_line(name):
    path = BAD / name
    expected, n_tets = BAD_WARNINGS[name]
    with pytest.warns(MeshWarning) as record:
        mesh = read_mesh(path)
    assert len(record) == 1, [str(w.message) for w in record]
    message = str(record[0].message)
    assert expected in message
    _assert_one_line_naming(message, path.with_suffix(".elem") if name == "mixed.pts" else path)
    assert mesh.n_cells == n_tets
    assert np.all(mesh.cell_volumes() > 0)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("missing.vtu", "mesh file not found"),
        ("mesh.unknownext", "mesh file not found"),
        (".", "is a folder"),
    ],
)
def test_bad_paths(path, expected, tmp_path):
    p = tmp_path / path
    with pytest.raises(MeshError, match=expected) as info:
        read_mesh(p)
    _assert_one_line_naming(str(info.value), p)


def test_unknown_extension_and_vtx_path(tmp_path):
    (tmp_path / "mesh.xyz").write_text("1 2 3\n")
    with pytest.raises(MeshError, match="cannot tell the mesh format") as info:
        read_mesh(tmp_path / "mesh.xyz")
    _assert_one_line_naming(str(info.value), tmp_path / "mesh.xyz")
    (tmp_path / "s.vtx").write_text("1\nintra\n0\n")
    with pytest.raises(MeshError, match="node set"):
        read_mesh(tmp_path / "s.vtx")
    with pytest.raises(MeshError, match="cannot tell which mesh format to write"):
        write_mesh(H.two_region_mesh(), tmp_path / "out.xyz")
    with pytest.raises(MeshError, match="does not exist"):
        write_mesh(H.two_region_mesh(), tmp_path / "no" / "such" / "out.vtu")


def test_check_false_skips_checks():
    mesh = read_mesh(BAD / "inverted.vtk", check=False)
    assert (mesh.cell_volumes() < 0).sum() == 1


# --------------------------------------------------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("name", ["m.vtu", "m.vtk"])
def test_failed_write_leaves_nothing_behind(mesh, tmp_path, monkeypatch, name):
    """Both writers (organtwin's VTU writer for .vtu, meshio for the rest) fail without leaving a trace."""
    import organtwin.mesh._io as io_module

    target = tmp_path / name
    target.write_text("old content")

    def broken_write(filename, *args, **kwargs):
        Path(filename).write_text("half a mesh")
        raise OSError("disk full")

    if name.endswith(".vtu"):
        monkeypatch.setattr(io_module, "_write_vtu", lambda m, out, binary: broken_write(out))
    else:
        monkeypatch.setattr(meshio, "write", broken_write)
    with pytest.raises(MeshError, match="could not write") as info:
        write_mesh(mesh, target)
    _assert_one_line_naming(str(info.value), target)
    assert target.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_failed_opencarp_write_leaves_nothing_behind(mesh, tmp_path, monkeypatch):
    import organtwin.mesh._io as io_module

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(io_module, "_write_vtx_file", broken)
    with pytest.raises(MeshError, match="could not write"), warnings.catch_warnings():
        warnings.simplefilter("ignore", MeshWarning)
        write_mesh(mesh, tmp_path / "heart.pts")
    assert list(tmp_path.iterdir()) == []


def test_surface_tags_are_made_distinct(tmp_path):
    points, tets = _points_tets()
    a = Surface(H.boundary_faces(points, tets, 0, 0.0))  # tag 0
    b = Surface(H.boundary_faces(points, tets, 0, 2.0))  # tag 0
    mesh = Mesh(points, tets, surfaces={"a": a, "b": b})
    write_mesh(mesh, tmp_path / "m.vtu")
    back = read_mesh(tmp_path / "m.vtu")
    assert sorted(back.surfaces) == ["a", "b"]
    assert back.surfaces["a"].tag != back.surfaces["b"].tag
    assert H.sorted_triangles(back.surfaces["b"].triangles) == H.sorted_triangles(b.triangles)


# ------------------------------------------------------------------------------- cohort-style files: tags and name maps
def _cohort_file(tmp_path: Path, name_map: dict | None = None, map_name: str | None = None) -> tuple[Path, dict]:
    """A VTU shaped like a public four-chamber cohort mesh: one grid with tets AND triangles, `_volume-id` (1, 2, 7 on
    tets, 0 on triangles), `_surface-id` (17, 18, 20, 21 on triangles, 0 on tets), a second region-like `tag` field in
    which the septum (7) is merged into the LV (1), placeholder fibres/sheets, and a JSON name map next to it."""
    import json

    points, tets = H.box_mesh((6, 2, 2), (6.0, 2.0, 2.0))
    x = points[tets].mean(axis=1)[:, 0]
    vol = np.where(x < 2, 1, np.where(x < 4, 7, 2))
    faces = {
        17: H.boundary_faces(points, tets, 0, 0.0),
        18: H.boundary_faces(points, tets, 0, 6.0),
        20: H.boundary_faces(points, tets, 2, 0.0),
        21: H.boundary_faces(points, tets, 2, 2.0),
    }
    tris = np.concatenate(list(faces.values()))
    sid = np.concatenate([np.full(len(f), k) for k, f in faces.items()])
    nt, nf = len(tets), len(tris)
    cd = {
        "_volume-id": [vol, np.zeros(nf, int)],
        "_surface-id": [np.zeros(nt, int), sid],
        "tag": [np.where(vol == 7, 1, vol), np.zeros(nf, int)],
        "fibres": [np.tile([0.0, 0.0, 1.0], (nt, 1)), np.zeros((nf, 3))],
        "sheets": [np.tile([0.0, 1.0, 0.0], (nt, 1)), np.zeros((nf, 3))],
    }
    path = tmp_path / "heart.vtu"
    meshio.write(path, meshio.Mesh(points, [("tetra", tets), ("triangle", tris)], cell_data=cd))
    if name_map is not None:
        (tmp_path / (map_name or "heart.json")).write_text(json.dumps(name_map))
    return path, {"vol": vol, "faces": faces}


def test_cohort_surfaces_come_from_the_surface_field_and_the_name_map_next_to_the_mesh(tmp_path):
    path, truth = _cohort_file(
        tmp_path, {"LV endocardium": 17, "RV endocardium": 18, "base": [20, 21], "LV": 1, "RV": 2, "septum": 7}
    )
    mesh = read_mesh(path)
    np.testing.assert_array_equal(mesh.regions, truth["vol"])  # _volume-id, not the merged `tag`
    assert dict(mesh.region_names) == {1: "LV", 2: "RV", 7: "septum"}
    assert sorted(mesh.surfaces) == ["LV endocardium", "RV endocardium", "base"]
    assert H.sorted_triangles(mesh.surfaces["LV endocardium"].triangles) == H.sorted_triangles(truth["faces"][17])
    base = np.concatenate([truth["faces"][20], truth["faces"][21]])
    assert H.sorted_triangles(mesh.surfaces["base"].triangles) == H.sorted_triangles(base)
    assert mesh.surfaces["base"].tag == 20
    assert "_surface-id" not in mesh.cell_data and "tag" in mesh.cell_data  # 0 on every tet: dropped; `tag` kept


def test_without_a_name_map_each_surface_tag_is_its_own_surface(tmp_path):
    path, truth = _cohort_file(tmp_path)
    mesh = read_mesh(path)
    assert sorted(mesh.surfaces) == ["surface_17", "surface_18", "surface_20", "surface_21"]
    assert {s.tag: s.n_faces for s in mesh.surfaces.values()} == {k: len(f) for k, f in truth["faces"].items()}


@pytest.mark.parametrize(
    "name_map",
    [
        {"17": "endo_lv", "18": "endo_rv", "20": "base", "21": "base"},  # id -> name
        {"surfaces": {"endo_lv": 17, "endo_rv": [18], "base": [20, 21]}, "regions": {"1": "LV", "2": "RV"}},
    ],
)
def test_name_map_shapes_and_explicit_names_win(tmp_path, name_map):
    path, truth = _cohort_file(tmp_path, name_map, map_name="heart_names.json")
    mesh = read_mesh(path, surface_names={18: "rv", 17: "lv"}, region_names={7: "septum"})
    assert sorted(mesh.surfaces) == ["base", "lv", "rv"]
    assert mesh.surfaces["base"].n_faces == len(truth["faces"][20]) + len(truth["faces"][21])
    assert dict(mesh.region_names).get(7) == "septum"
    # merged names survive a round trip in every format that keeps names
    for ext in ("vtu", "vtk", "msh", "xdmf"):
        out = tmp_path / f"named.{ext}"
        write_mesh(mesh, out)
        back = read_mesh(out)
        H.assert_same_mesh(mesh, back)


def test_name_map_ids_missing_from_the_mesh(tmp_path):
    path, _ = _cohort_file(tmp_path)
    (tmp_path / "bad.json").write_text('{"LV endocardium": 99, "RV endocardium": 98}')
    with pytest.raises(MeshError, match=r"\[98, 99\] are not in the mesh .*present: \[1, 2, 7, 17, 18, 20, 21\]"):
        read_mesh(path, name_map=tmp_path / "bad.json")
    (tmp_path / "some.json").write_text('{"endo_lv": 17, "LA endocardium": 33}')
    with pytest.warns(MeshWarning, match=r"1 of 2 named id\(s\) are not in the mesh: \[33\]"):
        mesh = read_mesh(path, name_map=tmp_path / "some.json")
    assert "endo_lv" in mesh.surfaces
    with pytest.raises(MeshError, match=r"--surface-names: surface id\(s\) \[5\] are not in the mesh"):
        read_mesh(path, surface_names={5: "x"})
    with pytest.raises(MeshError, match=r"--region-names: region id\(s\) \[3\] .*present: \[1, 2, 7\]"):
        read_mesh(path, region_names={3: "LA"})


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ("[17, 18]", "must be a JSON object"),
        ('{"endo": "x"}', "cannot read the entry 'endo'"),
        ('{"endo": 1.5}', "must be a whole number"),
        ('{"a": 17, "b": 17}', "id 17 is named twice"),
    ],
)
def test_malformed_name_maps_are_one_line_errors(tmp_path, text, match):
    path, _ = _cohort_file(tmp_path)
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(MeshError, match=match) as e:
        read_mesh(path, name_map=tmp_path / "m.json")
    assert "\n" not in str(e.value)


def test_a_json_next_to_the_mesh_that_is_not_a_name_map_is_ignored_with_a_warning(tmp_path):
    path, _ = _cohort_file(tmp_path)
    (tmp_path / "heart.json").write_text('{"solver": {"dt": 0.1}}')
    with pytest.warns(MeshWarning, match="ignored .*heart.json"):
        mesh = read_mesh(path)
    assert sorted(mesh.surfaces)[0] == "surface_17"


def test_region_and_surface_field_can_be_chosen(tmp_path):
    path, truth = _cohort_file(tmp_path)
    mesh = read_mesh(path, region_field="TAG", name_map=False)
    np.testing.assert_array_equal(mesh.regions, np.where(truth["vol"] == 7, 1, truth["vol"]))
    mesh = read_mesh(path, surface_field="_volume-id", name_map=False)
    assert sorted(mesh.surfaces) == ["surface_0"]
    with pytest.raises(MeshError, match=r"no integer cell field 'nope' .*_volume-id, _surface-id, tag"):
        read_mesh(path, region_field="nope")


@pytest.mark.parametrize("ext", ["vtu", "vtk", "msh", "xdmf"])
def test_regions_survive_a_round_trip_next_to_competing_tag_fields(tmp_path, ext):
    """The ventricles with the septum (1, 2, 7) written next to the file's own tag fields read back as 1, 2, 7."""
    from organtwin.mesh import separate_tag_fields

    path, truth = _cohort_file(tmp_path, {"LV": 1, "RV": 2, "septum": 7, "endo_lv": 17})
    mesh = read_mesh(path)
    assert "tag" in mesh.cell_data
    out = tmp_path / f"v.{ext}"
    write_mesh(mesh, out)  # kept as it is: organtwin's "region" still wins on read
    back = read_mesh(out)
    H.assert_same_mesh(mesh, back)
    assert back.region_ids.tolist() == [1, 2, 7]
    dropped, names = separate_tag_fields(mesh)
    assert names == ["tag"] and "tag" not in dropped.cell_data
    kept, _ = separate_tag_fields(mesh, keep=True)
    np.testing.assert_array_equal(kept.cell_data["orig:tag"], mesh.cell_data["tag"])


def test_cli_convert_keeps_the_septum_and_drops_or_renames_competing_fields(capsys, tmp_path):
    from cli import one_error_line, run_cli

    path, truth = _cohort_file(tmp_path, {"LV": 1, "RV": 2, "septum": 7, "endo_lv": 17})
    out = tmp_path / "vent.msh"
    rc, stdout, err = run_cli(capsys, "mesh", "convert", path, out, "--regions", "1,2,7")
    assert rc == 0, err
    assert "dropped the other tag field(s) tag" in stdout and "regions 1 LV, 2 RV, 7 septum" in stdout
    back = read_mesh(out)
    assert back.region_ids.tolist() == [1, 2, 7] and "tag" not in back.cell_data
    assert dict(back.region_names) == {1: "LV", 2: "RV", 7: "septum"}
    assert back.surfaces["endo_lv"].n_faces == len(truth["faces"][17])
    rc, stdout, err = run_cli(capsys, "mesh", "convert", path, tmp_path / "k.vtu", "--keep-fields")
    assert rc == 0, err
    kept = read_mesh(tmp_path / "k.vtu")
    np.testing.assert_array_equal(kept.cell_data["orig:tag"], np.where(truth["vol"] == 7, 1, truth["vol"]))
    np.testing.assert_array_equal(kept.regions, truth["vol"])
    rc, _, err = run_cli(capsys, "mesh", "convert", path, tmp_path / "x.vtu", "--regions", "1,3")
    assert rc == 1 and "region(s) [3] not in the mesh (regions present: [1, 2, 7])" in one_error_line(err)
    rc, _, err = run_cli(capsys, "mesh", "convert", path, tmp_path / "x.vtu", "--region-names", "1=LV,x")
    assert rc == 1 and "--region-names: cannot read 'x'" in one_error_line(err)
    assert not (tmp_path / "x.vtu").exists()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("m.vtu", {}),
        ("m.vtk", {}),
        ("m.vtk", {"binary": False}),
        ("m.msh", {}),
        ("m.msh", {"file_format": "gmsh22"}),
        ("m.xdmf", {}),
    ],
)
def test_names_with_spaces_survive_every_format(mesh, tmp_path, name, kwargs):
    named = mesh.replace(
        region_names={1: "left ventricle", 2: "RV 50%"},
        surfaces={"LV endocardium": mesh.surfaces["left"], "RV endocardium": mesh.surfaces["right"]},
    )
    with _no_warnings():
        write_mesh(named, tmp_path / name, **kwargs)
        back = read_mesh(tmp_path / name)
    H.assert_same_mesh(named, back)
    assert dict(back.region_names) == {1: "left ventricle", 2: "RV 50%"}


FOUR = DATA / "four_chamber"


@pytest.mark.skipif(not (FOUR / "heart.vtu").exists(), reason="the four-chamber test mesh is not generated")
@pytest.mark.parametrize("ext", ["vtu", "vtk", "msh", "xdmf"])
def test_four_chamber_round_trip(tmp_path, ext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MeshWarning)  # its placeholder fibres are reported (and repaired) on read
        heart = read_mesh(FOUR / "heart.vtu")
        assert len(heart.surfaces) == 16 and len(heart.region_names) == 7
        write_mesh(heart, tmp_path / f"h.{ext}")
        back = read_mesh(tmp_path / f"h.{ext}")
    H.assert_same_mesh(heart, back)


def test_several_tag_fields_say_which_became_the_regions():
    """The cohort layout: `_volume-id` (septum 7) and `tag` (septum merged into the LV). The read takes `_volume-id`
    by the documented order and says so in one warning naming the other field; --region-field picks the other."""
    from pathlib import Path

    heart = Path(__file__).parent / "data" / "four_chamber" / "heart.vtu"
    with pytest.warns(
        MeshWarning,
        match=r"regions from the cell field '_volume-id' \(ids \[1, 2, 3, 4, 5, 6, 7\]\); "
        r"other tag field\(s\) differ: 'tag' with ids \[1, 2, 3, 4, 5, 6\]",
    ):
        m = read_mesh(heart)
    assert m.region_ids.tolist() == [1, 2, 3, 4, 5, 6, 7]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = read_mesh(heart, region_field="tag", name_map=False)
    assert m.region_ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert not [w for w in caught if "regions from the cell field" in str(w.message)]

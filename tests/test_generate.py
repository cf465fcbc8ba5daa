"""Mesh generators: the structured slab, the LV ellipsoid and the biventricular mesh, and the shipped built-in meshes.

Every generated mesh must keep the same invariants: positively oriented tets, no unused nodes, and named surfaces that
partition the boundary (each face that belongs to exactly one tet is in exactly one surface) with outward triangles.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np
import pytest

from organtwin import MeshError
from organtwin.mesh import Mesh, Surface, _generate, biv_mesh, builtin_mesh_path, lv_ellipsoid_mesh, slab_mesh

MESHES = pathlib.Path(__file__).resolve().parents[1] / "meshes"


# ---------------------------------------------------------------------------------------------------- helpers
def _keys(faces: np.ndarray) -> np.ndarray:
    f = np.sort(np.asarray(faces, dtype=np.int64), axis=1)
    return (f[:, 0] << 42) | (f[:, 1] << 21) | f[:, 2]


def boundary_faces(tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces that appear exactly once among the tets' faces (computed independently of the generator's helper),
    with the vertex of the owning tet opposite each face."""
    idx = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    faces = tets[:, idx].reshape(-1, 3)
    opposite = tets[:, [0, 1, 2, 3]].reshape(-1)
    keys = _keys(faces)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    assert counts.max() <= 2, "a face is shared by more than two tets (non-manifold or non-conforming mesh)"
    once = counts[inverse] == 1
    return faces[once], opposite[once]


def check_invariants(mesh) -> None:
    vol = mesh.cell_volumes()
    assert np.all(vol > 0), f"{int(np.sum(vol <= 0))} tets not positively oriented"
    assert np.array_equal(np.unique(mesh.tets), np.arange(mesh.n_nodes)), "unreferenced nodes"
    bfaces, opposite = boundary_faces(mesh.tets)
    surf = np.concatenate([s.triangles for s in mesh.surfaces.values()])
    skeys = _keys(surf)
    assert np.unique(skeys).size == skeys.size, "a boundary triangle is in two surfaces (or twice in one)"
    bkeys = _keys(bfaces)
    assert np.array_equal(np.sort(skeys), np.sort(bkeys)), "surfaces do not equal the boundary faces"
    # Outward: each surface triangle's normal points away from the opposite vertex of the tet it bounds.
    order = np.argsort(bkeys)
    opp = opposite[order[np.searchsorted(bkeys, skeys, sorter=order)]]
    p = mesh.points[surf]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all(np.einsum("ij,ij->i", n, p[:, 0] - mesh.points[opp]) > 0), "inward surface triangles"
    # Divergence theorem with outward normals: the closed boundary encloses exactly the tet volume.
    enclosed = np.sum(np.einsum("ij,ij->i", p.mean(axis=1), n) / 2.0) / 3.0
    assert enclosed == pytest.approx(vol.sum(), rel=1e-9)


def surface_area(mesh, name: str) -> float:
    p = mesh.points[mesh.surfaces[name].triangles]
    return float(np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum() / 2.0)


def truncated_ellipsoid_volume(r_short_x: float, r_short_y: float, r_long: float, base_z: float) -> float:
    """Volume of the ellipsoid (centred at 0, long axis z) below the plane z = base_z: pi a b (z - z³ / 3c²) from -c."""
    c = r_long
    return float(np.pi * r_short_x * r_short_y * ((base_z + c) - (base_z**3 + c**3) / (3 * c * c)))


def cavity_volume(mesh, surface: str, base_z: float) -> float:
    """Volume enclosed by an endocardial surface and the base plane (the lid adds nothing with F = (0, 0, z - base_z)).

    The surface normals point out of the tissue, i.e. into the cavity, so the cavity's outward flux has the minus sign.
    """
    p = mesh.points[mesh.surfaces[surface].triangles]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]) / 2.0
    return float(-np.sum((p[:, :, 2].mean(axis=1) - base_z) * n[:, 2]))


# ---------------------------------------------------------------------------------------------------- slab
def test_slab_counts_volume_and_surfaces():
    m = slab_mesh((20.0, 7.0, 3.0), 0.5)
    assert m.n_nodes == 41 * 15 * 7
    assert m.n_cells == 40 * 14 * 6 * 6
    assert m.points.dtype == np.float64 and m.tets.dtype == np.int32
    assert m.cell_volumes().sum() == pytest.approx(420.0, rel=1e-9)
    assert np.allclose(m.cell_volumes(), 0.5**3 / 6)
    check_invariants(m)
    assert set(m.surfaces) == {"x0", "x1", "y0", "y1", "z0", "z1"}
    areas = {"x": 7.0 * 3.0, "y": 20.0 * 3.0, "z": 20.0 * 7.0}
    for name, s in m.surfaces.items():
        axis, side = "xyz".index(name[0]), int(name[1])
        assert surface_area(m, name) == pytest.approx(areas[name[0]], rel=1e-12)
        assert np.all(m.points[s.nodes, axis] == (0.0, (20.0, 7.0, 3.0)[axis])[side])
    assert m.regions.tolist() == [1] * m.n_cells and m.region_names == ((1, "slab"),)
    assert m.fibres.shape == (m.n_cells, 3) and np.all(m.fibres == [1.0, 0.0, 0.0])


def test_slab_dx_that_does_not_divide_the_length_keeps_the_box_exact():
    m = slab_mesh((20.0, 7.0, 3.0), 0.3, fibre=(1.0, 1.0, 0.0), origin=(-1.0, 2.0, 0.5))
    assert m.n_nodes == (round(20 / 0.3) + 1) * (round(7 / 0.3) + 1) * (round(3 / 0.3) + 1)
    assert m.cell_volumes().sum() == pytest.approx(420.0, rel=1e-9)
    lo, hi = m.bounding_box()
    assert np.array_equal(lo, [-1.0, 2.0, 0.5]) and np.allclose(hi, [19.0, 9.0, 3.5], rtol=0, atol=1e-12)
    assert np.allclose(m.fibres, np.sqrt(0.5) * np.array([1.0, 1.0, 0.0]))
    check_invariants(m)


def test_slab_is_deterministic():
    a, b = slab_mesh(dx=0.5), slab_mesh(dx=0.5)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.tets, b.tets)
    for name in a.surfaces:
        assert np.array_equal(a.surfaces[name].triangles, b.surfaces[name].triangles)


def test_slab_0p1mm_niederer_size_builds_fast():
    t0 = time.perf_counter()
    m = slab_mesh(dx=0.1)
    seconds = time.perf_counter() - t0
    assert (m.n_nodes, m.n_cells) == (201 * 71 * 31, 200 * 70 * 30 * 6)
    assert m.cell_volumes().sum() == pytest.approx(420.0, rel=1e-9)
    assert seconds < 15.0, f"0.1 mm slab took {seconds:.1f} s"


@pytest.mark.parametrize("kwargs", [dict(size=(20.0, -7.0, 3.0)), dict(dx=0.0), dict(fibre=(0.0, 0.0, 0.0))])
def test_slab_rejects_bad_arguments(kwargs):
    with pytest.raises(MeshError):
        slab_mesh(**kwargs)


# ---------------------------------------------------------------------------------------------------- LV ellipsoid
@pytest.fixture(scope="module")
def lv():
    return lv_ellipsoid_mesh()


def test_lv_ellipsoid_invariants_and_surfaces(lv):
    check_invariants(lv)
    assert set(lv.surfaces) == {"endo_lv", "epi", "base"}
    assert lv.region_names == ((1, "LV"),) and lv.region_ids.tolist() == [1]
    assert 1000 < lv.n_nodes < 4000
    # Nodes of each surface lie on its analytic surface (gmsh places boundary nodes on the geometry).
    x = lv.points
    endo = x[lv.surface_nodes("endo_lv")]
    epi = x[lv.surface_nodes("epi")]
    assert np.allclose((endo[:, 0] ** 2 + endo[:, 1] ** 2) / 49 + endo[:, 2] ** 2 / 289, 1.0, atol=1e-6)
    assert np.allclose((epi[:, 0] ** 2 + epi[:, 1] ** 2) / 100 + epi[:, 2] ** 2 / 400, 1.0, atol=1e-6)
    assert np.allclose(x[lv.surface_nodes("base"), 2], 5.0, atol=1e-8)
    assert x[:, 2].min() == pytest.approx(-20.0, abs=1e-6) and x[:, 2].max() == pytest.approx(5.0, abs=1e-8)


def test_lv_ellipsoid_volume_matches_the_truncated_shell(lv):
    # The mesh is a polyhedron inscribed in curved surfaces: with nodes on the surfaces each flat triangle cuts a
    # cap of height O(h²/R) off the curved wall, so volumes are off by O(h²) (both the outer volume and the cavity are
    # underestimated and the errors partly cancel). At h = 1.5 mm the measured wall error is about 0.2 %.
    exact = truncated_ellipsoid_volume(10, 10, 20, 5) - truncated_ellipsoid_volume(7, 7, 17, 5)
    assert exact == pytest.approx(3234.73, abs=0.01)
    assert lv.cell_volumes().sum() == pytest.approx(exact, rel=0.02)
    assert cavity_volume(lv, "endo_lv", 5.0) == pytest.approx(truncated_ellipsoid_volume(7, 7, 17, 5), rel=0.02)
    base_area = np.pi * (100 * (1 - 25 / 400) - 49 * (1 - 25 / 289))
    assert surface_area(lv, "base") == pytest.approx(base_area, rel=0.02)


def test_lv_ellipsoid_is_deterministic(lv):
    again = lv_ellipsoid_mesh()
    assert np.array_equal(lv.points, again.points) and np.array_equal(lv.tets, again.tets)


def test_lv_ellipsoid_rejects_bad_radii():
    with pytest.raises(MeshError, match="endocardial radii"):
        lv_ellipsoid_mesh(r_short_endo=12.0)
    with pytest.raises(MeshError, match="h must be a positive"):
        lv_ellipsoid_mesh(h=-1.0)


# ---------------------------------------------------------------------------------------------------- biventricle
@pytest.fixture(scope="module")
def biv_coarse():
    return biv_mesh(h=4.0)


def test_biv_regions_surfaces_and_volumes(biv_coarse):
    m = biv_coarse
    check_invariants(m)
    assert set(m.surfaces) == {"endo_lv", "endo_rv", "epi", "base"}
    assert m.region_ids.tolist() == [1, 2] and m.region_names == ((1, "LV"), (2, "RV"))
    vol = m.cell_volumes()
    # Region 1 is exactly the LV outer ellipsoid minus the LV cavity (septum included): compare with the analytic shell.
    lv_wall = truncated_ellipsoid_volume(30, 30, 68, 10) - truncated_ellipsoid_volume(22, 22, 60, 10)
    assert vol[m.regions == 1].sum() == pytest.approx(lv_wall, rel=0.03)
    assert 15e3 < vol[m.regions == 2].sum() < 50e3  # RV free wall, mm³
    assert cavity_volume(m, "endo_lv", 10.0) == pytest.approx(truncated_ellipsoid_volume(22, 22, 60, 10), rel=0.03)
    assert 40e3 < cavity_volume(m, "endo_rv", 10.0) < 80e3
    # The RV free wall is on the -y side and the LV is the apex.
    assert m.points[np.unique(m.tets[m.regions == 2]), 1].min() < -40
    assert m.points[:, 2].min() == pytest.approx(-68.0, abs=1e-6)
    assert np.allclose(m.points[m.surface_nodes("base"), 2], 10.0, atol=1e-8)


# ---------------------------------------------------------------------------------------------------- built-in files
def _read_builtin(path):
    """Read a built-in file with meshio alone (independent of organtwin's reader)."""
    import meshio

    raw = meshio.read(path)
    blocks = {c.type: (c.data, raw.cell_data["gmsh:physical"][i]) for i, c in enumerate(raw.cells)}
    tets, regions = blocks["tetra"]
    tris, tags = blocks["triangle"]
    names = {int(v[0]): k for k, v in raw.field_data.items() if int(v[1]) == 2}
    region_names = tuple(sorted((int(v[0]), k) for k, v in raw.field_data.items() if int(v[1]) == 3))
    surfaces = {names[int(t)]: Surface(tris[tags == t], int(t)) for t in np.unique(tags)}
    fibres = raw.cell_data["fibres"][[c.type for c in raw.cells].index("tetra")] if "fibres" in raw.cell_data else None
    return Mesh(raw.points, tets, regions, fibres=fibres, surfaces=surfaces, region_names=region_names)


@pytest.mark.parametrize("name", list(_generate.BUILTIN_MESHES))
def test_builtin_files_are_small_valid_and_named(name):
    path = builtin_mesh_path(name)
    assert path == MESHES / _generate.BUILTIN_MESHES[name].file and path.is_file()
    assert path.stat().st_size < 2_000_000
    m = _read_builtin(path)
    check_invariants(m)
    expected_surfaces = {
        "niederer_slab_0.5mm": {"x0", "x1", "y0", "y1", "z0", "z1"},
        "lv_ellipsoid": {"endo_lv", "epi", "base"},
        "biv": {"endo_lv", "endo_rv", "epi", "base"},
    }[name]
    assert set(m.surfaces) == expected_surfaces
    if name == "biv":
        assert 5_000 <= m.n_nodes <= 20_000 and m.region_names == ((1, "LV"), (2, "RV"))
    assert builtin_mesh_path(name + ".vtu") == path


def test_builtin_slab_file_equals_the_generator():
    m = _read_builtin(builtin_mesh_path("niederer_slab_0.5mm"))
    g = slab_mesh((20.0, 7.0, 3.0), 0.5)
    assert np.array_equal(m.points, g.points) and np.array_equal(m.tets, g.tets)
    assert np.array_equal(m.fibres, g.fibres)
    for name in g.surfaces:
        assert np.array_equal(m.surfaces[name].triangles, g.surfaces[name].triangles)
        assert m.surfaces[name].tag == g.surfaces[name].tag


def test_builtin_files_read_with_organtwin_reader():
    try:
        from organtwin.mesh import read_mesh
    except ImportError:  # pragma: no cover - the reader lives in mesh/_io.py
        pytest.skip("organtwin.mesh.read_mesh not available")
    g = slab_mesh((20.0, 7.0, 3.0), 0.5)
    m = read_mesh(builtin_mesh_path("niederer_slab_0.5mm"))
    assert np.array_equal(m.points, g.points) and np.array_equal(m.tets, g.tets)
    assert set(m.surfaces) == set(g.surfaces) and m.fibres is not None
    biv = read_mesh(builtin_mesh_path("biv"))
    assert biv.region_names == ((1, "LV"), (2, "RV")) and set(biv.surfaces) == {"endo_lv", "endo_rv", "epi", "base"}


def test_builtin_mesh_path_generates_when_the_folder_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(_generate, "_builtin_dirs", lambda: [tmp_path / "nowhere"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = builtin_mesh_path("niederer_slab_0.5mm")
    assert path == tmp_path / "cache" / "organtwin" / "meshes" / "niederer_slab_0.5mm.vtu" and path.is_file()
    m = _read_builtin(path)
    assert np.array_equal(m.tets, slab_mesh(dx=0.5).tets)
    assert builtin_mesh_path("niederer_slab_0.5mm") == path  # cached: found again, not rebuilt


def test_builtin_mesh_path_unknown_name():
    with pytest.raises(MeshError, match="no built-in mesh named"):
        builtin_mesh_path("four_chamber")

"""Cavity volumes (organtwin.mesh.cavity_volume) against analytic volumes, orientation independence, one-line errors,
and the LV/RV region rule (organtwin.mesh.ventricle_regions) on four-chamber-like region ids."""

import math

import numpy as np
import pytest

from organtwin._errors import MeshError
from organtwin.mesh import Mesh, Surface, cavity, cavity_volume, cavity_volumes, lv_ellipsoid_mesh, ventricle_regions


def truncated_ellipsoid_ml(a: float, c: float, z0: float) -> float:
    """Volume of {(x² + y²)/a² + z²/c² <= 1, z <= z0} in mL (mm³ / 1000): π a² ∫_{-c}^{z0} (1 - z²/c²) dz."""
    return math.pi * a * a * ((z0 + c) - (z0**3 + c**3) / (3 * c * c)) / 1000.0


@pytest.fixture(scope="module")
def lv_meshes():
    return {h: lv_ellipsoid_mesh(h=h) for h in (2.0, 1.4, 1.0)}


def test_open_lv_endocardium_closed_at_its_base_matches_the_truncated_ellipsoid(lv_meshes):
    exact = truncated_ellipsoid_ml(7.0, 17.0, 5.0)
    assert exact == pytest.approx(2.4921, abs=1e-4)
    errors = []
    for mesh in lv_meshes.values():
        c = cavity(mesh, "endo_lv")
        assert not c.closed and c.rims == 1 and c.pieces == 1
        # the lid is the flat base disc: the ellipse's cross-section at z0 = 5, π a² (1 - z0²/c²), inscribed polygon
        assert c.lid_area_mm2 == pytest.approx(math.pi * 49 * (1 - 25 / 289), rel=0.02)
        errors.append(abs(c.volume_ml - exact) / exact)
    hs = np.array(list(lv_meshes))
    errors = np.array(errors)
    assert errors[-1] < 0.006  # 0.41 % at h = 1 mm (measured)
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert 1.7 < slope < 2.3, slope  # second order in h (measured 1.96 with h = 0.7 too)


def _sphere_shell(r_in: float, r_out: float, h: float) -> Mesh:
    """A spherical shell meshed with gmsh: the inner sphere as a closed surface 'endo_lv', the outer as 'epi'."""
    import gmsh

    gmsh.initialize(["-nt", "1"])
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMin", h)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMax", h)
        gmsh.option.setNumber("Mesh.RandomSeed", 1)
        occ = gmsh.model.occ
        outer = occ.addSphere(0, 0, 0, r_out)
        inner = occ.addSphere(0, 0, 0, r_in)
        shell, _ = occ.cut([(3, outer)], [(3, inner)])
        occ.synchronize()
        gmsh.model.mesh.generate(3)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
        index[tags.astype(np.int64)] = np.arange(tags.size)
        pts = coords.reshape(-1, 3)
        _, etags, nodes = gmsh.model.mesh.getElements(3, shell[0][1])
        tets = index[np.asarray(nodes[0], dtype=np.int64).reshape(-1, 4)]
        surfaces = {}
        for _dim, tag in gmsh.model.getBoundary(shell, oriented=False):
            _, _, tri_nodes = gmsh.model.mesh.getElements(2, tag)
            tris = index[np.asarray(tri_nodes[0], dtype=np.int64).reshape(-1, 3)]
            r = np.linalg.norm(pts[tris].mean(axis=1), axis=1).mean()
            surfaces["endo_lv" if r < 0.5 * (r_in + r_out) else "epi"] = Surface(tris, tag)
    finally:
        gmsh.finalize()
    p = pts[tets]
    vol = np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])
    tets[vol < 0] = tets[vol < 0][:, [0, 2, 1, 3]]
    return Mesh(pts, tets, surfaces=surfaces)


def test_closed_sphere_cavity_and_any_triangle_orientation():
    mesh = _sphere_shell(10.0, 13.0, 1.2)
    c = cavity(mesh, "endo_lv")
    exact = 4.0 / 3.0 * math.pi * 10.0**3 / 1000.0
    assert c.closed and c.rims == 0 and c.lid_area_mm2 == 0.0
    assert c.volume_ml == pytest.approx(exact, rel=0.01)  # inscribed polyhedron, slightly smaller
    assert c.volume_ml < exact
    # flip a random half of the triangles: the orientation is repaired, the volume is the same
    tris = mesh.surfaces["endo_lv"].triangles.copy()
    flip = np.random.default_rng(0).random(len(tris)) < 0.5
    tris[flip] = tris[flip][:, [0, 2, 1]]
    flipped = mesh.replace(surfaces={**mesh.surfaces, "endo_lv": Surface(tris, 1)})
    assert cavity_volume(flipped, "endo_lv") == pytest.approx(c.volume_ml, rel=1e-12)
    # mesh info's list: the cavity, and the closed epicardium (the whole sphere of radius 13)
    vols = cavity_volumes(mesh)
    assert set(vols) == {"endo_lv", "epi"}
    assert vols["epi"].volume_ml == pytest.approx(4.0 / 3.0 * math.pi * 13.0**3 / 1000.0, rel=0.01)


def test_open_surface_with_mixed_orientation_and_two_rims():
    """A cylinder (radius 5, length 10) open at both ends: two rims, two lids; exact for the inscribed polygon."""
    n, k = 64, 10
    th = 2 * np.pi * np.arange(n) / n
    rings = [np.column_stack([5 * np.cos(th), 5 * np.sin(th), np.full(n, z)]) for z in np.linspace(0, 10, k + 1)]
    pts = np.concatenate(rings + [np.array([[0.0, 0.0, -20.0]])])
    tris = []
    for j in range(k):
        for i in range(n):
            a, b = j * n + i, j * n + (i + 1) % n
            tris += [(a, b, b + n), (a, b + n, a + n)]
    tris = np.array(tris)
    tris[::3] = tris[::3][:, [1, 0, 2]]
    tets = np.array([[0, 1, n, len(pts) - 1]])  # a placeholder tet: the surface is what is measured
    mesh = Mesh(pts, tets, surfaces={"endo_rv": Surface(tris, 3)})
    c = cavity(mesh, "endo_rv")
    polygon = 0.5 * n * 25 * np.sin(2 * np.pi / n)
    assert c.rims == 2 and not c.closed
    assert c.volume_ml == pytest.approx(polygon * 10 / 1000.0, rel=1e-12)


def _bad(tris, name="endo_lv"):
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [-1, 0, 0], [0, -1, 0]], float)
    return Mesh(pts, np.array([[0, 1, 2, 3]]), surfaces={name: Surface(np.array(tris), 1)})


@pytest.mark.parametrize(
    "tris, words",
    [
        ([(0, 1, 2), (0, 1, 3), (0, 1, 4)], "non-manifold"),  # an edge in three triangles
        ([(0, 1, 2), (0, 3, 4), (1, 3, 2), (2, 3, 4)], "touches itself at node 0"),  # one piece, its rim pinched at 0
    ],
)
def test_surfaces_that_cannot_be_closed_are_one_line_errors(tris, words):
    with pytest.raises(MeshError, match=words) as e:
        cavity_volume(_bad(tris), "endo_lv")
    assert "cannot be closed" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(cavity_volumes(_bad(tris))["endo_lv"], MeshError)  # mesh info says why


def test_missing_surface_names_the_surfaces_present():
    with pytest.raises(MeshError, match=r"no surface named 'endo_rv' \(surfaces: endo_lv\)"):
        cavity_volume(_bad([(0, 1, 2)]), "endo_rv")


# ------------------------------------------------------------------------------------------------- LV / RV regions
def _regions_mesh(ids, names):
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tets = np.tile([0, 1, 2, 3], (len(ids), 1))
    return Mesh(pts, tets, np.array(ids), region_names=names)


def test_four_chamber_regions_the_septum_joins_the_lv():
    mesh = _regions_mesh([1, 2, 3, 4, 7], {1: "LV", 2: "RV", 3: "LA", 4: "RA", 7: "septum"})
    lv, rv, text = ventricle_regions(mesh)
    assert (lv, rv) == ([1, 7], [2])
    assert text == "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)"
    assert ventricle_regions(mesh, lv=[1])[:2] == ([1], [2])  # given ids override the rule
    assert ventricle_regions(mesh, rv=[2, 7])[:2] == ([1], [2, 7])  # septum given to the RV stays there
    names = {10: "Left_Ventricle myocardium", 20: "right-ventricle", 30: "Interventricular Septum"}
    assert ventricle_regions(_regions_mesh([10, 20, 30], names))[:2] == ([10, 30], [20])


def test_unnamed_regions_need_the_ids():
    lv, rv, text = ventricle_regions(_regions_mesh([1, 2], {}))
    assert (lv, rv) == ([1], [2]) and "without names" in text
    with pytest.raises(
        MeshError, match=r"cannot tell which regions are the LV and RV \(regions: 1, 2, 7\).*--lv-regions"
    ):
        ventricle_regions(_regions_mesh([1, 2, 7], {}))  # never region 1 silently
    with pytest.raises(
        MeshError, match=r"--lv-regions: no region 5 in the mesh \(regions present: 1 \(LV\), 2 \(RV\)\)"
    ):
        ventricle_regions(_regions_mesh([1, 2], {1: "LV", 2: "RV"}), lv=[5])
    with pytest.raises(MeshError, match="both LV and RV"):
        ventricle_regions(_regions_mesh([1, 2], {}), lv=[1, 2])


def test_mesh_info_lists_the_cavities(lv_meshes):
    from organtwin.mesh import format_summary, mesh_summary

    mesh = lv_meshes[1.0]
    s = mesh_summary(mesh)
    (c,) = s["cavities"]
    assert c["surface"] == "endo_lv" and c["rims"] == 1 and not c["closed"]
    assert c["volume_mL"] == pytest.approx(cavity_volume(mesh, "endo_lv"), rel=1e-12)
    assert f"Cavity endo_lv: {c['volume_mL']:.4g} mL (open, closed at 1 rim)" in format_summary(s)


def test_a_moebius_strip_cannot_be_oriented():
    n = 8
    th = 2 * np.pi * np.arange(n) / n
    top = np.column_stack([np.cos(th), np.sin(th), np.full(n, 0.3)])
    bottom = np.column_stack([np.cos(th), np.sin(th), np.full(n, -0.3)])
    pts = np.concatenate([top, bottom])  # top i -> i, bottom i -> n + i
    tris = []
    for i in range(n):
        j = (i + 1) % n
        a, b, c, d = (i, n + i, n + j, j) if j else (i, n + i, j, n + j)  # the last quad joins top to bottom: a twist
        tris += [(a, b, c), (a, c, d)]
    mesh = Mesh(pts, np.array([[0, 1, 2, n]]), surfaces={"endo_lv": Surface(np.array(tris), 1)})
    with pytest.raises(MeshError, match="cannot be oriented consistently"):
        cavity_volume(mesh, "endo_lv")

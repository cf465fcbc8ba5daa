"""check_mesh: each broken-mesh case gives the right one-line error or warning, repairs are exact, clean meshes pass."""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path

import make_meshes as H  # tests/make_meshes.py (tests/ is on sys.path under pytest)
import numpy as np
import pytest

from organtwin._errors import MeshError, MeshWarning
from organtwin.mesh import Mesh, Surface, check_mesh, guess_units

DATA = Path(__file__).parent / "data"


SOURCE = "heart_v3.vtu"


@contextlib.contextmanager
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeshWarning)
        yield


def _error(mesh) -> str:
    with pytest.raises(MeshError) as info:
        check_mesh(mesh, source=SOURCE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: ")
    return message


def _warning(mesh) -> tuple[Mesh, str]:
    with pytest.warns(MeshWarning) as record:
        out = check_mesh(mesh, source=SOURCE)
    assert len(record) == 1, [str(w.message) for w in record]
    message = str(record[0].message)
    assert "\n" not in message and message.startswith(f"{SOURCE}: ")
    return out, message


def test_clean_mesh_passes_unchanged():
    mesh = H.two_region_mesh()
    with _no_warnings():
        out = check_mesh(mesh, source=SOURCE)
    np.testing.assert_array_equal(out.points, mesh.points)
    np.testing.assert_array_equal(out.tets, mesh.tets)


def test_no_tets():
    assert "has no tetrahedra" in _error(Mesh(np.zeros((3, 3)), np.zeros((0, 4), int)))


def test_tets_naming_missing_nodes():
    points, tets = H.box_mesh()
    tets = tets.copy()
    tets[[3, 7], 2] = points.shape[0] + 5
    tets[9, 0] = -1
    message = _error(Mesh(points, tets))
    n = points.shape[0]
    assert f"3 tets name nodes that do not exist (the mesh has {n} nodes; first tet ids: 3, 7, 9)" in message


def test_surface_and_node_set_naming_missing_nodes():
    points, tets = H.box_mesh()
    bad = Mesh(points, tets, surfaces={"endo": Surface([[0, 1, 999]], 1)})
    assert "surface 'endo' has 1 triangles naming nodes that do not exist" in _error(bad)
    bad = Mesh(points, tets, node_sets={"apex": [0, 999]})
    assert "node set 'apex' names 1 nodes that do not exist" in _error(bad)


def test_nan_and_inf_coordinates():
    points, tets = H.box_mesh()
    points = points.copy()
    points[4, 1] = np.nan
    points[11, 2] = np.inf
    message = _error(Mesh(points, tets))
    assert "2 nodes have NaN or infinite coordinates (first node ids: 4, 11)" in message


def test_zero_volume_uses_a_relative_tolerance():
    points, tets = H.box_mesh((2, 2, 2), (1.0, 1.0, 1.0))  # every tet has volume 1/48 mm³
    t = tets[0]
    p0, p1, p2 = points[t[0]], points[t[1]], points[t[2]]
    normal = np.cross(p1 - p0, p2 - p0)
    # Replace tet 0's fourth node by a new node at height eps above the plane of the other three (no other tet moves):
    # V = |normal| eps / 6. eps = 1e-14 mm is round-off (degenerate), 1e-6 mm a real if terrible sliver.
    for eps, degenerate in ((1e-14, True), (1e-6, False)):
        lifted = p0 + 0.3 * (p1 - p0) + 0.3 * (p2 - p0) + eps * normal / np.linalg.norm(normal)
        tt = tets.copy()
        tt[0, 3] = len(points)
        m = Mesh(np.vstack([points, lifted]), tt)
        if degenerate:
            assert abs(m.cell_volumes()[0]) < 1e-12 * (1 / 48)
            assert "1 tets have zero volume (first tet ids: 0;" in _error(m)
        else:
            assert m.cell_volumes()[0] == pytest.approx(np.linalg.norm(normal) * eps / 6, rel=1e-6)
            # accepted; the sliver leaves a gap that touches the rest only along edges: the boundary is non-manifold
            _, message = _warning(m)
            assert "the boundary is non-manifold at" in message


def test_exactly_zero_volume_repeated_node():
    points, tets = H.box_mesh()
    tets = tets.copy()
    tets[5] = [tets[5, 0], tets[5, 1], tets[5, 1], tets[5, 3]]
    assert "first tet ids: 5;" in _error(Mesh(points, tets))


def test_inverted_tets_are_reoriented():
    mesh = H.two_region_mesh()
    tets = mesh.tets.copy()
    flip = np.array([0, 5, 17])
    tets[flip] = tets[flip][:, [1, 0, 2, 3]]
    out, message = _warning(mesh.replace(tets=tets))
    assert f"3 of {mesh.n_cells} tets were inverted (negative volume) and were reoriented" in message
    np.testing.assert_allclose(out.cell_volumes(), mesh.cell_volumes(), rtol=1e-14)
    np.testing.assert_array_equal(np.sort(out.tets, axis=1), np.sort(mesh.tets, axis=1))  # same nodes per tet
    np.testing.assert_array_equal(out.fibres, mesh.fibres)  # per-cell data stays with its cell


def test_unreferenced_nodes_are_dropped_and_everything_renumbered():
    mesh = H.two_region_mesh()
    # add 3 unused nodes at the front: every index shifts by 3
    extra = np.array([[50.0, 50, 50], [60, 60, 60], [70, 70, 70]])
    shifted = mesh.replace(
        points=np.vstack([extra, mesh.points]),
        tets=mesh.tets + 3,
        surfaces={k: Surface(s.triangles + 3, s.tag) for k, s in mesh.surfaces.items()},
        node_sets={"apex": mesh.node_sets["apex"] + 3, "far": np.array([0, 1, 3])},
        point_data={"phi": np.concatenate([[9.0, 9.0, 9.0], mesh.point_data["phi"]])},
    )
    out, message = _warning(shifted)
    assert "dropped 3 nodes not used by any tet, and 2 node-set entries on them" in message
    np.testing.assert_array_equal(out.points, mesh.points)
    np.testing.assert_array_equal(out.tets, mesh.tets)
    for k, s in mesh.surfaces.items():
        np.testing.assert_array_equal(out.surfaces[k].triangles, s.triangles)
    np.testing.assert_array_equal(out.node_sets["apex"], mesh.node_sets["apex"])
    np.testing.assert_array_equal(out.node_sets["far"], [0])
    np.testing.assert_array_equal(out.point_data["phi"], mesh.point_data["phi"])


def test_disconnected_parts_are_reported_by_size():
    p1, t1 = H.box_mesh((2, 1, 1), (2.0, 1.0, 1.0))  # 12 tets
    p2, t2 = H.box_mesh((1, 1, 1), (1.0, 1.0, 1.0))  # 6 tets
    p3, t3 = H.box_mesh((1, 1, 1), (1.0, 1.0, 1.0))
    points = np.vstack([p1, p2 + 10.0, p3 + 20.0])
    tets = np.vstack([t2 + len(p1), t1, t3 + len(p1) + len(p2)])
    _, message = _warning(Mesh(points, tets))
    assert "the mesh has 3 disconnected parts of 12, 6, 6 tets" in message


def _two_cubes_sharing_a_corner() -> Mesh:
    # Two unit cubes sharing only the corner (1, 1, 1).
    p, t = H.box_mesh((1, 1, 1), (1.0, 1.0, 1.0))
    q = p + 1.0
    corner = int(np.flatnonzero((p == 1.0).all(axis=1))[0])
    origin = int(np.flatnonzero((q == 1.0).all(axis=1))[0])
    local = np.arange(len(q))
    index = np.where(local < origin, len(p) + local, len(p) + local - 1)
    index[origin] = corner
    return Mesh(np.vstack([p, np.delete(q, origin, axis=0)]), np.vstack([t, index[t]])), corner


def test_touching_at_a_node_counts_as_connected_and_warns_non_manifold():
    # One part (tets connected through any shared node), but the boundary is pinched at the shared corner.
    mesh, corner = _two_cubes_sharing_a_corner()
    out, message = _warning(mesh)
    assert out.n_nodes == 15 and np.all(out.cell_volumes() > 0)
    assert message.startswith(
        f"{SOURCE}: the boundary is non-manifold at 1 nodes (first node ids: {corner}; "
        "0 edges with more than two boundary faces)"
    )
    assert "disconnected" not in message


# Two tets on the triangle (0, 1, 2) in z = 0, one above (node 3) and one below (node 4): a manifold double pyramid.
_TRI = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])


def test_two_tets_sharing_a_face_are_manifold():
    points = np.vstack([_TRI, [[0.2, 0.2, 1.0], [0.2, 0.2, -1.0]]])
    with _no_warnings():
        out = check_mesh(Mesh(points, np.array([[0, 1, 2, 3], [0, 2, 1, 4]])), source=SOURCE)
    assert out.n_cells == 2


def test_face_in_three_tets_is_an_error_naming_the_face():
    # A third tet on the same face, above it again (overlapping the first): the face (0, 1, 2) bounds three tets.
    points = np.vstack([_TRI, [[0.2, 0.2, 1.0], [0.2, 0.2, -1.0], [0.3, 0.3, 2.0]]])
    message = _error(Mesh(points, np.array([[0, 1, 2, 3], [0, 2, 1, 4], [0, 1, 2, 5]])))
    assert message == (
        f"{SOURCE}: 1 triangle faces are shared by more than two tets (e.g. the face of nodes 0, 1, 2 is in 3 tets); "
        "a face can bound at most two tets, so tets overlap or are duplicated: remove the duplicates or remesh "
        "(e.g. with gmsh or TetGen)"
    )


def test_duplicated_tets_are_an_error():
    p, t = H.box_mesh((2, 1, 1), (2.0, 1.0, 1.0))
    message = _error(Mesh(p, np.vstack([t, t[[3]][:, [1, 2, 0, 3]]])))  # tet 3 again, its nodes in another order
    assert message.startswith(
        f"{SOURCE}: 2 tets are duplicates of another tet (same four nodes; first tet ids: 3, "
        f"{len(t)}); remove the duplicated tets"
    )


def test_tets_touching_at_a_vertex_or_an_edge_warn_with_counts():
    apex = [[0.2, 0.2, 1.0]]
    # vertex: the second tet shares only node 0 with the first
    points = np.vstack([_TRI, apex, -_TRI[1:], [[-0.2, -0.2, -1.0]]])
    _, message = _warning(Mesh(points, np.array([[0, 1, 2, 3], [0, 5, 4, 6]])))
    assert "the boundary is non-manifold at 1 nodes (first node ids: 0; 0 edges with more than two boundary " in message
    # edge: the second tet shares the edge (0, 1) only
    points = np.vstack([_TRI, apex, [[0.5, -1.0, 0.0], [0.5, -0.2, -1.0]]])
    tets = np.array([[0, 1, 2, 3], [0, 1, 4, 5]])
    tets[1] = tets[1] if Mesh(points, tets).cell_volumes()[1] > 0 else tets[1][[1, 0, 2, 3]]
    _, message = _warning(Mesh(points, tets))
    assert (
        "the boundary is non-manifold at 2 nodes (first node ids: 0, 1; 1 edges with more than two boundary " in message
    )


def test_manifold_check_on_the_shipped_meshes_stays_quiet():
    # The built-in meshes and the four-chamber test heart (seven regions meeting at valves and septa) are manifold.
    from organtwin.mesh import builtin_mesh_path, read_mesh

    for path in [
        builtin_mesh_path("biv"),
        builtin_mesh_path("lv_ellipsoid"),
        DATA / "four_chamber" / "ventricles_untagged.vtu",
    ]:
        with _no_warnings():
            read_mesh(path)


@pytest.mark.parametrize(
    "factor, expected",
    [
        (1e-3, "bounding box diagonal 0.0049 suggests metres; pass --scale 1000 (or scale=1000) to read it in mm"),
        (1e4, "bounding box diagonal 4.9e+04 suggests µm; pass --scale 0.001 (or scale=0.001) to read it in mm"),
    ],
)
def test_units_that_look_wrong(factor, expected):
    mesh = H.two_region_mesh()  # 4 x 2 x 2 mm: diagonal 4.899 mm
    _, message = _warning(mesh.scaled(factor))
    assert expected in message


def test_guess_units_bounds():
    # heart-sized boxes in mm are left alone; the same in m or µm are recognised
    for size_mm in (20.0, 300.0):
        box = np.array([[0, 0, 0], [size_mm, size_mm, size_mm]]) / np.sqrt(3)
        assert guess_units(box)[:2] == ("mm", 1.0)
        assert guess_units(box * 1e-3)[:2] == ("m", 1000.0)
        assert guess_units(box * 1e3)[:2] == ("µm", 1e-3)


def test_submesh_carries_surfaces_and_fields_and_renumbers():
    mesh = H.two_region_mesh()
    sub = mesh.submesh([1])
    keep = mesh.regions == 1
    assert sub.n_cells == int(keep.sum())
    used = np.unique(mesh.tets[keep])
    assert sub.n_nodes == used.size
    np.testing.assert_array_equal(sub.points, mesh.points[used])
    np.testing.assert_array_equal(sub.points[sub.tets], mesh.points[mesh.tets[keep]])  # same tets, renumbered
    assert sub.tets.max() == sub.n_nodes - 1
    np.testing.assert_array_equal(sub.fibres, mesh.fibres[keep])
    np.testing.assert_array_equal(sub.sheets, mesh.sheets[keep])
    np.testing.assert_array_equal(sub.cell_data["scar"], mesh.cell_data["scar"][keep])
    np.testing.assert_array_equal(sub.point_data["phi"], mesh.point_data["phi"][used])
    # "left" (x = 0) lies on region 1 and is kept with its tag, "right" (x = 4) lies on region 2 and is gone
    assert list(sub.surfaces) == ["left"] and sub.surfaces["left"].tag == 10
    left = mesh.surfaces["left"].triangles
    as_coordinates = lambda pts, tri: {tuple(sorted(map(tuple, x))) for x in pts[tri].tolist()}
    assert as_coordinates(sub.points, sub.surfaces["left"].triangles) == as_coordinates(mesh.points, left)
    np.testing.assert_array_equal(sub.points[sub.node_sets["apex"]], mesh.points[mesh.node_sets["apex"]])
    assert dict(sub.region_names) == {1: "lv"}
    with _no_warnings():
        check_mesh(sub, source=SOURCE)


def test_checks_are_vectorised():
    # ~100k tets: every check together takes well under a second with numpy; a Python loop per tet would take many.
    points, tets = H.box_mesh((24, 24, 29), (24.0, 24.0, 29.0))
    mesh = Mesh(points, tets)
    assert mesh.n_cells > 100_000
    start = time.perf_counter()
    with _no_warnings():
        check_mesh(mesh, source=SOURCE)
    assert time.perf_counter() - start < 5.0

"""mesh_summary / format_summary: analytic volumes, areas, edge lengths and aspect ratios of box meshes."""

from __future__ import annotations

import json
from pathlib import Path

import make_meshes as H  # tests/make_meshes.py (tests/ is on sys.path under pytest)
import numpy as np
import pytest

from organtwin.mesh import Mesh, Surface, format_summary, mesh_summary, tet_aspect_ratios

DATA = Path(__file__).parent / "data"


# Every tet of the Kuhn split of a cube has the cube's circumsphere (R = sqrt(3) h / 2) and faces of total area
# (1 + sqrt(2)) h², so r = 3 V / A = h / (2 (1 + sqrt(2))) and R / (3 r) = sqrt(3) (1 + sqrt(2)) / 3.
KUHN_RATIO = np.sqrt(3.0) * (1.0 + np.sqrt(2.0)) / 3.0
# Sums of a few hundred float64 terms of size ~1: relative round-off well below 1e-13.
RTOL = 1e-12


def _box(n=(6, 4, 3), size=(3.0, 2.0, 1.5)):
    """A 3 x 2 x 1.5 mm box of 0.5 mm cubes, regions 1 | 2 split at x = 1.5 mm, surfaces on x = 0 and y = 0."""
    points, tets = H.box_mesh(n, size)
    regions = np.where(points[tets].mean(axis=1)[:, 0] < size[0] / 2, 1, 2)
    return Mesh(
        points,
        tets,
        regions,
        surfaces={
            "x0": Surface(H.boundary_faces(points, tets, 0, 0.0), 3),
            "y0": Surface(H.boundary_faces(points, tets, 1, 0.0), 4),
        },
        node_sets={"corner": [0]},
        point_data={"phi": points[:, 0]},
        cell_data={"scar": np.zeros(len(tets))},
        region_names={1: "lv", 2: "rv"},
    )


def test_region_volumes_and_surface_areas_are_analytic():
    s = mesh_summary(_box())
    assert s["nodes"] == 7 * 5 * 4 and s["tets"] == 6 * 6 * 4 * 3
    # each half is 1.5 x 2 x 1.5 mm = 4.5 mm³ = 0.0045 mL
    assert [(r["id"], r["name"], r["tets"]) for r in s["regions"]] == [(1, "lv", 216), (2, "rv", 216)]
    for r in s["regions"]:
        assert r["volume_mL"] == pytest.approx(4.5e-3, rel=RTOL)
    assert s["quality"]["total_volume_mL"] == pytest.approx(9e-3, rel=RTOL)
    areas = {x["name"]: (x["tag"], x["triangles"], x["area_mm2"]) for x in s["surfaces"]}
    assert areas["x0"][:2] == (3, 2 * 4 * 3) and areas["x0"][2] == pytest.approx(2.0 * 1.5, rel=RTOL)
    assert areas["y0"][:2] == (4, 2 * 6 * 3) and areas["y0"][2] == pytest.approx(3.0 * 1.5, rel=RTOL)
    assert s["bounding_box"] == {"min": [0.0, 0.0, 0.0], "max": [3.0, 2.0, 1.5], "size": [3.0, 2.0, 1.5]}


def test_tet_volumes_edges_and_aspect_ratios_of_cubes():
    h = 0.5
    q = mesh_summary(_box())["quality"]
    assert q["volume_min_mm3"] == pytest.approx(h**3 / 6, rel=RTOL)
    assert q["volume_max_mm3"] == pytest.approx(h**3 / 6, rel=RTOL)
    assert q["inverted_tets"] == 0
    for k in ("p50", "p95", "p99", "max"):
        assert q["aspect_ratio"][k] == pytest.approx(KUHN_RATIO, rel=RTOL)
    assert q["aspect_ratio"]["degenerate"] == 0
    # Unique edges of an nx x ny x nz grid of cubes split the Kuhn way: axis edges, one diagonal per square face, one
    # body diagonal per cube.
    nx, ny, nz = 6, 4, 3
    axis = nx * (ny + 1) * (nz + 1) + (nx + 1) * ny * (nz + 1) + (nx + 1) * (ny + 1) * nz
    faces = nx * ny * (nz + 1) + nx * (ny + 1) * nz + (nx + 1) * ny * nz
    body = nx * ny * nz
    mean = h * (axis + faces * np.sqrt(2) + body * np.sqrt(3)) / (axis + faces + body)
    e = q["edge_length_mm"]
    assert e["mean"] == pytest.approx(mean, rel=RTOL)
    assert e["min"] == pytest.approx(h, rel=RTOL) and e["max"] == pytest.approx(h * np.sqrt(3), rel=RTOL)


def test_aspect_ratio_is_one_for_a_regular_tet_and_grows_for_bad_ones():
    regular = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    flat = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
    needle = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 100]], dtype=float)
    points = np.vstack([regular, flat, needle])
    ratio = tet_aspect_ratios(points, np.arange(12).reshape(3, 4))
    assert ratio[0] == pytest.approx(1.0, rel=1e-14)
    assert np.isinf(ratio[1])
    assert ratio[2] > 10


def test_summary_is_json_and_lists_everything():
    mesh = _box()
    s = mesh_summary(mesh)
    again = json.loads(json.dumps(s, allow_nan=False))  # plain types, no NaN/inf
    assert again == s
    assert s["units_guess"]["units"] == "mm" and "plausible" in s["units_guess"]["reason"]
    assert s["fibres"] is False and s["sheets"] is False
    assert s["node_sets"] == [{"name": "corner", "nodes": 1}]
    assert s["cell_fields"] == ["scar"] and s["point_fields"] == ["phi"]
    fibred = H.two_region_mesh()
    assert mesh_summary(fibred)["fibres"] is True and mesh_summary(fibred)["sheets"] is True
    metres = mesh_summary(mesh.scaled(1e-3))["units_guess"]
    assert metres["units"] == "m" and "metres" in metres["reason"]


def test_summary_of_a_mesh_with_an_inverted_tet():
    mesh = _box()
    tets = mesh.tets.copy()
    tets[0] = tets[0, [1, 0, 2, 3]]
    q = mesh_summary(mesh.replace(tets=tets))["quality"]
    assert q["inverted_tets"] == 1
    assert q["volume_min_mm3"] == pytest.approx(-(0.5**3) / 6, rel=RTOL)
    assert q["aspect_ratio"]["max"] == pytest.approx(KUHN_RATIO, rel=RTOL)  # shape does not depend on orientation


def test_format_summary_is_readable_text():
    text = format_summary(mesh_summary(_box()))
    lines = text.splitlines()
    assert lines[0] == "Mesh: 140 nodes, 432 tets"
    assert any(line.split()[:3] == ["1", "lv", "216"] for line in lines)
    assert any(line.split()[:3] == ["x0", "3", "24"] for line in lines)
    assert "aspect ratio R/3r (1 = regular): p50 1.394" in text
    assert "Node sets: corner (1 nodes)" in text
    assert "Fibres: no" in text

"""The shipped four-chamber test mesh (tests/data/four_chamber/, made by tests/make_four_chamber.py): what must hold of
the FILES, read as a user's third-party file would be (meshio directly, and organtwin.mesh.read_mesh)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import make_four_chamber as G  # tests/make_four_chamber.py (tests/ is on sys.path under pytest)
import numpy as np
import pytest

DATA = Path(__file__).parent / "data" / "four_chamber"
HEART, VENTRICLES = DATA / "heart.vtu", DATA / "ventricles_untagged.vtu"
# the shipped files (gmsh 4.15.2, h = 4 mm); the README quotes the same figures
N_NODES, N_TETS, N_TRIS = 9134, 31491, 16196
TETS_PER_REGION = {1: 9574, 2: 8408, 3: 3380, 4: 3346, 5: 1013, 6: 1001, 7: 4769}
N_VENTRICLE_NODES, N_VENTRICLE_TETS = 6329, 22751
FIELDS = {"_volume-id", "_surface-id", "tag", "fibres", "sheets"}


@pytest.fixture(scope="module")
def heart():
    import meshio

    m = meshio.read(HEART)
    assert [b.type for b in m.cells] == ["tetra", "triangle"]
    tets, tris = m.cells[0].data, m.cells[1].data
    cd = {k: v for k, v in m.cell_data.items()}
    return m, tets, tris, cd


def test_counts_fields_and_dtypes(heart):
    m, tets, tris, cd = heart
    assert m.points.shape == (N_NODES, 3) and tets.shape == (N_TETS, 4) and tris.shape == (N_TRIS, 3)
    assert set(cd) == FIELDS
    for name in ("_volume-id", "_surface-id", "tag"):
        assert all(np.issubdtype(a.dtype, np.integer) for a in cd[name]), name
    assert m.field_data == {}  # cohort files carry no names: they are in the JSON maps
    assert b"FieldData" not in HEART.read_bytes()
    assert HEART.stat().st_size < 2_000_000 and VENTRICLES.stat().st_size < 2_000_000
    assert np.unique(tets).size == N_NODES  # every node is used by a tet


def test_ids_and_name_maps(heart):
    _, tets, tris, cd = heart
    regions = json.loads((DATA / "heart_regions.json").read_text())
    surfaces = json.loads((DATA / "heart_surfaces.json").read_text())
    assert regions == {"LV": 1, "RV": 2, "LA": 3, "RA": 4, "aorta": 5, "pulmonary artery": 6, "septum": 7}
    assert surfaces["LV endocardium"] == 10 and surfaces["RV endocardium"] == 11
    assert surfaces["mitral valve plane"] == 14 and surfaces["pulmonary valve plane"] == 17
    vid, sid, tag = cd["_volume-id"], cd["_surface-id"], cd["tag"]
    assert {int(r): int(n) for r, n in zip(*np.unique(vid[0], return_counts=True))} == TETS_PER_REGION
    assert (vid[1] == 0).all() and (sid[0] == 0).all() and (tag[1] == 0).all()
    assert set(np.unique(sid[1]).tolist()) == set(surfaces.values())  # every named surface is in the file, no other
    assert (tag[0] == np.where(vid[0] == 7, 1, vid[0])).all()  # `tag`: the septum merged into the LV
    for name, value in (("fibres", (0, 0, 1)), ("sheets", (0, 1, 1))):  # the cohort files' placeholders, on every cell
        for a in cd[name]:
            assert a.shape[1] == 3 and (a == np.asarray(value)).all(), name


def test_geometry_and_topology(heart):
    """The generator's own checks, run on the file as read back: positive tets, one connected piece, the ventricles one
    piece bounded exactly by the endo/epicardium and base tags, tagged triangles are tet faces (valve planes: caps on
    boundary nodes), closed cavity surfaces with LV 100-140 mL and RV 120-190 mL."""
    m, tets, tris, cd = heart
    regions, sids = cd["_volume-id"][0], cd["_surface-id"][1]
    figures = G.check(m.points, tets, regions, tris, sids)
    assert figures["LV cavity (mL)"] == pytest.approx(117.9, abs=0.1)
    assert figures["RV cavity (mL)"] == pytest.approx(144.4, abs=0.1)
    # independent of the generator's code: LV cavity by the divergence theorem, by hand
    cav = tris[np.isin(sids, (10, 14, 16))]
    p = m.points[cav]
    v = abs(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum()) / 6000.0
    assert 100.0 < v < 140.0
    # mm, long axis z: apex at z = -88, AV plane at z = 0, atria and vessels above it
    z = m.points[:, 2]
    vz = m.points[np.unique(tets[np.isin(regions, (1, 2, 7))]), 2]
    assert vz.min() == pytest.approx(-88.0, abs=1.0) and vz.max() == pytest.approx(0.0, abs=1e-9)
    az = m.points[np.unique(tets[np.isin(regions, (3, 4, 5, 6))]), 2]
    assert az.min() == pytest.approx(0.0, abs=1e-9) and 40.0 < z.max() < 60.0


def test_ventricles_untagged_file(heart):
    import meshio

    _, tets, _, cd = heart
    v = meshio.read(VENTRICLES)
    assert [b.type for b in v.cells] == ["tetra"] and set(v.cell_data) == {"_volume-id"}
    assert v.points.shape == (N_VENTRICLE_NODES, 3) and v.cells[0].data.shape == (N_VENTRICLE_TETS, 4)
    assert (np.isin(cd["_volume-id"][0], (1, 2, 7))).sum() == N_VENTRICLE_TETS
    assert set(np.unique(v.cell_data["_volume-id"][0]).tolist()) == {1, 2, 7}
    assert G.components(v.cells[0].data) == 1
    # its boundary: LV endo + RV endo + epicardium + base, i.e. the heart's surfaces 10-13 and 21-23
    heart_tris = cd["_surface-id"][1]
    assert G.boundary_faces(v.cells[0].data).shape[0] == int(np.isin(heart_tris, (10, 11, 12, 13, 21, 22, 23)).sum())


def test_read_mesh_does_not_crash():
    from organtwin.mesh import read_mesh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the placeholder fibres/sheets are expected to be warned about
        mesh = read_mesh(HEART)
        vent = read_mesh(VENTRICLES)
    assert mesh.n_cells == N_TETS and mesh.points.shape == (N_NODES, 3)
    assert set(np.unique(mesh.regions).tolist()) == set(TETS_PER_REGION)  # `_volume-id` is the region field
    assert vent.n_cells == N_VENTRICLE_TETS and set(np.unique(vent.regions).tolist()) == {1, 2, 7}


@pytest.mark.slow
def test_generator_reproduces_the_shipped_files(tmp_path):
    """Regenerate (gmsh, ~30 s) and compare with the shipped file: counts within 3 % (a different gmsh version may mesh
    differently), cavity volumes within 2 %."""
    figures = G.write(tmp_path)
    assert figures["nodes"] == pytest.approx(N_NODES, rel=0.03)
    assert figures["tets"] == pytest.approx(N_TETS, rel=0.03)
    assert figures["ventricles tets"] == pytest.approx(N_VENTRICLE_TETS, rel=0.03)
    assert figures["LV cavity (mL)"] == pytest.approx(117.9, rel=0.02)
    assert figures["RV cavity (mL)"] == pytest.approx(144.4, rel=0.02)
    assert json.loads((tmp_path / "heart_surfaces.json").read_text()) == G.SURFACES

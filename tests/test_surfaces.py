"""Surfaces: automatic labelling of ventricular boundaries (endo_lv, endo_rv, epi, base), name lists, the
`organtwin mesh surfaces` command and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli import one_error_line, run_cli

from organtwin._errors import MeshError
from organtwin.mesh import (
    Mesh,
    apply_names,
    label_ventricular_surfaces,
    parse_id_names,
    read_mesh,
    surface_summary,
    write_mesh,
)


def _oriented(tri) -> set:
    """Triangles in a canonical rotation: the same triangle with the same orientation compares equal."""
    t = np.asarray(tri)
    k = np.argmin(t, axis=1)
    rolled = np.stack([np.roll(row, -i) for row, i in zip(t, k)])
    return {tuple(r) for r in rolled.tolist()}


@pytest.mark.parametrize("named_regions", [True, False])
@pytest.mark.parametrize("which", ["biv", "lv"])
def test_auto_labelling_recovers_the_builtin_surfaces(request, which, named_regions):
    mesh = request.getfixturevalue(f"builtin_{which}")  # tests/conftest.py
    stripped = mesh.replace(surfaces={}, region_names=mesh.region_names if named_regions else ())
    auto = label_ventricular_surfaces(stripped)
    assert sorted(auto.surfaces) == sorted(mesh.surfaces)
    for name, s in mesh.surfaces.items():
        want, got = _oriented(s.triangles), _oriented(auto.surfaces[name].triangles)
        match = len(want & got) / len(want)
        assert match > 0.95, (name, match)
        assert len(got) == pytest.approx(len(want), rel=0.05)
    # outward, as the generator writes them: same orientation triangle by triangle (the sets above compare oriented)
    total = sum(s.n_faces for s in auto.surfaces.values())
    assert total == sum(s.n_faces for s in mesh.surfaces.values())


def test_surface_summary_areas(builtin_lv):
    rows = {r["name"]: r for r in surface_summary(builtin_lv)}
    assert set(rows) == {"base", "endo_lv", "epi"}
    # base: the annulus between the endo and epi ellipses at z = 5 mm: pi (a_epi^2 - a_endo^2) (1 - (5/r_long)^2 each)
    a_epi2 = 10.0**2 * (1 - (5 / 20) ** 2)
    a_endo2 = 7.0**2 * (1 - (5 / 17) ** 2)
    assert rows["base"]["area_mm2"] == pytest.approx(np.pi * (a_epi2 - a_endo2), rel=0.03)
    assert rows["base"]["triangles"] == builtin_lv.surfaces["base"].n_faces


def test_auto_labelling_says_what_it_found_when_it_cannot_decide(builtin_biv, builtin_lv):
    with pytest.raises(MeshError, match="found no flat basal surface"):
        label_ventricular_surfaces(
            builtin_lv, feature_angle=179.0
        )  # no feature edges: one smooth boundary, nothing flat
    shifted = builtin_lv.points + np.array([100.0, 0.0, 0.0])
    two = Mesh(
        np.vstack([builtin_biv.points, shifted]), np.vstack([builtin_biv.tets, builtin_lv.tets + builtin_biv.n_nodes])
    )
    with pytest.raises(MeshError, match=r"found 5 boundary component\(s\) besides .* expected 2 .* or 3") as e:
        label_ventricular_surfaces(two)
    assert "\n" not in str(e.value)


def test_parse_id_names():
    assert parse_id_names("17=endo_lv, 18 = epi,20=base,21=base") == {17: "endo_lv", 18: "epi", 20: "base", 21: "base"}
    assert parse_id_names("7=left ventricle septum") == {7: "left ventricle septum"}
    for bad, match in [
        ("17", "cannot read '17'"),
        ("a=LV", "cannot read 'a=LV'"),
        ("1=LV,1=RV", "named twice"),
        (",", "no id=name pairs"),
    ]:
        with pytest.raises(MeshError, match=match):
            parse_id_names(bad, "--region-names")


def test_apply_names_merges_tags_under_one_name(builtin_biv):
    merged = apply_names(builtin_biv, surface_names={20: "endo", 30: "endo"}, region_names={1: "left", 2: "right"})
    assert sorted(merged.surfaces) == ["base", "endo", "epi"]
    assert (
        merged.surfaces["endo"].n_faces
        == builtin_biv.surfaces["endo_lv"].n_faces + builtin_biv.surfaces["endo_rv"].n_faces
    )
    assert merged.surfaces["endo"].tag == 20
    assert dict(merged.region_names) == {1: "left", 2: "right"}


# ---------------------------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def bare_lv(builtin_lv, tmp_path_factory):
    path = tmp_path_factory.mktemp("surf") / "bare.vtu"
    write_mesh(builtin_lv.replace(surfaces={}), path)
    return path


def test_cli_auto_writes_mesh_summary_and_picture(capsys, bare_lv, builtin_lv, tmp_path):
    out = tmp_path / "named.vtu"
    rc, stdout, err = run_cli(capsys, "mesh", "surfaces", bare_lv, out, "--auto")
    assert rc == 0, err
    lines = {ln.split()[0]: ln.split() for ln in stdout.splitlines() if ln.split()}
    assert int(lines["epi"][2]) == builtin_lv.surfaces["epi"].n_faces  # name, tag, triangles, area
    assert float(lines["base"][3]) == pytest.approx(surface_summary(builtin_lv)[0]["area_mm2"], rel=1e-3)
    back = read_mesh(out)
    assert sorted(back.surfaces) == ["base", "endo_lv", "epi"]
    png = tmp_path / "named_surfaces.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000


def test_cli_names_from_map_and_list(capsys, builtin_lv, tmp_path):
    src = tmp_path / "heart.vtu"
    write_mesh(builtin_lv.replace(surfaces={f"s{k}": s for k, s in enumerate(builtin_lv.surfaces.values())}), src)
    tags = {name: s.tag for name, s in builtin_lv.surfaces.items()}  # base 10, endo_lv 30, epi 40
    (tmp_path / "heart.json").write_text(json.dumps({"endocardium": tags["endo_lv"], "outside": [tags["epi"]]}))
    out = tmp_path / "named.vtu"
    rc, stdout, err = run_cli(capsys, "mesh", "surfaces", src, out, "--surface-names", "10=base", "--no-png")
    assert rc == 0, err
    assert "names from" in stdout and "heart.json" in stdout
    assert sorted(read_mesh(out, name_map=False).surfaces) == ["base", "endocardium", "outside"]


@pytest.mark.parametrize(
    "args, match",
    [
        ([], "has no surface triangles to name; pass --auto"),
        (["--auto", "--feature-angle", "179"], "found no flat basal surface"),
        (["--auto", "--surface-names", "17"], "--surface-names: cannot read '17'"),
        (["--auto", "--region-names", "5=LV"], r"--region-names: region id\(s\) \[5\] are not in the mesh .*: \[1\]"),
        (["--auto", "--map", "BADJSON"], "not valid JSON"),
        (
            ["--auto", "--map", "MISSING"],
            r"missing.json: region or surface id\(s\) \[99\] are not in the mesh .*: \[1\]",
        ),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(capsys, bare_lv, tmp_path, args, match):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "missing.json").write_text('{"endo_lv": 99}')
    args = [
        str(tmp_path / "bad.json") if a == "BADJSON" else str(tmp_path / "missing.json") if a == "MISSING" else a
        for a in args
    ]
    out = tmp_path / "out.vtu"
    rc, _, err = run_cli(capsys, "mesh", "surfaces", bare_lv, out, *args)
    assert rc != 0
    import re

    assert re.search(match, one_error_line(err)), err
    assert not out.exists() and not (tmp_path / "out_surfaces.png").exists()


# ------------------------------------------------------------------------------ the four-chamber test mesh (tests/data)
FOUR = __import__("pathlib").Path(__file__).parent / "data" / "four_chamber"


def _by_coordinates(mesh, tris) -> set:
    return {tuple(sorted(map(tuple, np.round(mesh.points[t], 6).tolist()))) for t in np.asarray(tris)}


@pytest.mark.skipif(not (FOUR / "heart.vtu").exists(), reason="the four-chamber test mesh is not generated")
def test_four_chamber_tags_names_and_auto_labelling_agree():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its placeholder fibres are reported elsewhere
        heart = read_mesh(FOUR / "heart.vtu")  # heart_regions.json and heart_surfaces.json found next to it
        vent = read_mesh(FOUR / "ventricles_untagged.vtu", name_map=FOUR / "heart_regions.json")
    assert dict(heart.region_names)[7] == "septum" and heart.region_ids.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert len(heart.surfaces) == 16 and "LV endocardium" in heart.surfaces
    assert vent.surfaces == {}
    auto = label_ventricular_surfaces(vent)
    inside = label_ventricular_surfaces(heart, regions=[1, 2, 7])  # the same, labelled inside the whole heart
    assert {k: s.n_faces for k, s in inside.surfaces.items()} == {k: s.n_faces for k, s in auto.surfaces.items()}
    expect = {
        "endo_lv": ["LV endocardium"],
        "endo_rv": ["RV endocardium"],
        "epi": ["LV epicardium", "RV epicardium"],
        "base": ["ventricular base", "AV junction", "VA junction"],
    }
    for name, tagged in expect.items():
        want = set().union(*(_by_coordinates(heart, heart.surfaces[t].triangles) for t in tagged))
        got = _by_coordinates(vent, auto.surfaces[name].triangles)
        assert len(want & got) / len(want) > 0.95 and len(got) == pytest.approx(len(want), rel=0.05), name


def test_auto_labelling_of_the_ventricles_in_a_larger_mesh_takes_the_jagged_cut_as_base(builtin_biv):
    """A staircase cut (tets above z = 5 mm made 'atrial' region 3): not flat, so only the interface rule finds it."""
    centroid_z = builtin_biv.points[builtin_biv.tets].mean(axis=1)[:, 2]
    regions = np.where(centroid_z > 5.0, 3, builtin_biv.regions)
    four = builtin_biv.replace(regions=regions, region_names={1: "LV", 2: "RV", 3: "atria"})
    with pytest.raises(MeshError, match="found no flat basal surface .*--regions"):  # alone, the cut is not flat
        label_ventricular_surfaces(four.submesh([1, 2]).replace(surfaces={}))
    auto = label_ventricular_surfaces(four, regions=[1, 2])
    assert auto.region_ids.tolist() == [1, 2]
    kept = four.submesh([1, 2])  # the built-in surfaces cut to the ventricles: what auto must find
    for name in ("endo_lv", "endo_rv", "epi"):
        want, got = _oriented(kept.surfaces[name].triangles), _oriented(auto.surfaces[name].triangles)
        assert len(want & got) / len(want) > 0.95 and len(got) == pytest.approx(len(want), rel=0.05), name
    n_boundary = sum(s.n_faces for s in auto.surfaces.values())
    cut = n_boundary - sum(kept.surfaces[n].n_faces for n in ("endo_lv", "endo_rv", "epi"))
    assert auto.surfaces["base"].n_faces == cut > 500

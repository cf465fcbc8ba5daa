"""The whole chain on a four-chamber heart, through the command line only, as docs/patient-meshes.md walks a user through
it (issue 17 item 7).

The input is the shipped cohort-style test heart (tests/data/four_chamber/heart.vtu, made by tests/make_four_chamber.py):
one VTU with tets and surface triangles, integer `_volume-id` / `_surface-id` tags, a second region-like field `tag` with
the septum merged into the LV, placeholder fibre (0,0,1) / sheet (0,1,1) arrays, and the names in two JSON maps beside it.
Each step reads what the one before wrote, in a shared folder; each asserts the numbers a user would check.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from cli import run_cli

DATA = Path(__file__).parent / "data" / "four_chamber"
# What the generator measured on the shipped file (tests/data/four_chamber/README.md): closed-cavity volumes, mL.
LV_CAVITY_ML, RV_CAVITY_ML = 117.9, 144.4
# Ventricular part of the heart (regions 1, 2, 7) and its boundary: endo_lv, endo_rv, epi, base (triangles).
VENTRICLE_NODES, VENTRICLE_TETS = 6329, 22751
BOUNDARY = {"endo_lv": 2156, "endo_rv": 3037, "epi": 1740 + 2236, "base": 1024 + 93 + 78}
# The activation the calibration data is made with: isotropic 0.55 m/s, LV apex at 0 ms, RV free wall at 8 ms.
SITES = ("0,0,-80", "-1,-62,-43@8")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A user's folder: the heart and its two name maps copied in (names are found next to the mesh)."""
    d = tmp_path_factory.mktemp("patient")
    for f in ("heart.vtu", "heart_regions.json", "heart_surfaces.json"):
        shutil.copy(DATA / f, d / f)
    return d


def _cli(capsys, *argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    return out


def test_1_info_reports_wall_and_cavity_volumes_and_placeholder_fibres(work, capsys):
    out = _cli(capsys, "mesh", "info", work / "heart.vtu", "--json")
    s = json.loads(out[out.index("{") :])
    names = {r["id"]: r["name"] for r in s["regions"]}
    assert names == {1: "LV", 2: "RV", 3: "LA", 4: "RA", 5: "aorta", 6: "pulmonary artery", 7: "septum"}
    wall = {r["name"]: r["volume_mL"] for r in s["regions"]}
    assert wall["LV"] + wall["septum"] == pytest.approx(153.5, abs=0.5)  # the generator's LV wall incl. septum
    cav = {c["surface"]: c["volume_mL"] for c in s["cavities"]}
    assert cav["LV endocardium"] == pytest.approx(LV_CAVITY_ML, abs=0.1)
    assert cav["RV endocardium"] == pytest.approx(RV_CAVITY_ML, abs=0.1)
    assert len(s["surfaces"]) == 16
    assert s["fibre_quality"]["placeholder"] is True


def test_2_ventricles_with_septum_survive_the_round_trip(work, capsys):
    out = _cli(capsys, "mesh", "convert", work / "heart.vtu", work / "ventricles.vtu", "--regions", "1,2,7")
    assert "1 LV, 2 RV, 7 septum" in out
    out = _cli(capsys, "mesh", "info", work / "ventricles.vtu", "--json")
    s = json.loads(out[out.index("{") :])
    assert [(r["id"], r["name"]) for r in s["regions"]] == [(1, "LV"), (2, "RV"), (7, "septum")]
    assert s["nodes"] == VENTRICLE_NODES and s["tets"] == VENTRICLE_TETS
    assert "tag" not in s.get("cell_fields", [])  # the competing tag field was dropped


def test_3_surfaces_from_tags_and_automatically_agree(work, capsys):
    _cli(
        capsys,
        "mesh",
        "surfaces",
        work / "ventricles.vtu",
        work / "vent.vtu",
        "--surface-names",
        "10=endo_lv,11=endo_rv,12=epi,13=epi,21=base,22=base,23=base",
    )
    assert (work / "vent_surfaces.png").stat().st_size > 10_000
    from organtwin.mesh import read_mesh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tagged = read_mesh(work / "vent.vtu")
    assert {k: v.n_faces for k, v in tagged.surfaces.items()} == BOUNDARY
    # the same boundary found without tags, inside the whole heart (the AV cut is where the ventricles meet the atria)
    _cli(capsys, "mesh", "surfaces", work / "heart.vtu", work / "auto.vtu", "--auto", "--regions", "1,2,7", "--no-png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = read_mesh(work / "auto.vtu")
    assert {k: v.n_faces for k, v in auto.surfaces.items()} == BOUNDARY
    for name in BOUNDARY:
        a = {tuple(sorted(t)) for t in auto.surfaces[name].triangles.tolist()}
        b = {tuple(sorted(t)) for t in tagged.surfaces[name].triangles.tolist()}
        assert a == b, name


def test_4_rule_based_fibres_replace_the_placeholders(work, capsys):
    _cli(capsys, "mesh", "fibres", work / "vent.vtu", work / "vent_fibres.vtu")
    out = _cli(capsys, "mesh", "info", work / "vent_fibres.vtu", "--json")
    s = json.loads(out[out.index("{") :])
    f = s["fibre_quality"]
    assert f["placeholder"] is False and f["constant_fraction"] < 0.01
    assert f["fibre_unit_error_max"] < 1e-6 and f["orthogonality_error_max"] < 1e-6


# A normal-like sequence (Durrer et al. 1970) on this heart's endocardium, as in tests/test_ecg_placement.py: mid-septal LV
# first, LV anterior and posterior paraseptal +5 ms, RV near the moderator band +8 ms (nodes of endo_lv / endo_rv, mm).
NORMAL = ((-0.5, -22.2, -40.4, 0.0), (24.2, 0.0, -48.7, 5.0), (-23.3, 2.5, -50.9, 5.0), (0.1, -29.2, -51.3, 8.0))


def _site_args(sites):
    return [f"--site={x:g},{y:g},{z:g}@{t:g}" for x, y, z, t in sites]


def test_5_activation_with_a_fast_endocardium_respects_the_straight_line_bound(work, capsys):
    out = _cli(
        capsys,
        "activate",
        work / "vent_fibres.vtu",
        *_site_args(NORMAL),
        "--site-radius",
        "4",
        "--cv-fibre",
        "0.6",
        "--cv-transverse",
        "0.4",
        "--fast-endo",
        "endo_lv,endo_rv",
        "--cv-endo",
        "2.0",
        "--out",
        work / "activation.vtu",
    )
    assert "fibres: from the mesh file" in out and "6329 of 6329 nodes reached" in out
    import meshio

    m = meshio.read(work / "activation.vtu")
    t = m.point_data["activation_time"]
    # no node earlier than it can be reached from the nearest site at the fastest speed (2 m/s), from the edge of its
    # 4 mm source ball
    bound = (
        np.min([o + np.linalg.norm(m.points - [x, y, z], axis=1) / 2.0 for x, y, z, o in NORMAL], axis=0) - 4.0 / 2.0
    )
    assert np.all(t >= bound - 1e-3)
    assert 40.0 < np.nanmax(t) < 120.0  # a ventricle ~90 mm long, 0.4-2 m/s
    # the same run without the fast layer is slower everywhere
    _cli(
        capsys,
        "activate",
        work / "vent_fibres.vtu",
        *_site_args(NORMAL),
        "--site-radius",
        "4",
        "--cv-fibre",
        "0.6",
        "--cv-transverse",
        "0.4",
        "--out",
        work / "activation_slow.vtu",
    )
    slow = meshio.read(work / "activation_slow.vtu").point_data["activation_time"]
    assert np.all(slow >= t - 1e-4) and np.nanmax(slow) > np.nanmax(t) + 20.0
    # the cohort's own surface names (with spaces) name the fast layer as well, on the file's names before step 3
    out = _cli(
        capsys,
        "activate",
        work / "ventricles.vtu",
        "--fibres",
        "none",
        *_site_args(NORMAL),
        "--site-radius",
        "4",
        "--cv-fibre",
        "0.6",
        "--fast-endo",
        "LV endocardium,RV endocardium",
        "--cv-endo",
        "2.0",
        "--out",
        work / "activation_names.vtu",
    )
    assert "fibres: none" in out
    named = meshio.read(work / "activation_names.vtu").point_data["activation_time"]
    assert np.nanmax(named) < np.nanmax(slow) - 20.0


@pytest.mark.parametrize("torso", [False, True])
def test_6_ecg_amplitudes_in_the_adult_ranges(work, capsys, torso):
    out_dir = work / ("ecg_torso" if torso else "ecg")
    out = _cli(capsys, "ecg", work / "activation.vtu", "--out", out_dir, *(["--torso"] if torso else []))
    assert "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)" in out
    assert "within the normal adult limits" in out
    f = json.loads((out_dir / "features.json").read_text())
    assert 40.0 < f["qrs_duration_ms"] < 120.0
    from PIL import Image

    assert Image.open(out_dir / "ecg.png").size[0] > Image.open(out_dir / "ecg.png").size[1]  # one landscape page


CASE = """
title = "Four-chamber test heart: ventricles with septum, ten Tusscher 2006, tuned CVs"
[mesh]
path = "vent_fibres.vtu"
[fibres]
source = "mesh"
[conductivity]
cv_l = "0.6 m/s"
cv_t = "0.3 m/s"
[model]
name = "tentusscher2006-epi"
[[stimulus]]
kind = "sphere"
centre = [0, 0, -80]
radius = "8 mm"
strength = "50000 uA/cm^3"
start = "0 ms"
duration = "2 ms"
[[stimulus]]
kind = "sphere"
centre = [-10, -20, -40]
radius = "8 mm"
strength = "50000 uA/cm^3"
start = "5 ms"
duration = "2 ms"
[[stimulus]]
kind = "sphere"
centre = [0, -60, -40]
radius = "8 mm"
strength = "50000 uA/cm^3"
start = "10 ms"
duration = "2 ms"
[simulation]
duration = "180 ms"
dt = "0.05 ms"
dtype = "float32"
[record]
activation = true
snapshot_every = "2 ms"
"""


def test_7_monodomain_run_with_tuned_velocities_activates_the_ventricles(work, capsys):
    (work / "case.toml").write_text(CASE)
    out = _cli(capsys, "ep", "run", work / "case.toml", "--out", work / "run")
    assert "regions [1, 2, 7]" in out and "tuned sigma_l" in out
    s = json.loads((work / "run" / "summary.json").read_text())
    assert s["activation"]["nodes_activated"] == s["activation"]["nodes"] == VENTRICLE_NODES
    assert 80.0 < s["activation"]["total_activation_time_ms"] < 175.0
    # the run folder carries names and surfaces: the ECG and the render work on it
    out = _cli(capsys, "ecg", work / "run", "--out", work / "run_ecg")
    assert "LV = regions 1 (LV) + 7 (septum)" in out
    out = _cli(capsys, "ecg", work / "run", "--region-names", "7=IVS", "--out", work / "run_ecg_ivs")
    assert "LV = regions 1 (LV) + 7 (IVS)" in out  # names given on the command line win
    _cli(capsys, "mesh", "render", work / "run", "--out", work / "run_regions.png")


def test_8_circulation_from_the_run_takes_the_measured_cavities(work, capsys):
    out = _cli(
        capsys, "flow", "circulation", "--activation", work / "run", "--edv", "measured", "--out", work / "circulation"
    )
    assert "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)" in out
    s = json.loads((work / "circulation" / "summary.json").read_text())["metrics"]
    assert s["LV"]["EDV_mL"] == pytest.approx(LV_CAVITY_ML, rel=0.01)
    assert s["RV"]["EDV_mL"] == pytest.approx(RV_CAVITY_ML, rel=0.01)
    assert 0.40 < s["LV"]["EF"] < 0.75


CALIBRATION = """
title = "Four-chamber test heart: regional velocities from an activation map"
dtype = "float64"
[mesh]
path = "vent.vtu"
[eikonal]
fibres = "none"
velocity = { "1" = 0.4, "2" = 0.4, "7" = 0.4 }
[[eikonal.site]]
name = "lv"
position = [0.0, 0.0, -80.0]
radius = 5.0
[[eikonal.site]]
name = "rv"
position = [-1.0, -62.0, -43.0]
onset = 0.0
radius = 5.0
[[free]]
name = "tissue.velocity[0, 0]"
lower = 0.1
upper = 2.0
[[free]]
name = "tissue.velocity[1, 0]"
lower = 0.1
upper = 2.0
[[free]]
name = "tissue.velocity[2, 0]"
lower = 0.1
upper = 2.0
[[free]]
name = "sites.rv.onset"
tolerance = 2.0
lower = -20.0
upper = 30.0
[[data]]
kind = "activation-map"
file = "map.vtu"
noise_sd = "1 ms"
[fit]
max_steps = 15
"""


def test_9_activation_map_calibration_recovers_the_regional_velocities(work, capsys):
    """The map: an isotropic activation (0.55 m/s everywhere, RV onset 8 ms) on every node of the ventricles; the fit
    starts at 0.4 m/s and an RV onset of 0 and recovers LV, RV and septum velocities and the onset."""
    _cli(
        capsys,
        "activate",
        work / "vent.vtu",
        "--fibres",
        "none",
        "--site",
        SITES[0],
        "--site",
        SITES[1],
        "--cv-fibre",
        "0.55",
        "--site-radius",
        "5",
        "--float64",
        "--out",
        work / "map.vtu",
    )
    (work / "cal.toml").write_text(CALIBRATION)
    out = _cli(capsys, "calibrate", work / "cal.toml", "--out", work / "fit", "--quiet", "--no-discretisation-check")
    fit = json.loads((work / "fit" / "fit.json").read_text())["parameters"]
    for k in ("tissue.velocity[0, 0]", "tissue.velocity[1, 0]", "tissue.velocity[2, 0]"):
        assert fit[k] == pytest.approx(0.55, rel=0.01), (k, out)
    assert fit["sites.rv.onset"] == pytest.approx(8.0, abs=0.5)

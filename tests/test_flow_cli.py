"""`organtwin flow`: svZeroDSolver's command line (same CSV as its reference), the closed-loop circulation (files,
figures, the EP activation), one-line errors."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli import one_error_line, run_cli

DATA = Path(__file__).parent / "data" / "zerod"
FILES = ("circulation.csv", "summary.json", "pv_loops.png", "pressures.png", "volumes.png")
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------------------- zerod
def test_zerod_matches_svzerodsolver_csv(capsys, tmp_path):
    out = tmp_path / "pulsatile_rcr.csv"
    rc, stdout, err = run_cli(capsys, "flow", "zerod", DATA / "pulsatile_rcr.json", "--out", out)
    assert rc == 0, err
    assert "3 blocks" in stdout and "30 cycles" in stdout and "float64" in stdout and str(out) in stdout
    ours = pd.read_csv(out)
    ref = pd.read_csv(DATA / "ref" / "pulsatile_rcr.csv")
    assert list(ours.columns) == list(ref.columns)
    assert ours["name"].tolist() == ref["name"].tolist()
    np.testing.assert_allclose(ours["time"], ref["time"], rtol=0, atol=1e-9)
    for col in ("flow_in", "flow_out", "pressure_in", "pressure_out"):
        a, b = ours[col].to_numpy(), ref[col].to_numpy()
        assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.01, col
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def _unsupported(tmp_path):
    cfg = json.loads((DATA / "pulsatile_rcr.json").read_text())
    cfg["boundary_conditions"][1]["bc_type"] = "CORONARY_LUMPED"  # (not an svZeroDSolver type)
    path = tmp_path / "unsupported.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize(
    "case, word",
    [
        ("missing", "no such file"),
        ("invalid", "invalid JSON"),
        ("unsupported", "CORONARY"),
    ],
)
def test_zerod_errors_are_one_line_and_write_nothing(capsys, tmp_path, case, word):
    src = {
        "missing": lambda: tmp_path / "nope.json",
        "invalid": lambda: (tmp_path / "bad.json").write_text('{"simulation_parameters": ') and tmp_path / "bad.json",
        "unsupported": lambda: _unsupported(tmp_path),
    }[case]()
    out = tmp_path / "out" / "result.csv"
    out.parent.mkdir()
    rc, _, err = run_cli(capsys, "flow", "zerod", src, "--out", out)
    assert rc == 1
    assert word in one_error_line(err, only=True)
    assert list(out.parent.iterdir()) == []


def test_zerod_output_folder_must_exist(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "flow", "zerod", DATA / "pulsatile_rcr.json", "-o", tmp_path / "no" / "x.csv")
    assert rc == 2
    assert "does not exist" in one_error_line(err, only=True)


# ------------------------------------------------------------------------------------------------------- circulation
@pytest.fixture(scope="module")
def preset_run(tmp_path_factory):
    from organtwin.cli._main import main

    out = tmp_path_factory.mktemp("circulation") / "preset"
    # an override equal to the published value: recorded, the beat unchanged
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["flow", "circulation", "--out", str(out), "--param", "LV.e_passive=0.08"])
    assert rc == 0
    return out, buf.getvalue()


def test_circulation_writes_plausible_results(preset_run):
    out, _ = preset_run
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    s = json.loads((out / "summary.json").read_text())
    assert s["preset"] == "regazzoni2022" and s["activation"] is None
    assert s["parameter_overrides"] == {"LV.e_passive": 0.08}
    assert s["parameters"]["LV"]["e_active"] == 2.75
    lv, rv = s["metrics"]["LV"], s["metrics"]["RV"]
    assert 0.5 < lv["EF"] < 0.7
    assert 90 < lv["EDV_mL"] < 160 and 30 < lv["ESV_mL"] < 80
    assert lv["SV_mL"] == pytest.approx(rv["SV_mL"], rel=1e-3)  # what the LV ejects the RV ejects, per beat
    assert 100 < s["metrics"]["aorta"]["systolic_mmHg"] < 140 and 60 < s["metrics"]["aorta"]["diastolic_mmHg"] < 90
    assert 1 < s["cycles_to_periodic_state"] <= 200 and s["cycle_change"] < 1e-6
    assert s["blood_volume_ptp_mL"] < 1e-6
    csv = pd.read_csv(out / "circulation.csv")
    assert list(csv.columns) == s["columns"]
    assert csv.columns[0] == "time_s"
    for c in ("LA", "LV", "RA", "RV"):
        assert f"pressure_{c}_mmHg" in csv and f"volume_{c}_mL" in csv
    for v in ("mitral", "aortic", "tricuspid", "pulmonary"):
        assert f"flow_{v}_mL_per_s" in csv
    assert csv["time_s"].iloc[0] == 0.0 and csv["time_s"].iloc[-1] == pytest.approx(s["period_s"])
    assert csv["volume_LV_mL"].max() == pytest.approx(lv["EDV_mL"], rel=1e-6)
    for name in ("pv_loops.png", "pressures.png", "volumes.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 20000


def test_circulation_printout_is_the_summary(preset_run):
    out, text = preset_run
    m = json.loads((out / "summary.json").read_text())["metrics"]
    for c in ("LV", "RV"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{c}:"))
        ef, edv, esv, sv, co = (
            float(x)
            for x in re.search(
                r"EF ([\d.]+) %, EDV ([\d.]+) mL, ESV ([\d.]+) mL, SV ([\d.]+) mL, CO ([\d.]+) L/min", line
            ).groups()
        )
        assert ef == round(100 * m[c]["EF"], 1) and edv == round(m[c]["EDV_mL"], 1)
        assert esv == round(m[c]["ESV_mL"], 1) and sv == round(m[c]["SV_mL"], 1)
        assert co == round(m[c]["cardiac_output_L_per_min"], 2)
        assert f"dP/dt max {m[c]['dPdt_max_mmHg_per_s']:.0f} mmHg/s" in line
    a = m["aorta"]
    assert f"aorta: {a['systolic_mmHg']:.1f}/{a['diastolic_mmHg']:.1f} mmHg" in text


def test_circulation_with_activation(capsys, tmp_path):
    from organtwin.mesh import builtin_mesh_path, read_mesh, write_mesh

    mesh = read_mesh(builtin_mesh_path("biv"))  # regions 1 LV, 2 RV, named
    z = mesh.points[:, 2]
    act = 80.0 * (z - z.min()) / (z.max() - z.min())  # apex (0 ms) to base (80 ms)
    src = tmp_path / "activation.vtu"
    write_mesh(mesh.replace(point_data={"activation_time": act}), src)
    out = tmp_path / "coupled"
    rc, text, err = run_cli(capsys, "flow", "circulation", "--activation", src, "--out", out)
    assert rc == 0, err
    s = json.loads((out / "summary.json").read_text())
    a = s["activation"]
    assert Path(a["source"]) == src.resolve()
    for c in ("LV", "RV"):
        assert 0.0 <= a[c]["onset_ms"] < a[c]["mean_ms"] < a[c]["latest_ms"] <= 80.0
        assert 5.0 < a[c]["dispersion_sd_ms"] < 40.0
    for c, rid in (("LV", 1), ("RV", 2)):
        nodes = np.unique(mesh.tets[mesh.regions == rid])
        assert a[c]["nodes"] == nodes.size
        assert a[c]["onset_ms"] == pytest.approx(act[nodes].min()) and a[c]["latest_ms"] == pytest.approx(
            act[nodes].max()
        )
    assert "LV onset" in text and "dispersion" in text
    assert 0.5 < s["metrics"]["LV"]["EF"] < 0.7
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


@pytest.mark.parametrize(
    "argv, code, word",
    [
        (["--param", "LV.nope=1"], 2, "nope"),
        (["--param", "LV.e_active"], 2, "GROUP.KEY=VALUE"),
        (["--param", "LV.e_active=abc"], 2, "GROUP.KEY=VALUE"),
        (["--param", "LV=2"], 2, "group"),
        (["--param", "XX.e_active=2"], 2, "XX"),
        (["--param", "LV.e_active=-1"], 1, "e_active"),
        (["--tol", "0"], 2, "--tol"),
        (["--lv-regions", "1"], 2, "--activation"),
        (["--activation", "nope.vtu"], 1, "nope.vtu"),
        (["--edv", "measured"], 2, "--activation"),
        (["--edv", "LV=abc"], 2, "--edv"),
        (["--edv", "LA=100"], 2, "--edv"),
    ],
)
def test_circulation_bad_command_lines_are_one_line(capsys, tmp_path, argv, code, word):
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, "flow", "circulation", "--out", out, *argv)
    assert rc == code
    assert word in one_error_line(err, only=True)
    assert not out.exists()


def test_circulation_refuses_a_folder_of_other_files(capsys, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    rc, _, err = run_cli(capsys, "flow", "circulation", "--out", tmp_path)
    assert rc == 1
    assert "other files" in one_error_line(err, only=True)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def _four_chamber_like(tmp_path, names=True, surfaces=True):
    """The built-in BiV with the LV's septal side as a region 7 'septum' (ids as a four-chamber patient mesh numbers
    them) and an apex-to-base activation, written as an activation mesh."""
    from organtwin.mesh import builtin_mesh_path, read_mesh, write_mesh

    mesh = read_mesh(builtin_mesh_path("biv"))
    centroid = mesh.points[mesh.tets].mean(axis=1)
    regions = np.where((mesh.regions == 1) & (centroid[:, 1] < -15.0), 7, mesh.regions)
    z = mesh.points[:, 2]
    act = 80.0 * (z - z.min()) / (z.max() - z.min())
    mesh = mesh.replace(
        regions=regions,
        region_names={1: "LV", 2: "RV", 7: "septum"} if names else {},
        surfaces=mesh.surfaces if surfaces else {},
        point_data={"activation_time": act},
    )
    src = tmp_path / "activation.vtu"
    write_mesh(mesh, src)
    return mesh, src


def test_circulation_takes_the_septum_into_the_lv_and_the_measured_edv(capsys, tmp_path):
    from organtwin.mesh import cavity_volume

    mesh, src = _four_chamber_like(tmp_path)
    assert (mesh.regions == 7).sum() > 1000
    out = tmp_path / "circ"
    rc, text, err = run_cli(capsys, "flow", "circulation", "--activation", src, "--edv", "measured", "--out", out)
    assert rc == 0, err
    assert "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)" in text
    s = json.loads((out / "summary.json").read_text())
    assert s["activation"]["lv_regions"] == [1, 7] and s["activation"]["rv_regions"] == [2]
    lv_nodes = np.unique(mesh.tets[np.isin(mesh.regions, [1, 7])])
    assert s["activation"]["LV"]["nodes"] == lv_nodes.size
    e = s["edv"]
    for c, name in (("LV", "endo_lv"), ("RV", "endo_rv")):
        target = cavity_volume(mesh, name)
        assert e["target_mL"][c] == pytest.approx(target, rel=1e-9)
        assert f"{c} EDV target {target:.4g} mL from the {name} cavity of {src}" in text
        assert s["metrics"][c]["EDV_mL"] == pytest.approx(target, rel=0.005)  # the rule is exact (measured 1e-6)
        assert abs(e["deviation_percent"][c]) < 0.5
    assert e["target_mL"]["LV"] == pytest.approx(75.69, abs=0.02)  # the built-in BiV's LV cavity, mL
    assert e["before_mL"]["LV"] > 110  # the preset's LV EDV, before
    # the similarity keeps the pressures: the aorta as in the preset run with the same activation
    assert 100 < s["metrics"]["aorta"]["systolic_mmHg"] < 140
    assert "simulated EDV LV" in text and "chambers set for the EDV" in text


@pytest.mark.parametrize(
    "kw, argv, word",
    [
        ({"names": False}, [], "--lv-regions"),  # regions 1, 2, 7 without names
        ({}, ["--lv-regions", "1,5"], "no region 5 in the mesh (regions present: 1 (LV), 2 (RV), 7 (septum))"),
        ({"surfaces": False}, ["--edv", "measured"], "no surface named 'endo_lv'"),
    ],
)
def test_circulation_region_and_cavity_errors_are_one_line(capsys, tmp_path, kw, argv, word):
    _, src = _four_chamber_like(tmp_path, **kw)
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, "flow", "circulation", "--activation", src, "--out", out, *argv)
    assert rc == 1
    assert word in one_error_line(err, only=True)
    assert not out.exists()


@pytest.mark.slow
def test_circulation_given_edv(capsys, tmp_path):
    out = tmp_path / "circ"
    rc, text, err = run_cli(capsys, "flow", "circulation", "--edv", "LV=123,RV=186", "--out", out)
    assert rc == 0, err
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["LV"]["EDV_mL"] == pytest.approx(123.0, rel=1e-3) and m["RV"]["EDV_mL"] == pytest.approx(186.0, rel=1e-3)
    assert m["LV"]["SV_mL"] == pytest.approx(m["RV"]["SV_mL"], rel=1e-3)
    assert "RV EDV target 186 mL (given with --edv)" in text

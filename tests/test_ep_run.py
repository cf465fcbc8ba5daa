"""`organtwin ep run CASE.toml --out DIR` as a user runs it: every output file with the right content, readable by
meshio and pyvista (ParaView's VTK), one-line errors naming the key, and no partial output folder after an error."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from _helpers import write_slab
from cli import one_error_line, run_cli

from organtwin.cli._main import main
from organtwin.io import parse_case

CASE = """
title = "test slab"

[mesh]
path = "slab.vtu"

[conductivity]
sigma_l = "0.3 S/m"
sigma_t = "1 mS/cm"

[model]
name = "bueno-orovio-epi"

[[stimulus]]
kind = "surface"
name = "x0"
strength = "50000 uA/cm^3"
duration = "2 ms"

[simulation]
duration = "400 ms"
dt = "0.05 ms"

[record]
repolarisation = true
snapshot_every = "100 ms"
snapshots_at = ["5 ms"]
probes = { left = [0, 0.5, 0.5], right = ["4 mm", "0.05 cm", 0.5] }
probe_every = "0.5 ms"
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("ep_run")
    write_slab(d)  # slab.vtu: 4 x 1 x 1 mm at 0.5 mm
    (d / "case.toml").write_text(CASE)
    return d


@pytest.fixture(scope="module")
def run(folder):
    import contextlib
    import io

    out = folder / "results"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["ep", "run", str(folder / "case.toml"), "--out", str(out), "--quiet"])
    assert rc == 0, stderr.getvalue()
    return out, stdout.getvalue()


def test_every_output_file_is_written(run):
    out, stdout = run
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["activation.vtu", "probes.csv", "summary.json", "vm.pvd"] + [
        f"vm/vm_{k:04d}.vtu" for k in range(6)
    ]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".results.")]  # no temporary folders left
    assert "activation" in stdout and "wrote" in stdout and "APD" in stdout


def test_activation_is_a_plausible_plane_wave(run):
    import meshio

    out, _ = run
    m = meshio.read(out / "activation.vtu")
    act = m.point_data["activation_time"]
    x = m.points[:, 0]
    assert np.all(np.isfinite(act))
    # a plane wave from the x = 0 face: activation grows with x; conduction velocity 0.2..2 m/s (= mm/ms)
    layers = np.unique(np.round(x, 6))
    mean = np.array([act[np.isclose(x, v)].mean() for v in layers])
    assert np.all(np.diff(mean) > 0)
    cv = 1.0 / np.polyfit(layers[2:], mean[2:], 1)[0]
    assert 0.2 < cv < 2.0, cv
    assert act.min() < 4.0  # the stimulated face fires at the end of the 2 ms pulse
    # APD of Bueno-Orovio epicardial cells is about 270 ms at this threshold
    apd = m.point_data["apd"]
    assert np.all((apd > 200) & (apd < 330)), (apd.min(), apd.max())
    np.testing.assert_allclose(m.point_data["repolarisation_time"] - act, apd, atol=1e-3)
    assert m.cell_data["region"][0].tolist() == [1] * len(m.cells[0].data)


def test_summary_matches_the_files(run, folder):
    import meshio

    out, _ = run
    s = json.loads((out / "summary.json").read_text())
    act = meshio.read(out / "activation.vtu").point_data["activation_time"]
    assert s["organtwin_results"]["kind"] == "ep run"
    assert s["mesh"]["nodes"] == 9 * 3 * 3 and s["mesh"]["regions"]["1"]["model"] == "bueno-orovio-epi"
    assert s["steps"] == 8000 and s["dt_ms"] == pytest.approx(0.05) and s["end_time_ms"] == pytest.approx(400.0)
    a = s["activation"]
    assert a["nodes_activated"] == a["nodes"] == 81
    assert a["first_ms"] == pytest.approx(act.min(), abs=1e-4) and a["last_ms"] == pytest.approx(act.max(), abs=1e-4)
    assert a["total_activation_time_ms"] == pytest.approx(act.max() - act.min(), abs=1e-4)
    assert s["timing"]["run_s"] > 0 and s["timing"]["wall_s"] >= s["timing"]["run_s"]
    assert s["snapshots"]["times_ms"] == [0.0, 5.0, 100.0, 200.0, 300.0, 400.0]
    assert s["stimuli"] == [{"what": "surface 'x0'", "nodes": 9}]
    # the case echoed back with resolved units reads back as the same case
    assert s["case"]["record"]["probes"]["right"] == ["4.0 mm", "0.5 mm", "0.5 mm"]
    assert s["case"]["conductivity"]["sigma_t"] == "0.1 S/m"
    original = parse_case(__import__("tomllib").loads(CASE), source=folder / "case.toml")
    assert parse_case(s["case"], source=folder / "case.toml") == original


def test_pvd_lists_the_snapshots_and_paraview_reads_them(run):
    import meshio
    import pyvista as pv

    out, _ = run
    root = ET.parse(out / "vm.pvd").getroot()
    assert root.get("type") == "Collection"
    entries = [(float(d.get("timestep")), d.get("file")) for d in root.iter("DataSet")]
    assert entries == [(t, f"vm/vm_{k:04d}.vtu") for k, t in enumerate([0.0, 5.0, 100.0, 200.0, 300.0, 400.0])]
    first = meshio.read(out / entries[0][1])
    np.testing.assert_allclose(first.point_data["Vm"], -84.0)  # rest
    at5 = meshio.read(out / entries[1][1]).point_data["Vm"]
    assert at5.max() > 0 and at5.min() < -80  # the wave is on its way at 5 ms
    reader = pv.get_reader(str(out / "vm.pvd"))  # VTK's PVD reader, as ParaView reads it
    assert list(reader.time_values) == [0.0, 5.0, 100.0, 200.0, 300.0, 400.0]
    reader.set_active_time_value(5.0)
    block = reader.read()[0]
    np.testing.assert_allclose(np.asarray(block.point_data["Vm"]), at5)
    grid = pv.read(out / "activation.vtu")
    tets = np.asarray(grid.celltypes) == 10
    assert grid.n_points == 81 and tets.sum() == 4 * 6 * 8 // 2 * 2 * 2 // 2  # 8 x 2 x 2 hexes of 6 tets = 192
    assert np.all(np.asarray(grid.celltypes)[~tets] == 5) and (~tets).sum() > 0  # the surfaces, as triangles
    assert set(grid.point_data.keys()) >= {"activation_time", "repolarisation_time", "apd"}


def test_snapshot_series_reads_back(run):
    from organtwin.io import read_snapshot_series

    out, _ = run
    mesh, times, vm = read_snapshot_series(out)
    np.testing.assert_array_equal(times, [0.0, 5.0, 100.0, 200.0, 300.0, 400.0])
    assert vm.shape == (6, mesh.n_nodes) == (6, 81)
    np.testing.assert_allclose(vm[0], -84.0)
    assert vm[1].max() > 0
    with pytest.raises(ValueError, match="no point data 'phi'"):
        read_snapshot_series(out, field="phi")
    with pytest.raises(ValueError, match="no ue.pvd"):
        read_snapshot_series(out, name="ue")


def test_probe_traces(run):
    out, _ = run
    lines = (out / "probes.csv").read_text().splitlines()
    assert lines[0] == "t_ms,left_mV,right_mV"
    data = np.loadtxt(out / "probes.csv", delimiter=",", skiprows=1)
    assert data.shape == (801, 3)
    np.testing.assert_allclose(np.diff(data[:, 0]), 0.5, atol=1e-6)
    left, right = data[:, 1], data[:, 2]
    assert left[0] == pytest.approx(-84.0) and left.max() > 10 and right.max() > 10
    # the left probe (on the stimulated face) upstrokes before the right one
    assert np.argmax(left > 0) < np.argmax(right > 0)
    assert right[-1] < -70  # repolarised by 400 ms


def test_rerun_replaces_earlier_results(run, folder, capsys):
    out, _ = run
    before = (out / "summary.json").read_text()
    rc, stdout, err = run_cli(capsys, "ep", "run", folder / "case.toml", "--out", out, "--progress")
    assert rc == 0, err
    assert "8000/8000" in err  # the progress bar (on stderr) reached the end
    assert (out / "summary.json").read_text() != before  # new timings
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".results.")]


def test_a_failure_while_writing_leaves_no_folder(folder, capsys, monkeypatch):
    import organtwin.io._results as results

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_probes_csv", broken)
    out = folder / "never"
    rc, _, err = run_cli(capsys, "ep", "run", folder / "case.toml", "--out", out, "--quiet")
    assert rc == 1
    line = one_error_line(err, only=True)
    assert "could not write results to" in line and "nothing was written" in line and "No space left" in line
    assert not out.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".never.")]


def test_refuses_a_folder_with_other_files(folder, capsys):
    out = folder / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    rc, stdout, err = run_cli(capsys, "ep", "run", folder / "case.toml", "--out", out, "--quiet")
    assert rc == 1
    assert "holds other files" in one_error_line(err, only=True)
    assert stdout == ""  # refused before anything ran
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


@pytest.mark.parametrize(
    "edit, words",
    [
        (("strength =", "strenght ="), ["case.toml: [stimulus.1] unknown key 'strenght' (did you mean 'strength'?)"]),
        (('path = "slab.vtu"', 'path = "missing.vtu"'), ["case.toml: [mesh] path: file not found:", "missing.vtu"]),
        (('dt = "0.05 ms"', 'dt = "0.05 mm"'), ["[simulation] dt: '0.05 mm' is a length; expected a time in ms"]),
        (
            ('sigma_l = "0.3 S/m"', 'sigma_l = "0.3 mm"'),
            ["[conductivity] sigma_l: '0.3 mm' is a length", "expected a conductivity in S/m"],
        ),
        (("[model]", "[model.LV]"), ["[model.LV] no region 'LV' in the mesh (regions: 1 'slab')"]),
        (("bueno-orovio-epi", "bueno-orovio"), ["[model] name: unknown ionic model 'bueno-orovio'"]),
        (
            ('name = "bueno-orovio-epi"', 'name = "bueno-orovio-epi"\nparameters = { tau_sj = 2 }'),
            ["[model.parameters] unknown parameter 'tau_sj' of bueno-orovio-epi (did you mean 'tau_si'?)"],
        ),
        (
            ('kind = "surface"\nname = "x0"', 'kind = "sphere"\ncentre = [0, 0, 50]\nradius = 1'),
            ["[stimulus.1] the sphere of radius 1 mm at [0.0, 0.0, 50.0] mm selects no mesh node"],
        ),
        (('dt = "0.05 ms"', "dt = -0.05"), ["[simulation] dt: must be positive, got -0.05 ms"]),
        (
            ('sigma_l = "0.3 S/m"', 'sigma_l = "30 S/m"'),
            ["[simulation] dt: 0.05 ms exceeds the explicit stability limit"],
        ),
        (
            ('dt = "0.05 ms"', "dt = 0.4"),
            [
                "[simulation] dt: 0.4 ms is too long for bueno-orovio-epi: its upstroke lasts ~0.42 ms",
                "use dt <= 0.084 ms",
            ],
        ),
        (("[simulation]", "[simulation"), ["case.toml: invalid TOML"]),
    ],
)
def test_bad_cases_are_one_line_errors_and_leave_no_output(folder, capsys, edit, words):
    text = CASE.replace(*edit)
    assert text != CASE
    case = folder / "case.toml"
    bad = folder / "bad" / "case.toml"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text(text)
    (folder / "bad" / "slab.vtu").write_bytes((folder / "slab.vtu").read_bytes())
    out = folder / "bad" / "out"
    rc, stdout, err = run_cli(capsys, "ep", "run", bad, "--out", out, "--quiet")
    assert rc == 1
    line = one_error_line(err, only=True)
    for w in words:
        assert w in line, line
    assert not out.exists()
    assert case.exists()


def test_check_command(folder, capsys):
    rc, out, err = run_cli(capsys, "ep", "check", folder / "case.toml")
    assert rc == 0, err
    assert "stability limit" in out and out.strip().endswith("ok: the case is ready to run")


def test_vtu_writer_round_trip(tmp_path):
    """The VTU writer (geometry encoded once per series): compressed and raw, scalars and vectors, NaN kept."""
    import meshio
    import pyvista as pv

    from organtwin.io import VtuWriter
    from organtwin.mesh import slab_mesh

    m = slab_mesh((2.0, 1.0, 1.0), 0.5)
    v = np.linspace(-80, 20, m.n_nodes).astype(np.float32)
    v[3] = np.nan
    for compress in (True, False):
        w = VtuWriter(m.points, m.tets, {"region": m.regions.astype(np.int32), "f": m.fibres}, compress=compress)
        for k in range(2):
            w.write(tmp_path / f"t{k}.vtu", {"Vm": v + k, "x": m.points.astype(np.float32)})
        r = meshio.read(tmp_path / "t1.vtu")
        np.testing.assert_array_equal(r.points, m.points)
        np.testing.assert_array_equal(r.cells[0].data, m.tets)
        np.testing.assert_array_equal(r.point_data["Vm"], v + 1)
        np.testing.assert_array_equal(r.point_data["x"], m.points.astype(np.float32))
        np.testing.assert_array_equal(r.cell_data["f"][0], m.fibres)
        g = pv.read(tmp_path / "t0.vtu")
        assert g.n_cells == m.n_cells and set(g.celltypes.tolist()) == {10}
        np.testing.assert_array_equal(np.asarray(g.point_data["Vm"]), v)


@pytest.mark.slow
def test_imported_100k_node_biventricular_mesh(tmp_path, capsys):
    """The manual check of item 5 (run with -m slow; ~15 min on 2 cores, gmsh ~3 min of it): a ~96k-node
    biventricular mesh written to a VTU, read back as an imported mesh, rule-based fibres, ten Tusscher 2006, CVs of
    human ventricle (0.6 / 0.3 m/s) tuned to the mesh's 1.3 mm mean edge, apex + septum stimuli, 200 ms.

    With the physiological conductivities (Niederer 2011: 0.1334 / 0.0176 S/m) the wave blocks next to the stimuli on
    this mesh (the upstroke is ~0.5 mm wide); with tuned conductivities every node activates, within the 60–200 ms a
    two-site (paced-like) activation of a ~200 mL biventricle at these velocities takes (measured: see RESULTS.md).
    """
    from organtwin.mesh import biv_mesh, write_mesh

    mesh = biv_mesh(h=1.05)
    assert 85_000 < mesh.n_nodes < 115_000
    write_mesh(mesh, tmp_path / "patient.vtu")
    (tmp_path / "case.toml").write_text("""
[mesh]
path = "patient.vtu"
[fibres]
source = "rule-based"
[conductivity]
cv_l = "0.6 m/s"
cv_t = "0.3 m/s"
[model]
name = "tentusscher2006-epi"
[[stimulus]]
kind = "sphere"
centre = [0, 0, -64]
radius = "3 mm"
strength = "50000 uA/cm^3"
[[stimulus]]
kind = "sphere"
centre = [0, -25, -25]
radius = "3 mm"
strength = "50000 uA/cm^3"
start = "5 ms"
[simulation]
duration = "200 ms"
dt = "0.02 ms"
diffusion = "theta"
[record]
snapshot_every = "20 ms"
probes = { apex = [0, 0, -64], lv_free_wall = [26, 0, -20], rv_free_wall = [0, -42, -20] }
""")
    rc, out, err = run_cli(capsys, "ep", "run", tmp_path / "case.toml", "--out", tmp_path / "out", "--quiet")
    assert rc == 0, err
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["mesh"]["nodes"] == mesh.n_nodes and s["steps"] == 10_000
    t = s["tuned_conductivity"]["1"]
    assert abs(t["sigma_l"]["cv_m_per_s"] - 0.6) < 0.006 and abs(t["sigma_t"]["cv_m_per_s"] - 0.3) < 0.003
    a = s["activation"]
    assert a["nodes_activated"] == mesh.n_nodes
    assert 60.0 < a["total_activation_time_ms"] < 200.0
    print(json.dumps(s["timing"]))


# ------------------------------------------------------------------------------------------ a BiV run, then the ECG
BIV_FAST = """
[mesh]
path = "builtin:biv"
[fibres]
source = "rule-based"
[conductivity]
sigma_l = "0.3 S/m"
sigma_t = "0.1 S/m"
[model]
name = "mitchell-schaeffer"
[[stimulus]]
kind = "sphere"
centre = [0, 0, -64]
radius = "6 mm"
strength = "50000 uA/cm^3"
duration = "2 ms"
[simulation]
duration = "6 ms"
dt = "0.05 ms"
diffusion = "explicit"
dtype = "float32"
[record]
activation = true
snapshot_every = "2 ms"
"""


def test_biv_run_folder_keeps_the_mesh_and_feeds_the_ecg(tmp_path, capsys):
    """`ep run` on the built-in BiV writes activation.vtu (and the Vm snapshots) with the regions, their names, the
    surfaces (names, tags), fibres and sheets (activation.vtu), so `organtwin ecg RUN_DIR` places its electrodes from
    them."""
    from organtwin.io import read_snapshot_series
    from organtwin.mesh import builtin_mesh_path, read_mesh

    (tmp_path / "biv.toml").write_text(BIV_FAST)
    rc, out, err = run_cli(capsys, "ep", "run", tmp_path / "biv.toml", "--out", tmp_path / "run", "--quiet")
    assert rc == 0, err
    src = read_mesh(builtin_mesh_path("biv"))
    act, snap = read_mesh(tmp_path / "run" / "activation.vtu"), read_snapshot_series(tmp_path / "run")[0]
    assert act.fibres is not None and act.sheets is not None
    np.testing.assert_allclose(np.linalg.norm(act.fibres, axis=1), 1.0, atol=1e-6)
    assert snap.fibres is None  # the series leaves out the 48 bytes per tet of fibres and sheets
    for mesh in (act, snap):
        assert dict(mesh.region_names) == {1: "LV", 2: "RV"}
        np.testing.assert_array_equal(mesh.regions, src.regions)
        assert sorted(mesh.surfaces) == ["base", "endo_lv", "endo_rv", "epi"]
        for name, s in src.surfaces.items():
            assert mesh.surfaces[name].tag == s.tag
            np.testing.assert_array_equal(mesh.surfaces[name].triangles, s.triangles)
    rc, out, err = run_cli(capsys, "ecg", tmp_path / "run", "--out", tmp_path / "ecg")
    assert rc == 0, err
    assert "LV = region 1 (LV); RV = region 2 (RV)" in out
    assert (tmp_path / "ecg" / "ecg.csv").read_text().count("\n") == 5  # header + snapshots at 0, 2, 4, 6 ms


def test_run_folder_regions_without_names_are_a_one_line_error(tmp_path, capsys):
    """Regions 1, 2, 7 and no names (a patient mesh read without its name map): the ECG asks for the ids."""
    from organtwin.io import write_activation_vtu
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((4.0, 1.0, 1.0), 0.5)
    x = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(x < 1.5, 1, np.where(x < 2.5, 7, 2)), region_names={})

    class Result:
        activation = mesh.points[:, 0] * 10.0

    write_activation_vtu(tmp_path / "act.vtu", mesh, Result())
    rc, _, err = run_cli(capsys, "ecg", tmp_path / "act.vtu", "--out", tmp_path / "ecg")
    assert rc == 1
    line = one_error_line(err, only=True)
    assert "cannot tell which regions are the LV and RV (regions: 1, 2, 7)" in line and "--lv-regions" in line
    rc, _, err = run_cli(
        capsys, "ecg", tmp_path / "act.vtu", "--out", tmp_path / "ecg", "--lv-regions", "1,9", "--rv-regions", "2"
    )
    assert rc == 1 and "no region 9 in the mesh (regions present: 1, 2, 7)" in one_error_line(err, only=True)
    assert not (tmp_path / "ecg").exists()


@pytest.mark.slow
def test_readme_biv_case_then_ecg(tmp_path, capsys):
    """The README's `organtwin ep run examples/ep/biv.toml --out biv-results` then `organtwin ecg biv-results`, the
    case shortened to 20 ms with snapshots every 2 ms."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "examples" / "ep" / "biv.toml").read_text()
    text = text.replace('duration = "400 ms"', 'duration = "20 ms"').replace(
        'snapshot_every = "10 ms"', 'snapshot_every = "2 ms"'
    )
    (tmp_path / "biv.toml").write_text(text)
    rc, out, err = run_cli(capsys, "ep", "run", tmp_path / "biv.toml", "--out", tmp_path / "biv-results", "--quiet")
    assert rc == 0, err
    rc, out, err = run_cli(capsys, "ecg", tmp_path / "biv-results", "--out", tmp_path / "ecg")
    assert rc == 0, err
    assert "LV = region 1 (LV); RV = region 2 (RV)" in out


def test_vtu_writer_for_mesh_reads_back_whole(tmp_path):
    """What the results writer writes, read_mesh reads back identically: regions and names (a non-ASCII one), surfaces
    with their tags (an untagged one gets a free tag), fibres, sheets, node sets; a competing tag field is kept renamed."""
    from organtwin.io import VtuWriter
    from organtwin.mesh import Surface, read_mesh, slab_mesh

    m = slab_mesh((4.0, 1.0, 1.0), 0.5)
    x = m.points[m.tets].mean(axis=1)[:, 0]
    regions = np.where(x < 1.5, 1, np.where(x < 2.5, 7, 2))
    tris = next(iter(m.surfaces.values())).triangles
    f = np.tile([1.0, 0.0, 0.0], (m.n_cells, 1))
    m = m.replace(
        regions=regions,
        region_names={1: "LV", 2: "RV", 7: "septum é"},
        surfaces={**m.surfaces, "untagged": Surface(tris[:2], 0)},
        fibres=f,
        sheets=np.roll(f, 1, axis=1),
        node_sets={"apex": np.array([0, 3])},
        cell_data={"elemTag": np.ones(m.n_cells, np.int32)},
    )
    VtuWriter.for_mesh(m).write(tmp_path / "a.vtu", {"activation_time": m.points[:, 0]})
    r = read_mesh(tmp_path / "a.vtu")
    np.testing.assert_array_equal(r.regions, regions)
    assert dict(r.region_names) == {1: "LV", 2: "RV", 7: "septum é"}
    assert sorted(r.surfaces) == sorted(m.surfaces)
    for name, s in m.surfaces.items():
        np.testing.assert_array_equal(r.surfaces[name].triangles, s.triangles)
        assert r.surfaces[name].tag == s.tag or (s.tag == 0 and r.surfaces[name].tag > 0)
    np.testing.assert_array_equal(r.fibres, m.fibres)
    np.testing.assert_array_equal(r.sheets, m.sheets)
    np.testing.assert_array_equal(r.node_sets["apex"], [0, 3])
    assert "elemTag_input" in r.cell_data and "activation_time" in r.point_data

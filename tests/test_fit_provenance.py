"""Re-running a fit.json verifies it before anything is fitted (issue 18, item 5), and calibration's bounds on what a
case may ask: every refusal is exit status 1 with one specific ``organtwin: error:`` line, nothing written.

The fit.json is made once per module by organtwin's own writer (`provenance`, `fit_record`, `write_json`) from a small
LV activation-map case (the built-in LV copied into the case folder as its mesh file, 60 map points), with the case's
start as its values: no optimiser runs here (a real fit and its re-run to the same numbers are
tests/test_calibrate_case.py's). The fit itself is replaced by a stop that fails the test if a refusal comes only
after the problem is built and handed to the optimiser, and that shows a sound fit.json passes every check."""

import copy
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from cli import one_error_line, run_cli

from organtwin.calibrate import _fit
from organtwin.calibrate._data import MeasuredECG
from organtwin.calibrate._ecg_loss import ECGLoss
from organtwin.calibrate._fit import FitResult
from organtwin.calibrate._params import CalibrationError, FreeParameter
from organtwin.io import CaseError, write_json
from organtwin.io import _calibration as case_mod
from organtwin.io._calibration import (
    CalibrationOutcome,
    build_problem,
    fit_bytes_per_start,
    fit_record,
    load_calibration_case,
    provenance,
)
from organtwin.mesh import builtin_mesh_path, read_mesh

CASE = """
title = "provenance test: LV map"
[mesh]
path = "lv.vtu"
[eikonal]
velocity = 0.6
[[eikonal.site]]
name = "apex"
position = [2.0, -1.0, -18.5]
radius = 4.0
[[free]]
name = "tissue.velocity[0, 0]"
lower = 0.1
upper = 2.0
[[data]]
kind = "activation-map"
name = "map"
file = "lat.csv"
noise_sd = "1 ms"
[fit]
max_steps = 2
"""

REACHED = "reached the fit"


@pytest.fixture(autouse=True)
def _no_fitting(monkeypatch):
    """The optimisers stop at once: a check that only refuses after this point is too late (and the tests stay fast)."""

    def stop(*a, **k):
        raise CaseError(REACHED)

    monkeypatch.setattr(_fit, "fit_least_squares", stop)
    monkeypatch.setattr(_fit, "fit_adam", stop)


def _write_case(d, text=CASE):
    d.mkdir(parents=True, exist_ok=True)
    mesh = read_mesh(builtin_mesh_path("lv_ellipsoid"))
    shutil.copy(builtin_mesh_path("lv_ellipsoid"), d / "lv.vtu")
    pts = np.asarray(mesh.points)[::29][:60]
    t = np.linalg.norm(pts - [2.0, -1.0, -18.5], axis=1) / 0.7
    (d / "lat.csv").write_text(
        "x_mm,y_mm,z_mm,lat_ms\n" + "".join(f"{x},{y},{z},{v}\n" for (x, y, z), v in zip(pts, t))
    )
    (d / "case.toml").write_text(text)
    return d / "case.toml"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(case folder, the fit.json record): written the way `organtwin calibrate` writes it."""
    d = tmp_path_factory.mktemp("prov") / "case"
    case = load_calibration_case(_write_case(d))
    problem = build_problem(case)
    u = np.asarray(problem.u0)
    values = {k: np.asarray(v) for k, v in problem.free.values(problem.u0).items()}
    result = FitResult(problem.model, u, values, 1.0, np.array([1.0]), 0, 0.0, "start (test: no optimiser)")
    rec = fit_record(CalibrationOutcome(case, problem, result, None, provenance(case, problem)))
    out = d.parent / "out"
    out.mkdir()
    write_json(out / "fit.json", rec)
    return d, json.loads((out / "fit.json").read_text())


def _rerun(capsys, tmp_path, rec, *extra):
    f = tmp_path / "fit.json"
    f.write_text(json.dumps(rec) if not isinstance(rec, str) else rec)
    rc, out, err = run_cli(capsys, "calibrate", f, "--out", tmp_path / "again", "--quiet", "--no-pictures", *extra)
    assert not (tmp_path / "again").exists()
    return rc, out, err


def _with_text(rec, text):
    """A copy of ``rec`` whose stored case text is ``text``, its SHA-256 made to match (a careful forgery)."""
    r = copy.deepcopy(rec)
    r["provenance"]["case_text"] = text
    r["provenance"]["case_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return r


def test_a_sound_fit_json_passes_every_check_and_says_which_case_folder_it_reads(saved, tmp_path, capsys):
    d, rec = saved
    rc, out, err = _rerun(capsys, tmp_path, rec)
    assert rc == 1 and REACHED in one_error_line(err, only=True)
    assert f"case folder {d.resolve()} (provenance.case_dir)" in out
    assert "mesh: 1737 nodes, 6157 tets; free: tissue.velocity[0, 0] (1 values)" in out


def test_a_tampered_case_text_is_refused(saved, tmp_path, capsys):
    r = copy.deepcopy(saved[1])
    r["provenance"]["case_text"] = r["provenance"]["case_text"].replace("upper = 2.0", "upper = 3.0")
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1
    assert "provenance.case_text does not match provenance.case_sha256" in one_error_line(err, only=True)


def _drop(path):
    def edit(r):
        *head, last = path.split(".")
        for k in head:
            r = r[k]
        del r[last]

    return edit


def _set(path, value):
    def edit(r):
        *head, last = path.split(".")
        for k in head:
            r = r[k]
        r[last] = value

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (_drop("provenance.case_text"), r"fit.json: provenance.case_text: missing \(expected the case file's text"),
        (_set("provenance", []), r"fit.json: provenance: expected an object, got a list of 0;"),
        (
            _set("u", "abc"),
            r"fit.json: u: expected a list of finite numbers \(the unconstrained vector\), got the string",
        ),
        (_set("u", [None]), r"fit.json: u: expected a list of finite numbers"),
        (_set("parameters", {}), r"fit.json: parameters: expected an object \{parameter name: number"),
        (_set("parameters", {"tissue.velocity[0, 0]": "fast"}), r"fit.json: parameters: expected an object"),
        (
            _set("provenance.case_sha256", 123),
            r"provenance.case_sha256: expected 64 lower-case hex digits .*got the "
            r"number 123",
        ),
        (
            _drop("provenance.data.map.sha256"),
            r"provenance.data.map.sha256: expected 64 lower-case hex digits, got "
            r"nothing",
        ),
        (_set("provenance.data.map", "lat.csv"), r"provenance.data.map: expected an object \{path, sha256\}"),
        (_set("provenance.seed", "0"), r"provenance.seed: expected a whole number >= 0, got the string '0'"),
        (_set("provenance.dtype", "float16"), r"provenance.dtype: expected \"float32\" or \"float64\""),
        (_set("provenance.mesh.nodes", -1), r"provenance.mesh.nodes: expected a positive whole number"),
        (_drop("provenance.mesh.sha256"), r"provenance.mesh.sha256: expected 64 lower-case hex digits, got null"),
        (_set("provenance.versions", "0.1"), r"provenance.versions: expected an object"),
        (_set("provenance.case_dir", 7), r"provenance.case_dir: expected a path \(string\), got the number 7"),
        (_set("organtwin_fit", 2), r"fit.json: organtwin_fit: version the number 2 is not one this organtwin reads"),
        (_drop("organtwin_fit"), r"fit.json: not an organtwin fit.json \(no organtwin_fit field\)"),
    ],
)
def test_a_malformed_fit_json_names_the_field(saved, tmp_path, capsys, edit, message):
    r = copy.deepcopy(saved[1])
    edit(r)
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1
    line = one_error_line(err, only=True)
    assert __import__("re").search(message, line), line
    assert "unexpected" not in line and "Traceback" not in err


def test_a_fit_json_that_is_not_json_or_not_an_object(tmp_path, capsys):
    rc, _, err = _rerun(capsys, tmp_path, '{"organtwin_fit": 1, "u": [0.1')
    assert rc == 1 and "fit.json: cannot read the fit (" in one_error_line(err, only=True)
    rc, _, err = _rerun(capsys, tmp_path, "[1, 2]")
    assert rc == 1 and "not an organtwin fit.json" in one_error_line(err, only=True)


# ------------------------------------------------------------------------------------------------ the case folder
def test_a_case_folder_that_moved_is_named_and_case_dir_picks_the_new_one(saved, tmp_path, capsys):
    d, rec = saved
    moved = tmp_path / "moved"
    shutil.copytree(d, moved)
    r = copy.deepcopy(rec)
    r["provenance"]["case_dir"] = str(tmp_path / "gone")
    r["provenance"]["case_file"] = str(tmp_path / "gone" / "case.toml")
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1
    assert (
        f"the case folder of the saved fit, {tmp_path / 'gone'} (provenance.case_dir), does not exist any more; "
        "give --case-dir DIR"
    ) in one_error_line(err, only=True)
    rc, out, err = _rerun(capsys, tmp_path, r, "--case-dir", moved)
    assert rc == 1 and REACHED in one_error_line(err, only=True)
    assert f"case folder {moved.resolve()} (from --case-dir)" in out


def test_a_case_dir_pointing_elsewhere_is_refused(saved, tmp_path, capsys):
    d, rec = saved
    other = tmp_path / "elsewhere"
    other.mkdir()
    r = copy.deepcopy(rec)
    r["provenance"]["case_dir"] = str(other)  # the case file left where it was: inconsistent
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert (
        rc == 1
        and f"provenance.case_file {d / 'case.toml'} is not in provenance.case_dir {other}"
        in one_error_line(err, only=True)
    )
    r["provenance"]["case_file"] = str(other / "case.toml")  # consistent, but the data are not there
    rc, _, err = _rerun(capsys, tmp_path, r)
    line = one_error_line(err, only=True)
    assert rc == 1 and f"read in the case folder {other.resolve()} (provenance.case_dir)" in line
    assert "file not found" in line
    (other / "lv.vtu").write_bytes(b"not the mesh")  # files there that differ: their SHA-256 refuses them
    shutil.copy(d / "lat.csv", other / "lat.csv")
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1 and f"mesh {other.resolve() / 'lv.vtu'} changed since the fit (SHA-256 differs)" in one_error_line(
        err, only=True
    )


@pytest.mark.parametrize("file", ["../shared/lat.csv", "/etc/hostname", "sub/../../shared/lat.csv"])
def test_data_paths_outside_the_case_folder_are_refused_unless_allowed(saved, tmp_path, capsys, file):
    d, rec = saved
    shared = d.parent / "shared"
    shared.mkdir(exist_ok=True)
    shutil.copy(d / "lat.csv", shared / "lat.csv")
    r = _with_text(rec, rec["provenance"]["case_text"].replace('file = "lat.csv"', f'file = "{file}"'))
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1
    assert (
        f"the stored case's [data.1] file = '{file}' lies outside its case folder {d.resolve()}; a re-run reads "
        "only inside the case folder: pass --allow-outside-case"
    ) in one_error_line(err, only=True)
    if file.startswith("/"):
        return
    rc, _, err = _rerun(capsys, tmp_path, r, "--allow-outside-case")  # same bytes as fitted: the re-run goes on
    assert rc == 1 and REACHED in one_error_line(err, only=True)


def test_a_link_leading_out_of_the_case_folder_is_refused(saved, tmp_path, capsys):
    d, rec = saved
    work = tmp_path / "case"
    shutil.copytree(d, work)
    (work / "lat.csv").unlink()
    os.symlink(d / "lat.csv", work / "lat.csv")
    r = copy.deepcopy(rec)
    r["provenance"]["case_dir"], r["provenance"]["case_file"] = str(work), str(work / "case.toml")
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert rc == 1 and "[data.1] file = 'lat.csv' lies outside its case folder" in one_error_line(err, only=True)


def test_a_fresh_case_file_may_read_outside_its_folder(saved, tmp_path, capsys):
    """The user wrote a case file: its paths are read as written (my choice; only a fit.json is confined)."""
    d, _ = saved
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(d / "lat.csv", tmp_path / "lat.csv")
    shutil.copy(d / "lv.vtu", sub / "lv.vtu")
    (sub / "case.toml").write_text(CASE.replace('file = "lat.csv"', 'file = "../lat.csv"'))
    rc, _, err = run_cli(
        capsys, "calibrate", sub / "case.toml", "--out", tmp_path / "o", "--quiet", "--no-discretisation-check"
    )
    assert rc == 1 and REACHED in one_error_line(err, only=True)
    rc, _, err = run_cli(capsys, "calibrate", sub / "case.toml", "--out", tmp_path / "o", "--allow-outside-case")
    assert rc == 2 and "only for re-running a fit.json" in one_error_line(err, only=True)


def test_changed_data_is_refused(saved, tmp_path, capsys):
    d, rec = saved
    work = tmp_path / "case"
    shutil.copytree(d, work)
    with open(work / "lat.csv", "a") as fh:
        fh.write("0,0,0,1\n")
    r = copy.deepcopy(rec)
    r["provenance"]["case_dir"], r["provenance"]["case_file"] = str(work), str(work / "case.toml")
    rc, _, err = _rerun(capsys, tmp_path, r)
    assert (
        rc == 1
        and f"data file {work.resolve() / 'lat.csv'} changed since the fit (SHA-256 differs)"
        in one_error_line(err, only=True)
    )


# ------------------------------------------------------------------------------------- fields against the case
@pytest.mark.parametrize(
    "edit, message",
    [
        (_set("u", [0.1, 0.2]), r"u has 2 values but the case's free parameters have 1 \(tissue.velocity\[0, 0\] 1\)"),
        (
            _set("parameters", {"tissue.velocity[0, 0]": 0.6, "tissue.fast_velocity": 2.0}),
            r"parameters has 'tissue.fast_velocity', which the case does not free",
        ),
        (_set("parameters", {"tissue.velocity[1, 0]": 0.6}), r"parameters has 'tissue.velocity\[1, 0\]', which"),
        (
            _set("parameters", {"tissue.velocity[0, 0]": [0.6, 0.6]}),
            r"parameters.tissue.velocity\[0, 0\] has shape \[2\] but the case's parameter has \[\]",
        ),
        (
            _set("parameters", {"tissue.velocity[0, 0]": 0.9}),
            r"parameters.tissue.velocity\[0, 0\] = 0.9 is not what u "
            r"gives \(0.6\); the fitted values were edited",
        ),
        (
            _set("provenance.fit_options.max_steps", 30),
            r"provenance.fit_options.max_steps is 30 but the stored case "
            r"gives 2",
        ),
        (_set("provenance.seed", 4), r"provenance.seed is 4 but the stored case gives 0"),
        (
            _set("provenance.data", {"lat": {"path": "lat.csv", "sha256": "0" * 64}}),
            r"provenance.data names \['lat'\] but the stored case reads \['map'\]",
        ),
        (
            _set("provenance.mesh.nodes", 1800),
            r"the mesh has 1737 nodes and 6157 tets now, 1800 and 6157 in the saved "
            r"fit",
        ),
    ],
)
def test_a_fit_json_that_does_not_match_its_case_is_refused_before_fitting(saved, tmp_path, capsys, edit, message):
    r = copy.deepcopy(saved[1])
    edit(r)
    rc, _, err = _rerun(capsys, tmp_path, r)
    line = one_error_line(err, only=True)
    assert rc == 1 and __import__("re").search(message, line), line


# ------------------------------------------------------------------------------------ parameter names, starts
@pytest.mark.parametrize(
    "name, message",
    [
        ("tissue.__class__", r"\[free.1\] name: 'tissue.__class__': '__class__' starts with an underscore"),
        ("tissue.velocity.__globals__", r"'__globals__' starts with an underscore"),
        ("__class__.__init__.__globals__", r"'__class__' starts with an underscore"),
        (
            "circulation.model.blocks.LV.e_active",
            r"\[free.1\] name: 'circulation.model.blocks.LV.e_active': this "
            r"case's model has no 'circulation', only tissue, sites \(",
        ),
    ],
)
def test_free_parameter_names_that_leave_the_model_are_refused(saved, tmp_path, capsys, name, message):
    d, rec = saved
    text = rec["provenance"]["case_text"].replace('"tissue.velocity[0, 0]"', f'"{name}"')
    rc, _, err = _rerun(capsys, tmp_path, _with_text(rec, text))  # a forged fit.json
    assert rc == 1 and __import__("re").search(message, one_error_line(err, only=True))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "case.toml").write_text(text)  # and a case file
    shutil.copy(d / "lat.csv", tmp_path / "c")
    shutil.copy(d / "lv.vtu", tmp_path / "c")
    rc, _, err = run_cli(
        capsys,
        "calibrate",
        tmp_path / "c" / "case.toml",
        "--out",
        tmp_path / "o",
        "--quiet",
        "--no-discretisation-check",
    )
    assert rc == 1 and __import__("re").search(message, one_error_line(err, only=True))


def test_a_name_steps_only_through_fields_and_keys():
    from organtwin import ep

    tissue = ep.EikonalTissue.from_mesh(read_mesh(builtin_mesh_path("lv_ellipsoid")), ep.ConductionVelocity(0.6))
    assert float(FreeParameter("velocity[0, 0]").get(tissue)) == pytest.approx(0.6)
    for name, message in [
        ("from_mesh", "EikonalTissue has no field 'from_mesh' (fields: "),
        ("__dict__", "'__dict__' starts with an underscore"),
        ("velocity.T", "cannot look up 'T' in a ArrayImpl"),
    ]:
        with pytest.raises(CalibrationError, match=__import__("re").escape(message)):
            FreeParameter(name).get(tissue)
    with pytest.raises(CalibrationError, match="cannot look up 'real' in a float"):
        FreeParameter("a.real").get({"a": 1.5})


def test_a_hundred_million_starts_are_refused_when_the_case_is_read(saved, tmp_path, capsys):
    d, _ = saved
    case = _write_case(tmp_path / "c", CASE.replace("max_steps = 2", "max_steps = 2\nstarts = 100000000"))
    rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "o", "--quiet", "--no-discretisation-check")
    assert rc == 1
    assert (
        "[fit] starts: 100,000,000 starts is more than the 100,000 a fit runs (every start is a whole fit, all "
        "run at once in memory); use fewer"
    ) in one_error_line(err, only=True)


def test_starts_are_bounded_by_the_memory_available_before_they_are_drawn(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(case_mod, "_memory_available", lambda: (2.0 * 2**30, "host memory available"))
    monkeypatch.setattr(case_mod, "_starts", lambda *a: pytest.fail("starts drawn before the memory check"))
    case = _write_case(tmp_path / "c", CASE.replace("max_steps = 2", "max_steps = 2\nstarts = 90000"))
    rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "o", "--quiet", "--no-discretisation-check")
    per = 2 * 8 * (64 * 1737 + 100 * 6157)  # (1 free value + 1) tangents x float64 x the eikonal's arrays
    line = one_error_line(err, only=True)
    assert rc == 1 and per == fit_bytes_per_start(
        load_calibration_case(case), build_problem(load_calibration_case(case))
    )
    assert (
        f"[fit] starts = 90,000: the starts run at once, each holding about {per / 2**20:.3g} MiB here (1,737 "
        f"nodes, 1 free values), {per * 90000 / 2**30:.3g} GiB in all, more than 1.6 GiB (80% of the 2 GiB of "
        f"host memory available); use at most starts = {int(0.8 * 2**31 // per):,}"
    ) in line
    assert int(0.8 * 2**31 // per) == 147  # 11.1 MiB a start (measured 11.9 MB: see fit_bytes_per_start)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ("[fit]", "[ecg]\nduration = 1e9\n[fit]"),
            r"\[ecg\] duration: 1e\+09 ms at dt 1 ms is 1e\+09 model ECG "
            r"samples, more than the 1,000,000",
        ),
    ],
)
def test_sample_counts_are_bounded_when_the_case_is_read(tmp_path, capsys, edit, message):
    case = _write_case(tmp_path / "c", CASE.replace(*edit))
    rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "o", "--quiet", "--no-discretisation-check")
    assert rc == 1 and __import__("re").search(message, one_error_line(err, only=True))


# ------------------------------------------------------------------------------------------------------ ECG leads
ECG_CASE = (
    CASE.replace(
        '''[[data]]
kind = "activation-map"
name = "map"
file = "lat.csv"
noise_sd = "1 ms"''',
        '''[ecg]
duration = 200.0
tau_up = 4.0
[[data]]
kind = "ecg"
file = "ecg.csv"''',
    )
    .replace('path = "lv.vtu"', 'builtin = "biv"')
    .replace("[2.0, -1.0, -18.5]", "[2.0, 1.0, -62.0]")
)


def _ecg_csv(path, leads, flat=()):
    t = np.arange(0.0, 200.0, 1.0)
    cols = [
        np.sin(2 * np.pi * t / (80.0 + 7 * k)) * np.exp(-(((t - 60.0) / 30.0) ** 2))
        if n not in flat
        else np.zeros_like(t)
        for k, n in enumerate(leads)
    ]
    path.write_text(
        "time_ms,"
        + ",".join(f"{n}_mV" for n in leads)
        + "\n"
        + "".join(f"{a}," + ",".join(f"{c[i]:.6f}" for c in cols) + "\n" for i, a in enumerate(t))
    )


def test_an_ecg_with_limb_leads_only_warns_what_it_cannot_identify(tmp_path, capsys):
    case = _write_case(tmp_path / "c", ECG_CASE)
    _ecg_csv(tmp_path / "c" / "ecg.csv", ["I", "II", "III", "aVR", "aVL", "aVF"])
    rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "o", "--quiet", "--no-discretisation-check")
    assert rc == 1 and REACHED in one_error_line(err)
    warn = [ln for ln in err.splitlines() if ln.startswith("organtwin: warning:")]
    assert len(warn) == 1, err
    assert (
        "ecg.csv: no precordial lead fitted (V1, V2, V3, V4, V5, V6 missing from the record; fitting I, II, III, "
        "aVR, aVL, aVF only): the limb leads see only the frontal plane"
    ) in warn[0]
    assert "weakly identified" in warn[0]


@pytest.mark.parametrize(
    "leads, flat, message",
    [
        (
            ["I", "II", "V1"],
            ["I", "II", "V1"],
            r"ecg.csv: no usable lead: every lead \(I, II, V1\) is flat over the "
            r"window",
        ),
        (["lead_x", "chest"], [], r"ecg.csv: none of its leads \(lead_x, chest\) is a standard lead"),
    ],
)
def test_an_ecg_without_a_usable_lead_is_refused(tmp_path, capsys, leads, flat, message):
    case = _write_case(tmp_path / "c", ECG_CASE)
    _ecg_csv(tmp_path / "c" / "ecg.csv", leads, flat)
    rc, _, err = run_cli(capsys, "calibrate", case, "--out", tmp_path / "o", "--quiet", "--no-discretisation-check")
    assert rc == 1 and __import__("re").search(message, one_error_line(err))
    assert len(err.splitlines()) == (2 if flat else 1), err  # all flat: the reader's warning, then the refusal


def test_flat_leads_are_left_out_with_a_warning_or_refused_when_named():
    t = np.arange(0.0, 100.0)
    sig = np.stack([np.sin(t / 9), np.zeros_like(t), np.cos(t / 7), np.sin(t / 5)], 1)
    ecg = MeasuredECG(("I", "II", "V1", "V2"), sig, 1000.0, 0.0, "rec.csv")
    with pytest.warns(
        UserWarning,
        match=r"rec.csv: 1 flat lead\(s\) \(II: constant over the window, no signal\) "
        r"left out of the fit; fitting I, V1, V2",
    ):
        loss = ECGLoss.from_measured(ecg, np.arange(0.0, 100.0))
    assert loss.leads == ("I", "V1", "V2") and loss.measured.shape == (3, 100)
    with pytest.raises(CalibrationError, match="lead II is flat over the window .*leave it out of leads"):
        ECGLoss.from_measured(ecg, np.arange(0.0, 100.0), leads=["I", "II"])
    with pytest.warns(
        UserWarning,
        match=r"every lead \(I, II\) is flat over the window \(constant\): there is no "
        r"signal to fit",
    ):  # a placeholder record: kept; a fit refuses it
        loss = ECGLoss.from_measured(MeasuredECG(("I", "II"), np.zeros((100, 2)), 1000.0), np.arange(0.0, 100.0))
    assert loss.leads == ("I", "II")

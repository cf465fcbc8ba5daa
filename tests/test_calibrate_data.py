"""Data import for calibration (organtwin.calibrate): WFDB and CSV ECGs, activation maps, volumes, pressures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from organtwin.calibrate import (
    STANDARD_LEADS,
    ActivationMap,
    CuffPressure,
    DataError,
    MeasuredECG,
    normalise_lead_name,
)
from organtwin.io import (
    read_activation_map,
    read_cuff_pressure,
    read_ecg,
    read_pressure_trace,
    read_volume_curve,
)

wfdb = pytest.importorskip("wfdb")
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword")  # wfdb on pandas >= 3


def _within(err, bound):
    assert np.all(err < bound), f"max error {np.max(err - bound)} over the bound"


MESHES = Path(__file__).resolve().parents[1] / "meshes"
# as a device might spell them: upper case, 'AVR'
WFDB_NAMES = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _signals(n=1000, fs=500.0, n_leads=12):
    t = np.arange(n) / fs
    k = np.arange(1, n_leads + 1)
    return 0.8 * np.sin(2 * np.pi * 1.2 * t[:, None] * k[None, :] / 4) + 0.05 * k[None, :]


def _one_line_error(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(DataError, match=match) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, ValueError)
    return msg


# ------------------------------------------------------------------------------------------------------------ WFDB


def _write_wfdb(tmp_path, name, sig, units):
    wfdb.wrsamp(
        name, fs=500, units=units, sig_name=WFDB_NAMES, p_signal=sig, fmt=["16"] * sig.shape[1], write_dir=str(tmp_path)
    )
    return tmp_path / name


def test_wfdb_12_leads_mv_round_trip(tmp_path):
    sig = _signals()
    base = _write_wfdb(tmp_path, "rec_mv", sig, ["mV"] * 12)
    gains = np.asarray(wfdb.rdheader(str(base)).adc_gain)
    for path in (base.with_suffix(".hea"), base, str(base)):
        ecg = read_ecg(path)
        assert ecg.leads == STANDARD_LEADS  # 'AVR' → 'aVR'
        assert ecg.sampling_rate_hz == 500.0 and ecg.t0_ms == 0.0
        assert ecg.signals.shape == (1000, 12) and not ecg.signals.flags.writeable
        _within(np.abs(ecg.signals - sig), 1.0 / gains + 1e-12)  # to the ADC resolution
    np.testing.assert_allclose(ecg.times_ms[:3], [0.0, 2.0, 4.0])
    np.testing.assert_allclose(ecg.lead("avf"), ecg.signals[:, 5])


def test_wfdb_units_converted_to_mv(tmp_path):
    sig = _signals()
    stored = sig.copy()
    stored[:, 11] *= 1000.0  # V6 stored in uV
    base = _write_wfdb(tmp_path, "rec_uv", stored, ["mV"] * 11 + ["uV"])
    gains = np.asarray(wfdb.rdheader(str(base)).adc_gain)
    ecg = read_ecg(base.with_suffix(".hea"), leads=["v6", "II"], sampling_rate_hz=500)
    assert ecg.leads == ("V6", "II")
    _within(np.abs(ecg.signals[:, 0] - sig[:, 11]), 1e-3 / gains[11] + 1e-12)
    _within(np.abs(ecg.signals[:, 1] - sig[:, 1]), 1.0 / gains[1] + 1e-12)
    assert np.abs(ecg.signals).max() < 2.0


def test_wfdb_errors(tmp_path):
    sig = _signals(n=200)[:, :2]
    wfdb.wrsamp(
        "odd",
        fs=360,
        units=["NU", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=sig,
        fmt=["16", "16"],
        write_dir=str(tmp_path),
    )
    hea = tmp_path / "odd.hea"
    _one_line_error(rf"^{hea}: lead MLII: voltage unit 'NU' unknown; use one of mV, uV, V", read_ecg, hea)
    ecg = read_ecg(hea, units="mV")  # override the header's units
    assert ecg.leads == ("MLII", "V5") and ecg.sampling_rate_hz == 360.0  # MLII is no standard lead: kept as given
    _one_line_error(r"360 Hz, not the 500 Hz given", read_ecg, hea, units="mV", sampling_rate_hz=500)
    _one_line_error(r"no lead\(s\) aVR", read_ecg, hea, units="mV", leads=["AVR"])
    _one_line_error(r"no such", read_ecg, tmp_path / "missing")


# ------------------------------------------------------------------------------------------------------------- CSV


def _write_csv(path: Path, header, rows, fmt="%.9g"):
    with path.open("w") as fh:
        fh.write(",".join(header) + "\n")
        np.savetxt(fh, rows, fmt=fmt, delimiter=",")
    return path


def test_ecg_csv_round_trips(tmp_path):
    sig = _signals(n=300, fs=250.0, n_leads=3)
    t_ms = 100.0 + np.arange(300) * 4.0
    p = _write_csv(
        tmp_path / "a.csv",
        ["time_ms", "I_mV", "ii_mV", "V1 (uV)"],
        np.column_stack([t_ms, sig[:, :2], sig[:, 2] * 1e3]),
    )
    ecg = read_ecg(p)
    assert ecg.leads == ("I", "II", "V1") and ecg.sampling_rate_hz == pytest.approx(250.0)
    assert ecg.t0_ms == pytest.approx(100.0) and ecg.source == str(p)
    np.testing.assert_allclose(ecg.signals, sig, rtol=1e-8)
    np.testing.assert_allclose(ecg.times_ms, t_ms)

    p = _write_csv(tmp_path / "b.csv", ["time_s", "AVL", "aVR"], np.column_stack([t_ms / 1e3, sig[:, :2]]))
    ecg = read_ecg(p, units="uV")
    assert ecg.leads == ("aVL", "aVR") and ecg.sampling_rate_hz == pytest.approx(250.0)
    np.testing.assert_allclose(ecg.signals, sig[:, :2] * 1e-3, rtol=1e-8)

    p = _write_csv(tmp_path / "c.csv", ["I", "II"], sig[:, :2])
    ecg = read_ecg(p, sampling_rate_hz=250.0, units="mV")
    assert ecg.t0_ms == 0.0 and ecg.times_ms[-1] == pytest.approx(299 * 4.0)
    _one_line_error(rf"^{p}:1: no time column; add time_ms .* or pass sampling_rate_hz", read_ecg, p, units="mV")
    _one_line_error(rf"^{p}:1: lead column 'I' has no unit", read_ecg, p, sampling_rate_hz=250.0)


def test_organtwin_ecg_csv_reads_back(tmp_path):
    from organtwin.cli._main import main

    act, out = tmp_path / "act.vtu", tmp_path / "ecg"
    assert main(["activate", str(MESHES / "biv.vtu"), "--site", "0,0,-60", "--cv-fibre", "0.6", "--out", str(act)]) == 0
    assert main(["ecg", str(act), "--out", str(out)]) == 0
    ecg = read_ecg(out / "ecg.csv")
    raw = np.loadtxt(out / "ecg.csv", delimiter=",", skiprows=1)
    assert ecg.leads == STANDARD_LEADS and ecg.n_samples == raw.shape[0]
    assert ecg.sampling_rate_hz == pytest.approx(1000.0 / (raw[1, 0] - raw[0, 0]), rel=1e-3)
    np.testing.assert_allclose(ecg.signals, raw[:, 1:])
    # the activation map written by `organtwin activate` reads as a measured map too
    amap = read_activation_map(act)
    assert amap.points_mm.shape[1] == 3 and np.isfinite(amap.times_ms).all() and amap.times_ms.min() >= 0


def test_ecg_csv_errors_name_file_and_line(tmp_path):
    p = tmp_path / "nan.csv"
    p.write_text("# exported by some device\ntime_ms,I_mV,II_mV\n0,0.1,0.2\n2,0.1,nan\n4,0.1,0.2\n")
    _one_line_error(rf"^{p}:4: column II_mV: nan is not a finite number", read_ecg, p)
    p.write_text("time_ms,I_mV,II_mV\n0,0.1,0.2\n2,0.1,\n")
    _one_line_error(rf"^{p}:3: column II_mV: empty value", read_ecg, p)
    p.write_text("time_ms,I_mV,II_mV\n0,0.1,0.2\n2,0.1,abc\n")
    _one_line_error(rf"^{p}:3: column II_mV: 'abc' is not a number", read_ecg, p)
    p.write_text("time_ms,I_mV,II_mV\n0,0.1,0.2\n2,0.1\n")
    _one_line_error(rf"^{p}:3: 2 values but the header has 3 columns", read_ecg, p)
    p.write_text("time_ms,I_mV\n0,0.1\n2,0.1\n4,0.1\n7,0.1\n9,0.1\n")
    _one_line_error(rf"^{p}:5: non-uniform sampling", read_ecg, p)
    p.write_text("time_ms,I_mV\n0,0.1\n2,0.1\n2,0.1\n")
    _one_line_error(rf"^{p}:4: time 2 does not increase", read_ecg, p)
    p.write_text("time_ms,I (furlong)\n0,0.1\n2,0.1\n")
    _one_line_error(rf"^{p}:1: column I \(furlong\): voltage unit 'furlong' unknown", read_ecg, p)
    p.write_text("time,I_mV\n0,0.1\n2,0.1\n")
    _one_line_error(rf"^{p}:1: time column 'time' has no unit", read_ecg, p)
    p.write_text("0,0.1\n2,0.1\n")
    _one_line_error(rf"^{p}:1: no header row", read_ecg, p)
    p.write_text("time_ms,I_mV,i (uV)\n0,0.1,2\n2,0.1,3\n")
    _one_line_error(rf"^{p}: duplicate lead names in I, I", read_ecg, p)
    p.write_text("time_ms\n0\n2\n")
    _one_line_error(rf"^{p}:1: no lead columns", read_ecg, p)
    p.write_text("time_ms,I_mV,II_mV\n0,0.1,0.2\n2,0.1,0.3\n")
    _one_line_error(r"no lead\(s\) V1", read_ecg, p, leads=["V1"])
    (tmp_path / "x.edf").write_bytes(b"0       ")
    _one_line_error(r"unknown ECG format '\.edf'", read_ecg, tmp_path / "x.edf")
    _one_line_error(rf"^{tmp_path / 'gone.csv'}: cannot read: No such file", read_ecg, tmp_path / "gone.csv")


def test_lead_names_and_constructor():
    assert [normalise_lead_name(n) for n in ("avr", "AVL", " v3 ", "Lead II", "MLII")] == [
        "aVR",
        "aVL",
        "V3",
        "II",
        "MLII",
    ]
    with pytest.raises(DataError, match="duplicate lead"):
        MeasuredECG(("I", "I"), np.zeros((4, 2)), 500.0)
    with pytest.raises(DataError, match=r"shape \(4, 3\) for 2 leads"):
        MeasuredECG(("I", "II"), np.zeros((4, 3)), 500.0)


# ------------------------------------------------------------------------------------------------- activation maps


def test_activation_map_csv(tmp_path):
    rng = np.random.default_rng(0)
    pts, lat = rng.normal(size=(20, 3)) * 30, rng.uniform(0, 120, 20)
    p = _write_csv(tmp_path / "lat.csv", ["x", "y", "z", "lat_ms"], np.column_stack([pts, lat]))
    amap = read_activation_map(p)
    assert isinstance(amap, ActivationMap) and amap.n_points == 20
    np.testing.assert_allclose(amap.points_mm, pts, rtol=1e-8)
    np.testing.assert_allclose(amap.times_ms, lat, rtol=1e-8)
    p = _write_csv(
        tmp_path / "cm.csv", ["x_cm", "y_cm", "z_cm", "activation_time_s"], np.column_stack([pts / 10, lat / 1e3])
    )
    amap = read_activation_map(p)
    np.testing.assert_allclose(amap.points_mm, pts, rtol=1e-8)
    np.testing.assert_allclose(amap.times_ms, lat, rtol=1e-8)

    p = tmp_path / "bad.csv"
    p.write_text("x,y,z,lat\n0,0,0,10\n1,0,0,NaN\n")
    _one_line_error(rf"^{p}:3: column lat: NaN is not a finite number", read_activation_map, p)
    p.write_text("x,y,z,lat\n0,0,0,10\n1,0,zero,11\n")
    _one_line_error(rf"^{p}:3: column z: 'zero' is not a number", read_activation_map, p)
    p.write_text("x,y,lat\n0,0,10\n")
    _one_line_error(rf"^{p}:1: no column 'z'", read_activation_map, p)
    p.write_text("x,y,z,voltage\n0,0,0,10\n")
    _one_line_error(rf"^{p}:1: no activation time column", read_activation_map, p)


def test_activation_map_vtu_point_cloud(tmp_path):
    import meshio

    rng = np.random.default_rng(1)
    pts, lat = rng.normal(size=(15, 3)) * 20, rng.uniform(0, 90, 15)
    p = tmp_path / "cloud.vtu"
    meshio.write(p, meshio.Mesh(pts, [("vertex", np.arange(15)[:, None])], point_data={"activation_time": lat}))
    amap = read_activation_map(p)
    np.testing.assert_allclose(amap.points_mm, pts)
    np.testing.assert_allclose(amap.times_ms, lat)
    q = tmp_path / "lat.vtk"
    meshio.write(q, meshio.Mesh(pts, [("vertex", np.arange(15)[:, None])], point_data={"LAT": lat}))
    np.testing.assert_allclose(read_activation_map(q).times_ms, lat)

    bad = lat.copy()
    bad[7] = np.nan
    meshio.write(p, meshio.Mesh(pts, [("vertex", np.arange(15)[:, None])], point_data={"activation_time": bad}))
    _one_line_error(rf"^{p}: point 7: activation_time is NaN", read_activation_map, p)
    import pyvista as pv

    cloud = pv.PolyData(pts)
    cloud.point_data["lat"] = lat
    cloud.save(tmp_path / "cloud.vtp")
    np.testing.assert_allclose(read_activation_map(tmp_path / "cloud.vtp").times_ms, lat)
    meshio.write(p, meshio.Mesh(pts, [("vertex", np.arange(15)[:, None])], point_data={"voltage": lat}))
    _one_line_error(rf"^{p}: no point data activation_time or lat \(has: voltage\)", read_activation_map, p)


# ---------------------------------------------------------------------------------------- volumes and pressures


def test_volume_curves(tmp_path):
    t = np.linspace(0.0, 800.0, 81)
    lv, rv = 120 - 50 * np.sin(np.pi * t / 800) ** 2, 130 - 55 * np.sin(np.pi * t / 800) ** 2
    p = _write_csv(tmp_path / "v.csv", ["time_s", "LV_mL", "RV_mL"], np.column_stack([t / 1e3, lv, rv]))
    v = read_volume_curve(p, chamber="rv")
    assert v.chamber == "RV"
    np.testing.assert_allclose(v.times_ms, t, atol=1e-9)
    np.testing.assert_allclose(v.volumes_ml, rv, rtol=1e-8)
    assert v.edv_ml == pytest.approx(130) and v.ejection_fraction == pytest.approx(55 / 130, rel=1e-6)
    _one_line_error(rf"^{p}:1: several volume columns \(LV_mL, RV_mL\)", read_volume_curve, p)
    _one_line_error(rf"^{p}:1: no volume column for 'LA'", read_volume_curve, p, chamber="LA")

    q = _write_csv(tmp_path / "w.csv", ["time_ms", "volume_ml"], np.column_stack([t, lv]))
    v = read_volume_curve(q)
    assert v.chamber is None and v.volumes_ml.shape == (81,)
    assert read_volume_curve(q, chamber="LV").chamber == "LV"

    q.write_text("time_ms,volume_ml\n0,120\n10,118\n5,117\n")
    _one_line_error(rf"^{q}:4: time 5 does not increase", read_volume_curve, q)
    q.write_text("time_ms,volume_ml\n0,120\n10,nan\n")
    _one_line_error(rf"^{q}:3: column volume_ml: nan", read_volume_curve, q)
    q.write_text("time_ms,flow_ml_per_s\n0,120\n10,118\n")
    _one_line_error(rf"^{q}:1: no volume column", read_volume_curve, q)
    q.write_text("LV_mL\n120\n118\n")
    _one_line_error(rf"^{q}:1: no time column", read_volume_curve, q)


def test_pressure_traces_and_cuff(tmp_path):
    t = np.linspace(0.0, 800.0, 41)
    pr = 80 + 40 * np.sin(np.pi * t / 800) ** 2
    p = _write_csv(tmp_path / "p.csv", ["time_ms", "pressure_mmhg"], np.column_stack([t, pr]))
    tr = read_pressure_trace(p)
    assert tr.site is None
    np.testing.assert_allclose(tr.pressures_mmhg, pr, rtol=1e-8)
    p = _write_csv(tmp_path / "k.csv", ["time_ms", "aorta_kPa"], np.column_stack([t, pr / 7.500617]))
    tr = read_pressure_trace(p)
    assert tr.site == "aorta"
    np.testing.assert_allclose(tr.pressures_mmhg, pr, rtol=1e-6)

    j = tmp_path / "cuff.json"
    j.write_text(json.dumps({"systolic_mmhg": 121, "diastolic_mmhg": 79, "note": "left arm"}))
    c = read_cuff_pressure(j)
    assert (c.systolic_mmhg, c.diastolic_mmhg) == (121.0, 79.0) and c.mean_mmhg == pytest.approx(93.0)
    a = tmp_path / "cuff.csv"
    a.write_text("systolic_mmhg,diastolic_mmhg\n118,76\n")
    assert read_cuff_pressure(a) == CuffPressure(118.0, 76.0, str(a))
    a.write_text("date,systolic_mmhg,diastolic_mmhg\n20240101,118,76\n")
    assert read_cuff_pressure(a).diastolic_mmhg == 76.0
    a.write_text("name,value\nsystolic_mmHg,130\ndiastolic_mmHg,85\n")
    assert (read_cuff_pressure(a).systolic_mmhg, read_cuff_pressure(a).diastolic_mmhg) == (130.0, 85.0)
    a.write_text("systolic_mmHg,130\ndiastolic_mmHg,abc\n")
    _one_line_error(rf"^{a}:2: diastolic_mmHg: 'abc' is not a number", read_cuff_pressure, a)
    j.write_text(json.dumps({"systolic_mmhg": 80, "diastolic_mmhg": 120}))
    _one_line_error(r"need 0 < diastolic < systolic", read_cuff_pressure, j)
    j.write_text('{"systolic_mmhg": 120,\n "diastolic_mmhg": }')
    _one_line_error(rf"^{j}:2: not valid JSON", read_cuff_pressure, j)
    j.write_text(json.dumps({"systolic_mmhg": 120}))
    _one_line_error(rf"^{j}: no diastolic pressure", read_cuff_pressure, j)


def test_a_synthetic_map_samples_surface_nodes_with_the_asked_offset_noise_and_distance():
    from organtwin.mesh import read_mesh

    mesh = read_mesh("meshes/biv.vtu")
    act = np.linalg.norm(np.asarray(mesh.points, float), axis=1)  # any per-node field, ms
    a = ActivationMap.synthetic(mesh, act, 300, off_surface_mm=1.0, offset_ms=17.0, noise_ms=2.0, seed=5)
    b = ActivationMap.synthetic(mesh, act, 300, off_surface_mm=1.0, offset_ms=17.0, noise_ms=2.0, seed=5)
    np.testing.assert_array_equal(a.points_mm, b.points_mm)  # reproducible by seed
    # each point is within 1 mm of a distinct surface node; the times carry the offset and noise of SD 2 ms
    # (300 samples: the sample mean is within 4 standard errors, 4 * 2 / sqrt(300) = 0.46 ms; the SD within 20%)
    d = np.linalg.norm(a.points_mm[:, None] - np.asarray(mesh.points, float)[None], axis=2)
    near = d.argmin(1)
    assert np.all(d.min(1) <= 1.0 + 1e-9) and np.unique(near).size == 300
    resid = a.times_ms - act[near] - 17.0
    assert abs(resid.mean()) < 0.46 and resid.std() == pytest.approx(2.0, rel=0.2)
    with pytest.raises(DataError, match="points asked of a surface of"):
        ActivationMap.synthetic(mesh, act, 10**7)


def test_the_writers_round_trip_through_the_readers(tmp_path):
    from organtwin.calibrate import (
        ActivationMap,
        CuffPressure,
        MeasuredECG,
        VolumeCurve,
    )
    from organtwin.io import (
        read_activation_map,
        read_cuff_pressure,
        read_ecg,
        read_volume_curve,
        write_activation_map_csv,
        write_cuff_json,
        write_ecg_csv,
        write_volume_curve_csv,
    )

    rng = np.random.default_rng(1)
    ecg = MeasuredECG(("I", "II", "V1"), rng.normal(0, 0.3, (50, 3)), 1000.0, 0.0, "x")
    back = read_ecg(write_ecg_csv(ecg, tmp_path / "e.csv", time_offset_ms=12.0))
    assert back.leads == ecg.leads and back.sampling_rate_hz == pytest.approx(1000.0)
    assert back.t0_ms == pytest.approx(12.0)
    np.testing.assert_allclose(back.signals, ecg.signals, atol=5e-6)  # 5 decimals in mV
    amap = ActivationMap(rng.normal(0, 20, (30, 3)), rng.uniform(0, 100, 30), "m")
    am = read_activation_map(write_activation_map_csv(amap, tmp_path / "m.csv"))
    np.testing.assert_allclose(am.points_mm, amap.points_mm, atol=5e-5)
    np.testing.assert_allclose(am.times_ms, amap.times_ms, atol=5e-4)
    curve = VolumeCurve(np.sort(rng.uniform(0, 800, 20)), rng.uniform(60, 130, 20), "LV", "v")
    vc = read_volume_curve(write_volume_curve_csv(curve, tmp_path / "v.csv"))
    assert vc.chamber == "LV"
    np.testing.assert_allclose(vc.volumes_ml, curve.volumes_ml, atol=5e-4)
    cuff = read_cuff_pressure(write_cuff_json(CuffPressure(121.04, 79.96, "c"), tmp_path / "c.json"))
    assert (cuff.systolic_mmhg, cuff.diastolic_mmhg) == (121.0, 80.0)

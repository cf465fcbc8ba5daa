"""The library behind `organtwin flow circulation`: the typed Regazzoni 2022 parameters and their paths, the
activation statistics, the cavity surface for the EDV rule, and the results folder's CSV and printed summary."""

import json

import numpy as np
import pytest

from organtwin._errors import MeshError, NetworkError
from organtwin.flow.zerod import (
    REGAZZONI2022,
    CirculationResult,
    Regazzoni2022,
    activation_statistics,
    cavity_surface,
)
from organtwin.io import circulation_report, write_circulation_csv


def test_param_paths():
    p = Regazzoni2022()
    assert p.as_dict() == REGAZZONI2022 and p.LV.e_active == 2.75 and p.period == 0.8
    q = p.replace("period", 0.9).replace("LV.e_active", 2.0).replace("initial.volume.LV", 110.0)
    eff = q.as_dict()
    assert eff["period"] == 0.9 and eff["LV"]["e_active"] == 2.0 and eff["LV"]["v0"] == 5.0
    assert eff["initial"]["volume"] == {**REGAZZONI2022["initial"]["volume"], "LV": 110.0}
    assert eff["initial"]["pressure"] == REGAZZONI2022["initial"]["pressure"]
    assert p.LV.e_active == 2.75  # the preset itself is unchanged
    assert q == p.merge({"period": 0.9, "LV": {"e_active": 2.0}, "initial": {"volume": {"LV": 110.0}}})
    assert Regazzoni2022.units()["LV.e_active"] == "mmHg/mL" and Regazzoni2022.units()["sys.c_ar"] == "mL/mmHg"
    assert "J. Comput. Phys. 457 (2022) 111083" in Regazzoni2022.citation


@pytest.mark.parametrize(
    "path, words",
    [
        ("XX.e_active", "the preset has no parameter 'XX'; known: period, LA, LV, RA, RV, valves, sys, pul, initial"),
        ("LV.nope", "LV has no parameter 'nope'; known: e_active, e_passive, v0, t_c, T_c, T_r"),
        ("LV", "LV is a group (e_active, e_passive, v0, t_c, T_c, T_r); give one of its parameters, e.g. LV.e_active"),
        ("period.x", "period has no parameter 'x'; known: none (a number)"),
    ],
)
def test_param_path_errors_name_what_exists(path, words):
    with pytest.raises(NetworkError) as e:
        Regazzoni2022().replace(path, 1.0)
    assert str(e.value).startswith(words)


def test_activation_statistics_are_volume_weighted():
    s = activation_statistics([10.0, 20.0, 40.0, 99.0], [1000.0, 1000.0, 2000.0, 0.0])
    assert s["nodes"] == 3 and s["myocardium_mL"] == pytest.approx(4.0)
    assert (s["onset_ms"], s["latest_ms"]) == (10.0, 40.0) and s["mean_ms"] == pytest.approx(27.5)
    assert s["dispersion_sd_ms"] == pytest.approx(np.sqrt((17.5**2 + 7.5**2 + 2 * 12.5**2) / 4))


def test_edv_cavity_surface_by_name():
    from organtwin.mesh import builtin_mesh_path, read_mesh

    m = read_mesh(builtin_mesh_path("biv"))
    s = m.surfaces
    assert (cavity_surface(m, "LV", "x"), cavity_surface(m, "RV", "x")) == ("endo_lv", "endo_rv")
    named = m.replace(
        surfaces={"LV endocardium": s["endo_lv"], "Right_Ventricle cavity": s["endo_rv"], "epi": s["epi"]}
    )
    assert (cavity_surface(named, "LV", "x"), cavity_surface(named, "RV", "x")) == (
        "LV endocardium",
        "Right_Ventricle cavity",
    )
    two = m.replace(surfaces={"LV endocardium": s["endo_lv"], "lv cavity": s["endo_lv"]})
    with pytest.raises(MeshError, match=r"several surfaces could be the LV cavity \(LV endocardium, lv cavity\)"):
        cavity_surface(two, "LV", "x")


def test_circulation_csv_and_report(tmp_path):
    t = np.linspace(0.0, 0.8, 5)
    res = CirculationResult(t, {"LV": t * 100}, {"LV": 100 + t}, {"aortic": -t}, {}, 3, 1e-7, np.full(5, 3025.0))
    cols = write_circulation_csv(tmp_path / "c.csv", res)
    assert cols == ["time_s", "pressure_LV_mmHg", "volume_LV_mL", "flow_aortic_mL_per_s"]
    data = np.loadtxt(tmp_path / "c.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(data, np.column_stack([t, t * 100, 100 + t, -t]), rtol=1e-9)
    m = {
        c: {
            "EF": 0.6,
            "EDV_mL": 120.0,
            "ESV_mL": 48.0,
            "SV_mL": 72.0,
            "cardiac_output_L_per_min": 5.4,
            "peak_pressure_mmHg": 120.0,
            "dPdt_max_mmHg_per_s": 1500.0,
        }
        for c in ("LV", "RV")
    }
    for k in ("aorta", "pulmonary_artery"):
        m[k] = {"systolic_mmHg": 120.0, "diastolic_mmHg": 80.0, "mean_mmHg": 100.0}
    lines = circulation_report(json.loads(json.dumps({"metrics": m})))
    assert lines[0] == (
        "LV: EF 60.0 %, EDV 120.0 mL, ESV 48.0 mL, SV 72.0 mL, CO 5.40 L/min, peak 120.0 mmHg, dP/dt max 1500 mmHg/s"
    )
    assert lines[2] == "aorta: 120.0/80.0 mmHg (mean 100.0)" and lines[3].startswith("pulmonary artery: ")

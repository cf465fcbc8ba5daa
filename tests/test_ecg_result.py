"""The ECG of one beat as a library call (organtwin.ecg.ecg_from_vm / ecg_from_activation -> ECGResult) and its files
(organtwin.io.write_ecg_folder): the result carries leads, times, electrodes and units; non-finite leads are refused
with one line naming the lead, the time and the cause, and `organtwin ecg` then writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from organtwin import InputError, MeshError, OrgantwinError
from organtwin.ecg import (
    ELECTRODE_NAMES,
    LEAD_NAMES,
    ECGResult,
    activation_times,
    ecg_from_activation,
    ecg_from_vm,
)
from organtwin.mesh import slab_mesh

# far from the 2 mm cube, one per electrode (mm)
FAR = {n: np.array([40.0 * np.cos(k), 40.0 * np.sin(k), 10.0 * k]) for k, n in enumerate(ELECTRODE_NAMES)}


@pytest.fixture
def cube():
    return slab_mesh((2.0, 2.0, 2.0), 1.0)


def _vm(mesh, times):
    x = np.asarray(mesh.points)[:, 0]
    return np.where(times[:, None] >= 5.0 * x[None, :], 20.0, -85.0)  # a wave along x at 0.2 mm/ms


def test_ecg_from_vm_returns_the_leads_with_their_units(cube):
    times = np.arange(0.0, 60.0, 1.0)
    res = ecg_from_vm(cube, times, _vm(cube, times), electrodes=FAR)
    assert isinstance(res, ECGResult)
    assert res.leads.shape == (60, 12) and res.times.shape == (60,) and res.lead_names == LEAD_NAMES
    assert res.units["times"] == "ms" and res.units["leads"] == "mV" and res.units["electrodes"] == "mm"
    assert set(res.electrodes) == set(ELECTRODE_NAMES) and np.abs(res.leads).max() > 0
    np.testing.assert_allclose(res.leads[:, 0] + res.leads[:, 2], res.leads[:, 1], atol=1e-9)  # Einthoven
    doc = res.to_json("x.vtu")
    assert doc["source"] == "x.vtu" and doc["method"].startswith("pseudo-ECG") and "qrs_onset_ms" in doc
    lines = res.describe("a test", cube.n_nodes)
    assert lines[0].startswith(f"ECG from a test: {cube.n_nodes} nodes; pseudo-ECG") and "QRS amplitudes" in lines[-1]


def test_ecg_from_activation_equals_the_template_vm(cube):
    from organtwin.ep import APTemplate

    act = np.asarray(cube.points)[:, 0] * 5.0
    times = np.arange(0.0, 40.0, 1.0)
    a = ecg_from_activation(cube, act, times, apd=200.0, electrodes=FAR)
    vm = np.asarray(APTemplate()(act, times, 200.0))
    b = ecg_from_vm(cube, times, vm, electrodes=FAR)
    np.testing.assert_allclose(a.leads, b.leads, rtol=1e-6, atol=1e-9)


def test_activation_times_checks(cube):
    with pytest.raises(MeshError, match="m.vtu: no point data 'activation_time'"):
        activation_times(cube, source="m.vtu")
    with pytest.raises(MeshError, match="no finite value"):
        activation_times(cube, np.full(cube.n_nodes, np.nan))
    act = np.arange(cube.n_nodes, dtype=float)
    act[3] = np.nan
    out = activation_times(cube.replace(point_data={"activation_time": act}))
    assert out[3] == np.inf and out[4] == 4.0


def test_a_nan_in_vm_names_the_lead_the_time_and_the_node(cube):
    times = np.arange(0.0, 20.0, 1.0)
    vm = _vm(cube, times)
    vm[7, 5] = np.nan  # one node at t = 7 ms slipped past the run's checks
    with pytest.raises(InputError) as e:
        ecg_from_vm(cube, times, vm, electrodes=FAR)
    msg = str(e.value)
    assert isinstance(e.value, OrgantwinError) and "\n" not in msg
    assert "lead I is NaN at t = 7 ms" in msg and "Vm is NaN at node 5" in msg, msg


def test_an_electrode_inside_the_heart_names_the_electrode(cube):
    centre = np.asarray(cube.points)[np.asarray(cube.tets)[0]].mean(axis=0)
    with pytest.raises(InputError, match=r"lead V1 is (NaN|inf) at t = 0 ms .*electrode V1 is not finite"):
        ecg_from_vm(cube, np.arange(0.0, 10.0), _vm(cube, np.arange(0.0, 10.0)), electrodes={**FAR, "V1": centre})


def test_cli_prints_one_line_and_writes_nothing_for_a_non_finite_ecg(tmp_path, capsys):
    from cli import one_error_line, run_cli

    from organtwin.mesh import write_mesh

    mesh = slab_mesh((2.0, 2.0, 2.0), 1.0)
    write_mesh(mesh.replace(point_data={"activation_time": np.asarray(mesh.points[:, 0]) * 5.0}), tmp_path / "m.vtu")
    centre = np.asarray(mesh.points)[np.asarray(mesh.tets)[0]].mean(axis=0)
    rows = {**FAR, "V3": centre}
    (tmp_path / "el.csv").write_text(
        "".join(f"{n},{float(x)!r},{float(y)!r},{float(z)!r}\n" for n, (x, y, z) in rows.items())
    )
    rc, out, err = run_cli(
        capsys, "ecg", tmp_path / "m.vtu", "--electrodes", tmp_path / "el.csv", "--out", tmp_path / "e"
    )
    assert rc == 1, (out, err)
    line = one_error_line(err, only=True)
    assert "lead V3 is" in line and "at t = 0 ms" in line and "electrode V3" in line, line
    assert not (tmp_path / "e").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["el.csv", "m.vtu"]


def test_write_ecg_folder(tmp_path, cube):
    from organtwin.io import read_electrodes_csv, write_ecg_folder

    times = np.arange(0.0, 60.0, 1.0)
    res = ecg_from_vm(cube, times, _vm(cube, times), electrodes=FAR)
    files = write_ecg_folder(tmp_path / "e", res, source="cube.vtu")
    assert files == ["ecg.csv", "features.json", "ecg.png", "summary.json"]
    data = np.loadtxt(tmp_path / "e" / "ecg.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(data[:, 1:], res.leads, rtol=1e-5, atol=1e-9)
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["source"] == "cube.vtu" and set(summary["manifest"]["files"]) == {
        "ecg.csv",
        "features.json",
        "ecg.png",
    }
    (tmp_path / "el.csv").write_text("name,x,y,z\n" + "".join(f"{n},{x},{y},{z}\n" for n, (x, y, z) in FAR.items()))
    el = read_electrodes_csv(tmp_path / "el.csv")
    assert set(el) == set(ELECTRODE_NAMES) and np.allclose(el["V6"], FAR["V6"])

"""The library functions the CLI calls after issue 19's thinning (item 5): each command parses, calls one of these and
prints. Fast: fake results where a solve is not the point, one small eikonal solve."""

from __future__ import annotations

import json
import math
import types
import warnings

import numpy as np
import pytest
from _helpers import unchecked

from organtwin._errors import MeshError, MeshWarning


def test_niederer_report_lines():
    from organtwin.ep import NIEDERER_POINTS, niederer_report

    res = types.SimpleNamespace(
        nodes=4305, cells=20160, diffusion="theta 0.5 (Crank-Nicolson), consistent mass", stability_limit=0.0123,
        splitting="godunov", dx=0.3, dt=0.07, activation={k: (math.inf if k == "P9" else 1.0) for k in NIEDERER_POINTS},
        all_activated=False, t_end=100.0, last_activation=math.inf, steps=1429, cg_iterations=2858, wall_s=3.0,
        setup_s=1.0, solve_s=2.0, first_segment_s=1.5,
    )  # fmt: skip
    with unchecked():  # a stand-in with NiedererResult's fields, not the class
        lines = niederer_report(res, automatic=True)  # type: ignore[arg-type]
    assert lines[0] == "mesh       4,305 nodes, 20,160 tets (20 x 7 x 3 mm, fibres along x)"
    assert "(automatic)" in lines[1] and "fenicsx-beat" not in lines[3]  # no reference at this resolution
    assert lines[4].startswith("P1 ") and lines[12].endswith("   never")
    assert "stopped at the cap of 100.0 ms" in lines[13] and "2.0 per step" in lines[14]


def test_write_tuning_json(tmp_path):
    from organtwin.io import write_tuning_json

    r = types.SimpleNamespace(sigma=0.2, cv=0.6, converged=True, history=((0.1, 0.4), (0.2, 0.6)))
    write_tuning_json(tmp_path / "t.json", [r], [0.6], model="m", edge_length_mm=0.5)
    d = json.loads((tmp_path / "t.json").read_text())
    assert d["model"] == "m" and d["edge_length_mm"] == 0.5
    assert d["directions"] == [
        {
            "cv_target_m_per_s": 0.6,
            "sigma_S_per_m": 0.2,
            "cv_m_per_s": 0.6,
            "converged": True,
            "history": [{"sigma_S_per_m": 0.1, "cv_m_per_s": 0.4}, {"sigma_S_per_m": 0.2, "cv_m_per_s": 0.6}],
        }
    ]


def test_run_report_warns_for_nodes_never_activated():
    from organtwin.io import run_report

    config = types.SimpleNamespace(
        simulation=types.SimpleNamespace(duration=50.0), record=types.SimpleNamespace(activation_threshold=-20.0)
    )
    summary = {
        "steps": 10,
        "timing": {"run_s": 1.0, "setup_s": 0.5},
        "activation": {
            "nodes": 4,
            "nodes_activated": 3,
            "first_ms": 1.0,
            "last_ms": 9.0,
            "total_activation_time_ms": 8,
        },
        "apd_ms": {"count": 3, "min": 200.0, "max": 210.0, "mean": 205.0},
    }
    with pytest.warns(MeshWarning, match="1 of 4 nodes"):
        lines = run_report(summary, config)
    assert lines == [
        "ran 10 steps in 1.0 s (set-up 0.5 s)",
        "activation 1 ms .. 9 ms (total activation time 8 ms); 3 of 4 nodes activated",
        "APD 200 .. 210 ms (mean 205 ms) at 3 nodes",
    ]
    summary["activation"]["nodes_activated"] = 0
    assert run_report(summary, config)[1] == "no node activated (threshold -20 mV)"


def test_file_summary_names_the_file(tmp_path):
    from organtwin.mesh import file_summary, slab_mesh, write_mesh

    mesh = slab_mesh((2.0, 2.0, 2.0), 1.0)
    write_mesh(mesh, tmp_path / "s.vtu")
    s = file_summary(tmp_path / "s.vtu", mesh)
    assert s["file"] == str(tmp_path / "s.vtu") and s["nodes"] == 27
    assert s["fibre_quality"]["as_in_file"] is True


def test_eikonal_activation_map_checks_then_solves():
    from organtwin.ep import eikonal_activation_map
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((4.0, 2.0, 2.0), 1.0)
    with pytest.raises(MeshError, match="--regions: no region 7 in slab"):
        eikonal_activation_map(mesh, [((0, 0, 0), 0.0)], 0.5, regions=[7], source="slab")
    with pytest.raises(MeshError, match="no sheet directions, needed for --cv-normal"):
        eikonal_activation_map(mesh.replace(sheets=None), [((0, 0, 0), 0.0)], 0.5, 0.3, 0.2, source="slab")
    said = []
    res = eikonal_activation_map(mesh, [((0, 0, 0), 0.0)], 0.5, 0.25, radius=0.0, say=said.append)
    assert said and said[0].startswith("fibres")
    t = res.mesh.point_data["activation_time"]
    assert np.all(np.isfinite(t)) and t.min() == 0.0 and res.sites == 1 and res.radius == 0.0
    far = np.argmax(mesh.points[:, 0])  # 4 mm along the fibre at 0.5 mm/ms: about 8 ms
    assert t[far] == pytest.approx(8.0, rel=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lines = res.describe()
    assert lines[0].startswith(f"{mesh.n_nodes} nodes, {mesh.n_cells} tets; 1 site (source radius 0 mm)")


def test_load_ep_case_overrides_the_fibre_source():
    from organtwin.io import load_case, load_ep_case

    case = "examples/ep/slab.toml"
    assert load_ep_case(case) == load_case(case)
    config = load_ep_case(case, fibres="none")
    assert config.fibres.source == "none"
    assert config.fibres.alpha_endo == load_case(case).fibres.alpha_endo  # the case's angles are kept


def test_written_line_counts_the_snapshots():
    from organtwin.io import written_line

    summary = {"files": ["activation.vtu", "vm.pvd", "vm/vm_0000.vtu", "vm/vm_0001.vtu", "probes.csv", "summary.json"]}
    assert written_line("out", summary, 1.25) == (
        "wrote out: activation.vtu, vm.pvd (2 snapshots in vm/), probes.csv, summary.json in 1.2 s"
    )
    assert written_line("o", {"files": ["activation.vtu"]}, 3.0) == "wrote o: activation.vtu in 3.0 s"


def test_tuning_table_rows():
    from organtwin.io import TUNING_HEADER, tuning_row

    assert TUNING_HEADER == "target m/s  sigma S/m   CV m/s  runs"
    r = types.SimpleNamespace(sigma=0.2, cv=0.6, converged=True, history=((0.1, 0.4), (0.2, 0.6)))
    assert tuning_row(0.6, r) == "       0.6        0.2      0.6     2"
    r = types.SimpleNamespace(sigma=0.2, cv=0.5, converged=False, history=((0.2, 0.5),))
    assert tuning_row(0.6, r).endswith("    1  (not converged: closest)")


def test_ecg_placement_refusal_says_how_to_give_electrodes(builtin_biv):
    from organtwin.io import ecg_placement

    with pytest.raises(MeshError, match=r"; or give --electrodes FILE.csv \(name,x,y,z in mm\)$"):
        ecg_placement(builtin_biv, lv=[1], rv=[1])  # one region for both ventricles: no axis to place from
    assert ecg_placement(builtin_biv, lv=[1], rv=[2]) is not None


def test_convert_mesh_cuts_regions_and_separates_tag_fields():
    from organtwin.mesh import convert_mesh, slab_mesh

    slab = slab_mesh((2.0, 1.0, 1.0), 0.5)
    centre_x = np.asarray(slab.points)[np.asarray(slab.tets)].mean(axis=1)[:, 0]
    two = slab.replace(regions=np.where(centre_x < 1.0, 1, 2), cell_data={"tag": np.ones(slab.n_cells, int)})
    mesh, dropped = convert_mesh(two, regions=[2])
    assert mesh.region_ids.tolist() == [2] and dropped == ["tag"] and "tag" not in mesh.cell_data
    assert mesh.n_cells == int((two.regions == 2).sum())
    kept, renamed = convert_mesh(two, keep_fields=True)
    assert renamed == ["tag"] and "orig:tag" in kept.cell_data and kept.n_cells == two.n_cells
    with pytest.raises(MeshError):
        convert_mesh(two, regions=[7])

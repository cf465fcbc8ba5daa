"""A 0D result with NaN or inf is refused in one line before anything is written (never a CSV of NaN with exit status
0), and a stenosis with R = L = 0 (a flow-dependent resistance alone, svZeroDSolver's CStenosis cases) is solved.

tests/data/zerod/overflow_stenosis.json (ours): a steady flow of 1e160 through a stenosis, whose pressure drop S Q²
overflows float64: a truly non-finite solution. tests/data/zerod/capacitive_stenosis.json (ours): C > 0, R = L = 0
and a stenosis coefficient between a sine inflow and a constant pressure. Its solution is analytic: the capacitor
sits on the prescribed constant pressure, so the outlet flow is the inlet flow and the inlet pressure P_out + S|Q|Q;
svzerod 3.2 (generalized-α at its output step, differentiating that algebraic constraint) rings at its own resolution
and converges to it (at 50x its points within 1e-6 of the range)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli import one_error_line, run_cli

DATA = Path(__file__).parent / "data" / "zerod"


def test_a_non_finite_solution_is_refused_and_nothing_written(capsys, tmp_path):
    out = tmp_path / "out.csv"
    rc, _, err = run_cli(capsys, "flow", "zerod", DATA / "overflow_stenosis.json", "--out", out)
    line = one_error_line(err)
    assert rc == 1
    assert "non-finite values" in line and "nothing was written" in line
    assert not out.exists()


def test_a_stenosis_alone_agrees_with_the_analytic_solution_and_svzerod_converged(capsys, tmp_path):
    pd = pytest.importorskip("pandas")
    svzerod = pytest.importorskip("svzerod", reason="svzerod is a test dependency: pip install -e '.[test]'")
    out = tmp_path / "out.csv"
    rc, _, err = run_cli(capsys, "flow", "zerod", DATA / "capacitive_stenosis.json", "--out", out)
    assert rc == 0, err
    ours = pd.read_csv(out)
    cfg = json.loads((DATA / "capacitive_stenosis.json").read_text())
    s = cfg["vessels"][0]["zero_d_element_values"]["stenosis_coefficient"]
    p_out = cfg["boundary_conditions"][1]["bc_values"]["P"][0]
    q = ours["flow_in"].to_numpy()
    assert np.all(np.isfinite(ours[["flow_in", "flow_out", "pressure_in", "pressure_out"]].to_numpy()))
    np.testing.assert_allclose(ours["flow_out"], q, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours["pressure_in"], p_out + s * np.abs(q) * q, rtol=1e-9)
    k = 50  # svzerod at 50x its points: its step error (ringing of the outlet flow) is gone
    sim = cfg["simulation_parameters"]
    sim["number_of_time_pts_per_cardiac_cycle"] = k * (sim["number_of_time_pts_per_cardiac_cycle"] - 1) + 1
    peer = svzerod.simulate(cfg)
    peer = peer[peer["name"] == ours["name"][0]] if "name" in peer else peer
    for col in ("flow_in", "flow_out", "pressure_in", "pressure_out"):
        b = peer[col].to_numpy()[::k]
        assert np.max(np.abs(ours[col].to_numpy() - b)) <= 1e-4 * np.max(np.abs(b)), col

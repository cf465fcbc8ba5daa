"""A 0D result with NaN is refused in one line before anything is written (never a CSV of NaN with exit status 0).

The config (tests/data/zerod/capacitive_stenosis.json, ours) has the shape of svZeroDSolver's CStenosis cases: a vessel
with C > 0, R = L = 0 and only the flow-dependent stenosis resistance, between a sine inflow and a constant pressure.
organtwin's solution of it is NaN today (issue 25: the root cause is open); this test keeps the refusal honest."""

from __future__ import annotations

from pathlib import Path

from cli import one_error_line, run_cli

DATA = Path(__file__).parent / "data" / "zerod"


def test_a_non_finite_solution_is_refused_and_nothing_written(capsys, tmp_path):
    out = tmp_path / "out.csv"
    rc, _, err = run_cli(capsys, "flow", "zerod", DATA / "capacitive_stenosis.json", out)
    line = one_error_line(err)
    assert rc == 1
    assert "non-finite values" in line and "nothing was written" in line
    assert not out.exists()

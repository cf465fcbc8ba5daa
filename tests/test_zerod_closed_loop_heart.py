"""svZeroDSolver's closed-loop heart (``closed_loop_blocks`` / ClosedLoopHeartAndPulmonary) and its closed-loop coronary
outlets (ClosedLoopCoronaryLeft/Right), side by side with svZeroDSolver 3.2 (PyPI ``svzerod``) run live.

Configurations written here (tests/data/zerod, units mmHg, mL, s, as svZeroDSolver's closed-loop cases):

* ``heart_single_loop`` — the heart drives an aorta splitting into two branches, each returning to the right atrium
  through a ClosedLoopRCR (closed_loop_outlet true); vessel-based output. The branches have inductance and no
  capacitance: the junction and their inner points are joined to the rest only by inductors (index 2);
* ``heart_coronaries`` — the heart feeds three vessels at once (its outlet_blocks): a systemic one closed by a
  ClosedLoopRCR and one each to a left and a right closed-loop coronary; variable-based output, so the heart's twelve
  internal variables (V_RA:CLH ... Q_LV:CLH) and the coronaries' volume_im are compared by name too.

Both run two beats from the given volumes at 1000 points per beat, where svzerod's own step error is ~1e-3 (measured
against svzerod at 4000 points, which agrees with organtwin to ≲ 6e-5): every series must agree within 1 % of its range
at every time and within 1 % relative L2. Measured: ≲ 5e-4 relative L2 (single loop), ≲ 1e-3 (coronaries, Q_LV:CLH the
worst); the largest pointwise difference is ~7e-3 of the range (Q_LA:CLH), at a valve's switching.

The peer's own cases (its repository snapshot, when present: never in CI) are checked in the ``slow`` test at the end.
"""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from organtwin._errors import NetworkError
from organtwin.flow import zerod as z

DATA = Path(__file__).parent / "data" / "zerod"
MIRROR = Path(os.environ.get("SVZERODSOLVER_REPO", "/work/.mirror/SimVascular+svZeroDSolver/repo"))


def _svzerod():
    return pytest.importorskip("svzerod", reason="svzerod is a test dependency: pip install -e '.[test]'")


def _config(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def _frame(csv: str):
    import pandas as pd

    return pd.read_csv(io.StringIO(csv))


def _compare(ours, theirs, by_name: bool) -> float:
    """Worst relative L2 over every series; each also within 1 % of its range at every time."""
    worst = 0.0
    if by_name:  # variable-based: one series per name
        assert set(ours.name) == set(theirs.name)
        pairs = [(n, ours[ours.name == n].y.to_numpy(), theirs[theirs.name == n].y.to_numpy()) for n in set(ours.name)]
    else:
        assert list(ours.name) == list(theirs.name)
        cols = ("flow_in", "flow_out", "pressure_in", "pressure_out")
        pairs = [
            (f"{n}.{c}", ours[ours.name == n][c].to_numpy(), theirs[theirs.name == n][c].to_numpy())
            for n in set(ours.name)
            for c in cols
        ]
    for key, a, b in pairs:
        assert a.shape == b.shape, key
        # within 1 % of the series' range at every time (svZeroDSolver's own formula, |a − b| <= 0.01 + 0.01 |b|, fails
        # only at valve switching: one solver's valve flow is still 0 where the other's is ~3e-4 of its range)
        assert np.max(np.abs(a - b)) <= 0.01 * np.max(np.abs(b)) + 1e-12, (key, np.max(np.abs(a - b)))
        scale = np.linalg.norm(b)
        err = np.linalg.norm(a - b) / scale if scale else np.max(np.abs(a))
        assert err < 1e-2, (key, err)
        worst = max(worst, err)
    return worst


@pytest.mark.parametrize("name", ["heart_single_loop", "heart_coronaries"])
def test_closed_loop_heart_against_svzerod(name):
    svzerod = _svzerod()
    cfg = _config(name)
    res = z.run_svzerod(z.read_svzerod(cfg))
    by_name = bool(cfg["simulation_parameters"].get("output_variable_based"))
    worst = _compare(_frame(z.svzerod_csv(res)), svzerod.simulate(cfg), by_name)
    assert worst < 2e-3
    if by_name:  # the heart's internal variables and the coronaries' volumes are all there, by svZeroDSolver's names
        names = set(_frame(z.svzerod_csv(res)).name)
        assert {f"{v}:CLH" for v in z.ClosedLoopHeartPulmonary.VARIABLES} <= names
        assert {"volume_im:LCA", "volume_im:RCA"} <= names


def test_heart_parameters_are_array_leaves():
    """Every heart and coronary parameter is an array leaf of the compiled model (calibratable, e.g. by jax.grad)."""
    import equinox as eqx

    model = z.read_svzerod(_config("heart_coronaries")).network.compile()
    heart = model.blocks["CLH"]
    assert isinstance(heart, z.ClosedLoopHeartPulmonary)
    for field in (*z.HEART_PARAMETERS.values(), "period"):
        assert eqx.is_inexact_array(getattr(heart, field)), field
    lca = model.blocks["LCA"]
    assert isinstance(lca, z.ClosedLoopCoronary) and lca.side is z.CoronarySide.LEFT
    assert model.blocks["RCA"].side is z.CoronarySide.RIGHT
    for field in ("ra", "ram", "rv", "ca", "cim"):
        assert eqx.is_inexact_array(getattr(lca, field)), field
    # the coronaries' intramyocardial pressure follows the ventricles: d(rhs)/d(iml) is not zero
    import jax
    import jax.numpy as jnp

    y = jnp.ones(model.structure.n_state) * 10.0
    d = jax.grad(lambda m: jnp.sum(m.rhs(0.3, y) ** 2), allow_int=True)(model)
    assert float(jnp.abs(d.blocks["CLH"].iml)) > 0


def _with(cfg: dict, path: tuple, value) -> dict:
    cfg = json.loads(json.dumps(cfg))
    d = cfg
    for k in path[:-1]:
        d = d[k]
    if value is None:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return cfg


_HEART = ("closed_loop_blocks", 0)


@pytest.mark.parametrize(
    "path, value, words",
    [
        # svZeroDSolver refuses a period that differs from the heart's ("Inconsistent cardiac cycle period"; its
        # closedLoopHeart_singleVessel_mistmatchPeriod case is marked an expected failure for it): so do we
        (("simulation_parameters", "cardiac_period"), 0.67, ["'cardiac_period' is a period of 0.67 s", "0.9 s"]),
        (("simulation_parameters", "steady_initial"), True, ["steady_initial is not supported", "initial_condition"]),
        ((*_HEART, "parameters", "Elv_s"), None, ["lacks 'Elv_s'"]),
        ((*_HEART, "parameters", "Lra_v"), 0.0, ["CLH", "lra_v must be > 0"]),
        ((*_HEART, "parameters", "Rpd"), "x", ["'Rpd' must be a number"]),
        ((*_HEART, "parameters", "Emax_rv"), 1.0, ["unknown parameter 'Emax_rv'"]),
        ((*_HEART, "closed_loop_type"), "Heart", ["closed_loop_type 'Heart' is not supported"]),
        ((*_HEART, "cardiac_cycle_period"), None, ["lacks 'cardiac_cycle_period'"]),
        ((*_HEART, "outlet_blocks"), [], ["'outlet_blocks' must be a list of block names"]),
    ],
)
def test_heart_config_errors_are_one_line(path, value, words):
    cfg = _with(_config("heart_single_loop"), path, value)
    with pytest.raises(NetworkError) as e:
        z.read_svzerod(cfg)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_coronary_config_errors_are_one_line():
    cfg = _config("heart_coronaries")
    bad = _with(cfg, ("boundary_conditions", 1, "bc_values", "Cim"), -1.0)
    with pytest.raises(NetworkError, match="block LCA: cim must be >= 0"):
        z.read_svzerod(bad)
    bad = _with(cfg, ("boundary_conditions", 2, "bc_values", "Ram"), None)
    with pytest.raises(NetworkError, match="boundary condition RCA lacks 'Ram'"):
        z.read_svzerod(bad)
    no_heart = _with(cfg, ("closed_loop_blocks",), None)
    with pytest.raises(NetworkError, match="add a ClosedLoopHeartAndPulmonary in closed_loop_blocks"):
        z.read_svzerod(no_heart)
    two = _with(cfg, ("closed_loop_blocks",), cfg["closed_loop_blocks"] * 2)
    with pytest.raises(NetworkError, match="only one ClosedLoopHeartAndPulmonary"):
        z.read_svzerod(two)


# ------------------------------------------------------------------------------------ the peer's own cases (optional)
PEER_CASES = [
    "closedLoopHeart_singleVessel",
    "closedLoopHeart_withCoronaries",
]


def _peer_file(path: str) -> str | None:
    import subprocess

    if not MIRROR.exists():
        return None
    out = subprocess.run(["git", "-C", str(MIRROR), "show", f"HEAD:{path}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


@pytest.mark.slow
@pytest.mark.parametrize("case", PEER_CASES)
def test_peer_closed_loop_cases(case):
    """The peer's cases (read from its repository snapshot; skipped where there is none). Its expected results are
    svZeroDSolver at 100 points per beat, whose own step error there is up to 23 % of the flow's range (svzerod at 100
    against 4000 points): we check that svzerod live reproduces its expected results, and that organtwin agrees within
    1 % with svzerod converged (4000 points per beat; measured ≲ 3e-5)."""
    svzerod = _svzerod()
    text = _peer_file(f"tests/cases/{case}.json")
    expected = _peer_file(f"tests/cases/results/result_{case}.json")
    if text is None or expected is None:
        pytest.skip("svZeroDSolver's repository snapshot is not here (SVZERODSOLVER_REPO)")
    import pandas as pd

    cfg = json.loads(text)
    ref = pd.read_json(io.StringIO(expected))
    live = svzerod.simulate(cfg)
    for c in ("flow_in", "pressure_in"):
        np.testing.assert_allclose(live[c].to_numpy(), ref[c].to_numpy(), rtol=1e-6, atol=1e-6)
    fine = _with(cfg, ("simulation_parameters", "number_of_time_pts_per_cardiac_cycle"), 4000)
    ours = _frame(z.svzerod_csv(z.run_svzerod(z.read_svzerod(fine))))
    assert _compare(ours, svzerod.simulate(fine), by_name=False) < 1e-3


def test_peer_mismatch_period_case_refused():
    """svZeroDSolver's closedLoopHeart_singleVessel_mistmatchPeriod (cardiac_period 0.67 s against the heart's 1.0169
    s) is refused by svZeroDSolver itself, which its test suite marks as an expected failure; organtwin refuses it
    with one line saying so."""
    text = _peer_file("tests/cases/closedLoopHeart_singleVessel_mistmatchPeriod.json")
    if text is None:
        pytest.skip("svZeroDSolver's repository snapshot is not here (SVZERODSOLVER_REPO)")
    with pytest.raises(NetworkError, match="Inconsistent cardiac cycle period"):
        z.read_svzerod(json.loads(text))

"""Side by side with svZeroDSolver (PyPI ``svzerod``, a test dependency), run live on the same configurations.

The configurations (tests/data/zerod, see its README) cover a steady vessel with stenosis, a pulsatile vessel with an RCR
outlet, a bifurcation through a junction, a BloodVesselJunction bifurcation, a pressure-driven chain with L = 0 and C = 0
vessels, and the Regazzoni 2022 closed loop with four chambers and four valves. Every series of the last (periodic) cycle
— flow and pressure at every connection, chamber volumes, RCR capacitor pressures — must agree within 1% relative L2
(the issue's bar); both codes integrate the same equations, svZeroDSolver with generalized-α at the output step, we with
adaptive Tsit5, so the difference is svZeroDSolver's time-discretisation error (measured ~1e-4 at these steps).
"""

import io
from pathlib import Path

import numpy as np
import pytest

from organtwin.flow import zerod as z

svzerod = pytest.importorskip("svzerod", reason="svzerod is a test dependency: pip install -e '.[test]'")

DATA = Path(__file__).parent / "data" / "zerod"
CONFIGS = ["steady_vessel", "pulsatile_rcr", "bifurcation", "bifurcation_bvj", "pressure_inlet", "closed_loop_heart"]


def _series(df_or_csv):
    import pandas as pd

    df = pd.read_csv(io.StringIO(df_or_csv)) if isinstance(df_or_csv, str) else df_or_csv
    value_cols = [c for c in df.columns if c not in ("name", "time")]
    return {(name, col): g[col].to_numpy(float) for name, g in df.groupby("name") for col in value_cols}


@pytest.mark.parametrize("name", CONFIGS)
def test_agrees_with_svzerod_within_one_percent(name):
    import json

    config = json.loads((DATA / f"{name}.json").read_text())
    ours = z.run_svzerod(z.read_svzerod(config))
    for variable_based in (False, True):
        cfg = json.loads(json.dumps(config))
        cfg["simulation_parameters"]["output_variable_based"] = variable_based
        theirs = _series(svzerod.simulate(cfg))
        mine = _series(z.svzerod_csv(ours, variable_based=variable_based))
        assert set(theirs) <= set(mine), sorted(set(theirs) - set(mine))[:5]
        for key, ref in theirs.items():
            got = mine[key]
            assert got.shape == ref.shape, key
            scale = np.linalg.norm(ref)
            if scale == 0:
                assert np.max(np.abs(got)) < 1e-9
                continue
            err = np.linalg.norm(got - ref) / scale
            assert err < 1e-2, (key, err)

"""Make this case's data (lv_volume.csv, aorta_pressure.csv, truth.json) with svZeroDSolver itself (PyPI ``svzerod``,
3.2, run live), from the configuration the case fits (organtwin's shipped ``svzerod:lv_loop_cgs``, cgs units) with
three of its values changed.

Truth (not in case.toml), in the configuration's units: LV.Emax 4400 dyn/cm²/mL (shipped 3666.37), SYS.C 6.75e-4
cm⁵/dyn (shipped 9.0e-4), SYS.Rd 1333 dyn·s/cm⁵ (shipped 1066.58). svzerod runs 30 beats at 3201 points per beat (its
generalized-α at absolute_tolerance 1e-2 dyn/cm²: at its default 1e-8 it stops, cgs pressures being ~1e5); the last
beat gives 25 LV volumes (``Vc:LV``, mL, 3 mL noise, the frames of a cine segmentation) and 40 aortic-root pressures
(``pressure:AV:aorta``, converted dyn/cm² → mmHg by / 1333.22, 2 mmHg noise, a catheter), times in ms from the beat's
start. organtwin integrates the same equations with its own solver (diffrax), so the fit is not svzerod's own numbers
fed back.

Run from the repository root: python calibration/e_svzerod_config/make_data.py (a few seconds).
"""

import copy
import json
from pathlib import Path

import numpy as np
import svzerod

from organtwin.io._svzerod_case import CONFIGS_DIR

HERE = Path(__file__).resolve().parent
MMHG = 1333.2238741499998  # dyn/cm² per mmHg
TRUTH = {"LV.Emax": 4400.0, "SYS.C": 6.75e-4, "SYS.Rd": 1333.0}


def main():
    c = json.loads((CONFIGS_DIR / "lv_loop_cgs.json").read_text())
    c = copy.deepcopy(c)
    c["chambers"][0]["values"]["Emax"] = TRUTH["LV.Emax"]
    c["boundary_conditions"][0]["bc_values"]["C"] = TRUTH["SYS.C"]
    c["boundary_conditions"][0]["bc_values"]["Rd"] = TRUTH["SYS.Rd"]
    sim = c["simulation_parameters"]
    sim.update(output_variable_based=True, number_of_cardiac_cycles=30, number_of_time_pts_per_cardiac_cycle=3201)
    sim.update(absolute_tolerance=1e-2, maximum_nonlinear_iterations=100)
    df = svzerod.simulate(c)
    T = sim["cardiac_period"]
    rng = np.random.default_rng(11)

    def last_beat(name):
        g = df[df["name"] == name]
        t, y = np.asarray(g["time"], float), np.asarray(g["y"], float)
        keep = t >= t[-1] - T * (1 - 1e-9)
        return 1000.0 * (t[keep] - t[keep][0]), y[keep]

    t, v = last_beat("Vc:LV")
    tv = np.sort(rng.uniform(0.0, 1000.0 * T, 25))
    vv = np.interp(tv, t, v) + rng.normal(0.0, 3.0, tv.size)
    (HERE / "lv_volume.csv").write_text(
        "time_ms,LV_volume_ml\n" + "".join(f"{a:.1f},{b:.3f}\n" for a, b in zip(tv, vv))
    )
    t, p = last_beat("pressure:AV:aorta")
    tp = np.linspace(0.0, 1000.0 * T, 40, endpoint=False)
    pp = np.interp(tp, t, p) / MMHG + rng.normal(0.0, 2.0, tp.size)
    (HERE / "aorta_pressure.csv").write_text(
        "time_ms,aorta_pressure_mmhg\n" + "".join(f"{a:.1f},{b:.3f}\n" for a, b in zip(tp, pp))
    )
    (HERE / "truth.json").write_text(json.dumps(TRUTH, indent=1) + "\n")
    print(
        f"LV {v.min():.1f}-{v.max():.1f} mL, aortic root {p.min() / MMHG:.1f}-{p.max() / MMHG:.1f} mmHg (svzerod, last "
        "of 30 beats)"
    )


if __name__ == "__main__":
    main()

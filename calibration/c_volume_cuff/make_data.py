"""Make this case's data (lv_volume.csv, cuff.json, truth.json): an imaging LV volume curve and a cuff pressure from
a DIFFERENT 0D model than the one fitted.

Truth (not in case.toml): Regazzoni et al. 2022 closed loop with LV active elastance 2.3 mmHg/mL, systemic arterial
resistance 1.1 mmHg·s/mL and capacitance 1.0 mL/mmHg (published 2.75, 0.8, 1.2); every other parameter published.
The data model switches its valves abruptly (`ValveLaw.PIECEWISE`, the paper's law) and is run to a converged periodic
state (cycle-to-cycle change < 1e-6); the fitted model has smooth tanh valves (`ValveLaw.TANH`, what gradients need)
and a fixed number of cycles, so the fit is no inverse crime. 40 LV volumes at random times of the beat (a cine MRI
segmentation's frames) with 3 mL Gaussian noise; cuff systolic/diastolic with 2 mmHg noise.

Run from the repository root: python calibration/c_volume_cuff/make_data.py (a few seconds).
"""

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from organtwin.calibrate import synthetic_volume_and_cuff  # noqa: E402
from organtwin.flow.zerod import ValveLaw, regazzoni2022, simulate_circulation  # noqa: E402
from organtwin.io import write_cuff_json, write_volume_curve_csv  # noqa: E402

HERE = Path(__file__).resolve().parent
PARAMS = {"LV": {"e_active": 2.3}, "sys": {"r_ar": 1.1, "c_ar": 1.0}}
TRUTH = {
    "circulation.model.blocks.LV.e_active": 2.3,
    "circulation.model.blocks.sys_art_RL.resistance[0]": 1.1,
    "circulation.model.blocks.sys_art.capacitance": 1.0,
    "circulation.model.blocks.RA.e_active": 0.06,
}


def main():
    r = simulate_circulation(regazzoni2022(valve_law=ValveLaw.PIECEWISE, params=PARAMS), points_per_cycle=1601)
    curve, cuff = synthetic_volume_and_cuff(r, 40, volume_noise_ml=3.0, cuff_noise_mmhg=2.0, seed=5)
    write_volume_curve_csv(curve, HERE / "lv_volume.csv")
    write_cuff_json(cuff, HERE / "cuff.json")
    (HERE / "truth.json").write_text(json.dumps(TRUTH, indent=1) + "\n")
    a = r.metrics["aorta"]
    print(
        f"EDV {r.metrics['LV']['EDV_mL']:.1f} mL, ESV {r.metrics['LV']['ESV_mL']:.1f} mL, aorta "
        f"{a['systolic_mmHg']:.1f}/{a['diastolic_mmHg']:.1f} mmHg (cuff {cuff.systolic_mmhg:.1f}/"
        f"{cuff.diastolic_mmhg:.1f}); {r.cycles} cycles to periodic"
    )


if __name__ == "__main__":
    main()

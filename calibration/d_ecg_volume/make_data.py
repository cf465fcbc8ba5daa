"""Make this case's data (ecg.csv, lv_volume.csv, truth.json): a 12-lead ECG and an LV volume curve of the same beat
from a FINER mesh and a DIFFERENT 0D model than the ones fitted.

Truth (not in case.toml): isotropic conduction velocity LV 0.58 m/s, RV 0.42 m/s, RV site onset 6 ms; LV active
elastance 2.4 mmHg/mL and systemic arterial resistance 1.05 mmHg·s/mL (published 2.75, 0.8). Sites LV (2, 1, -62) and
RV (1, -27, -24) mm are known (e.g. from an earlier map, case a) and fixed. The electrical activation on
`biv_mesh(h=1.6)` (32,031 nodes; the fit uses the built-in 10,792-node biv.vtu) gives the ECG (upstroke tau 3 ms,
APD 280 ms, pseudo-ECG) and drives the ventricles of the Regazzoni 2022 loop (volume-weighted quantiles of activation,
organtwin.couple); the data loop has abrupt valves (`ValveLaw.PIECEWISE`) run to a converged periodic state, the
fitted one smooth tanh valves and a fixed number of cycles. ECG 1 kHz, 0..400 ms, 20 dB noise, the record's clock 15 ms
ahead; 30 LV volumes with 3 mL noise; a cuff systolic/diastolic pressure with 2 mmHg noise.

Run from the repository root: python calibration/d_ecg_volume/make_data.py (about a minute).
"""

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from organtwin import ep  # noqa: E402
from organtwin.calibrate import (  # noqa: E402
    EikonalECG,
    add_noise,
    synthetic_volume_and_cuff,
)
from organtwin.couple import couple_circulation, region_node_volumes  # noqa: E402
from organtwin.flow.zerod import ValveLaw, regazzoni2022, simulate_circulation  # noqa: E402
from organtwin.io import write_cuff_json, write_ecg_csv, write_volume_curve_csv  # noqa: E402
from organtwin.mesh import biv_mesh  # noqa: E402

HERE = Path(__file__).resolve().parent
TRUTH = {
    "tissue.velocity[0, 0]": 0.58,
    "tissue.velocity[1, 0]": 0.42,
    "sites.rv.onset": 6.0,
    "circulation.model.blocks.LV.e_active": 2.4,
    "circulation.model.blocks.sys_art_RL.resistance[0]": 1.05,
}
RECORD_OFFSET_MS = 15.0


def main():
    mesh = biv_mesh(h=1.6)
    tissue = ep.EikonalTissue.from_mesh(mesh, {1: ep.ConductionVelocity(0.58), 2: ep.ConductionVelocity(0.42)})
    sites = (ep.EikonalSite((2.0, 1.0, -62.0), 0.0, radius=5.0), ep.EikonalSite((1.0, -27.0, -24.0), 6.0, radius=5.0))
    act = ep.simulate_eikonal(tissue, sites).activation
    fwd = EikonalECG.from_mesh(mesh, np.arange(0.0, 400.0, 1.0), template=ep.APTemplate(tau_up=3.0), apd_ms=280.0)
    clean = fwd.synthetic(act, source="truth")
    write_ecg_csv(add_noise(clean, 20.0, seed=8), HERE / "ecg.csv", time_offset_ms=RECORD_OFFSET_MS)
    write_ecg_csv(clean, HERE / "ecg_clean.csv", time_offset_ms=RECORD_OFFSET_MS)
    circ = regazzoni2022(valve_law=ValveLaw.PIECEWISE, params={"LV": {"e_active": 2.4}, "sys": {"r_ar": 1.05}})
    circ = couple_circulation(circ, act, region_node_volumes(mesh, [1]), region_node_volumes(mesh, [2]))
    r = simulate_circulation(circ, points_per_cycle=1601)
    curve, cuff = synthetic_volume_and_cuff(r, 30, volume_noise_ml=3.0, cuff_noise_mmhg=2.0, seed=9)
    write_volume_curve_csv(curve, HERE / "lv_volume.csv")
    write_cuff_json(cuff, HERE / "cuff.json")
    (HERE / "truth.json").write_text(json.dumps(TRUTH, indent=1) + "\n")
    print(
        f"data mesh {mesh.n_nodes} nodes; EDV {r.metrics['LV']['EDV_mL']:.1f} ESV {r.metrics['LV']['ESV_mL']:.1f} mL; "
        f"{r.cycles} cycles"
    )


if __name__ == "__main__":
    main()

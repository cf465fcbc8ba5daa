"""Make this case's data (ecg.csv, truth.json; ecg_clean.csv for evaluation only): a 12-lead ECG from a FINER mesh than
the one fitted, with 20 dB noise.

Truth (not in case.toml): isotropic conduction velocity LV 0.62 m/s, RV 0.45 m/s; earliest-activation sites LV
(3, 2, -61) mm at 0 ms and RV (2, -26, -23) mm at 8 ms (5 mm source balls). The data mesh is `biv_mesh(h=1.1)`
(84,785 nodes); the fitted mesh is `biv_mesh(h=1.4)` (45,916 nodes), so the fit is no inverse crime. ECG: eikonal
-> action-potential template (upstroke tau 2 ms, APD 280 ms) -> pseudo-ECG (sigma_i 0.2, sigma_b 0.7 S/m) at the
standard electrodes placed from the mesh's heart axis; sampled at 1 kHz on 0..400 ms of a record whose clock runs
20 ms ahead of the model's (the record starts before the QRS); white noise per lead at 20 dB SNR (noise SD = RMS of
the lead / 10).

Run from the repository root: python calibration/b_ecg/make_data.py (about a minute).
"""

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from organtwin import ep  # noqa: E402
from organtwin.calibrate import EikonalECG, add_noise  # noqa: E402
from organtwin.ecg import LEAD_NAMES  # noqa: E402
from organtwin.io import write_ecg_csv  # noqa: E402
from organtwin.mesh import biv_mesh  # noqa: E402

HERE = Path(__file__).resolve().parent
TRUTH = {
    "tissue.velocity[0, 0]": 0.62,
    "tissue.velocity[1, 0]": 0.45,
    "sites.lv.position[0]": 3.0,
    "sites.lv.position[1]": 2.0,
    "sites.lv.position[2]": -61.0,
    "sites.rv.position[0]": 2.0,
    "sites.rv.position[1]": -26.0,
    "sites.rv.position[2]": -23.0,
    "sites.rv.onset": 8.0,
}
RECORD_OFFSET_MS = 20.0


def main():
    mesh = biv_mesh(h=1.1)
    tissue = ep.EikonalTissue.from_mesh(mesh, {1: ep.ConductionVelocity(0.62), 2: ep.ConductionVelocity(0.45)})
    sites = (ep.EikonalSite((3.0, 2.0, -61.0), 0.0, radius=5.0), ep.EikonalSite((2.0, -26.0, -23.0), 8.0, radius=5.0))
    act = ep.simulate_eikonal(tissue, sites).activation
    fwd = EikonalECG.from_mesh(mesh, np.arange(0.0, 400.0, 1.0), template=ep.APTemplate(tau_up=2.0), apd_ms=280.0)
    clean = fwd.synthetic(act, source="truth")
    noisy = add_noise(clean, 20.0, seed=4)
    write_ecg_csv(noisy, HERE / "ecg.csv", time_offset_ms=RECORD_OFFSET_MS)
    write_ecg_csv(clean, HERE / "ecg_clean.csv", time_offset_ms=RECORD_OFFSET_MS)
    (HERE / "truth.json").write_text(json.dumps(TRUTH, indent=1) + "\n")
    qrs = float(np.nanmax(np.where(np.isfinite(act), act, np.nan)))
    print(f"data mesh {mesh.n_nodes} nodes; last activation {qrs:.1f} ms; leads {', '.join(LEAD_NAMES)}")


if __name__ == "__main__":
    main()

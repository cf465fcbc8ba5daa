"""Make this case's data (lat.csv, truth.json): an electroanatomical map from a FINER mesh than the one fitted.

Truth (not in case.toml): isotropic conduction velocity LV 0.62 m/s, RV 0.47 m/s; two earliest-activation sites,
LV apex (2, 1, -62) mm at 0 ms and RV (1, -27, -24) mm at 5 ms, 5 mm source balls. The data mesh is
`biv_mesh(h=1.6)` (32,031 nodes: a different discretisation from the fitted built-in biv.vtu, h = 2.5 mm, 10,792
nodes, so the fit is no inverse crime). 500 map points on the tagged surfaces, each up to 1.5 mm off the wall, times
with an arbitrary +23 ms reference and Gaussian noise of SD 2 ms.

Run from the repository root: python calibration/a_activation_map/make_data.py (about 30 s).
"""

import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from organtwin import ep  # noqa: E402
from organtwin.calibrate import ActivationMap  # noqa: E402
from organtwin.io import write_activation_map_csv  # noqa: E402
from organtwin.mesh import biv_mesh  # noqa: E402

HERE = Path(__file__).resolve().parent
TRUTH = {
    "tissue.velocity[0, 0]": 0.62,
    "tissue.velocity[1, 0]": 0.47,
    "sites.lv.position[0]": 2.0,
    "sites.lv.position[1]": 1.0,
    "sites.lv.position[2]": -62.0,
    "sites.rv.position[0]": 1.0,
    "sites.rv.position[1]": -27.0,
    "sites.rv.position[2]": -24.0,
    "sites.rv.onset": 5.0,
}


def main():
    mesh = biv_mesh(h=1.6)
    tissue = ep.EikonalTissue.from_mesh(mesh, {1: ep.ConductionVelocity(0.62), 2: ep.ConductionVelocity(0.47)})
    sites = (ep.EikonalSite((2.0, 1.0, -62.0), 0.0, radius=5.0), ep.EikonalSite((1.0, -27.0, -24.0), 5.0, radius=5.0))
    act = np.asarray(ep.simulate_eikonal(tissue, sites).activation)
    amap = ActivationMap.synthetic(mesh, act, 500, off_surface_mm=1.5, offset_ms=23.0, noise_ms=2.0, seed=11)
    write_activation_map_csv(amap, HERE / "lat.csv")
    (HERE / "truth.json").write_text(json.dumps(TRUTH, indent=1) + "\n")
    print(
        f"data mesh {mesh.n_nodes} nodes; map {amap.n_points} points, {amap.times_ms.min():.1f}.."
        f"{amap.times_ms.max():.1f} ms"
    )


if __name__ == "__main__":
    main()

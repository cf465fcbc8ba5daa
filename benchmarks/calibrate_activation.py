"""Activation-map calibration on the built-in BiV (10,792 nodes): Levenberg–Marquardt (optimistix, forward-mode
eikonal Jacobians) against optax Adam (reverse mode), same data, same start, same machine (issue 6).

Truth LV 0.6 / RV 0.4 m/s (isotropic), two sites; 400 surface points 1 mm off the surface, +17 ms offset, 1 ms noise;
both fits start at 0.5 / 0.5 m/s, bounds 0.1–2 m/s. Wall times include compilation (what a user waits for).

    python benchmarks/calibrate_activation.py --json benchmarks/results_calibrate_activation_DATE.json
"""

from __future__ import annotations

import argparse
import time

from _common import machine, pin_threads, write_figures

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--adam-steps", type=int, default=40)
ap.add_argument("--json", default=None)
ARGS = ap.parse_args()
pin_threads(ARGS.threads)

import jax  # noqa: E402

from organtwin import ep  # noqa: E402
from organtwin.calibrate import (  # noqa: E402
    ActivationMap,
    ActivationTimeLoss,
    Bounded,
    FreeParameter,
    FreeParameters,
    fit_adam,
    fit_least_squares,
)
from organtwin.mesh import read_mesh  # noqa: E402

mesh = read_mesh("meshes/biv.vtu")
truth = ep.EikonalTissue.from_mesh(mesh, {1: ep.ConductionVelocity(0.6), 2: ep.ConductionVelocity(0.4)})
sites = (ep.EikonalSite((0.0, 0.0, -60.0), radius=5.0), ep.EikonalSite((0.0, -25.0, -25.0), 5.0, radius=5.0))
act = ep.simulate_eikonal(truth, sites).activation
amap = ActivationMap.synthetic(mesh, act, 400, off_surface_mm=1.0, offset_ms=17.0, noise_ms=1.0, seed=3)
loss = ActivationTimeLoss.from_map(mesh, amap, noise_sd=1.0)
start = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(0.5))
free = FreeParameters(
    [FreeParameter("velocity[0, 0]", Bounded(0.1, 2.0)), FreeParameter("velocity[1, 0]", Bounded(0.1, 2.0))], start
)

rows = {}
t0 = time.perf_counter()
lm = fit_least_squares(
    lambda t: loss.whitened(ep.simulate_eikonal(t, sites, forward_mode=True).activation),
    free,
    start,
    max_steps=30,
    progress=False,
)
rows["levenberg_marquardt"] = (lm, time.perf_counter() - t0)
t0 = time.perf_counter()
ad = fit_adam(
    lambda t: loss(ep.simulate_eikonal(t, sites).activation),
    free,
    start,
    learning_rate=0.05,
    steps=ARGS.adam_steps,
    progress=False,
)
rows["adam"] = (ad, time.perf_counter() - t0)

figures = {"machine": machine(jax=jax.__version__), "nodes": int(mesh.points.shape[0]), "points": 400, "fits": {}}
print(f"{'fit':22s} {'steps':>5s} {'wall s':>7s} {'LV m/s':>7s} {'RV m/s':>7s} {'RMSE ms':>7s}")
for name, (res, wall) in rows.items():
    rmse = float(loss.rmse(ep.simulate_eikonal(res.model, sites).activation))
    lv, rv = float(res.values["velocity[0, 0]"]), float(res.values["velocity[1, 0]"])
    figures["fits"][name] = {
        "steps": res.steps,
        "wall_s": wall,
        "lv": lv,
        "rv": rv,
        "rmse_ms": rmse,
        "message": res.message,
    }
    print(f"{name:22s} {res.steps:5d} {wall:7.1f} {lv:7.4f} {rv:7.4f} {rmse:7.3f}")
write_figures(ARGS.json, figures)

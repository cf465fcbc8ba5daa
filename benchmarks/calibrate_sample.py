"""Wall time per effective sample of the sampled posterior (issue 26, item 2) on the built-in activation-map and 0D cases.

For each case: the fit as `organtwin calibrate` runs it, then NUTS from the optimum (`organtwin.io._calibration.
sample_calibration`: 4 chains, window adaptation of the step size and a dense mass matrix started from the Laplace
covariance, the report's fitted noise scale), timed in parts (compilation, warmup, draws); the smallest bulk and tail
ESS and the largest R-hat over the parameters; wall time per effective sample = the whole sampling wall time
(compilation and warmup included) / the smallest bulk ESS; and per parameter the 95 % credible interval beside the
Laplace one and the truth. The load average of the machine before and after is recorded (the cores are shared).
With ``--draws`` below 1000 the time of 1000 draws is also extrapolated (compilation + warmup + draws × 1000/N).

    python benchmarks/calibrate_sample.py --cases a c --draws 1000 --json benchmarks/results_calibrate_sample_DATE.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import machine, pin_threads, write_figures

CASES = {"a": "a_activation_map", "c": "c_volume_cuff"}
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--cases", nargs="*", default=list(CASES))
ap.add_argument("--draws", type=int, default=1000)
ap.add_argument("--chains", type=int, default=4)
ap.add_argument("--warmup", type=int, default=200)
ap.add_argument("--profiles", action="store_true", help="also time the profile likelihoods of the flagged values")
ap.add_argument("--json", default=None)
ARGS = ap.parse_args()
pin_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from organtwin.io import load_calibration_case, run_calibration  # noqa: E402
from organtwin.io._calibration import sample_calibration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "calibration"


def one(key: str) -> dict:
    folder = ROOT / CASES[key]
    truth = json.loads((folder / "truth.json").read_text())
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    outcome = run_calibration(
        load_calibration_case(folder / "case.toml"), progress=False, truth=truth, say=lambda *a: None
    )
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = sample_calibration(
        outcome,
        draws=ARGS.draws,
        chains=ARGS.chains,
        warmup=ARGS.warmup,
        profiles=ARGS.profiles,
        progress=lambda d, n, what: print(f"  {key}: {what} {d}/{n} ({time.perf_counter() - t0:.0f} s)", flush=True),
        say=print,
    )
    wall = time.perf_counter() - t0
    post = s.posterior
    rep = outcome.report
    per_draw = post.seconds_sampling / post.n_draws
    params = {}
    for i, n in enumerate(post.names):
        j = rep.names.index(n)
        v, sd = float(rep.values[j]), float(rep.sd[j])
        params[n] = {
            "truth": truth.get(n),
            "optimum": v,
            "laplace_95": [v - 1.96 * sd, v + 1.96 * sd],
            "credible_95": post.interval_95[i].tolist(),
            "posterior_mean": float(post.mean[i]),
            "posterior_sd": float(post.sd[i]),
            "laplace_sd": sd,
            "identified": n in rep.identified,
            "rhat": float(post.rhat[i]),
            "ess_bulk": float(post.ess_bulk[i]),
            "ess_tail": float(post.ess_tail[i]),
        }
    out = {
        "case": CASES[key],
        "free_values": len(post.names),
        "fit_seconds": fit_s,
        "draws": post.n_draws,
        "chains": post.chains,
        "warmup_per_chain": post.warmup,
        "gradient": post.gradient,
        "noise_scale": post.noise_scale,
        "seconds_total": wall,
        "seconds_sampler": post.seconds,
        "seconds_compile": post.seconds_compile,
        "seconds_warmup": post.seconds_warmup,
        "seconds_draws": post.seconds_sampling,
        "min_ess_bulk": float(np.min(post.ess_bulk)),
        "min_ess_tail": float(np.min(post.ess_tail)),
        "max_rhat": float(np.max(post.rhat)),
        "seconds_per_effective_sample": post.seconds_per_effective_sample(),
        "seconds_per_effective_sample_draws_only": post.seconds_sampling / float(np.min(post.ess_bulk)),
        "divergences": int(np.sum(post.divergences)),
        "acceptance": post.acceptance,
        "mean_leapfrog_steps": post.mean_steps,
        "result": post.to_dict()["result"],
        "message": post.message,
        "seconds_for_1000_draws": post.seconds_compile + post.seconds_warmup + per_draw * 1000,
        "extrapolated_to_1000": post.n_draws < 1000,
        "profiles": {n: {"seconds": p.seconds, "interval_95": list(p.interval_95)} for n, p in s.profiles.items()},
        "load_average_before": load0,
        "load_average_after": os.getloadavg(),
        "parameters": params,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "parameters"}, indent=1))
    return out


results = {
    "machine": machine(jax=jax.__version__),
    "threads": ARGS.threads,
    "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    "cases": {},
}
with jax.enable_x64(True):
    for k in ARGS.cases:
        results["cases"][k] = one(k)
write_figures(ARGS.json, results)

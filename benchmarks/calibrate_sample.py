"""Wall time per effective sample of the sampled posterior (issue 26, item 2) on the built-in activation-map and 0D cases.

For each case: the fit as `organtwin calibrate` runs it, then NUTS from the optimum as `organtwin calibrate CASE
--sample N` runs it (`organtwin.calibrate.sample_posterior` with the inputs `organtwin.io._calibration.
sample_calibration` gives it: the fit's joint residuals, reverse-mode gradients through the eikonal where the case has
one, else a forward-mode Jacobian, the report's fitted noise scale, the case's seed; 4 chains, all vmapped in one
jitted `lax.scan` chunk), with ``--adaptation laplace`` (the default: the Laplace covariance as the inverse mass
matrix, only the step size adapted by dual averaging) or ``window`` (Stan's window adaptation of the mass matrix too).
Timed in parts (compilation, warmup, draws); the mean number of leapfrog steps per draw; the smallest bulk and tail
ESS and the largest R-hat over the parameters; wall time per effective sample = the whole sampling wall time
(compilation and warmup included) / the smallest bulk ESS (and the draws' time alone / that ESS); per parameter the
95 % credible interval beside the Laplace one and the truth. The machine's load average (1 min) is recorded before,
at every chunk (min / mean / max) and after: the cores are shared. ``--json`` is rewritten after each case (a run
stopped half-way keeps the finished cases).

    python benchmarks/calibrate_sample.py --cases a c --draws 1000 --json benchmarks/results_calibrate_sample_DATE.json
"""

from __future__ import annotations

import argparse
import json
import math
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
ap.add_argument("--warmup", type=int, default=100)
ap.add_argument("--adaptation", choices=("laplace", "window"), default="laplace")
ap.add_argument("--sequential-chains", action="store_true", help="the chains by lax.map, not vmap (vmap_chains=False)")
ap.add_argument("--profiles", action="store_true", help="also time the profile likelihoods of the flagged values")
ap.add_argument("--json", default=None)
ARGS = ap.parse_args()
pin_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from organtwin.calibrate import profile_likelihood, sample_posterior  # noqa: E402
from organtwin.calibrate._report import joint_residuals  # noqa: E402
from organtwin.io import load_calibration_case, run_calibration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "calibration"


def one(key: str) -> dict:
    folder = ROOT / CASES[key]
    truth = json.loads((folder / "truth.json").read_text())
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    case = load_calibration_case(folder / "case.toml")
    outcome = run_calibration(case, progress=False, truth=truth, say=lambda *a: None)
    fit_s = time.perf_counter() - t0
    print(f"{key}: fitted in {fit_s:.0f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    problem, rep = outcome.problem, outcome.report
    # the inputs sample_calibration gives sample_posterior (organtwin/io/_calibration.py)
    residuals = joint_residuals(problem.terms, problem.simulate)
    reverse = joint_residuals(problem.terms, problem.simulate_reverse) if "tissue" in problem.model else None
    loads = []
    t0 = time.perf_counter()

    def progress(d, n, what):
        loads.append(os.getloadavg()[0])
        print(f"  {key}: {what} {d}/{n} ({time.perf_counter() - t0:.0f} s, load {loads[-1]:.1f})", flush=True)

    with jax.enable_x64(case.dtype == "float64"):
        post = sample_posterior(
            residuals,
            problem.free,
            problem.model,
            outcome.result.u,
            draws=ARGS.draws,
            chains=ARGS.chains,
            warmup=ARGS.warmup,
            reverse_residuals=reverse,
            noise_scale=math.sqrt(rep.scale),
            seed=case.seed,
            progress=progress,
            adaptation=ARGS.adaptation,
            vmap_chains=not ARGS.sequential_chains,
        )
        profiles = {}
        if ARGS.profiles:
            for n in rep.not_identified:
                profiles[n] = profile_likelihood(
                    residuals, problem.free, problem.model, outcome.result.u, n, noise_scale=math.sqrt(rep.scale)
                )
    wall = time.perf_counter() - t0
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
        "draws_per_chain": int(post.draws.shape[1]),
        "warmup_per_chain": post.warmup,
        "adaptation": post.adaptation,
        "chains_vmapped": not ARGS.sequential_chains,
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
        "step_size": post.step_size.tolist(),
        "mean_leapfrog_steps": post.mean_steps,
        "result": post.to_dict()["result"],
        "message": post.message,
        "seconds_for_1000_draws": post.seconds_compile + post.seconds_warmup + per_draw * 1000,
        "extrapolated_to_1000": post.n_draws < 1000,
        "profiles": {n: {"seconds": p.seconds, "interval_95": list(p.interval_95)} for n, p in profiles.items()},
        "load_average_before": load0,
        "load_average_1min_during": {"min": min(loads), "mean": float(np.mean(loads)), "max": max(loads)},
        "load_average_after": os.getloadavg(),
        "parameters": params,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "parameters"}, indent=1), flush=True)
    return out


results = {
    "machine": machine(jax=jax.__version__),
    "threads": ARGS.threads,
    "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    "cases": {},
}
for k in ARGS.cases:
    results["cases"][k] = one(k)
    write_figures(ARGS.json, results)

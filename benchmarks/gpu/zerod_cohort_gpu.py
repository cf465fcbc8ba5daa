"""0D virtual cohorts on a GPU: models per second for N = 1000, 10000, 100000 patients, float32 and float64.

The batched model of ``../zerod_vs_svzerod.py`` (the same code: ``Problem``, ``build_cohort``, ``cohort_runner``): a
svZeroDSolver configuration (``--configs``, default the Regazzoni 2022 closed loop
tests/data/zerod/closed_loop_heart.json), ``--distinct`` models (default 1000) drawn with svzerod_time.py's perturbation
(every physical parameter times its own uniform factor in [0.9, 1.1], default_rng(0)), read and compiled from their JSON
and stacked; for N > distinct the stacked leaves are tiled to N models (the device does the same work for a repeated
model as for a new one, and building 100,000 models from JSON on the host would take minutes). Fixed steps of the
config's dt with ``--solver`` (midpoint), the last cycle observed at svzerod's output times, one compiled call per
(N, dtype, mode); ``--modes`` as in ../zerod_vs_svzerod.py (``vmap_run``: the whole run vmapped; ``vmap_rhs_shared``:
one solve of the (N, states) array, leaves shared by the whole cohort not stacked).

To bound the device time the run is ``--cycles`` cycles (default 3) instead of the config's (30 for the closed loop):
the cost per step does not change along the run, so models/s of the full run = models/s here x cycles / config cycles,
reported as ``models_per_s_full_run`` next to the measured one (and ns per model-step, which needs no scaling).

Timing: the first call (compile + run) apart, then the median of ``--repeats`` calls, each ending in
``block_until_ready``.

    python benchmarks/gpu/zerod_cohort_gpu.py --json out.json                     # on the GPU (run_all.sh)
    python benchmarks/gpu/zerod_cohort_gpu.py --sizes 4,8 --distinct 4 --cycles 1 # a quick check on a CPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: the shared helpers, the CPU benchmark
import jax
from _common import write_figures

jax.config.update("jax_enable_x64", True)  # a benchmark script may switch x64 on; every dtype below is explicit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import zerod_vs_svzerod as zb  # noqa: E402  (benchmarks/zerod_vs_svzerod.py: the same problem and cohort)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="closed_loop_heart", help="comma list (names in tests/data/zerod or paths)")
    ap.add_argument("--sizes", default="1000,10000,100000", help="cohort sizes N")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--modes", default="vmap_run,vmap_rhs_shared")
    ap.add_argument("--solver", default="midpoint")
    ap.add_argument("--distinct", type=int, default=1000, help="distinct perturbed models (tiled up to N)")
    ap.add_argument("--cycles", type=int, default=3, help="cycles per run (the config's own: 0)")
    ap.add_argument("--spread", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", nargs="?", const="-", default=None)
    return ap.parse_args()


def tile(batches: dict, y0, n: int):
    """The cohort's stacked leaves (and initial states) repeated up to ``n`` models."""
    k = y0.shape[0]
    reps = -(-n // k)

    def rep(x, axis):
        return x if axis is None else jnp.tile(x, (reps,) + (1,) * (x.ndim - 1))[:n]

    out = {}
    for key, (model, axes) in batches.items():
        ax = axes if axes is not None else jax.tree.map(lambda x: 0, model)
        out[key] = (jax.tree.map(rep, model, ax), axes)
    return out, rep(y0, 0)


def main() -> int:
    a = _parse()
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    out = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "python": platform.python_version(),
        "solver": a.solver,
        "cycles": a.cycles,
        "distinct": a.distinct,
        "rows": [],
    }
    for name in [c.strip() for c in a.configs.split(",") if c.strip()]:
        path = zb.config_path(name)
        config = json.loads(path.read_text())
        full_cycles = config["simulation_parameters"]["number_of_cardiac_cycles"]
        if a.cycles:
            config["simulation_parameters"]["number_of_cardiac_cycles"] = a.cycles
        prob = zb.Problem(config)
        ca = argparse.Namespace(cohort=min(a.distinct, max(sizes)), spread=a.spread, seed=a.seed)
        t0 = time.perf_counter()
        batches, y0, build = zb.build_cohort(prob, ca)
        print(
            f"== {name}: {prob.steps} steps per model ({prob.cfg.cycles} of {full_cycles} cycles); {ca.cohort} "
            f"distinct models built in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        for n in sizes:
            bn, yn = tile(batches, y0, n)
            for dt_name in [d.strip() for d in a.dtypes.split(",") if d.strip()]:
                dtype = zb.DTYPES[dt_name]
                for mode in [m.strip() for m in a.modes.split(",") if m.strip()]:
                    model, axes = bn["shared" if mode.endswith("_shared") else "all"]
                    model = zb.cast(model, dtype)
                    if axes is None:
                        axes = jax.tree.map(lambda x: 0, model)
                    fn = jax.jit(
                        prob.cohort_runner(zb.fixed(prob, a.solver), dtype, axes, mode.removesuffix("_shared"))
                    )
                    ys = yn.astype(dtype)
                    t0 = time.perf_counter()
                    obs, steps = jax.block_until_ready(fn(model, ys))
                    first = time.perf_counter() - t0
                    runs = []
                    for _ in range(a.repeats):
                        t0 = time.perf_counter()
                        jax.block_until_ready(fn(model, ys))
                        runs.append(time.perf_counter() - t0)
                    run_s = statistics.median(runs)
                    finite = all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(obs))
                    row = {
                        "config": name,
                        "models": n,
                        "dtype": dt_name,
                        "mode": mode,
                        "steps": prob.steps,
                        "first_call_s": first,
                        "compile_s": max(first - run_s, 0.0),
                        "run_s_median": run_s,
                        "run_s_all": runs,
                        "models_per_s": n / run_s,
                        "models_per_s_full_run": n / run_s * prob.cfg.cycles / full_cycles,
                        "ns_per_model_step": 1e9 * run_s / n / prob.steps,
                        "all_finite": finite,
                        "steps_taken": int(np.asarray(steps)[0]),
                    }
                    out["rows"].append(row)
                    print(
                        f"N {n:7d} {dt_name} {mode:15s}: {run_s:.3f} s = {row['models_per_s']:.0f} models/s "
                        f"({row['models_per_s_full_run']:.0f} for {full_cycles} cycles), "
                        f"{row['ns_per_model_step']:.2f} ns per model-step; first call {first:.1f} s"
                        + ("" if finite else "  NON-FINITE OUTPUT"),
                        flush=True,
                    )
    write_figures(a.json, out, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())

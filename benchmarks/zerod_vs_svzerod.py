"""0D circulation: organtwin (JAX, in-process) against svZeroDSolver (PyPI ``svzerod`` 3.2, subprocess, its own venv).

The same problem for both codes, per configuration (``--configs``, default the Regazzoni 2022 closed loop
tests/data/zerod/closed_loop_heart.json, four chambers and four piecewise valves, and pulsatile_rcr.json, one vessel
between a pulsatile inflow and an RCR outlet):

* svzerod (benchmarks/peers/svzerod_time.py, run with the peer venv's python): its generalized-alpha integrator at
  dt = period / (points per cycle - 1), ``cycles`` x (points - 1) time steps; one model (median of ``--repeats`` runs,
  microseconds per step) and a cohort of ``--cohort`` perturbed models one after another (every physical parameter
  scaled by its own uniform factor in [1 - spread, 1 + spread], numpy default_rng(seed); see that script). A cohort
  that would run longer than ``--peer-seconds`` is cut there: svzerod runs its models one after another, so its
  per-model throughput is measured on the models that ran (``models_run`` in the JSON) and holds for the whole cohort.
* organtwin: the same JSON read with ``read_svzerod``, the same number of fixed steps of the same dt
  (``Integrator.fixed(dt, solver)``, the explicit ``--solvers``; the first is the headline: ``midpoint``, the cheapest
  whose error is about svzerod's own, see "accuracy"), the last cycle observed at svzerod's output times, all
  in one compiled call (steady start when the config asks for one, every cycle, the observation). Timings after
  compilation (``block_until_ready``; compile reported apart), medians of ``--repeats``.
* cohort: the SAME perturbed JSON configs (``perturb`` imported from the peer script, same seed and spread), read and
  compiled one by one into N models whose parameter leaves are stacked (``jax.tree.map(jnp.stack)``) into one batched
  model; one compile, one call, in three ways (``--cohort-modes``):
  ``vmap_run``: ``jax.jit(jax.vmap(run))`` over the batched model and the N initial states, the whole run (steady
  start, every cycle, observation) vmapped;
  ``vmap_rhs``: the same batched model, with the vmap inside one fixed-step solve: ``diffeqsolve`` of the (N, states)
  array whose right-hand side is ``jax.vmap(model.rhs)`` (steady start and observation vmapped per model). With fixed
  steps every model takes the same steps, so this is the same arithmetic as ``vmap_run`` (the outputs agree to the
  last bit here); what changes is diffrax's own per-step work (stage storage, the tableau sums), which under an outer
  vmap runs on (N, stages, states) arrays transposed every step, and here on (stages, N, states) directly;
  ``vmap_rhs_shared``: as ``vmap_rhs``, but parameter leaves equal in every model of the cohort (here: activation
  timings, valve resistances, waveform sample times — the peer's perturbation leaves them alone) are not stacked: one
  copy, ``in_axes=None``, so what depends only on them and on t (the chambers' activation, a waveform's bracketing
  sample) is computed once per evaluation instead of once per model.
  Reported: the run (after compilation) and, apart, building the N models from JSON, stacking, compiling.
* float64 and float32 (the model's parameters, the state and time all in that precision).

Accuracy (relative L2 over the last cycle of every flow, pressure, volume series svzerod writes; max and median over
series): ours against svzerod's output, and both against a converged solution (organtwin, adaptive Tsit5 at
rtol 1e-10 in float64). For the cohort, ours against svzerod on the first ``--check-models`` perturbed models.

Ratios: "per step" = ours / svzerod time per step (< 1: we are faster; goal <= 3); "throughput" = our models per second
/ svzerod's (goal >= 20 for a 1000-model cohort). Both codes are pinned to the same ``--threads`` cores (svzerod runs
on one thread; the subprocess inherits the mask).

    python benchmarks/zerod_vs_svzerod.py                                  # both configs, N = 1000, float64 + float32
    python benchmarks/zerod_vs_svzerod.py --configs closed_loop_heart --cohort 50 --repeats 1 --json -
    SVZEROD_PYTHON=/path/to/venv/bin/python python benchmarks/zerod_vs_svzerod.py  # peers/setup_svzerod.sh
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # benchmarks/_common.py (the script's folder is on sys.path)
    CompileClock,
    machine,
    peer_missing,
    pin_threads,
    write_figures,
)

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data" / "zerod"
DEFAULT_PEER = os.environ.get("SVZEROD_PYTHON", "/work/peers/svzerod/bin/python")


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--configs",
        default="closed_loop_heart,pulsatile_rcr",
        help="comma list of names in tests/data/zerod or paths to svZeroDSolver JSON files",
    )
    ap.add_argument("--cohort", type=int, default=1000, help="models in the cohort (0: none)")
    ap.add_argument("--spread", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--peer-seconds",
        type=float,
        default=60.0,
        help="svzerod's cohort stops starting models after this many seconds (throughput from those run)",
    )
    ap.add_argument(
        "--solvers",
        default="midpoint,bosh3,tsit5",
        help="fixed-step diffrax solvers for the single model; the first one also runs the cohort",
    )
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cohort-repeats", type=int, default=2)
    ap.add_argument("--check-models", type=int, default=3, help="cohort models checked against svzerod's output")
    ap.add_argument(
        "--cohort-modes",
        default="vmap_run,vmap_rhs,vmap_rhs_shared",
        help="comma list from vmap_run, vmap_rhs, vmap_run_shared, vmap_rhs_shared (see above)",
    )
    ap.add_argument("--threads", type=int, default=1, help="cores for both codes")
    ap.add_argument("--no-svzerod", action="store_true", help="organtwin only (no ratios, no accuracy vs svzerod)")
    ap.add_argument("--svzerod-python", default=DEFAULT_PEER)
    ap.add_argument("--json", nargs="?", const="-", default=None, help="write every figure as JSON ('-': stdout)")
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    pin_threads(ARGS.threads)

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark script may switch x64 on; every dtype below is explicit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from organtwin.flow import zerod as z  # noqa: E402
from organtwin.flow.zerod._svzerod_json import _initial_state  # noqa: E402  (run_svzerod's initial state)

sys.path.insert(0, str(HERE / "peers"))
from svzerod_time import cohort_configs  # noqa: E402  (the peer's own perturbation: the same cohort for both)

SOLVERS = {
    "euler": diffrax.Euler,
    "heun": diffrax.Heun,
    "midpoint": diffrax.Midpoint,
    "ralston": diffrax.Ralston,
    "bosh3": diffrax.Bosh3,
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
}
DTYPES = {"float64": jnp.float64, "float32": jnp.float32}

_compile = CompileClock()  # benchmarks/_common.py


# ================================================================================================== problem
def config_path(name: str) -> Path:
    p = Path(name)
    return p if p.suffix == ".json" else DATA / f"{name}.json"


class Problem:
    """One svZeroDSolver config: steps, output times, and a compiled ``run(model, y0) -> observations`` per solver."""

    def __init__(self, config: dict):
        self.config = config
        self.cfg = z.read_svzerod(config)
        self.model = self.cfg.network.compile()
        st = self.model.structure
        c = self.cfg
        self.steady = bool(c.steady_initial and not st.n_chamber and st.n_pressure)
        self.steps = (c.points_per_cycle - 1) * c.cycles
        times = np.arange(0, c.points_per_cycle, c.output_interval) * c.dt  # as run_svzerod / svzerod write them
        if times[-1] < c.period - 1e-12 * c.period:
            times = np.append(times, c.period)
        self.times = times
        self.ts = (c.cycles - 1) * c.period + times

    def initial(self, model, dtype):
        return model.initial_state(dtype=dtype) if self.steady else _initial_state(self.cfg, model, dtype)

    def runner(self, integ: z.Integrator, dtype):
        """run(model, y0) -> (observations of the last cycle, steps taken): what ``run_svzerod`` compiles."""
        ts = jnp.asarray(self.ts, dtype)  # time in the run's precision (diffrax takes its dtype from the times)
        t1 = float(self.ts[-1])
        steady = self.steady

        def run(m, y):
            if steady:
                y = m.steady_state(y)
            sol = diffrax.diffeqsolve(  # = simulate_zerod(m, 0, t1, y, ts=ts, integrator=integ), plus the step count
                diffrax.ODETerm(lambda t, x, mm: mm.rhs(t, x)),
                integ.solver,
                0.0,
                t1,
                integ.dt0,
                y,
                args=m,
                stepsize_controller=integ.controller,
                saveat=diffrax.SaveAt(ts=ts),
                max_steps=integ.max_steps,
            )
            return jax.vmap(m.observe)(sol.ts, sol.ys), sol.stats["num_steps"]

        return run

    def cohort_runner(self, integ: z.Integrator, dtype, axes, mode: str):
        """run(batched model, (N, states) y0) -> (observations, steps): ``mode`` vmap_run or vmap_rhs (see above);
        ``axes`` is the model's in_axes (0: stacked leaf, None: shared)."""
        one = self.runner(integ, dtype)
        if mode == "vmap_run":
            return jax.vmap(one, in_axes=(axes, 0))
        ts = jnp.asarray(self.ts, dtype)
        t1 = float(self.ts[-1])
        steady, steps = self.steady, self.steps
        stacked = tuple(a == 0 for a in jax.tree.leaves(axes, is_leaf=lambda x: x is None))

        def run(M, Y):  # the library's cohort solve: organtwin.flow.zerod.simulate_cohort
            sol = z.simulate_cohort(
                z.Cohort(M, stacked, Y.shape[0]), 0.0, t1, Y, ts=ts, integrator=integ, steady_start=steady
            )
            return sol.observe(), jnp.full((Y.shape[0],), steps)

        return run


def cast(model, dtype):
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)


def fixed(prob: Problem, solver: str) -> z.Integrator:
    integ = z.Integrator.fixed(prob.cfg.dt, SOLVERS[solver]())
    assert integ.max_steps > prob.steps
    return integ


def series_of(prob: Problem, model, obs: dict) -> dict:
    """Our observations in svZeroDSolver's variable-based layout: {name: values over the last cycle}."""
    res = z.SvZeroDResult(
        prob.cfg, model, prob.times, {k: np.asarray(v, np.float64) for k, v in obs.items()}, prob.cfg.cycles
    )
    return _series(io.StringIO(z.svzerod_csv(res, variable_based=True)))


def _series(csv) -> dict:
    """{name: y over time} from a variable-based CSV (name, time, y), a path or a text buffer."""
    import pandas as pd  # only for the accuracy checks (the GPU script imports this module without pandas)

    df = pd.read_csv(csv)
    return {name: g["y"].to_numpy(np.float64) for name, g in df.groupby("name", sort=False)}


def compare(mine: dict, ref: dict) -> dict:
    """Relative L2 error of every series of ``ref`` (skipping all-zero ones): max, median and where the max is."""
    errs = {}
    for k, r in ref.items():
        scale = np.linalg.norm(r)
        if scale > 0 and k in mine and mine[k].shape == r.shape:
            errs[k] = float(np.linalg.norm(mine[k] - r) / scale)
    missing = sorted(set(ref) - set(errs) - {k for k, r in ref.items() if np.linalg.norm(r) == 0})
    worst = max(errs, key=errs.get)
    return {
        "max_rel_l2": errs[worst],
        "median_rel_l2": float(np.median(list(errs.values()))),
        "worst_series": worst,
        "series": len(errs),
        "missing": missing[:5],
    }


def timed(fn, *args, repeats: int):
    """(compile s, first-call s, [run s...], result): compile from JAX's monitoring, runs after it."""
    _compile.reset()
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    compile_s = _compile.seconds
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t0)
    return compile_s, first, runs, out


# ================================================================================================== the codes
def run_peer(peer: str, path: Path, prob: Problem, a, folder: Path) -> dict:
    cmd = [
        peer,
        str(HERE / "peers" / "svzerod_time.py"),
        str(path),
        "--repeats",
        str(a.repeats),
        "--series",
        str(folder / "svz"),
        "--series-models",
        str(a.check_models),
    ]
    if a.cohort:
        cmd += [
            "--cohort",
            str(a.cohort),
            "--spread",
            repr(a.spread),
            "--seed",
            str(a.seed),
            "--max-seconds",
            repr(a.peer_seconds),
        ]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    d = json.loads(out.stdout)
    d["subprocess_s"] = time.perf_counter() - t0
    d["load1"] = max(load, os.getloadavg()[0])
    d["series_single"] = _series(folder / "svz_single.csv")
    d["series_cohort"] = [
        _series(folder / f"svz_cohort{i}.csv")
        for i in range(min(a.check_models, a.cohort))
        if (folder / f"svz_cohort{i}.csv").exists()
    ]
    assert d["single"]["time_steps"] == prob.steps, (d["single"]["time_steps"], prob.steps)
    return d


def reference(prob: Problem) -> dict:
    """A converged solution: adaptive Tsit5, rtol 1e-10, float64."""
    integ = z.Integrator.adaptive(rtol=1e-10, atol=1e-12, dt0=prob.cfg.dt / 10)
    integ = z.Integrator(integ.solver, integ.controller, integ.dt0, max_steps=2_000_000)
    m = cast(prob.model, jnp.float64)
    obs, steps = jax.jit(prob.runner(integ, jnp.float64))(m, prob.initial(m, jnp.float64))
    return series_of(prob, prob.model, obs) | {"__steps__": int(steps)}


def bench_single(prob: Problem, solver: str, dtype_name: str, a, svz: dict | None, ref: dict) -> dict:
    dtype = DTYPES[dtype_name]
    m = cast(prob.model, dtype)
    y0 = prob.initial(m, dtype)
    fn = jax.jit(prob.runner(fixed(prob, solver), dtype))
    compile_s, first, runs, (obs, steps) = timed(fn, m, y0, repeats=a.repeats)
    run_s = statistics.median(runs)
    mine = series_of(prob, prob.model, obs)
    rec = {
        "code": "organtwin",
        "kind": "single",
        "solver": solver,
        "dtype": dtype_name,
        "steps": int(steps),
        "compile_s": compile_s,
        "first_call_s": first,
        "run_s_median": run_s,
        "run_s_all": runs,
        "us_per_step": 1e6 * run_s / int(steps),
        "load1": os.getloadavg()[0],
        "error_vs_converged": compare(mine, {k: v for k, v in ref.items() if not k.startswith("__")}),
    }
    assert int(steps) == prob.steps, (int(steps), prob.steps)
    if svz is not None:
        rec["error_vs_svzerod"] = compare(mine, svz["series_single"])
        rec["per_step_ratio"] = rec["us_per_step"] / svz["single"]["us_per_step"]
    return rec


def build_cohort(prob: Problem, a):
    """The perturbed configs -> N models (read_svzerod + compile each) -> one batched model and N initial states."""
    t0 = time.perf_counter()
    configs = cohort_configs(prob.config, a.cohort, a.spread, a.seed)
    models, y0s = [], []
    for c in configs:
        cfg = z.read_svzerod(c)
        m = cfg.network.compile()
        if m.structure != prob.model.structure:
            raise SystemExit("a perturbed model has another structure than the unperturbed one; lower --spread")
        models.append(m)
        y0s.append(
            np.asarray(m.initial_state(dtype=jnp.float64) if prob.steady else _initial_state(cfg, m, jnp.float64))
        )
    t1 = time.perf_counter()
    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *models)
    y0 = jnp.asarray(np.stack(y0s))
    stack_s = time.perf_counter() - t1
    t2 = time.perf_counter()

    cohort = z.Cohort.stack(models)  # shared leaves kept once (organtwin.flow.zerod.Cohort)
    shared, axes = cohort.model, cohort.in_axes
    n_leaves = len(jax.tree.leaves(models[0]))
    n_stacked = sum(cohort.stacked)
    return (
        {"all": (batched, None), "shared": (shared, axes)},
        y0,
        {
            "build_models_s": t1 - t0,
            "stack_s": stack_s,
            "stack_shared_s": time.perf_counter() - t2,
            "leaves": n_leaves,
            "leaves_stacked_when_shared": n_stacked,
        },
    )


def bench_cohort(
    prob: Problem, batches: dict, y0, build: dict, mode: str, solver: str, dtype_name: str, a, svz, check_refs: list
) -> dict:
    dtype = DTYPES[dtype_name]
    batched, axes = batches["shared" if mode.endswith("_shared") else "all"]
    bm = cast(batched, dtype)
    if axes is None:
        axes = jax.tree.map(lambda x: 0, bm)
    fn = jax.jit(prob.cohort_runner(fixed(prob, solver), dtype, axes, mode.removesuffix("_shared")))
    compile_s, first, runs, (obs, steps) = timed(fn, bm, y0.astype(dtype), repeats=a.cohort_repeats)
    run_s = statistics.median(runs)
    n = a.cohort
    stack_s = build["stack_shared_s"] if mode.endswith("_shared") else build["stack_s"]
    build = {"build_models_s": build["build_models_s"], "stack_s": stack_s}
    rec = {
        "code": "organtwin",
        "kind": "cohort",
        "mode": mode,
        "solver": solver,
        "dtype": dtype_name,
        "models": n,
        "steps_per_model": int(np.asarray(steps)[0]),
        "compile_s": compile_s,
        "first_call_s": first,
        "run_s_median": run_s,
        "run_s_all": runs,
        "models_per_s": n / run_s,
        "ns_per_model_step": 1e9 * run_s / n / prob.steps,
        **build,
        "end_to_end_s": build["build_models_s"] + build["stack_s"] + first,
        "models_per_s_end_to_end": n / (build["build_models_s"] + build["stack_s"] + first),
        "load1": os.getloadavg()[0],
    }
    finite = np.all([np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(obs)])
    rec["all_finite"] = bool(finite)
    if svz is not None and "cohort" in svz:
        rec["throughput_ratio"] = rec["models_per_s"] / svz["cohort"]["models_per_s"]
        rec["throughput_ratio_end_to_end"] = rec["models_per_s_end_to_end"] / svz["cohort"]["models_per_s"]
        checks = []
        for i, ref in enumerate(svz["series_cohort"]):
            mine = series_of(prob, prob.model, jax.tree.map(lambda v, i=i: np.asarray(v)[i], obs))
            checks.append(compare(mine, ref))
        if checks:
            rec["error_vs_svzerod_models"] = len(checks)
            rec["error_vs_svzerod_max_rel_l2"] = max(c["max_rel_l2"] for c in checks)
            rec["error_vs_svzerod"] = checks
    conv = [
        compare(series_of(prob, prob.model, jax.tree.map(lambda v, i=i: np.asarray(v)[i], obs)), ref)
        for i, ref in enumerate(check_refs)
    ]
    if conv:
        rec["error_vs_converged_max_rel_l2"] = max(c["max_rel_l2"] for c in conv)
        rec["error_vs_converged"] = conv
    return rec


# ================================================================================================== main
def bench_config(name: str, a, peer: str | None) -> dict:
    path = config_path(name)
    prob = Problem(json.loads(path.read_text()))
    st = prob.model.structure
    case = {
        "config": str(path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path),
        "time_steps": prob.steps,
        "dt_s": prob.cfg.dt,
        "cycles": prob.cfg.cycles,
        "points_per_cycle": prob.cfg.points_per_cycle,
        "output_points": len(prob.times),
        "states": st.n_state,
        "algebraic_points": st.n_alg,
        "rows": [],
    }
    print(f"\n== {case['config']}: {st.n_state} states, {prob.steps} steps of {1e3 * prob.cfg.dt:.4g} ms", flush=True)
    svz = None
    if peer is not None:
        with tempfile.TemporaryDirectory(prefix="zerod-vs-svzerod-") as tmp:
            svz = run_peer(peer, path, prob, a, Path(tmp))
        row = {
            "code": "svzerod",
            "version": svz["svzerod_version"],
            "single": svz["single"],
            "cohort": svz.get("cohort"),
            "subprocess_s": svz["subprocess_s"],
            "load1": svz["load1"],
        }
        case["rows"].append(row)
        c = svz.get("cohort")
        print(
            f"svzerod {svz['svzerod_version']}: {svz['single']['us_per_step']:.2f} us/step "
            f"({svz['single']['run_s_median']:.3f} s per model)"
            + (
                f"; cohort {c['models_run']} of {c['models']} models in {c['total_s']:.1f} s = "
                f"{c['models_per_s']:.2f} models/s"
                if c
                else ""
            ),
            flush=True,
        )
    ref = reference(prob)
    case["converged_reference"] = {
        "integrator": "adaptive Tsit5 rtol 1e-10 atol 1e-12 float64",
        "steps": ref["__steps__"],
    }
    if svz is not None:
        case["svzerod_error_vs_converged"] = compare(
            svz["series_single"], {k: v for k, v in ref.items() if not k.startswith("__")}
        )
        e = case["svzerod_error_vs_converged"]
        print(f"svzerod vs converged: max rel L2 {e['max_rel_l2']:.2e} ({e['worst_series']})")
    solvers = [s.strip() for s in a.solvers.split(",") if s.strip()]
    dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    for dt_name in dtypes:
        for solver in solvers:
            r = bench_single(prob, solver, dt_name, a, svz, ref)
            case["rows"].append(r)
            ratio = f"  ratio {r['per_step_ratio']:.2f}" if "per_step_ratio" in r else ""
            vs = f", vs svzerod {r['error_vs_svzerod']['max_rel_l2']:.2e}" if "error_vs_svzerod" in r else ""
            print(
                f"ours {solver:8s} {dt_name}: {r['us_per_step']:.2f} us/step{ratio}  (compile {r['compile_s']:.1f} s)"
                f"  error vs converged {r['error_vs_converged']['max_rel_l2']:.2e}{vs}",
                flush=True,
            )
    if a.cohort:
        batches, y0, build = build_cohort(prob, a)
        case["cohort_build"] = build
        print(
            f"cohort of {a.cohort}: models built from JSON in {build['build_models_s']:.1f} s, stacked in "
            f"{build['stack_s']:.1f} s ({build['leaves_stacked_when_shared']} of {build['leaves']} leaves differ "
            "between models)",
            flush=True,
        )
        # converged solutions of the first perturbed models: how far each code is from them
        check_refs = []
        for c in cohort_configs(prob.config, min(a.check_models, a.cohort), a.spread, a.seed):
            ref_i = reference(Problem(c))
            ref_i.pop("__steps__")
            check_refs.append(ref_i)
        if svz is not None and check_refs:
            errs = [compare(s_, r_) for s_, r_ in zip(svz["series_cohort"], check_refs)]
            case["svzerod_cohort_error_vs_converged"] = errs
            print(
                f"svzerod vs converged on {len(errs)} cohort models: max rel L2 "
                f"{max(e['max_rel_l2'] for e in errs):.2e}"
            )
        for dt_name in dtypes:
            for mode in [m.strip() for m in a.cohort_modes.split(",") if m.strip()]:
                r = bench_cohort(prob, batches, y0, build, mode, solvers[0], dt_name, a, svz, check_refs)
                case["rows"].append(r)
                ratio = (
                    f"  throughput {r['throughput_ratio']:.1f}x svzerod (end to end "
                    f"{r['throughput_ratio_end_to_end']:.1f}x)"
                    if "throughput_ratio" in r
                    else ""
                )
                chk = (
                    f"  vs svzerod {r['error_vs_svzerod_max_rel_l2']:.1e}, vs converged "
                    f"{r['error_vs_converged_max_rel_l2']:.1e} (max over {r['error_vs_svzerod_models']} models)"
                    if "error_vs_svzerod_models" in r
                    else ""
                )
                print(
                    f"ours cohort {mode:15s} {solvers[0]} {dt_name}: {r['run_s_median']:.2f} s = "
                    f"{r['models_per_s']:.1f} models/s ({r['ns_per_model_step']:.0f} ns per model-step; compile "
                    f"{r['compile_s']:.1f} s){ratio}{chk}",
                    flush=True,
                )
    return case


def main() -> int:
    a = ARGS
    peer = None if a.no_svzerod else a.svzerod_python
    if peer_missing(peer, "svzerod", "setup_svzerod.sh", "SVZEROD_PYTHON", "--no-svzerod"):
        return 2
    out = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(jax=jax.__version__, diffrax=diffrax.__version__),
        "threads": a.threads,
        "affinity": sorted(os.sched_getaffinity(0)),
        "cohort": a.cohort,
        "spread": a.spread,
        "seed": a.seed,
        "peer_seconds": a.peer_seconds,
        "solvers": a.solvers,
        "load_before": os.getloadavg(),
        "cases": [],
    }
    t0 = time.perf_counter()
    for name in [c.strip() for c in a.configs.split(",") if c.strip()]:
        out["cases"].append(bench_config(name, a, peer))
    out["load_after"] = os.getloadavg()
    out["wall_s"] = time.perf_counter() - t0
    print(f"\ntotal {out['wall_s']:.0f} s")
    write_figures(a.json, out, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())

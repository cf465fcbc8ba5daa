"""Monodomain throughput, ten Tusscher 2006: organtwin (JAX, in-process) against TorchCor (subprocess, its own venv).

The same problem for both codes:

* mesh: structured Kuhn-split slabs written once as openCARP files (.pts in µm, .elem, .lon with fibres along x) plus a
  stimulus node set (.vtx), read back by each code from the *same files* (organtwin `read_opencarp`, TorchCor `load_mesh`).
  ``small``: a 4 mm cube at dx 0.2 mm, 21³ = 9,261 nodes, 48,000 tets (the 9,261-node slab of REFERENCE.md);
  ``large``: a 12 × 4 × 2 mm slab at dx 0.1 mm, 121 × 41 × 21 = 104,181 nodes, 576,000 tets.
* tissue: Niederer 2011 conductivities (sigma_il 0.17, sigma_it 0.019, sigma_el 0.62, sigma_et 0.24 S/m, harmonic mean
  per direction), chi 140 /mm, Cm 1 µF/cm² (TorchCor's Chi = 140 and Cm = 0.01 with its /100 scalings give the same
  D = 100 sigma / 140 mm²/ms; see peers/torchcor_monodomain.py).
* cell model: ten Tusscher-Panfilov 2006 epicardial (organtwin `TenTusscher2006.epicardial()`, TorchCor
  `TenTusscherPanfilov(cell_type="EPI")`), both starting from TorchCor's (openCARP's) initial state so the resting state
  is the same (``--initial niederer`` keeps organtwin's Niederer initial state instead).
* stimulus: the nodes of the 1.5 mm cube at the origin corner, 50,000 µA/cm³ = 35.71 µA/µF for 2 ms from t = 0.
* time: dt 0.02 ms, 2000 steps (40 ms), float64 (TorchCor's default) and float32 (TorchCor then still runs its CG in
  float64 internally).
* diffusion: organtwin ``ThetaScheme(theta=0.5)`` (Crank-Nicolson, consistent mass, Jacobi-PCG warm-started from V, like
  TorchCor) with ``rtol=1e-5`` (TorchCor's ``r_tol=1e-5``, the value of its README; organtwin's default is 1e-9 in
  float64: ``--schemes theta_default`` adds that run), and ``ExplicitLumped()`` (forward Euler, lumped mass; dt is
  checked against the mesh's stability limit). Both codes tabulate the voltage-only gates in float64 (organtwin's
  default ``VoltageLookup()``, 0.05 mV, float64 runs only; TorchCor's openCARP-derived tables, always);
  ``theta_exact`` is organtwin without its table, ``theta_lut`` with it in float32 too.
  organtwin splits Godunov (reaction then diffusion); TorchCor is IMEX
  (``(M + dt/2 K) V+ = M (V + dt f(V)) - dt/2 K V``): same first order in dt, not the same rounding of each step.

Timing: each code is timed around its time loop only, after `block_until_ready` for organtwin. organtwin's first call
(trace + compile + run) is reported apart ("compile s": the trace, lowering and XLA compile durations JAX reports
through `jax.monitoring` during that call); the run time is the median over
``--repeats`` later calls (each call of `simulate_monodomain` also assembles its operators and, for explicit diffusion,
checks the stability limit: included). TorchCor's loop is its ``solve()`` minus its ``assemble()``; its ionic model is a
TorchScript class whose graph is profiled and compiled during the first calls (the first step takes seconds), so its
warm-up, the excess of its first 20 steps over its median step, is reported in the "compile s" column and the
throughput is that of the rest (steady state), as for organtwin; its import and mesh loading are reported apart. The runs are
interleaved (round 1: TorchCor, organtwin theta, organtwin explicit; round 2: the same; ...) so that load from other
jobs on a shared machine falls on all alike, and the 1-min load average is recorded with each run. Both codes are
pinned to the same number of threads (``--threads``, default 1): ``torch.set_num_threads`` (+ OMP/MKL variables) for
TorchCor; for XLA the CPU affinity mask, which sets the size of its thread pool: both processes are pinned to the same
first N cores with ``sched_setaffinity`` (the subprocess inherits the mask). The process CPU time
of each timed run is recorded as well: "CPU/wall" shows whether a run got its cores, and node-steps per CPU-second is
less sensitive to other jobs than per wall-second.

Same problem check: activation time (first upward crossing of 0 mV, interpolated; TorchCor: from Vm snapshots every 5
steps with its ``compute_activation_map(interpolate=True)``) at the far corner of the mesh and over all nodes.

Profile (organtwin): the same run with diffusion switched off (a do-nothing `AbstractDiffusion`), i.e. the reaction
step + stimulus + activation detection alone; diffusion's share is the difference. TorchCor reports its own
ionic / electric split (``solve(verbose=True)``).

    python benchmarks/monodomain_vs_torchcor.py                       # small and large, float64 and float32
    python benchmarks/monodomain_vs_torchcor.py --cases small --repeats 3 --json out.json
    TORCHCOR_PYTHON=/path/to/venv/bin/python python benchmarks/monodomain_vs_torchcor.py
    (create the peer venv with benchmarks/peers/setup_torchcor.sh)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import (  # benchmarks/_common.py (the script's folder is on sys.path)
    CompileClock,
    machine,
    peer_missing,
    pin_threads,
    write_figures,
)

HERE = Path(__file__).resolve().parent
DEFAULT_PEER = os.environ.get("TORCHCOR_PYTHON", "/work/peers/torchcor/bin/python")
CASES = {
    # name: (size mm, dx mm)
    "small": ((4.0, 4.0, 4.0), 0.2),
    "large": ((12.0, 4.0, 2.0), 0.1),
}
STIM_CUBE = 1.5  # mm, Niederer's stimulus cube at the origin corner
STIM_PER_VOLUME = 50_000.0  # µA/cm³; / (chi 1400 /cm * Cm 1 µF/cm²) = 35.714 µA/µF
SIGMA_I = (0.17, 0.019)
SIGMA_E = (0.62, 0.24)
# TorchCor's (openCARP's) tenTusscherPanfilov initial state, in organtwin's state order.
TORCHCOR_INITIAL_V = -86.2
TORCHCOR_INITIAL_S = dict(m=0.0, h=0.75, j=0.75, xr1=0.0, xr2=1.0, xs=0.0, r=0.0, s=1.0, d=0.0, f=1.0, f2=1.0, fcass=1.0,
                          Rbar=1.0, Ca_i=7e-5, Ca_SR=1.3, Ca_ss=7e-5, Na_i=7.67, K_i=138.3)  # fmt: skip


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="small,large", help="comma list from: " + ", ".join(CASES))
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument(
        "--schemes",
        default="theta,explicit,theta_exact,theta_lut",
        help="organtwin diffusion: theta (rtol 1e-5), theta_default (organtwin's default rtol), explicit; "
        "a suffix _exact turns the Rush-Larsen lookup table off (every gate evaluated exactly), "
        "_lut turns it on in float32 too (the default uses it in float64 only)",
    )
    ap.add_argument("--dt", type=float, default=0.02, help="ms")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds per case (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="threads for both codes")
    ap.add_argument("--rtol", type=float, default=1e-5, help="CG tolerance of both codes (TorchCor r_tol and a_tol)")
    ap.add_argument("--initial", default="torchcor", choices=["torchcor", "niederer"])
    ap.add_argument("--no-torchcor", action="store_true", help="organtwin only")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--torchcor-python", default=DEFAULT_PEER)
    ap.add_argument("--workdir", default=None, help="where the mesh files go (default: a temporary folder)")
    ap.add_argument("--json", nargs="?", const="-", default=None, help="write every figure as JSON ('-': stdout)")
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # Both codes on the first --threads cores (benchmarks/_common.py; "intra_op_parallelism_threads=N" in XLA_FLAGS is
    # not an XLA flag: the parser stops there). The TorchCor subprocess inherits the mask and gets
    # torch.set_num_threads(--threads).
    pin_threads(ARGS.threads)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark script (not the library) may switch x64 on; dtypes are explicit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import organtwin.ep as ep  # noqa: E402
from organtwin.ionic import TenTusscher2006  # noqa: E402
from organtwin.mesh import read_opencarp, slab_mesh, write_opencarp, write_vtx  # noqa: E402


# ================================================================================================== problem
def write_case(name: str, folder: Path) -> dict:
    """Write the case's openCARP files (slab.pts/.elem/.lon, stim.vtx) into ``folder``; return a summary."""
    size, dx = CASES[name]
    mesh = slab_mesh(size, dx)
    mesh = mesh.replace(surfaces={}, region_names=())
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_opencarp(mesh, folder / "slab")
    stim = np.flatnonzero(np.all(mesh.points <= STIM_CUBE + 1e-6, axis=1))
    write_vtx(folder / "stim.vtx", stim, domain="extra")  # TorchCor skips the second line; organtwin accepts both
    return {
        "size_mm": list(size),
        "dx_mm": dx,
        "nodes": int(mesh.n_nodes),
        "tets": int(mesh.n_cells),
        "stim_nodes": int(stim.size),
    }


def model(initial: str) -> TenTusscher2006:
    m = TenTusscher2006.epicardial()
    if initial == "torchcor":
        s0 = [TORCHCOR_INITIAL_S[name] for name in m.state_names]
        m = m.with_initial_state(TORCHCOR_INITIAL_V, np.asarray(s0))
    return m


def diffusion(scheme: str, rtol: float):
    scheme = scheme.removesuffix("_exact").removesuffix("_lut")
    if scheme == "theta":
        return ep.ThetaScheme(theta=0.5, rtol=rtol)
    if scheme == "theta_default":
        return ep.ThetaScheme(theta=0.5)
    if scheme == "explicit":
        return ep.ExplicitLumped()
    if scheme == "reaction_only":
        return ep.NoDiffusion()
    raise ValueError(f"unknown scheme {scheme!r}")


_compile = CompileClock()  # benchmarks/_common.py


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_ours(tissue, stim, n_steps: int, dt: float, scheme: str, rtol: float, dtype) -> dict:
    t1 = n_steps * dt
    _compile.reset()
    c0, w0 = _cpu(), time.perf_counter()
    lookup = (
        None
        if scheme.endswith("_exact")
        else ep.VoltageLookup(float32=True)
        if scheme.endswith("_lut")
        else ep.VoltageLookup()
    )
    res = ep.simulate_monodomain(tissue, [stim], t1, dt, diffusion=diffusion(scheme, rtol), dtype=dtype, lookup=lookup)
    jax.block_until_ready((res.activation, res.final.V, res.final.states))
    wall = time.perf_counter() - w0
    cpu = _cpu() - c0
    assert res.n_steps == n_steps, (res.n_steps, n_steps)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "compile_s": _compile.seconds,
        "load1": os.getloadavg()[0],
        "cg_iters": int(res.cg_iterations),
        "activation": np.asarray(res.activation, dtype=np.float64),
    }


def run_torchcor(
    py: str,
    folder: Path,
    n_steps: int,
    dt: float,
    dtype: str,
    threads: int,
    rtol: float,
    all_activation: bool,
    lumped: bool = False,
) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [
        py,
        str(HERE / "peers" / "torchcor_monodomain.py"),
        "--mesh",
        str(folder),
        "--vtx",
        str(folder / "stim.vtx"),
        "--dt",
        repr(dt),
        "--steps",
        str(n_steps),
        "--dtype",
        dtype,
        "--threads",
        str(threads),
        "--a-tol",
        repr(rtol),
        "--r-tol",
        repr(rtol),
        "--stim",
        repr(STIM_PER_VOLUME / 1400.0),
        "--json",
        str(out),
    ]
    if all_activation:
        cmd.append("--all-activation")
    if lumped:
        cmd.append("--mass-lumping")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    env.pop("XLA_FLAGS", None)
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"TorchCor run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    d = json.loads(out.read_text())
    out.unlink()
    d["load1"] = max(load, os.getloadavg()[0])
    if "activation" in d:
        d["activation"] = np.array([np.inf if x is None else x for x in d["activation"]], dtype=np.float64)
    return d


# ================================================================================================== helpers
def _median(xs):
    return float(np.median(np.asarray(xs, dtype=np.float64)))


def _fmt_rate(x):
    return f"{x / 1e6:.2f}"


def activation_summary(act: np.ndarray, far: int) -> dict:
    fin = np.isfinite(act)
    return {
        "far_corner_ms": float(act[far]) if np.isfinite(act[far]) else None,
        "activated": int(fin.sum()),
        "max_ms": float(act[fin].max()) if fin.any() else None,
    }


def compare_activation(a: np.ndarray, b: np.ndarray) -> dict:
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return {
            "nodes_compared": 0,
            "mean_diff_ms": None,
            "max_abs_diff_ms": None,
            "median_rel_diff": None,
            "max_rel_diff": None,
        }
    d = a[both] - b[both]
    late = both & (b > 5.0)  # away from the stimulated corner, where the times are ~0 and relative errors meaningless
    rel = np.abs(a[late] - b[late]) / b[late]
    return {
        "nodes_compared": int(both.sum()),
        "mean_diff_ms": float(d.mean()),
        "max_abs_diff_ms": float(np.abs(d).max()),
        "median_rel_diff": float(np.median(rel)) if rel.size else None,
        "max_rel_diff": float(rel.max()) if rel.size else None,
    }


# ================================================================================================== main
def bench_case(name: str, a, workdir: Path, peer: str | None) -> dict:
    folder = workdir / name
    info = write_case(name, folder)
    mesh = read_opencarp(folder / "slab")
    n = mesh.n_nodes
    far = int(np.argmax(mesh.points.sum(axis=1)))
    cond = ep.Conductivity.harmonic_mean(ep.Conductivity(*SIGMA_I), ep.Conductivity(*SIGMA_E))
    stim = ep.Stimulus(ep.NodeSet("stim"), STIM_PER_VOLUME, start=0.0, duration=2.0)
    dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    schemes = [s.strip() for s in a.schemes.split(",") if s.strip()]
    print(
        f"\n## {name}: {n:,} nodes, {info['tets']:,} tets, {info['stim_nodes']} stimulated nodes; dt {a.dt} ms, "
        f"{a.steps} steps",
        flush=True,
    )
    tissues = {}
    for dt_name in dtypes:
        tissues[dt_name] = ep.Tissue.from_mesh(mesh, cond, model(a.initial), dtype=jnp.dtype(dt_name))

    results = {"case": name, **info, "far_corner_node": far, "runs": {}}
    runs = results["runs"]  # (code, dtype) -> list of records

    def add(key, rec):
        runs.setdefault(key, []).append(rec)

    # ---- first calls (trace + compile + run) of organtwin
    first = {}
    for dt_name in dtypes:
        for scheme in schemes + ([] if a.no_profile else ["reaction_only"]):
            r = run_ours(tissues[dt_name], stim, a.steps, a.dt, scheme, a.rtol, jnp.dtype(dt_name))
            first[(dt_name, scheme)] = r
            print(
                f"  organtwin {scheme:<13} {dt_name}: first call {r['wall_s']:.2f} s, of which trace + lower + "
                f"compile {r['compile_s']:.2f} s",
                flush=True,
            )

    # ---- interleaved rounds
    lumped_check = {}
    for rnd in range(a.repeats):
        for dt_name in dtypes:
            if peer is not None:
                r = run_torchcor(peer, folder, a.steps, a.dt, dt_name, a.threads, a.rtol, all_activation=(rnd == 0))
                add(("torchcor", dt_name), r)
                print(
                    f"  [{rnd + 1}] torchcor  {dt_name}: loop {r['loop_s']:.2f} s = warm-up {r['warmup_s']:.2f} s + "
                    f"steady {r['steady_loop_s']:.2f} s (cpu {r['steady_cpu_s']:.2f} s, load {r['load1']:.1f}), "
                    f"CG {r['cg_iters'] / r['steps']:.2f}/step",
                    flush=True,
                )
            for scheme in schemes:
                r = run_ours(tissues[dt_name], stim, a.steps, a.dt, scheme, a.rtol, jnp.dtype(dt_name))
                add(("organtwin " + scheme, dt_name), r)
                print(
                    f"  [{rnd + 1}] organtwin {scheme:<13} {dt_name}: {r['wall_s']:.2f} s (cpu {r['cpu_s']:.2f} s, "
                    f"load {r['load1']:.1f}), CG {r['cg_iters'] / a.steps:.2f}/step",
                    flush=True,
                )
            if not a.no_profile:
                r = run_ours(tissues[dt_name], stim, a.steps, a.dt, "reaction_only", a.rtol, jnp.dtype(dt_name))
                add(("organtwin reaction_only", dt_name), r)
        if rnd == 0 and peer is not None and "explicit" in schemes:
            # The explicit scheme uses the lumped mass: its activation is checked against TorchCor's mass_lumping=True
            # (one run, not part of the throughput rows).
            r = run_torchcor(
                peer, folder, a.steps, a.dt, dtypes[0], a.threads, a.rtol, all_activation=True, lumped=True
            )
            lumped_check[dtypes[0]] = r
            print(
                f"  [{rnd + 1}] torchcor  {dtypes[0]} mass_lumping=True (activation check): loop {r['loop_s']:.2f} s, "
                f"CG {r['cg_iters'] / r['steps']:.2f}/step",
                flush=True,
            )

    # ---- summary rows
    rows = []
    node_steps = n * a.steps
    for (code, dt_name), recs in runs.items():
        if code == "torchcor":
            wall = [r["steady_loop_s"] for r in recs]
            cpu = [r["steady_cpu_s"] for r in recs]
            cg = recs[0]["cg_iters"] / recs[0]["steps"]
            act = next((r["activation"] for r in recs if "activation" in r), None)
            extra = {
                "ionic_s": _median([r["steady_ionic_s"] for r in recs]),
                "electric_s": _median([r["steady_electric_s"] for r in recs]),
                "import_s": _median([r["import_s"] for r in recs]),
                "load_s": _median([r["load_s"] for r in recs]),
                "assemble_s": _median([r["assemble_s"] for r in recs]),
                "loop_total_s": [r["loop_s"] for r in recs],
            }
            compile_s = _median([r["warmup_s"] for r in recs])  # TorchScript's warm-up (profiling + fusion compile)
        else:
            wall = [r["wall_s"] for r in recs]
            cpu = [r["cpu_s"] for r in recs]
            cg = recs[0]["cg_iters"] / a.steps
            act = recs[0]["activation"]
            scheme = code.split(" ", 1)[1]
            f = first.get((dt_name, scheme))
            compile_s = None if f is None else f["compile_s"]
            extra = {} if f is None else {"first_call_s": f["wall_s"]}
        row = {
            "code": code,
            "dtype": dt_name,
            "repeats": len(recs),
            "wall_s": wall,
            "cpu_s": cpu,
            "wall_median_s": _median(wall),
            "cpu_median_s": _median(cpu),
            "node_steps_per_s": node_steps / _median(wall),
            "node_steps_per_cpu_s": node_steps / _median(cpu),
            "cpu_over_wall": _median(cpu) / _median(wall),
            "load1": [r["load1"] for r in recs],
            "cg_per_step": cg,
            "compile_s": compile_s,
            **extra,
        }
        if act is not None:
            row["activation"] = activation_summary(act, far)
            row["_act"] = act
        rows.append(row)
    # ratios and activation comparison against TorchCor of the same dtype
    for row in rows:
        ref = next((r for r in rows if r["code"] == "torchcor" and r["dtype"] == row["dtype"]), None)
        if ref is None or row["code"] == "torchcor":
            continue
        row["vs_torchcor_wall"] = row["node_steps_per_s"] / ref["node_steps_per_s"]
        row["vs_torchcor_cpu"] = row["node_steps_per_cpu_s"] / ref["node_steps_per_cpu_s"]
        if "_act" in row and "_act" in ref and not row["code"].endswith("reaction_only"):
            row["activation_vs_torchcor"] = compare_activation(row["_act"], ref["_act"])
            lumped = lumped_check.get(row["dtype"])
            if row["code"].endswith("explicit") and lumped is not None and "activation" in lumped:
                row["activation_vs_torchcor_lumped"] = compare_activation(row["_act"], lumped["activation"])
                row["torchcor_lumped_far_corner_ms"] = activation_summary(lumped["activation"], far)["far_corner_ms"]
    for row in rows:
        row.pop("_act", None)
    results["rows"] = rows
    results.pop("runs")
    return results


def print_table(case: dict) -> None:
    print(f"\n{case['case']}: {case['nodes']:,} nodes, {case['tets']:,} tets")
    print(
        "| code | dtype | compile s | run s (median) | M node-steps/s | vs TorchCor | M node-steps/CPU-s | vs TorchCor "
        "(CPU) | CPU/wall | CG it/step | far-corner act. ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in case["rows"]:
        far = (r.get("activation") or {}).get("far_corner_ms")
        comp = "" if r["compile_s"] is None else f"{r['compile_s']:.1f}"
        vs_w = f"{r['vs_torchcor_wall']:.1f}×" if "vs_torchcor_wall" in r else ""
        vs_c = f"{r['vs_torchcor_cpu']:.1f}×" if "vs_torchcor_cpu" in r else ""
        far_s = "" if far is None else f"{far:.2f}"
        print(
            f"| {r['code']} | {r['dtype']} | {comp} | {r['wall_median_s']:.2f} | {_fmt_rate(r['node_steps_per_s'])} | "
            f"{vs_w} | {_fmt_rate(r['node_steps_per_cpu_s'])} | {vs_c} | {r['cpu_over_wall']:.2f} | "
            f"{r['cg_per_step']:.2f} | {far_s} |"
        )


def main() -> int:
    a = ARGS
    peer = None if a.no_torchcor else a.torchcor_python
    if peer_missing(peer, "TorchCor", "setup_torchcor.sh", "TORCHCOR_PYTHON", "--no-torchcor"):
        return 2
    tmp = None
    if a.workdir is None:
        tmp = tempfile.mkdtemp(prefix="organtwin-vs-torchcor-")
        workdir = Path(tmp)
    else:
        workdir = Path(a.workdir)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    out = {
        "date": started,
        "machine": machine(jax=jax.__version__),
        "threads": a.threads,
        "dt": a.dt,
        "steps": a.steps,
        "rtol": a.rtol,
        "initial": a.initial,
        "affinity": sorted(os.sched_getaffinity(0)),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_before": os.getloadavg(),
        "cases": [],
    }
    try:
        for name in [c.strip() for c in a.cases.split(",") if c.strip()]:
            if name not in CASES:
                raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")
            case = bench_case(name, a, workdir, peer)
            out["cases"].append(case)
            print_table(case)
            for r in case["rows"]:
                for key, what in (
                    ("activation_vs_torchcor", "TorchCor"),
                    ("activation_vs_torchcor_lumped", "TorchCor mass_lumping=True"),
                ):
                    if key in r and r[key]["nodes_compared"]:
                        c = r[key]
                        rel = "-" if c["median_rel_diff"] is None else f"{c['median_rel_diff']:.3f}"
                        print(
                            f"  activation {r['code']} {r['dtype']} vs {what}: mean diff {c['mean_diff_ms']:+.2f} ms, "
                            f"max |diff| {c['max_abs_diff_ms']:.2f} ms, median rel. {rel} "
                            f"(over {c['nodes_compared']} nodes)"
                        )
                if r.get("torchcor_lumped_far_corner_ms") is not None:
                    print(f"  far corner: TorchCor mass_lumping=True {r['torchcor_lumped_far_corner_ms']:.2f} ms")
                if r["code"] == "torchcor":
                    print(
                        f"  TorchCor {r['dtype']} (steady state, wall): ionic {r['ionic_s']:.2f} s, electric "
                        f"{r['electric_s']:.2f} s of {r['wall_median_s']:.2f} s; warm-up {r['compile_s']:.1f} s; import "
                        f"{r['import_s']:.1f} s, mesh load {r['load_s']:.1f} s, assemble {r['assemble_s']:.1f} s"
                    )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    out["load_after"] = os.getloadavg()
    write_figures(a.json, out, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())

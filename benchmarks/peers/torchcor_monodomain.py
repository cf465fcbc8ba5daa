"""Run one TorchCor monodomain simulation (ten Tusscher-Panfilov) and write timings and activation times as JSON.

Run by the peer venv's python (see setup_torchcor.sh), not by organtwin's: ``benchmarks/monodomain_vs_torchcor.py``
calls it in a subprocess with the same openCARP mesh folder it gives organtwin. Only TorchCor's public API is used, the
way its README drives it (Monodomain, load_mesh, add_conductivity, add_stimulus, solve, compute_activation_map); the
one addition is a thin wrapper around ``Monodomain.step`` that collects the CG iterations and the ionic / electric time
split TorchCor itself measures (``solve(verbose=True)``).

TorchCor's units (read from torchcor/simulator/monodomain.py): mesh in µm read with ``unit_conversion=1000`` -> mm;
conductivities in S/m, ``K = K(sigma) / Chi`` with Chi = 140 /mm and Cm = 0.01 with the ionic and stimulus terms divided
by 100, i.e. ``dV/dt = div(100 sigma / 140 grad V) - Iion + Istim`` in mV/ms (the same D = 100 sigma / (chi Cm) as
organtwin with Cm = 1 µF/cm²), so the stimulus ``intensity`` is in µA/µF (mV/ms). The scheme is IMEX: forward Euler
reaction with Rush-Larsen gates from lookup tables, Crank-Nicolson (theta = 1/2) diffusion with the consistent mass
(``mass_lumping=False``), Jacobi-preconditioned CG (always in float64) warm-started by linear extrapolation, stopped when
``||D^-1 r|| < a_tol`` or ``||D^-1 r|| / ||D^-1 b|| < r_tol``.

    python torchcor_monodomain.py --mesh DIR --vtx DIR/stim.vtx --dt 0.02 --steps 2000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mesh", required=True, help="folder with one .pts, .elem, .lon (µm)")
    ap.add_argument("--vtx", required=True, help="stimulus node set (.vtx)")
    ap.add_argument("--dt", type=float, default=0.02, help="ms")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--il", type=float, default=0.17)
    ap.add_argument("--it", type=float, default=0.019)
    ap.add_argument("--el", type=float, default=0.62)
    ap.add_argument("--et", type=float, default=0.24)
    ap.add_argument("--stim", type=float, default=50_000.0 / 1400.0, help="µA/µF (Niederer: 50,000 µA/cm³ / 1400 /cm)")
    ap.add_argument("--stim-duration", type=float, default=2.0, help="ms")
    ap.add_argument("--a-tol", type=float, default=1e-5)
    ap.add_argument("--r-tol", type=float, default=1e-5)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--mass-lumping", action="store_true", help="Monodomain(mass_lumping=True)")
    ap.add_argument("--snapshot-steps", type=int, default=5, help="Vm snapshot every this many steps (activation times)")
    ap.add_argument("--nodes", default="", help="comma list of node indices whose activation times to report")
    ap.add_argument("--all-activation", action="store_true", help="write the activation time of every node")
    ap.add_argument("--json", required=True)
    return ap.parse_args()


WARM = 20  # steps counted as TorchScript warm-up


def main() -> None:
    a = _parse()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    t_import = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import torchcor as tc
    from torchcor.ionic import TenTusscherPanfilov
    from torchcor.simulator import Monodomain

    t_import = time.perf_counter() - t_import
    dtype = tc.float64 if a.dtype == "float64" else tc.float32
    T = a.steps * a.dt
    # Monodomain takes nt = int(T / dt); make sure that is the number of steps asked for.
    if int(T / a.dt) != a.steps:
        T = (a.steps + 0.5) * a.dt
    snapshot_interval = a.snapshot_steps * a.dt
    if int(snapshot_interval / a.dt) != a.snapshot_steps:
        snapshot_interval = (a.snapshot_steps + 1e-9) * a.dt

    t0 = time.perf_counter()
    im = TenTusscherPanfilov(cell_type="EPI", dt=a.dt, dtype=dtype)
    sim = Monodomain(ionic_models=[im], T=T, dt=a.dt, dtype=dtype, device=torch.device("cpu"),
                     mass_lumping=a.mass_lumping)
    sim.load_mesh(path=a.mesh, unit_conversion=1000)
    sim.add_conductivity(None, il=a.il, it=a.it, el=a.el, et=a.et)
    sim.add_stimulus(a.vtx, start=0.0, duration=a.stim_duration, intensity=a.stim)
    t_load = time.perf_counter() - t0

    # Collect what solve() measures per step (CG iterations; ionic / electric time with verbose=True).
    stats = {"cg_iters": 0, "ionic_s": 0.0, "electric_s": 0.0, "steps": 0, "max_iter_hit": 0}
    step_wall, step_cpu, step_ionic, step_electric = [], [], [], []
    cls_step = Monodomain.step

    def step(u, t, a_tol, r_tol, max_iter, verbose=False):
        w, c = time.perf_counter(), time.process_time()
        u, n_iter, ionic_time, electric_time = cls_step(sim, u, t, a_tol, r_tol, max_iter, verbose)
        step_wall.append(time.perf_counter() - w)
        step_cpu.append(time.process_time() - c)
        step_ionic.append(ionic_time)
        step_electric.append(electric_time)
        stats["cg_iters"] += int(n_iter)
        stats["ionic_s"] += ionic_time
        stats["electric_s"] += electric_time
        stats["steps"] += 1
        stats["max_iter_hit"] += int(n_iter >= max_iter)
        return u, n_iter, ionic_time, electric_time

    sim.step = step
    t_assemble = {}
    cls_assemble = sim.assemble

    def assemble():
        s = time.perf_counter()
        cls_assemble()
        t_assemble["s"] = time.perf_counter() - s

    sim.assemble = assemble

    with tempfile.TemporaryDirectory() as tmp:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        import contextlib
        import io

        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            Vm = sim.solve(a_tol=a.a_tol, r_tol=a.r_tol, max_iter=a.max_iter, snapshot_interval=snapshot_interval,
                           verbose=True, result_path=tmp)
        t_solve = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        ATs = sim.compute_activation_map(Vm=Vm, snapshot_interval=snapshot_interval, threshold=0.0, interpolate=True)
    ATs = ATs.double().cpu().numpy()
    cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    loop_s = t_solve - t_assemble.get("s", 0.0)
    # Warm-up: TorchScript profiles and compiles the ionic model's graph during its first calls. The warm-up is the
    # excess of the first WARM steps over the median step of the rest (the steady state), in wall and CPU time.
    warm = min(WARM, max(len(step_wall) - 1, 0))
    sw, sc = np.asarray(step_wall), np.asarray(step_cpu)
    med_w = float(np.median(sw[warm:])) if sw.size > warm else 0.0
    med_c = float(np.median(sc[warm:])) if sc.size > warm else 0.0
    warmup_s = float(sw[:warm].sum() - warm * med_w)
    warmup_cpu_s = float(sc[:warm].sum() - warm * med_c)
    # The steady-state time loop: every step, with the warm-up steps counted at the median step. What solve() does
    # outside its steps (ionic lookup tables, initial state, CG set-up) is reported as setup.
    steady_s = float(sw[warm:].sum() + warm * med_w)
    steady_cpu_s = float(sc[warm:].sum() + warm * med_c)
    si, se = np.asarray(step_ionic), np.asarray(step_electric)
    steady_ionic_s = float(si[warm:].sum() + warm * np.median(si[warm:])) if si.size > warm else 0.0
    steady_electric_s = float(se[warm:].sum() + warm * np.median(se[warm:])) if se.size > warm else 0.0
    n = int(sim.n_nodes)
    out = {
        "code": "torchcor",
        "torch": torch.__version__,
        "torchcor": _version("torchcor"),
        "threads": torch.get_num_threads(),
        "dtype": a.dtype,
        "mass_lumping": a.mass_lumping,
        "affinity": sorted(os.sched_getaffinity(0)),
        "n_nodes": n,
        "steps": stats["steps"],
        "dt": a.dt,
        "import_s": t_import,
        "load_s": t_load,
        "assemble_s": t_assemble.get("s"),
        "loop_s": loop_s,
        "solve_s": t_solve,
        "cpu_s": cpu_s,
        "warmup_steps": warm,
        "warmup_s": warmup_s,
        "warmup_cpu_s": warmup_cpu_s,
        "steady_loop_s": steady_s,
        "steady_cpu_s": steady_cpu_s,
        "solve_setup_s": float(loop_s - sw.sum()),
        "step_median_s": med_w,
        "step_cpu_median_s": med_c,
        "first_steps_s": [float(x) for x in sw[:5]],
        "ionic_s": stats["ionic_s"],
        "electric_s": stats["electric_s"],
        "steady_ionic_s": steady_ionic_s,
        "steady_electric_s": steady_electric_s,
        "cg_iters": stats["cg_iters"],
        "max_iter_hit": stats["max_iter_hit"],
        "node_steps_per_s": n * stats["steps"] / steady_s,
        "activated": int(np.isfinite(ATs).sum()),
        "activation_max": float(np.nanmax(ATs)) if np.isfinite(ATs).any() else None,
        "Vm_final_range": [float(Vm[-1].min()), float(Vm[-1].max())],
        "log_tail": log.getvalue().strip().splitlines()[-1:] if log.getvalue() else [],
    }
    if a.nodes:
        idx = [int(i) for i in a.nodes.split(",")]
        out["activation_nodes"] = {str(i): (None if not np.isfinite(ATs[i]) else float(ATs[i])) for i in idx}
    if a.all_activation:
        out["activation"] = [None if not np.isfinite(x) else float(x) for x in ATs]
    with open(a.json, "w") as f:
        json.dump(out, f)


def _version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # pragma: no cover
        return None


if __name__ == "__main__":
    sys.exit(main())

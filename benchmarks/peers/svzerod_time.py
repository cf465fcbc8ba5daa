"""Time the svZeroDSolver peer (PyPI ``svzerod``) on a 0D config: one model, then a cohort of perturbed models.

Run with the peer venv's python (benchmarks/peers/setup_svzerod.sh)::

    /work/peers/svzerod/bin/python benchmarks/peers/svzerod_time.py tests/data/zerod/closed_loop_heart.json \
        [--cohort 1000] [--spread 0.1] [--seed 0] [--repeats 5]

(i) One model: ``svzerod.Solver(config)`` is built and ``run()`` ``--repeats`` times; reported are the median wall times
of the build and of the run, the number of time steps ((points per cycle - 1) x cycles) and the run's microseconds per
step. Nothing is written to disk; svzerod keeps only its last cycle in memory, as for a normal run.

(ii) Cohort: ``--cohort N`` models run one after another in this process, each a fresh ``svzerod.Solver`` on a copy of
the config whose physical parameters are multiplied by independent factors drawn uniformly from [1 - spread,
1 + spread] (numpy default_rng(seed)): every vessel's R_poiseuille, C, L, stenosis_coefficient; the scalar values of
every boundary condition (R, Pd, Rp, C, Rd) and the amplitude of a Q(t) or P(t) waveform (one factor for the whole
array); BloodVesselJunction value lists; chamber Emax, Epass, Vrest. Activation timings and valve Rmin/Rmax are not
perturbed. Reported: total wall time (build + run of every model), models per second, failures (solver exceptions).
``--max-seconds S`` stops starting new models once S seconds have passed (at least one model runs): then
``models_run`` < ``models`` and models per second is measured on the models that ran (one after another, so the
throughput of a longer cohort is the same per model).

(iii) ``--series PREFIX`` (outside the timings): the last cycle of the unperturbed model, variable-based, as svzerod
returns it (``get_full_result()`` with ``output_variable_based``), is written to ``PREFIX_single.csv``, and that of the
first ``--series-models K`` cohort models to ``PREFIX_cohort<i>.csv``: the other code's accuracy is checked against
these.

Output: one JSON object on standard output. ``cohort_configs`` (``perturb``) is imported by
benchmarks/zerod_vs_svzerod.py (svzerod itself is imported only when the timings run), so both codes draw the same
cohort.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

BC_SCALARS = ("R", "Pd", "Rp", "C", "Rd")
BC_WAVES = ("Q", "P")
VESSEL_KEYS = ("R_poiseuille", "C", "L", "stenosis_coefficient")
CHAMBER_KEYS = ("Emax", "Epass", "Vrest")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def perturb(config: dict, rng: np.random.Generator, spread: float) -> dict:
    """A copy of ``config`` with its physical parameters scaled by factors uniform in [1 - spread, 1 + spread]."""
    c = copy.deepcopy(config)

    def f() -> float:
        return float(rng.uniform(1.0 - spread, 1.0 + spread))

    for v in c.get("vessels", []):
        vals = v["zero_d_element_values"]
        for k in VESSEL_KEYS:
            if k in vals:
                vals[k] *= f()
    for bc in c.get("boundary_conditions", []):
        vals = bc["bc_values"]
        for k in BC_SCALARS:
            if isinstance(vals.get(k), (int, float)):
                vals[k] *= f()
        for k in BC_WAVES:
            if isinstance(vals.get(k), list):
                s = f()
                vals[k] = [q * s for q in vals[k]]
    for j in c.get("junctions", []):
        for k, vals in j.get("junction_values", {}).items():
            j["junction_values"][k] = [x * f() for x in vals]
    for ch in c.get("chambers", []):
        for k in CHAMBER_KEYS:
            if k in ch["values"]:
                ch["values"][k] *= f()
    return c


def time_one(config: dict, repeats: int) -> dict:
    import svzerod
    sp = config["simulation_parameters"]
    steps = (sp["number_of_time_pts_per_cardiac_cycle"] - 1) * sp["number_of_cardiac_cycles"]
    build, run = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        solver = svzerod.Solver(config)
        t1 = time.perf_counter()
        solver.run()
        t2 = time.perf_counter()
        build.append(t1 - t0)
        run.append(t2 - t1)
    run_s = statistics.median(run)
    return {
        "repeats": repeats,
        "time_steps": steps,
        "build_s_median": statistics.median(build),
        "run_s_median": run_s,
        "wall_s_median": statistics.median(b + r for b, r in zip(build, run)),
        "run_s_all": run,
        "us_per_step": 1e6 * run_s / steps,
    }


def cohort_configs(config: dict, n: int, spread: float, seed: int) -> list[dict]:
    """The cohort: ``n`` perturbed copies of ``config``, drawn in order from one default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [perturb(config, rng, spread) for _ in range(n)]


def time_cohort(config: dict, n: int, spread: float, seed: int, max_seconds: float | None = None) -> dict:
    import svzerod
    configs = cohort_configs(config, n, spread, seed)  # drawn before the clock starts
    failures = []
    run = 0
    t0 = time.perf_counter()
    for i, c in enumerate(configs):
        if max_seconds is not None and run and time.perf_counter() - t0 > max_seconds:
            break
        try:
            solver = svzerod.Solver(c)
            solver.run()
        except Exception as e:  # noqa: BLE001 - a failed model is counted, not fatal
            failures.append({"model": i, "error": str(e)[:200]})
        run += 1
    total = time.perf_counter() - t0
    return {
        "models": n,
        "models_run": run,
        "max_seconds": max_seconds,
        "spread": spread,
        "seed": seed,
        "total_s": total,
        "models_per_s": run / total,
        "s_per_model": total / run,
        "failures": len(failures),
        "failure_examples": failures[:5],
    }


def write_series(config: dict, path: Path) -> None:
    """svzerod's last cycle of ``config``, variable-based (name, time, y), as CSV."""
    import svzerod
    c = copy.deepcopy(config)
    c["simulation_parameters"]["output_variable_based"] = True
    solver = svzerod.Solver(c)
    solver.run()
    solver.get_full_result().to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cohort", type=int, default=0, help="number of perturbed models to run one after another")
    ap.add_argument("--spread", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop starting cohort models after this many seconds (throughput from the models run)")
    ap.add_argument("--series", default=None, help="write last-cycle series to PREFIX_single.csv, PREFIX_cohort<i>.csv")
    ap.add_argument("--series-models", type=int, default=3, help="cohort models whose series --series writes")
    args = ap.parse_args()
    import svzerod

    config = json.loads(args.config.read_text())
    result = {
        "config": str(args.config),
        "svzerod_version": svzerod.__version__,
        "machine": cpu_name(),
        "cpus": os.cpu_count(),
        "single": time_one(config, args.repeats),
    }
    if args.cohort:
        result["cohort"] = time_cohort(config, args.cohort, args.spread, args.seed, args.max_seconds)
    if args.series:
        write_series(config, Path(f"{args.series}_single.csv"))
        if args.cohort:
            for i, c in enumerate(cohort_configs(config, min(args.series_models, args.cohort), args.spread, args.seed)):
                write_series(c, Path(f"{args.series}_cohort{i}.csv"))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

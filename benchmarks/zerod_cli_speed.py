"""How long a user waits for one svZeroDSolver configuration from the command line: `organtwin flow zerod CONFIG --out
OUT.csv`, cold (an empty compilation cache) and warm (the cache filled by an earlier run), side by side with the peer's
command `svzerodsolver CONFIG OUT.csv` (PyPI svzerod), on the same configurations, in one run (issue 25, item 5).

Whole processes, timed from outside as a user waits for them: each round runs the peer, ours cold and ours warm in
turn, so the ratios (ours / peer, per round) hold while a shared machine's speed drifts; each figure is reported as
min / median / max over the rounds, with the load average before and after. Wall time from ``time.perf_counter``
around the process, CPU time and peak memory from the kernel's accounting of the finished child (``os.wait4``).

``--breakdown`` adds, for each configuration, where a run's time goes, measured inside one process cold and one warm:
Python's start-up to the command, importing JAX and equinox (as the command does: `checks_without_callbacks`),
importing organtwin's 0D package, reading the configuration, and the solve (with the command's kept programs) split by
JAX's own compile events (tracing to a jaxpr, lowering to MLIR, XLA's compilation or the cache's load of it, the rest:
running), then writing the CSV.

    python benchmarks/zerod_cli_speed.py                        # 3 rounds, pulsatile_rcr and closed_loop_heart
    python benchmarks/zerod_cli_speed.py --rounds 5 --breakdown --configs tests/data/zerod/pulsatile_rcr.json

Each round also times the floor of any JAX process here (`FLOOR`: Python alone, ``import jax`` and one operation, and
the same with equinox, diffrax, optimistix and lineax imported), the part of our time no change to organtwin removes.

Writes benchmarks/results_zerod_cli_speed_<date>.json (or --out).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("tests/data/zerod/pulsatile_rcr.json", "tests/data/zerod/closed_loop_heart.json")
CACHE_ENV = "ORGANTWIN_JAX_CACHE"  # (organtwin/cli/_jax_cache.py)


def _exe(name: str) -> str:
    """The console script beside this Python (the venv's), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"zerod_cli_speed: no `{name}` command (pip install svzerod organtwin)")
    return found


def _time(cmd: list[str], env: dict[str, str]) -> dict:
    """One whole process: wall, user and system seconds, peak memory (MiB), exit status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"zerod_cli_speed: {' '.join(cmd)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_MiB": usage.ru_maxrss / 1024,  # KiB on Linux
    }


def _summary(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": len(values)}


def _commands(config: str, out: Path) -> dict[str, list[str]]:
    return {
        "peer": [_exe("svzerodsolver"), config, str(out / "peer.csv")],
        "ours": [_exe("organtwin"), "flow", "zerod", config, "--out", str(out / "ours.csv")],
    }


# The floor of any process that computes with JAX here: Python itself, importing JAX and running one operation (the
# CPU backend's start), and importing the libraries the solve is written with (equinox, diffrax, optimistix, lineax).
FLOOR = {
    "python": [sys.executable, "-c", "pass"],
    "jax_first_op": [sys.executable, "-c", "import jax, jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
    "jax_stack_first_op": [
        sys.executable,
        "-c",
        "import jax, jax.numpy as jnp, equinox, diffrax, optimistix, lineax; jnp.zeros(1).block_until_ready()",
    ],
}


def side_by_side(configs, rounds: int, work: Path) -> list[dict]:
    """Per configuration: the peer, ours cold and ours warm, ``rounds`` rounds after one warm-up round each."""
    rows = []
    for config in configs:
        out = work / Path(config).stem
        out.mkdir(parents=True, exist_ok=True)
        cmd = _commands(config, out)
        warm_cache = out / "cache-warm"
        env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
        loads: list[float] = []  # the 1-minute load average after each counted round
        runs: dict[str, list[dict]] = {"peer": [], "ours_cold": [], "ours_warm": [], **{f: [] for f in FLOOR}}
        for r in range(rounds + 1):  # round 0: warm-up (fills the warm cache, the OS's file cache), not counted
            cold_cache = out / f"cache-cold-{r}"  # empty every time
            timed = {
                "peer": _time(cmd["peer"], env),
                "ours_cold": _time(cmd["ours"], {**env, CACHE_ENV: str(cold_cache)}),
                "ours_warm": _time(cmd["ours"], {**env, CACHE_ENV: str(warm_cache)}),
                **{f: _time(c, env) for f, c in FLOOR.items()},
            }
            shutil.rmtree(cold_cache, ignore_errors=True)
            if r:
                loads.append(os.getloadavg()[0])
                for k, v in timed.items():
                    runs[k].append(v)
            print(
                f"  {Path(config).name} round {r}{' (warm-up)' if not r else ''}: "
                + ", ".join(f"{k} {v['wall_s']:.2f} s" for k, v in timed.items()),
                flush=True,
            )
        row = {
            "config": config,
            "commands": {k: " ".join(Path(c).name if i == 0 else c for i, c in enumerate(v)) for k, v in cmd.items()},
        }
        for k, rs in runs.items():
            row[k] = {fig: _summary([x[fig] for x in rs]) for fig in ("wall_s", "user_s", "sys_s", "peak_MiB")}
        for k in ("ours_cold", "ours_warm", *FLOOR):
            row[f"{k}_over_peer"] = _summary([a["wall_s"] / b["wall_s"] for a, b in zip(runs[k], runs["peer"])])
        row["warm_over_cold"] = _summary(
            [a["wall_s"] / b["wall_s"] for a, b in zip(runs["ours_warm"], runs["ours_cold"])]
        )
        row["load_average_1min_per_round"] = loads
        row["cache_entries"] = len([p for p in warm_cache.iterdir() if p.name.endswith("-cache")])
        row["kept_programs"] = sorted(p.name for p in (warm_cache / "exported").glob("*.jaxexport"))
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------------ breakdown
def _phases(config: str, out: str) -> dict:
    """Inside this process, as `organtwin flow zerod` runs (the cache as the command sets it): the phases' seconds
    and JAX's compile events (summed over the programs)."""
    t = {"python_start_s": time.perf_counter() - _T_START_WALL if _T_START_WALL else float("nan")}
    t0 = time.perf_counter()
    from organtwin.cli._jax_cache import checks_without_callbacks, use_compilation_cache

    checks_without_callbacks()  # as the command: equinox (and with it JAX) imported with EQX_ON_ERROR=nan
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    t["import_jax_equinox_s"] = time.perf_counter() - t0
    from jax._src import monitoring

    events: dict[str, float] = {}
    counts: dict[str, int] = {}

    def duration(name: str, secs: float, **kw) -> None:
        events[name] = events.get(name, 0.0) + secs
        counts[name] = counts.get(name, 0) + 1

    def event(name: str, **kw) -> None:
        counts[name] = counts.get(name, 0) + 1

    monitoring.register_event_duration_secs_listener(duration)
    monitoring.register_event_listener(event)
    t0 = time.perf_counter()
    folder = use_compilation_cache(True)
    assert folder is not None
    from organtwin.flow.zerod import read_svzerod, run_svzerod, svzerod_csv

    t["import_organtwin_zerod_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cfg = read_svzerod(config)
    t["read_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_svzerod(cfg, dtype=jnp.float64, kept=folder / "exported")  # as the command
    run = time.perf_counter() - t0
    trace = events.get("/jax/core/compile/jaxpr_trace_duration", 0.0)
    lower = events.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0.0)
    compile_ = events.get("/jax/core/compile/backend_compile_duration", 0.0)  # a cache hit: the load
    t["solve_s"] = run
    t["solve_trace_s"] = trace
    t["solve_lower_s"] = lower
    t["solve_xla_compile_or_cache_load_s"] = compile_
    t["solve_rest_s"] = run - trace - lower - compile_  # running, and Python around it (the stiffness estimate)
    t["programs_compiled"] = counts.get("/jax/core/compile/backend_compile_duration", 0)
    t["cache_hits"] = counts.get("/jax/compilation_cache/cache_hits", 0)
    t["cache_misses"] = counts.get("/jax/compilation_cache/cache_misses", 0)
    t0 = time.perf_counter()
    Path(out).write_text(svzerod_csv(res))
    t["csv_s"] = time.perf_counter() - t0
    return t


_T_START_WALL = 0.0  # the parent's clock at the child's start (--phases: passed in), for Python's own start-up


def breakdown(configs, work: Path) -> list[dict]:
    """Per configuration: the phases of one run cold (empty cache) and one warm (the cache it filled)."""
    rows = []
    for config in configs:
        cache = work / f"breakdown-{Path(config).stem}"
        shutil.rmtree(cache, ignore_errors=True)
        row = {"config": config}
        for kind in ("cold", "warm"):
            env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
            env[CACHE_ENV] = str(cache)
            start = time.perf_counter()
            cmd = [sys.executable, __file__, "--phases", config, str(work / "breakdown.csv"), repr(start)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                raise SystemExit(f"zerod_cli_speed --phases {config}: {done.stderr[-800:]}")
            phases = json.loads(done.stdout.strip().splitlines()[-1])
            phases["process_wall_s"] = time.perf_counter() - start
            row[kind] = phases
            print(
                f"  {Path(config).name} {kind}: "
                + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in phases.items()),
                flush=True,
            )
        rows.append(row)
    return rows


def _machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
        if Path("/proc/cpuinfo").exists()
        else "",
    }


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("organtwin", "jax", "jaxlib", "diffrax", "equinox", "svzerod")}


def main(argv: list[str] | None = None) -> None:
    global _T_START_WALL
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3, help="counted rounds (after one warm-up round)")
    ap.add_argument("--breakdown", action="store_true", help="also the phases of one cold and one warm run")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--phases", nargs=3, metavar=("CONFIG", "OUT", "START"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phases:  # the child of --breakdown
        config, out, start = args.phases
        _T_START_WALL = float(start)
        print(json.dumps(_phases(config, out)))
        return
    date = datetime.date.today().isoformat()
    result = {
        "what": "one svZeroDSolver configuration from the command line: organtwin flow zerod (cold: empty JAX "
        "compilation cache; warm: filled) vs the peer's svzerodsolver, whole processes",
        "date": date,
        "machine": _machine(),
        "versions": _versions(),
        "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="zerod_cli_speed-") as tmp:
        work = Path(tmp)
        result["side_by_side"] = side_by_side(args.configs, args.rounds, work)
        if args.breakdown:
            result["breakdown"] = breakdown(args.configs, work)
    result["load_average_after"] = os.getloadavg()
    out = args.out or ROOT / "benchmarks" / f"results_zerod_cli_speed_{date}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["side_by_side"]:
        med = {k: row[k]["wall_s"]["median"] for k in ("peer", "ours_cold", "ours_warm")}
        print(
            f"{Path(row['config']).name}: peer {med['peer']:.2f} s, ours cold {med['ours_cold']:.2f} s "
            f"({row['ours_cold_over_peer']['median']:.1f}x), warm {med['ours_warm']:.2f} s "
            f"({row['ours_warm_over_peer']['median']:.1f}x)"
        )
    print(f"load average {result['load_average_before']} -> {result['load_average_after']}; wrote {out}")


if __name__ == "__main__":
    main()

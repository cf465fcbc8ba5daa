"""Eikonal activation: organtwin (JAX, in-process) against fim-python (CPU, subprocess in its own venv), side by side.

The same problem for both codes: a structured Kuhn-split box of side L mm (``--sizes``: cells per side), homogeneous
anisotropic medium (fibres at 30° in the x–y plane, velocities 0.6 / 0.4 / 0.2 m/s along fibre / sheet / normal), one
point source at the corner (0, 0, 0) relaxed over a 2 mm ball: the nodes within 2 mm get the exact travel time, for both
codes (organtwin `EikonalSite(radius=2)`; fim-python ``x0`` / ``x0_vals``). The exact solution is the anisotropic
distance ``||x||_M`` (no boundary effect: the source is a corner and the box is convex), so both codes' errors are
measured node by node against it (mean, max, and the mean over nodes farther than 5 mm from the source).

Timing: organtwin `simulate_eikonal` after compilation (median of ``--repeats``; compile time apart), fim-python
``comp_fim`` (median; solver creation apart), both pinned to ``--threads`` cores (sched_setaffinity, inherited by the
subprocess). "vs fim" = fim time / organtwin time (> 1: organtwin faster).

    python benchmarks/eikonal_vs_fim.py --sizes 26,56 --repeats 3 --json out.json
    FIM_PYTHON=/path/to/venv/bin/python ...   (create it with benchmarks/peers/setup_fim.sh)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (  # benchmarks/_common.py (the script's folder is on sys.path)
    pin_threads,
    timed_eikonal,
    write_figures,
)

HERE = Path(__file__).resolve().parent
DEFAULT_PEER = os.environ.get("FIM_PYTHON", "/work/peers/fim/bin/python")


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="26,56", help="cells per box side (26: 105k tets, 56: 1.05M tets)")
    ap.add_argument("--length", type=float, default=20.0, help="box side, mm")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fim-python", default=DEFAULT_PEER)
    ap.add_argument("--no-fim", action="store_true")
    ap.add_argument("--json", default=None)
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    pin_threads(ARGS.threads)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark script may; dtypes are explicit below
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import organtwin.ep as ep  # noqa: E402

sys.path.insert(0, str(HERE.parent / "tests"))
from problems import box_mesh  # noqa: E402

V3 = (0.6, 0.4, 0.2)
ANGLE = np.deg2rad(30.0)
RADIUS = 2.0


def problem(n: int, L: float):
    mesh = box_mesh(n, n, n, L, L, L)
    f = np.array([np.cos(ANGLE), np.sin(ANGLE), 0.0])
    s = np.array([-np.sin(ANGLE), np.cos(ANGLE), 0.0])
    mesh = mesh.replace(fibres=np.tile(f, (mesh.n_cells, 1)), sheets=np.tile(s, (mesh.n_cells, 1)))
    nvec = np.cross(f, s)
    p = np.asarray(mesh.points)
    exact = np.sqrt((p @ f / V3[0]) ** 2 + (p @ s / V3[1]) ** 2 + (p @ nvec / V3[2]) ** 2)
    Vt = V3[0] ** 2 * np.outer(f, f) + V3[1] ** 2 * np.outer(s, s) + V3[2] ** 2 * np.outer(nvec, nvec)
    return mesh, exact, Vt


def errors(t, exact, p) -> dict:
    t = np.asarray(t, np.float64)
    e = np.abs(t - exact)
    far = np.linalg.norm(p, axis=1) > 5.0
    return {
        "mean_abs_err_ms": float(e.mean()),
        "max_abs_err_ms": float(e.max()),
        "mean_abs_err_far_ms": float(e[far].mean()),
        "mean_rel_err_far": float(np.mean(e[far] / exact[far])),
    }


def run_ours(mesh, dtype, repeats):
    tissue = ep.EikonalTissue.from_mesh(mesh, ep.ConductionVelocity(*V3), dtype=dtype)
    site = ep.EikonalSite(jnp.zeros(3, dtype), jnp.zeros((), dtype), radius=RADIUS)
    return timed_eikonal(tissue, site, repeats)


def run_fim(mesh, exact, Vt, dtype, repeats, peer):
    p = np.asarray(mesh.points)
    x0 = np.flatnonzero(np.linalg.norm(p, axis=1) <= RADIUS + 1e-12)
    npdt = np.float64 if dtype == "float64" else np.float32
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "problem.npz", Path(d) / "out.npz"
        np.savez(
            src,
            points=p.astype(npdt),
            tets=np.asarray(mesh.tets, np.int64),
            D=np.broadcast_to(Vt, (mesh.n_cells, 3, 3)).astype(npdt),
            x0=x0,
            x0_vals=exact[x0].astype(npdt),
        )
        t0 = time.perf_counter()
        subprocess.run([peer, str(HERE / "peers" / "fim_eikonal.py"), str(src), str(out), str(repeats)], check=True)
        total = time.perf_counter() - t0
        r = np.load(out)
        return r["phi"], [float(x) for x in r["times"]], float(r["create_s"]), total


def main() -> None:
    a = ARGS
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        mesh, exact, Vt = problem(n, a.length)
        p = np.asarray(mesh.points)
        print(
            f"\n## box {n}^3 cells x 6: {mesh.n_nodes:,} nodes, {mesh.n_cells:,} tets, h = {a.length / n:.3g} mm",
            flush=True,
        )
        for dt in a.dtypes.split(","):
            res, first, walls = run_ours(mesh, jnp.dtype(dt), a.repeats)
            med = float(np.median(walls))
            row = {
                "code": "organtwin",
                "dtype": dt,
                "nodes": mesh.n_nodes,
                "tets": mesh.n_cells,
                "wall_median_s": med,
                "walls_s": walls,
                "compile_and_first_s": first,
                "sweeps": int(res.sweeps),
                **errors(res.activation, exact, p),
            }
            rows.append(row)
            print(
                f"  organtwin {dt}: {med:.3f} s (first call {first:.1f} s), {int(res.sweeps)} sweeps, "
                f"mean err {row['mean_abs_err_ms']:.4f} ms, max {row['max_abs_err_ms']:.3f} ms",
                flush=True,
            )
            if not a.no_fim:
                phi, times, create_s, total = run_fim(mesh, exact, Vt, dt, a.repeats, a.fim_python)
                fmed = float(np.median(times))
                frow = {
                    "code": "fim-python",
                    "dtype": dt,
                    "nodes": mesh.n_nodes,
                    "tets": mesh.n_cells,
                    "wall_median_s": fmed,
                    "walls_s": times,
                    "create_s": create_s,
                    **errors(phi, exact, p),
                }
                rows.append(frow)
                agree = float(np.max(np.abs(phi - np.asarray(res.activation, np.float64))))
                print(
                    f"  fim-python {dt}: {fmed:.3f} s (solver creation {create_s:.1f} s), mean err "
                    f"{frow['mean_abs_err_ms']:.4f} ms, max {frow['max_abs_err_ms']:.3f} ms; organtwin vs fim: "
                    f"{fmed / med:.1f}x faster; max |difference| {agree:.3g} ms",
                    flush=True,
                )
                row["vs_fim"] = fmed / med
                row["max_abs_diff_vs_fim_ms"] = agree
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "threads": a.threads,
        "velocities_m_per_s": V3,
        "fibre_angle_deg": 30.0,
        "source_radius_mm": RADIUS,
        "length_mm": a.length,
    }
    write_figures(a.json, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()

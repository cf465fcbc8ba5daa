"""One beat's 12-lead ECG from an eikonal activation on a ~100k-node biventricular mesh, and the gradient of an ECG loss
w.r.t. every velocity and site: wall times after compilation (issue 4, item 6).

Pipeline: `simulate_eikonal` (regional fibre / sheet / normal velocities, fast endocardial layer, two sites with onsets)
-> `APTemplate` (Vm every ``--dt`` ms over ``--beat`` ms) -> pseudo-ECG lead matrix (computed once, not timed with
the beat) -> 12 leads. Loss: mean squared difference to a target ECG (the forward ECG of perturbed parameters); the
gradient is taken w.r.t. the velocity table (2 regions x 3), the fast layer's velocity, and both sites' positions and
onsets (14 numbers). float32 (the default of the CLI) and float64.

    python benchmarks/ecg_pipeline.py --mesh patient.vtu        # a biventricular mesh with LV/RV regions, endo/epi/base
    python benchmarks/ecg_pipeline.py --h 1.05                   # generate one (~96k nodes, gmsh: a few minutes)
"""

from __future__ import annotations

import argparse
import time

from _common import pin_threads, write_figures  # benchmarks/_common.py (the script's folder is on sys.path)


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mesh", default=None, help="a biventricular mesh file (default: generate with --h)")
    ap.add_argument("--h", type=float, default=1.05, help="mesh size for the generated biventricular mesh, mm")
    ap.add_argument("--beat", type=float, default=450.0, help="ms")
    ap.add_argument("--dt", type=float, default=1.0, help="ECG sampling step, ms")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--json", default=None)
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    pin_threads(ARGS.threads)

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import organtwin.ep as ep  # noqa: E402
from organtwin.ecg import ELECTRODE_NAMES, electrodes_for_mesh, pseudo_ecg, pseudo_ecg_matrix, twelve_leads  # noqa: E402
from organtwin.mesh import biv_mesh, read_mesh, rule_based_fibres  # noqa: E402


def _median_time(f, repeats):
    out = jax.block_until_ready(f())
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f())
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def main() -> None:
    a = ARGS
    t0 = time.perf_counter()
    mesh = read_mesh(a.mesh) if a.mesh else biv_mesh(h=a.h)
    if mesh.fibres is None:
        mesh = rule_based_fibres(mesh)
    setup_mesh_s = time.perf_counter() - t0
    el = np.stack([electrodes_for_mesh(mesh)[n] for n in ELECTRODE_NAMES])
    print(
        f"mesh: {mesh.n_nodes:,} nodes, {mesh.n_cells:,} tets (read/generate + fibres {setup_mesh_s:.1f} s)", flush=True
    )
    rows = []
    for dt_name in a.dtypes.split(","):
        dtype = jnp.dtype(dt_name)
        tissue = ep.EikonalTissue.from_mesh(
            mesh,
            {1: ep.ConductionVelocity(0.6, 0.4, 0.3), 2: ep.ConductionVelocity(0.6, 0.4, 0.3)},
            fast_endocardium=("endo_lv", "endo_rv"),
            fast_velocity=1.5,
            dtype=dtype,
        )
        L = pseudo_ecg_matrix(tissue.points, tissue.tets, 0.2, jnp.asarray(el, dtype))
        times = jnp.arange(0.0, a.beat, a.dt, dtype=dtype)
        tpl = ep.APTemplate()

        # Mesh arrays are passed as arguments, not closed over: closed-over arrays become constants that XLA tries to
        # fold (seconds of compilation for the scatters over the tets).
        def unpack(theta, tissue):
            t = eqx.tree_at(lambda t: (t.velocity, t.fast_velocity), tissue, (theta[:6].reshape(2, 3), theta[6]))
            sites = [
                ep.EikonalSite(theta[7:10], theta[10], radius=4.0),
                ep.EikonalSite(theta[11:14], theta[14], radius=4.0),
            ]
            return t, sites

        @eqx.filter_jit
        def ecg_of(theta, tissue, L, times):  # `tpl` of this iteration: compiled and used in it
            t, sites = unpack(theta, tissue)
            act = ep.simulate_eikonal(t, sites).activation
            return twelve_leads(pseudo_ecg(L, tpl(act, times, 280.0 - 0.3 * act)))  # noqa: B023

        def ecg(theta, tissue=tissue, L=L, times=times):
            return ecg_of(theta, tissue, L, times)

        theta = jnp.asarray([0.6, 0.4, 0.3, 0.6, 0.4, 0.3, 1.5, 0.0, 0.0, -60.0, 0.0, 0.0, -25.0, -25.0, 5.0], dtype)
        target = ecg(
            theta * jnp.asarray([1.05] * 7 + [1.0] * 8, dtype)
            + jnp.asarray([0] * 7 + [2.0, 0, 0, 1.0, 0, 2.0, 0, 3.0], dtype)
        )

        def loss_of(theta, tissue, L, times, target):
            return jnp.mean((ecg_of(theta, tissue, L, times) - target) ** 2)

        vg = eqx.filter_jit(jax.value_and_grad(loss_of))

        def grad(theta, vg=vg, tissue=tissue, L=L, times=times, target=target):
            return vg(theta, tissue, L, times, target)

        t0 = time.perf_counter()
        jax.block_until_ready(ecg(theta))
        first_fwd = time.perf_counter() - t0
        fwd_s, leads = _median_time(lambda theta=theta: ecg(theta), a.repeats)
        t0 = time.perf_counter()
        jax.block_until_ready(grad(theta))
        first_grad = time.perf_counter() - t0
        grad_s, (val, g) = _median_time(lambda theta=theta: grad(theta), a.repeats)
        row = {
            "dtype": dt_name,
            "nodes": mesh.n_nodes,
            "tets": mesh.n_cells,
            "ecg_samples": int(times.size),
            "forward_s": fwd_s,
            "forward_first_s": first_fwd,
            "gradient_s": grad_s,
            "gradient_first_s": first_grad,
            "gradient_over_forward": grad_s / fwd_s,
            "loss": float(val),
            "grad_finite": bool(np.all(np.isfinite(g))),
        }
        rows.append(row)
        print(
            f"{dt_name}: 12-lead ECG of one beat ({times.size} samples) {fwd_s:.2f} s after compilation (first call "
            f"{first_fwd:.1f} s); value and gradient w.r.t. 15 parameters {grad_s:.2f} s = {grad_s / fwd_s:.1f}x the "
            f"forward (first call {first_grad:.1f} s)",
            flush=True,
        )
    write_figures(a.json, {"rows": rows, "threads": a.threads, "mesh": a.mesh or f"biv_mesh(h={a.h})"})


if __name__ == "__main__":
    main()

"""P1 stiffness matvec: organtwin's ELL layout (JAX, jitted) against scipy's CSR ``A @ x`` on the same matrix.

Builds structured slab meshes (20 × 7 × 3 mm, the Niederer 2011 slab, Kuhn-split hexes) of about 100k and 1M tets, assembles
the anisotropic monodomain stiffness once (fibres rotating through the wall, sigma_l 0.1334 / sigma_t 0.0176 S/m), then times
``y = A x`` in float32 and float64 for

    ell            the default `EllMatrix.matvec` (slot-major ELL: Σ_k values[k] * x[cols[k]], unrolled over the width)
    ell_rowmajor   the same entries as (nodes, width) arrays: (values * x[cols]).sum(-1)
    csr_segsum     CSR in JAX: data * x[indices], segment_sum over the sorted row ids
    ebe            element by element: y = scatter_add(Ke @ x[tets]) (no assembled matrix)
    scipy_csr      scipy.sparse CSR (single-threaded C loop), the peer

Each JAX variant is jitted; the first call (trace + compile + run) is reported apart, then the median (and minimum) of
``--repeats`` calls, each ending in ``block_until_ready``, the variants timed round-robin (one call of each per round, so
that load from other jobs on a shared machine falls on all of them alike). Results are checked against scipy (relative max-norm error).
A second figure, "in loop", is the time per matvec inside one jitted ``fori_loop`` of ``--inner`` steps
``x <- x + c A x`` (how a time stepper uses it: no per-call dispatch), against the same Python loop around scipy.
"GB/s" is the minimum traffic of each format (matrix values and indices read once, x read once, y written once) divided by
the median time: a comparable figure, not a hardware counter.

    python benchmarks/matvec.py                 # table
    python benchmarks/matvec.py --json out.json # and the figures as JSON ("-" for stdout)
    python benchmarks/matvec.py --threads 1     # XLA CPU limited to one thread (scipy is single-threaded anyway)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,1M", help="comma list from: 10k, 100k, 1M")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--variants", default="ell,ell_rowmajor,csr_segsum,ebe,scipy_csr")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--inner", type=int, default=20, help="matvecs per timed call in the in-loop figure")
    ap.add_argument("--threads", type=int, default=0, help="XLA CPU threads (0: XLA's default, all cores)")
    ap.add_argument(
        "--json", nargs="?", const="-", default=None, help="write the results as JSON to a file ('-': stdout)"
    )
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={ARGS.threads}"
    )

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark script (not the library) may switch x64 on; float32 is explicit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from problems import box_mesh  # noqa: E402

from organtwin.mesh import (  # noqa: E402
    P1Geometry,
    SparsityPattern,
    assemble,
    conductivity_tensors,
    element_stiffness,
)

# Slab 20 x 7 x 3 mm; hex counts chosen for ~100k and ~1M tets (6 tets per hex).
SIZES = {"10k": (30, 10, 6), "100k": (70, 24, 10), "1M": (150, 52, 22)}
SLAB = (20.0, 7.0, 3.0)
SIGMA_L, SIGMA_T = 0.1334, 0.0176


def fibre_field(mesh) -> np.ndarray:
    """Fibres in the x-y plane rotating from +60° to -60° through the slab thickness (z)."""
    zc = mesh.points[mesh.tets, 2].mean(axis=1)
    angle = np.deg2rad(60.0 - 120.0 * zc / SLAB[2])
    return np.column_stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)])


def _timed(call):
    t0 = time.perf_counter()
    jax.block_until_ready(call())
    return time.perf_counter() - t0


def _interleaved(calls: dict, repeats: int) -> dict:
    """Median and minimum seconds of each call, timing the calls round-robin (one of each per round) so that load from
    other jobs on a shared machine falls on all of them alike."""
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for k, call in calls.items():
            times[k].append(_timed(call))
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def _in_loop(matvec, inner):
    """jit(fori_loop(inner × x <- x + c A x)); c small so the iterate stays bounded."""

    def run(args, x):
        c = jnp.asarray(1e-3, x.dtype)
        return jax.lax.fori_loop(0, inner, lambda i, x: x + c * matvec(*args, x), x)

    return jax.jit(run)


def run_size(label: str, dtypes, variants, repeats, inner):
    nx, ny, nz = SIZES[label]
    t0 = time.perf_counter()
    mesh = box_mesh(nx, ny, nz, *SLAB)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    pattern = SparsityPattern.from_mesh(mesh)
    t_pattern = time.perf_counter() - t0
    geom = P1Geometry.from_mesh(mesh, dtype=jnp.float64)
    D = conductivity_tensors(SIGMA_L, SIGMA_T, jnp.asarray(fibre_field(mesh)))
    assemble_jit = jax.jit(lambda g, D, p: assemble(p, element_stiffness(g, D)))
    t0 = time.perf_counter()
    K = jax.block_until_ready(assemble_jit(geom, D, pattern))
    t_assemble_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    K = jax.block_until_ready(assemble_jit(geom, D, pattern))
    t_assemble = time.perf_counter() - t0
    Ke64 = element_stiffness(geom, D)
    A64 = K.to_scipy()
    n, w, c, nnz = mesh.n_nodes, pattern.width, mesh.n_cells, A64.nnz
    info = dict(
        size=label,
        hexes=[nx, ny, nz],
        nodes=n,
        tets=c,
        nnz=int(nnz),
        width=w,
        box_mesh_s=t_mesh,
        pattern_build_s=t_pattern,
        assemble_first_call_s=t_assemble_first,
        assemble_s=t_assemble,
    )
    rows = []
    rng = np.random.default_rng(0)
    x64 = rng.normal(size=n)
    row_ids = np.repeat(np.arange(n), np.diff(A64.indptr))
    for dname in dtypes:
        dt = np.dtype(dname)
        vb = dt.itemsize
        A = A64.astype(dt)
        x_np = x64.astype(dt)
        ref = A @ x_np
        x = jnp.asarray(x_np)
        vals = K.values.astype(dt)
        single, loops, meta = {}, {}, {}
        for var in variants:
            if var == "scipy_csr":
                c_ = dt.type(1e-3)

                def host_loop(A=A, c_=c_, x_np=x_np):
                    z = x_np
                    for _ in range(inner):
                        z = z + c_ * (A @ z)
                    return z

                single[var] = lambda A=A, x_np=x_np: A @ x_np
                loops[var] = host_loop
                meta[var] = dict(first=None, y=ref, traffic=nnz * (vb + 4) + (n + 1) * 4 + 2 * n * vb)
                continue
            if var == "ell":
                mv = lambda M, x: M.matvec(x)
                args = (K.with_values(vals),)
                traffic = n * w * (vb + 4) + 2 * n * vb
            elif var == "ell_rowmajor":
                mv = lambda v, cidx, x: jnp.sum(v * x[cidx], axis=-1)
                args = (vals.T.copy(), pattern.cols.T.copy())
                traffic = n * w * (vb + 4) + 2 * n * vb
            elif var == "csr_segsum":
                mv = lambda d, i, r, x: jax.ops.segment_sum(d * x[i], r, num_segments=n, indices_are_sorted=True)
                args = (jnp.asarray(A.data), jnp.asarray(A.indices, jnp.int32), jnp.asarray(row_ids, jnp.int32))
                traffic = nnz * (vb + 8) + 2 * n * vb
            elif var == "ebe":
                mv = lambda Ke, t, x: jax.ops.segment_sum(
                    jnp.einsum("cab,cb->ca", Ke, x[t]).reshape(-1), t.reshape(-1), num_segments=n
                )
                args = (Ke64.astype(dt), geom.tets)
                traffic = c * 16 * vb + c * 4 * 4 + 2 * n * vb
            else:
                raise SystemExit(f"unknown variant {var!r}")
            fn = jax.jit(mv)
            first = _timed(lambda fn=fn, args=args, x=x: fn(*args, x))  # trace + compile + first run
            loop = _in_loop(mv, inner)
            _timed(lambda loop=loop, args=args, x=x: loop(args, x))
            single[var] = lambda fn=fn, args=args, x=x: fn(*args, x)
            loops[var] = lambda loop=loop, args=args, x=x: loop(args, x)
            meta[var] = dict(first=first, y=np.asarray(fn(*args, x)), traffic=traffic)
        t_single = _interleaved(single, repeats)
        t_loop = _interleaved(loops, max(3, repeats // 5))
        for var in variants:
            med, mn = t_single[var]
            per = t_loop[var][0] / inner
            traffic = meta[var]["traffic"]
            err = float(np.abs(meta[var]["y"] - ref).max() / np.abs(ref).max())
            rows.append(
                dict(
                    size=label,
                    dtype=dname,
                    variant=var,
                    first_call_s=meta[var]["first"],
                    median_ms=med * 1e3,
                    min_ms=mn * 1e3,
                    matvecs_per_s=1.0 / med,
                    gb_per_s=traffic / med / 1e9,
                    in_loop_ms=per * 1e3,
                    in_loop_matvecs_per_s=1.0 / per,
                    in_loop_gb_per_s=traffic / per / 1e9,
                    rel_err_vs_scipy=err,
                )
            )
    return info, rows


def main():
    args = ARGS
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    meta = dict(
        date=datetime.date.today().isoformat(),
        machine=platform.processor() or platform.machine(),
        cpus=os.cpu_count(),
        jax=jax.__version__,
        backend=jax.default_backend(),
        xla_threads=args.threads or "default",
        python=platform.python_version(),
        command=" ".join(["python"] + sys.argv),
        load_average_before=os.getloadavg()[0],
    )
    print(
        f"# P1 stiffness matvec, {meta['date']}, {meta['cpus']} CPUs, JAX {meta['jax']} ({meta['backend']}), "
        f"XLA threads: {meta['xla_threads']}"
    )
    infos, all_rows = [], []
    for label in sizes:
        info, rows = run_size(label, dtypes, variants, args.repeats, args.inner)
        infos.append(info)
        all_rows += rows
        print(
            f"\n## {label}: {info['nodes']} nodes, {info['tets']} tets, nnz {info['nnz']}, ELL width {info['width']}; "
            f"mesh {info['box_mesh_s']:.2f} s, pattern {info['pattern_build_s']:.2f} s, "
            f"assembly {info['assemble_s'] * 1e3:.0f} ms (first call {info['assemble_first_call_s']:.2f} s)"
        )
        print(
            f"{'dtype':8s} {'variant':13s} {'compile+1st':>11s} {'median ms':>10s} {'min ms':>8s} {'matvec/s':>9s} "
            f"{'GB/s':>6s} {'vs scipy':>8s} | {'loop ms':>8s} {'matvec/s':>9s} {'GB/s':>6s} {'vs scipy':>8s} | {'rel err':>8s}"
        )
        scipy_med = {r["dtype"]: r["median_ms"] for r in rows if r["variant"] == "scipy_csr"}
        scipy_loop = {r["dtype"]: r["in_loop_ms"] for r in rows if r["variant"] == "scipy_csr"}
        for r in rows:
            first = "-" if r["first_call_s"] is None else f"{r['first_call_s']:.2f} s"
            ratio = f"{scipy_med[r['dtype']] / r['median_ms']:.2f}x" if r["dtype"] in scipy_med else "-"
            lratio = f"{scipy_loop[r['dtype']] / r['in_loop_ms']:.2f}x" if r["dtype"] in scipy_loop else "-"
            print(
                f"{r['dtype']:8s} {r['variant']:13s} {first:>11s} {r['median_ms']:10.3f} {r['min_ms']:8.3f} "
                f"{r['matvecs_per_s']:9.0f} {r['gb_per_s']:6.2f} {ratio:>8s} | {r['in_loop_ms']:8.3f} "
                f"{r['in_loop_matvecs_per_s']:9.0f} {r['in_loop_gb_per_s']:6.2f} {lratio:>8s} | "
                f"{r['rel_err_vs_scipy']:8.1e}"
            )
    meta["load_average_after"] = os.getloadavg()[0]
    print(
        f"\n(1-min load average {meta['load_average_before']:.1f} before, {meta['load_average_after']:.1f} after: "
        "other jobs on the machine inflate medians; the minimum is the less disturbed figure)"
    )
    if args.json:
        out = json.dumps(dict(meta=meta, meshes=infos, results=all_rows), indent=1)
        if args.json == "-":
            print(out)
        else:
            Path(args.json).write_text(out)
            print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

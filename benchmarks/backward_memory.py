"""Peak memory of the backward pass of `simulate_monodomain` against the number of time steps, with and without
checkpointing.

The loss is a weighted sum of activation times on a strand (Mitchell–Schaeffer, explicit diffusion, float32 by default);
its gradient w.r.t. the per-region conductivities is compiled with ``jax.jit(jax.grad(loss))`` and XLA's
``memory_analysis()`` of the compiled program gives the temporary buffer size (the working memory of the whole forward +
backward computation: residuals saved for the backward pass and their recomputation). With ``--run`` every configuration
is also executed (after one warm-up call) in a fresh subprocess, and the increase of its resident set size during the
gradient call is reported: the kernel's peak-RSS mark is reset just before the call (Linux /proc/self/clear_refs) and
the peak (VmHWM) minus the RSS at that moment is printed.

Usage:
    python benchmarks/backward_memory.py                      # 1k, 2k, 4k, 8k steps; compiled temp sizes
    python benchmarks/backward_memory.py --run                # also measured peak RSS (runs every gradient)
    python benchmarks/backward_memory.py --steps 1000 16000 --dx 0.1 --dtype float64
    python benchmarks/backward_memory.py --model tt --steps 1000 4000

Printed as a markdown table (for benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time


def _problem(args):
    import jax.numpy as jnp
    import numpy as np

    import organtwin.ep as ep
    from organtwin.ionic import MitchellSchaeffer2003, TenTusscher2006
    from organtwin.mesh import slab_mesh

    mesh = slab_mesh((args.length, 0.4, 0.4), args.dx)
    cx = mesh.points[mesh.tets].mean(axis=1)[:, 0]
    mesh = mesh.replace(regions=np.where(cx < args.length / 2, 1, 2))
    dtype = jnp.dtype(args.dtype)
    tissue = ep.Tissue.from_mesh(
        mesh,
        {1: ep.Conductivity(0.13, 0.02), 2: ep.Conductivity(0.09, 0.02)},
        TenTusscher2006.epicardial() if args.model == "tt" else MitchellSchaeffer2003(),
        dtype=dtype,
    )
    stim = ep.Stimulus(ep.Box((0, 0, 0), (0.6, 1, 1)), 50_000.0, duration=2.0)
    weights = jnp.asarray(mesh.points[:, 0] / args.length, dtype)
    return mesh, tissue, stim, weights


def _loss_fn(tissue, stim, weights, n_steps, dt, checkpoint):
    import equinox as eqx
    import jax.numpy as jnp

    import organtwin.ep as ep

    def loss(sigma):
        t = eqx.tree_at(lambda t: t.sigma, tissue, sigma)
        act = ep.simulate_monodomain(
            t, [stim], n_steps * dt, dt, checkpoint=checkpoint, chunk_steps=math.ceil(math.sqrt(n_steps))
        ).activation
        return jnp.sum(jnp.where(jnp.isfinite(act), weights * act, 0.0))

    return loss


def compiled_temp_bytes(args, n_steps: int, checkpoint: bool) -> tuple[int, float]:
    import jax

    _, tissue, stim, w = _problem(args)
    loss = _loss_fn(tissue, stim, w, n_steps, args.dt, checkpoint)
    t = time.perf_counter()
    compiled = jax.jit(jax.grad(loss)).lower(tissue.sigma).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes), time.perf_counter() - t


def _one_run(args) -> None:
    """Subprocess body: run one gradient, print JSON with the peak RSS increase (bytes) and the run time."""
    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    _, tissue, stim, w = _problem(args)
    import organtwin.ep as ep

    loss = _loss_fn(tissue, stim, w, args.one_steps, args.dt, ep.Checkpointing(args.one_checkpoint))
    g = jax.jit(jax.grad(loss))
    compiled = g.lower(tissue.sigma).compile()
    compiled(tissue.sigma).block_until_ready()  # warm-up (allocator pools, thread pools)
    base = _reset_peak_rss()
    t = time.perf_counter()
    compiled(tissue.sigma).block_until_ready()
    run = time.perf_counter() - t
    peak = _status_bytes("VmHWM") if base is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_increase": peak - (base if base is not None else 0), "run_s": run}))


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux: write 5 to /proc/self/clear_refs) and return the current RSS, or None."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


def measured_rss(args, n_steps: int, checkpoint: bool) -> tuple[int, float]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--one-steps",
        str(n_steps),
        "--dx",
        str(args.dx),
        "--dt",
        str(args.dt),
        "--length",
        str(args.length),
        "--dtype",
        args.dtype,
        "--model",
        args.model,
    ]
    cmd += ["--one-checkpoint", checkpoint.value]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    d = json.loads(out)
    return int(d["peak_increase"]), float(d["run_s"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    p.add_argument("--dx", type=float, default=0.2)
    p.add_argument("--dt", type=float, default=0.01)
    p.add_argument("--length", type=float, default=10.0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument(
        "--model", choices=["ms", "tt"], default="ms", help="Mitchell-Schaeffer (default) or ten Tusscher 2006"
    )
    p.add_argument("--run", action="store_true", help="also run each gradient in a subprocess and measure peak RSS")
    p.add_argument("--one-steps", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--one-checkpoint", default="none", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one_steps is not None:
        _one_run(args)
        return

    import jax

    import organtwin.ep as ep

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    mesh, tissue, _, _ = _problem(args)
    n = mesh.n_nodes
    item = 4 if args.dtype == "float32" else 8
    model = "ten Tusscher 2006 (19 states)" if args.model == "tt" else "Mitchell–Schaeffer (2 states)"
    print(
        f"# Backward-pass memory: {model} strand, {n} nodes, {args.dtype}, dt {args.dt} ms, explicit "
        f"diffusion, loss = weighted sum of activation times, grad w.r.t. per-region conductivities"
    )
    print(f"# one (nodes,) array = {n * item / 1e3:.1f} kB; chunk = ceil(sqrt(steps)) steps; jax {jax.__version__}")
    print()
    head = "| steps | chunk | checkpointing | compiled temp (MB) | temp / step (kB) | temp in (nodes,) arrays |"
    sep = "|---:|---:|:---:|---:|---:|---:|"
    if args.run:
        head += " measured peak RSS increase (MB) | run (s) |"
        sep += "---:|---:|"
    print(head)
    print(sep)
    for ckpt in (ep.Checkpointing.NONE, ep.Checkpointing.CHUNKS, ep.Checkpointing.CHUNKS_AND_STEPS):
        for steps in args.steps:
            temp, _ = compiled_temp_bytes(args, steps, ckpt)
            chunk = "-" if ckpt is ep.Checkpointing.NONE else math.ceil(math.sqrt(steps))
            row = (
                f"| {steps} | {chunk} | {ckpt.value} | "
                f"{temp / 1e6:.1f} | {temp / steps / 1e3:.1f} | {temp / (n * item):.0f} |"
            )
            if args.run:
                rss, run = measured_rss(args, steps, ckpt)
                row += f" {rss / 1e6:.1f} | {run:.2f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()

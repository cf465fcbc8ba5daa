"""Monodomain throughput on a GPU (ten Tusscher 2006): node-steps/s and the fraction of the memory bandwidth reached.

Slabs at dx = 0.2 mm, 3 mm thick (16 nodes), grown in x and y to 100k ... 2M nodes (the node counts are exact:
"100k" is 125 × 50 × 16 nodes, "250k" 125 × 125 × 16, "500k" 250 × 125 × 16, "1M" 250 × 250 × 16, "2M" 500 × 250 × 16);
fibres along x, Niederer 2011 conductivities (harmonic mean of 0.17/0.019 and 0.62/0.24 S/m), chi 140 /mm,
Cm 1 µF/cm², ten Tusscher 2006 epicardial, 50,000 µA/cm³ for 2 ms in the 1.5 mm cube at the origin corner,
dt 0.02 ms (below the explicit limit at dx 0.2 mm), ``--steps`` steps from rest (the stimulus and the first spread of
the wave: the CG iteration count is that of an active tissue, not of rest).

Each configuration (size × dtype × scheme) is run once to compile (the first call, reported apart as "compile s" = first
call - median run), then ``--repeats`` times, each ending in ``block_until_ready``; the median is reported. dt is checked
once per mesh against `explicit_stability_limit` (on the device) and the explicit runs pass ``check_stability=False``
(the solver's own check is a host-side Lanczos estimate that would otherwise be timed with every device run). Schemes: ``explicit`` (`ExplicitLumped`) and
``theta`` (`ThetaScheme(theta=0.5)`, Crank–Nicolson + Jacobi-PCG warm-started from V, organtwin's default rtol);
``--profile`` adds ``reaction`` (diffusion switched off) to show the reaction step's share.

Memory-bandwidth figure: a *minimum-traffic model* of one time step, not a hardware counter. With n nodes, b bytes per
float, ELL width w (entries per matrix row, int32 column indices) and k CG iterations per step (measured):

    reaction      2 · 19 · n · b      read and write V and the 18 TT states once
    stimulus      n · b               the stimulus mask
    activation    3 · n · b           read V before/after (V after stays in cache in a fused kernel: counted once more)
                                      and the activation array
    explicit      w · n · (b + 4) + 2 · n · b       one ELL matvec (values, columns, x) and the update of V
    theta         (k + 1) · (w · n · (b + 4) + 2 · n · b) + k · 15 · n · b + 6 · n · b
                                      the right-hand side B·V, k matvecs with A, the CG vector updates and dot products
                                      (x, r, z, p, Ap: 15 vector reads/writes per iteration) and the set-up

The bytes per step divided by the time per step is the achieved bandwidth; divided by the device's peak it is the
fraction reached. The peak is taken from ``--peak-gbs`` or, failing that, from a table of known GPUs (vendor figures
for HBM/GDDR bandwidth) matched against the device name; unknown devices get no fraction.

    python benchmarks/gpu/monodomain_gpu.py                         # 100k, 500k, 1M, 2M; float32, float64; both schemes
    python benchmarks/gpu/monodomain_gpu.py --sizes 100k,1M --dtypes float32 --json out.json
    python benchmarks/gpu/monodomain_gpu.py --sizes 20k --steps 20 --peak-gbs 20   # a quick check on a CPU
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: the shared helpers
import jax
from _common import write_figures

jax.config.update("jax_enable_x64", True)  # a benchmark script may switch x64 on; every dtype below is explicit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import organtwin.ep as ep  # noqa: E402
from organtwin.ionic import TenTusscher2006  # noqa: E402
from organtwin.mesh import slab_mesh  # noqa: E402

DX = 0.2  # mm
THICKNESS = 3.0  # mm (16 nodes at dx 0.2)
# name: (nodes along x, nodes along y); 16 nodes through the thickness
SIZES = {"20k": (50, 25), "100k": (125, 50), "250k": (125, 125), "500k": (250, 125), "1M": (250, 250),
         "2M": (500, 250)}  # fmt: skip

# Peak memory bandwidth, GB/s (vendor figures). Matched in order against the lower-cased device name: put specific
# names before general ones.
PEAK_GBS = [
    ("gh200", 4000.0),  # H100 96 GB HBM3 in GH200 (the 144 GB HBM3e version: 4900)
    ("h200", 4800.0),
    ("h100 nvl", 3900.0),
    ("h100 pcie", 2000.0),
    ("h100", 3350.0),  # SXM5
    ("h800", 3350.0),
    ("b200", 8000.0),
    ("a100-sxm4-80gb", 2039.0),
    ("a100 80gb pcie", 1935.0),
    ("a100-pcie-40gb", 1555.0),
    ("a100", 1555.0),
    ("a800", 2039.0),
    ("a40", 696.0),
    ("a30", 933.0),
    ("a10g", 600.0),
    ("a10", 600.0),
    ("l40s", 864.0),
    ("l40", 864.0),
    ("l4", 300.0),
    ("v100", 900.0),
    ("t4", 320.0),
    ("rtx 6000 ada", 960.0),
    ("rtx a6000", 768.0),
    ("rtx 5090", 1792.0),
    ("rtx 4090", 1008.0),
    ("rtx 3090", 936.0),
    ("mi300x", 5300.0),
    ("mi250x", 3277.0),
    ("mi250", 3277.0),
    ("mi210", 1638.0),
]

N_STATES = 18  # ten Tusscher 2006 states besides V


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,500k,1M,2M", help="comma list from: " + ", ".join(SIZES))
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--schemes", default="explicit,theta", help="explicit, theta")
    ap.add_argument("--profile", action="store_true", help="also time the reaction step alone (diffusion off)")
    ap.add_argument("--dt", type=float, default=0.02, help="ms")
    ap.add_argument("--steps", type=int, default=500, help="time steps per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peak-gbs", type=float, default=None, help="peak memory bandwidth of the device, GB/s")
    ap.add_argument("--json", nargs="?", const="-", default=None, help="write the figures as JSON ('-': stdout)")
    return ap.parse_args()


def device_peak(device, override: float | None) -> tuple[float | None, str]:
    if override is not None:
        return float(override), "--peak-gbs"
    name = str(getattr(device, "device_kind", "")).lower()
    for key, gbs in PEAK_GBS:
        if key in name:
            return gbs, f"table ({key})"
    return None, "unknown device: pass --peak-gbs"


def bytes_per_step(n: int, width: int, itemsize: int, scheme: str, cg_per_step: float) -> float:
    b = itemsize
    reaction = 2 * (N_STATES + 1) * n * b
    stimulus = n * b
    activation = 3 * n * b
    matvec = width * n * (b + 4) + 2 * n * b
    if scheme == "explicit":
        diffusion = matvec
    elif scheme == "theta":
        k = cg_per_step
        diffusion = (k + 1) * matvec + k * 15 * n * b + 6 * n * b
    else:
        diffusion = 0.0
    return float(reaction + stimulus + activation + diffusion)


def build(size: str, dtype) -> tuple:
    nx, ny = SIZES[size]
    mesh = slab_mesh(((nx - 1) * DX, (ny - 1) * DX, THICKNESS), DX)
    cond = ep.Conductivity.harmonic_mean(ep.Conductivity(0.17, 0.019), ep.Conductivity(0.62, 0.24))
    tissue = ep.Tissue.from_mesh(mesh, cond, TenTusscher2006.epicardial(), dtype=dtype)
    stim = ep.Stimulus(ep.Box((0.0, 0.0, 0.0), (1.5, 1.5, 1.5)), 50_000.0, duration=2.0)
    return mesh, tissue, stim


def run(tissue, stim, scheme: str, dt: float, steps: int, dtype):
    # Explicit runs skip the solver's own stability check (a host-side Lanczos estimate, seconds at 2M nodes, that would
    # be timed with the device run); main() checks dt once per mesh with `explicit_stability_limit` instead.
    explicit = ep.ExplicitLumped(check_stability=False)
    diffusion = {"explicit": explicit, "theta": ep.ThetaScheme(theta=0.5), "reaction": ep.NoDiffusion()}[scheme]
    t0 = time.perf_counter()
    res = ep.simulate_monodomain(tissue, [stim], steps * dt, dt, diffusion=diffusion, dtype=dtype)
    jax.block_until_ready((res.activation, res.final.V, res.final.states))
    return time.perf_counter() - t0, res


def main() -> int:
    a = _parse()
    dev = jax.devices()[0]
    peak, peak_src = device_peak(dev, a.peak_gbs)
    out = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": str(dev),
        "device_kind": getattr(dev, "device_kind", None),
        "platform": dev.platform,
        "jax": jax.__version__,
        "python": platform.python_version(),
        "peak_gbs": peak,
        "peak_source": peak_src,
        "dt": a.dt,
        "steps": a.steps,
        "repeats": a.repeats,
        "rows": [],
    }
    print(
        f"device: {dev} ({getattr(dev, 'device_kind', '?')}), peak bandwidth "
        f"{'?' if peak is None else f'{peak:.0f} GB/s'} [{peak_src}]; dt {a.dt} ms, {a.steps} steps per run",
        flush=True,
    )
    print("| nodes | dtype | scheme | compile s | ms/step | M node-steps/s | CG it/step | MB/step | GB/s | % of peak |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    schemes = [s.strip() for s in a.schemes.split(",") if s.strip()] + (["reaction"] if a.profile else [])
    for size in [s.strip() for s in a.sizes.split(",") if s.strip()]:
        if size not in SIZES:
            print(f"unknown size {size!r}; choose from {', '.join(SIZES)}", file=sys.stderr)
            return 2
        for dt_name in [d.strip() for d in a.dtypes.split(",") if d.strip()]:
            dtype = jnp.dtype(dt_name)
            t_build = time.perf_counter()
            mesh, tissue, stim = build(size, dtype)
            t_build = time.perf_counter() - t_build
            n = tissue.n_nodes
            width = int(tissue.pattern.cols.shape[0])
            limit = float(ep.explicit_stability_limit(tissue))
            for scheme in schemes:
                if scheme == "explicit" and a.dt > limit:
                    print(f"| {n:,} | {dt_name} | explicit | skipped: dt {a.dt} ms > stability limit {limit:.3g} ms |")
                    continue
                first, res = run(tissue, stim, scheme, a.dt, a.steps, dtype)
                times = []
                for _ in range(a.repeats):
                    t, res = run(tissue, stim, scheme, a.dt, a.steps, dtype)
                    times.append(t)
                med = float(np.median(times))
                cg = int(res.cg_iterations) / res.n_steps
                bps = bytes_per_step(n, width, dtype.itemsize, scheme, cg)
                gbs = bps * res.n_steps / med / 1e9
                frac = None if peak is None else gbs / peak
                row = {
                    "size": size,
                    "nodes": n,
                    "tets": int(mesh.n_cells),
                    "ell_width": width,
                    "dtype": dt_name,
                    "scheme": scheme,
                    "build_s": t_build,
                    "explicit_dt_limit_ms": limit,
                    "first_call_s": first,
                    "compile_s": first - med,
                    "run_s": times,
                    "run_median_s": med,
                    "ms_per_step": med / res.n_steps * 1e3,
                    "node_steps_per_s": n * res.n_steps / med,
                    "cg_per_step": cg,
                    "bytes_per_step": bps,
                    "achieved_gbs": gbs,
                    "fraction_of_peak": frac,
                    "activated": int(np.isfinite(np.asarray(res.activation)).sum()),
                }
                out["rows"].append(row)
                print(
                    f"| {n:,} | {dt_name} | {scheme} | {first - med:.1f} | {row['ms_per_step']:.3f} | "
                    f"{row['node_steps_per_s'] / 1e6:.1f} | {cg:.2f} | {bps / 1e6:.1f} | {gbs:.1f} | "
                    f"{'' if frac is None else f'{100 * frac:.1f}'} |",
                    flush=True,
                )
            del tissue, mesh
    write_figures(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

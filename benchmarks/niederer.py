"""The Niederer et al. 2011 benchmark table: activation times at P1..P9 for dx x dt, with wall times.

Runs `organtwin.ep.niederer_benchmark` (the same code as `organtwin bench niederer`) for every (dx, dt) asked, appends one
JSON line per run to a results file (runs already there are skipped, so an interrupted sweep resumes), and prints the
Markdown table of everything in the file next to fenicsx-beat's published values.

    python benchmarks/niederer.py --dx 0.5 0.2 --dt 0.05 0.01 0.005 --runs niederer_runs.jsonl
    python benchmarks/niederer.py --dx 0.1 --dt 0.05 0.01 0.005 --runs niederer_runs.jsonl     # long: run with nohup
    python benchmarks/niederer.py --dx 0.5 0.2 0.1 --dt 0.01 --mass lumped --runs niederer_runs.jsonl
    python benchmarks/niederer.py --runs niederer_runs.jsonl --table-only

Timing: ``wall_s`` is what a user waits for (mesh, tissue, stability limit, compilation and the time loop); ``first
segment`` (2 simulated ms, including the compilation) is reported apart; throughput = nodes x steps / solve time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path


def _key(rec: dict) -> tuple:
    return (rec["dx"], rec["dt"], rec["mass_arg"], rec["diffusion_arg"], rec["dtype"], rec["splitting"])


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def table(records: list[dict]) -> str:
    from organtwin.ep import NIEDERER_REFERENCE_FENICSX_BEAT as REF

    head = (
        "| dx mm | dt ms | nodes | diffusion / mass | dtype | split | P1 | P2 | P3 | P4 | P5 | P6 | P7 | P8 | P9 "
        "| fenicsx-beat P8 | steps | wall s | first seg. s | Mnode-steps/s |"
    )
    lines = [head, "|" + "---:|" * 2 + "---:|---|---|---|" + "---:|" * 9 + "---:|---:|---:|---:|---:|"]
    order = {"consistent": 0, "lumped": 1}
    for r in sorted(
        records, key=lambda r: (order.get(r["mass"], 2), r["dtype"] != "float32", r["splitting"], -r["dx"], -r["dt"])
    ):
        ref = REF.get((r["dx"], r["dt"]), {}).get("P8")
        thr = r["nodes"] * r["steps"] / r["solve_s"] / 1e6 if r["solve_s"] > 0 else float("nan")
        pts = " | ".join(_fmt(r[f"P{i}"]) for i in range(1, 10))
        lines.append(
            f"| {r['dx']:g} | {r['dt']:g} | {r['nodes']:,} | {r['diffusion']} / {r['mass']} | {r['dtype']} | "
            f"{r['splitting']} | {pts} | {_fmt(ref)} | {r['steps']} | {r['wall_s']:.1f} | {r['first_segment_s']:.1f} | "
            f"{thr:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dx", type=float, nargs="+", default=[0.5, 0.2])
    ap.add_argument("--dt", type=float, nargs="+", default=[0.05, 0.01, 0.005])
    ap.add_argument("--mass", choices=["consistent", "lumped"], default="consistent")
    ap.add_argument("--diffusion", choices=["auto", "explicit", "theta"], default="auto")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--splitting", choices=["godunov", "strang"], default="godunov")
    ap.add_argument("--t-max", type=float, default=100.0)
    ap.add_argument("--runs", type=Path, default=Path("niederer_runs.jsonl"), help="JSON-lines file of results")
    ap.add_argument("--table-only", action="store_true", help="only print the table of the runs file")
    args = ap.parse_args(argv)

    if not args.table_only:
        import jax

        if args.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        from organtwin.ep import ExplicitLumped, Mass, Splitting, ThetaScheme, niederer_benchmark

        mass = Mass(args.mass)
        diffusion = {"auto": None, "explicit": ExplicitLumped(), "theta": ThetaScheme(mass=mass)}[args.diffusion]
        done = {_key(r) for r in _load(args.runs)}
        print(
            f"# {platform.node()} {platform.processor() or platform.machine()} python {platform.python_version()} "
            f"jax {jax.__version__}",
            flush=True,
        )
        for dx in args.dx:
            for dt in args.dt:
                key = (dx, dt, args.mass, args.diffusion, args.dtype, args.splitting)
                if key in done:
                    print(f"dx {dx:g} dt {dt:g}: already in {args.runs}, skipped", flush=True)
                    continue
                t0 = time.perf_counter()
                print(f"dx {dx:g} dt {dt:g} {args.mass} {args.dtype} {args.splitting}: running ...", flush=True)
                last = [0.0]

                def progress(t, t_cap, done, t0=t0, last=last):
                    if t - last[0] >= 5.0 - 1e-9:  # a line every 5 simulated ms: what a killed run had reached
                        last[0] = t
                        print(
                            f"  t {t:5.1f} ms, {done:6.1%} of nodes activated, {time.perf_counter() - t0:7.1f} s",
                            flush=True,
                        )

                try:
                    res = niederer_benchmark(
                        dx,
                        dt,
                        diffusion=diffusion,
                        mass=None if diffusion is not None else mass,
                        splitting=Splitting(args.splitting),
                        dtype=args.dtype,
                        t_max=args.t_max,
                        progress=progress,
                    )
                except (ValueError, RuntimeError) as e:
                    print(f"  skipped: {e}", flush=True)
                    continue
                rec = res.to_json()
                rec.pop("diagonal")
                rec.update(date=time.strftime("%Y-%m-%d %H:%M"), mass_arg=args.mass, diffusion_arg=args.diffusion)
                with args.runs.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                done.add(_key(rec))
                print(
                    f"  P8 {rec['P8']} ms, last activation {rec['last_activation']} ms, {rec['steps']} steps, "
                    f"{rec['diffusion_detail']}, wall {rec['wall_s']:.1f} s ({time.perf_counter() - t0:.1f} s)",
                    flush=True,
                )
    print(table(_load(args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

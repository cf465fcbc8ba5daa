"""`organtwin bench`: published benchmarks, run as specified. `organtwin bench niederer` is the Niederer et al. 2011
monodomain benchmark (20 x 7 x 3 mm slab, ten Tusscher 2006 epicardial cells).

A typer sub-application; the main application registers it with ``app.add_typer(bench_app, name="bench")``. JAX is imported
inside the command so that ``organtwin --help`` stays instant; float64 (JAX's 64-bit mode) is switched on here, at the
user's edge, only when ``--dtype float64`` is asked.
"""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["bench_app", "niederer"]

bench_app = typer.Typer(
    help="Run published benchmarks as specified and print the figures they report.", no_args_is_help=True
)


class DiffusionChoice(StrEnum):
    auto = "auto"
    explicit = "explicit"
    theta = "theta"


class MassChoice(StrEnum):
    consistent = "consistent"
    lumped = "lumped"


class DtypeChoice(StrEnum):
    float32 = "float32"
    float64 = "float64"


class SplittingChoice(StrEnum):
    godunov = "godunov"
    strang = "strang"


def _ms(x: float) -> str:
    return f"{x:8.2f}" if math.isfinite(x) else "   never"


def _progress_bar(bars: list):
    """A ``progress(t, t_max, done)`` callback drawing a rich bar on stderr; the bar is created at the first report (so
    that set-up errors stay one line) and appended to ``bars`` for the caller to stop."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    task = []

    def progress(t, t_cap, done):
        if not bars:
            bar = Progress(
                TextColumn("simulated {task.fields[t]:6.1f} ms"),
                BarColumn(),
                TextColumn("{task.fields[done]:6.1%} of nodes activated"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            task.append(bar.add_task("niederer", total=1.0, t=0.0, done=0.0))
            bars.append(bar)
            bar.start()
        bars[0].update(task[0], completed=done, t=t, done=done)

    return progress


@bench_app.command("niederer")
def niederer(
    dx: Annotated[
        float, typer.Option(help="Mesh spacing, mm; must divide 20, 7 and 3 (published: 0.5, 0.2, 0.1).")
    ] = 0.5,
    dt: Annotated[float, typer.Option(help="Time step, ms (published: 0.05, 0.01, 0.005).")] = 0.05,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON to this file.")
    ] = None,
    diffusion: Annotated[
        DiffusionChoice,
        typer.Option(
            help="auto: Crank-Nicolson with the consistent mass; with --mass lumped, explicit when dt is under "
            "the mesh's stability limit, else Crank-Nicolson. explicit: forward Euler, lumped mass. "
            "theta: Crank-Nicolson (theta 0.5) with --mass.",
            case_sensitive=False,
        ),
    ] = DiffusionChoice.auto,
    mass: Annotated[
        MassChoice | None,
        typer.Option(
            help="Mass matrix: consistent (default; the published finite-element codes) or lumped "
            "(explicit diffusion needs lumped).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[
        DtypeChoice,
        typer.Option(
            help="Precision. float32 agrees with float64 to about 0.01 ms here (benchmarks/RESULTS.md) and is "
            "about twice as fast on a CPU.",
            case_sensitive=False,
        ),
    ] = DtypeChoice.float32,
    splitting: Annotated[
        SplittingChoice,
        typer.Option(
            help="Operator splitting: godunov (first order) or strang (second order, two reaction steps per step).",
            case_sensitive=False,
        ),
    ] = SplittingChoice.godunov,
    t_max: Annotated[float, typer.Option(help="Stop at this time, ms, if some node has not activated yet.")] = 100.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """The Niederer et al. 2011 benchmark: activation times (first crossing of 0 mV) at P1..P9; stops once every node
    has activated."""
    if not (math.isfinite(dx) and dx > 0):
        raise typer.BadParameter(f"--dx must be a positive length in mm, got {dx:g}")
    if not (math.isfinite(dt) and dt > 0):
        raise typer.BadParameter(f"--dt must be a positive time step in ms, got {dt:g}")
    if not (math.isfinite(t_max) and t_max > 0):
        raise typer.BadParameter(f"--t-max must be a positive time in ms, got {t_max:g}")
    if diffusion is DiffusionChoice.explicit and mass is MassChoice.consistent:
        raise typer.BadParameter(
            "--diffusion explicit uses the lumped mass; use --diffusion theta (or auto) with --mass consistent"
        )
    from ._mesh_options import check_output_files

    check_output_files([(json_out, "--json")])  # before the run: a file we can write

    import jax

    if dtype is DtypeChoice.float64:
        jax.config.update("jax_enable_x64", True)  # the user's choice, at the edge
    from .. import __version__
    from ..ep import (
        NIEDERER_POINTS,
        NIEDERER_REFERENCE_FENICSX_BEAT,
        ExplicitLumped,
        Mass,
        Splitting,
        ThetaScheme,
        niederer_benchmark,
    )

    mass_enum = None if mass is None else Mass(mass.value)
    if diffusion is DiffusionChoice.auto:
        scheme = None
    elif diffusion is DiffusionChoice.explicit:
        scheme = ExplicitLumped()
    else:
        scheme = ThetaScheme(theta=0.5, mass=mass_enum or Mass.CONSISTENT)

    print(
        f"Niederer et al. 2011 benchmark (organtwin {__version__}): dx {dx:g} mm, dt {dt:g} ms, {dtype.value}",
        flush=True,
    )
    bars: list = []
    progress = None if quiet else _progress_bar(bars)
    try:
        res = niederer_benchmark(
            dx,
            dt,
            diffusion=scheme,
            mass=None if scheme is not None else mass_enum,
            splitting=Splitting(splitting.value),
            dtype=dtype.value,
            t_max=t_max,
            progress=progress,
        )
    finally:
        for bar in bars:
            bar.stop()

    auto = " (automatic)" if diffusion is DiffusionChoice.auto else ""
    print(f"mesh       {res.nodes:,} nodes, {res.cells:,} tets (20 x 7 x 3 mm, fibres along x)")
    print(f"diffusion  {res.diffusion}{auto}; explicit stability limit {res.stability_limit:.3g} ms")
    print(f"splitting  {res.splitting}; reaction: Rush-Larsen gates, forward Euler for the rest")
    ref = NIEDERER_REFERENCE_FENICSX_BEAT.get((res.dx, res.dt))
    head = "point  x, y, z (mm)         activation (ms)"
    print(head + ("   fenicsx-beat (ms)" if ref else ""))
    for name, p in NIEDERER_POINTS.items():
        coords = f"({p[0]:g}, {p[1]:g}, {p[2]:g})"
        line = f"{name:<6} {coords:<20} {_ms(res.activation[name])}"
        if ref:
            line += f"        {ref[name]:8.2f}"
        print(line)
    if res.all_activated:
        stop = f"stopped at {res.t_end:.1f} ms: every node activated (the last at {res.last_activation:.2f} ms)"
    else:
        stop = f"stopped at the cap of {res.t_end:.1f} ms: some nodes never activated"
    print(f"steps      {res.steps:,} ({stop})")
    if res.cg_iterations:
        print(f"CG         {res.cg_iterations:,} iterations ({res.cg_iterations / max(res.steps, 1):.1f} per step)")
    print(
        f"wall time  {res.wall_s:.1f} s (set-up {res.setup_s:.1f} s, time loop {res.solve_s:.1f} s of which the first "
        f"segment, with compilation, {res.first_segment_s:.1f} s)",
        flush=True,
    )
    if json_out is not None:
        from ..io import write_json

        write_json(json_out.expanduser(), res.to_json())
        print(f"wrote {json_out}", flush=True)
    if not res.all_activated:
        print(
            "organtwin: warning: not every node activated before --t-max; raise --t-max (activation stays "
            "'never' / null where it did not happen)",
            file=sys.stderr,
            flush=True,
        )

"""`organtwin bench`: published benchmarks, run as specified. `organtwin bench niederer` is the Niederer et al. 2011
monodomain benchmark (20 x 7 x 3 mm slab, ten Tusscher 2006 epicardial cells).

A typer sub-application; the main application registers it with ``app.add_typer(bench_app, name="bench")``. JAX is imported
inside the command so that ``organtwin --help`` stays instant; float64 (JAX's 64-bit mode) is switched on here, at the
user's edge, only when ``--dtype float64`` is asked.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._common import DTYPE_HELP, QUIET_HELP, Dtype, choice, legacy_option, say, show_progress, use_dtype

__all__ = ["bench_app", "niederer"]

bench_app = typer.Typer(
    help="Run published benchmarks as specified and print the figures they report.", no_args_is_help=True
)


_DIFFUSION = ("auto", "explicit", "theta")  # auto: niederer_benchmark chooses (diffusion=None)


def _mass_names() -> list[str]:
    from ..ep import Mass

    return [m.value for m in Mass]


def _splitting_names() -> list[str]:
    from ..ep import Splitting

    return [m.value for m in Splitting]


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
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the results as JSON to this file.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", hidden=True, help="Deprecated: --out.")] = None,
    diffusion: Annotated[
        str,
        typer.Option(
            parser=choice(lambda: _DIFFUSION),
            metavar="<auto|explicit|theta>",
            help="auto: Crank-Nicolson with the consistent mass; with --mass lumped, explicit when dt is under "
            "the mesh's stability limit, else Crank-Nicolson. explicit: forward Euler, lumped mass. "
            "theta: Crank-Nicolson (theta 0.5) with --mass.",
        ),
    ] = "auto",
    mass: Annotated[
        str | None,
        typer.Option(
            parser=choice(_mass_names),
            metavar="<consistent|lumped>",
            help="Mass matrix: consistent (default; the published finite-element codes) or lumped "
            "(explicit diffusion needs lumped).",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[
        Dtype,
        typer.Option(
            help=f"{DTYPE_HELP} float32 agrees with float64 to about 0.01 ms here (benchmarks/RESULTS.md) and is "
            "about twice as fast on a CPU.",
            case_sensitive=False,
        ),
    ] = Dtype.float32,
    splitting: Annotated[
        str,
        typer.Option(
            parser=choice(_splitting_names),
            metavar="<godunov|strang>",
            help="Operator splitting: godunov (first order) or strang (second order, two reaction steps per step).",
        ),
    ] = "godunov",
    t_max: Annotated[float, typer.Option(help="Stop at this time, ms, if some node has not activated yet.")] = 100.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
):
    """The Niederer et al. 2011 benchmark: activation times (first crossing of 0 mV) at P1..P9; stops once every node
    has activated."""
    out, out_name = legacy_option(out, json_out, "--out", "--json")
    if not (math.isfinite(dx) and dx > 0):
        raise typer.BadParameter(f"--dx must be a positive length in mm, got {dx:g}")
    if not (math.isfinite(dt) and dt > 0):
        raise typer.BadParameter(f"--dt must be a positive time step in ms, got {dt:g}")
    if not (math.isfinite(t_max) and t_max > 0):
        raise typer.BadParameter(f"--t-max must be a positive time in ms, got {t_max:g}")
    if diffusion == "explicit" and mass == "consistent":
        raise typer.BadParameter(
            "--diffusion explicit uses the lumped mass; use --diffusion theta (or auto) with --mass consistent"
        )
    from ._mesh_options import check_output_files

    check_output_files([(out, out_name)])  # before the run: a file we can write
    use_dtype(dtype)
    from .. import __version__
    from ..ep import ExplicitLumped, Mass, Splitting, ThetaScheme, niederer_benchmark, niederer_report

    mass_enum = None if mass is None else Mass(mass)
    scheme = {
        "auto": None,
        "explicit": ExplicitLumped(),
        "theta": ThetaScheme(theta=0.5, mass=mass_enum or Mass.CONSISTENT),
    }[diffusion]
    say(f"Niederer et al. 2011 benchmark (organtwin {__version__}): dx {dx:g} mm, dt {dt:g} ms, {dtype.value}")
    bars: list = []
    try:
        res = niederer_benchmark(
            dx, dt, diffusion=scheme, mass=None if scheme is not None else mass_enum, splitting=Splitting(splitting),
            dtype=dtype.value, t_max=t_max, progress=_progress_bar(bars) if show_progress(quiet) else None,
        )  # fmt: skip
    finally:
        for bar in bars:
            bar.stop()
    for line in niederer_report(res, automatic=diffusion == "auto"):
        say(line)
    if out is not None:
        from ..io import write_json

        write_json(out.expanduser(), res.to_json())
        say(f"wrote {out}")
    if not res.all_activated:
        print(
            "organtwin: warning: not every node activated before --t-max; raise --t-max (activation stays "
            "'never' / null where it did not happen)",
            file=sys.stderr,
            flush=True,
        )

"""`organtwin flow`: lumped-parameter (0D) blood flow.

``organtwin flow zerod CONFIG.json --out OUT.csv`` behaves like ``svzerodsolver CONFIG.json OUT.csv``: it reads an
svZeroDSolver configuration, runs it and writes the result in svZeroDSolver's CSV layout (vessel-based, or variable-based
when the configuration's ``output_variable_based`` is true), atomically.

``organtwin flow circulation --out DIR`` runs the Regazzoni et al. 2022 closed loop (parameters overridden with
``--param GROUP.KEY=VALUE``) to its periodic state, optionally with the ventricles' contraction timed by EP activation
times (``--activation``: an `organtwin ep run` folder or an activation mesh from `organtwin activate`), and writes DIR
(all or nothing): circulation.csv (one beat: time_s and every pressure mmHg, volume mL, valve flow mL/s), summary.json
(haemodynamic figures, convergence, blood-volume conservation, parameters, activation, and the manifest of the folder's
files: docs/results-folders.md), pv_loops.png, pressures.png, volumes.png. Both commands check their output place
before the work.

A typer sub-application registered by the main application (``app.add_typer(flow_app, name="flow")``). JAX is imported
inside the commands so that ``organtwin --help`` stays instant; both commands compute in float64 and switch JAX's
64-bit mode on here, at the user's edge (``flow zerod --dtype float32`` computes in float32). Errors are raised with one-line
messages and printed by ``organtwin.cli._main.main``.
"""

from __future__ import annotations

import functools
import math
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .._errors import InputError
from ._common import (
    DTYPE_HELP,
    Dtype,
    legacy_dtype,
    legacy_positional,
    old_out_argument,
    out_option,
    say,
    usage_error,
    use_dtype,
)
from ._jax_cache import checks_without_callbacks, use_compilation_cache
from ._mesh_options import parse_region_list

__all__ = ["flow_app", "zerod", "circulation"]

flow_app = typer.Typer(
    help="Blood flow: lumped-parameter (0D) networks and the closed-loop circulation.", no_args_is_help=True
)


def _check_output_file(out: Path, name: str) -> Path:
    """Before the work: ``out`` can be written (not a folder, its folder exists and is writable)."""
    from .._atomic import check_output_file  # (not organtwin.io: its package imports EP, meshes, calibration)

    out = out.expanduser()
    if out.is_dir():
        raise typer.BadParameter(f"{name}: {out} is a folder; give a file name like results.csv")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise typer.BadParameter(f"{name}: folder {parent} does not exist")
    return check_output_file(out, name)


# ------------------------------------------------------------------------------------------------------------- zerod
@flow_app.command("zerod")
def zerod(
    config: Annotated[Path, typer.Argument(metavar="CONFIG.json", help="svZeroDSolver configuration (JSON).")],
    old_out: Annotated[Path | None, old_out_argument("OUT.csv")] = None,
    out: Annotated[Path | None, out_option("CSV to write (required), in svZeroDSolver's layout.", "OUT.csv")] = None,
    dtype: Annotated[Dtype, typer.Option(help=DTYPE_HELP, case_sensitive=False)] = Dtype.float64,
    float32: Annotated[bool, typer.Option("--float32", hidden=True, help="Deprecated: --dtype float32.")] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            help="Keep compiled programs in JAX's persistent compilation cache, $ORGANTWIN_JAX_CACHE or "
            "$XDG_CACHE_HOME/organtwin/jax (~/.cache/organtwin/jax), for the next run; --no-cache: compile afresh, "
            "write nothing there.",
        ),
    ] = True,
):
    """Run an svZeroDSolver configuration and write its CSV, like `svzerodsolver CONFIG.json OUT.csv`."""
    dtype = legacy_dtype(dtype, float32, "--float32")
    out, out_name = legacy_positional(out, old_out, "--out", "OUT.csv")
    out = _check_output_file(out, out_name)
    t0 = time.perf_counter()
    # equinox's checks without host callbacks, so that the cache keeps the solve too and jax.export can write it
    exportable = cache and checks_without_callbacks()  # (cli/_jax_cache.py)
    use_dtype(dtype)  # float64 unless asked otherwise
    folder = use_compilation_cache(cache)  # the application's choice, before the first compilation (cli/_jax_cache.py)
    import jax.numpy as jnp

    from ..flow.zerod import read_svzerod, run_svzerod

    try:  # the library's messages say what and how; the line also names the file (where)
        cfg = read_svzerod(config)
        kept = folder / "exported" if folder is not None and exportable else None  # the traced solve, kept
        res = run_svzerod(cfg, dtype=getattr(jnp, dtype.value), kept=kept)  # failed: a one-line NetworkError
    except ValueError as e:
        if str(config) in str(e):
            raise
        raise InputError(f"{config}: {e}") from None
    rows = _write_svzerod_csv(out, res)
    layout = "variable-based" if cfg.output_variable_based else "vessel-based"
    shown = "all cycles" if cfg.output_all_cycles else "last cycle"
    say(
        f"{config.name}: {res.describe()}, {res.times.size} output times ({shown}), {dtype.value}; "
        f"wrote {out} ({rows} rows, {layout}) in {time.perf_counter() - t0:.1f} s"
    )


def _write_svzerod_csv(out: Path, res) -> int:
    """`organtwin.io.write_svzerod_csv` (atomically; the number of data rows) without importing `organtwin.io`, whose
    package imports EP, meshes and calibration (~0.5 s of the command's start-up; benchmarks/zerod_cli_speed.py)."""
    from .._atomic import atomic_file
    from ..flow.zerod import svzerod_csv

    text = svzerod_csv(res)
    with atomic_file(out) as (fh, _):
        assert fh is not None  # (a text handle: mode "w")
        fh.write(text)
    return text.count("\n") - 1


# ------------------------------------------------------------------------------------------------------- circulation
class Preset(StrEnum):
    regazzoni2022 = "regazzoni2022"


@flow_app.command("circulation")
def circulation(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for circulation.csv, summary.json and the PNGs "
            "(written all or nothing; an earlier organtwin results "
            "folder there is replaced).",
        ),
    ],
    preset: Annotated[
        Preset, typer.Option(help="The closed loop and its published parameters.")
    ] = Preset.regazzoni2022,
    activation: Annotated[
        Path | None,
        typer.Option(
            help="Time the LV and RV contraction by EP activation: an "
            "`organtwin ep run` results folder or a mesh with point data "
            "activation_time (ms), e.g. from `organtwin activate`."
        ),
    ] = None,
    lv_regions: Annotated[
        str | None,
        typer.Option(
            "--lv-regions", help="--activation: LV region id(s), e.g. 1 or 1,3 (default: the regions named LV)."
        ),
    ] = None,
    rv_regions: Annotated[
        str | None, typer.Option("--rv-regions", help="--activation: RV region id(s) (default: the regions named RV).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Override a preset parameter, GROUP.KEY=VALUE "
            "in mmHg, mL, s (e.g. LV.e_active=2.0, "
            "sys.r_ar=1.0, period=0.9); repeat for more.",
        ),
    ] = None,
    edv: Annotated[
        str | None,
        typer.Option(
            "--edv",
            help="Set the ventricles' end-diastolic volumes: 'measured' (the "
            "endo_lv / endo_rv (or 'LV cavity', ...) cavities of the "
            "--activation mesh, "
            "taken as at end-diastole) or LV=120,RV=186 (mL). Rule: "
            "docs/regazzoni2022.md.",
        ),
    ] = None,
    tol: Annotated[float, typer.Option(help="Periodic state: largest relative cycle-to-cycle change.")] = 1e-6,
    max_cycles: Annotated[int, typer.Option("--max-cycles", help="Give up after this many cycles.")] = 200,
):
    """Closed-loop circulation to its periodic beat: pressures, volumes, flows, PV loops and haemodynamic figures."""
    if not (math.isfinite(tol) and tol > 0):
        raise typer.BadParameter(f"--tol must be a positive number, got {tol}")
    if max_cycles < 1:
        raise typer.BadParameter(f"--max-cycles must be at least 1, got {max_cycles}")
    lv_ids = parse_region_list(lv_regions, "--lv-regions")
    rv_ids = parse_region_list(rv_regions, "--rv-regions")
    if activation is None and (lv_ids or rv_ids):
        raise typer.BadParameter("--lv-regions / --rv-regions need --activation")
    from ..io import parse_edv, parse_parameter_overrides

    edv_given = usage_error(parse_edv, edv)
    if edv_given == "measured" and activation is None:
        raise typer.BadParameter(
            "--edv measured takes the cavity volumes of the --activation mesh; give --activation, "
            "or the volumes as --edv LV=120,RV=186 (mL)"
        )
    from ..flow.zerod import Regazzoni2022

    params, flat = usage_error(parse_parameter_overrides, list(param or []), Regazzoni2022())

    from ..io import check_output_folder

    check_output_folder(out, inputs=[activation])  # before the run: refuse a folder we could not write or replace
    t0 = time.perf_counter()
    use_dtype(Dtype.float64)  # the periodic-state tolerance needs float64

    from ..flow.zerod import run_circulation
    from ..io import (
        activation_from_run,
        circulation_headline,
        circulation_report,
        circulation_summary,
        write_circulation_folder,
    )
    from ..viz import circulation_pictures

    run = None if activation is None else activation_from_run(activation, lv_regions=lv_ids, rv_regions=rv_ids)
    done = run_circulation(params, activation=run, edv=edv_given, tol=tol, max_cycles=max_cycles, log=say)
    summary = circulation_summary(done, preset=preset.value, overrides=flat, tol=tol, wall_s=time.perf_counter() - t0)
    title = f"organtwin: {preset.value}" + (
        f", activation {Path(run.source).resolve().name}" if run is not None else ""
    )
    draw = functools.partial(circulation_pictures, done.result, title=title)
    write_circulation_folder(out, summary, done.result, draw=draw)
    for line in (circulation_headline(summary), *circulation_report(summary)):
        say(line)
    say(f"wrote {out}: {', '.join(summary['files'])} in {time.perf_counter() - t0:.1f} s")

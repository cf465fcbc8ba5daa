"""The `organtwin` command line: thin wrappers over the library; every error becomes one line on stderr.

Heavy imports (JAX, pyvista, gmsh) happen inside the commands, so `organtwin --help` is instant.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from .._errors import InputError, OrgantwinError
from .._errors import Terminated as _Terminated
from ._signals import INTERRUPTED_CODES, Interrupts, console_entry, interrupted_line

# typer >= 0.24 vendors click; take the exception classes from wherever typer's own live.
_cx = sys.modules[typer.BadParameter.__module__]


def _tidy_params(params: list) -> list:
    """One look for every command's help: flags show no value metavar (typer prints ``<bool>``), arguments are named
    in upper case (``PATH``, ``CASE``, ``SRC``), as the messages and docs name them."""
    for p in params:
        if getattr(p, "is_flag", False):
            p.metavar = ""
        elif p.param_type_name == "argument" and p.metavar is None and p.name:
            p.metavar = p.name.upper()
    return params


def _tidy_command(command, ctx) -> None:
    _tidy_params(command.get_params(ctx))  # get_params makes the help option (-h/--help) too
    for sub in getattr(command, "commands", {}).values():
        _tidy_command(sub, ctx)


class _Root(TyperGroup):
    """The `organtwin` group: tidies the help of every command it hands out (`_tidy_params`)."""

    def get_params(self, ctx):
        return _tidy_params(super().get_params(ctx))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _tidy_command(command, ctx)
        return command


app = typer.Typer(
    name="organtwin",
    cls=_Root,
    help="organtwin: differentiable organ physics (cardiac EP, blood flow) on imported meshes, in JAX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={
        "help_option_names": ["-h", "--help"]
    },  # inherited by every command (`ep tune-cv`: -h is --edge-length)
)


def _print_version(value: bool | None) -> None:
    if value:
        from .. import __version__

        print(f"organtwin {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,  # typer passes None when the flag is absent and the callback ran
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="On an error, raise it with its traceback (for a bug report) instead of printing one line; may be "
            "given anywhere on the command line.",
        ),
    ] = False,
) -> None:
    """organtwin: differentiable organ physics (cardiac EP, blood flow) on imported meshes, in JAX."""


mesh_app = typer.Typer(help="Read, inspect, convert, generate and render meshes.", no_args_is_help=True)
app.add_typer(mesh_app, name="mesh")
from ._mesh_options import (  # noqa: E402  (light module: the shared mesh-reading options)
    NameMap,
    RegionField,
    RegionNames,
    SurfaceField,
    SurfaceNames,
    check_output_files,
    parse_region_ids,
)
from ._mesh_surfaces import mesh_surfaces as _mesh_surfaces  # noqa: E402

mesh_app.command("surfaces")(_mesh_surfaces)
from ._ep import ep_app as _ep_app  # noqa: E402  (light modules: heavy imports happen inside the commands)

app.add_typer(_ep_app, name="ep")
from ._flow import flow_app as _flow_app  # noqa: E402

app.add_typer(_flow_app, name="flow")


def _say(msg: str) -> None:
    print(msg, flush=True)


def _parse_regions(text: str | None) -> list[int] | None:
    return parse_region_ids(text, "--regions")


def _read(path: Path, scale: float | None = None, **names):
    """Read a mesh with the shared mesh options (--region-names, --surface-names, --map, --region-field, ...)."""
    from ._mesh_options import read_mesh_cli

    return read_mesh_cli(path, scale=scale, say=lambda m: print(f"organtwin: note: {m}", file=sys.stderr), **names)


# --------------------------------------------------------------------------------------------------------------- mesh
@mesh_app.command("info")
def mesh_info(
    path: Annotated[
        Path, typer.Argument(help="Mesh file (VTU, VTK, MSH, XDMF, Medit, openCARP .pts/.elem basename, ...)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    scale: Annotated[
        float | None, typer.Option(help="Multiply coordinates by this factor (e.g. 1000 for m -> mm).")
    ] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Nodes, tets, regions (tets, volume in mL), surfaces (area), bounding box, units guess and quality."""
    from ..mesh import file_summary, format_summary

    names = dict(region_field=region_field, surface_field=surface_field)
    mesh = _read(path, scale, region_names=region_names, surface_names=surface_names, name_map=name_map, **names)
    summary = file_summary(path, mesh, scale=scale, **names)
    _say(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@mesh_app.command("convert")
def mesh_convert(
    src: Annotated[Path, typer.Argument(help="Input mesh.")],
    dst: Annotated[
        Path, typer.Argument(help="Output mesh; the format follows the extension (.vtu, .msh, .xdmf, .pts, ...).")
    ],
    scale: Annotated[
        float | None, typer.Option(help="Multiply coordinates by this factor (e.g. 1000 for m -> mm).")
    ] = None,
    regions: Annotated[
        str | None, typer.Option(help="Keep only these region ids, comma-separated (e.g. 1,2,7).")
    ] = None,
    keep_fields: Annotated[
        bool,
        typer.Option(
            "--keep-fields",
            help="Keep the file's other tag fields (e.g. a second "
            "'tag' array), renamed orig:<name> so they cannot shadow the regions.",
        ),
    ] = False,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Convert between formats, optionally rescaling and extracting regions (nodes renumbered, surfaces kept).

    Tag fields that compete with the regions (e.g. a second 'tag' array) are dropped with a note, or with --keep-fields
    renamed orig:<name>, so the file reads back with the regions written."""
    from ..mesh import separate_tag_fields, write_mesh

    keep = _parse_regions(regions)
    check_output_files([(dst, "DST")], inputs=[src])
    mesh = _read(
        src,
        scale,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    if keep is not None:
        mesh = mesh.submesh(keep)
    mesh, tag_fields = separate_tag_fields(mesh, keep=keep_fields)
    if tag_fields:
        _say(
            f"note: {'renamed' if keep_fields else 'dropped'} the other tag field(s) {', '.join(tag_fields)}"
            + (" to orig:<name>" if keep_fields else " (--keep-fields keeps them as orig:<name>)")
        )
    write_mesh(mesh, dst)
    names = dict(mesh.region_names)
    shown = ", ".join(f"{r} {names[r]}" if r in names else str(r) for r in mesh.region_ids.tolist())
    _say(
        f"wrote {dst}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, regions {shown}; surfaces "
        f"{', '.join(sorted(mesh.surfaces)) or 'none'}"
    )


@mesh_app.command("render")
def mesh_render(
    path: Annotated[
        Path, typer.Argument(help="Mesh file, or an `organtwin ep run` results folder (its activation.vtu).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")],
    field: Annotated[str | None, typer.Option(help="Point or cell field to colour by (default: region).")] = None,
    scale: Annotated[float | None, typer.Option(help="Multiply coordinates by this factor.")] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Render the mesh off-screen to a PNG, coloured by region (one colour per id, names in the legend) or a field."""
    import numpy as np

    from ..viz import render_mesh

    if field is not None and not field.strip():
        raise typer.BadParameter("--field is empty; give a point or cell field of the mesh (`organtwin mesh info`)")
    if path.is_dir():
        if not (path / "activation.vtu").is_file():
            raise InputError(
                f"{path} is a folder without activation.vtu; give a mesh file, or a results folder of "
                "`organtwin ep run` that recorded activation"
            )
        path = path / "activation.vtu"
        _say(f"rendering {path}")
    check_output_files([(out, "--out")], inputs=[path])
    mesh = _read(
        path,
        scale,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    values = None if field is None else {**mesh.cell_data, **mesh.point_data}.get(field)
    if values is not None and np.asarray(values).dtype.kind in "fc" and not np.isfinite(np.asarray(values)).any():
        raise InputError(f"{path}: field {field!r} holds no finite value (all NaN or inf): nothing to colour by")
    render_mesh(mesh, out, field=field, title=path.name)
    _say(f"wrote {out}")


class MeshKind(StrEnum):
    slab = "slab"
    lv = "lv"
    biv = "biv"


@mesh_app.command("generate")
def mesh_generate(
    kind: Annotated[MeshKind, typer.Argument(help="slab (structured box), lv (ellipsoid LV) or biv (biventricular).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Mesh file to write (.vtu, .msh, ...).")],
    dx: Annotated[float, typer.Option(help="slab: grid spacing in mm.")] = 0.5,
    size: Annotated[str, typer.Option(help="slab: size in mm as LX,LY,LZ.")] = "20,7,3",
    h: Annotated[float | None, typer.Option(help="lv/biv: characteristic element size in mm.")] = None,
):
    """Generate a built-in geometry (the Niederer 20x7x3 mm slab at any dx, an LV ellipsoid, a biventricular mesh)."""
    from ..mesh import biv_mesh, lv_ellipsoid_mesh, slab_mesh, write_mesh

    if dx <= 0 or (h is not None and h <= 0):
        raise typer.BadParameter("--dx and --h must be positive lengths in mm")
    check_output_files([(out, "--out")])
    if kind is MeshKind.slab:
        try:
            lx, ly, lz = (float(t) for t in size.split(","))
        except ValueError:
            raise typer.BadParameter(f"--size must be three lengths in mm like 20,7,3, got {size!r}") from None
        mesh = slab_mesh((lx, ly, lz), dx)
    elif kind is MeshKind.lv:
        mesh = lv_ellipsoid_mesh(**({} if h is None else {"h": h}))
    else:
        mesh = biv_mesh(**({} if h is None else {"h": h}))
    write_mesh(mesh, out)
    _say(f"wrote {out}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, surfaces {sorted(mesh.surfaces)}")


@mesh_app.command("fibres")
def mesh_fibres(
    src: Annotated[Path, typer.Argument(help="Mesh with endo/epi/base surfaces.")],
    dst: Annotated[Path, typer.Argument(help="Mesh to write, with per-cell fibres and sheets.")],
    alpha_endo: Annotated[float, typer.Option(help="Helix angle at the endocardium, degrees.")] = 60.0,
    alpha_epi: Annotated[float, typer.Option(help="Helix angle at the epicardium, degrees.")] = -60.0,
    png: Annotated[Path | None, typer.Option(help="Also render the fibres to this PNG.")] = None,
    region_names: RegionNames = None,
    surface_names: SurfaceNames = None,
    name_map: NameMap = None,
    region_field: RegionField = None,
    surface_field: SurfaceField = None,
):
    """Rule-based fibres (Bayer et al. 2012): Laplace solves for transmural and apico-basal coordinates."""
    from ..mesh import rule_based_fibres, write_mesh

    check_output_files([(dst, "DST"), (png, "--png")], inputs=[src])
    if png is not None and dst is not None and Path(png).expanduser().resolve() == Path(dst).expanduser().resolve():
        raise typer.BadParameter(f"--png {png}: is DST too; give the picture its own file")
    mesh = _read(
        src,
        region_names=region_names,
        surface_names=surface_names,
        name_map=name_map,
        region_field=region_field,
        surface_field=surface_field,
    )
    mesh = rule_based_fibres(mesh, alpha_endo=alpha_endo, alpha_epi=alpha_epi)
    write_mesh(mesh, dst)
    _say(f"wrote {dst} with fibres and sheets ({mesh.n_cells} tets)")
    if png is not None:
        from ..viz import render_fibres

        render_fibres(mesh, png)
        _say(f"wrote {png}")


# --------------------------------------------------------------------------------------------------------------- cell
from ._cell import cell as _cell  # noqa: E402  (light module: heavy imports happen inside the command)

app.command("cell")(_cell)

from ._activate import activate as _activate  # noqa: E402  (light module: heavy imports happen inside the command)

app.command("activate")(_activate)

from ._calibrate import calibrate as _calibrate  # noqa: E402
from ._ecg import ecg as _ecg  # noqa: E402

app.command("ecg")(_ecg)
app.command("calibrate")(_calibrate)


# --------------------------------------------------------------------------------------------------------------- demo
@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("organtwin-demo"),
):
    """The main job on the built-in default: the biventricular mesh, its summary, fibres, pictures and a VTU."""
    from ..io import check_output_folder, results_folder
    from ..mesh import builtin_mesh_path, format_summary, mesh_summary, read_mesh, rule_based_fibres, write_mesh
    from ..viz import render_fibres, render_mesh

    check_output_folder(out)  # a new, empty or earlier demo folder (written all or nothing, user files never replaced)
    path = builtin_mesh_path("biv")
    mesh = read_mesh(path)
    _say(f"built-in biventricular mesh: {path}")
    _say(format_summary(mesh_summary(mesh)))
    mesh = rule_based_fibres(mesh)
    _say("rule-based fibres (Bayer et al. 2012): helix +60 deg endo to -60 deg epi")
    names = ("biv.vtu", "biv_regions.png", "biv_fibres.png")
    with results_folder(out, kind="demo") as tmp:
        write_mesh(mesh, tmp / names[0])
        render_mesh(mesh, tmp / names[1], title="organtwin: biventricular mesh (regions)")
        render_fibres(mesh, tmp / names[2])
    for name in names:
        _say(f"wrote {out / name}")


# --------------------------------------------------------------------------------------------------------------- bench
from ._bench import bench_app as _bench_app  # noqa: E402  (light module: heavy imports happen inside the command)

app.add_typer(_bench_app, name="bench")


# --------------------------------------------------------------------------------------------------------------- entry
def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"organtwin: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def _invoke(args: list[str]) -> None:
    """Run the command line through click's own context, not ``app(..., standalone_mode=False)``: typer's ``_main``
    turns a KeyboardInterrupt into ``Exit(130)`` and then into a *returned* 130 (and any ``typer.Exit`` into a returned
    code), which the caller would have to inspect, and the interrupt's notes (what was kept) would be lost."""
    from typer.main import get_command

    command = get_command(app)
    with command.make_context("organtwin", args) as ctx:
        command.invoke(ctx)


def _take_debug(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--`` (so that ``organtwin ep run case.toml --debug``, as the internal-error line
    suggests, works as well as ``organtwin --debug ep run case.toml``): the arguments without it, and whether it was
    there."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != "--debug"] + args[end:]
    return kept, len(kept) != len(args)


#: The end of the message equinox puts around an ``error_if`` message (its debugging advice), and the line it starts.
_EQX_MARKER = "EquinoxRuntimeError: "
_EQX_ADVICE = "\n\n-------------------"


def _solver_message(e: BaseException) -> str:
    """The message of a failed check or solver outcome raised by ``eqx.error_if`` (organtwin's `RESULTS` messages),
    without the traceback advice equinox adds (``EQX_ON_ERROR=breakpoint``...)."""
    text = str(e)
    if _EQX_MARKER in text:
        text = text.split(_EQX_MARKER, 1)[1]
    return text.split(_EQX_ADVICE, 1)[0]


def _user_error(e: Exception) -> str | None:
    """The one line for an error the user can fix, or None for a bug in organtwin.

    The user's: every `OrgantwinError` (bad input, a file that cannot be read or written), every `OSError` (a missing
    file, a full disk, no permission), a solver outcome or in-jit check (``eqx.error_if``: `organtwin.RESULTS`
    messages), and out of memory. Any other exception (a ValueError from numpy, a TypeError, a KeyError) is a bug."""
    if isinstance(e, OrgantwinError):
        return str(e) or type(e).__name__  # a ResultsError (an OSError) names its file already
    if isinstance(e, OSError):
        msg = str(e) or type(e).__name__
        if getattr(e, "filename", None) and str(e.filename) not in msg:
            msg = f"{msg}: {e.filename}"
        return msg
    if isinstance(e, RuntimeError):
        from .._solution import SOLVER_FAILURES  # (jax and diffrax: only when a RuntimeError needs sorting)

        if isinstance(e, SOLVER_FAILURES):
            return _solver_message(e)
    if isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e):
        return f"out of memory ({type(e).__name__}: {str(e)[:200]}); make the problem smaller (mesh, steps, snapshots)"
    return None


def main(argv: list[str] | None = None, *, interrupts=None) -> int:
    """Console entry point. Returns/exit codes: 0 ok, 1 error in the work, 2 bad command line, 130 interrupted (SIGINT,
    Ctrl-C), 143 terminated (SIGTERM); an interrupt prints one line ``organtwin: interrupted (SIGINT): <what was kept>``
    (`organtwin.cli._signals` says how signals are taken and why)."""
    warnings.showwarning = _warning_line
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if interrupts is None:  # in-process use (tests): the console script (`_signals.console_entry`) brings its own
        with Interrupts() as interrupts:
            return main(argv, interrupts=interrupts)
    code = _main(argv, interrupts)
    interrupts.settle()
    if interrupts.signum is not None and code not in INTERRUPTED_CODES:
        # The signal came but the command ended before the interrupt was raised (held inside an import, or swallowed
        # by a __del__ and not yet raised again): still say so; an interrupted run never reads as an ordinary success.
        e = interrupts.exception
        if not getattr(e, "__notes__", None):
            e.add_note(
                "the command finished before it could stop; what it printed above was done"
                if code == 0
                else "the command had already failed"
            )
        print(interrupted_line(e, interrupts.signum, interrupts.written), file=sys.stderr, flush=True)
        code = interrupts.exit_code
    return code


def _interrupted(e: BaseException | None, interrupts) -> int:
    print(interrupted_line(e, interrupts.signum, interrupts.written), file=sys.stderr, flush=True)
    if interrupts.signum is not None:
        return interrupts.exit_code
    return 143 if isinstance(e, _Terminated) else 130


def _main(argv: list[str] | None, interrupts) -> int:
    args, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    try:
        try:
            _invoke(args)
        except KeyboardInterrupt as e:  # SIGINT, SIGTERM (Terminated), Ctrl-C in a prompt; every cleanup has run
            return _interrupted(e, interrupts)
        except typer.Abort as e:  # what click raises for Ctrl-C (or end of input) in a prompt
            return _interrupted(e, interrupts)
        except Exception as e:
            if not interrupts.delivered:
                raise  # to the handlers below
            # the interrupt became an error on its way out
            interrupts.exception.add_note(f"then {type(e).__name__}: {_one_line(e)}")
            return _interrupted(interrupts.exception, interrupts)
    except typer.Exit as e:  # --help and friends
        return int(e.exit_code or 0)
    except _cx.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if getattr(e, "ctx", None) is not None else ""
        print(f"organtwin: error: {_one_line(e.format_message())}{hint}", file=sys.stderr)
        return 2
    except _cx.ClickException as e:
        print(f"organtwin: error: {_one_line(e.format_message())}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader closed stdout (`organtwin ... | head -1`): stop quietly, as `cat` would
        try:  # the interpreter's last flush at exit must not fail again ("Exception ignored ...")
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose pipe closed
    except Exception as e:
        if debug:
            raise
        msg = _user_error(e)
        if msg is None:
            msg = (
                f"internal error: {type(e).__name__}: {_one_line(e)} (this is a bug in organtwin; run again with "
                "--debug for the traceback and please report it)"
            )
        print(f"organtwin: error: {_one_line(msg)}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """The console script (`organtwin.cli._signals.console_entry`: signal handlers first, then the imports)."""
    console_entry()

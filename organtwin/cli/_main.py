"""The `organtwin` command line: thin wrappers over the library; every error becomes one line on stderr.

Heavy imports (JAX, pyvista, gmsh) happen inside the commands, so `organtwin --help` is instant.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import typer
from typer.core import TyperGroup

from .._errors import OrgantwinError
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
        elif getattr(p, "multiple", False) and p.metavar is None:  # a repeated option: its value's type, not list[...]
            item = (getattr(p.type_descriptor.annotation, "__args__", None) or (str,))[0]
            p.metavar = f"<{'path' if item.__name__.endswith('Path') else item.__name__}>"
        elif p.param_type_name == "argument" and getattr(p, "hidden", False):
            p.get_usage_pieces = lambda ctx: []  # a deprecated positional (`mesh convert SRC DST`): out of the usage
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


from ._mesh import mesh_app as _mesh_app  # noqa: E402  (light modules: heavy imports happen inside the commands)

app.add_typer(_mesh_app, name="mesh")
from ._ep import ep_app as _ep_app  # noqa: E402  (light modules: heavy imports happen inside the commands)

app.add_typer(_ep_app, name="ep")
from ._flow import flow_app as _flow_app  # noqa: E402

app.add_typer(_flow_app, name="flow")


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
from ._demo import demo as _demo  # noqa: E402  (light module: heavy imports happen inside the command)

app.command("demo")(_demo)


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

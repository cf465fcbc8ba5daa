"""What the commands share: printing, the one ``--dtype`` option (and the deprecated spellings it replaced), a progress
bar on stderr. Light module: JAX and rich are imported only when used."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import typer

__all__ = [
    "say",
    "Dtype",
    "DTYPE_HELP",
    "deprecated",
    "legacy_dtype",
    "legacy_option",
    "legacy_positional",
    "use_dtype",
    "ProgressBar",
    "QUIET_HELP",
    "show_progress",
    "choice",
]

T = TypeVar("T")


def say(msg: str) -> None:
    print(msg, flush=True)


class Dtype(StrEnum):
    """``--dtype``: the floating-point precision of a computation (every command spells it this way)."""

    float32 = "float32"
    float64 = "float64"


DTYPE_HELP = "Floating-point precision."


def out_option(help: str, metavar: str = "DST") -> Any:
    """The output file of a command: ``--out/-o`` (required where the command says so in ``help``)."""
    return typer.Option("--out", "-o", metavar=metavar, show_default=False, help=help)


def old_out_argument(metavar: str = "DST") -> Any:
    """The output file as the old, deprecated positional argument (hidden; `legacy_positional` notes its use)."""
    return typer.Argument(metavar=metavar, hidden=True, show_default=False, help=f"Deprecated: --out {metavar}.")


def deprecated(old: str, new: str) -> None:
    """The one-line note for an old spelling that still works (a hidden alias)."""
    print(f"organtwin: note: {old} is deprecated; use {new}", file=sys.stderr, flush=True)


def legacy_dtype(dtype: Dtype, flag: bool, old: str) -> Dtype:
    """``--dtype``, or what a deprecated flag (``--float64``, ``--float32``) asked for when it was given."""
    if not flag:
        return dtype
    wanted = Dtype(old.removeprefix("--"))
    deprecated(old, f"--dtype {wanted.value}")
    return wanted


def legacy_option(value: T | None, old_value: T | None, new: str, old: str) -> tuple[T | None, str]:
    """(the value, the option's name as the user spelled it) for an option with a deprecated hidden alias."""
    if old_value is None:
        return value, new
    if value is not None:
        raise typer.BadParameter(f"{old} is the deprecated spelling of {new}; give only {new}")
    deprecated(old, new)
    return old_value, old


def legacy_positional(value: T | None, positional: T | None, new: str, old: str) -> tuple[T, str]:
    """(the value, its name as the user gave it) for an output given as ``--out`` (``new``) or, deprecated, as the
    positional argument ``old`` of earlier versions (``mesh convert SRC DST``); one of the two is required."""
    if positional is None:
        if value is None:
            click_exceptions = sys.modules[typer.BadParameter.__module__]  # typer >= 0.24 vendors click

            raise click_exceptions.MissingParameter(param_type="option", param_hint=f"'{new}' / '-o'")
        return value, new
    if value is not None:
        raise typer.BadParameter(f"{old} and {new} both name the output; give only {new} {old}")
    deprecated(f"the positional {old}", f"{new} {old}")
    return positional, old


def use_dtype(dtype: Dtype) -> None:
    """float64 switches JAX's 64-bit mode on: here, at the user's edge, never on import."""
    if dtype is Dtype.float64:
        import jax

        jax.config.update("jax_enable_x64", True)


QUIET_HELP = "No progress display (default: one on stderr when it is a terminal)."


def show_progress(quiet: bool, progress: bool | None = None) -> bool:
    """The one progress model of every command that shows progress: a display on stderr when stderr is a terminal,
    none with ``--quiet/-q``. ``progress`` is the deprecated ``--progress/--no-progress`` of `ep run` (hidden): it
    still forces the bar on (even off a terminal) or off, with a note."""
    if progress is None:
        return not quiet and sys.stderr.isatty()
    if progress and quiet:
        raise typer.BadParameter("--progress (deprecated) and --quiet contradict each other; give only --quiet")
    deprecated(
        "--progress" if progress else "--no-progress",
        "the default (a progress bar when stderr is a terminal)" if progress else "--quiet",
    )
    return progress


class ProgressBar:
    """A rich progress bar on stderr (nothing when not ``enabled``); ``update(done, total, description)``."""

    def __init__(self, enabled: bool, description: str, total: float | None = None, *, eta: bool = False):
        self.enabled, self.description, self.total, self.eta = enabled, description, total, eta
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list = [
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TimeElapsedColumn(),
            ]
            if self.eta:
                columns += [TextColumn("eta"), TimeRemainingColumn()]
            self.progress = Progress(*columns, console=Console(stderr=True), transient=False)
            self.progress.__enter__()
            self.task = self.progress.add_task(self.description, total=self.total)
        return self

    def update(self, done: float, total: float, description: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total, description=description)

    def callback(self, describe: Callable[..., str]) -> Callable[..., None]:
        """``progress(done, total, *more)`` for a library function, described by ``describe(done, total, *more)``."""
        return lambda done, total, *more: self.update(done, total, describe(done, total, *more))

    def __exit__(self, *exc) -> bool:
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False


def choice(names: Callable[[], list[str] | tuple[str, ...]]) -> Callable[[str], str]:
    """A parser for an option whose values are a library table's (e.g. `organtwin.ep.Mass`), read when the option is
    parsed so that building the help imports no solver package; any case; a wrong value lists them."""

    def parse(text: str) -> str:
        allowed = list(names())
        key = str(text).strip().lower()
        if key not in allowed:
            raise typer.BadParameter(f"{text!r} is not one of {', '.join(map(repr, allowed))}.")
        return key

    return parse


def usage_error(parse: Callable[..., T], *args: Any) -> T:
    """``parse(*args)`` for a command-line value: its `InputError` is a bad command line (exit 2), one line."""
    from .._errors import InputError

    try:
        return parse(*args)
    except InputError as e:
        raise typer.BadParameter(str(e)) from None

"""A traced solve kept in a folder (``jax.export``) and loaded by a later process, so that a run of a network it has
run before does not trace the solve again (issue 25 item 5: `organtwin flow zerod` warm).

Tracing the one-config program of `run_svzerod` (diffrax's solve of the network's right-hand side, the observation)
costs seconds of every process, before JAX's persistent compilation cache can even be looked up (its key is the
lowered program). `run_kept` exports the program once (StableHLO, with the network's arrays as arguments, not
constants) to ``FOLDER/<name>-<key>.jaxexport`` and, when that file is there, deserialises and calls it instead: no
tracing of the solve, and XLA's compilation of the deserialised program is the one the persistent cache keeps.

The key is a SHA-256 of everything the program is built from besides its array arguments: the static part of the
arguments (the network's structure, the integrator, their non-array fields, all by value), the arguments' shapes and
dtypes, the caller's own description of what its program closes over (output times, options), JAX's 64-bit mode and
the versions of jax, jaxlib, equinox, diffrax, optimistix, lineax, and the contents of every organtwin module loaded
(outside its command line): any change of any of them is another file. Writing and reading the files needs the
``flatbuffers`` package (jax.export's format; a dependency of organtwin): without it nothing is kept. Arguments whose static part has no stable description (a function or object
shown by its address) are not kept: the program is traced as usual. A file that cannot be read is passed over with one
warning line (`NetworkWarning`) and replaced; one that cannot be written is passed over silently (a kept program never
fails a run). A program jax.export cannot write is traced and run as usual: one with host callbacks, which every
diffrax solve has under equinox's default ``EQX_ON_ERROR=raise`` (its checks of ``ts`` and ``dt0``); the command line
imports equinox with ``EQX_ON_ERROR=nan`` (its cache module).

Programs that end in a failed solve are not answered from here: `run_kept` returns None when the kept program says
the solve did not succeed, and the caller runs its traced program, which says how it failed (its `RESULTS` member).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import equinox as eqx
import jax

from ..._errors import NetworkWarning
from ..._solution import RESULTS

__all__ = ["call_kept", "run_kept"]

_SUFFIX = ".jaxexport"
_UNSTABLE = re.compile(r" at 0x[0-9a-fA-F]+")  # a repr with an object's address: not the same in the next process


def _environment() -> str:
    """The versions and sources a kept program depends on: the packages it is traced with, and the sources of every
    organtwin module loaded (those it can be traced from; the command line's own are not among them)."""
    names = ("jax", "jaxlib", "equinox", "diffrax", "optimistix", "lineax")
    parts = [f"{n}={_version(n)}" for n in names]
    files = sorted(
        f
        for name, m in list(sys.modules.items())
        if name.startswith("organtwin.")
        and not name.startswith("organtwin.cli")
        and isinstance(f := getattr(m, "__file__", None), str)
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.encode())
        digest.update(_read(path))
    return ";".join(parts) + f";organtwin-src={digest.hexdigest()}"


@cache
def _version(name: str) -> str:
    return metadata.version(name)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _describe(x: Any) -> str | None:
    """A value by value, or None where its repr shows an address. A function is its module and name when that name
    finds this very function (a module-level one: the same in every process with the same sources)."""
    name = getattr(x, "__qualname__", None)
    if callable(x) and isinstance(name, str):
        found: Any = sys.modules.get(getattr(x, "__module__", None) or "")
        for part in name.split("."):
            found = getattr(found, part, None)
        return f"{x.__module__}.{name}" if found is x else None
    text = repr(x)
    return None if _UNSTABLE.search(text) else text


def _key(args: tuple, leaves: list, extra: str) -> str | None:
    dynamic, static = eqx.partition(args, eqx.is_array)
    parts = [_describe(jax.tree.structure(static)), _describe(jax.tree.structure(dynamic))]
    parts += [_describe(x) for x in jax.tree.leaves(static)]
    if any(p is None for p in parts):
        return None
    parts += [f"{x.shape}:{x.dtype}" for x in leaves]
    parts += [extra, f"x64={jax.config.read('jax_enable_x64')}", _environment()]
    return hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _write(path: Path, data: bytes) -> None:
    """Atomically (another process may read it at the same time); a folder that cannot be written: nothing kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def call_kept(fn: Callable, args: tuple, folder: Path | None, name: str, extra: str = "") -> Any:
    """``fn(*args)`` through a program kept in ``folder`` (None: ``fn`` called as usual). ``fn``: jitted
    (``eqx.filter_jit``), so that it is compiled once where nothing is kept; it returns arrays in tuples, lists and
    dicts (what ``jax.export`` can write). ``extra``: what ``fn`` closes over besides ``args`` (output times,
    options), as text, for the key."""
    leaves, treedef = jax.tree.flatten(eqx.filter(args, eqx.is_array))
    key = None if folder is None else _key(args, leaves, f"{name}\n{extra}")
    if folder is None or key is None:
        return fn(*args)
    if importlib.util.find_spec("flatbuffers") is None:  # jax.export's format: without it, nothing is kept
        return fn(*args)
    _, static = eqx.partition(args, eqx.is_array)
    path = Path(folder) / f"{name}-{key}{_SUFFIX}"
    exported = None
    if path.is_file():
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception as e:  # (a file cut short or garbled: anything deserialize may raise)
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:200]
            warnings.warn(f"unreadable kept program {path} ({msg}); traced afresh", NetworkWarning, stacklevel=2)
    if exported is None:

        def flat(*arrays):
            return fn(*eqx.combine(jax.tree.unflatten(treedef, arrays), static))

        specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
        try:
            exported = jax.export.export(jax.jit(flat))(*specs)
            data = bytes(exported.serialize())
        except NotImplementedError:  # a program jax.export cannot write: host callbacks (EQX_ON_ERROR=raise)
            return fn(*args)
        _write(path, data)
    return exported.call(*leaves)


def run_kept(run: Callable, args: tuple, folder: Path, name: str, extra: str) -> tuple[Any, Any] | None:
    """``run(*args)`` (it returns ``(observed, state, result, ...)``) through a program kept in ``folder``
    (`call_kept`): (observed, state) when the solve succeeded, None when it did not or when the program cannot be kept
    (then the caller runs ``run`` itself, which says how it failed)."""
    leaves = jax.tree.leaves(eqx.filter(args, eqx.is_array))
    if _key(args, leaves, "") is None:
        return None

    @eqx.filter_jit
    def succeeded(*a):
        observed, state, result = run(*a)[:3]
        return observed, state, result == RESULTS.successful

    observed, state, ok = call_kept(succeeded, args, folder, name, extra)
    return (observed, state) if bool(ok) else None

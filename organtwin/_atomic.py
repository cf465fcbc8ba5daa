"""One atomic writer for every file organtwin writes: a temporary file beside the target, flushed and fsync'ed, then
``os.replace`` onto it; on any error or interrupt the temporary file is removed and the target is untouched.

A neutral private module (it imports only `organtwin._errors`), so that the core's own writers (`organtwin.mesh`'s
`write_mesh`, its VTU writer) use it without importing the edge package `organtwin.io`, which re-exports
``atomic_file`` and builds its results folders on it.

- `atomic_file(path, mode)`: a context manager yielding ``(handle, temp_path)`` (``mode=None``: the caller writes
  ``temp_path`` itself, e.g. meshio or matplotlib); `atomic_write(path, write)`: the same for a function
  ``write(temp_path)``.
- `check_output_file(path, option)`: before the work, that a single file can be written there (one-line
  `ResultsError`); here, not in `organtwin.io`, so that a light command (`organtwin flow zerod`) checks its output
  without importing the edge package.
- `atomic_files(target, write)`: for a format of several files (XDMF + HDF5, openCARP .pts/.elem/.lon): ``write`` fills
  a temporary folder beside ``target`` and returns the files; each is moved next to ``target``, the last one last.

Temporary names are ``.<name>.<pid>-<host>.<random>.tmp`` (and for results folders, `organtwin.io.results_folder`,
``.partial`` / ``.old``): whose they are, so a later write removes those of dead processes (`clean_stale`). Errors are
one-line `ResultsError` s naming the file meant, never a temporary name ("disk full while writing X; nothing was
written" on a full disk); a `KeyboardInterrupt` gets a PEP 678 note saying what was kept.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ._errors import ResultsError

__all__ = ["atomic_file", "atomic_files", "atomic_write", "check_output_file", "clean_stale"]


def _line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _normal_mode(path, folder: bool) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries: give results the usual permissions (umask applied)."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def _fsync(path) -> None:
    """Flush a written file to the disk before it is renamed into place (so a crash leaves the old file or the new one,
    never an empty one)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _abs(path) -> Path:
    """Absolute, ``~`` expanded, symlinks NOT resolved (a symlinked --out is replaced, not its target)."""
    return Path(os.path.abspath(Path(path).expanduser()))


# ====================================================================================================== temporary names
_DISK_FULL = {_errno.ENOSPC, getattr(_errno, "EDQUOT", _errno.ENOSPC)}
_TEMP_NAME = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]*)\.[A-Za-z0-9_]+"
    r"\.(?P<kind>partial|old|tmp)$"
)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:32]


def _temp_prefix(name: str) -> str:
    """``.<name>.<pid>-<host>.``: whose temporary entry it is, so a later run can tell a dead process's leftovers."""
    return f".{name}.{os.getpid()}-{_host()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists (another user's), or cannot tell: keep it
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def clean_stale(parent, name: str) -> list[Path]:
    """Remove the temporary entries (``.partial``, ``.old``, ``.tmp``) that processes now dead left for ``name`` in
    ``parent`` (same host, pid not running); an ``.old`` folder whose target is missing is moved back into place (the
    earlier results of a process killed between its two renames), with a warning. Returns what was removed."""
    parent = Path(parent)
    removed: list[Path] = []
    try:
        entries = [e.name for e in os.scandir(parent) if e.name.startswith(f".{name}.")]
    except OSError:
        return removed
    host = _host()
    # .old first: it may have to go back into place before anything else is decided
    for entry in sorted(entries, key=lambda s: not s.endswith(".old")):
        m = _TEMP_NAME.match(entry)
        if m is None or m["name"] != name or m["host"] != host or _alive(int(m["pid"])):
            continue
        path, target = parent / entry, parent / name
        if m["kind"] == "old" and not os.path.lexists(target):
            try:
                os.replace(path, target)
                warnings.warn(
                    f"{target}: restored the earlier results that a killed process (pid {m['pid']}) had "
                    "moved aside while replacing them",
                    _results_warning(),
                    stacklevel=3,
                )
                continue
            except OSError:
                pass
        _remove(path)
        removed.append(path)
    return removed


def _results_warning():
    from ._errors import MeshWarning

    return MeshWarning


# ====================================================================================================== errors
def _meant_path(path, tmp: Path | None, final: Path | None) -> Path:
    """``path`` with the temporary folder ``tmp`` replaced by the ``final`` one (the name the user knows)."""
    p = Path(path)
    if tmp is not None and final is not None:
        with contextlib.suppress(ValueError):
            return final / p.relative_to(tmp)
    return p


def _untemp(text: str, tmp: Path | None, final: Path | None) -> str:
    if tmp is not None and final is not None:
        text = text.replace(str(tmp), str(final))
    return (
        re.sub(r"/?\.([^/\s'\"]+?)\.\d+-[A-Za-z0-9-]*\.[A-Za-z0-9_]+\.(partial|old|tmp)\b", r"/\1", text)
        if ".partial" in text or ".tmp" in text or ".old" in text
        else text
    )


def _write_error(e: OSError, meant: Path, *, what: str = "") -> ResultsError:
    """One line for an OSError while writing ``meant``: a full disk says so; no temporary name."""
    if isinstance(e, ResultsError):
        return e
    code = e.errno
    if code in _DISK_FULL:
        return ResultsError(f"disk full while writing {meant}; nothing was written{what}", meant=meant, errno=code)
    reason = e.strerror or _line(e)
    other = getattr(e, "filename", None)
    if (
        other is not None
        and not str(other).startswith(str(meant.parent / f".{meant.name}."))
        and Path(str(other)) != meant
    ):
        reason = f"{reason}: {other}"
    return ResultsError(f"cannot write {meant}: {reason}{what}", meant=meant, errno=code)


def _kept_note(e: BaseException, text: str, drop: str | None = None) -> None:
    """Add the PEP 678 note "what was kept" to an interrupt (replacing a note about the temporary ``drop``)."""
    notes = getattr(e, "__notes__", None)
    if drop is not None and notes:
        notes[:] = [n for n in notes if drop not in n]
    e.add_note(text)


# ====================================================================================================== atomic files
@contextlib.contextmanager
def atomic_file(path, mode: str | None = "w"):
    """Open a temporary file next to ``path`` for writing; on success it replaces ``path`` (``os.replace``).

    Yields ``(handle, temp_path)``: the handle is None for ``mode=None`` (the caller writes ``temp_path`` itself, e.g.
    meshio). On any error the temporary file is removed and ``path`` is untouched; an OSError becomes a one-line
    `ResultsError` naming ``path`` (not the temporary name; "disk full while writing ..." on a full disk), and an
    interrupt gets a note saying nothing was written. Temporary files of dead processes for the same name are removed.
    """
    path = _abs(path)
    if not any(_TEMP_NAME.match(part) for part in path.parent.parts):  # not inside a results folder being written
        clean_stale(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _write_error(e, path) from None
    os.close(fd)
    try:
        if mode is None:
            yield None, Path(tmp)
        else:
            with open(
                tmp, mode, encoding=None if "b" in mode else "utf-8", newline=None if "b" in mode else "\n"
            ) as fh:
                yield fh, Path(tmp)
        _fsync(tmp)
        _normal_mode(tmp, folder=False)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _write_error(e, path) from None
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, KeyboardInterrupt):
            _kept_note(
                e, f"nothing was written to {path}" + ("; the earlier file there is kept" if path.exists() else "")
            )
        raise


def check_output_file(path, option: str = "output") -> Path:
    """Check, before the work, that a single file can be written at ``path``: not an existing folder, its folder exists
    and can be written. Raises `ResultsError` (one line, naming ``option``)."""
    p = _abs(path)
    if p.is_dir():
        raise ResultsError(f"{option} {path}: is a folder; give a file name", meant=p)
    parent = p.parent
    if not parent.exists():
        raise ResultsError(
            f"{option} {path}: folder {parent} does not exist; create it first or choose another path", meant=p
        )
    if not parent.is_dir():
        raise ResultsError(f"{option} {path}: {parent} is a file, not a folder", meant=p)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ResultsError(
            f"{option} {path}: cannot write in {parent} (permission denied); choose another path", meant=p
        )
    return Path(path).expanduser()


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """``write(temp_path)`` writes the file's content at a temporary path beside ``path``, which then replaces ``path``
    atomically (`atomic_file` with ``mode=None``: the same errors, notes and clean-up). Returns ``path``."""
    with atomic_file(path, None) as (_, tmp):
        write(tmp)
    return Path(path)


def atomic_files(
    target, write: Callable[[Path], Sequence], *, error: Callable[[OSError, Path, str], BaseException] | None = None
) -> Path:
    """Several files at once, each atomically: ``write(temporary folder)`` writes them there under the names they will
    have (formats such as XDMF name their companion files) and returns them; each is fsync'ed and moved next to
    ``target``, the last one returned last. On any error or interrupt the temporary folder is removed (files already
    moved stay: each is whole). Exceptions from ``write`` pass through; an OSError creating the folder or moving a
    file becomes ``error(e, meant, stage)`` (stage "create" or "move"; default a one-line `ResultsError` naming the
    file meant). Returns ``target``."""
    target = _abs(target)
    parent = target.parent
    make = error or (lambda e, meant, stage: _write_error(e, meant))
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=parent))
    except OSError as e:
        raise make(e, target, "create") from None
    try:
        files = [Path(f) for f in write(tmp)]
        for f in files:
            _fsync(f)
        for f in files:
            meant = parent / f.name
            try:
                _normal_mode(f, folder=False)
                os.replace(f, meant)
            except OSError as e:
                raise make(e, meant, "move") from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            _kept_note(e, f"nothing more was written to {target}")
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target

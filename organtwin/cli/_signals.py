"""SIGINT and SIGTERM for the command line: stop cleanly, never crash.

`Interrupts` (a context manager around one command) turns SIGINT into a `KeyboardInterrupt` and SIGTERM into
`organtwin._errors.Terminated` (a KeyboardInterrupt subclass), so every cleanup an interrupt runs (``finally`` blocks, the
all-or-nothing `organtwin.io.results_folder`, `atomic_file`) runs for both. Code that writes outputs adds a PEP 678 note
to the interrupt saying what was kept; the entry point prints the notes on one line.

Why not Python's default handler (a KeyboardInterrupt at the next bytecode, wherever that is): Ctrl-C used to exit 0
with nothing printed (typer's ``_main`` turns a KeyboardInterrupt into a returned 130 that the entry discarded), and now
and then segfaulted (139). Found with core dumps (``ulimit -c unlimited``, gdb) of ``organtwin ep run`` interrupted at
random moments:

- The segfault is a teardown crash. The interrupt landed while JAX was compiling: XLA compiles on its own thread pool
  while the main thread waits, polling for signals, so the KeyboardInterrupt abandoned the wait with the compile still
  running. The process then exited, and ``Py_FinalizeEx``'s garbage collection destroyed the PjRt client
  (``jax::PyClient::~PyClient`` -> ``PjRtClient::~PjRtClient``, joining its thread pool) while the worker was still in
  ``PjRtLoadedExecutable::Create`` -> ``SingleDeviceSharding::Create`` using the client's freed devices (SIGSEGV on
  the worker thread). Any exit through the interpreter's teardown with XLA work in flight can do this.
- An interrupt inside the import of one of jaxlib's nanobind extension modules frees the half-made module and
  ``nanobind::detail::nb_module_free`` segfaults at once (seen under gdb); other interrupted imports left tracebacks
  or "ImportError: Encountered an error while initializing the extension".
- An interrupt raised inside JAX's garbage-collection callback (``_xla_gc_callback``) or any ``__del__`` is printed as
  "Exception ignored" and lost: the command went on and exited 0.
- Nothing handled signals during the imports (``import organtwin`` imported JAX: seconds on a loaded machine).

So: (1) the console script installs the handlers before anything heavy is imported (``organtwin`` and
``organtwin.cli`` load their contents lazily). (2) An interrupt is not raised inside an import: it is held and raised
by a helper thread's retry (``_thread.interrupt_main``, no OS signal) as soon as the main thread is out of it.
(3) An interrupt swallowed by a ``__del__`` or gc callback is noticed (``sys.unraisablehook``) and raised again.
(4) After the interrupt is raised, further signals do not raise (the cleanup runs to its end); a third one leaves at
once. (5) The console script always ends with ``os._exit`` after flushing stdout/stderr (an interrupted run at once; a
finished one after the exit functions): no interpreter teardown, so no destructor races XLA threads that are still
busy, and a signal during the exit functions still gets its line. Raising inside JAX code (e.g. during a compile) is
fine then: the abandoned work dies with the process. (Holding the interrupt until JAX returned was tried: a compile
under load held Ctrl-C for 80 s.)
"""

from __future__ import annotations

import _thread
import atexit
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable

from .._errors import Terminated

__all__ = ["Interrupts", "EXIT_CODES", "INTERRUPTED_CODES", "console_entry", "interrupted_line"]

#: Exit status of a command stopped by each signal (128 + the signal number, as shells report it). SIGHUP (the terminal
#: closed) stops a command like SIGTERM does.
EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
#: The exit statuses of an interrupted command.
INTERRUPTED_CODES = frozenset(EXIT_CODES.values())

# the temporary names of organtwin._atomic: .<name>.<pid>-<host>.<random>.partial|old|tmp
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]*)\.[A-Za-z0-9_]+\.(?P<kind>partial|old|tmp)$")

_RETRY_S = 0.05  # how often a held interrupt is tried again
_FORCE_AFTER = 3  # signals after the delivered one: the third leaves at once, cleanup or not


def _make(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum in (signal.SIGTERM, signal.SIGHUP) else KeyboardInterrupt()


class Interrupts:
    """Install the SIGINT/SIGTERM handlers for the duration of one command (main thread only; elsewhere a no-op).

    After the command: ``signum`` is the first signal received (None if none); ``exception`` the interrupt raised for it
    (its ``__notes__`` say what was kept), or the one still held if the command ended before it could be raised.
    """

    def __init__(self, *, on_force=None):
        self.signum: int | None = None
        self.exception: KeyboardInterrupt | None = None
        self.delivered = False
        self._held = False
        self._after = 0  # signals received after the delivered one
        self._presses = 0  # signals received before it was delivered
        self._tick = False  # the next SIGINT/SIGTERM call is our own retry
        self._active = False
        self._saved: dict = {}
        self._hook = None
        self._on_force = on_force
        self._thread: threading.Thread | None = None
        # after the command: what a signal during the interpreter's shutdown does
        self._late: Callable[[Interrupts, int], None] | None = None
        self.written: list[str] = []  # outputs moved into place (`record_writes`)

    # ------------------------------------------------------------------------------------------------------- context
    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is not threading.main_thread():
            return self
        for s in EXIT_CODES:
            self._saved[s] = signal.signal(s, self._handler)
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        self._active = True
        return self

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        self._held = False
        if self._thread is not None:  # no retry may reach the handlers restored below
            self._thread.join(1.0)
        self._tick = False
        self._active = False
        sys.unraisablehook = self._hook
        for s, h in self._saved.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)

    def record_writes(self) -> None:
        """Note every output this process moves into place from a temporary name (``os.replace`` of a ``.partial``
        folder or ``.tmp`` file, `organtwin.io.results_folder` / `atomic_file`), so that an interrupt without a note
        can still say what was written. A process-wide audit hook: the console script only."""
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args) -> None:
        if event != "os.rename" or not self._active:
            return
        try:
            src, dst = os.fsdecode(args[0]), os.fsdecode(args[1])
        except (TypeError, IndexError):
            return
        m = _TEMP.match(os.path.basename(src))
        if m is None or m["kind"] == "old" or int(m["pid"]) != os.getpid():
            return
        if any(_TEMP.match(part) for part in dst.split(os.sep)):  # a file inside a results folder being written
            return
        self.written.append(dst)

    @property
    def exit_code(self) -> int:
        return 130 if self.signum is None else EXIT_CODES.get(self.signum, 130)

    # ------------------------------------------------------------------------------------------------------- handler
    def _handler(self, signum, frame) -> None:
        if self._late is not None:  # the command is done; the interpreter is shutting down
            self._late(self, signum)
            return
        if self._tick:  # our retry, not a new signal
            self._tick = False
            if self._held and not _in_import(frame):
                self._deliver()
            return
        if self.delivered:  # the cleanup of the first interrupt is running: let it finish
            self._after += 1
            if self._after >= _FORCE_AFTER and self._on_force is not None:
                self._on_force(self)
            return
        if self.exception is None:
            self.signum = signum
            self.exception = _make(signum)
        self._presses += 1
        if _in_import(frame):  # raised inside an import it could free a half-made extension module: wait
            if self._presses >= _FORCE_AFTER and self._on_force is not None:
                self._on_force(self)
            self._hold()
            return
        self._deliver()

    def settle(self) -> None:
        """The interrupt is being reported: raise nothing more (a held one is dropped; later signals only count)."""
        self._held = False
        self.delivered = self.exception is not None

    def _deliver(self) -> None:
        self._held = False
        self.delivered = True
        assert self.exception is not None  # delivered after a signal only
        raise self.exception

    def _hold(self) -> None:
        if self._held:
            return
        self._held = True
        self._thread = threading.Thread(target=self._retry, name="organtwin-interrupt-retry", daemon=True)
        self._thread.start()

    def _retry(self) -> None:
        signum = self.signum or signal.SIGINT
        while self._held and self._active:
            time.sleep(_RETRY_S)
            if self._held and self._active:
                self._tick = True
                _thread.interrupt_main(
                    signal.Signals(signum)
                )  # runs our handler in the main thread at its next bytecode; no OS signal

    def _unraisable(self, unraisable) -> None:
        exc = unraisable.exc_value
        if self.exception is not None and exc is self.exception and self.delivered:
            self.delivered = False  # raised inside a __del__ / gc callback and swallowed there: raise it again
            self._hold()
            return
        if self._hook is not None:
            self._hook(unraisable)


def _in_import(frame) -> bool:
    """Is the main thread (``frame`` and its callers) inside an import?"""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


# ------------------------------------------------------------------------------------------------------------ entry
def _one_line(text) -> str:
    return " ".join(str(text).split())


def _shown(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def interrupted_line(e: BaseException | None, signum: int | None, written=()) -> str:
    """``organtwin: interrupted (SIGINT): <what was kept>``: the interrupt's PEP 678 notes (added by the code that was
    writing outputs, e.g. `organtwin.io.results_folder`), joined, and the outputs completed before it (``written``)
    that no note names; "nothing was written" when there is neither."""
    if signum is not None:
        name = signal.Signals(signum).name
    else:
        name = "SIGTERM" if isinstance(e, Terminated) else "SIGINT"
    notes = [_one_line(n) for n in (getattr(e, "__notes__", None) or []) if str(n).strip()]
    done = list(dict.fromkeys(_shown(w) for w in written))
    done = [w for w in done if not any(w in n or os.path.abspath(w) in n for n in notes)]
    if done:
        notes.append(f"wrote {', '.join(done)} (complete) before the interrupt")
    return f"organtwin: interrupted ({name}): {'; '.join(notes) or 'nothing was written'}"


def leave(code: int) -> None:
    """Flush stdout/stderr and end the process now, without the interpreter's teardown (module docstring: destroying
    JAX's client at exit while an XLA compile it abandoned still runs on a worker thread segfaults)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _force(interrupts: Interrupts) -> None:
    print(
        interrupted_line(interrupts.exception, interrupts.signum, interrupts.written).replace(
            "): ", "): stopped at once by a third signal, cleanup not finished; ", 1
        ),
        file=sys.stderr,
        flush=True,
    )
    leave(interrupts.exit_code)


def console_entry(argv: list[str] | None = None, *, early: list[int] | None = None) -> None:
    """The ``organtwin`` console script: take SIGINT/SIGTERM first, then import the command line (typer, and JAX with
    the commands) and run it. Always ends the process through `leave` (``os._exit`` after flushing): an interrupted run
    at once (130/143), any other after the exit functions."""
    interrupts = Interrupts(on_force=_force).__enter__()  # kept to the end: the process ends here
    interrupts.record_writes()
    try:
        if early:  # received before the handlers above were installed (`organtwin.cli.main`): raise it now
            signal.raise_signal(early[0])
        from ._main import main

        code = main(argv, interrupts=interrupts)
        if code not in INTERRUPTED_CODES:
            interrupts._late = _late
    except KeyboardInterrupt as e:  # held during the imports above and raised when they were done
        print(interrupted_line(e, interrupts.signum, interrupts.written), file=sys.stderr, flush=True)
        code = interrupts.exit_code
    except Exception:  # `organtwin --debug ...`: the error raised again, for its traceback
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    if code in INTERRUPTED_CODES:
        leave(code)
    # Done. Run the exit functions (logging, JAX's clean-up, finalizers) with a signal still answered (`_late`), then
    # leave without the interpreter's teardown: it resets the handlers to the default (a signal then kills the process
    # with no word) and spends a while in JAX's destructors.
    atexit._run_exitfuncs()
    leave(code)


def _late(interrupts: Interrupts, signum: int) -> None:
    """A signal after the command finished: its outputs are complete, but whoever sent it wants the caller to stop
    (``organtwin ... && next`` must not go on), so the exit status still says interrupted."""
    e = _make(signum)
    e.add_note("the command had finished; what it printed above was done")
    try:
        print(interrupted_line(e, signum, interrupts.written), file=sys.stderr, flush=True)
    finally:
        leave(EXIT_CODES.get(signum, 130))

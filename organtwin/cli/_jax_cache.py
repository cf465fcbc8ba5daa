"""JAX's persistent compilation cache for the command line: where it lives, and switching it on.

An application decides process-wide settings, a library does not: nothing in the `organtwin` library touches JAX's
configuration, and the commands of this command line (an application: `organtwin flow zerod`) switch the cache on
here, at the user's edge, before their first compilation (tests/test_zerod_cli_speed.py checks that the library
never sets it).

Where: ``$ORGANTWIN_JAX_CACHE`` if set, else a folder the user gave JAX itself (``$JAX_COMPILATION_CACHE_DIR``), else
``$XDG_CACHE_HOME/organtwin/jax``, else ``~/.cache/organtwin/jax``. ``ORGANTWIN_JAX_CACHE=off`` (or ``0``, ``no``,
``false``, empty): the command line leaves JAX's cache as JAX's own settings have it (off, unless
``JAX_COMPILATION_CACHE_DIR`` is set: then plain JAX's cache, nothing of the below); a command's ``--no-cache``: no
cache at all. The folder holds one file per compiled program, keyed by the program, JAX's version and the machine;
delete it (``rm -r ~/.cache/organtwin/jax``) to clear it. A folder that cannot be created is passed over with one note:
a cache never fails a run.

Programs with host callbacks: JAX up to at least 0.10.2 writes no cache entry for a program that contains one
(``jax._src.compiler._cache_write``: "because it uses host callbacks"), and every ``diffrax.diffeqsolve`` with
``SaveAt(ts=...)`` contains some under jit: equinox's ``error_if`` checks of ``ts`` and ``dt0`` (whatever ``throw``
says), host callbacks under equinox's default ``EQX_ON_ERROR=raise``. `checks_without_callbacks` has the command's
process import equinox with ``EQX_ON_ERROR=nan`` (the check returns NaN instead of calling back to raise: a
``lax.cond`` in the program), so JAX's own cache keeps every program of the command, the solve included, with no change
to JAX. The command line checks what it computed on the host (`run_svzerod`: ``result`` and finite outputs, one-line
`NetworkError`), and the checks it turns off cannot fail there (`run_svzerod` makes ``ts`` increasing within
[t0, t1] and ``dt0`` > 0). A user's own ``EQX_ON_ERROR`` is left as it is.

A cache entry that cannot be read (truncated, another JAX's) is passed over by JAX with a warning (one line,
``organtwin: warning: Error reading persistent compilation cache entry ...``, as the command line shows warnings) and
the program is compiled afresh; a kept traced program likewise (organtwin/flow/zerod/_kept.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "checks_without_callbacks", "use_compilation_cache"]

#: The environment variable naming the cache folder (or switching the cache off: ``0``, ``off``, ``no``, ``false``, "").
CACHE_ENV = "ORGANTWIN_JAX_CACHE"
_OFF = {"", "0", "off", "no", "false"}


def cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder the command line uses (the module docstring's order), or None when ``$ORGANTWIN_JAX_CACHE``
    switches it off."""
    env = os.environ if environ is None else environ
    if CACHE_ENV in env:
        value = env[CACHE_ENV].strip()
        return None if value.lower() in _OFF else Path(value).expanduser()
    given = env.get("JAX_COMPILATION_CACHE_DIR", "").strip()  # the user's own choice for JAX
    if given:
        return Path(given).expanduser()
    base = env.get("XDG_CACHE_HOME", "").strip()
    root = Path(base).expanduser() if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "organtwin" / "jax"


def use_compilation_cache(enabled: bool = True, environ: Mapping[str, str] | None = None) -> Path | None:
    """Switch JAX's persistent compilation cache on for this process (an application's choice: call it from a command,
    never from the library); returns the folder, or None when the command line does not (``enabled`` False: JAX's
    cache switched off; ``$ORGANTWIN_JAX_CACHE`` off: JAX's cache left as JAX's own settings have it; a folder that
    cannot be created: one note on stderr, JAX's cache switched off). Every compiled program is kept, however quick its
    compilation (JAX's own default keeps those above 1 s): a command's small helpers add up."""
    import jax

    if not enabled:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    folder = cache_dir(environ)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"organtwin: note: no compilation cache ({folder}: {e.strerror or e}); compiling afresh", file=sys.stderr)
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder


def checks_without_callbacks() -> bool:
    """Before equinox is imported (an application's choice, like the cache: call it from a command, first): import it
    with ``EQX_ON_ERROR=nan``, so that its runtime checks in compiled programs hold no host callback and JAX's persistent
    cache keeps those programs (the module docstring says why that is safe for the command). The variable is set only
    while equinox is imported (processes the command starts do not inherit it). True when equinox's checks are NaN
    ones (or off) in this process; False when equinox was already imported otherwise (a command called in a process
    that imported it, e.g. a test: its programs with callbacks are compiled in each process, as JAX does) or the user
    set ``EQX_ON_ERROR`` to something else."""
    if "EQX_ON_ERROR" in os.environ:  # the user's choice
        return os.environ["EQX_ON_ERROR"] in ("nan", "off")
    if "equinox" in sys.modules:
        return False
    os.environ["EQX_ON_ERROR"] = "nan"
    try:
        import equinox  # noqa: F401  (reads EQX_ON_ERROR once, at its import)
    finally:
        del os.environ["EQX_ON_ERROR"]
    return True

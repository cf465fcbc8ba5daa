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
``SaveAt(ts=...)`` contains some (equinox's ``error_if`` checks of ``ts`` and ``dt0``, callbacks under the default
``EQX_ON_ERROR=raise``), so the solve itself, most of the compilation, would be compiled again in every process.
A callback's function is not in the compiled program (the program calls it by its index in the list the lowering
makes), so such an executable can be kept and loaded again with the new process's callbacks: JAX's own later fix
(jax-ml/jax pull request 38405, "Make persistent compilation cache support host callbacks") does that.
`use_compilation_cache` does the same for the JAX installed, only while the cache is on, and only where JAX's cache
functions are the ones it knows (their parameters, and the refusal in ``_cache_write``); otherwise it leaves JAX as
it is and those programs are compiled each time, as before.
"""

from __future__ import annotations

import contextvars
import inspect
import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "use_compilation_cache"]

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
    _keep_programs_with_callbacks()
    return folder


_kept = False  # `_keep_programs_with_callbacks` done
_callbacks: contextvars.ContextVar[tuple] = contextvars.ContextVar("organtwin_host_callbacks", default=())


def _params(f) -> list[str]:
    return list(inspect.signature(f).parameters)


def _keep_programs_with_callbacks() -> bool:
    """Let JAX's persistent cache keep and load programs with host callbacks (the module docstring says why and when);
    True when it does. Once per process; a JAX whose cache functions differ from those known here is left alone."""
    from jax._src import compilation_cache as cc
    from jax._src import compiler

    global _kept
    if _kept:
        return True
    try:
        known = (
            _params(compiler.compile_or_get_cached)[:5]
            == ["backend", "computation", "devices", "compile_options", "host_callbacks"]
            and _params(compiler._cache_write)
            == ["cache_key", "compile_time_secs", "module_name", "backend", "executable", "host_callbacks"]
            and _params(cc.get_executable_and_time) == ["cache_key", "compile_options", "backend", "executable_devices"]
            and "if host_callbacks:" in inspect.getsource(compiler._cache_write)
            and all(hasattr(cc, f) for f in ("_get_cache", "decompress_executable", "extract_executable_and_time"))
        )
    except (TypeError, ValueError, OSError):  # no signature or no source: not the functions known here
        known = False
    if not known:
        return False
    compile_or_get_cached, cache_write = compiler.compile_or_get_cached, compiler._cache_write

    def compile_with_callbacks(backend, computation, devices, compile_options, host_callbacks, *args, **kwargs):
        token = _callbacks.set(tuple(host_callbacks))
        try:
            return compile_or_get_cached(
                backend, computation, devices, compile_options, host_callbacks, *args, **kwargs
            )
        finally:
            _callbacks.reset(token)

    def write_with_callbacks(cache_key, compile_time_secs, module_name, backend, executable, host_callbacks):
        # the callbacks are not in the executable: write it as JAX writes one without
        return cache_write(cache_key, compile_time_secs, module_name, backend, executable, ())

    def read_with_callbacks(cache_key, compile_options, backend, executable_devices):
        cache = cc._get_cache(backend)
        entry = None if cache is None else cache.get(cache_key)
        if entry is None:
            return None, None
        serialized, compile_time = cc.extract_executable_and_time(cc.decompress_executable(entry))
        callbacks = list(_callbacks.get())  # this process's, in the lowering's order (the key is the program's text)
        executable = backend.deserialize_executable(
            serialized, executable_devices, compile_options, **({"host_callbacks": callbacks} if callbacks else {})
        )
        return executable, compile_time

    _kept = True
    compiler.compile_or_get_cached = compile_with_callbacks
    compiler._cache_write = write_with_callbacks
    cc.get_executable_and_time = read_with_callbacks
    return True

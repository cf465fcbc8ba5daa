"""Sizes checked before work: counts against integer limits, byte estimates against the memory there is.

Every command that turns a user's number into a count of steps, samples, snapshots, starts or nodes asks here first,
before any large allocation or Python loop, so that a huge duration, a tiny step or a huge count is one line saying
what was asked (``t_end 1e+30 ms / dt 0.01 ms = 1e+32 steps``), the limit, and how to fix it, instead of a hang, an
``OverflowError`` or an abort inside XLA.

Limits: `INT32_MAX` (step counters and indices inside jit are int32), and the memory available now (psutil if
installed, else /proc/meminfo's MemAvailable, else os.sysconf) times `MEMORY_FRACTION`. Estimates are of the arrays
the work must hold (count x items x bytes per item); they are lower bounds, so a refusal is never a false alarm by more
than the estimate's own margin.
"""

from __future__ import annotations

import math
import os

from ._errors import SizeError as SizeError

__all__ = [
    "INT32_MAX",
    "MEMORY_FRACTION",
    "SizeError",
    "available_memory",
    "check_bytes",
    "check_count",
    "count_of",
    "format_bytes",
    "memory_limit",
]

#: The largest count a jitted int32 counter or index can hold.
INT32_MAX = 2**31 - 1
#: The share of the available memory one estimate may take (the rest: the program, JAX's own buffers, other work).
MEMORY_FRACTION = 0.8


def available_memory() -> int | None:
    """Bytes of memory available now (psutil, else /proc/meminfo MemAvailable, else free pages), or None."""
    try:
        import psutil  # optional

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit() -> int | None:
    """The bytes one estimate may need: `MEMORY_FRACTION` of the available memory (None if unknown)."""
    avail = available_memory()
    return None if avail is None else int(MEMORY_FRACTION * avail)


def format_bytes(n: int | float) -> str:
    """``1.5 GiB``, ``12 MiB``, ``3.2e+04 TiB``: bytes for a person."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 1e4 else f"{v:.2e} {unit}"
    return f"{n:.0f} B"


def _g(x: int | float) -> str:
    """A number as a person reads it: 1e+32, 2147483647, 0.01."""
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{x:.4g}"


def count_of(
    total: float,
    step: float,
    *,
    what: str,
    unit: str = "ms",
    name: str = "steps",
    total_name: str = "",
    step_name: str = "",
    limit: int = INT32_MAX,
    why: str = "",
    fix: str = "",
    endpoint: bool = False,
) -> int:
    """``ceil(total / step)`` (``+ 1`` with ``endpoint``) as an int, refused with one line if not finite or above
    ``limit``.

    ``what`` starts the message (e.g. ``"[simulation]"``), ``total_name``/``step_name`` name the two numbers (e.g.
    ``duration``, ``dt``), ``why`` says what the limit is (default: the int32 counters under jit) and ``fix`` how to
    get under it. Raises `SizeError`.
    """
    total, step = float(total), float(step)
    if not (math.isfinite(total) and total >= 0):
        raise SizeError(f"{what} {total_name or 'total'} must be a finite length of time, got {total:g} {unit}")
    if not (math.isfinite(step) and step > 0):
        raise SizeError(f"{what} {step_name or 'step'} must be a positive, finite {unit}, got {step:g} {unit}")
    ratio = total / step
    n = ratio + (1 if endpoint else 0)
    if not (math.isfinite(n) and n <= limit):
        head = f"{what} {total_name} {total:g} {unit} / {step_name} {step:g} {unit} = {ratio:.3g} {name}"
        raise SizeError(
            f"{head}, above the limit of {_g(limit)} {name} ({why or 'int32 counters under jit'}); "
            f"{fix or 'ask for fewer'}"
        )
    return max(1, math.ceil(ratio - 1e-9)) + (1 if endpoint else 0)


def check_count(n, *, what: str, name: str, limit: int = INT32_MAX, why: str = "", fix: str = "") -> int:
    """``n`` as an int if it is a whole number in ``[0, limit]``; else one line naming it, the limit and the fix."""
    if isinstance(n, float):
        if not math.isfinite(n) or not n.is_integer():
            raise SizeError(f"{what} {name} must be a whole number, got {n!r}")
        n = int(n)
    if n > limit:
        raise SizeError(
            f"{what} {_g(n)} {name}, above the limit of {_g(limit)}"
            f" ({why or 'int32 counters under jit'}); {fix or 'ask for fewer'}"
        )
    return int(n)


def check_bytes(
    nbytes: int | float, *, what: str, fix: str, limit: int | None = None, available: int | None = None
) -> None:
    """Refuse (one line) an estimate of ``nbytes`` above ``limit`` (a fixed cap) or above `memory_limit`.

    ``what`` says what needs the memory, e.g. ``"[record] 1e+06 snapshots x 9,134 nodes x 4 B"``; the message adds the
    estimate, the limit and ``fix``. ``available`` overrides the memory available (tests).
    """
    caps = []
    if limit is not None:
        caps.append((int(limit), "the limit for this"))
    avail = available if available is not None else available_memory()
    if avail is not None:
        caps.append(
            (int(MEMORY_FRACTION * avail), f"{MEMORY_FRACTION:.0%} of the {format_bytes(avail)} of memory available")
        )
    for cap, label in sorted(caps):
        if not (nbytes <= cap):
            raise SizeError(f"{what} = {format_bytes(nbytes)}, above {format_bytes(cap)} ({label}); {fix}")

"""Shared by the benchmark scripts (not part of the package): thread pinning before JAX starts, writing the figures.

Thread pinning: XLA's CPU client sizes its intra-op pool from the CPU affinity mask (there is no XLA flag for it), so a
script is pinned to the first N cores with ``sched_setaffinity`` before jax is imported; a subprocess (a peer code)
inherits the mask. With one thread Eigen's own pool is switched off too.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def pin_threads(n: int) -> None:
    """Pin this process (and its future children) to the first ``n`` cores; call before importing jax."""
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:n]))
    if n == 1:
        os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"


def timed_eikonal(tissue, site, repeats: int):
    """``simulate_eikonal(tissue, site)`` once to compile and ``repeats`` times more: (result, first-call seconds,
    wall seconds of each repeat), each timed up to ``block_until_ready``."""
    import jax

    from organtwin import ep

    t0 = time.perf_counter()
    res = ep.simulate_eikonal(tissue, site)
    jax.block_until_ready(res.activation)
    first = time.perf_counter() - t0
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = ep.simulate_eikonal(tissue, site)
        jax.block_until_ready(res.activation)
        walls.append(time.perf_counter() - t0)
    return res, first, walls


def write_figures(target: str | None, data, **dumps) -> None:
    """Write ``data`` as JSON to the file ``target`` ('-': standard output; None: nothing)."""
    if target is None:
        return
    text = json.dumps(data, indent=1, **dumps)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")
        print(f"wrote {target}")


class CompileClock:
    """Seconds JAX spent compiling (tracing, lowering, XLA), from its monitoring events; ``reset()`` before a timed
    call and read ``seconds`` after. Import jax (after `pin_threads`) before making one."""

    _EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self):
        import jax

        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)

    def _on_duration(self, event: str, duration: float, **kwargs) -> None:
        if event in self._EVENTS:
            self.seconds += duration

    def reset(self) -> None:
        self.seconds = 0.0


def machine(**versions) -> dict:
    """The CPU's model name, core count, Python, numpy and platform, plus the given package versions (e.g.
    ``jax=jax.__version__``): what a results JSON records about the machine it ran on."""
    import platform

    import numpy as np

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def peer_missing(python: str | None, name: str, setup: str, env: str, flag: str) -> bool:
    """True (after a one-line message on stderr) when the peer's interpreter ``python`` does not exist."""
    import sys

    if python is not None and not Path(python).exists():
        print(
            f"{name}'s python {python} not found: run benchmarks/peers/{setup} (or set {env}, or pass {flag})",
            file=sys.stderr,
        )
        return True
    return False

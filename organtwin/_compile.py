"""Compiler options for the hot loops, passed per function (``jax.jit(..., compiler_options=...)``), not through the
process-wide ``XLA_FLAGS``, so that importing organtwin changes nothing else in the user's program.

``xla_cpu_prefer_vector_width = 512``: XLA's CPU backend emits 256-bit vectors by default even on AVX-512 machines; the
element-wise ionic-model step (dozens of exponentials and divisions per node, no gathers) runs 1.8x faster in float32
and 1.2x in float64 with 512-bit vectors (ten Tusscher 2006, 9,261 nodes, one core of an AMD EPYC with AVX-512;
benchmarks/RESULTS.md, "Monodomain throughput"). A preference, not a requirement: a CPU without AVX-512 keeps the widest
vectors it has, and other backends ignore the option. JAX accepts compiler options on a top-level jit only, so the
monodomain's eager time loop uses them; a user who wraps `simulate_monodomain` in a jit of their own can pass
``compiler_options=organtwin.ep.HOT_LOOP_OPTIONS`` there. Not used for the eikonal sweeps, which are gather-bound (no
gain measured).
"""

from __future__ import annotations

__all__ = ["HOT_LOOP_OPTIONS"]

HOT_LOOP_OPTIONS: dict[str, str] = {"xla_cpu_prefer_vector_width": "512"}

"""Aliev–Panfilov 1996 two-variable model, scaled to mV and ms."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractIonicModel, check_positive, param

__all__ = ["AlievPanfilov1996"]


class AlievPanfilov1996(AbstractIonicModel):
    r"""Aliev & Panfilov (1996), "A simple two-variable model of cardiac excitation", Chaos Solitons Fractals 7:293–301.

    In the paper's dimensionless variables (u excitation, v recovery, model time τ)::

        du/dτ = -k u (u - a)(u - 1) - u v + I
        dv/dτ = ε(u, v) (-v - k u (u - a - 1)),   ε(u, v) = ε0 + μ1 v / (u + μ2)

    with the paper's parameters k = 8, a = 0.15, ε0 = 0.002, μ1 = 0.2, μ2 = 0.3 (as in e.g. pigreads'
    ``aliev1996simple``).

    Scaling to physical units at the edge (the paper gives none explicitly; we use the conventional one of Nash &
    Panfilov 2004, Prog Biophys Mol Biol 85:501, and Göktepe & Kuhl 2009, Int J Numer Meth Eng 79:156, as implemented in
    SimVascular svFSI's Aliev–Panfilov parameters: Vscale 100, Voffset -80 mV, Tscale 12.9 ms): ``V = V_rest + V_amp u``
    with V_rest = -80 mV, V_amp = 100 mV, and ``t_ms = t_scale τ`` with t_scale = 12.9 ms per model time unit. Hence
    ``Iion = (V_amp / t_scale) (k u (u - a)(u - 1) + u v)`` in µA/µF and ``dv/dt = ε (-v - k u (u - a - 1)) / t_scale``.

    States: ``("v",)`` (dimensionless recovery variable; not a gate: its equation is nonlinear in v, so it is integrated
    by forward Euler).

    At BCL 1000 ms (default dt and stimulus) this gives rest -80 mV, peak ≈ +19 mV, APD90 ≈ 320 ms for the first beat
    from rest and ≈ 230 ms once paced (restitution; see tests/test_ionic.py). These are properties of this
    implementation, not published figures. The upstroke is slow (dV/dt max below the analytic bound
    max_u k u (u - a)(1 - u) · V_amp / t_scale = 7.16 V/s), a known property of the model rather than of the scaling.
    """

    k: Array = param(8.0, doc="excitability (cubic) coefficient, dimensionless")
    a: Array = param(0.15, doc="excitation threshold, dimensionless")
    eps0: Array = param(0.002, doc="recovery rate at rest, per model time unit")
    mu1: Array = param(0.2, doc="recovery-rate modulation, dimensionless")
    mu2: Array = param(0.3, doc="recovery-rate modulation, dimensionless")
    V_rest: Array = param(-80.0, doc="resting potential (u = 0), mV")
    V_amp: Array = param(100.0, doc="V(u = 1) - V(u = 0), mV")
    t_scale: Array = param(12.9, doc="ms per model time unit")
    V0: Array = param(-80.0, doc="initial membrane potential, mV")
    s0: Array = param((0.0,), doc="initial (v,)")

    state_names: ClassVar[tuple[str, ...]] = ("v",)
    gate_indices: ClassVar[tuple[int, ...]] = ()
    default_dt: ClassVar[float] = 0.05
    # (peak - rest) / max dV/dt of a paced single cell, ms: 100 mV / 7.1 V/s (float64, dt = default_dt / 5);
    # `check_time_step` limits dt to fractions of it.
    upstroke_ms: ClassVar[float] = 14.0
    # A slow, weak pulse (25 mV in 5 ms) so that dV/dt max measures the model's own upstroke, not the stimulus.
    default_stimulus: ClassVar[tuple[float, float]] = (5.0, 5.0)
    citation: ClassVar[str] = "Aliev RR, Panfilov AV (1996) Chaos Solitons Fractals 7:293-301"

    def __check_init__(self):
        check_positive(self, ("k", "eps0", "mu2", "V_amp", "t_scale"))

    def u_of(self, V):
        """Dimensionless excitation variable u of the membrane potential V (mV)."""
        return (V - self.V_rest) / self.V_amp

    def derivatives(self, V, s, istim=0.0):
        u = self.u_of(V)
        v = s[0]
        k, a = self.k, self.a
        Iion = (self.V_amp / self.t_scale) * (k * u * (u - a) * (u - 1.0) + u * v)
        eps = self.eps0 + self.mu1 * v / (u + self.mu2)
        dv = eps * (-v - k * u * (u - a - 1.0)) / self.t_scale
        return Iion, dv[None]

    def gate_inf_tau(self, V, s):
        z = jnp.zeros((0,) + jnp.shape(V), dtype=jnp.result_type(V, s))
        return z, z

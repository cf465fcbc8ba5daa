"""Mitchell–Schaeffer 2003 two-current model, scaled to mV."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractIonicModel, check_positive, param

__all__ = ["MitchellSchaeffer2003"]


class MitchellSchaeffer2003(AbstractIonicModel):
    r"""Mitchell & Schaeffer (2003), "A two-current model for the dynamics of cardiac membrane", Bull Math Biol 65:767–793.

    In the paper's variables (v dimensionless in [0, 1], time already in ms)::

        dv/dt = h v² (1 - v) / τ_in - v / τ_out + J_stim
        dh/dt = (1 - h) / τ_open   if v < v_gate
              = -h / τ_close       if v ≥ v_gate

    with the paper's parameters τ_in = 0.3 ms, τ_out = 6 ms, τ_open = 120 ms, τ_close = 150 ms, v_gate = 0.13 (as in
    CellML-generated implementations, e.g. MonoAlg3D's, and pigreads' ``mitchell2003two``). The paper's estimate of the
    maximal action potential duration is ``APD_max ≈ τ_close ln(τ_out / (4 τ_in))`` ≈ 241 ms (the same relation,
    inverted for τ_close, appears in public code that follows Gillette et al. 2021, Med Image Anal 71:102080).

    Scaling to mV at the edge: the paper is dimensionless and gives no mV scaling; ``V = V_min + (V_max - V_min) v``
    with V_min = -80 mV, V_max = 20 mV is our choice (implementations differ: e.g. -86.2 / 40 mV in that Gillette-style
    code); ``Iion = -(V_max - V_min) (J_in + J_out)`` in µA/µF.

    States: ``("h",)``, a gate (h_inf = 1 below v_gate, 0 above; tau = τ_open or τ_close), integrated by Rush–Larsen.
    """

    tau_in: Array = param(0.3, doc="inward-current time constant, ms")
    tau_out: Array = param(6.0, doc="outward-current time constant, ms")
    tau_open: Array = param(120.0, doc="gate opening (recovery) time constant, ms")
    tau_close: Array = param(150.0, doc="gate closing time constant, ms")
    v_gate: Array = param(0.13, doc="gate switching potential, dimensionless")
    V_min: Array = param(-80.0, doc="potential at v = 0, mV")
    V_max: Array = param(20.0, doc="potential at v = 1, mV")
    V0: Array = param(-80.0, doc="initial membrane potential, mV")
    s0: Array = param((1.0,), doc="initial (h,)")

    state_names: ClassVar[tuple[str, ...]] = ("h",)
    gate_indices: ClassVar[tuple[int, ...]] = (0,)
    default_dt: ClassVar[float] = 0.02
    # (peak - rest) / max dV/dt of a paced single cell, ms: 94 mV / 37.7 V/s (float64, dt = default_dt / 5);
    # `check_time_step` limits dt to fractions of it.
    upstroke_ms: ClassVar[float] = 2.5
    default_stimulus: ClassVar[tuple[float, float]] = (10.0, 2.0)
    citation: ClassVar[str] = "Mitchell CC, Schaeffer DG (2003) Bull Math Biol 65:767-793"

    def __check_init__(self):
        check_positive(self, ("tau_in", "tau_out", "tau_open", "tau_close"))

    def v_of(self, V):
        """Dimensionless potential v of the membrane potential V (mV)."""
        return (V - self.V_min) / (self.V_max - self.V_min)

    def derivatives(self, V, s, istim=0.0):
        v = self.v_of(V)
        h = s[0]
        J_in = h * v * v * (1.0 - v) / self.tau_in
        J_out = -v / self.tau_out
        Iion = -(self.V_max - self.V_min) * (J_in + J_out)
        inf, tau = self.gate_inf_tau(V, s)
        return Iion, (inf - s) / tau

    def gate_inf_tau(self, V, s):
        v = self.v_of(V)
        below = v < self.v_gate
        inf = jnp.where(below, 1.0, 0.0).astype(jnp.result_type(V, s))
        tau = jnp.where(below, self.tau_open, self.tau_close)
        return inf[None], tau[None]

"""Fenton–Karma 1998 three-variable model, scaled to mV."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractIonicModel, check_positive, heaviside, param

__all__ = ["FentonKarma1998"]


class FentonKarma1998(AbstractIonicModel):
    r"""Fenton & Karma (1998), "Vortex dynamics in three-dimensional continuous myocardium with fiber rotation:
    filament instability and fibrillation", Chaos 8:20–47 (the three-current, three-variable model, their eqs. 2–6).

    Equations (u dimensionless potential, p = H(u - u_c), q = H(u - u_v))::

        du/dt = -(J_fi + J_so + J_si) + J_stim
        J_fi  = -v p (1 - u)(u - u_c) / τ_d                     (τ_d = Cm / g_fi_max)
        J_so  = u (1 - p) / τ_0 + p / τ_r
        J_si  = -w (1 + tanh(k (u - u_csi))) / (2 τ_si)
        dv/dt = (1 - p)(1 - v) / τ_v⁻(u) - p v / τ_v⁺,      τ_v⁻(u) = q τ_v1⁻ + (1 - q) τ_v2⁻
        dw/dt = (1 - p)(1 - w) / τ_w⁻ - p w / τ_w⁺

    Parameter set: the defaults are the paper's Table 1 fit to the Beeler–Reuter model ("BR": τ_d = 0.25 ms
    (g_fi = 4 mS/cm²), τ_r = 33.33, τ_si = 29, τ_0 = 12.5, τ_v⁺ = 3.33, τ_v1⁻ = 1250, τ_v2⁻ = 19.6, τ_w⁺ = 870,
    τ_w⁻ = 41 ms, u_c = 0.13, u_v = 0.04, u_csi = 0.85, k = 10). The other columns of that table are presets:
    :meth:`modified_beeler_reuter` (MBR), :meth:`modified_luo_rudy` (MLR-I) and :meth:`guinea_pig` (GP).
    Checked against the CellML versions (fenton_karma_1998_BR and the MBR version, as converted by gotran: BR τ_r 33.33,
    τ_si 29; MBR τ_0 8.3, τ_r 50, τ_si 44.84, τ_v1⁻ 1000, τ_v2⁻ 19.2, τ_w⁺ 667, τ_w⁻ 11, u_v 0.055) and pigreads'
    ``fenton1998vortex``; the MLR-I and GP columns against Beatbox's transcription of Table 1 (fkmod.h), which rounds
    τ_r/τ_si to 33/30 (BR), 45 (MBR) and 22 (GP). Note the τ_v⁻ convention of the 1998 paper used here (τ_v1⁻ above
    u_v): Fenton et al. 2002 (Chaos 12:852) swap the labels (their τ_v1⁻ applies below u_v).

    Scaling to mV (the paper's): ``V = V_0 + (V_fi - V_0) u`` with V_0 = -85 mV, V_fi = 15 mV;
    ``Iion = (V_fi - V_0)(J_fi + J_so + J_si)`` in µA/µF.

    States: ``("v", "w")``, both gates (inf/tau switch with p), integrated by Rush–Larsen.
    """

    tau_d: Array = param(0.25, doc="fast inward time constant Cm/g_fi_max, ms")
    tau_r: Array = param(33.33, doc="slow outward (plateau) time constant, ms")
    tau_si: Array = param(29.0, doc="slow inward time constant, ms")
    tau_0: Array = param(12.5, doc="slow outward time constant below u_c, ms")
    tau_v_plus: Array = param(3.33, doc="v closing time constant, ms")
    tau_v1_minus: Array = param(1250.0, doc="v opening time constant for u_v <= u < u_c, ms")
    tau_v2_minus: Array = param(19.6, doc="v opening time constant for u < u_v, ms")
    tau_w_plus: Array = param(870.0, doc="w closing time constant, ms")
    tau_w_minus: Array = param(41.0, doc="w opening time constant, ms")
    u_c: Array = param(0.13, doc="excitation threshold, dimensionless")
    u_v: Array = param(0.04, doc="v time-constant switch, dimensionless")
    u_csi: Array = param(0.85, doc="slow inward activation midpoint, dimensionless")
    k: Array = param(10.0, doc="slow inward activation steepness, dimensionless")
    V_0: Array = param(-85.0, doc="potential at u = 0, mV")
    V_fi: Array = param(15.0, doc="potential at u = 1 (fast inward reversal), mV")
    V0: Array = param(-85.0, doc="initial membrane potential, mV")
    s0: Array = param((1.0, 1.0), doc="initial (v, w)")

    state_names: ClassVar[tuple[str, ...]] = ("v", "w")
    gate_indices: ClassVar[tuple[int, ...]] = (0, 1)
    default_dt: ClassVar[float] = 0.02
    # (peak - rest) / max dV/dt of a paced single cell, ms: 119 mV / 51.8 V/s (float64, dt = default_dt / 5);
    # `check_time_step` limits dt to fractions of it.
    upstroke_ms: ClassVar[float] = 2.3
    default_stimulus: ClassVar[tuple[float, float]] = (20.0, 1.0)
    citation: ClassVar[str] = "Fenton F, Karma A (1998) Chaos 8:20-47"

    def __check_init__(self):
        check_positive(
            self,
            (
                "tau_d",
                "tau_r",
                "tau_si",
                "tau_0",
                "tau_v_plus",
                "tau_v1_minus",
                "tau_v2_minus",
                "tau_w_plus",
                "tau_w_minus",
            ),
        )

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def beeler_reuter(cls, **overrides) -> "FentonKarma1998":
        """Table 1 "BR": fit to the Beeler–Reuter model (the defaults)."""
        return cls(**overrides)

    @classmethod
    def modified_beeler_reuter(cls, **overrides) -> "FentonKarma1998":
        """Table 1 "MBR": fit to the modified Beeler–Reuter model (steeper restitution)."""
        p = dict(
            tau_d=0.25,
            tau_r=50.0,
            tau_si=44.84,
            tau_0=8.3,
            tau_v_plus=3.33,
            tau_v1_minus=1000.0,
            tau_v2_minus=19.2,
            tau_w_plus=667.0,
            tau_w_minus=11.0,
            u_c=0.13,
            u_v=0.055,
            u_csi=0.85,
            k=10.0,
        )
        return cls(**{**p, **overrides})

    @classmethod
    def modified_luo_rudy(cls, **overrides) -> "FentonKarma1998":
        """Table 1 "MLR-I": fit to the modified Luo–Rudy I model (g_fi = 5.8 mS/cm²)."""
        p = dict(
            tau_d=1.0 / 5.8,
            tau_r=130.0,
            tau_si=127.0,
            tau_0=12.5,
            tau_v_plus=10.0,
            tau_v1_minus=18.2,
            tau_v2_minus=18.2,
            tau_w_plus=1020.0,
            tau_w_minus=80.0,
            u_c=0.13,
            u_v=0.0,
            u_csi=0.85,
            k=10.0,
        )
        return cls(**{**p, **overrides})

    @classmethod
    def guinea_pig(cls, **overrides) -> "FentonKarma1998":
        """Table 1 "GP": fit to guinea-pig ventricular data (g_fi = 8.7 mS/cm²)."""
        p = dict(
            tau_d=1.0 / 8.7,
            tau_r=25.0,
            tau_si=22.22,
            tau_0=12.5,
            tau_v_plus=10.0,
            tau_v1_minus=333.0,
            tau_v2_minus=40.0,
            tau_w_plus=1000.0,
            tau_w_minus=65.0,
            u_c=0.13,
            u_v=0.025,
            u_csi=0.85,
            k=10.0,
        )
        return cls(**{**p, **overrides})

    # ------------------------------------------------------------------------------------------------ equations
    def u_of(self, V):
        """Dimensionless potential u of the membrane potential V (mV)."""
        return (V - self.V_0) / (self.V_fi - self.V_0)

    def currents(self, V, s):
        """(J_fi, J_so, J_si) in the paper's dimensionless units (per ms)."""
        u = self.u_of(V)
        v, w = s[0], s[1]
        p = heaviside(u - self.u_c)
        J_fi = -v * p * (1.0 - u) * (u - self.u_c) / self.tau_d
        J_so = u * (1.0 - p) / self.tau_0 + p / self.tau_r
        J_si = -w * (1.0 + jnp.tanh(self.k * (u - self.u_csi))) / (2.0 * self.tau_si)
        return J_fi, J_so, J_si

    def derivatives(self, V, s, istim=0.0):
        J_fi, J_so, J_si = self.currents(V, s)
        Iion = (self.V_fi - self.V_0) * (J_fi + J_so + J_si)
        inf, tau = self.gate_inf_tau(V, s)
        return Iion, (inf - s) / tau

    def gate_inf_tau(self, V, s):
        u = self.u_of(V)
        p = u >= self.u_c
        q = u >= self.u_v
        dtype = jnp.result_type(V, s)
        tau_v_minus = jnp.where(q, self.tau_v1_minus, self.tau_v2_minus)
        v_inf = jnp.where(p, 0.0, 1.0).astype(dtype)
        tau_v = jnp.where(p, self.tau_v_plus, tau_v_minus)
        w_inf = v_inf
        tau_w = jnp.where(p, self.tau_w_plus, self.tau_w_minus)
        return jnp.stack([v_inf, w_inf]), jnp.stack([tau_v, tau_w])

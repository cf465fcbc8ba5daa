"""Bueno-Orovio–Cherry–Fenton 2008 minimal ventricular model, scaled to mV."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractIonicModel, check_positive, heaviside, param

__all__ = ["BuenoOrovio2008"]


class BuenoOrovio2008(AbstractIonicModel):
    r"""Bueno-Orovio, Cherry & Fenton (2008), "Minimal model for human ventricular action potentials in tissue",
    J Theor Biol 253:544–560 (the four-variable "minimal ventricular" (MV) model, eqs. 1–12).

    Equations (u dimensionless potential; H the Heaviside function)::

        du/dt = -(J_fi + J_so + J_si) + J_stim
        J_fi = -v H(u - θ_v)(u - θ_v)(u_u - u) / τ_fi
        J_so = (u - u_o)(1 - H(u - θ_w)) / τ_o + H(u - θ_w) / τ_so
        J_si = -H(u - θ_w) w s / τ_si
        dv/dt = (1 - H(u - θ_v))(v_∞ - v) / τ_v⁻ - H(u - θ_v) v / τ_v⁺
        dw/dt = (1 - H(u - θ_w))(w_∞ - w) / τ_w⁻ - H(u - θ_w) w / τ_w⁺
        ds/dt = ((1 + tanh(k_s (u - u_s))) / 2 - s) / τ_s
        τ_v⁻ = (1 - H(u - θ_v⁻)) τ_v1⁻ + H(u - θ_v⁻) τ_v2⁻
        τ_w⁻ = τ_w1⁻ + (τ_w2⁻ - τ_w1⁻)(1 + tanh(k_w⁻ (u - u_w⁻))) / 2
        τ_so = τ_so1 + (τ_so2 - τ_so1)(1 + tanh(k_so (u - u_so))) / 2
        τ_s  = (1 - H(u - θ_w)) τ_s1 + H(u - θ_w) τ_s2
        τ_o  = (1 - H(u - θ_o)) τ_o1 + H(u - θ_o) τ_o2
        v_∞  = 1 if u < θ_v⁻ else 0
        w_∞  = (1 - H(u - θ_o))(1 - u / τ_w∞) + H(u - θ_o) w_∞*

    Defaults: the epicardial column of the paper's Table 1. Presets :meth:`epicardial`, :meth:`endocardial` and
    :meth:`midmyocardial` give the EPI, ENDO and M columns (the cell types differ in 21 of the 28 parameters; all seven
    shared ones are u_o, θ_v, θ_w, τ_v⁺, τ_s1, k_s, u_s). All three columns checked entry by entry against public
    transcriptions of Table 1 (a CUDA minimal-model solver's EPI/ENDO/MCELL/PB/TNNP #defines, pigreads'
    ``bueno2008minimal`` (EPI), a Java applet's EPI set).

    Scaling to mV (the paper's): ``V = 85.7 u - 84`` mV, i.e. V_rest = -84 mV and V_amp = 85.7 mV;
    ``Iion = V_amp (J_fi + J_so + J_si)`` in µA/µF.

    States: ``("v", "w", "s")`` (the paper's u/v/w/s layout with u carried as V), all three gates integrated by
    Rush–Larsen. Initial state u = 0, v = 1, w = 1, s = 0.
    """

    u_o: Array = param(0.0, doc="resting u, dimensionless")
    u_u: Array = param(1.55, doc="fast inward reversal, dimensionless")
    theta_v: Array = param(0.3, doc="fast inward threshold θ_v")
    theta_w: Array = param(0.13, doc="slow current threshold θ_w")
    theta_v_minus: Array = param(0.006, doc="τ_v⁻ switch θ_v⁻")
    theta_o: Array = param(0.006, doc="τ_o and w_∞ switch θ_o")
    tau_v1_minus: Array = param(60.0, doc="ms")
    tau_v2_minus: Array = param(1150.0, doc="ms")
    tau_v_plus: Array = param(1.4506, doc="ms")
    tau_w1_minus: Array = param(60.0, doc="ms")
    tau_w2_minus: Array = param(15.0, doc="ms")
    k_w_minus: Array = param(65.0, doc="dimensionless")
    u_w_minus: Array = param(0.03, doc="dimensionless")
    tau_w_plus: Array = param(200.0, doc="ms")
    tau_fi: Array = param(0.11, doc="fast inward time constant, ms")
    tau_o1: Array = param(400.0, doc="ms")
    tau_o2: Array = param(6.0, doc="ms")
    tau_so1: Array = param(30.0181, doc="ms")
    tau_so2: Array = param(0.9957, doc="ms")
    k_so: Array = param(2.0458, doc="dimensionless")
    u_so: Array = param(0.65, doc="dimensionless")
    tau_s1: Array = param(2.7342, doc="ms")
    tau_s2: Array = param(16.0, doc="ms")
    k_s: Array = param(2.0994, doc="dimensionless")
    u_s: Array = param(0.9087, doc="dimensionless")
    tau_si: Array = param(1.8875, doc="slow inward time constant, ms")
    tau_w_inf: Array = param(0.07, doc="w_∞ slope parameter τ_w∞, dimensionless")
    w_inf_star: Array = param(0.94, doc="w_∞ above θ_o, dimensionless")
    V_rest: Array = param(-84.0, doc="potential at u = 0, mV")
    V_amp: Array = param(85.7, doc="mV per unit u")
    V0: Array = param(-84.0, doc="initial membrane potential, mV")
    s0: Array = param((1.0, 1.0, 0.0), doc="initial (v, w, s)")

    state_names: ClassVar[tuple[str, ...]] = ("v", "w", "s")
    gate_indices: ClassVar[tuple[int, ...]] = (0, 1, 2)
    default_dt: ClassVar[float] = 0.01
    # (peak - rest) / max dV/dt of a paced single cell, ms: 125-133 mV / 275-319 V/s (float64, dt = default_dt / 5);
    # `check_time_step` limits dt to fractions of it.
    upstroke_ms: ClassVar[float] = 0.42
    default_stimulus: ClassVar[tuple[float, float]] = (40.0, 1.0)
    citation: ClassVar[str] = "Bueno-Orovio A, Cherry EM, Fenton FH (2008) J Theor Biol 253:544-560"

    def __check_init__(self):
        check_positive(
            self,
            (
                "tau_v1_minus",
                "tau_v2_minus",
                "tau_v_plus",
                "tau_w1_minus",
                "tau_w2_minus",
                "tau_w_plus",
                "tau_fi",
                "tau_o1",
                "tau_o2",
                "tau_so1",
                "tau_so2",
                "tau_s1",
                "tau_s2",
                "tau_si",
                "tau_w_inf",
                "V_amp",
            ),
        )

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def epicardial(cls, **overrides) -> "BuenoOrovio2008":
        """Table 1, EPI column (the defaults)."""
        return cls(**overrides)

    @classmethod
    def endocardial(cls, **overrides) -> "BuenoOrovio2008":
        """Table 1, ENDO column."""
        p = dict(
            u_o=0.0,
            u_u=1.56,
            theta_v=0.3,
            theta_w=0.13,
            theta_v_minus=0.2,
            theta_o=0.006,
            tau_v1_minus=75.0,
            tau_v2_minus=10.0,
            tau_v_plus=1.4506,
            tau_w1_minus=6.0,
            tau_w2_minus=140.0,
            k_w_minus=200.0,
            u_w_minus=0.016,
            tau_w_plus=280.0,
            tau_fi=0.1,
            tau_o1=470.0,
            tau_o2=6.0,
            tau_so1=40.0,
            tau_so2=1.2,
            k_so=2.0,
            u_so=0.65,
            tau_s1=2.7342,
            tau_s2=2.0,
            k_s=2.0994,
            u_s=0.9087,
            tau_si=2.9013,
            tau_w_inf=0.0273,
            w_inf_star=0.78,
        )
        return cls(**{**p, **overrides})

    @classmethod
    def midmyocardial(cls, **overrides) -> "BuenoOrovio2008":
        """Table 1, M column."""
        p = dict(
            u_o=0.0,
            u_u=1.61,
            theta_v=0.3,
            theta_w=0.13,
            theta_v_minus=0.1,
            theta_o=0.005,
            tau_v1_minus=80.0,
            tau_v2_minus=1.4506,
            tau_v_plus=1.4506,
            tau_w1_minus=70.0,
            tau_w2_minus=8.0,
            k_w_minus=200.0,
            u_w_minus=0.016,
            tau_w_plus=280.0,
            tau_fi=0.078,
            tau_o1=410.0,
            tau_o2=7.0,
            tau_so1=91.0,
            tau_so2=0.8,
            k_so=2.1,
            u_so=0.6,
            tau_s1=2.7342,
            tau_s2=4.0,
            k_s=2.0994,
            u_s=0.9087,
            tau_si=3.3849,
            tau_w_inf=0.01,
            w_inf_star=0.5,
        )
        return cls(**{**p, **overrides})

    # ------------------------------------------------------------------------------------------------ equations
    def u_of(self, V):
        """Dimensionless potential u of the membrane potential V (mV)."""
        return (V - self.V_rest) / self.V_amp

    def currents(self, V, s):
        """(J_fi, J_so, J_si) in the paper's dimensionless units (per ms)."""
        u = self.u_of(V)
        v, w, sg = s[0], s[1], s[2]
        H_v = heaviside(u - self.theta_v)
        H_w = heaviside(u - self.theta_w)
        H_o = heaviside(u - self.theta_o)
        tau_o = (1.0 - H_o) * self.tau_o1 + H_o * self.tau_o2
        tau_so = self.tau_so1 + (self.tau_so2 - self.tau_so1) * (1.0 + jnp.tanh(self.k_so * (u - self.u_so))) / 2.0
        J_fi = -v * H_v * (u - self.theta_v) * (self.u_u - u) / self.tau_fi
        J_so = (u - self.u_o) * (1.0 - H_w) / tau_o + H_w / tau_so
        J_si = -H_w * w * sg / self.tau_si
        return J_fi, J_so, J_si

    def derivatives(self, V, s, istim=0.0):
        J_fi, J_so, J_si = self.currents(V, s)
        Iion = self.V_amp * (J_fi + J_so + J_si)
        inf, tau = self.gate_inf_tau(V, s)
        return Iion, (inf - s) / tau

    def gate_inf_tau(self, V, s):
        u = self.u_of(V)
        dtype = jnp.result_type(V, s)
        above_v = u >= self.theta_v
        above_w = u >= self.theta_w
        above_o = u >= self.theta_o
        # v
        tau_v_minus = jnp.where(u >= self.theta_v_minus, self.tau_v2_minus, self.tau_v1_minus)
        v_inf_minus = jnp.where(u < self.theta_v_minus, 1.0, 0.0)
        v_inf = jnp.where(above_v, 0.0, v_inf_minus).astype(dtype)
        tau_v = jnp.where(above_v, self.tau_v_plus, tau_v_minus)
        # w
        tau_w_minus = (
            self.tau_w1_minus
            + (self.tau_w2_minus - self.tau_w1_minus) * (1.0 + jnp.tanh(self.k_w_minus * (u - self.u_w_minus))) / 2.0
        )
        w_inf_minus = jnp.where(above_o, self.w_inf_star, 1.0 - u / self.tau_w_inf)
        w_inf = jnp.where(above_w, 0.0, w_inf_minus)
        tau_w = jnp.where(above_w, self.tau_w_plus, tau_w_minus)
        # s
        s_inf = (1.0 + jnp.tanh(self.k_s * (u - self.u_s))) / 2.0
        tau_s = jnp.where(above_w, self.tau_s2, self.tau_s1)
        shape = jnp.shape(u)
        inf = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in (v_inf, w_inf, s_inf)])
        tau = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in (tau_v, tau_w, tau_s)])
        return inf, tau

"""svZeroDSolver's remaining vessel, chamber and coronary blocks (final eqx.Modules; every parameter an array leaf, so
they can be calibrated). Units are the configuration's own (svZeroDSolver's files: cgs, dyn/cm², mL, s; its
``chamber_sphere`` test case: SI). Equations from svZeroDSolver's sources (``src/model``, the files named below) and the
papers they cite:

* :class:`ExponentialChamber` — ``ChamberElastanceInductorExponential`` (ChamberElastanceInductorExponential.cpp; the
  atrial model of Sankaran et al. 2012, Ann. Biomed. Eng. 40:2228, and Menon et al. 2023): an elastance chamber whose
  passive pressure–volume relation is exponential, ``P = a(t) Emax (V − Vaso) + (1 − a(t)) Kxp (exp(Kxv (V − Vaso)) −
  1)``, ``dV/dt = Q_in − Q_out``, an outlet inductance ``P − P_out = L dQ_out/dt``.
* :class:`BloodVesselRC` — ``BloodVesselRC`` (BloodVesselRC.cpp; Sankaran 2012's pulmonary circulation, its X6' =
  X4 − X7): a flow-through RC whose capacitor stores pressure but no volume, ``Cp dP_in/dt = Q_in − (P_in −
  P_out)/Rpd``, ``Q_out = Q_in``.
* :class:`ChamberSphere` — ``ChamberSphere`` (ChamberSphere.cpp; Caruel et al. 2013, Comput. Methods Biomech. Biomed.
  Eng., eqs. 13a–b, with the active stress of Pfaller et al. 2019, Biomech. Model. Mechanobiol., eqs. 12–16): a
  spherical chamber of reference radius r0 and wall thickness d0 with a Mooney–Rivlin wall, viscosity and active
  stress τ. With R = r0 + r (r the radial displacement), C = (R/r0)², Ċ = 2 R v / r0²:
  ``ρ d0 dv/dt = P C − (d0/r0)(R/r0) S``, ``dr/dt = v``,
  ``S = τ + 4 (1 − C⁻³)(W1 + C W2) + η Ċ (1 + 2 C⁻⁶)``, ``dτ/dt = −|a| τ + σ_max max(a, 0)``,
  ``dV/dt = 4π R² v = Q_in − Q_out`` and ``P_in = P_out = P``, with a(t) = α_max f + α_min (1 − f), f = S₊ S₋,
  S± = ½(1 ± tanh((t mod T − t_sys/dias)/γ)). The |a| in τ's decay is the source's (its documentation writes a; with
  α_min < 0, a would make τ grow without bound in diastole).
* :class:`OpenLoopCoronaryVarRes` — ``CORONARY_VAR_RES`` (OpenLoopCoronaryVarResBC.cpp; Yong et al. 2025 after Kim et
  al. 2010's open-loop coronary outlet): the CORONARY outlet with a microvascular resistance that varies over the beat,
  ``Ra2(t) = ((√Ra2_max − √Ra2_min) e(t) + √Ra2_min)²``, e(t) = ½(1 − cos(π s/T_vc)) for s = t mod T ≤ T_vc,
  ½(1 + cos(π (s − T_vc)/T_vr)) for T_vc < s ≤ T_vc + T_vr, 0 after. svZeroDSolver's steady start holds it at Ra2(0).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..._errors import NetworkError
from ._activation import AbstractActivation
from ._blocks import (
    RL,
    AbstractBlock,
    Cap,
    Chamber,
    Decomposition,
    PortFlow,
    PressureNode,
    Short,
    StateFlow,
    States,
    Transfer,
    _p,
    _value,
    chamber_decomposition,
    check_parameters,
)
from ._waveform import Waveform, as_waveform

__all__ = [
    "CHAMBER_TYPES",
    "BloodVesselRC",
    "ChamberSphere",
    "ExponentialChamber",
    "OpenLoopCoronaryVarRes",
]


class ExponentialChamber(AbstractBlock):
    """svZeroDSolver ChamberElastanceInductorExponential: ``P = a(t) e_max (V − v_rest) + (1 − a(t)) kxp (exp(kxv (V −
    v_rest)) − 1)`` (an exponential passive filling curve), ``dV/dt = Q_in − Q_out``, outlet inductance ``inductance``.
    svZeroDSolver's names: Emax, Kxp, Kxv, Vaso (= ``v_rest``), Impedance."""

    name: str = eqx.field(static=True)
    e_max: Array = eqx.field(converter=_p)
    kxp: Array = eqx.field(converter=_p)
    kxv: Array = eqx.field(converter=_p)
    v_rest: Array = eqx.field(converter=_p)
    activation: AbstractActivation
    inductance: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("e_max", "kxp", "inductance"))

    def pressure(self, t, volume):
        a = self.activation(t)
        dv = volume - self.v_rest
        return a * self.e_max * dv + (1.0 - a) * self.kxp * jnp.expm1(self.kxv * dv)

    def decompose(self, inlets, outlets, shorted):  # the elements of `Chamber`: the volume, then the inductance
        return chamber_decomposition(self.name, inlets, outlets, shorted)


CHAMBER_TYPES = (Chamber, ExponentialChamber)  # blocks holding a chamber volume "V" (a ChamberNode)


class BloodVesselRC(AbstractBlock):
    """svZeroDSolver BloodVesselRC: ``Cp dP_in/dt = Q_in − (P_in − P_out)/Rpd``, ``Q_out = Q_in``: a capacitor at the
    inlet that stores pressure but no volume (what flows into it is delivered on to the outlet). ``capacitance`` (Cp)
    may be 0 (a plain resistance); the inlet point must carry no other capacitance."""

    name: str = eqx.field(static=True)
    resistance: Array = eqx.field(converter=_p)
    capacitance: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("capacitance",), positive=("resistance",))

    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(f"block {self.name} needs an inlet and an outlet connection")
        tin, tout = inlets[0], outlets[0]
        d = Decomposition([RL("R", tin, tout, r="resistance")])
        if _value(self.capacitance) > 0:
            d.elements += [Cap("C", tin, "capacitance"), Transfer(tin, tout)]
            flow = PortFlow((("R", 1.0),), (("C", 1.0),))  # Q_in = Q_out = (P_in − P_out)/Rpd + Cp dP_in/dt
        else:
            flow = PortFlow((("R", 1.0),))
        d.port_flows[tin] = d.port_flows[tout] = flow
        return d


class ChamberSphere(AbstractBlock):
    """svZeroDSolver ChamberSphere (Caruel et al. 2013; Pfaller et al. 2019): a spherical chamber whose wall moves
    under the chamber pressure, its passive (Mooney–Rivlin W1, W2), viscous (η) and active (τ) stresses.

    Own states (svZeroDSolver's internal variables): ``radius`` (r, the displacement from ``radius0``), ``velo`` (dr/dt),
    ``tau`` (active stress) and ``volume`` (counted from its start, 0 unless given); ``stress`` (S) follows from them.
    Inlet and outlet share the chamber's pressure, an algebraic point: put valves or resistances next to it.
    ``period``: the heart period the activation repeats with (svZeroDSolver's cardiac period).
    """

    name: str = eqx.field(static=True)
    rho: Array = eqx.field(converter=_p)
    thick0: Array = eqx.field(converter=_p)
    radius0: Array = eqx.field(converter=_p)
    w1: Array = eqx.field(converter=_p)
    w2: Array = eqx.field(converter=_p)
    eta: Array = eqx.field(converter=_p)
    sigma_max: Array = eqx.field(converter=_p)
    alpha_max: Array = eqx.field(converter=_p)
    alpha_min: Array = eqx.field(converter=_p)
    tsys: Array = eqx.field(converter=_p)
    tdias: Array = eqx.field(converter=_p)
    steepness: Array = eqx.field(converter=_p)
    period: Array = eqx.field(converter=_p, default=1.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1
    state_names: ClassVar[tuple[str, ...]] = ("radius", "velo", "tau", "volume")

    def __check_init__(self):
        check_parameters(
            self, positive=("rho", "thick0", "radius0", "steepness", "period"), nonneg=("eta", "sigma_max")
        )

    def activation(self, t):
        """a(t) = α_max f + α_min (1 − f), f = S₊ S₋ (ChamberSphere.cpp get_elastance_values)."""
        s = t - self.period * jnp.floor(t / self.period)
        f = (0.5 * (1.0 + jnp.tanh((s - self.tsys) / self.steepness))) * (
            0.5 * (1.0 - jnp.tanh((s - self.tdias) / self.steepness))
        )
        return self.alpha_max * f + self.alpha_min * (1.0 - f)

    def stress(self, radius, velo, tau):
        """S = τ + 4 (1 − C⁻³)(W1 + C W2) + η Ċ (1 + 2 C⁻⁶), C = ((r0 + r)/r0)², Ċ = 2 (r0 + r) v / r0²."""
        big = self.radius0 + radius
        c = (big / self.radius0) ** 2
        c_dot = 2.0 * big * velo / self.radius0**2
        return tau + 4.0 * (1.0 - c**-3) * (self.w1 + c * self.w2) + self.eta * c_dot * (1.0 + 2.0 * c**-6)

    def state_flow(self, key, t, view):
        radius, velo = view.states(self.name)[:2]
        return 4.0 * jnp.pi * (self.radius0 + radius) ** 2 * velo  # dV/dt, out of the chamber's point

    def state_rates(self, t, view):
        radius, velo, tau, _ = view.states(self.name)
        p = view.pressure(self._term)
        big = self.radius0 + radius
        s = self.stress(radius, velo, tau)
        dv = (p * (big / self.radius0) ** 2 - self.thick0 / self.radius0 * (big / self.radius0) * s) / (
            self.rho * self.thick0
        )
        a = self.activation(t)
        dtau = -jnp.abs(a) * tau + self.sigma_max * jnp.maximum(a, 0.0)
        return jnp.stack([velo, dv, dtau, 4.0 * jnp.pi * big**2 * velo])

    @property
    def _term(self) -> str:
        return f"P:{self.name}"

    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(f"ChamberSphere {self.name} needs an inlet and an outlet connection")
        tv = self._term
        return Decomposition(
            [Short(tv, inlets[0]), Short(tv, outlets[0]), States(self.state_names), StateFlow("Q", tv, None)]
        )


class OpenLoopCoronaryVarRes(AbstractBlock):
    """svZeroDSolver CORONARY_VAR_RES (OpenLoopCoronaryVarResBC): the CORONARY outlet (`OpenLoopCoronary`: Ra1 → Ca →
    Ra2 → Cc referenced to Pim(t) → Rv1 → P_v) with ``Ra2(t) = ((√ra2_max − √ra2_min) e(t) + √ra2_min)²``, e(t) a
    contraction half-cosine of length ``t_vc`` and a relaxation of length ``t_vr`` from the start of each beat of length
    ``period``. ``ca`` and ``cc`` must be > 0 (the time-varying resistance joins the two capacitors)."""

    name: str = eqx.field(static=True)
    ra1: Array = eqx.field(converter=_p)
    ra2_min: Array = eqx.field(converter=_p)
    ra2_max: Array = eqx.field(converter=_p)
    rv1: Array = eqx.field(converter=_p)
    ca: Array = eqx.field(converter=_p)
    cc: Array = eqx.field(converter=_p)
    t_vc: Array = eqx.field(converter=_p)
    t_vr: Array = eqx.field(converter=_p)
    pim: Waveform = eqx.field(converter=as_waveform, default=0.0)
    pv: Array = eqx.field(converter=_p, default=0.0)
    period: Array = eqx.field(converter=_p, default=1.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 0

    def __check_init__(self):
        check_parameters(
            self,
            nonneg=("ra1", "ra2_min", "ra2_max", "rv1", "ca", "cc"),
            positive=("ca", "cc", "t_vc", "t_vr", "period"),
        )

    def resistance(self, t):
        """Ra2(t) (OpenLoopCoronaryVarResBC.cpp get_Ram)."""
        s = t - self.period * jnp.floor(t / self.period)
        up = 0.5 * (1.0 - jnp.cos(jnp.pi * s / self.t_vc))
        down = 0.5 * (1.0 + jnp.cos(jnp.pi * (s - self.t_vc) / self.t_vr))
        e = jnp.where(s <= self.t_vc, up, jnp.where(s <= self.t_vc + self.t_vr, down, 0.0))
        lo, hi = jnp.sqrt(self.ra2_min), jnp.sqrt(self.ra2_max)
        return (lo + (hi - lo) * e) ** 2

    @property
    def ra2(self) -> Array:
        """Ra2 at the start of a beat (= ra2_min): what svZeroDSolver's steady start and initial volume_im use."""
        return self.resistance(jnp.zeros((), self.ra2_min.dtype))

    def volume_im(self, t, p_c):
        """The intramyocardial capacitor's stored volume Cc (P_c − Pim(t))."""
        return self.cc * (p_c - self.pim(t))

    def state_flow(self, key, t, view):
        return (view.pressure(f"pressure_a:{self.name}") - view.pressure(f"pressure_c:{self.name}")) / self.resistance(
            t
        )

    def decompose(self, inlets, outlets, shorted):
        tin, ta, tc, tpv = inlets[0], f"pressure_a:{self.name}", f"pressure_c:{self.name}", f"pv:{self.name}"
        ra1, rv1 = RL("Ra1", tin, ta, r="ra1"), RL("Rv1", tc, tpv, r="rv1")
        d = Decomposition(
            [
                ra1,
                StateFlow("Ra2", ta, tc),
                rv1,
                Cap("Ca", ta, "ca"),
                Cap("Cc", tc, "cc", ref="pim"),
                PressureNode("Pv", tpv, "pv"),
            ]
        )
        d.port_flows[tin] = PortFlow((("Ra1", 1.0),)) if not shorted(ra1) else PortFlow((("Ra2", 1.0),), (("Ca", 1.0),))
        return d

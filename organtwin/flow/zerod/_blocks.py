"""Lumped-parameter blocks (final eqx.Modules; every parameter an array, so gradients flow).

Units are whatever the parameters carry, consistently: the built-in presets use mmHg, mL, s (R in mmHg·s/mL, C in
mL/mmHg, L in mmHg·s²/mL, flow mL/s); svZeroDSolver configurations usually use cgs (dyn/cm², mL, s) and are read as they
are. The block equations are svZeroDSolver's (v3.2 source, ``src/model``):

* :class:`BloodVessel` — resistance R (+ stenosis S·|Q|), then a capacitor C to ground, then an inductance L:
  ``P_in − P_c = (R + S|Q_in|) Q_in``, ``C dP_c/dt = Q_in − Q_out``, ``P_c − P_out = L dQ_out/dt``.
* :class:`BloodVesselCRL` — capacitor C to ground at the inlet, then R (+ stenosis S·|Q_out|) and L:
  ``C dP_in/dt = Q_in − Q_out``, ``P_in − P_out = (R + S|Q_out|) Q_out + L dQ_out/dt``.
* :class:`Junction` — all ports share one pressure and the flows balance.
* :class:`BloodVesselJunction` — one inlet, each outlet through its own R, L, S.
* :class:`ResistiveJunction` — every inlet and outlet through its own resistance to a central pressure P_c:
  ``P_in,i − P_c = R_i Q_in,i``, ``P_c − P_out,j = R_j Q_out,j``, ``Σ Q_in = Σ Q_out``.
* :class:`WindkesselRCR` — ``P_in − P_c = Rp Q``, ``C dP_c/dt = Q − (P_c − Pd)/Rd``.
* :class:`ClosedLoopRCR` — the same RCR with its distal end a port to another block instead of a fixed Pd:
  ``P_in − P_c = Rp Q_in``, ``C dP_c/dt = Q_in − Q_out``, ``P_c − P_out = Rd Q_out``.
* :class:`OpenLoopCoronary` — svZeroDSolver CORONARY (OpenLoopCoronaryBC): Ra1 → Ca to ground → Ra2 → Cc referenced
  to the intramyocardial pressure Pim(t) → Rv1 → P_v: ``P_in − P_a = Ra1 Q_in``, ``Ca dP_a/dt = Q_in − Q_m``,
  ``P_a − P_c = Ra2 Q_m``, ``Cc d(P_c − Pim)/dt = Q_m − (P_c − P_v)/Rv1``; svZeroDSolver's state volume_im =
  Cc (P_c − Pim).
* :class:`ResistanceBC`, :class:`PressureBC`, :class:`FlowBC` — with periodic waveforms (:class:`Waveform`).
* :class:`Chamber` — time-varying elastance ``P = (E_pass + E_act a(t)) (V − V_rest(t))``, ``V_rest = (1 − a)(V_rd − V_rs)
  + V_rs``, ``dV/dt = Q_in − Q_out``, optional outlet inductance (svZeroDSolver's ChamberElastanceInductor and
  LinearElastanceChamber; Regazzoni et al. 2022 with V_rd = V_rs = V0).
* :class:`Valve` — ``Q = ΔP / R(ΔP)``: ``ValveLaw.TANH`` R = ½(Rmax + Rmin) − ½(Rmax − Rmin) tanh(k ΔP) (smooth,
  svZeroDSolver ValveTanh); ``ValveLaw.PIECEWISE`` R = Rmin if ΔP > 0 else Rmax (Regazzoni 2022, svZeroDSolver
  PiecewiseValve).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._errors import NetworkError
from ._activation import AbstractActivation
from ._waveform import Waveform, as_waveform

__all__ = [
    "AbstractBlock",
    "BloodVessel",
    "BloodVesselCRL",
    "BloodVesselJunction",
    "Chamber",
    "ClosedLoopRCR",
    "FlowBC",
    "Junction",
    "OpenLoopCoronary",
    "PressureBC",
    "ResistanceBC",
    "ResistiveJunction",
    "Valve",
    "ValveLaw",
    "WindkesselRCR",
]


def _p(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _value(x) -> float:
    """The concrete value of a scalar parameter (NaN while traced: checks are skipped inside jit/vmap)."""
    try:
        return float(np.asarray(x))
    except Exception:  # a tracer
        return float("nan")


# ------------------------------------------------------------------ elements (host-side description of one block)
@dataclass(frozen=True)
class Cap:
    """A capacitor from terminal ``term`` to ground, C = block.<attr>; with ``ref`` (a block attribute: a Waveform or a
    number), to that reference pressure instead of ground: its flow is C d(P − P_ref(t))/dt."""

    key: str
    term: str
    attr: str
    ref: str | None = None


@dataclass(frozen=True)
class ChamberNode:
    key: str
    term: str


@dataclass(frozen=True)
class PressureNode:
    """``term`` has a prescribed pressure block.<attr> (a Waveform or a number)."""

    key: str
    term: str
    attr: str


@dataclass(frozen=True)
class RL:
    """Flow a → b through R (+ S|Q|) and L; attrs name the block's parameters (``None``: zero). ``index`` picks one
    entry of an array parameter (BloodVesselJunction outlets)."""

    key: str
    a: str
    b: str
    r: str | None = None
    l: str | None = None
    s: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class ValveEdge:
    key: str
    a: str
    b: str


@dataclass(frozen=True)
class FlowEdge:
    """Prescribed flow block.<attr> into ``b`` (from outside) or out of ``a``."""

    key: str
    a: str | None
    b: str | None
    attr: str


@dataclass(frozen=True)
class Short:
    a: str
    b: str


@dataclass(frozen=True)
class Transfer:
    """Whatever flows into the storage at point ``a`` is delivered on to point ``b`` (a capacitor that stores pressure
    but no volume: svZeroDSolver's BloodVesselRC). ``a`` must carry this block's capacitor only."""

    a: str
    b: str


@dataclass(frozen=True)
class States:
    """The block's own state variables ``names`` (appended to the model state, after the inductor flows); their rates
    are ``block.state_rates(t, view)`` (a `StateView`). Blocks with states of their own: the closed-loop heart and
    the closed-loop coronary outlets (`._blocks_closed_loop`)."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class StateNode:
    """``term``'s pressure is ``block.state_pressure(key, t, view)``, a function of the model state (a volume the
    block holds there, and other blocks' states); the point stores no capacitance or chamber of its own."""

    key: str
    term: str


@dataclass(frozen=True)
class StateFlow:
    """Flow a → b (``None``: outside) given by ``block.state_flow(key, t, view)``, a function of the model state."""

    key: str
    a: str | None
    b: str | None


@dataclass(frozen=True)
class PortFlow:
    """A port's flow as a signed sum of the block's edge flows and storage rates (C dP/dt, dV/dt)."""

    edges: tuple = ()
    storage: tuple = ()


@dataclass
class Decomposition:
    elements: list = field(default_factory=list)
    port_flows: dict = field(default_factory=dict)  # port terminal -> PortFlow (flow leaving upstream side)


class AbstractBlock(eqx.Module):
    """A 0D block with a ``name`` and ports; subclasses say how they decompose into elements."""

    name: eqx.AbstractVar[str]
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    @abc.abstractmethod
    def decompose(self, inlets: list[str], outlets: list[str], shorted) -> Decomposition:
        """Elements on the port terminals; ``shorted(edge)`` tells whether an RL edge has no impedance."""

    def get(self, attr: str, index: int | None = None):
        v = getattr(self, attr)
        return v if index is None else v[index]


def _vessel_like(
    name, tin, tout, shorted, *, r="resistance", c="capacitance", l="inductance", s="stenosis", cap_nonzero=True
):
    tc = f"c:{name}"
    er = RL("R", tin, tc, r=r, s=s)
    el = RL("L", tc, tout, l=l)
    d = Decomposition()
    d.elements += [er, el]
    if cap_nonzero:
        d.elements.append(Cap("C", tc, c))
    if shorted(er) and shorted(el):  # a capacitor on one point: its ports' flows come from the neighbours
        return d
    storage = (("C", 1.0),) if cap_nonzero else ()
    d.port_flows[tin] = PortFlow(edges=(("R", 1.0),)) if not shorted(er) else PortFlow((("L", 1.0),), storage)
    d.port_flows[tout] = (
        PortFlow(edges=(("L", 1.0),))
        if not shorted(el)
        else PortFlow((("R", 1.0),), tuple((k, -v) for k, v in storage))
    )
    return d


class BloodVessel(AbstractBlock):
    """svZeroDSolver BloodVessel: R (+ stenosis S|Q|) → C to ground → L."""

    name: str = eqx.field(static=True)
    resistance: Array = eqx.field(converter=_p, default=0.0)
    capacitance: Array = eqx.field(converter=_p, default=0.0)
    inductance: Array = eqx.field(converter=_p, default=0.0)
    stenosis: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("resistance", "capacitance", "inductance", "stenosis"))

    def decompose(self, inlets, outlets, shorted):
        return _vessel_like(self.name, inlets[0], outlets[0], shorted, cap_nonzero=_value(self.capacitance) > 0)


class BloodVesselCRL(AbstractBlock):
    """svZeroDSolver BloodVesselCRL: C to ground at the inlet → R (+ stenosis S|Q_out|) → L."""

    name: str = eqx.field(static=True)
    resistance: Array = eqx.field(converter=_p, default=0.0)
    capacitance: Array = eqx.field(converter=_p, default=0.0)
    inductance: Array = eqx.field(converter=_p, default=0.0)
    stenosis: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("resistance", "capacitance", "inductance", "stenosis"))

    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(f"block {self.name} needs an inlet and an outlet connection")
        tin, tout = inlets[0], outlets[0]
        e = RL("RL", tin, tout, r="resistance", l="inductance", s="stenosis")
        has_c = _value(self.capacitance) > 0
        d = Decomposition([e] + ([Cap("C", tin, "capacitance")] if has_c else []))
        if not shorted(e):  # shorted: one point, whose ports' flows come from the neighbours
            d.port_flows[tin] = PortFlow((("RL", 1.0),), (("C", 1.0),) if has_c else ())
            d.port_flows[tout] = PortFlow((("RL", 1.0),))
        return d


class Junction(AbstractBlock):
    """Ideal junction: one pressure at every port, flows balance (svZeroDSolver NORMAL_JUNCTION)."""

    name: str = eqx.field(static=True)
    max_inlets: ClassVar[int] = 10**6
    max_outlets: ClassVar[int] = 10**6

    def decompose(self, inlets, outlets, shorted):
        ports = list(inlets) + list(outlets)
        return Decomposition(elements=[Short(ports[0], p) for p in ports[1:]])


class BloodVesselJunction(AbstractBlock):
    """One inlet; outlet i through R_i (+ S_i|Q|) and L_i (svZeroDSolver BloodVesselJunction)."""

    name: str = eqx.field(static=True)
    resistance: Array = eqx.field(converter=_p)
    inductance: Array = eqx.field(converter=_p)
    stenosis: Array = eqx.field(converter=_p)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 10**6

    def __check_init__(self):
        check_parameters(self, nonneg=("resistance", "inductance", "stenosis"))

    def decompose(self, inlets, outlets, shorted):
        n = int(np.asarray(self.resistance).size)
        if len(outlets) != n:
            raise NetworkError(
                f"junction {self.name}: {len(outlets)} outlets but {n} resistances; give one R, L and "
                "stenosis coefficient per outlet"
            )
        d = Decomposition()
        for i, t in enumerate(outlets):
            e = RL(f"R{i}", inlets[0], t, r="resistance", l="inductance", s="stenosis", index=i)
            if shorted(e):
                raise NetworkError(f"junction {self.name}: outlet {i} has zero R, L and stenosis; use a Junction")
            d.elements.append(e)
            d.port_flows[t] = PortFlow(edges=((f"R{i}", 1.0),))
        d.port_flows[inlets[0]] = PortFlow(edges=tuple((f"R{i}", 1.0) for i in range(len(outlets))))
        return d


class ResistiveJunction(AbstractBlock):
    """Each inlet and outlet through its own resistance to one central point (svZeroDSolver resistive_junction).

    ``resistance`` lists one R per port: the inlets first, then the outlets, each in connection order.
    """

    name: str = eqx.field(static=True)
    resistance: Array = eqx.field(converter=_p)
    max_inlets: ClassVar[int] = 10**6
    max_outlets: ClassVar[int] = 10**6

    def __check_init__(self):
        check_parameters(self, nonneg=("resistance",))

    def decompose(self, inlets, outlets, shorted):
        n = int(np.asarray(self.resistance).size)
        ports = list(inlets) + list(outlets)
        if not (inlets and outlets):
            raise NetworkError(f"junction {self.name} needs an inlet and an outlet connection")
        if len(ports) != n:
            raise NetworkError(
                f"junction {self.name}: {len(inlets)} inlets and {len(outlets)} outlets but {n} "
                "resistances; give one R per inlet, then one per outlet"
            )
        tc = f"pressure_c:{self.name}"
        d = Decomposition()
        edges = []
        for i, t in enumerate(ports):
            e = (
                RL(f"R{i}", t, tc, index=i, r="resistance")
                if i < len(inlets)
                else RL(f"R{i}", tc, t, index=i, r="resistance")
            )
            d.elements.append(e)
            edges.append(e)
        live = [i for i, e in enumerate(edges) if not shorted(e)]
        for i in live:
            d.port_flows[ports[i]] = PortFlow(((f"R{i}", 1.0),))
        if len(live) == len(ports) - 1:  # one port joined to the centre: its flow from the balance of the others
            k = next(i for i in range(len(ports)) if i not in live)
            sign = 1.0 if k < len(inlets) else -1.0  # Q_k = ± (Σ outflows − Σ other inflows)
            d.port_flows[ports[k]] = PortFlow(
                tuple((f"R{i}", sign * (1.0 if i >= len(inlets) else -1.0)) for i in live)
            )
        return d


class WindkesselRCR(AbstractBlock):
    """Three-element Windkessel at an outlet: proximal Rp, capacitor C, distal Rd to the distal pressure Pd."""

    name: str = eqx.field(static=True)
    rp: Array = eqx.field(converter=_p)
    c: Array = eqx.field(converter=_p)
    rd: Array = eqx.field(converter=_p)
    pd: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 0

    def __check_init__(self):
        check_parameters(self, nonneg=("rp", "c", "rd"))
        if _value(self.rd) <= 0:  # NaN (traced) compares False
            raise NetworkError(f"RCR {self.name}: Rd must be > 0 (got {_value(self.rd)})")

    def decompose(self, inlets, outlets, shorted):
        tin, tc, tpd = inlets[0], f"pressure_c:{self.name}", f"pd:{self.name}"
        ep, ed = RL("Rp", tin, tc, r="rp"), RL("Rd", tc, tpd, r="rd")
        d = Decomposition([ep, ed, PressureNode("Pd", tpd, "pd")])
        has_c = _value(self.c) > 0
        if has_c:
            d.elements.append(Cap("C", tc, "c"))
        d.port_flows[tin] = (
            PortFlow((("Rp", 1.0),)) if not shorted(ep) else PortFlow((("Rd", 1.0),), (("C", 1.0),) if has_c else ())
        )
        return d


class ClosedLoopRCR(AbstractBlock):
    """svZeroDSolver ClosedLoopRCR: proximal Rp, capacitor C to ground, distal Rd, with the distal end an outlet to
    another block (in a closed loop) rather than a prescribed pressure."""

    name: str = eqx.field(static=True)
    rp: Array = eqx.field(converter=_p)
    c: Array = eqx.field(converter=_p)
    rd: Array = eqx.field(converter=_p)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("rp", "c", "rd"))

    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(
                f"ClosedLoopRCR {self.name} needs a block upstream and a block downstream; for an "
                "outlet with a fixed distal pressure use RCR"
            )
        tin, tc, tout = inlets[0], f"P_c:{self.name}", outlets[0]
        ep, ed = RL("Rp", tin, tc, r="rp"), RL("Rd", tc, tout, r="rd")
        has_c = _value(self.c) > 0
        d = Decomposition([ep, ed] + ([Cap("C", tc, "c")] if has_c else []))
        if shorted(ep) and shorted(ed):
            return d
        storage = (("C", 1.0),) if has_c else ()
        d.port_flows[tin] = PortFlow((("Rp", 1.0),)) if not shorted(ep) else PortFlow((("Rd", 1.0),), storage)
        d.port_flows[tout] = (
            PortFlow((("Rd", 1.0),))
            if not shorted(ed)
            else PortFlow((("Rp", 1.0),), tuple((k, -v) for k, v in storage))
        )
        return d


class OpenLoopCoronary(AbstractBlock):
    """svZeroDSolver's CORONARY outlet (OpenLoopCoronaryBC): proximal resistance ``ra1``, capacitor ``ca`` to ground,
    ``ra2``, the intramyocardial capacitor ``cc`` referenced to ``pim`` (a waveform), venous resistance ``rv1`` to the
    venous pressure ``pv``. Internal points ``pressure_a:<name>`` (Ca) and ``pressure_c:<name>`` (Cc); the
    intramyocardial volume is ``cc·(P_c − pim(t))`` (svZeroDSolver's ``volume_im``)."""

    name: str = eqx.field(static=True)
    ra1: Array = eqx.field(converter=_p)
    ra2: Array = eqx.field(converter=_p)
    rv1: Array = eqx.field(converter=_p)
    ca: Array = eqx.field(converter=_p)
    cc: Array = eqx.field(converter=_p)
    pim: Waveform = eqx.field(converter=as_waveform, default=0.0)
    pv: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 0

    def __check_init__(self):
        check_parameters(self, nonneg=("ra1", "ra2", "rv1", "ca", "cc"))

    def volume_im(self, t, p_c):
        """svZeroDSolver's volume_im: the intramyocardial capacitor's stored volume Cc (P_c − Pim(t))."""
        return self.cc * (p_c - self.pim(t))

    def decompose(self, inlets, outlets, shorted):
        tin, ta, tc, tpv = inlets[0], f"pressure_a:{self.name}", f"pressure_c:{self.name}", f"pv:{self.name}"
        edges = [RL("Ra1", tin, ta, r="ra1"), RL("Ra2", ta, tc, r="ra2"), RL("Rv1", tc, tpv, r="rv1")]
        caps = [Cap("Ca", ta, "ca"), Cap("Cc", tc, "cc", ref="pim")]
        d = Decomposition(edges + [PressureNode("Pv", tpv, "pv")])
        storage = []
        for e, c in zip(edges, caps + [None]):
            if not shorted(e):  # the inlet flow: the first edge with impedance, plus the capacitors before it
                d.port_flows[tin] = PortFlow(((e.key, 1.0),), tuple(storage))
                break
            if c is not None and _value(getattr(self, c.attr)) > 0:
                storage.append((c.key, 1.0))
        d.elements += [c for c in caps if _value(getattr(self, c.attr)) > 0]
        return d


class ResistanceBC(AbstractBlock):
    """A resistance R to a distal pressure Pd (a waveform or a number) at an outlet."""

    name: str = eqx.field(static=True)
    r: Array = eqx.field(converter=_p)
    pd: Waveform = eqx.field(converter=as_waveform, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 0

    def __check_init__(self):
        if _value(self.r) <= 0:
            raise NetworkError(f"RESISTANCE {self.name}: R must be > 0 (got {_value(self.r)})")

    def decompose(self, inlets, outlets, shorted):
        tpd = f"pd:{self.name}"
        return Decomposition(
            [RL("R", inlets[0], tpd, r="r"), PressureNode("Pd", tpd, "pd")], {inlets[0]: PortFlow((("R", 1.0),))}
        )


class PressureBC(AbstractBlock):
    """A prescribed pressure waveform at an inlet or an outlet."""

    name: str = eqx.field(static=True)
    pressure: Waveform = eqx.field(converter=as_waveform)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def decompose(self, inlets, outlets, shorted):
        ports = list(inlets) + list(outlets)
        return Decomposition([PressureNode("P", ports[0], "pressure")])


class FlowBC(AbstractBlock):
    """A prescribed flow waveform: into the network at an inlet, out of it at an outlet."""

    name: str = eqx.field(static=True)
    flow: Waveform = eqx.field(converter=as_waveform)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def decompose(self, inlets, outlets, shorted):
        if outlets:  # the BC feeds the network
            e = FlowEdge("Q", None, outlets[0], "flow")
            return Decomposition([e], {outlets[0]: PortFlow((("Q", 1.0),))})
        e = FlowEdge("Q", inlets[0], None, "flow")
        return Decomposition([e], {inlets[0]: PortFlow((("Q", 1.0),))})


class Chamber(AbstractBlock):
    """Time-varying elastance chamber: P = (E_pass + E_act·a(t))·(V − V_rest(t)), V_rest = (1 − a)(V_rd − V_rs) + V_rs.

    ``v_rest_systolic`` defaults to ``v_rest`` (Regazzoni 2022's V0); ``inductance`` > 0 adds svZeroDSolver's outlet
    inductor (ChamberElastanceInductor, with E_act = Emax − Emin, E_pass = Emin).
    """

    name: str = eqx.field(static=True)
    e_active: Array = eqx.field(converter=_p)
    e_passive: Array = eqx.field(converter=_p)
    v_rest: Array = eqx.field(converter=_p)
    activation: AbstractActivation
    v_rest_systolic: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))
    inductance: Array = eqx.field(converter=_p, default=0.0)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("e_active", "e_passive", "inductance"))

    def pressure(self, t, volume):
        a = self.activation(t)
        vs = self.v_rest if self.v_rest_systolic is None else self.v_rest_systolic
        v_rest = (1.0 - a) * (self.v_rest - vs) + vs
        return (self.e_passive + self.e_active * a) * (volume - v_rest)

    def decompose(self, inlets, outlets, shorted):
        return chamber_decomposition(self.name, inlets, outlets, shorted)


class ValveLaw(enum.Enum):
    TANH = "tanh"
    PIECEWISE = "piecewise"


class Valve(AbstractBlock):
    """Non-ideal valve between two blocks: Q = ΔP / R(ΔP) with R between r_min (open) and r_max (closed)."""

    name: str = eqx.field(static=True)
    r_min: Array = eqx.field(converter=_p)
    r_max: Array = eqx.field(converter=_p)
    steepness: Array = eqx.field(converter=_p, default=100.0)
    law: ValveLaw = eqx.field(static=True, default=ValveLaw.TANH)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        lo, hi = _value(self.r_min), _value(self.r_max)
        if self.law is ValveLaw.TANH:  # Rmin = 0 is allowed (svZeroDSolver's chamber_sphere case): R(ΔP) stays > 0
            if lo == lo and hi == hi and not (0 <= lo <= hi and hi > 0):
                raise NetworkError(
                    f"valve {self.name}: need 0 <= Rmin <= Rmax and Rmax > 0 (got {_value(self.r_min)}, "
                    f"{_value(self.r_max)})"
                )
        elif lo == lo and hi == hi and not 0 < lo <= hi:
            raise NetworkError(
                f"valve {self.name}: need 0 < Rmin <= Rmax (got {_value(self.r_min)}, {_value(self.r_max)})"
            )

    def flow(self, dp):
        if self.law is ValveLaw.PIECEWISE:
            return dp / jnp.where(dp > 0, self.r_min, self.r_max)
        # ½(Rmax + Rmin) − ½(Rmax − Rmin) tanh(kΔP) written as Rmin + (Rmax − Rmin) / (1 + exp(2kΔP)): the same value,
        # but with no cancellation where tanh → 1 (an open valve with Rmin = 0 keeps R > 0)
        r = self.r_min + (self.r_max - self.r_min) * jax.nn.sigmoid(-2.0 * self.steepness * dp)
        return dp / r

    def decompose(self, inlets, outlets, shorted):
        e = ValveEdge("Q", inlets[0], outlets[0])
        return Decomposition([e], {inlets[0]: PortFlow((("Q", 1.0),)), outlets[0]: PortFlow((("Q", 1.0),))})


def check_parameters(block, *, nonneg=(), positive=(), finite=(), say_finite: bool = True) -> None:
    """The one parameter check of every block: each named parameter finite, those in ``positive`` > 0 and those in
    ``nonneg`` >= 0; a violation is one `NetworkError` line naming the block and the parameter ("must be finite and
    >= 0", or "must be >= 0" without ``say_finite``; "must be > 0"; "must be finite"). Values still traced (a block
    built inside jit or vmap) are checked when built on the host."""
    for n in dict.fromkeys((*nonneg, *positive, *finite)):
        try:
            v = np.asarray(getattr(block, n))
        except Exception:  # traced: checked when built on the host
            continue
        if v.dtype.kind != "f":
            continue
        nonfinite = not np.all(np.isfinite(v))
        need = None
        if n in nonneg and (nonfinite or np.any(v < 0)):
            need = "finite and >= 0" if say_finite else ">= 0"
        elif n in positive and (nonfinite or np.any(v <= 0)):
            need = "> 0"
        elif nonfinite:
            need = "finite"
        if need:
            raise NetworkError(f"block {block.name}: {n} must be {need} (got {v.tolist()})")


def chamber_decomposition(name: str, inlets, outlets, shorted) -> Decomposition:
    """The elements of a chamber with an outlet inductance (`Chamber`, the exponential chamber): the volume at the
    inlet point, then the inductance ``L`` to the outlet (a short where it is zero)."""
    tv = inlets[0] if inlets else f"V:{name}"
    d = Decomposition([ChamberNode("V", tv)])
    if outlets:
        e = RL("L", tv, outlets[0], l="inductance")
        if shorted(e):
            d.elements.append(Short(tv, outlets[0]))
        else:
            d.elements.append(e)
            d.port_flows[outlets[0]] = PortFlow((("L", 1.0),))
            if inlets:
                d.port_flows[inlets[0]] = PortFlow((("L", 1.0),), (("V", 1.0),))
    return d

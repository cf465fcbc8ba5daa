"""svZeroDSolver's closed-loop heart and its closed-loop coronary outlets (final eqx.Modules; every parameter an array
leaf, so they can be calibrated). Units are the configuration's own, read as they are (svZeroDSolver's closed-loop test
cases give the heart in mmHg, mL, s: their comments divide the cgs values by 1333.34).

* :class:`ClosedLoopHeartPulmonary` — ``closed_loop_blocks`` / ``ClosedLoopHeartAndPulmonary`` (svZeroDSolver
  src/model/ClosedLoopHeartPulmonary.cpp; the heart and pulmonary circulation of Sankaran et al. 2012, Ann. Biomed. Eng.
  40:2228, with the ventricular elastance of Menon et al. 2023, after Kerckhoffs et al. 2007's closed loop). Four
  chambers and the pulmonary circulation between the block's inlet (the right atrium, where the systemic veins
  return) and its outlet (the aortic capacitor Cpa, from which the systemic vessels leave):

  - atria: ``P = AA(t) Emax (V − Vaso) + (1 − AA(t)) Kxp (exp(Kxv (V − Vaso)) − 1)``, AA the wrapping cosine of
    duration ``Tsa``·T ending ``T/tpwave`` into the cycle;
  - ventricles: ``P = E(t) (V − Vu)``, E = ``Elv_s``·e(t) (left), ``Erv_s``·e(t) (right), e the 25-mode Fourier series
    of J. Tran's tuning framework (not normalised);
  - each valve an inductance and a resistance that carry flow only while open: open while the upstream pressure
    exceeds the downstream one or the flow is still forward (``L dQ/dt = ΔP − R Q``); shut, its flow is 0 (the
    source's valve switch with Q reset to 0 after each step);
  - pulmonary circulation: ``Cp dP_pul/dt = Q_RV − (P_pul − P_LA)/Rpd``, and the left atrium fills with the
    pulmonary valve's flow, ``dV_LA/dt = Q_RV − Q_LA`` (as the source writes it, Sankaran 2012's X6' = X4 − X7: the
    pulmonary capacitor stores pressure, the flow passes through; blood volume is not conserved);
  - aorta: ``Cpa dP_out/dt = Q_LV − Q_out``.

  States of its own: V_RA, Q_RA, V_RV, Q_RV, P_pul, V_LA, Q_LA, V_LV, Q_LV (the source's names); the right-atrial
  pressure is its inlet point's, the aortic pressure its outlet point's (a capacitor). ``iml``/``imr`` scale the
  left/right ventricular pressure into the coronaries' intramyocardial pressure.
* :class:`ClosedLoopCoronary` — ``ClosedLoopCoronaryLeft`` / ``ClosedLoopCoronaryRight`` (ClosedLoopCoronaryBC.cpp,
  ...LeftBC.cpp, ...RightBC.cpp; Kim et al. 2010's coronary outlet closed into the right atrium): ``Ra`` to a
  capacitor ``Ca`` to ground, ``Ram`` to the intramyocardial capacitor ``Cim`` referenced to P_im = ``iml``·P_LV (left)
  or ``imr``·P_RV (right) of the heart, ``Rv`` to the outlet; its own state volume_im = Cim (P_m − P_im).
"""

from __future__ import annotations

import enum
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._errors import NetworkError
from ._activation import FOURIER_ELASTANCE
from ._blocks import (
    RL,
    AbstractBlock,
    Cap,
    Decomposition,
    PortFlow,
    StateFlow,
    StateNode,
    States,
    _p,
    _value,
    check_parameters,
)

__all__ = ["HEART_PARAMETERS", "ClosedLoopCoronary", "ClosedLoopHeartPulmonary", "CoronarySide"]

# The 25 (a_k, b_k) of the ventricular elastance e(s) = Σ a_k cos(2πks/T) − b_k sin(2πks/T): the same table as the
# `fourier` activation (svZeroDSolver's ClosedLoopHeartPulmonary.cpp and ActivationFunction.cpp list the same numbers,
# "copied from J. Tran's tuning framework"; Menon et al. 2023).
_ELASTANCE_MODES = FOURIER_ELASTANCE

# svZeroDSolver's parameter names (its JSON keys) -> field names here, in the source's order
HEART_PARAMETERS = {
    "Tsa": "tsa",
    "tpwave": "tpwave",
    "Erv_s": "erv_s",
    "Elv_s": "elv_s",
    "iml": "iml",
    "imr": "imr",
    "Lra_v": "lra_v",
    "Rra_v": "rra_v",
    "Lrv_a": "lrv_a",
    "Rrv_a": "rrv_a",
    "Lla_v": "lla_v",
    "Rla_v": "rla_v",
    "Llv_a": "llv_a",
    "Rlv_ao": "rlv_ao",
    "Vrv_u": "vrv_u",
    "Vlv_u": "vlv_u",
    "Rpd": "rpd",
    "Cp": "cp",
    "Cpa": "cpa",
    "Kxp_ra": "kxp_ra",
    "Kxv_ra": "kxv_ra",
    "Kxp_la": "kxp_la",
    "Kxv_la": "kxv_la",
    "Emax_ra": "emax_ra",
    "Emax_la": "emax_la",
    "Vaso_ra": "vaso_ra",
    "Vaso_la": "vaso_la",
}
# must be > 0: divided by (durations, inductances, Rpd, Cp, Cpa); the rest finite (>= 0 where a physical magnitude)
_POSITIVE = ("tsa", "tpwave", "lra_v", "lrv_a", "lla_v", "llv_a", "rpd", "cp", "cpa", "period")
_NONNEG = (
    "erv_s",
    "elv_s",
    "iml",
    "imr",
    "rra_v",
    "rrv_a",
    "rla_v",
    "rlv_ao",
    "kxp_ra",
    "kxp_la",
    "emax_ra",
    "emax_la",
)


class ClosedLoopHeartPulmonary(AbstractBlock):
    """svZeroDSolver's ClosedLoopHeartAndPulmonary (the module docstring has the equations); fields are the source's
    parameters lower-cased (`HEART_PARAMETERS`), ``period`` its cardiac_cycle_period (s)."""

    name: str = eqx.field(static=True)
    tsa: Array = eqx.field(converter=_p)
    tpwave: Array = eqx.field(converter=_p)
    erv_s: Array = eqx.field(converter=_p)
    elv_s: Array = eqx.field(converter=_p)
    iml: Array = eqx.field(converter=_p)
    imr: Array = eqx.field(converter=_p)
    lra_v: Array = eqx.field(converter=_p)
    rra_v: Array = eqx.field(converter=_p)
    lrv_a: Array = eqx.field(converter=_p)
    rrv_a: Array = eqx.field(converter=_p)
    lla_v: Array = eqx.field(converter=_p)
    rla_v: Array = eqx.field(converter=_p)
    llv_a: Array = eqx.field(converter=_p)
    rlv_ao: Array = eqx.field(converter=_p)
    vrv_u: Array = eqx.field(converter=_p)
    vlv_u: Array = eqx.field(converter=_p)
    rpd: Array = eqx.field(converter=_p)
    cp: Array = eqx.field(converter=_p)
    cpa: Array = eqx.field(converter=_p)
    kxp_ra: Array = eqx.field(converter=_p)
    kxv_ra: Array = eqx.field(converter=_p)
    kxp_la: Array = eqx.field(converter=_p)
    kxv_la: Array = eqx.field(converter=_p)
    emax_ra: Array = eqx.field(converter=_p)
    emax_la: Array = eqx.field(converter=_p)
    vaso_ra: Array = eqx.field(converter=_p)
    vaso_la: Array = eqx.field(converter=_p)
    period: Array = eqx.field(converter=_p)
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1
    STATES: ClassVar[tuple[str, ...]] = ("V_RA", "Q_RA", "V_RV", "Q_RV", "P_pul", "V_LA", "Q_LA", "V_LV", "Q_LV")
    # svZeroDSolver's internal variables of this block, in its order (its variable-based output)
    VARIABLES: ClassVar[tuple[str, ...]] = (
        "V_RA",
        "Q_RA",
        "P_RV",
        "V_RV",
        "Q_RV",
        "P_pul",
        "P_LA",
        "V_LA",
        "Q_LA",
        "P_LV",
        "V_LV",
        "Q_LV",
    )

    def __check_init__(self):
        check_parameters(
            self,
            positive=_POSITIVE,
            nonneg=_NONNEG,
            finite=tuple(set(HEART_PARAMETERS.values()) - set(_POSITIVE) - set(_NONNEG)),
            say_finite=False,
        )

    # ---- time functions
    def atrial_activation(self, t):
        """AA(t): a cosine of duration Tsa·T ending T/tpwave after the cycle's start, wrapping across its end."""
        T = self.period
        ts, tp = T * self.tsa, T / self.tpwave
        s = jnp.mod(t, T)
        early = s <= tp
        late = (s >= T - ts + tp) & (s < T)
        shift = jnp.where(early, tp - ts, tp + T - ts)
        return jnp.where(early | late, 0.5 * (1.0 - jnp.cos(2.0 * jnp.pi * (s - shift) / ts)), 0.0)

    def ventricular_elastance(self, t):
        """e(t), the Fourier series (multiply by Elv_s or Erv_s)."""
        s = jnp.mod(t, self.period) / self.period
        k = 2.0 * jnp.pi * jnp.arange(_ELASTANCE_MODES.shape[0]) * s
        a, b = _ELASTANCE_MODES[:, 0], _ELASTANCE_MODES[:, 1]
        return jnp.sum(a * jnp.cos(k) - b * jnp.sin(k))

    # ---- pressures from volumes
    def _atrium(self, aa, v, emax, vaso, kxp, kxv):
        return aa * emax * (v - vaso) + (1.0 - aa) * kxp * (jnp.exp((v - vaso) * kxv) - 1.0)

    def chamber_pressures(self, t, own):
        """(P_RA, P_RV, P_LA, P_LV) at time t from the block's own states."""
        aa, e = self.atrial_activation(t), self.ventricular_elastance(t)
        p_ra = self._atrium(aa, own[0], self.emax_ra, self.vaso_ra, self.kxp_ra, self.kxv_ra)
        p_rv = self.erv_s * e * (own[2] - self.vrv_u)
        p_la = self._atrium(aa, own[5], self.emax_la, self.vaso_la, self.kxp_la, self.kxv_la)
        p_lv = self.elv_s * e * (own[7] - self.vlv_u)
        return p_ra, p_rv, p_la, p_lv

    def ventricle_pressure(self, left: bool, t, own):
        """P_LV (``left``) or P_RV: what the closed-loop coronaries scale into their intramyocardial pressure."""
        _, p_rv, _, p_lv = self.chamber_pressures(t, own)
        return p_lv if left else p_rv

    @staticmethod
    def _open(dp, q):
        """A valve is open while its pressure difference is forward or its flow still is (the source's switch)."""
        return (dp > 0) | (q > 0)

    def valve_flows(self, t, own, p_out):
        """The flows that the four valves pass (0 while shut): tricuspid, pulmonary, mitral, aortic."""
        p_ra, p_rv, p_la, p_lv = self.chamber_pressures(t, own)
        ups = jnp.stack([p_ra, p_rv, p_la, p_lv])
        downs = jnp.stack([p_rv, own[4], p_lv, p_out])
        q = jnp.stack([own[1], own[3], own[6], own[8]])
        return jnp.where(self._open(ups - downs, q), q, 0.0)

    # ---- the network's view of the block
    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(
                f"block {self.name} (ClosedLoopHeartAndPulmonary) needs an inlet (the venous return) and an outlet "
                "(the aorta) connection"
            )
        tin, tout = inlets[0], outlets[0]
        return Decomposition(
            [
                States(self.STATES),
                StateNode("RA", tin),
                Cap("Cpa", tout, "cpa"),
                StateFlow("Q_RA", tin, None),
                StateFlow("Q_LV", None, tout),
            ],
            {
                tin: PortFlow((("Q_RA", 1.0),), (("V_RA", 1.0),)),  # Q_in = dV_RA/dt + Q_RA
                tout: PortFlow((("Q_LV", 1.0),), (("Cpa", -1.0),)),  # Q_out = Q_LV − Cpa dP_out/dt
            },
        )

    def _ports(self, view):
        st = view.model.structure
        tin = next(f"{u}:{d}" for u, d in st.connections if d == self.name)
        tout = next(f"{u}:{d}" for u, d in st.connections if u == self.name)
        return tin, tout

    def state_pressure(self, key, t, view):
        own = view.states(self.name)
        aa = self.atrial_activation(t)
        return self._atrium(aa, own[0], self.emax_ra, self.vaso_ra, self.kxp_ra, self.kxv_ra)

    def state_flow(self, key, t, view):
        own = view.states(self.name)
        p_out = view.pressure(self._ports(view)[1])
        q = self.valve_flows(t, own, p_out)
        return q[0] if key == "Q_RA" else q[3]

    def state_rates(self, t, view):
        own = view.states(self.name)
        tin, tout = self._ports(view)
        p_out = view.pressure(tout)
        p_ra, p_rv, p_la, p_lv = self.chamber_pressures(t, own)
        ups = jnp.stack([p_ra, p_rv, p_la, p_lv])
        downs = jnp.stack([p_rv, own[4], p_lv, p_out])
        q = jnp.stack([own[1], own[3], own[6], own[8]])
        r = jnp.stack([self.rra_v, self.rrv_a, self.rla_v, self.rlv_ao])
        l = jnp.stack([self.lra_v, self.lrv_a, self.lla_v, self.llv_a])
        is_open = self._open(ups - downs, q)
        # shut: Q relaxes to 0 at the valve's own rate (it is 0 but for what a step past the closing left over)
        dq = jnp.where(is_open, ups - downs - r * q, -r * q) / l
        qv = jnp.where(is_open, q, 0.0)
        return jnp.stack(
            [
                view.inflow(tin),  # V_RA: the venous return less the tricuspid flow
                dq[0],
                qv[0] - qv[1],  # V_RV
                dq[1],
                (qv[1] - (own[4] - p_la) / self.rpd) / self.cp,  # P_pul
                qv[1] - qv[2],  # V_LA: filled by the pulmonary valve's flow (the source's equation)
                dq[2],
                qv[2] - qv[3],  # V_LV
                dq[3],
            ]
        )

    def variables(self, t, own, p_out) -> dict:
        """svZeroDSolver's internal variables of this block (`VARIABLES`) at one time; flows are the valves' (0 while
        shut, as the source resets them)."""
        p_ra, p_rv, p_la, p_lv = self.chamber_pressures(t, own)
        q = self.valve_flows(t, own, p_out)
        vals = (own[0], q[0], p_rv, own[2], q[1], own[4], p_la, own[5], q[2], p_lv, own[7], q[3])
        return dict(zip(self.VARIABLES, vals))


class CoronarySide(enum.Enum):
    LEFT = "left"  # intramyocardial pressure iml · P_LV
    RIGHT = "right"  # imr · P_RV


class ClosedLoopCoronary(AbstractBlock):
    """svZeroDSolver's ClosedLoopCoronaryLeft / ClosedLoopCoronaryRight: Ra → Ca to ground → Ram → Cim referenced to
    the heart's intramyocardial pressure → Rv → outlet (the heart's right atrium). ``heart``: the name of the
    `ClosedLoopHeartPulmonary` block (svZeroDSolver: "CLH"). Internal points ``P_a:<name>`` and ``P_im:<name>``."""

    name: str = eqx.field(static=True)
    ra: Array = eqx.field(converter=_p)
    ram: Array = eqx.field(converter=_p)
    rv: Array = eqx.field(converter=_p)
    ca: Array = eqx.field(converter=_p)
    cim: Array = eqx.field(converter=_p)
    side: CoronarySide = eqx.field(static=True, default=CoronarySide.LEFT)
    heart: str = eqx.field(static=True, default="CLH")
    max_inlets: ClassVar[int] = 1
    max_outlets: ClassVar[int] = 1

    def __check_init__(self):
        check_parameters(self, nonneg=("ra", "ram", "rv", "ca", "cim"), say_finite=False)

    def decompose(self, inlets, outlets, shorted):
        if not (inlets and outlets):
            raise NetworkError(
                f"block {self.name} (closed-loop coronary) needs a vessel upstream and the heart downstream"
            )
        tin, ta, tm, tout = inlets[0], f"P_a:{self.name}", f"P_im:{self.name}", outlets[0]
        edges = [RL("Ra", tin, ta, r="ra"), RL("Ram", ta, tm, r="ram"), RL("Rv", tm, tout, r="rv")]
        has_ca, has_cim = _value(self.ca) > 0, _value(self.cim) > 0
        d = Decomposition(list(edges))
        if has_ca:
            d.elements.append(Cap("Ca", ta, "ca"))
        if has_cim:
            d.elements += [States(("volume_im",)), StateNode("im", tm)]
        stores = [("Ca", 1.0)] if has_ca else [], [("volume_im", 1.0)] if has_cim else []
        # a port's flow: the first edge with impedance from that side, with the storage passed on the way
        passed: list = []
        for e, s in zip(edges, stores + ([],)):
            if not shorted(e):
                d.port_flows[tin] = PortFlow(((e.key, 1.0),), tuple(passed))
                break
            passed += s
        passed = []
        for e, s in zip(reversed(edges), ([],) + stores[::-1]):
            passed += [(k, -c) for k, c in s]
            if not shorted(e):
                d.port_flows[tout] = PortFlow(((e.key, 1.0),), tuple(passed))
                break
        return d

    def _heart(self, view) -> ClosedLoopHeartPulmonary:
        h = view.block(self.heart)
        if not isinstance(h, ClosedLoopHeartPulmonary):
            raise NetworkError(
                f"closed-loop coronary {self.name}: block {self.heart!r} is not a ClosedLoopHeartAndPulmonary"
            )
        return h

    def intramyocardial_pressure(self, t, view):
        """P_im = iml·P_LV (left) or imr·P_RV (right) of the heart at time t."""
        h = self._heart(view)
        left = self.side is CoronarySide.LEFT
        return (h.iml if left else h.imr) * h.ventricle_pressure(left, t, view.states(h.name))

    def state_pressure(self, key, t, view):
        return view.states(self.name)[0] / self.cim + self.intramyocardial_pressure(t, view)

    def state_rates(self, t, view):
        return view.inflow(f"P_im:{self.name}")[None]


# ------------------------------------------------------------------------------------- svZeroDSolver JSON (the edge)
HEART_NAME = "CLH"  # svZeroDSolver's fixed names for the heart and the junctions on either side of it
HEART_INLET, HEART_OUTLET = "J_heart_inlet", "J_heart_outlet"
CLOSED_LOOP_BC_TYPES = ("ClosedLoopCoronaryLeft", "ClosedLoopCoronaryRight")


def read_closed_loop_bc(kind: str, name: str, vals: dict, where: str) -> ClosedLoopCoronary:
    """A ClosedLoopCoronaryLeft/Right boundary condition from its ``bc_values`` (Ra, Ram, Rv, Ca, Cim)."""
    from ._svzerod_json import _check_keys, _num

    if not isinstance(vals, dict):
        raise NetworkError(f"svZeroD config: {where} bc_values must be a JSON object")
    _check_keys(vals, {"Ra", "Ram", "Rv", "Ca", "Cim"}, where)
    side = CoronarySide.LEFT if kind == "ClosedLoopCoronaryLeft" else CoronarySide.RIGHT
    return ClosedLoopCoronary(
        name, *(_num(vals, k, where) for k in ("Ra", "Ram", "Rv", "Ca", "Cim")), side=side, heart=HEART_NAME
    )


def read_closed_loop_blocks(config: dict, bcs: dict, period: float, from_waves: bool):
    """``closed_loop_blocks`` as svZeroDSolver builds them (SimulationParameters.cpp, create_closed_loop): one
    ClosedLoopHeartAndPulmonary named "CLH", a junction "J_heart_inlet" into it from every closed-loop boundary
    condition (ClosedLoopRCR with closed_loop_outlet true, the closed-loop coronaries), and a junction
    "J_heart_outlet" from it to each of its ``outlet_blocks``. Returns (blocks, {name: type}, connections, period);
    ``period``: the configuration's period so far (<= 0: none), that of the boundary conditions' waveforms if
    ``from_waves``, else simulation_parameters' cardiac_period. A period that differs from the heart's is refused, as
    svZeroDSolver refuses it ("Inconsistent cardiac cycle period"); without a heart ``period`` comes back as it is."""
    from ._blocks import Junction
    from ._svzerod_json import _check_keys, _need, _num

    specs = config.get("closed_loop_blocks") or []
    if not isinstance(specs, list):
        raise NetworkError("svZeroD config: closed_loop_blocks must be a list")
    coronaries = [n for n, b in bcs.items() if isinstance(b, ClosedLoopCoronary)]
    if not specs:
        if coronaries:
            raise NetworkError(
                f"svZeroD config: boundary condition {coronaries[0]} (a closed-loop coronary) takes its "
                "intramyocardial pressure from the heart: add a ClosedLoopHeartAndPulmonary in closed_loop_blocks"
            )
        return [], {}, [], period
    if len(specs) > 1:
        raise NetworkError("svZeroD config: closed_loop_blocks: only one ClosedLoopHeartAndPulmonary can be included")
    spec = specs[0]
    where = "closed_loop_blocks[0]"
    if not isinstance(spec, dict):
        raise NetworkError(f"svZeroD config: {where} must be a JSON object")
    _check_keys(spec, {"outlet_blocks", "closed_loop_type", "cardiac_cycle_period", "parameters", "name"}, where)
    kind = _need(spec, "closed_loop_type", where)
    if kind != "ClosedLoopHeartAndPulmonary":
        raise NetworkError(
            f"svZeroD config: {where}: closed_loop_type {kind!r} is not supported (supported: "
            "ClosedLoopHeartAndPulmonary)"
        )
    heart_period = _num(spec, "cardiac_cycle_period", where)
    if not heart_period > 0:
        raise NetworkError(f"svZeroD config: {where} 'cardiac_cycle_period' must be > 0 s (got {heart_period})")
    if period > 0 and abs(period - heart_period) > 1e-12 * heart_period:
        what = "the boundary conditions' waveforms have" if from_waves else "simulation_parameters 'cardiac_period' is"
        raise NetworkError(
            f"svZeroD config: {what} a period of {period:g} s but ClosedLoopHeartAndPulmonary's "
            f"cardiac_cycle_period is {heart_period:g} s; make them agree (svZeroDSolver refuses this too: "
            "'Inconsistent cardiac cycle period')"
        )
    sim = config.get("simulation_parameters", {})
    if sim.get("steady_initial", True):
        raise NetworkError(
            "svZeroD config: steady_initial is not supported with ClosedLoopHeartAndPulmonary (the heart never "
            "settles; svZeroDSolver's steady start with it runs 31 coarse steps of the beating heart instead); set "
            '"steady_initial": false and give initial_condition (e.g. V_RA:CLH, V_RV:CLH, V_LA:CLH, V_LV:CLH, '
            "P_pul:CLH)"
        )
    params = _need(spec, "parameters", where)
    pwhere = f"{where} parameters"
    if not isinstance(params, dict):
        raise NetworkError(f"svZeroD config: {pwhere} must be a JSON object")
    _check_keys(params, set(HEART_PARAMETERS), pwhere)
    values = {field: _num(params, key, pwhere) for key, field in HEART_PARAMETERS.items()}
    try:
        heart = ClosedLoopHeartPulmonary(HEART_NAME, **values, period=heart_period)
    except NetworkError as e:
        raise NetworkError(f"svZeroD config: {where}: {e}") from None
    outs = _need(spec, "outlet_blocks", where)
    if not isinstance(outs, list) or not outs or not all(isinstance(o, str) for o in outs):
        raise NetworkError(f"svZeroD config: {where} 'outlet_blocks' must be a list of block names")
    returns = coronaries + [
        bc["bc_name"]
        for bc in config.get("boundary_conditions", [])
        if isinstance(bc, dict)
        and bc.get("bc_type") == "ClosedLoopRCR"
        and isinstance(bc.get("bc_values"), dict)
        and bc["bc_values"].get("closed_loop_outlet") is True
    ]
    blocks = [heart, Junction(HEART_INLET), Junction(HEART_OUTLET)]
    types = {HEART_NAME: kind, HEART_INLET: "NORMAL_JUNCTION", HEART_OUTLET: "NORMAL_JUNCTION"}
    conns = [(HEART_INLET, HEART_NAME), (HEART_NAME, HEART_OUTLET)]
    conns += [(r, HEART_INLET) for r in returns] + [(HEART_OUTLET, o) for o in outs]
    return blocks, types, conns, heart_period


def closed_loop_initial(ic: dict, model, block_types: dict, y0):
    """``y0`` with the heart's and the closed-loop coronaries' own states from svZeroDSolver's initial_condition
    (``V_RA:CLH``..., ``volume_im:<name>``; missing: 0, as svZeroDSolver) and each coronary's P_a point at
    P_in − Ra Q_in (its inlet's pressure and flow as given; 0 otherwise)."""
    st = model.structure
    term = dict(st.terminal_nodes)
    p_all, q_all = ic.get("pressure_all"), ic.get("flow_all")
    own = {f"{n}:{row.block}": row.offset + i for row in st.states for i, n in enumerate(row.names)}
    base = st.n_cap + st.n_chamber + len(st.inductive)
    x = np.array(y0)
    for name in block_types:
        b = model.blocks.get(name)
        if isinstance(b, ClosedLoopHeartPulmonary):
            keys = [f"{v}:{name}" for v in b.STATES]
        elif isinstance(b, ClosedLoopCoronary):
            keys = [f"volume_im:{name}"]
            ta = f"P_a:{name}"
            if ta in term and term[ta] < st.n_cap:
                t_in = next(f"{u}:{d}" for u, d in st.connections if d == name)
                p_in = float(ic.get(f"pressure:{t_in}", p_all or 0.0))
                q_in = float(ic.get(f"flow:{t_in}", q_all or 0.0))
                x[term[ta]] = p_in - float(np.asarray(b.ra)) * q_in
        else:
            continue
        for k in keys:
            if k in own:
                x[base + own[k]] = float(ic.get(k, 0.0))
    return jnp.asarray(x, y0.dtype)


def closed_loop_series(res, name: str) -> list:
    """svZeroDSolver's internal variables of a closed-loop block over the result's times: [(label, series), ...]
    (the heart's twelve, a closed-loop coronary's volume_im)."""
    import jax

    model, st = res.model, res.model.structure
    b = model.blocks[name]
    row = next((r for r in st.states if r.block == name), None)
    own = res.observed["own_states"]
    if isinstance(b, ClosedLoopCoronary):
        v = own[:, row.offset] if row is not None else np.zeros(len(res.times))
        return [(f"volume_im:{name}", v)]
    if not isinstance(b, ClosedLoopHeartPulmonary) or row is None:
        return []
    tout = next(f"{u}:{d}" for u, d in st.connections if u == name)
    p_out = res.observed["pressure"][:, dict(st.terminal_nodes)[tout]]
    x = own[:, row.offset : row.offset + len(row.names)]
    # the times of the last cycle are reported shifted to start at 0; the heart's time functions are periodic
    vals = jax.vmap(b.variables)(jnp.asarray(res.times), jnp.asarray(x), jnp.asarray(p_out))
    return [(f"{v}:{name}", np.asarray(vals[v])) for v in b.VARIABLES]

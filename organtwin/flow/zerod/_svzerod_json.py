"""svZeroDSolver interoperability: read its JSON configurations, run them, write results in its CSV layouts.

Supported (svZeroDSolver 3.2 names): vessels ``BloodVessel`` and ``BloodVesselCRL`` (R_poiseuille, C, L,
stenosis_coefficient; CRL puts the capacitor at the inlet); junctions ``NORMAL_JUNCTION`` / ``internal_junction``,
``BloodVesselJunction`` and ``resistive_junction`` (``R``: one resistance per inlet, then per outlet); boundary
conditions ``FLOW``, ``PRESSURE``, ``RESISTANCE``, ``RCR``, ``ClosedLoopRCR`` (Rp, C, Rd, closed_loop_outlet: an RCR
whose distal end connects to the next block, the vessel naming it as its inlet boundary condition) and ``CORONARY``
(Ra1, Ra2, Rv1, Ca, Cc, P_v, Pim(t): Cc is referenced to the intramyocardial pressure Pim(t); variable ``volume_im``);
and ``CORONARY_VAR_RES`` (CORONARY with Ra2_min, Ra2_max, T_vc, T_vr: Ra2 varies over the beat); vessels
``BloodVesselRC`` (Rpd, Cp: a flow-through RC, its capacitor stores pressure but no volume) and ``ChamberSphere`` (rho,
thick0, radius0, W1, W2, eta, sigma_max, alpha_max, alpha_min, tsys, tdias, steepness; internal variables radius, velo,
stress, tau, volume); chambers ``ChamberElastanceInductor``, ``ChamberElastanceInductorExponential`` (Emax, Kxp, Kxv,
Vaso, Impedance) and ``LinearElastanceChamber`` with activation functions ``half_cosine``, ``piecewise_cosine``,
``two_hill``, ``wrapping_cosine`` (Tsa, tpwave) and ``fourier``; valves ``ValveTanh`` (Rmin may be 0; internal variable
valve_status) and ``PiecewiseValve`` (equations of the blocks added for issue 25 in `._blocks_chambers`). Anything else
is a one-line error naming the block; among those: external coupling.

Where svZeroDSolver 3.2 departs from its own equations we follow the equations: its resistive_junction takes only one
number for ``R`` and reads past it for every later port (we require the documented list); with steady_initial it zeroes
a ClosedLoopRCR's C for the steady solve and its unsteady run then behaves as C = 0 (measured; with steady_initial
false it honours C). Its CORONARY ``volume_im`` is not Cc (P_c − Pim) but its change since the start (plus the given
initial volume_im): its equations subtract the start's P_c − Pim, with Pim at its mean after a steady start; we
integrate P_c and write volume_im the same way.

The closed loop: ``closed_loop_blocks`` with one ``ClosedLoopHeartAndPulmonary`` (its 27 parameters,
cardiac_cycle_period, outlet_blocks) and the boundary conditions ``ClosedLoopCoronaryLeft`` / ``ClosedLoopCoronaryRight``
(Ra, Ram, Rv, Ca, Cim), built as svZeroDSolver builds them: the heart "CLH" between the junctions "J_heart_inlet" (fed by
every ClosedLoopRCR with closed_loop_outlet true and every closed-loop coronary) and "J_heart_outlet" (to its
outlet_blocks); equations in `._blocks_closed_loop`. A cardiac_period or waveform period that differs from the heart's
is refused, as svZeroDSolver refuses it; so is steady_initial with the heart (svZeroDSolver's steady start runs 31 steps
of a tenth of a beat with the heart beating, and its result after 10 beats is 94 % off the same config started from
its initial condition). At svZeroDSolver's usual 100 points per beat its own step error on these cases is 16–19 %
relative L2 (against itself at 9901 points, which agrees with organtwin to ~2e-6).

Simulation parameters (svZeroDSolver's SimulationParameters.cpp, Solver.cpp, csv_writer.cpp), each honoured or
refused: number_of_cardiac_cycles, number_of_time_pts_per_cardiac_cycle, cardiac_period; output_all_cycles,
output_interval, output_variable_based, output_mean_only, output_derivative (its columns d_flow_in, d_flow_out,
d_pressure_in, d_pressure_out, or ydot: exact rates, `svzerod_csv`); use_cycle_to_cycle_error with
sim_cycle_to_cycle_percent_error (svZeroDSolver's number of cycles, said in `SvZeroDResult.describe`: `run_svzerod`);
steady_initial (the steady state with every waveform at its mean, solved directly where svZeroDSolver takes 31 steps of
T/10 with RCR capacitors zeroed; not with chambers, whose elastance never settles: there the given initial state);
initial_condition (with pressure_all / flow_all). initial_condition_d is named in a `NetworkWarning` and not used (an
ODE's initial rates follow from its state). absolute_tolerance, maximum_nonlinear_iterations, rho_infty and
max_iter_error_to_warning set svZeroDSolver's generalized-α integrator (its Newton tolerance and iterations per step,
its high-frequency damping): read and not used, as organtwin integrates the same equations with diffrax at its own
step (`default_svzerod_integrator`: explicit Tsit5 at an adaptive step, error control at rtol 1e-8 / atol 1e-10 in
float64; where the network is stiff at the start, implicit Euler at a tenth of the output step, see `._solve`) and
reports at the configuration's times. coupled_simulation and external_solver_coupling_blocks are refused (organtwin
couples through its Python API, `simulate_zerod`). A key svZeroDSolver does not read, at the top level, in
simulation_parameters or in a block's entry, is named in a `NetworkWarning` (svZeroDSolver ignores it silently); one in
a block's values is an error, as in svZeroDSolver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ..._errors import NetworkError, NetworkWarning
from ..._sizes import INT32_MAX
from ..._solution import RESULTS
from ._activation import DoubleCosine, Fourier, HalfCosine, TwoHill, WrappingCosine
from ._blocks import (
    BloodVessel,
    BloodVesselCRL,
    BloodVesselJunction,
    Chamber,
    ClosedLoopRCR,
    FlowBC,
    Junction,
    OpenLoopCoronary,
    PressureBC,
    ResistanceBC,
    ResistiveJunction,
    Valve,
    ValveLaw,
    WindkesselRCR,
)
from ._blocks_chambers import BloodVesselRC, ChamberSphere, ExponentialChamber, OpenLoopCoronaryVarRes
from ._blocks_closed_loop import (
    CLOSED_LOOP_BC_TYPES,
    closed_loop_initial,
    closed_loop_series,
    read_closed_loop_bc,
    read_closed_loop_blocks,
)
from ._kept import run_kept
from ._model import ZeroDModel
from ._solve import Integrator, check_result, failed_state, simulate_zerod, spectral_radius
from ._topology import Network
from ._waveform import Waveform, as_waveform

__all__ = ["SvZeroDConfig", "SvZeroDResult", "read_svzerod", "run_svzerod", "svzerod_csv"]


@dataclass
class SvZeroDConfig:
    """A parsed svZeroDSolver configuration: the network, its block types, and the simulation settings."""

    network: Network
    block_types: dict
    period: float
    cycles: int
    points_per_cycle: int
    steady_initial: bool = True
    output_all_cycles: bool = False
    output_interval: int = 1
    output_variable_based: bool = False
    output_mean_only: bool = False
    initial_condition: dict = field(default_factory=dict)
    use_cycle_to_cycle_error: bool = False
    cycle_to_cycle_percent_error: float = 1.0
    output_derivative: bool = False
    vessel_caps: tuple = ()  # per vessel, the connection svZeroDSolver checks its cycles at ("up:down")

    @property
    def dt(self) -> float:
        return self.period / (self.points_per_cycle - 1)

    def describe(self, cycles: int | None = None) -> str:
        """One line: the blocks by type, the cycles and the period, e.g. "3 blocks (1 BloodVessel, 2 FLOW); 30
        cycles of 1 s (30 s simulated)". ``cycles``: the number run, where use_cycle_to_cycle_error chose it (the
        configured number otherwise)."""
        kinds: dict = {}
        for k in self.block_types.values():
            kinds[k] = kinds.get(k, 0) + 1
        blocks = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        n = len(self.block_types)
        c = self.cycles if cycles is None else cycles
        return (
            f"{n} block{'s' if n != 1 else ''} ({blocks}); {c} cycle{'s' if c != 1 else ''} of "
            f"{self.period:g} s ({c * self.period:g} s simulated)"
        )


_SIM_KEYS = {
    "number_of_cardiac_cycles",
    "number_of_time_pts_per_cardiac_cycle",
    "cardiac_period",
    "steady_initial",
    "output_all_cycles",
    "output_interval",
    "output_variable_based",
    "output_mean_only",
    "absolute_tolerance",
    "maximum_nonlinear_iterations",
    "rho_infty",
    "output_derivative",
    "max_iter_error_to_warning",
    "use_cycle_to_cycle_error",
    "sim_cycle_to_cycle_percent_error",
    "coupled_simulation",
}
# svZeroDSolver's own integrator settings (generalized-α: Newton tolerance and iterations per step, spectral radius):
# read and not used, as the module docstring says; organtwin's accuracy is set by its adaptive step control
_PEER_SOLVER_KEYS = ("absolute_tolerance", "maximum_nonlinear_iterations", "rho_infty", "max_iter_error_to_warning")

# Keys of each entry of a section that svZeroDSolver reads (``vessel_length`` is for its 1D/3D tools, kept here)
_ENTRY_KEYS = {
    "vessels": {
        "vessel_id", "vessel_name", "vessel_length", "zero_d_element_type", "zero_d_element_values",
        "boundary_conditions",
    },
    "boundary_conditions": {"bc_name", "bc_type", "bc_values"},
    "junctions": {
        "junction_name", "junction_type", "inlet_vessels", "outlet_vessels", "inlet_blocks", "outlet_blocks",
        "junction_values",
    },
    "chambers": {"name", "type", "values", "activation_function"},
    "valves": {"name", "type", "params"},
}  # fmt: skip

_COUPLING = (
    "organtwin couples through its own Python API instead: advance the compiled network with "
    "organtwin.flow.zerod.simulate_zerod over each coupling step, the exchanged flows and pressures given as "
    "FlowBC / PressureBC waveforms"
)


def _warn_unknown(d: dict, known, where: str) -> None:
    """Name every key of ``d`` that svZeroDSolver does not read (it ignores them silently) in one `NetworkWarning`
    line; keys starting with "_" are comments."""
    extra = [str(k) for k in d if not str(k).startswith("_") and k not in known]
    if extra:
        warnings.warn(
            f"svZeroD config: unknown key{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} in {where} "
            f"ignored (known: {', '.join(sorted(known))})",
            NetworkWarning,
            stacklevel=3,
        )


def _need(d: dict, key: str, where: str):
    if key not in d:
        raise NetworkError(f"svZeroD config: {where} lacks {key!r}; add it")
    return d[key]


def _check_keys(d: dict, allowed: set, where: str):
    for k in d:
        if not str(k).startswith("_") and k not in allowed:
            raise NetworkError(
                f"svZeroD config: unknown parameter {k!r} in {where}; allowed: {', '.join(sorted(allowed))}"
            )


def _num(d: dict, key: str, where: str, default=None) -> float:
    v = d.get(key, default)
    if v is None:
        raise NetworkError(f"svZeroD config: {where} lacks {key!r}; add it")
    if isinstance(v, list):
        if len(v) != 1:
            raise NetworkError(f"svZeroD config: {where} {key!r} must be one number here (got a list of {len(v)})")
        v = v[0]
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise NetworkError(f"svZeroD config: {where} {key!r} must be a number (got {v!r})") from None
    if not math.isfinite(x):
        raise NetworkError(f"svZeroD config: {where} {key!r} is not finite ({v!r})")
    return x


def _wave(d: dict, key: str, where: str):
    v = _need(d, key, where)
    if isinstance(v, list) and len(v) > 1:
        t = _need(d, "t", where)
        if not isinstance(t, list) or len(t) != len(v):
            raise NetworkError(
                f"svZeroD config: {where} has {len(v)} values of {key!r} but {len(t) if isinstance(t, list) else 1} times 't'"
            )
        try:
            return as_waveform(np.asarray(v, float), np.asarray(t, float))
        except NetworkError as e:
            raise NetworkError(f"svZeroD config: {where}: {e}") from None
    return as_waveform(_num(d, key, where))


def _activation(a: dict, name: str, period: float):
    if not isinstance(a, dict) or "type" not in a:
        raise NetworkError(f"svZeroD config: chamber {name} lacks activation_function {{'type': ...}}")
    kind = a["type"]
    where = f"activation_function of chamber {name}"
    if kind == "piecewise_cosine":
        _check_keys(a, {"type", "contract_start", "relax_start", "contract_duration", "relax_duration"}, where)
        return DoubleCosine(
            _num(a, "contract_start", where),
            _num(a, "contract_duration", where),
            _num(a, "relax_duration", where),
            period,
            relax_start=_num(a, "relax_start", where),
        )
    if kind == "half_cosine":
        _check_keys(a, {"type", "t_active", "t_twitch"}, where)
        return HalfCosine(_num(a, "t_active", where), _num(a, "t_twitch", where), period)
    if kind == "two_hill":
        _check_keys(a, {"type", "t_shift", "tau_1", "tau_2", "m1", "m2"}, where)
        t_shift, tau_1, tau_2, m1, m2 = (_num(a, k, where) for k in ("t_shift", "tau_1", "tau_2", "m1", "m2"))
        return TwoHill(t_shift, tau_1, tau_2, m1, m2, period)
    if kind == "wrapping_cosine":
        _check_keys(a, {"type", "Tsa", "tpwave"}, where)
        return WrappingCosine(_num(a, "Tsa", where), _num(a, "tpwave", where), period)
    if kind == "fourier":
        _check_keys(a, {"type"}, where)
        return Fourier(period)
    raise NetworkError(
        f"svZeroD config: chamber {name}: activation type {kind!r} is not supported "
        "(supported: piecewise_cosine, half_cosine, two_hill, wrapping_cosine, fourier)"
    )


_SPHERE_KEYS = (
    "rho", "thick0", "radius0", "W1", "W2", "eta", "sigma_max", "alpha_max", "alpha_min", "tsys", "tdias", "steepness"
)  # fmt: skip


def _vessel_block(kind: str, name: str, vals: dict, where: str):
    """A BloodVesselRC (Rpd, Cp) or a ChamberSphere (its twelve parameters) from its zero_d_element_values."""
    if kind == "BloodVesselRC":
        _check_keys(vals, {"Rpd", "Cp"}, where)
        return BloodVesselRC(name, _num(vals, "Rpd", where), _num(vals, "Cp", where))
    _check_keys(vals, set(_SPHERE_KEYS), where)
    return ChamberSphere(name, *(_num(vals, k, where) for k in _SPHERE_KEYS))


def read_svzerod(config: dict | str | os.PathLike) -> SvZeroDConfig:
    """Parse an svZeroDSolver configuration (a dict or a JSON file)."""
    if not isinstance(config, dict):
        path = Path(config)
        try:
            config = json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is fine
        except FileNotFoundError:
            raise NetworkError(f"svZeroD config {path}: no such file") from None
        except UnicodeDecodeError as e:
            raise NetworkError(
                f"svZeroD config {path}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"
            ) from None
        except json.JSONDecodeError as e:
            raise NetworkError(
                f"svZeroD config {path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}"
            ) from None
    if not isinstance(config, dict):
        raise NetworkError("svZeroD config: the top level must be a JSON object")
    _warn_unknown(
        config,
        {
            "simulation_parameters",
            "vessels",
            "junctions",
            "boundary_conditions",
            "chambers",
            "valves",
            "initial_condition",
            "initial_condition_d",
            "closed_loop_blocks",
            "external_solver_coupling_blocks",
            "description",
        },
        "the top level",
    )
    if config.get("external_solver_coupling_blocks"):
        raise NetworkError(
            "svZeroD config: external_solver_coupling_blocks are not supported (svZeroDSolver's coupling to another "
            f"solver through its C interface); {_COUPLING}"
        )
    sim = _need(config, "simulation_parameters", "the top level")
    if not isinstance(sim, dict):
        raise NetworkError("svZeroD config: simulation_parameters must be a JSON object")
    _warn_unknown(sim, _SIM_KEYS, "simulation_parameters")
    for sec, known in _ENTRY_KEYS.items():
        entries = config.get(sec, [])
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(e, dict):
                _warn_unknown(e, known, f"{sec}[{i}]")
                if sec == "vessels" and isinstance(e.get("boundary_conditions"), dict):
                    _warn_unknown(e["boundary_conditions"], {"inlet", "outlet"}, f"vessels[{i}] boundary_conditions")
    cycles = _whole(sim, "number_of_cardiac_cycles", 1)  # counts first: checked before anything is built
    pts = _whole(sim, "number_of_time_pts_per_cardiac_cycle", 2)
    interval = _whole(sim, "output_interval", 1, default=1)
    if sim.get("coupled_simulation"):
        raise NetworkError(
            "svZeroD config: coupled_simulation is not supported (svZeroDSolver stepped by another solver through its "
            f"C interface); {_COUPLING}"
        )
    use_c2c = bool(sim.get("use_cycle_to_cycle_error", False))
    percent = _num(sim, "sim_cycle_to_cycle_percent_error", "simulation_parameters", 1.0)
    if use_c2c and not 0 < percent < 100:
        raise NetworkError(
            f"svZeroD config: simulation_parameters 'sim_cycle_to_cycle_percent_error' must be between 0 and 100 "
            f"(percent), got {percent:g}"
        )
    if use_c2c and cycles < 2:
        raise NetworkError(
            "svZeroD config: use_cycle_to_cycle_error compares the last two cycles: number_of_cardiac_cycles must be "
            f"at least 2, got {cycles}"
        )
    if config.get("initial_condition_d"):
        warnings.warn(
            "svZeroD config: initial_condition_d (svZeroDSolver's initial time derivatives, which start its "
            "generalized-α integrator) is not used: organtwin integrates an ODE, whose rates at the start follow from "
            "the initial state; output_derivative writes 0 at t = 0",
            NetworkWarning,
            stacklevel=2,
        )
    if "boundary_conditions" not in config:
        raise NetworkError("svZeroD config: define boundary_conditions (an empty list for a closed loop)")

    blocks, types, conns = [], {}, []
    bcs = {}
    for i, bc in enumerate(config.get("boundary_conditions", [])):
        where = f"boundary_conditions[{i}]"
        name, kind = _need(bc, "bc_name", where), _need(bc, "bc_type", where)
        vals = _need(bc, "bc_values", where)
        where = f"boundary condition {name}"
        if kind == "FLOW":
            _check_keys(vals, {"Q", "t"}, where)
            b = FlowBC(name, _wave(vals, "Q", where))
        elif kind == "PRESSURE":
            _check_keys(vals, {"P", "t"}, where)
            b = PressureBC(name, _wave(vals, "P", where))
        elif kind == "RESISTANCE":
            _check_keys(vals, {"R", "Pd", "t"}, where)
            b = ResistanceBC(name, _num(vals, "R", where), _wave(vals, "Pd", where))
        elif kind == "RCR":
            _check_keys(vals, {"Rp", "C", "Rd", "Pd", "t"}, where)
            b = WindkesselRCR(
                name,
                _num(vals, "Rp", where),
                _num(vals, "C", where),
                _num(vals, "Rd", where),
                _num(vals, "Pd", where, 0.0),
            )
        elif kind == "ClosedLoopRCR":
            # closed_loop_outlet joins the outlet to the ClosedLoopHeartAndPulmonary (read_closed_loop_blocks); without
            # that block svZeroDSolver ignores it, and so do we: the outlet is the vessel naming this BC as its inlet
            _check_keys(vals, {"Rp", "C", "Rd", "closed_loop_outlet"}, where)
            if not isinstance(vals.get("closed_loop_outlet", False), bool):
                raise NetworkError(f"svZeroD config: {where} 'closed_loop_outlet' must be true or false")
            b = ClosedLoopRCR(name, _num(vals, "Rp", where), _num(vals, "C", where), _num(vals, "Rd", where))
        elif kind in CLOSED_LOOP_BC_TYPES:
            b = read_closed_loop_bc(kind, name, vals, where)
        elif kind == "CORONARY":
            _check_keys(vals, {"Ra1", "Ra2", "Rv1", "Ca", "Cc", "P_v", "Pim", "t"}, where)
            b = OpenLoopCoronary(
                name,
                *(_num(vals, k, where) for k in ("Ra1", "Ra2", "Rv1", "Ca", "Cc")),
                pim=_wave(vals, "Pim", where),
                pv=_num(vals, "P_v", where, 0.0),
            )
        elif kind == "CORONARY_VAR_RES":
            keys = ("Ra1", "Ra2_min", "Ra2_max", "Rv1", "Ca", "Cc", "T_vc", "T_vr")
            _check_keys(vals, {*keys, "P_v", "Pim", "t", "closed_loop_outlet"}, where)
            b = OpenLoopCoronaryVarRes(  # (its period is set below, once the configuration's period is known)
                name,
                *(_num(vals, k, where) for k in keys),
                pim=_wave(vals, "Pim", where),
                pv=_num(vals, "P_v", where, 0.0),
            )
        else:
            raise NetworkError(
                f"svZeroD config: {where}: bc_type {kind!r} is not supported "
                "(supported: FLOW, PRESSURE, RESISTANCE, RCR, ClosedLoopRCR, ClosedLoopCoronaryLeft, "
                "ClosedLoopCoronaryRight, CORONARY, CORONARY_VAR_RES)"
            )
        bcs[name] = b
        types[name] = kind

    vessel_ids, caps = {}, []
    for i, v in enumerate(config.get("vessels", [])):
        where = f"vessels[{i}]"
        name = _need(v, "vessel_name", where)
        kind = v.get("zero_d_element_type", "BloodVessel")
        if kind not in ("BloodVessel", "BloodVesselCRL", "BloodVesselRC", "ChamberSphere"):
            raise NetworkError(
                f"svZeroD config: vessel {name}: zero_d_element_type {kind!r} is not supported "
                "(supported: BloodVessel, BloodVesselCRL, BloodVesselRC, ChamberSphere)"
            )
        vals = _need(v, "zero_d_element_values", where)
        where = f"vessel {name}"
        if kind in ("BloodVesselRC", "ChamberSphere"):
            blocks.append(_vessel_block(kind, name, vals, where))
        else:
            _check_keys(vals, {"R_poiseuille", "C", "L", "stenosis_coefficient"}, where)
            cls = BloodVessel if kind == "BloodVessel" else BloodVesselCRL
            blocks.append(
                cls(
                    name,
                    _num(vals, "R_poiseuille", where),
                    _num(vals, "C", where, 0.0),
                    _num(vals, "L", where, 0.0),
                    _num(vals, "stenosis_coefficient", where, 0.0),
                )
            )
        types[name] = kind
        vessel_ids[v.get("vessel_id", i)] = name
        vb = v.get("boundary_conditions", {})
        if "outlet" in vb:  # svZeroDSolver's cap of a vessel (Solver::get_vessel_caps_dof_indices): outlet first
            caps.append(f"{name}:{vb['outlet']}")
        elif "inlet" in vb:
            caps.append(f"{vb['inlet']}:{name}")
        for side in ("inlet", "outlet"):
            if side in vb:
                if vb[side] not in bcs:
                    raise NetworkError(
                        f"svZeroD config: vessel {name} names unknown {side} boundary condition {vb[side]!r}"
                    )
                conns.append((vb[side], name) if side == "inlet" else (name, vb[side]))
    blocks.extend(bcs.values())

    period = sim.get("cardiac_period", -1.0)
    if isinstance(period, bool) or not isinstance(period, (int, float)) or math.isnan(period) or period == math.inf:
        raise NetworkError(
            f"svZeroD config: simulation_parameters 'cardiac_period' must be a finite number of seconds, got {period!r}"
        )
    waves = [
        w
        for b in bcs.values()
        for w in (
            getattr(b, "flow", None),
            getattr(b, "pressure", None),
            getattr(b, "pd", None),
            getattr(b, "pim", None),
        )
        if isinstance(w, Waveform) and not w.is_constant
    ]
    for w in waves:
        if period > 0 and abs(w.period - period) > 1e-12 * max(1.0, period):
            raise NetworkError(f"svZeroD config: waveforms with periods {w.period} and {period} s; make them agree")
        period = w.period
    cl_blocks, cl_types, cl_conns, period = read_closed_loop_blocks(config, bcs, float(period), bool(waves))
    blocks, conns = blocks + cl_blocks, conns + cl_conns
    types.update(cl_types)
    period = float(period) if period and period > 0 else 1.0
    for i, b in enumerate(blocks):  # blocks that repeat with the heart period (ChamberSphere, CORONARY_VAR_RES)
        if isinstance(b, (ChamberSphere, OpenLoopCoronaryVarRes)):
            blocks[i] = eqx.tree_at(lambda x: x.period, b, _num({"T": period}, "T", f"block {b.name}"))

    for i, ch in enumerate(config.get("chambers", [])):
        where = f"chambers[{i}]"
        name, kind = _need(ch, "name", where), _need(ch, "type", where)
        vals = _need(ch, "values", where)
        where = f"chamber {name}"
        act = _activation(ch.get("activation_function"), name, period)
        if kind == "ChamberElastanceInductor":
            _check_keys(vals, {"Emax", "Emin", "Vrd", "Vrs", "Impedance"}, where)
            emax, emin = _num(vals, "Emax", where), _num(vals, "Emin", where)
            b = Chamber(
                name,
                emax - emin,
                emin,
                _num(vals, "Vrd", where),
                act,
                v_rest_systolic=_num(vals, "Vrs", where),
                inductance=_num(vals, "Impedance", where),
            )
        elif kind == "ChamberElastanceInductorExponential":
            _check_keys(vals, {"Emax", "Impedance", "Kxp", "Kxv", "Vaso"}, where)
            e_max, kxp, kxv, vaso = (_num(vals, k, where) for k in ("Emax", "Kxp", "Kxv", "Vaso"))
            b = ExponentialChamber(name, e_max, kxp, kxv, vaso, act, inductance=_num(vals, "Impedance", where))
        elif kind == "LinearElastanceChamber":
            _check_keys(vals, {"Emax", "Epass", "Vrest"}, where)
            b = Chamber(name, _num(vals, "Emax", where), _num(vals, "Epass", where), _num(vals, "Vrest", where), act)
        else:
            raise NetworkError(
                f"svZeroD config: {where}: type {kind!r} is not supported "
                "(supported: ChamberElastanceInductor, ChamberElastanceInductorExponential, LinearElastanceChamber)"
            )
        blocks.append(b)
        types[name] = kind

    for i, j in enumerate(config.get("junctions", [])):
        where = f"junctions[{i}]"
        name, kind = _need(j, "junction_name", where), _need(j, "junction_type", where)
        where = f"junction {name}"
        if kind in ("NORMAL_JUNCTION", "internal_junction"):
            blocks.append(Junction(name))
        elif kind == "resistive_junction":
            vals = _need(j, "junction_values", where)
            _check_keys(vals, {"R"}, where)
            r = _need(vals, "R", where)
            n_ports = len(j.get("inlet_vessels", j.get("inlet_blocks", []))) + len(
                j.get("outlet_vessels", j.get("outlet_blocks", []))
            )
            if not isinstance(r, list) or len(r) != n_ports:
                raise NetworkError(
                    f"svZeroD config: {where}: 'R' must be a list of {n_ports} resistances, one per "
                    f"inlet then one per outlet (got {r!r})"
                )
            blocks.append(ResistiveJunction(name, np.asarray([_num({"R": x}, "R", where) for x in r], float)))
        elif kind == "BloodVesselJunction":
            vals = _need(j, "junction_values", where)
            _check_keys(vals, {"R_poiseuille", "L", "stenosis_coefficient"}, where)
            arr = lambda k, vals=vals, where=where: np.asarray(_need(vals, k, where), float)
            blocks.append(BloodVesselJunction(name, arr("R_poiseuille"), arr("L"), arr("stenosis_coefficient")))
        else:
            raise NetworkError(
                f"svZeroD config: {where}: junction_type {kind!r} is not supported "
                "(supported: NORMAL_JUNCTION, BloodVesselJunction, resistive_junction)"
            )
        types[name] = kind
        if "inlet_vessels" in j:
            ins = [vessel_ids.get(k) for k in j["inlet_vessels"]]
            outs = [vessel_ids.get(k) for k in _need(j, "outlet_vessels", where)]
            if None in ins + outs:
                raise NetworkError(f"svZeroD config: {where} names a vessel id that no vessel has")
        else:
            ins, outs = _need(j, "inlet_blocks", where), _need(j, "outlet_blocks", where)
        conns += [(v, name) for v in ins] + [(name, v) for v in outs]

    for i, v in enumerate(config.get("valves", [])):
        where = f"valves[{i}]"
        name, kind = _need(v, "name", where), _need(v, "type", where)
        p = _need(v, "params", where)
        where = f"valve {name}"
        if kind == "ValveTanh":
            _check_keys(p, {"Rmax", "Rmin", "Steepness", "upstream_block", "downstream_block"}, where)
            b = Valve(name, _num(p, "Rmin", where), _num(p, "Rmax", where), _num(p, "Steepness", where), ValveLaw.TANH)
        elif kind == "PiecewiseValve":
            _check_keys(p, {"Rmax", "Rmin", "upstream_block", "downstream_block"}, where)
            b = Valve(name, _num(p, "Rmin", where), _num(p, "Rmax", where), law=ValveLaw.PIECEWISE)
        else:
            raise NetworkError(
                f"svZeroD config: {where}: type {kind!r} is not supported (supported: ValveTanh, PiecewiseValve)"
            )
        blocks.append(b)
        types[name] = kind
        conns += [(_need(p, "upstream_block", where), name), (name, _need(p, "downstream_block", where))]

    net = Network(blocks, conns)
    cfg = SvZeroDConfig(
        net,
        types,
        period,
        cycles,
        pts,
        bool(sim.get("steady_initial", True)),
        bool(sim.get("output_all_cycles", False)),
        interval,
        bool(sim.get("output_variable_based", False)),
        bool(sim.get("output_mean_only", False)),
        dict(config.get("initial_condition", {})),
        use_c2c,
        percent,
        bool(sim.get("output_derivative", False)),
        tuple(caps),
    )
    _check_output_size(cfg)
    return cfg


def _whole(sim: dict, key: str, minimum: int, default=None) -> int:
    """A whole-number simulation parameter (an int, or a float like 2.0), at least ``minimum``: one line otherwise."""
    v = sim.get(key, default)
    if v is None:
        raise NetworkError(f"svZeroD config: simulation_parameters lacks {key!r}; add it")
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise NetworkError(f"svZeroD config: simulation_parameters {key!r} must be a whole number, got {v!r}")
    if v < minimum:
        raise NetworkError(f"svZeroD config: simulation_parameters {key!r} must be at least {minimum}, got {v}")
    if v > INT32_MAX:
        raise NetworkError(
            f"svZeroD config: simulation_parameters {key!r} = {v:,} is above the limit of "
            f"{INT32_MAX:,} (int32 counts under jit); use a smaller number"
        )
    return v


def _output_times(cfg: SvZeroDConfig) -> int:
    """How many times `run_svzerod` reports (without building them)."""
    n = cfg.points_per_cycle
    if cfg.output_all_cycles:
        return ((n - 1) * cfg.cycles) // cfg.output_interval + 1
    return (n - 1) // cfg.output_interval + 2


def _check_output_size(cfg: SvZeroDConfig) -> None:
    """Output times x values per time against int32 and memory, before any array of times is made: one line."""
    from ..._sizes import INT32_MAX as limit
    from ..._sizes import SizeError, check_bytes

    k = _output_times(cfg)
    per = 2 * len(cfg.network.connections) + len(cfg.block_types) + 1  # pressure and flow per connection, states
    what = (
        f"svZeroD config: number_of_time_pts_per_cardiac_cycle {cfg.points_per_cycle:,}"
        + (f" x number_of_cardiac_cycles {cfg.cycles:,}" if cfg.output_all_cycles else "")
        + (f" / output_interval {cfg.output_interval:,}" if cfg.output_interval > 1 else "")
        + f" = {k:,} output times"
    )
    fix = (
        "use fewer number_of_time_pts_per_cardiac_cycle"
        + (", fewer cycles or output_all_cycles false" if cfg.output_all_cycles else "")
        + " or a larger output_interval"
    )
    if k > limit:
        raise NetworkError(f"{what}, above the limit of {limit:,} (int32 indices under jit); {fix}")
    try:
        check_bytes(
            float(k) * per * (8 + 8 + 20),
            what=f"{what} x {per} values (8 B on the device + 8 B on the host + ~20 B of CSV text each)",
            fix=fix,
        )
    except SizeError as e:
        raise NetworkError(str(e)) from None


def _initial_state(cfg: SvZeroDConfig, model: ZeroDModel, dtype):
    st = model.structure
    ic = cfg.initial_condition
    p_all, q_all = ic.get("pressure_all"), ic.get("flow_all")
    term = dict(st.terminal_nodes)
    pressure, flow, volume, states = {}, {}, {}, {}
    # every connection's pressure, then capacitor points derived from vessel inlets where not given
    for up, down in st.connections:
        t = f"{up}:{down}"
        v = ic.get(f"pressure:{t}", p_all)
        if v is not None:
            pressure.setdefault(st.node_names[term[t]], float(v))
    for name, b in model.blocks.items():
        kind = cfg.block_types.get(name)
        if kind == "BloodVessel":
            c = f"c:{name}"
            if c in term and st.node_names[term[c]] not in pressure:
                t_in = next((f"{u}:{d}" for u, d in st.connections if d == name), None)
                p_in = float(ic.get(f"pressure:{t_in}", p_all or 0.0))
                q_in = float(ic.get(f"flow:{t_in}", q_all or 0.0))
                r, s = float(np.asarray(b.resistance)), float(np.asarray(b.stenosis))
                pressure[st.node_names[term[c]]] = p_in - r * q_in - s * abs(q_in) * q_in
            t_out = next((f"{u}:{d}" for u, d in st.connections if u == name), None)
            q = ic.get(f"flow:{t_out}", q_all)
            if q is not None and float(np.asarray(b.inductance)) > 0:
                flow[f"{name}.L"] = float(q)
        elif kind == "BloodVesselCRL":  # capacitor at the inlet point (a connection); inductor flow = outlet flow
            t_out = next((f"{u}:{d}" for u, d in st.connections if u == name), None)
            q = ic.get(f"flow:{t_out}", q_all)
            if q is not None and float(np.asarray(b.inductance)) > 0:
                flow[f"{name}.RL"] = float(q)
        elif kind in ("CORONARY", "CORONARY_VAR_RES"):  # (the latter with its Ra2 at t = 0, as svZeroDSolver)
            # P_a = P_in − Ra1 Q_in; svZeroDSolver 3.2 counts volume_im from P_c,0 = P_in − (Ra1 + Ra2) Q_in (its
            # initial P_c with zero rates), so P_c = P_c,0 + volume_im / Cc (volume_im default 0)
            ta, tc = f"pressure_a:{name}", f"pressure_c:{name}"
            t_in = next(f"{u}:{d}" for u, d in st.connections if d == name)
            p_in = float(ic.get(f"pressure:{t_in}", p_all or 0.0))
            q_in = float(ic.get(f"flow:{t_in}", q_all or 0.0))
            ra1, ra2, cc = (float(np.asarray(getattr(b, k))) for k in ("ra1", "ra2", "cc"))
            if ta in term and st.node_names[term[ta]] not in pressure:
                pressure[st.node_names[term[ta]]] = p_in - ra1 * q_in
            if tc in term and cc > 0 and st.node_names[term[tc]] not in pressure:
                v_im = float(ic.get(f"volume_im:{name}", 0.0))
                pressure[st.node_names[term[tc]]] = p_in - (ra1 + ra2) * q_in + v_im / cc
        elif kind == "ClosedLoopRCR":
            v = ic.get(f"P_c:{name}", p_all)
            if v is not None and f"P_c:{name}" in term:
                pressure.setdefault(st.node_names[term[f"P_c:{name}"]], float(v))
        elif kind == "ChamberSphere":  # its own states (0 unless given: svZeroDSolver's default)
            states.update({f"{k}:{name}": float(ic[f"{k}:{name}"]) for k in b.state_names if f"{k}:{name}" in ic})
        elif kind in ("ChamberElastanceInductor", "ChamberElastanceInductorExponential", "LinearElastanceChamber"):
            if f"Vc:{name}" in ic:
                volume[name] = float(ic[f"Vc:{name}"])
            else:
                volume[name] = 0.0  # svZeroDSolver's default for a missing initial value
        elif kind == "RCR":
            v = ic.get(f"pressure_c:{name}", p_all)
            if v is not None:
                pressure[f"pressure_c:{name}"] = float(v)
        elif kind == "BloodVesselJunction":
            for i, (u, d) in enumerate([c for c in st.connections if c[0] == name]):
                q = ic.get(f"flow:{u}:{d}", q_all)
                if q is not None and float(np.asarray(b.inductance)[i]) > 0:
                    flow[f"{name}.R{i}"] = float(q)
    known = set(st.node_names)
    pressure = {k: v for k, v in pressure.items() if k in known}
    return model.initial_state(
        pressure=pressure, volume=volume, flow=flow, dtype=dtype, **({"states": states} if states else {})
    )


@dataclass
class SvZeroDResult:
    """Times and, per connection, pressure and flow; per chamber, volume; per RCR, capacitor pressure."""

    config: SvZeroDConfig
    model: ZeroDModel
    times: np.ndarray
    observed: dict
    cycles: int  # cycles run
    cycle_change: float = float("nan")  # use_cycle_to_cycle_error: the caps' last relative change (`run_svzerod`)
    cycle_rule: str = ""  # use_cycle_to_cycle_error: how the number of cycles was chosen, one phrase

    def describe(self) -> str:
        """`SvZeroDConfig.describe` with the cycles run, and with use_cycle_to_cycle_error how they were chosen."""
        line = self.config.describe(self.cycles)
        return f"{line} ({self.cycle_rule})" if self.cycle_rule else line


def run_svzerod(
    cfg: SvZeroDConfig, *, integrator: Integrator | None = None, dtype=None, kept: str | os.PathLike | None = None
) -> SvZeroDResult:
    """Run like ``svzerodsolver``: ``cycles`` cycles from the (steady or given) initial state, observed at the
    configuration's time points (the last cycle, shifted to start at 0, unless output_all_cycles).

    With use_cycle_to_cycle_error, the number of cycles is svZeroDSolver's (Solver.cpp): with an RCR boundary
    condition, ⌈−τ/T ln ε⌉ for the largest RCR time constant τ = Rd C, period T and ε the fraction
    sim_cycle_to_cycle_percent_error / 100 (Pfaller et al. 2021, "On the periodicity of cardiovascular fluid
    dynamics simulations", Ann Biomed Eng 49:3574, eq. 21), replacing number_of_cardiac_cycles; without one, the
    configured cycles and then one more at a time until, at every vessel cap (a vessel's outlet if it has an outlet
    boundary condition, else its inlet), the mean flow and the mean pressure over the last cycle (its
    number_of_time_pts_per_cardiac_cycle points, both ends included) differ from those of the cycle before by at most
    ε, relative. ``SvZeroDResult.cycles`` is the number run and ``cycle_change`` the largest relative change of those
    means between the last two cycles. The output is then all the cycles run (output_all_cycles; the time keeps
    counting where svZeroDSolver's restarts from 0 in the cycles it adds) or the last one: the converged cycle, where
    svZeroDSolver keeps the last of the configured cycles.

    ``kept``: a folder where the traced solve is kept (`._kept.run_kept`, ``jax.export``) and from where a later run
    of a network of the same structure (other parameter values too) loads it instead of tracing it again."""
    _check_output_size(cfg)  # (read_svzerod checked it; again for a config built or changed by hand)
    model = cfg.network.compile()
    dtype = dtype or (jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)
    steady = _steady_start(cfg, model)
    y0 = model.initial_state(dtype=dtype) if steady else _initial_state(cfg, model, dtype)
    if not steady:  # the closed-loop heart's and coronaries' own states
        y0 = closed_loop_initial(cfg.initial_condition, model, cfg.block_types, y0)
    T, n = cfg.period, cfg.points_per_cycle
    cycles = _cycles_to_run(cfg, model)
    t_end = T * (cfg.cycles if cycles is None else cycles)
    kept = None if kept is None else Path(kept)
    integ = integrator or default_svzerod_integrator(model, dtype, cfg.dt, y0=y0, t_end=t_end, kept=kept)
    if cfg.use_cycle_to_cycle_error and cycles is None:
        return _run_until_periodic(cfg, model, y0, steady, integ, dtype)
    cycles = cfg.cycles if cycles is None else cycles
    if cycles != cfg.cycles:
        _check_output_size(dataclasses.replace(cfg, cycles=cycles))
    if cfg.output_all_cycles:
        times = np.arange(0, (n - 1) * cycles + 1, cfg.output_interval) * cfg.dt
        ts = times
    else:
        times = np.arange(0, n, cfg.output_interval) * cfg.dt
        if times[-1] < T - 1e-12 * T:
            times = np.append(times, T)
        ts = (cycles - 1) * T + times
    rates = cfg.output_derivative

    @eqx.filter_jit
    def run(m, y, integ):  # one compiled program: steady start, all cycles in one solve, observation
        if steady:  # volumes of capacitors referenced to a waveform carried to t = 0 (svZeroDSolver's volume_im)
            y = m.steady_state(y, t=0.0)
        sol = simulate_zerod(m, 0.0, float(ts[-1]), y, ts=jnp.asarray(ts, dtype), integrator=integ, throw=False)
        return _observed(m, sol, rates), y, sol.result, sol.failed_time, sol.failed_state

    first = None
    if kept is not None:  # (the network's arrays are the program's arguments; what it closes over is in its key)
        closed = f"{hashlib.sha256(np.asarray(ts, float).tobytes()).hexdigest()} {steady} {rates} {jnp.dtype(dtype)}"
        first = run_kept(run, (model, y0, integ), kept, "svzerod_run", closed)
    if first is not None:
        (obs, y_start), result, failed_time, y_stop = first, RESULTS.successful, None, None
    else:
        obs, y_start, result, failed_time, y_stop = run(model, y0, integ)
    if result != RESULTS.successful and integrator is None:
        for again in _fallbacks(integ, dtype, cfg.dt):
            obs, y_start, result, failed_time, y_stop = run(model, y0, again)
            if result == RESULTS.successful:
                break
    _check(result, model, failed_time, y_stop)  # one line: what failed, when, and in which state
    obs = {k: np.asarray(v) for k, v in obs.items()}
    obs["initial_state"] = np.asarray(y_start)  # the state at t = 0 (after the steady solve, if any)
    _rates_at_start(obs, bool(ts[0] == 0))  # (a Python bool: numpy's is not one)
    _configured_start(cfg, model, obs, bool(ts[0] == 0) and not steady)
    change = float("nan")
    if cfg.use_cycle_to_cycle_error and cfg.output_all_cycles and n > 1 and cfg.output_interval == 1:
        k = n - 1  # the criterion's value on the last two cycles, reported (svZeroDSolver prints it)
        last = {key: obs[key][-n:] for key in ("port_flow", "port_pressure")}
        prev = {key: obs[key][-2 * k - 1 : -k] for key in ("port_flow", "port_pressure")}
        change = _cap_change(cfg, model, prev, last)
    rule = ""
    if cfg.use_cycle_to_cycle_error:
        rule = (
            f"use_cycle_to_cycle_error: ⌈−τ/T ln ε⌉ cycles for the largest RCR time constant τ = "
            f"{_rcr_tau(cfg, model):.4g} s, ε = {cfg.cycle_to_cycle_percent_error:g} %"
        )
        if not math.isnan(change):
            rule += f"; the caps' mean flow and pressure then change by {100 * change:.2g} % from cycle to cycle"
    return SvZeroDResult(cfg, model, np.asarray(times), obs, cycles, change, rule)


def default_svzerod_integrator(
    model: ZeroDModel, dtype, dt: float, *, y0=None, t_end: float | None = None, kept: Path | None = None
) -> Integrator:
    """`run_svzerod`'s integrator when none is given, chosen by the network's stiffness at the start.

    Non-stiff (the usual case): Tsit5 (explicit) with a PID controller at rtol 1e-8 / atol 1e-10 (float64; 1e-5 /
    1e-6 in float32), first step a tenth of the output step ``dt``. Stiff: the spectral radius ρ of the right-hand
    side's Jacobian at (0, ``y0``) (`spectral_radius`) would hold Tsit5 to steps of about 3.5/ρ, more than
    `STIFF_STEPS` of them up to ``t_end``: Kvaerno3 (L-stable, third order) at a fixed tenth of the output step, Newton
    on each stage to rtol 1e-9 / atol 1e-4, as svZeroDSolver itself takes fixed implicit steps (generalized-α at its
    output step); where that fails, `run_svzerod` tries `_fallbacks` in turn. Without ``y0`` and ``t_end``: Tsit5.
    ``kept``: a folder for the traced Jacobian (`spectral_radius`).
    (Measured on svZeroDSolver's chamber_elastance_inductor: implicit Euler at the same step, first order, is 1.06 %
    of range from the converged peer, Kvaerno3 5e-4.)"""
    f64 = jnp.dtype(dtype) == jnp.float64
    if y0 is not None and t_end is not None and spectral_radius(model, 0.0, y0, kept=kept) * t_end / 3.5 > STIFF_STEPS:
        return _fixed_implicit(dtype, dt, euler=False)
    return Integrator.adaptive(rtol=1e-8 if f64 else 1e-5, atol=1e-10 if f64 else 1e-6, dt0=dt / 10)


# explicit steps (a tenth of Integrator's max_steps) beyond which run_svzerod's default is implicit
STIFF_STEPS = 20_000


def _fallbacks(integ: Integrator, dtype, dt: float) -> list[Integrator]:
    """What `run_svzerod`'s default tries next, in turn, when its first choice fails. After explicit Tsit5 (the
    network was not stiff at t = 0 but turned stiff later, e.g. where a valve opens onto a tiny time constant, and
    Tsit5 reached its step limit): the stiff default, fixed-step Kvaerno3; after it (its Newton failing on the
    round-off of flows over tiny compliances, stiff_rc.json): implicit Euler at the same step (first order, no stages
    to converge); last (fixed-step Newton failing at steep valves): adaptive Kvaerno5 (`Integrator.implicit`)."""
    chain = [_fixed_implicit(dtype, dt, euler=False), _fixed_implicit(dtype, dt, euler=True), Integrator.implicit()]
    kinds = [diffrax.Kvaerno3, diffrax.ImplicitEuler, diffrax.Kvaerno5]
    done = next((i for i, k in enumerate(kinds) if isinstance(integ.solver, k)), -1)
    return chain[done + 1 :]


def _fixed_implicit(dtype, dt: float, *, euler: bool) -> Integrator:
    """Kvaerno3 (or implicit Euler) at a tenth of the output step, Newton to rtol 1e-9 / atol 1e-4 (float64; 1e-5 /
    1e-2 in float32): `default_svzerod_integrator` for a stiff network, and its fallback."""
    f64 = jnp.dtype(dtype) == jnp.float64
    rtol, atol = (1e-9, 1e-4) if f64 else (1e-5, 1e-2)
    if euler:
        return Integrator.implicit_euler(dt / 10, newton_rtol=rtol, newton_atol=atol)
    newton = optx.Newton(rtol=rtol, atol=atol, norm=optx.max_norm)
    return Integrator(diffrax.Kvaerno3(root_finder=newton), diffrax.ConstantStepSize(), dt / 10)


def _observed(m: ZeroDModel, sol, rates: bool) -> dict:
    """What the CSV needs of a solve (traced): `ZeroDModel.observe` at the saved times, the blocks' own states and,
    with ``rates`` (output_derivative), the time derivative of every observed quantity, "d_" + its key: d/dt
    observe(t, y(t)) = ∂observe/∂t + ∂observe/∂y · rhs(t, y), exact (forward mode), where svZeroDSolver writes its
    integrator's ẏ. At a corner of a piecewise-linear waveform (output times often fall on them) it is the derivative
    from the left, the one the solution arrives with, as svZeroDSolver's ẏ is: the rate is taken 1e-9 of the time
    scale before the output time (the state's own motion over that is below the integration tolerance)."""
    obs = sol.observe()
    obs["own_states"] = sol.ys[:, m.structure.n_state - m.structure.n_internal :]  # (blocks' own states: last)
    if rates:
        scale = jnp.maximum(jnp.abs(sol.ts[-1]), 1.0)

        def rate(t, y):
            t = t - jnp.maximum(1e-9, 8 * jnp.finfo(y.dtype).eps) * scale
            return jax.jvp(m.observe, (t, y), (jnp.ones_like(t), m.rhs(t, y)))[1]

        obs.update({f"d_{k}": v for k, v in jax.vmap(rate)(sol.ts, sol.ys).items()})
    return obs


def _check(result, model: ZeroDModel, failed_time, y_stop) -> None:
    """A failed solve as one `NetworkError` line naming the time and the state that failed (`failed_state`)."""
    if result != RESULTS.successful:
        check_result(result, "svZeroD config", failed_time, failed_state(model, failed_time, y_stop))


def _rates_at_start(obs: dict, at_start: bool) -> None:
    """The rates written at t = 0, the start (when it is written): those of the state before it, 0, as svZeroDSolver
    writes its initial ẏ there (the steady state's, or initial_condition_d's default 0)."""
    if at_start:
        for k in obs:
            if k.startswith("d_"):
                obs[k] = obs[k].copy()
                obs[k][0] = 0.0


def _configured_start(cfg: SvZeroDConfig, model: ZeroDModel, obs: dict, at_start: bool) -> None:
    """Without a steady start (steady_initial false), the port pressures and flows written at t = 0 (when it is
    written) are the configured initial values, as svZeroDSolver writes its initial vector there: initial_condition's
    ``pressure:<up>:<down>`` / ``flow:<up>:<down>``, else ``pressure_all`` / ``flow_all``, else 0, even where a
    prescribed inflow or the network's balance says otherwise (its first step makes them consistent; organtwin's
    solution is consistent from t = 0 on, and only this written row follows the peer). The states (capacitor
    pressures, volumes, inductor flows) start from the same configured values in both."""
    if not at_start:
        return
    ic = cfg.initial_condition
    for key, kind in (("port_pressure", "pressure"), ("port_flow", "flow")):
        obs[key] = np.array(obs[key])
        for i, row in enumerate(model.structure.ports):
            obs[key][0, i] = float(ic.get(f"{kind}:{row.name}", ic.get(f"{kind}_all", 0.0)))


def _cycles_to_run(cfg: SvZeroDConfig, model: ZeroDModel) -> int | None:
    """use_cycle_to_cycle_error with an RCR: svZeroDSolver's number of cycles, ⌈−τ/T ln ε⌉ (at least 1); None when it
    is not asked for (the configured number) or when the cycles are to be run until the caps converge."""
    if not cfg.use_cycle_to_cycle_error:
        return None
    tau = _rcr_tau(cfg, model)
    if tau is None:
        return None
    return max(1, math.ceil(-tau / cfg.period * math.log(cfg.cycle_to_cycle_percent_error / 100.0)))


def _rcr_tau(cfg: SvZeroDConfig, model: ZeroDModel) -> float | None:
    """The largest Rd C of the RCR boundary conditions (svZeroDSolver's largest Windkessel time constant), s."""
    taus = [
        float(np.asarray(model.blocks[name].rd)) * float(np.asarray(model.blocks[name].c))
        for name, kind in cfg.block_types.items()
        if kind == "RCR"
    ]
    return max(taus) if taus else None


def _cap_change(cfg: SvZeroDConfig, model: ZeroDModel, prev: dict, last: dict) -> float:
    """svZeroDSolver's cycle-to-cycle error (Solver::get_cycle_to_cycle_errors_in_flow_and_pressure): at every vessel
    cap, |mean(last) − mean(prev)| / |mean(prev)| of the flow and of the pressure over the two cycles' points; the
    largest (NaN ones, 0/0, are skipped as svZeroDSolver's comparison skips them; inf counts)."""
    port = {row[0]: i for i, row in enumerate(model.structure.ports)}
    worst = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for cap in cfg.vessel_caps:
            if cap not in port:
                continue
            for key in ("port_flow", "port_pressure"):
                a, b = np.mean(prev[key][:, port[cap]]), np.mean(last[key][:, port[cap]])
                e = abs((b - a) / a)
                if not np.isnan(e):
                    worst = max(worst, float(e))
    return worst


_MAX_EXTRA_CYCLES = 10_000


def _run_until_periodic(cfg: SvZeroDConfig, model: ZeroDModel, y0, steady: bool, integ: Integrator, dtype):
    """use_cycle_to_cycle_error without an RCR: cycle by cycle (one compiled cycle, its start time an argument, so
    no recompilation) until the configured cycles are run and `_cap_change` of the last two is at most ε."""
    T, n, k = cfg.period, cfg.points_per_cycle, cfg.points_per_cycle - 1
    tol = cfg.cycle_to_cycle_percent_error / 100.0
    rates = cfg.output_derivative
    steps = np.arange(n) * cfg.dt

    @jax.jit
    def start(m, y):
        return m.steady_state(y, t=0.0) if steady else y

    @jax.jit
    def cycle(m, y, ts):
        sol = simulate_zerod(m, ts[0], ts[-1], y, ts=ts, integrator=integ, throw=False)
        return _observed(m, sol, rates), sol.ys[-1], sol.result, sol.failed_time, sol.failed_state

    y = start(model, y0)
    y_start = np.asarray(y)
    kept: list = []  # every cycle's observation (output_all_cycles) or the last two
    change, done = float("nan"), 0
    while True:
        ts = done * T + steps
        obs, y, result, failed_time, y_stop = cycle(model, y, jnp.asarray(ts, dtype))
        _check(result, model, failed_time, y_stop)
        kept.append({key: np.asarray(v) for key, v in obs.items()})
        if not cfg.output_all_cycles:
            kept = kept[-2:]
        done += 1
        if done >= cfg.cycles:
            change = _cap_change(cfg, model, kept[-2], kept[-1])
            if change <= tol:
                break
        if done >= cfg.cycles + _MAX_EXTRA_CYCLES:
            raise NetworkError(
                f"svZeroD config: use_cycle_to_cycle_error: the mean flows and pressures at the vessel caps still "
                f"change by {100 * change:.3g} % from cycle to cycle after {done} cycles (asked: "
                f"{cfg.cycle_to_cycle_percent_error:g} %); raise sim_cycle_to_cycle_percent_error"
            )
    if cfg.output_all_cycles:  # the cycles end to end (each starts where the one before ended), every interval-th
        obs = {key: np.concatenate([kept[0][key]] + [c[key][1:] for c in kept[1:]]) for key in kept[0]}
        pick = np.arange(0, k * done + 1, cfg.output_interval)
        times = pick * cfg.dt
    else:
        obs = kept[-1]
        pick = np.arange(0, n, cfg.output_interval)
        if pick[-1] != k:
            pick = np.append(pick, k)
        times = pick * cfg.dt
    obs = {key: v[pick] for key, v in obs.items()}
    obs["initial_state"] = y_start
    _rates_at_start(obs, cfg.output_all_cycles)
    _configured_start(cfg, model, obs, cfg.output_all_cycles and not steady)
    rule = (
        f"use_cycle_to_cycle_error: run until the caps' mean flow and pressure change by at most "
        f"{cfg.cycle_to_cycle_percent_error:g} % from cycle to cycle; last change {100 * change:.2g} %"
    )
    return SvZeroDResult(cfg, model, times, obs, done, change, rule)


def _steady_start(cfg: SvZeroDConfig, model: ZeroDModel) -> bool:
    return bool(cfg.steady_initial and not model.structure.n_chamber and model.structure.n_pressure)


# svZeroDSolver creates the valves after the other blocks and the chambers last (SimulationParameters.cpp
# create_valves, create_chambers), so their internal variables come last in its variable-based CSV, in that order
_INTERNAL_ORDER = {
    "ValveTanh": 1,
    "ChamberElastanceInductor": 2,
    "ChamberElastanceInductorExponential": 2,
    "LinearElastanceChamber": 2,
}

# the blocks svZeroDSolver's vessel-based CSV lists (csv_writer.cpp)
_VESSEL_ROWS = ("BloodVessel", "BloodVesselCRL", "ChamberSphere", "LinearElastanceChamber", "PiecewiseValve")


def _internal_series(res: SvZeroDResult, name: str, kind: str) -> list:
    """svZeroDSolver's internal variables of a ChamberSphere (radius, velo, stress, tau, volume) or a ValveTanh
    (valve_status = ½(1 + tanh(k (P_out − P_in))), ValveTanh.cpp: 1 when closed), as (label, series) pairs."""
    st, b = res.model.structure, res.model.blocks[name]
    if kind == "ValveTanh":
        port = {row.name: i for i, row in enumerate(st.ports)}
        tin = next(f"{u}:{d}" for u, d in st.connections if d == name)
        tout = next(f"{u}:{d}" for u, d in st.connections if u == name)
        pp = res.observed["port_pressure"]
        dp = pp[:, port[tout]] - pp[:, port[tin]]
        return [(f"valve_status:{name}", 0.5 * (1.0 + np.tanh(float(np.asarray(b.steepness)) * dp)))]
    row = next(r for r in st.states if r.block == name)
    own = res.observed["own_states"][:, row.offset : row.offset + len(row.names)]
    radius, velo, tau, volume = (own[:, row.names.index(k)] for k in ("radius", "velo", "tau", "volume"))
    stress = np.asarray(b.stress(jnp.asarray(radius), jnp.asarray(velo), jnp.asarray(tau)))
    return [
        (f"{k}:{name}", v)
        for k, v in zip(("radius", "velo", "stress", "tau", "volume"), (radius, velo, stress, tau, volume))
    ]


def _check_finite(res: SvZeroDResult) -> None:
    """Refuse (one NetworkError) a result with a NaN or infinite value before anything is written: never a file of
    NaN with exit status 0."""
    times = np.asarray(res.times)
    for key, v in res.observed.items():
        a = np.asarray(v)
        if a.dtype.kind not in "fc" or np.all(np.isfinite(a)):
            continue
        bad = ~np.isfinite(a)
        where = ""
        if a.ndim and a.shape[0] == times.shape[0]:
            where = f", first at t = {float(times[np.argmax(bad.reshape(a.shape[0], -1).any(axis=1))]):g} s"
        raise NetworkError(
            f"svZeroD config: the solution has {int(bad.sum())} non-finite values in {key!r}{where}; nothing was "
            "written. The values may overflow (a flow or a parameter far beyond the units' range) or the network be "
            "singular: check its parameters"
        )


def svzerod_csv(res: SvZeroDResult, *, variable_based: bool | None = None, mean: bool | None = None) -> str:
    """The result in svZeroDSolver's CSV layout (vessel-based by default, or variable-based; csv_writer.cpp).

    With output_derivative (svZeroDSolver's layout): the vessel-based file gets d_flow_in, d_flow_out, d_pressure_in,
    d_pressure_out after the values, the variable-based one a ydot column after y; with output_mean_only each is the
    mean over the output times. Flows, pressures, chamber volumes, capacitor pressures and volume_im get their exact
    time derivative (`run_svzerod` computed it); the blocks' other internal variables (ChamberSphere's, the closed
    loop's) the second-order finite difference over the output times (numpy.gradient)."""
    _check_finite(res)
    cfg, st = res.config, res.model.structure
    variable_based = cfg.output_variable_based if variable_based is None else variable_based
    mean = cfg.output_mean_only if mean is None else mean
    derivative = cfg.output_derivative and "d_port_flow" in res.observed
    port = {name: i for i, (name, *_rest) in enumerate(st.ports)}
    pp, pq = res.observed["port_pressure"], res.observed["port_flow"]
    d = {k[2:]: v for k, v in res.observed.items() if k.startswith("d_")}  # exact rates, where computed
    out = io.StringIO()
    f = lambda x: f"{x:.16e}"

    def rows(name, series, rates=None):
        if derivative:
            if rates is None:
                rates = [np.gradient(s, res.times) if len(res.times) > 1 else np.zeros_like(s) for s in series]
            series = list(series) + list(rates)
        if mean:
            out.write(f"{name},," + ",".join(f(np.mean(s)) for s in series) + "\n")
        else:
            for k, t in enumerate(res.times):
                out.write(f"{name},{f(t)}," + ",".join(f(s[k]) for s in series) + "\n")

    if not variable_based:
        out.write(
            "name,time,flow_in,flow_out,pressure_in,pressure_out"
            + (",d_flow_in,d_flow_out,d_pressure_in,d_pressure_out" if derivative else "")
            + "\n"
        )
        for name, kind in cfg.block_types.items():
            if kind not in _VESSEL_ROWS:
                continue
            tin = next(f"{u}:{d}" for u, d in st.connections if d == name)
            tout = next(f"{u}:{d}" for u, d in st.connections if u == name)
            cols = [("port_flow", tin), ("port_flow", tout), ("port_pressure", tin), ("port_pressure", tout)]
            rows(
                name,
                [res.observed[k][:, port[c]] for k, c in cols],
                [d[k][:, port[c]] for k, c in cols] if derivative else None,
            )
        return out.getvalue()
    out.write("name,time,y,ydot\n" if derivative else "name,time,y\n")
    for up, down in st.connections:
        t = f"{up}:{down}"
        rows(f"flow:{t}", [pq[:, port[t]]], [d["port_flow"][:, port[t]]] if derivative else None)
        rows(f"pressure:{t}", [pp[:, port[t]]], [d["port_pressure"][:, port[t]]] if derivative else None)
    names = {n: i for i, n in enumerate(st.node_names)}
    term = dict(st.terminal_nodes)
    for name, kind in sorted(cfg.block_types.items(), key=lambda nk: _INTERNAL_ORDER.get(nk[1], 0)):
        if kind in ("ChamberElastanceInductor", "ChamberElastanceInductorExponential", "LinearElastanceChamber"):
            i = st.chambers.index(name)
            rows(f"Vc:{name}", [res.observed["volume"][:, i]], [d["volume"][:, i]] if derivative else None)
        elif kind in ("ChamberSphere", "ValveTanh"):
            for label, series in _internal_series(res, name, kind):
                rows(label, [series])
        elif kind == "RCR" and f"pressure_c:{name}" in names:
            i = names[f"pressure_c:{name}"]
            rows(f"pressure_c:{name}", [res.observed["pressure"][:, i]], [d["pressure"][:, i]] if derivative else None)
        elif kind in ("CORONARY", "CORONARY_VAR_RES"):
            # svZeroDSolver 3.2's volume_im is the intramyocardial volume Cc (P_c − Pim) relative to its value at the
            # start (plus initial_condition volume_im:<name>, 0 after a steady start): its equations subtract the
            # start's P_c − Pim (with Pim at its mean after a steady start, whose volume we carry to t = 0)
            b, tc = res.model.blocks[name], f"pressure_c:{name}"
            cc = float(np.asarray(b.cc))
            if cc > 0 and tc in term:
                p_c = res.observed["pressure"][:, term[tc]]
                pim = np.asarray(jax.vmap(b.pim)(jnp.asarray(res.times, p_c.dtype)))
                start = float(res.observed["initial_state"][term[tc]]) - float(np.asarray(b.pim(0.0)))
                v0 = (
                    0.0 if _steady_start(cfg, res.model) else float(cfg.initial_condition.get(f"volume_im:{name}", 0.0))
                )
                v = cc * (p_c - pim - start) + v0
                dv = None
                if derivative:  # Cc (dP_c/dt − dPim/dt)
                    tt = jnp.asarray(res.times, p_c.dtype)
                    dpim = np.asarray(jax.vmap(lambda s, w=b.pim: jax.jvp(w, (s,), (jnp.ones_like(s),))[1])(tt))
                    dv = [cc * (d["pressure"][:, term[tc]] - dpim)]
            else:
                v, dv = np.zeros(len(res.times)), [np.zeros(len(res.times))]
            rows(f"volume_im:{name}", [v], dv)
        elif kind in ("ClosedLoopHeartAndPulmonary", *CLOSED_LOOP_BC_TYPES):
            for label, series in closed_loop_series(res, name):
                rows(label, [series])
        elif kind in ("ClosedLoopRCR", "resistive_junction"):  # internal points, wherever they merged
            label = ("P_c:" if kind == "ClosedLoopRCR" else "pressure_c:") + name
            rows(
                label,
                [res.observed["pressure"][:, term[label]]],
                [d["pressure"][:, term[label]]] if derivative else None,
            )
    return out.getvalue()

"""The closed-loop circulation of Regazzoni et al. 2022 and the haemodynamic figures clinicians read off it.

F. Regazzoni, M. Salvador, P.C. Africa, M. Fedele, L. Dedè, A. Quarteroni, "A cardiac electromechanical model coupled
with a lumped-parameter model for closed-loop blood circulation", J. Comput. Phys. 457 (2022) 111083, section 2.3 and
Table 2 / Appendix (parameter values; see docs/regazzoni2022.md for the sources of each value). Four time-varying
elastance chambers p = (EA·e(t) + EB)(V − V0) with the double-cosine activation e(t); four non-ideal valves between
Rmin (open) and Rmax (closed); systemic and pulmonary arterial and venous compartments, each a capacitor C followed by
R and L in series. Units mmHg, mL, s (R mmHg·s/mL, C mL/mmHg, L mmHg·s²/mL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._errors import InputError, NetworkError
from ..._solution import RESULTS
from ._activation import DoubleCosine
from ._blocks import BloodVessel, BloodVesselJunction, Chamber, Valve, ValveLaw
from ._model import ZeroDModel
from ._regazzoni import Regazzoni2022
from ._solve import Integrator, check_result, default_integrator, simulate_zerod
from ._steady import PeriodicState, periodic_steady_state
from ._topology import Network

__all__ = [
    "CHAMBERS",
    "Circulation",
    "CirculationResult",
    "haemodynamics",
    "regazzoni2022",
    "regazzoni2022_for_edv",
    "simulate_circulation",
]

CHAMBERS = ("LA", "LV", "RA", "RV")
VALVES = {
    "mitral": ("LA", "LV"),
    "aortic": ("LV", "sys_art"),
    "tricuspid": ("RA", "RV"),
    "pulmonary": ("RV", "pul_art"),
}


def _period(x) -> Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


class Circulation(eqx.Module):
    """A compiled closed loop with its heart period (s) and initial state (final).

    ``period`` is an array leaf, so the heart rate can be calibrated and differentiated like any other parameter
    (``jax.grad`` of a beat's figure w.r.t. ``circ.period``): it is the beat length of `simulate_circulation` and of
    the calibration's curves, and every chamber's activation runs at it (`beat_model`; the activations' own ``period``
    fields are overwritten with it when the loop is integrated)."""

    model: ZeroDModel
    period: Array = eqx.field(converter=_period)
    y0: Array

    def chamber(self, name: str) -> Chamber:
        return self.model.blocks[name]

    @property
    def beat_model(self) -> ZeroDModel:
        """The model with every chamber's activation at this loop's ``period`` (what is integrated)."""
        names = [n for n, b in self.model.blocks.items() if isinstance(b, Chamber)]
        if not names:
            return self.model
        acts = [self.model.blocks[n].activation.with_period(self.period) for n in names]
        return eqx.tree_at(lambda m: [m.blocks[n].activation for n in names], self.model, acts)

    def with_activation(self, activations: dict) -> "Circulation":
        """The same loop with chamber activations replaced (``{"LV": DoubleCosine(...), ...}``)."""
        model = self.model
        for name, act in activations.items():
            if name not in model.blocks or not isinstance(model.blocks[name], Chamber):
                raise NetworkError(f"circulation has no chamber {name!r}; chambers: {', '.join(CHAMBERS)}")
            model = eqx.tree_at(lambda m, n=name: m.blocks[n].activation, model, act)
        return eqx.tree_at(lambda c: c.model, self, model)


def regazzoni2022(
    *,
    valve_law: ValveLaw = ValveLaw.TANH,
    steepness: float = 10.0,
    dtype=None,
    params: Regazzoni2022 | dict | None = None,
) -> Circulation:
    """The Regazzoni et al. 2022 closed loop: ``params`` a `Regazzoni2022` (default: the published values), or a nested
    dict of overrides of the published values, e.g. ``{"LV": {"e_active": 2.0}}``.

    Valves are smooth by default (``ValveLaw.TANH``, transition width ~1/steepness mmHg) so that gradients exist;
    ``ValveLaw.PIECEWISE`` is the paper's switch (Rmin if p_up > p_down, else Rmax).
    """
    p = _parameters(params).as_dict()
    T = float(p["period"])  # (a period <= 0 is refused by the chambers' activations)
    blocks = []
    for c in CHAMBERS:
        q = p[c]
        act = DoubleCosine(q["t_c"], q["T_c"], q["T_r"], T)
        blocks.append(Chamber(c, q["e_active"], q["e_passive"], q["v0"], act))
    vq = p["valves"]
    for name in VALVES:
        blocks.append(Valve(name, vq["r_min"], vq["r_max"], steepness, valve_law))
    for circ in ("sys", "pul"):
        q = p[circ]
        blocks += [
            BloodVessel(f"{circ}_art", capacitance=q["c_ar"]),
            BloodVesselJunction(f"{circ}_art_RL", [q["r_ar"]], [q["l_ar"]], [0.0]),
            BloodVessel(f"{circ}_ven", capacitance=q["c_ven"]),
            BloodVesselJunction(f"{circ}_ven_RL", [q["r_ven"]], [q["l_ven"]], [0.0]),
        ]
    conns = [
        ("LA", "mitral"),
        ("mitral", "LV"),
        ("LV", "aortic"),
        ("aortic", "sys_art"),
        ("sys_art", "sys_art_RL"),
        ("sys_art_RL", "sys_ven"),
        ("sys_ven", "sys_ven_RL"),
        ("sys_ven_RL", "RA"),
        ("RA", "tricuspid"),
        ("tricuspid", "RV"),
        ("RV", "pulmonary"),
        ("pulmonary", "pul_art"),
        ("pul_art", "pul_art_RL"),
        ("pul_art_RL", "pul_ven"),
        ("pul_ven", "pul_ven_RL"),
        ("pul_ven_RL", "LA"),
    ]
    model = Network(blocks, conns).compile()
    init = p["initial"]
    y0 = model.initial_state(pressure=init["pressure"], volume=init["volume"], dtype=dtype)
    return Circulation(model, T, y0)


def _parameters(params: Regazzoni2022 | dict | None) -> Regazzoni2022:
    if isinstance(params, Regazzoni2022):
        return params
    return Regazzoni2022().merge(params or {})


def regazzoni2022_for_edv(params: Regazzoni2022 | dict, metrics: dict, edv_ml: dict) -> tuple[Any, dict]:
    """Parameters of the Regazzoni 2022 loop whose periodic beat has the end-diastolic volumes ``edv_ml``
    (``{"LV": mL, "RV": mL}``, either or both), from parameters ``params`` (a `Regazzoni2022`, or a dict of overrides
    of the published values) and the ``metrics`` of its own periodic beat (`simulate_circulation(...).metrics`, with
    the same activation). Returns ``(params, how)``, ``params`` of the type given (a dict: the full nested dict).

    The rule (exact, no iteration; the activation timing is untouched):

    1. **Scale the whole loop's volumes** by ``s = EDV_LV target / EDV_LV`` (``s`` from the RV when only the RV is
       given): every chamber's rest volume V0 and every compliance times s; every elastance (active and passive),
       resistance (valves, vessels) and inertance divided by s; the initial volumes times s. This is a similarity of the
       model: the same beat with every pressure unchanged and every volume and flow times s (a chamber's pressure
       (EA e + EB)(V − V0), a vessel's C dp/dt and a junction's R Q + L dQ/dt are all invariant), so EF and pressures are
       kept and the cardiac output scales with the heart.
    2. **Shift the RV's rest volume** (and its initial volume) by ``Δ = EDV_RV target − s·EDV_RV``: the RV pressure
       depends only on V − V0, so the RV volume trace moves by Δ exactly, with its pressures and stroke volume kept; a
       dilated RV (Δ > 0) has a lower EF. Refused (ValueError) when the shifted RV would empty below 5 % of its EDV (end-
       systolic volume s·ESV_RV + Δ), i.e. an RV too small for the stroke volume the LV sets.

    ``how``: ``{"scale": s, "rv_shift_mL": Δ, "rule": text}``.
    """
    for k, v in edv_ml.items():
        if k not in ("LV", "RV") or not (np.isfinite(v) and v > 0):
            raise InputError(f"regazzoni2022_for_edv: end-diastolic volumes are LV / RV in mL > 0, got {k}={v}")
    if not edv_ml:
        raise InputError("regazzoni2022_for_edv: give an LV and/or RV end-diastolic volume")
    ref = "LV" if "LV" in edv_ml else "RV"
    s = float(edv_ml[ref]) / float(metrics[ref]["EDV_mL"])
    p = _parameters(params).as_dict()
    for c in CHAMBERS:
        q = p[c]
        q["v0"], q["e_active"], q["e_passive"] = q["v0"] * s, q["e_active"] / s, q["e_passive"] / s
    p["valves"] = {k: v / s for k, v in p["valves"].items()}
    for circ in ("sys", "pul"):
        q = p[circ]
        for k in q:
            q[k] = q[k] * s if k.startswith("c_") else q[k] / s
    p["initial"]["volume"] = {k: v * s for k, v in p["initial"]["volume"].items()}
    shift = 0.0
    if "LV" in edv_ml and "RV" in edv_ml:
        shift = float(edv_ml["RV"]) - s * float(metrics["RV"]["EDV_mL"])
        esv = s * float(metrics["RV"]["ESV_mL"]) + shift
        if esv < 0.05 * float(edv_ml["RV"]):
            raise InputError(
                f"RV EDV {float(edv_ml['RV']):.4g} mL is too small for the LV EDV "
                f"{float(edv_ml['LV']):.4g} mL: "
                f"with the stroke volume the LV sets ({s * float(metrics['RV']['SV_mL']):.3g} mL) the RV "
                f"would empty to {esv:.3g} mL; check the cavity volumes (LV/RV swapped?) or give --edv LV=.."
            )
        p["RV"]["v0"] += shift
        p["initial"]["volume"]["RV"] += shift
    rule = f"loop volumes scaled x{s:.4g} (V0, compliances x s; elastances, resistances, inertances / s)" + (
        f", RV rest volume shifted {shift:+.4g} mL" if "LV" in edv_ml and "RV" in edv_ml else ""
    )
    out = Regazzoni2022().merge(p) if isinstance(params, Regazzoni2022) else p
    return out, {"scale": s, "rv_shift_mL": shift, "rule": rule}


@dataclass(frozen=True)
class CirculationResult:
    """One periodic beat: times (s), named traces and the haemodynamic figures."""

    t: np.ndarray
    pressure: dict  # mmHg: LA, LV, RA, RV, sys_art, sys_ven, pul_art, pul_ven
    volume: dict  # mL: chambers
    flow: dict  # mL/s: valves
    metrics: dict
    cycles: int
    change: float
    blood_volume: np.ndarray  # mL over the beat (conserved)


def _trace_indices(model: ZeroDModel):
    st = model.structure
    names = {n: i for i, n in enumerate(st.node_names)}
    node = dict(st.terminal_nodes)
    p_idx = {c: names[f"V:{c}"] for c in CHAMBERS}
    for c in ("sys_art", "sys_ven", "pul_art", "pul_ven"):
        p_idx[c] = node[f"c:{c}"]
    q_idx = dict((k[0], i) for k, i in st.edge_keys if k[0] in VALVES)
    return p_idx, q_idx


def haemodynamics(model: ZeroDModel, ts, ys, period: float | Array) -> dict:
    """EDV, ESV, SV, EF, peak pressures, dP/dt max, cardiac output for both ventricles, and aortic systolic /
    diastolic pressures, from states ``ys`` sampled over one beat (differentiable)."""
    p_idx, _ = _trace_indices(model)
    st = model.structure
    obs = jax.vmap(model.observe)(ts, ys)
    out = {}
    for c in ("LV", "RV"):
        i = st.chambers.index(c)
        v = obs["volume"][:, i]
        pc = obs["pressure"][:, p_idx[c]]
        ch = model.blocks[c]
        dvdt = jax.vmap(model.rhs)(ts, ys)[:, st.n_cap + i]
        dpdt = jax.vmap(
            lambda t, vv, dv, ch=ch: jax.jvp(lambda tt, x: ch.pressure(tt, x), (t, vv), (jnp.ones_like(t), dv))[1]
        )(ts, v, dvdt)
        edv, esv = jnp.max(v), jnp.min(v)
        sv = edv - esv
        out[c] = {
            "EDV_mL": edv,
            "ESV_mL": esv,
            "SV_mL": sv,
            "EF": sv / edv,
            "peak_pressure_mmHg": jnp.max(pc),
            "dPdt_max_mmHg_per_s": jnp.max(dpdt),
            "cardiac_output_L_per_min": sv * 60.0 / period / 1000.0,
        }
    pa = obs["pressure"][:, p_idx["sys_art"]]
    out["aorta"] = {"systolic_mmHg": jnp.max(pa), "diastolic_mmHg": jnp.min(pa), "mean_mmHg": jnp.mean(pa)}
    pp = obs["pressure"][:, p_idx["pul_art"]]
    out["pulmonary_artery"] = {"systolic_mmHg": jnp.max(pp), "diastolic_mmHg": jnp.min(pp), "mean_mmHg": jnp.mean(pp)}
    return out


def _check_cycles(circ: Circulation, *, max_cycles, cycles, points_per_cycle) -> None:
    """Cycle and point counts as whole numbers within int32 (jit's loop counters), the beat's samples within memory:
    one line, before anything is compiled."""
    from ..._sizes import INT32_MAX, SizeError, check_bytes

    for name, v, low in (
        ("max_cycles", max_cycles, 1),
        ("cycles", cycles, 1),
        ("points_per_cycle", points_per_cycle, 2),
    ):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise NetworkError(f"circulation: {name} must be a whole number, got {v!r}")
        if not low <= v <= INT32_MAX:
            raise NetworkError(
                f"circulation: {name} = {v:,} is outside [{low}, {INT32_MAX:,}] (int32 loop counters "
                f"under jit); use {'at least ' + str(low) if v < low else 'a smaller number'}"
            )
    n_states = int(np.size(circ.y0))
    try:
        check_bytes(
            float(points_per_cycle) * (3 * n_states + 20) * 8 * 3,
            what=f"circulation: {points_per_cycle:,} points per cycle x ~{3 * n_states + 20} values x 8 B x 3 "
            "(the solve, the observations, their host copies and the CSV)",
            fix="sample the beat at fewer points",
        )
    except SizeError as e:
        raise NetworkError(str(e)) from None


def simulate_circulation(
    circ: Circulation,
    *,
    tol: float | None = None,
    max_cycles: int = 200,
    cycles: int | None = None,
    points_per_cycle: int = 801,
    integrator: Integrator | None = None,
) -> CirculationResult:
    """Run the loop to its periodic steady state (cycle-to-cycle change < ``tol``, or exactly ``cycles`` cycles) and
    return the last beat sampled at ``points_per_cycle`` points with its haemodynamic figures.

    Defaults follow the state's dtype: float64 integrates at rtol 1e-7 / atol 1e-8 with ``tol`` 1e-6; float32 at
    rtol 1e-5 / atol 1e-5 with ``tol`` 1e-4 (float32 round-off makes smaller cycle-to-cycle changes noise).
    A solver failure (too many steps: an unphysical parameter) or no periodic state within ``max_cycles`` is a
    one-line `NetworkError` (the run is solved with ``throw=False`` and its `organtwin.RESULTS` checked here, on the
    host: this runner returns NumPy arrays).
    """
    _check_cycles(circ, max_cycles=max_cycles, cycles=cycles, points_per_cycle=points_per_cycle)
    f64 = circ.y0.dtype == jnp.float64
    integ = integrator or default_integrator(circ.y0.dtype)
    tol = (1e-6 if f64 else 1e-4) if tol is None else tol

    @eqx.filter_jit
    def run(c):
        T, model = c.period, c.beat_model
        ps: PeriodicState = periodic_steady_state(
            model, T, c.y0, tol=tol, max_cycles=max_cycles, cycles=cycles, integrator=integ, throw=False
        )
        ts = jnp.linspace(0.0, T, points_per_cycle, dtype=c.y0.dtype)  # the model is T-periodic: beat on [0, T]
        sol = simulate_zerod(model, 0.0, T, ps.y0, ts=ts, integrator=integ, throw=False)
        obs = sol.observe()
        metrics = haemodynamics(model, sol.ts, sol.ys, T)
        vol = jax.vmap(model.blood_volume)(sol.ys)
        return ps, sol, obs, metrics, vol

    ps, sol, obs, metrics, vol = run(circ)
    if ps.result != RESULTS.max_cycles_reached:
        check_result(ps.result, "circulation", ps.failed_time)
    T = float(circ.period)
    check_result(sol.result, "circulation", None if np.isnan(sol.failed_time) else ps.cycles * T + sol.failed_time)
    ts = sol.ts
    p_idx, q_idx = _trace_indices(circ.model)
    st = circ.model.structure
    pres = {k: np.asarray(obs["pressure"][:, i]) for k, i in p_idx.items()}
    vols = {c: np.asarray(obs["volume"][:, st.chambers.index(c)]) for c in CHAMBERS}
    flows = {k: np.asarray(obs["flow"][:, i]) for k, i in q_idx.items()}
    metrics = jax.tree_util.tree_map(lambda x: float(x), metrics)
    if ps.result == RESULTS.max_cycles_reached:
        raise NetworkError(
            f"circulation: no periodic state after {max_cycles} cycles (cycle-to-cycle change "
            f"{float(ps.change):.2e} > tol {tol:.0e}); raise max_cycles or tol"
        )
    return CirculationResult(
        np.asarray(ts), pres, vols, flows, metrics, int(ps.cycles), float(ps.change), np.asarray(vol)
    )

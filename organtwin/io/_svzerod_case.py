"""A calibration case whose circulation is an svZeroDSolver configuration: ``[circulation] model = "config.json"`` or
``model = "svzerod:NAME"`` (the files shipped in ``organtwin/flow/zerod/configs/``).

What this module does, and why:

* **Names.** A free parameter is ``BLOCK.PARAM``, the block's name and the parameter's name exactly as the JSON spells
  them (``SYS_AR.C``, ``LV.Emax``, ``AV.Rmax``; a chamber's activation parameters too, ``LV.contract_duration``;
  the closed-loop heart's are ``CLH.<name>``). The case's model dict holds each freed value under those two keys
  (``model["LV"]["Emax"]``), in the configuration's own units, so bounds and priors are in those units too.
* **How a value enters the network: probed, not tabulated.** svZeroDSolver's parameters are not always organtwin's
  block fields one to one (a ChamberElastanceInductor's Emax sets E_active = Emax − Emin). Rather than a table per
  block type, the configuration is read again with the parameter nudged (`read_svzerod`, the one reader) and the
  compiled network's arrays compared: every parameter svZeroDSolver's readers take enters them affinely, and the
  slopes found are applied to the freed values at every evaluation (checked at two nudges; a parameter that enters
  otherwise, or not at all, is refused in one line).
* **Units.** A configuration carries no unit field; svZeroDSolver's convention is cgs (dyn/cm², mL, s), its closed-loop
  cases are in mmHg, mL, s, and some in SI (Pa, m³, s). ``[circulation] units`` says which; without it the
  configuration's ``_comment`` / ``description`` decides when it names exactly one system, else cgs. The data are in
  mmHg, mL and ms: model pressures are divided by the system's pascal-equivalent of one mmHg, volumes by its mL, times
  multiplied by 1000, explicitly, once (`ConfigCirculation.curves`). The run says which system it assumed and why,
  and warns when the configuration's aortic pressure at its own values is not a blood pressure in that system.
* **Observables.** The curves' LV / RV volumes and pressures are the chambers named LV / RV (any case), the aorta the
  pressure right after the valve out of the LV (the connection VALVE:NEXT, which svZeroDSolver writes as
  pressure:VALVE:NEXT; the pulmonary artery: out of the RV); ``[circulation] observe`` maps any
  of them to another name (``observe = { aorta = "pressure:AR_SYS", LV = "left_ventricle" }``). An observable the data
  need and the configuration lacks is refused in one line.
* **Periodic start.** The network is first run to its periodic state at the configuration's own values (cycle-to-
  cycle change 1e-6); each evaluation of the fit then runs ``cycles`` cycles from there (the curves are exactly periodic
  at the start values, nearly so near them). A closed loop's blood volume is what its initial condition holds with the
  values evaluated (Σ V + Σ C·p, as svZeroDSolver starts from it): where a freed compliance changes it, the difference
  is put into the first chamber at the start, so the loop settles to the periodic state svzerod would reach (without
  that, a compliance x0.75 left the LV 0.5 mL off svzerod's after 40 cycles).
* **Coupled.** With ``coupled = true`` the LV (and the RV where the configuration has one) contract as the eikonal
  activation reaches them: the chamber's own piecewise_cosine twitch spread over the quantiles of the local activation
  times (`organtwin.couple`, as for the preset). It needs a ChamberElastanceInductor or LinearElastanceChamber for the
  LV whose piecewise_cosine relaxes right after contracting; anything else is refused in one line naming what is missing.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CalibrationWarning, NetworkError
from ._case import CaseError, _Section

__all__ = [
    "CONFIGS_DIR",
    "ConfigCirculation",
    "UNIT_SYSTEMS",
    "build_config_circulation",
    "check_config_free",
    "config_parameter_unit",
    "parse_config_circulation",
    "resolve_circulation_model",
    "shipped_configs",
    "timing_warning",
]

#: the svZeroD configurations shipped with organtwin (``model = "svzerod:NAME"``)
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "flow" / "zerod" / "configs"

#: unit system -> (one mmHg in its pressure unit, one mL in its volume unit, what it is); time is s in all
UNIT_SYSTEMS: dict[str, tuple[float, float, str]] = {
    "cgs": (1333.2238741499998, 1.0, "dyn/cm², mL, s"),
    "mmHg": (1.0, 1.0, "mmHg, mL, s"),
    "SI": (133.32238741499998, 1e-6, "Pa, m³, s"),
}
_UNIT_WORDS = {
    "cgs": re.compile(r"\bcgs\b|dyn", re.I),
    "mmHg": re.compile(r"pressure\s*(?:in\s*)?mmHg|units?:?\s*(?:pressure\s*)?\(?mmHg|\(mmHg", re.I),
    "SI": re.compile(r"\bSI\b|\bPa\b", re.I),
}
RESERVED = ("tissue", "sites", "ecg", "circulation")
OBSERVABLES = ("LV", "RV", "aorta", "pulmonary_artery")
_SECTIONS = (
    ("chambers", "name", "values"),
    ("vessels", "vessel_name", "zero_d_element_values"),
    ("boundary_conditions", "bc_name", "bc_values"),
    ("valves", "name", "params"),
    ("junctions", "junction_name", "junction_values"),
)


# ============================================================================================================ parse
def shipped_configs() -> dict[str, Path]:
    """{NAME: path} of the configurations ``model = "svzerod:NAME"`` names."""
    return {p.stem: p for p in sorted(CONFIGS_DIR.glob("*.json"))}


def resolve_circulation_model(sec: _Section, value: str) -> Path | None:
    """The configuration file ``model`` names (None: the built-in preset). One-line errors: an unknown shipped name
    (listing the shipped ones), a missing file."""
    if value == "regazzoni2022":
        return None
    if value.startswith("svzerod:"):
        name = value.removeprefix("svzerod:").strip()
        shipped = shipped_configs()
        if name not in shipped:
            near = difflib.get_close_matches(name, list(shipped), n=1)
            raise sec.error(
                "model",
                f"no shipped svZeroD configuration {name!r}"
                + (f" (did you mean {near[0]!r}?)" if near else "")
                + f"; shipped: {', '.join(shipped) or 'none'}",
            )
        return shipped[name]
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (sec.base_dir / p).resolve()
    if p.suffix.lower() != ".json":
        raise sec.error(
            "model",
            f'expected "regazzoni2022", "svzerod:NAME" or the path of an svZeroDSolver JSON configuration, got {value!r}',
        )
    if not p.is_file():
        raise sec.error("model", f"file not found: {p} (relative paths are relative to the case file's folder)")
    return p


def _read_raw(sec: _Section, path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise sec.error("model", f"{path}: not an svZeroD JSON configuration ({e})") from None
    if not isinstance(raw, dict):
        raise sec.error("model", f"{path}: the top level must be a JSON object")
    return raw


def _number(x) -> float | None:
    if isinstance(x, list) and len(x) == 1:
        x = x[0]
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def parameter_table(raw: dict) -> dict[str, dict[str, tuple]]:
    """{block: {parameter: where in the JSON}} of every scalar number a configuration gives a block (its values, a
    chamber's activation_function, the closed-loop heart's parameters as block "CLH")."""
    table: dict[str, dict[str, tuple]] = {}
    for sec, key, vals in _SECTIONS:
        entries = raw.get(sec) or []
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(e, dict) or not isinstance(e.get(key), str):
                continue
            row = table.setdefault(e[key], {})
            for where in (vals, "activation_function") if sec == "chambers" else (vals,):
                d = e.get(where)
                for p, x in d.items() if isinstance(d, dict) else ():
                    if not str(p).startswith("_") and _number(x) is not None:
                        row.setdefault(str(p), (sec, i, where, p))
    for i, e in enumerate(raw.get("closed_loop_blocks") or []):
        if isinstance(e, dict) and isinstance(e.get("parameters"), dict):
            row = table.setdefault("CLH", {})
            for p, x in e["parameters"].items():
                if _number(x) is not None:
                    row.setdefault(str(p), ("closed_loop_blocks", i, "parameters", p))
    return table


def _get(raw: dict, where: tuple) -> float:
    sec, i, d, p = where
    v = _number(raw[sec][i][d][p])
    assert v is not None
    return v


def _set(raw: dict, where: tuple, value: float) -> dict:
    out = copy.deepcopy(raw)
    sec, i, d, p = where
    out[sec][i][d][p] = [value] if isinstance(out[sec][i][d][p], list) else value
    return out


def _near(name: str, options) -> str:
    near = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" (nearest: {', '.join(near)})" if near else ""


def lookup(table: dict, name: str) -> tuple[str, str, tuple] | str:
    """(block, parameter, where) of ``BLOCK.PARAM``, or the one-line reason it names nothing."""
    parts = name.split(".")
    if len(parts) != 2 or "[" in name:
        return f"{name!r}: name an svZeroD parameter as BLOCK.PARAM, e.g. 'LV.Emax' or 'SYS_AR.C'"
    block, param = parts
    if block not in table:
        return f"{name!r}: the configuration has no block {block!r}{_near(block, table)}; blocks: {', '.join(table)}"
    if param not in table[block]:
        return (
            f"{name!r}: block {block} has no parameter {param!r}{_near(param, table[block])}; its parameters: "
            f"{', '.join(table[block])}"
        )
    return block, param, table[block][param]


def _guess_units(raw: dict) -> tuple[str, str]:
    text = " ".join(str(v) for k, v in raw.items() if str(k).startswith("_") or k == "description")
    found = [u for u, rx in _UNIT_WORDS.items() if rx.search(text)]
    if len(found) == 1:
        return found[0], "named in the configuration's comment"
    return "cgs", "svZeroDSolver's convention, assumed: the configuration names no unit system" + (
        f" (its comment names {' and '.join(found)})" if found else ""
    )


def parse_config_circulation(sec: _Section, path: Path) -> dict:
    """The ``[circulation]`` keys of a configuration model: the parsed JSON (with ``params`` applied), the units, the
    observables. Every problem one line naming the case file and the key."""
    raw = _read_raw(sec, path)
    table = parameter_table(raw)
    params = sec.raw("params", {})
    if not isinstance(params, dict):
        raise sec.error("params", "expected a table like params = { LV = { Emax = 2.0 } }")
    for block, vals in params.items():
        if not isinstance(vals, dict):
            raise sec.error(f"params.{block}", "expected a table of the block's parameters, e.g. { Emax = 2.0 }")
        for p, v in vals.items():
            hit = lookup(table, f"{block}.{p}")
            if isinstance(hit, str):
                raise sec.error("params", hit)
            if _number(v) is None:
                raise sec.error(f"params.{block}.{p}", f"expected a finite number, got {v!r}")
            raw = _set(raw, hit[2], float(v))  # type: ignore[arg-type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its unknown-key warnings are `organtwin flow zerod`'s business
            from ..flow.zerod import read_svzerod

            read_svzerod(copy.deepcopy(raw))
    except NetworkError as e:
        raise sec.error("model", f"{path.name}: {e}") from None
    units = sec.string("units", None, choices=tuple(u.lower() for u in UNIT_SYSTEMS))
    units = {u.lower(): u for u in UNIT_SYSTEMS}.get(units) if units is not None else None
    how = "given in the case ([circulation] units)"
    if units is None:
        units, how = _guess_units(raw)
    obs = sec.raw("observe", {})
    if not isinstance(obs, dict) or not all(isinstance(v, str) for v in obs.values()):
        raise sec.error("observe", 'expected a table of names, e.g. observe = { aorta = "pressure:AR_SYS" }')
    for k in obs:
        if k not in OBSERVABLES:
            raise sec.error(
                f"observe.{k}", f"unknown observable{_near(k, OBSERVABLES)}; observables: {', '.join(OBSERVABLES)}"
            )
    return {"config": path, "raw": raw, "units": units, "units_how": how, "observe": dict(obs)}


def check_config_free(circ: dict, free_secs: list, free: tuple) -> tuple[str, ...]:
    """Check the ``[[free]]`` names of a configuration case (BLOCK.PARAM); returns the block names freed. A name of
    another model part (tissue, sites, ecg) is left to the caller."""
    table = parameter_table(circ["raw"])
    blocks = []
    for sec, f in zip(free_secs, free):
        head = f.name.split(".")[0].split("[")[0].strip()
        if head in ("tissue", "sites", "ecg"):
            if head in table:
                raise sec.error(
                    "name",
                    f"{f.name!r}: the configuration's block {head!r} has the name of a model part; rename the block",
                )
            continue
        if head == "circulation":
            raise sec.error(
                "name",
                f"{f.name!r}: with an svZeroD configuration name its parameters as BLOCK.PARAM, e.g. "
                f"{next((f'{b}.{p}' for b, ps in table.items() for p in ps), 'LV.Emax')!r}",
            )
        hit = lookup(table, f.name)
        if isinstance(hit, str):
            raise sec.error("name", hit)
        blocks.append(hit[0])
    return tuple(dict.fromkeys(blocks))


# ============================================================================================================ build
class ConfigCirculation(eqx.Module):
    """An svZeroD configuration as a fitted circulation (final): the compiled loop at the configuration's values, its
    periodic start, and how each freed svZeroD parameter moves the network's arrays.

    ``maps``: per freed parameter (block, parameter, value in the configuration, ((leaf index, slope), ...)); the
    network's arrays are ``base + Σ slope · (value − configured value)`` (every reader maps its numbers affinely).
    ``pressure_per_mmhg``, ``ml``: the configuration's pressure unit per mmHg and volume unit per mL.
    ``volumes`` / ``pressures``: {observable: state-observation index} of the curves.
    """

    base: Any  # Circulation
    y_initial: Any  # the configuration's initial state (its blood volume is the loop's, whatever the values)
    maps: tuple = eqx.field(static=True)
    pressure_per_mmhg: float = eqx.field(static=True)
    ml: float = eqx.field(static=True)
    volumes: tuple = eqx.field(static=True)
    pressures: tuple = eqx.field(static=True)
    conserve: bool = eqx.field(static=True, default=False)

    @property
    def period(self):
        return self.base.period

    def circulation(self, model: dict):
        """The `Circulation` with the freed values of the case's model dict (``model[block][param]``)."""
        if not self.maps:
            return self.base
        leaves, tdef = jax.tree_util.tree_flatten(self.base.model.blocks)
        leaves = list(leaves)
        for block, param, v0, hits in self.maps:
            v = jnp.asarray(model[block][param])
            for i, slope in hits:
                leaves[i] = leaves[i] + jnp.asarray(slope, leaves[i].dtype) * (v - v0).astype(leaves[i].dtype)
        blocks = jax.tree_util.tree_unflatten(tdef, leaves)
        circ = eqx.tree_at(lambda c: c.model.blocks, self.base, blocks)
        if self.conserve:  # a closed loop: the blood volume its initial condition holds with these values (as svzerod)
            m = circ.model
            dv = m.blood_volume(self.y_initial) - m.blood_volume(circ.y0)
            circ = eqx.tree_at(lambda c: c.y0, circ, circ.y0.at[m.structure.n_cap].add(dv))  # into the first chamber
        return circ

    def curves(self, circ, *, cycles: int, points: int, forward_mode: bool, integrator=None, throw: bool = True):
        """One beat after ``cycles`` cycles, as `organtwin.calibrate.CirculationCurves` in ms, mL and mmHg."""
        from ..calibrate._params import CalibrationError
        from ..flow.zerod._solve import default_integrator

        if int(cycles) < 1 or int(points) < 3:
            raise CalibrationError(f"circulation curves: need cycles >= 1 and points >= 3 (got {cycles}, {points})")
        integ = integrator or default_integrator(circ.y0.dtype)
        from .._solution import RESULTS

        out, result = _config_curves(
            circ,
            self.volumes,
            self.pressures,
            self.pressure_per_mmhg,
            self.ml,
            int(cycles),
            int(points),
            bool(forward_mode),
            integ,
        )
        return result.error_if(out, result != RESULTS.successful) if throw else out


@eqx.filter_jit
def _config_curves(circ, volumes, pressures, p_unit, v_unit, cycles, points, forward_mode, integrator):
    import diffrax

    from .._solution import RESULTS
    from ..calibrate._haemo import CirculationCurves
    from ..flow.zerod._solve import simulate_zerod
    from ..flow.zerod._steady import periodic_steady_state

    model, T = circ.beat_model, circ.period
    adjoint = diffrax.ForwardMode() if forward_mode else None
    ps = periodic_steady_state(model, T, circ.y0, cycles=cycles, integrator=integrator, adjoint=adjoint, throw=False)
    ts = jnp.linspace(0.0, T, points, dtype=circ.y0.dtype)
    sol = simulate_zerod(model, 0.0, T, ps.y0, ts=ts, integrator=integrator, adjoint=adjoint, throw=False)
    obs = sol.observe()
    vol = {k: obs["volume"][:, i] / v_unit for k, i in volumes}
    pres = {k: obs["pressure"][:, i] / p_unit for k, i in pressures}
    result = RESULTS.where(ps.result == RESULTS.successful, sol.result, ps.result)
    return CirculationCurves(ts * 1000.0, vol, pres), result


def _leaves(raw: dict) -> list[np.ndarray]:
    from ..flow.zerod import read_svzerod

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = read_svzerod(copy.deepcopy(raw))
    return [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(dict(cfg.network.blocks))]


def _probe(raw: dict, name: str, where: tuple, base: list[np.ndarray], source: str) -> tuple:
    """((leaf index, slope array), ...) of one parameter, from the configuration read at two nudged values."""
    v0 = _get(raw, where)
    for sign in (1.0, -1.0):
        d = sign * (1e-3 * abs(v0) if v0 != 0 else 1e-6)
        try:
            one, two = _leaves(_set(raw, where, v0 + d)), _leaves(_set(raw, where, v0 + 2 * d))
            break
        except NetworkError:
            continue
    else:
        raise CaseError(f"{source}: [[free]] {name!r}: the configuration cannot be read with it moved from {v0:g}")
    hits = []
    for i, (b, x1, x2) in enumerate(zip(base, one, two)):
        s1, s2 = (x1 - b) / d, (x2 - x1) / d
        if np.shape(b) != np.shape(x1) or not np.all(np.isfinite(s1)):
            raise CaseError(f"{source}: [[free]] {name!r} changes the network's structure; it cannot be fitted")
        if np.any(s1 != 0) or np.any(s2 != 0):
            if not np.allclose(s1, s2, rtol=1e-5, atol=1e-9 * (np.max(np.abs(s1)) + 1e-300)):
                raise CaseError(f"{source}: [[free]] {name!r} enters the network non-linearly; it cannot be fitted")
            hits.append((i, s1 if np.ndim(s1) else float(s1)))
    if not hits:
        raise CaseError(
            f"{source}: [[free]] {name!r} does not enter the network organtwin builds (read and not used); free "
            "another parameter"
        )
    return tuple(hits)


def _node(st, spec: str) -> int | None:
    """The observation index of the pressure ``spec`` names: ``pressure:UP:DOWN`` (a connection),
    ``pressure:BLOCK`` or ``BLOCK`` (a chamber's point, a capacitor's, else the block's inlet)."""
    names = {n: i for i, n in enumerate(st.node_names)}
    term = dict(st.terminal_nodes)
    s = spec.removeprefix("pressure:")
    if s.count(":") == 1:
        return term.get(s)
    for key in (f"V:{s}", f"c:{s}", f"P_c:{s}", f"pressure_c:{s}"):
        if key in names:
            return names[key]
        if key in term:
            return term[key]
    inlets = [t for t in term if t.endswith(f":{s}") and t.count(":") == 1]
    return term[inlets[0]] if len(inlets) == 1 else None


def _observables(circ_d: dict, model, needed: dict, source: str) -> tuple[tuple, tuple]:
    """(volumes, pressures): ((observable, index), ...) for the observables the data need (and the others found)."""
    st = model.structure
    obs = circ_d["observe"]
    chambers = {c.lower(): c for c in st.chambers}
    vols, pres = [], []

    def chamber(k):
        name = obs.get(k)
        if name is not None:
            name = name.removeprefix("Vc:").removeprefix("volume:")
            return name if name in st.chambers else None
        return chambers.get(k.lower())

    for k in ("LV", "RV"):
        c = chamber(k)
        if c is not None:
            vols.append((k, st.chambers.index(c)))
            i = _node(st, c)
            if i is not None:
                pres.append((k, i))
    for k, side in (("aorta", "LV"), ("pulmonary_artery", "RV")):
        i = None
        if k in obs:
            i = _node(st, obs[k])
        else:
            c = chamber(side)
            valves = {b for b, t in circ_d["types"].items() if "Valve" in t}
            conns = st.connections
            out = [d for u, d in conns if u == c and d in valves]
            if c is not None and len(out) == 1:  # the root: the connection out of the valve (what svzerod writes)
                down = [d for u, d in conns if u == out[0]]
                if len(down) == 1:
                    i = dict(st.terminal_nodes).get(f"{out[0]}:{down[0]}")
        if i is not None:
            pres.append((k, i))
    have = {"volume": {k for k, _ in vols}, "pressure": {k for k, _ in pres}}
    for what, keys in needed.items():
        for k in sorted(keys):
            if k not in have[what]:
                given = f" (observe.{k} = {obs[k]!r} names nothing in it)" if k in obs else ""
                hint = (
                    f'a chamber for it: observe = {{ {k} = "CHAMBER" }}; chambers: {", ".join(st.chambers) or "none"}'
                    if k in ("LV", "RV")
                    else f'the block or connection for it: observe = {{ {k} = "pressure:BLOCK" }} or "pressure:UP:DOWN"'
                )
                raise CaseError(
                    f"{source}: [circulation] the data need the {k} {what} but the configuration "
                    f"{circ_d['config'].name} has no {k}{given}; name {hint}"
                )
    return tuple(vols), tuple(pres)


def _check_coupling(circ_d: dict, base, source: str) -> tuple[str, ...]:
    """The configuration's chambers that the activation drives (LV, and RV where present), or one line naming what
    the configuration lacks."""
    from ..flow.zerod import Chamber, DoubleCosine

    st = base.model.structure
    obs = circ_d["observe"]
    out = []
    for k in ("LV", "RV"):
        name = obs.get(k) or {c.lower(): c for c in st.chambers}.get(k.lower())
        what = f"a ChamberElastanceInductor or LinearElastanceChamber named {name or k}"
        if name is None or name not in base.model.blocks:
            if k == "RV":
                continue
            raise CaseError(
                f"{source}: [circulation] coupled = true needs {what} (or observe.LV naming one); the configuration "
                f"{circ_d['config'].name} has chambers {', '.join(st.chambers) or 'none'}"
            )
        b = base.model.blocks[name]
        if not isinstance(b, Chamber):
            raise CaseError(
                f"{source}: [circulation] coupled = true needs {what}; the configuration's {name} is a "
                f"{circ_d['types'].get(name, type(b).__name__)}"
            )
        a = b.activation
        ok = isinstance(a, DoubleCosine) and (
            a.relax_start is None
            or np.isclose(float(a.relax_start), float(a.contract_start) + float(a.contract_duration))
        )
        if not ok:
            raise CaseError(
                f"{source}: [circulation] coupled = true needs the {name} chamber's activation_function to be a "
                "piecewise_cosine that relaxes right after contracting (relax_start = contract_start + "
                f"contract_duration), to spread its twitch over the activation times; it is {type(a).__name__}"
                + (" with a separate relax_start" if isinstance(a, DoubleCosine) else "")
            )
        out.append(name)
    return tuple(out)


def build_config_circulation(case, needed: dict, dtype) -> tuple[ConfigCirculation, dict, list[str], tuple]:
    """(the circulation, {block: {param: value}} of the freed values, lines for the run's summary, the coupled
    chambers) of a configuration case. ``needed``: {"volume": {...}, "pressure": {...}} the data read."""
    from ..flow.zerod import Circulation, read_svzerod
    from ..flow.zerod._solve import default_integrator
    from ..flow.zerod._steady import periodic_steady_state
    from ..flow.zerod._svzerod_json import _initial_state

    c = case.circulation
    source = str(case.source)
    raw = c["raw"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = read_svzerod(copy.deepcopy(raw))
    c = {**c, "types": cfg.block_types}
    model = cfg.network.compile()
    vols, pres = _observables(c, model, needed, source)  # the refusals first: before anything is compiled
    table = parameter_table(raw)
    base = _leaves(raw)
    maps, values = [], {}
    for f in case.free:
        hit = lookup(table, f.name)
        if isinstance(hit, str):
            continue  # another model part's parameter
        block, param, where = hit
        maps.append((block, param, _get(raw, where), _probe(raw, f.name, where, base, source)))
        values.setdefault(block, {})[param] = jnp.asarray(_get(raw, where), dtype)
    try:
        y0 = _initial_state(cfg, model, dtype)
        circ = Circulation(model, cfg.period, y0)
        circ = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype) if eqx.is_inexact_array(x) else x, circ)
        coupled = _check_coupling(c, circ, source) if c["coupled"] else ()
        ps = eqx.filter_jit(
            lambda cc: periodic_steady_state(
                cc.beat_model,
                cc.period,
                cc.y0,
                tol=1e-6,
                max_cycles=100,
                integrator=default_integrator(dtype),
                throw=False,
            )
        )(circ)
    except NetworkError as e:  # a network that cannot run at its own values: nothing to fit
        raise CaseError(f"{source}: [circulation] {c['config'].name} does not run at its own values: {e}") from None
    from .._solution import RESULTS

    if ps.result not in (RESULTS.successful, RESULTS.max_cycles_reached):  # (no periodic state in 100: its last one)
        raise CaseError(
            f"{source}: [circulation] {c['config'].name} does not run at its own values: the solver stopped at "
            f"{float(ps.failed_time):.4g} s ({ps.result})"
        )
    y_initial = circ.y0
    circ = eqx.tree_at(lambda x: x.y0, circ, ps.y0)
    p_unit, v_unit, what = UNIT_SYSTEMS[c["units"]]
    open_ends = {"FLOW", "PRESSURE", "RESISTANCE", "RCR", "CORONARY", "CORONARY_VAR_RES"}
    closed = model.structure.n_chamber > 0 and not open_ends & set(cfg.block_types.values())
    cc = ConfigCirculation(circ, y_initial, tuple(maps), p_unit, v_unit, vols, pres, closed)
    notes = [
        f"circulation: svZeroD configuration {c['config']} ({cfg.describe(1).split(';')[0]}; period "
        f"{cfg.period:g} s); units {c['units']} ({what}; {c['units_how']}): model pressures / {p_unit:g} -> "
        f"mmHg, volumes / {v_unit:g} -> mL, times x 1000 -> ms; bounds and priors of its parameters are in {what}"
    ]
    aorta = dict(pres).get("aorta")
    if aorta is not None:  # at the periodic start (the beat's t = 0): no more compiling
        m = float(np.asarray(model.observe(jnp.zeros((), dtype), circ.y0)["pressure"])[aorta]) / p_unit
        if not 5.0 <= m <= 300.0:
            msg = (
                f"{source}: [circulation] the configuration's aortic pressure at its own values is {m:.4g} mmHg "
                f"at the beat's start with units = {c['units']!r}: not a blood pressure; are its units "
                f"{c['units']}? set [circulation] units"
            )
            warnings.warn(msg, CalibrationWarning, stacklevel=3)
            notes.append("warning: " + msg)
    return cc, values, notes, coupled


def couple_config(circ, activation, masks: dict, *, delay_ms=None, n_quantiles: int = 32):
    """The loop with each chamber of ``masks`` ({chamber: node weights}) driven by the activation times: its own
    double-cosine twitch spread over the quantiles of the times (`organtwin.couple.ElectromechanicalActivation`), the
    earliest ventricular activation plus the delay at the chambers' configured contraction start."""
    from ..couple._timing import (
        ELECTROMECHANICAL_DELAY_MS,
        ElectromechanicalActivation,
        _twitch_of,
        activation_quantiles,
    )

    delay = jnp.asarray(ELECTROMECHANICAL_DELAY_MS if delay_ms is None else delay_ms, activation.dtype)
    times, twitch = {}, {}
    for name, (idx, _) in masks.items():
        times[name] = activation[jnp.asarray(idx)]
        twitch[name] = _twitch_of(circ, name)
    starts = [jnp.asarray(tw[3], activation.dtype) for tw in twitch.values() if tw[3] is not None]
    start_s = jnp.min(jnp.stack(starts)) if starts else jnp.zeros((), activation.dtype)
    origin = jnp.min(jnp.stack([jnp.min(t) for t in times.values()])) + delay - 1e3 * start_s
    acts = {}
    for name, (_, w) in masks.items():
        tc, tr, period, _ = twitch[name]
        q = activation_quantiles(times[name], jnp.asarray(w, activation.dtype), n_quantiles)
        acts[name] = ElectromechanicalActivation(q, origin, tc, tr, period, delay_ms=delay)
    return circ.with_activation(acts)


def coupling_masks(mesh, chambers: tuple[str, ...], source: str) -> dict:
    """{chamber: (node indices, volume weights)} of the mesh's LV (and RV) myocardium for the coupled chambers
    (the first is the LV, a second the RV)."""
    from .._errors import MeshError
    from ..couple import region_node_volumes
    from ..mesh import ventricle_regions

    try:
        lv_ids, rv_ids, _ = ventricle_regions(mesh)
    except MeshError as e:
        raise CaseError(f"{source}: a coupled circulation needs the LV (and RV) regions of the mesh: {e}") from None
    out = {}
    for name, ids in zip(chambers, (lv_ids, rv_ids)):
        w = region_node_volumes(mesh, ids)
        idx = np.flatnonzero(w > 0)
        out[name] = (idx, w[idx])
    return out


# ====================================================================================================== timing warning
def _timings(act) -> dict[str, float]:
    """onset, contraction, relaxation (s) of an activation; {} for a kind without those."""
    from ..flow.zerod import DoubleCosine, HalfCosine

    if isinstance(act, DoubleCosine):
        return {
            "onset": float(act.contract_start),
            "contraction": float(act.contract_duration),
            "relaxation": float(act.relax_duration),
        }
    if isinstance(act, HalfCosine):
        return {"onset": float(act.t_active), "twitch": float(act.t_twitch)}
    return {}


def timing_warning(case, reference: Path) -> str | None:
    """One line naming the chamber timings (activation onset, durations, period) in which the built-in preset of
    ``case`` differs from the svZeroD configuration ``reference``; None when they agree."""
    from ..flow.zerod import ValveLaw, read_svzerod, regazzoni2022

    pre = regazzoni2022(valve_law=ValveLaw.TANH, params=case.circulation["params"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cfg = read_svzerod(reference)
        except NetworkError as e:
            raise CaseError(f"{case.source}: [circulation] reference_config: {e}") from None
    blocks = cfg.network.blocks
    blocks = dict(blocks) if not isinstance(blocks, dict) else blocks
    by_lower = {str(k).lower(): k for k in blocks}
    diffs = []
    T0, T1 = float(pre.period), float(cfg.period)
    if not math.isclose(T0, T1, rel_tol=1e-6):
        diffs.append(f"period {T0:g} s vs {T1:g} s")
    for ch in ("LA", "LV", "RA", "RV"):
        k = by_lower.get(ch.lower())
        act = getattr(blocks[k], "activation", None) if k is not None else None
        if act is None:
            continue
        a, b = _timings(pre.chamber(ch).activation), _timings(act)
        if set(a) != set(b):
            diffs.append(f"{ch} activation {type(pre.chamber(ch).activation).__name__} vs {type(act).__name__}")
            continue
        for key in a:
            if not math.isclose(a[key], b[key], rel_tol=1e-6, abs_tol=1e-9):
                diffs.append(f"{ch} {key} {a[key]:g} s vs {b[key]:g} s")
    if not diffs:
        return None
    return (
        f"{case.source}: [circulation] the preset regazzoni2022's chamber timings differ from reference_config "
        f"{reference.name} (preset vs config): {'; '.join(diffs)}; fit the configuration itself with "
        f'model = "{reference.name}" to use its timings'
    )


# ================================================================================================================ units
_KINDS = (  # (svZeroD parameter names, dimension): what the report prints beside a freed value
    (("R_poiseuille", "Rp", "Rd", "R", "Rmin", "Rmax", "Ra1", "Ra2", "Rv1", "Rpd", "Ra", "Ram", "Rv"), "R"),
    (("Ra2_min", "Ra2_max"), "R"),
    (("C", "Ca", "Cc", "Cp", "Cim"), "C"),
    (("L", "Impedance"), "L"),
    (("Emax", "Emin", "Epass"), "E"),
    (("Vrd", "Vrs", "Vrest", "Vaso"), "V"),
    (("Pd", "P_v"), "P"),
    (
        (
            "contract_start",
            "relax_start",
            "contract_duration",
            "relax_duration",
            "t_active",
            "t_twitch",
            "Tsa",
            "tpwave",
            "t_shift",
            "tau_1",
            "tau_2",
            "T_vc",
            "T_vr",
        ),
        "T",
    ),
)
_DIMS = {
    "cgs": {"P": "dyn/cm²", "V": "mL", "R": "dyn·s/cm⁵", "C": "cm⁵/dyn", "L": "dyn·s²/cm⁵", "E": "dyn/cm²/mL"},
    "mmHg": {"P": "mmHg", "V": "mL", "R": "mmHg·s/mL", "C": "mL/mmHg", "L": "mmHg·s²/mL", "E": "mmHg/mL"},
    "SI": {"P": "Pa", "V": "m³", "R": "Pa·s/m³", "C": "m³/Pa", "L": "Pa·s²/m³", "E": "Pa/m³"},
}


def config_parameter_unit(circulation: dict | None, name: str) -> str:
    """The unit of a freed svZeroD parameter ``BLOCK.PARAM`` in the configuration's unit system ("" where unknown or
    when ``circulation`` is not a configuration case's)."""
    if not circulation or "config" not in circulation:
        return ""
    param = name.split(".")[-1].split("[")[0]
    for names, dim in _KINDS:
        if param in names:
            return "s" if dim == "T" else _DIMS[circulation["units"]][dim]
    return ""

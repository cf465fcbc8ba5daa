"""Calibration case files: a TOML description of a fit (model, free parameters, data, optimiser), its run, and the
saved fit with provenance that re-runs to the same numbers.

`load_calibration_case(path)` parses and checks the file (one-line `CaseError` naming the file and key path for any
problem, with a suggestion for a misspelt key); `build_problem(case)` reads the mesh and the data and assembles the
model pytree, the `FreeParameters` and the data `Term` s; `run_calibration(case)` fits and reports;
`write_calibration(outcome, out)` writes the results folder all or nothing. The schema, every key with its unit and
default, is in docs/calibration-case.md.

The model a case fits is a dict pytree, so free parameters are named by path:

* ``tissue`` — the `EikonalTissue` (``tissue.velocity[r, k]``: region r in the order of the mesh's sorted region ids,
  k = 0 fibre, 1 sheet, 2 normal; on a mesh without fibres only k = 0 is used; ``tissue.fast_velocity``);
* ``sites.<name>`` — each `EikonalSite` (``sites.lv.position``, ``sites.lv.onset``);
* ``ecg`` — the `EikonalECG` forward map (``ecg.apd_ms``, ``ecg.template.tau_rep``);
* ``circulation`` — the Regazzoni 2022 `Circulation` (``circulation.model.blocks.LV.e_active``, ``...sys_art_RL...``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import re
import sys
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np

from .._errors import MeshError, MeshWarning
from ._case import CaseError, _Section, _selector
from ._units import LENGTH, TIME, VELOCITY, VOLTAGE

if TYPE_CHECKING:
    from ..calibrate._fit import FitResult
    from ..calibrate._params import FreeParameters
    from ..calibrate._report import FitReport, Term
    from ..mesh import Mesh

__all__ = [
    "CalibrationCase",
    "CalibrationOutcome",
    "CalibrationSamples",
    "DataSpec",
    "FreeSpec",
    "Problem",
    "build_problem",
    "check_fit_memory",
    "fit_bytes_per_start",
    "fit_record",
    "provenance",
    "read_fit",
    "tolerances",
    "load_calibration_case",
    "parameter_unit",
    "posterior_record",
    "parse_calibration_case",
    "rerun_fit",
    "run_calibration",
    "sample_calibration",
    "write_calibration",
    "write_posterior_draws",
]

DATA_KINDS = ("activation-map", "ecg", "volume-curve", "cuff", "pressure-trace")
METHODS = ("levenberg-marquardt", "gauss-newton", "adam")
_TOP = ("title", "description", "seed", "dtype", "mesh", "eikonal", "ecg", "circulation", "free", "data", "fit")
# sizes refused when the case is read, before anything is built (memory is checked again once the mesh is known)
MAX_STARTS = 100_000  # [fit] starts: every start is a whole fit, all run at once (vmapped)
MAX_ECG_SAMPLES = 1_000_000  # [ecg] duration / dt + 1: a beat at 1 ms is a few hundred
MAX_CURVE_POINTS = 100_000  # [circulation] points per beat
MAX_CYCLES = 1_000  # [circulation] cycles to the periodic state (tens are enough)


@dataclass(frozen=True)
class FreeSpec:
    name: str
    lower: float | list[float] | None = None  # a list: one bound per element of the parameter
    upper: float | list[float] | None = None
    positive: bool = False
    start: float | list | None = None
    prior: dict | None = None  # {"mean", "sd"} or {"median", "sd_log"}
    tolerance: float | None = None  # absolute SD (parameter units) for identifiability; None: 5% of the value


@dataclass(frozen=True)
class DataSpec:
    kind: str
    file: Path
    name: str
    noise_sd: float | None
    weight: float = 1.0
    options: dict = field(default_factory=dict)


class FitOptions(TypedDict):
    """The ``[fit]`` table, every key given (defaults filled in)."""

    method: str
    max_steps: int
    starts: int
    start_spread: float
    learning_rate: float
    rtol: float
    atol: float
    identified_rel_sd: float
    #: present only when the case sets it (a fit.json from before the key re-runs unchanged); `run_calibration`
    #: (discretisation=None) and `organtwin calibrate` without its flag then follow it (default: check)
    discretisation_check: NotRequired[bool]


@dataclass(frozen=True)
class CalibrationCase:
    """A parsed calibration case (host values in house units: mm, ms, m/s, mV, mL, mmHg)."""

    source: Path
    text: str
    base_dir: Path
    title: str
    seed: int
    dtype: str
    mesh: dict[str, Any]  # scale and one of path (a Path), builtin or generate (with h)
    eikonal: dict[str, Any] | None
    ecg: dict[str, Any] | None
    circulation: dict[str, Any] | None
    free: tuple[FreeSpec, ...]
    data: tuple[DataSpec, ...]
    fit: FitOptions


# ================================================================================================================ parse
def load_calibration_case(path, *, base_dir=None) -> CalibrationCase:
    """Read and check a calibration case (TOML). Raises `CaseError` (one line) for any problem."""
    p = Path(path)
    if not p.is_file():
        raise CaseError(
            f"calibration case not found: {p}" if not p.exists() else f"{p} is a folder; give the case file (.toml)"
        )
    try:
        text = p.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise CaseError(f"{p}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise CaseError(f"{p}: invalid TOML: {' '.join(str(e).split())}") from None
    return parse_calibration_case(data, text=text, source=p, base_dir=Path(base_dir or p.resolve().parent))


def _per_region(sec: _Section, key: str, table: dict, parse) -> dict:
    """``{ "1" = .., "2" = .. }`` -> {region id: parse(sec, "key.id", value)}."""
    out = {}
    for k, v in table.items():
        rid = _selector(k)
        if not isinstance(rid, int):
            raise sec.error(f"{key}.{k}", 'region keys are integer ids like "1"')
        out[rid] = parse(sec, f"{key}.{k}", v)
    return out


def _velocity(sec: _Section, key: str, value):
    if isinstance(value, list):
        if not 1 <= len(value) <= 3:
            raise sec.error(key, "give one velocity (isotropic) or [fibre, sheet, normal] in m/s")
        out = [sec.value_quantity(f"{key}[{i}]", v, VELOCITY, positive=True)[0] for i, v in enumerate(value)]
        return tuple(out)
    return (sec.value_quantity(key, value, VELOCITY, positive=True)[0],)


def _parse_mesh(sec: _Section) -> dict:
    sec.check_keys(("path", "builtin", "generate", "h", "scale"))
    kinds = [k for k in ("path", "builtin", "generate") if sec.has(k)]
    if len(kinds) != 1:
        raise sec.error(
            None,
            'give exactly one of path = "mesh.vtu", builtin = "biv" or generate = "biv" (with h = edge length in mm)',
        )
    out: dict[str, Any] = {"scale": sec.number("scale", None, positive=True)}
    if kinds[0] == "path":
        out["path"] = sec.path_value("path")
    elif kinds[0] == "builtin":
        out["builtin"] = sec.string("builtin", choices=("biv", "lv-ellipsoid", "niederer-slab-0.5mm"))
    else:
        out["generate"] = sec.string("generate", choices=("biv", "lv-ellipsoid"))
        out["h"] = sec.quantity("h", LENGTH, required=True, positive=True, hint="the mesh size in mm, e.g. h = 1.6")
    if kinds[0] != "generate" and sec.has("h"):
        raise sec.error("h", "only with generate = ...")
    return out


def _parse_eikonal(sec: _Section) -> dict:
    sec.check_keys(("fibres", "velocity", "fast_endocardium", "fast_velocity", "site"))
    vel = sec.raw(
        "velocity", required=True, hint='e.g. velocity = { "1" = 0.6, "2" = 0.4 } (m/s per region id) or velocity = 0.6'
    )
    velocity = (
        _per_region(sec, "velocity", vel, _velocity) if isinstance(vel, dict) else _velocity(sec, "velocity", vel)
    )
    fast = sec.raw("fast_endocardium")
    if fast is not None and not (isinstance(fast, list) and all(isinstance(s, str) for s in fast)):
        raise sec.error("fast_endocardium", 'expected a list of surface names like ["endo_lv", "endo_rv"]')
    sites = []
    for s in sec.tables("site", hint="add [[eikonal.site]] tables (name, position, onset, radius)"):
        s.check_keys(("name", "position", "onset", "radius"))
        sites.append(
            {
                "name": s.string("name", required=True),
                "position": s.vector3("position"),
                "onset": s.quantity("onset", TIME, 0.0),
                "radius": s.quantity("radius", LENGTH, 5.0, nonnegative=True),
            }
        )
    names = [s["name"] for s in sites]
    if len(set(names)) != len(names):
        raise sec.error("site", f"site names must differ (got {names})")
    return {
        "fibres": sec.string("fibres", "none", choices=("none", "rule-based", "mesh")),
        "velocity": velocity,
        "fast_endocardium": tuple(fast) if fast else None,
        "fast_velocity": sec.quantity("fast_velocity", VELOCITY, 2.0, positive=True),
        "sites": sites,
    }


def _apd(sec: _Section):
    def one(sec, key, x):
        return sec.value_quantity(key, x, TIME, positive=True)[0]

    v = sec.raw("apd", 280.0)
    return _per_region(sec, "apd", v, one) if isinstance(v, dict) else one(sec, "apd", v)


def _parse_ecg(sec: _Section) -> dict:
    sec.check_keys(("duration", "dt", "apd", "sigma_i", "sigma_b", "tau_up", "tau_rep"))
    out = {
        "duration": sec.quantity("duration", TIME, 450.0, positive=True),
        "tau_up": sec.quantity("tau_up", TIME, 0.5, positive=True),
        "tau_rep": sec.quantity("tau_rep", TIME, 15.0, positive=True),
        "dt": sec.quantity("dt", TIME, 1.0, positive=True),
        "apd": _apd(sec),
        "sigma_i": sec.number("sigma_i", 0.2, positive=True),
        "sigma_b": sec.number("sigma_b", 0.7, positive=True),
    }
    n = out["duration"] / out["dt"] + 1
    if not n <= MAX_ECG_SAMPLES:
        raise sec.error(
            "duration",
            f"{out['duration']:g} ms at dt {out['dt']:g} ms is {n:.3g} model ECG samples, more "
            f"than the {MAX_ECG_SAMPLES:,} a fit holds (a beat at dt 1 ms is a few hundred); shorten "
            "duration or raise dt",
        )
    return out


def _parse_circulation(sec: _Section) -> dict:
    from ._svzerod_case import parse_config_circulation, resolve_circulation_model

    model = sec.string(
        "model", "regazzoni2022", hint='"regazzoni2022", "svzerod:NAME" or the path of an svZeroD JSON configuration'
    )
    config = resolve_circulation_model(sec, model)
    sec.check_keys(
        ("model", "cycles", "points", "params", "coupled", "delay")
        + (("units", "observe") if config is not None else ("reference_config",)),
        elsewhere={
            "units": 'only with an svZeroD configuration (model = "config.json")',
            "observe": 'only with an svZeroD configuration (model = "config.json")',
            "reference_config": 'only with the built-in preset (model = "regazzoni2022")',
        },
    )
    params = sec.raw("params", {})
    if not isinstance(params, dict):
        raise sec.error("params", "expected a table like params = { LV = { e_active = 2.0 } }")
    out = {
        "model": model,
        "cycles": sec.integer("cycles", 8, minimum=1, maximum=MAX_CYCLES),
        "points": sec.integer("points", 201, minimum=11, maximum=MAX_CURVE_POINTS),
        "params": params,
        "coupled": sec.boolean("coupled", False),
        "delay": sec.quantity("delay", TIME, None),
    }
    if config is not None:  # an svZeroD configuration (io/_svzerod_case.py)
        out.update(parse_config_circulation(sec, config))
    elif sec.has("reference_config"):
        out["reference_config"] = sec.path_value("reference_config")
    return out


def _number_or_list(sec: _Section, key: str):
    v = sec.raw(key)
    if v is None:
        return None
    ok = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)
    if ok(v):
        return float(v)
    if isinstance(v, list) and v and all(ok(x) for x in v):
        return [float(x) for x in v]
    raise sec.error(key, "expected a number or a list of numbers (one per element of the parameter)")


def _parse_free(sec: _Section) -> FreeSpec:
    sec.check_keys(("name", "lower", "upper", "positive", "start", "prior", "tolerance"))
    lower, upper = _number_or_list(sec, "lower"), _number_or_list(sec, "upper")
    if (lower is None) != (upper is None):
        raise sec.error(None, "give both lower and upper (a bounded parameter) or neither")
    if lower is not None and not np.all(np.asarray(lower) < np.asarray(upper)):
        raise sec.error("upper", f"must be greater than lower ({lower})")
    positive = sec.boolean("positive", False)
    if positive and lower is not None:
        raise sec.error("positive", "not with lower/upper (bounds already constrain it)")
    start = _number_or_list(sec, "start")
    prior = sec.sub("prior")
    pr = None
    if prior is not None:
        if prior.has("mean"):
            prior.check_keys(("mean", "sd"))
            pr = {"mean": prior.number("mean", required=True), "sd": prior.number("sd", required=True, positive=True)}
        elif prior.has("median"):
            prior.check_keys(("median", "sd_log"))
            pr = {
                "median": prior.number("median", required=True, positive=True),
                "sd_log": prior.number("sd_log", required=True, positive=True),
            }
        else:
            raise prior.error(None, "give mean and sd (normal) or median and sd_log (log-normal)")
    name = sec.string("name", required=True, hint='e.g. name = "tissue.velocity[0, 0]"')
    from ..calibrate._params import CalibrationError, _parse

    try:
        _parse(name)  # the syntax, and no private or special attribute (``__class__``), before anything is built
    except CalibrationError as e:
        raise sec.error("name", str(e).removeprefix("free parameter ")) from None
    return FreeSpec(name, lower, upper, positive, start, pr, sec.number("tolerance", None, positive=True))


_DATA_KEYS = {
    "activation-map": ("max_distance", "fit_offset"),
    "ecg": ("window", "leads", "max_shift", "fit_gains", "sampling_rate", "units"),
    "volume-curve": ("chamber", "time_offset"),
    "cuff": (),
    "pressure-trace": ("site", "time_offset"),
}
_NOISE_UNITS = {"activation-map": TIME, "ecg": VOLTAGE, "volume-curve": None, "cuff": None, "pressure-trace": None}


def _parse_data(sec: _Section) -> DataSpec:
    kind = sec.string("kind", required=True, choices=DATA_KINDS, hint="one of " + ", ".join(DATA_KINDS))
    sec.check_keys(("kind", "file", "name", "noise_sd", "weight") + _DATA_KEYS[kind])
    dim = _NOISE_UNITS[kind]
    noise = (
        sec.quantity("noise_sd", dim, None, positive=True)
        if dim is not None
        else sec.number("noise_sd", None, positive=True)
    )
    opts = {}
    if kind == "activation-map":
        opts = {
            "max_distance": sec.quantity("max_distance", LENGTH, 10.0, positive=True),
            "fit_offset": sec.boolean("fit_offset", True),
        }
    elif kind == "ecg":
        w = sec.raw("window")
        if w is not None:
            if not (isinstance(w, list) and len(w) == 2):
                raise sec.error("window", "expected [start, end] in ms of the measured record")
            w = tuple(sec.value_quantity(f"window[{i}]", v, TIME)[0] for i, v in enumerate(w))
            if not w[0] < w[1]:
                raise sec.error("window", f"start {w[0]} ms must be before end {w[1]} ms")
        leads = sec.raw("leads")
        if leads is not None and not (isinstance(leads, list) and all(isinstance(x, str) for x in leads)):
            raise sec.error("leads", 'expected a list of lead names like ["I", "II", "V1"]')
        opts = {
            "window": w,
            "leads": tuple(leads) if leads else None,
            "max_shift": sec.quantity("max_shift", TIME, 30.0, nonnegative=True),
            "fit_gains": sec.boolean("fit_gains", True),
            "sampling_rate": sec.number("sampling_rate", None, positive=True),
            "units": sec.string("units", None),
        }
    elif kind == "volume-curve":
        opts = {"chamber": sec.string("chamber", "LV").upper(), "time_offset": sec.quantity("time_offset", TIME, 0.0)}
    elif kind == "pressure-trace":
        opts = {"site": sec.string("site", None), "time_offset": sec.quantity("time_offset", TIME, 0.0)}
    file = sec.path_value("file")
    name = sec.string("name", None) or kind.replace("-", "_")
    return DataSpec(kind, file, name, noise, sec.number("weight", 1.0, positive=True), opts)


def _starts_count(sec: _Section) -> int:
    n = sec.integer("starts", 1, minimum=1)
    if n > MAX_STARTS:
        raise sec.error(
            "starts",
            f"{n:,} starts is more than the {MAX_STARTS:,} a fit runs (every start is a whole "
            "fit, all run at once in memory); use fewer, e.g. starts = 8",
        )
    return n


def _parse_fit(sec: _Section | None) -> FitOptions:
    if sec is None:
        sec = _Section("", "fit", {}, Path("."))
    sec.check_keys(
        (
            "method",
            "max_steps",
            "starts",
            "start_spread",
            "learning_rate",
            "rtol",
            "atol",
            "identified_rel_sd",
            "discretisation_check",
        )
    )
    method = sec.string("method", "levenberg-marquardt", choices=METHODS)
    out: FitOptions = {
        "method": method,
        "max_steps": sec.integer("max_steps", 200 if method == "adam" else 30, minimum=1),
        "starts": _starts_count(sec),
        "start_spread": sec.number("start_spread", 0.5, positive=True),
        "learning_rate": sec.number("learning_rate", 0.02, positive=True),
        "rtol": sec.number("rtol", 1e-6, positive=True),
        "atol": sec.number("atol", 1e-6, positive=True),
        "identified_rel_sd": sec.number("identified_rel_sd", 0.05, positive=True),
    }
    if sec.has("discretisation_check"):  # only when given: older fit.json files re-run against the same options
        out["discretisation_check"] = sec.boolean("discretisation_check", True)
    return out


def parse_calibration_case(
    data: dict[str, Any], *, text: str = "", source: str | Path = "<case>", base_dir: str | Path | None = None
) -> CalibrationCase:
    """Check case data (the dict `tomllib` gives) into a `CalibrationCase`."""
    base = Path(base_dir or ".")
    top = _Section(str(source), "", data, base)
    top.check_keys(_TOP)
    mesh = _parse_mesh(top.sub("mesh", required=True, hint='add [mesh] with builtin = "biv" or path = "..."'))
    eik = top.sub("eikonal")
    ecg = top.sub("ecg")
    circ = top.sub("circulation")
    free_secs = top.tables("free", hint='add [[free]] tables, e.g. name = "tissue.velocity[0, 0]"')
    free = tuple(_parse_free(s) for s in free_secs)
    names = [f.name for f in free]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise top.error("free", f"parameter {dup[0]!r} is named twice")
    circ_d = _parse_circulation(circ) if circ is not None else None
    config_blocks = ()
    if circ_d is not None and "config" in circ_d:  # free svZeroD parameters, BLOCK.PARAM (io/_svzerod_case.py)
        from ._svzerod_case import check_config_free

        config_blocks = check_config_free(circ_d, free_secs, free)
    parts = (
        (["tissue", "sites"] if eik is not None else [])
        + (["ecg"] if ecg is not None else [])
        + (["circulation"] if circ is not None and not config_blocks else [])
        + list(config_blocks)
    )
    for sec, f in zip(free_secs, free):
        head = f.name.split(".")[0].split("[")[0].strip()
        if head not in parts and not (
            head == "ecg" and any(isinstance(d, dict) and d.get("kind") == "ecg" for d in (data.get("data") or []))
        ):
            raise sec.error(
                "name",
                f"{f.name!r}: this case's model has no {head!r}, only "
                f"{', '.join(parts) or 'nothing'} (tissue and sites come with [eikonal], ecg with [ecg] "
                "or ECG data, circulation with [circulation])",
            )
    terms = tuple(_parse_data(s) for s in top.tables("data", hint="add [[data]] tables (kind, file, noise_sd)"))
    dnames = [d.name for d in terms]
    if len(set(dnames)) != len(dnames):
        raise top.error("data", f'data names must differ (got {dnames}); give each a name = "..."')
    kinds = {d.kind for d in terms}
    if kinds & {"activation-map", "ecg"} and eik is None:
        raise top.error(None, "activation-map and ecg data need an [eikonal] table (velocities and sites)")
    if kinds & {"volume-curve", "cuff", "pressure-trace"} and circ is None:
        raise top.error(None, "volume-curve, cuff and pressure-trace data need a [circulation] table")
    if circ_d is not None and circ_d["coupled"] and eik is None:
        raise top.error("circulation.coupled", "a coupled circulation needs an [eikonal] table")
    return CalibrationCase(
        source=Path(str(source)),
        text=text,
        base_dir=base,
        title=top.string("title", ""),
        seed=top.integer("seed", 0, minimum=0),
        dtype=top.string("dtype", "float64", choices=("float32", "float64")),
        mesh=mesh,
        eikonal=_parse_eikonal(eik) if eik is not None else None,
        ecg=_parse_ecg(ecg if ecg is not None else _Section(str(source), "ecg", {}, base))
        if "ecg" in kinds or ecg is not None
        else None,
        circulation=circ_d,
        free=free,
        data=terms,
        fit=_parse_fit(top.sub("fit")),
    )


# ================================================================================================================ build
@dataclass(frozen=True)
class Problem:
    """A case made concrete: the model pytree, its free parameters, the data terms, the mesh and the data read.
    Each term's forward reads ``simulate(model)`` (activation and circulation beat, computed once for all terms):
    ``simulate`` in forward mode (Levenberg–Marquardt and the report), ``simulate_reverse`` for Adam."""

    model: dict[str, Any]
    free: FreeParameters
    terms: tuple[Term, ...]
    simulate: Callable[[dict[str, Any]], dict[str, Any]]
    simulate_reverse: Callable[[dict[str, Any]], dict[str, Any]]
    mesh: Mesh
    data: dict[str, Any]
    u0: np.ndarray
    notes: tuple[str, ...] = ()  # lines for the run's summary (an svZeroD circulation's units, a timing warning)


def _read_mesh(case: CalibrationCase):
    from ..mesh import biv_mesh, builtin_mesh_path, lv_ellipsoid_mesh, read_mesh

    m = case.mesh
    if "path" in m:
        mesh = read_mesh(m["path"], scale=m["scale"])
    elif "builtin" in m:
        mesh = read_mesh(builtin_mesh_path(m["builtin"].replace("-", "_")), scale=m["scale"])
    else:
        mesh = (biv_mesh if m["generate"] == "biv" else lv_ellipsoid_mesh)(h=m["h"])
    return mesh


def _tissue(case, mesh, dtype):
    from .. import ep
    from ..mesh import choose_fibres

    e = case.eikonal
    v = e["velocity"]
    triples = list(v.values()) if isinstance(v, dict) else [v]
    anisotropic = any(len(set(np.atleast_1d(np.asarray(t, float)).tolist())) > 1 for t in triples)
    try:  # "none" drops the file's fibre arrays: before, a mesh with fibres stayed anisotropic under fibres = "none"
        mesh, _ = choose_fibres(mesh, e["fibres"], source=f"{case.source}: [eikonal] fibres", needs_fibres=anisotropic)
    except MeshError as err:
        raise CaseError(f"{case.source}: [eikonal] fibres = {e['fibres']!r}: {err}") from None
    cv = lambda t: ep.ConductionVelocity(*t)
    if isinstance(v, dict):
        missing = sorted(set(mesh.region_ids.tolist()) - set(v))
        extra = sorted(set(v) - set(mesh.region_ids.tolist()))
        if missing or extra:
            raise CaseError(
                f"{case.source}: [eikonal] velocity: regions {missing or extra} "
                f"{'have no velocity' if missing else 'are not in the mesh'} (mesh regions "
                f"{mesh.region_ids.tolist()})"
            )
        vel = {r: cv(t) for r, t in v.items()}
    else:
        vel = cv(v)
    try:
        tissue = ep.EikonalTissue.from_mesh(
            mesh, vel, fast_endocardium=e["fast_endocardium"], fast_velocity=e["fast_velocity"], dtype=dtype
        )
    except ValueError as err:
        raise CaseError(f"{case.source}: [eikonal] {err}") from None
    sites = {
        s["name"]: ep.EikonalSite(np.asarray(s["position"], dtype), np.asarray(s["onset"], dtype), radius=s["radius"])
        for s in e["sites"]
    }
    return mesh, tissue, sites


def _arr(x):
    return np.asarray(x, float) if isinstance(x, list) else x


def _free_parameters(case, model):
    from ..calibrate._params import (
        Bounded,
        CalibrationError,
        FreeParameter,
        FreeParameters,
        LogNormal,
        Normal,
        Positive,
        Unbounded,
    )

    params = []
    for f in case.free:
        t = Bounded(_arr(f.lower), _arr(f.upper)) if f.lower is not None else Positive() if f.positive else Unbounded()
        prior = None
        if f.prior is not None:
            prior = Normal(**f.prior) if "mean" in f.prior else LogNormal(**f.prior)
        params.append(FreeParameter(f.name, t, prior))
    try:
        for p, f in zip(params, case.free):
            if f.start is not None:
                model = p.set(model, np.asarray(f.start))
        return FreeParameters(params, model), model
    except CalibrationError as e:
        raise CaseError(f"{case.source}: [[free]] {e}") from None


def build_problem(case: CalibrationCase, *, mesh=None) -> Problem:
    """Read the mesh and the data, set up the model, the free parameters and the data terms of ``case``."""
    import jax.numpy as jnp

    from ..calibrate._fit import ActivationTimeLoss
    from ..calibrate._report import Term
    from ._patient_data import read_activation_map, read_cuff_pressure, read_ecg, read_pressure_trace, read_volume_curve

    dtype = jnp.float64 if case.dtype == "float64" else jnp.float32
    mesh = _read_mesh(case) if mesh is None else mesh
    model, data = {}, {}
    if case.eikonal is not None:
        mesh, model["tissue"], model["sites"] = _tissue(case, mesh, dtype)
    if case.ecg is not None:
        from ..calibrate._ecg_loss import EikonalECG

        e = case.ecg
        from ..ep import APTemplate

        try:
            model["ecg"] = EikonalECG.from_mesh(
                mesh,
                np.arange(0.0, e["duration"] + 0.5 * e["dt"], e["dt"]),
                sigma_i=e["sigma_i"],
                sigma_b=e["sigma_b"],
                apd_ms=e["apd"],
                template=APTemplate(tau_up=e["tau_up"], tau_rep=e["tau_rep"]),
                dtype=dtype,
            )
        except ValueError as err:
            raise CaseError(f"{case.source}: [ecg] {err}") from None
    notes, coupled_chambers = [], ()
    if case.circulation is not None and "config" in case.circulation:  # an svZeroD configuration
        from ._svzerod_case import build_config_circulation

        needed = _needed_observables(case)
        model["circulation"], values, notes, coupled_chambers = build_config_circulation(case, needed, dtype)
        model.update(values)  # the freed svZeroD parameters, model[BLOCK][PARAM] (config units)
    elif case.circulation is not None:
        from ..flow.zerod import ValveLaw, regazzoni2022

        c = case.circulation
        try:
            model["circulation"] = regazzoni2022(valve_law=ValveLaw.TANH, params=c["params"], dtype=dtype)
        except ValueError as err:
            raise CaseError(f"{case.source}: [circulation] params: {err}") from None
        if c.get("reference_config") is not None:
            from .._errors import CalibrationWarning
            from ._svzerod_case import timing_warning

            line = timing_warning(case, c["reference_config"])
            if line is not None:
                warnings.warn(line, CalibrationWarning, stacklevel=2)
                notes.append("warning: " + line)
    free, model = _free_parameters(case, model)

    kinds = {d.kind for d in case.data}
    needs_activation = bool(kinds & {"activation-map", "ecg"}) or (case.circulation or {}).get("coupled", False)
    # the [circulation] options when curves are fitted (parse_calibration_case refuses curve data without the table)
    curves = case.circulation if kinds & {"volume-curve", "cuff", "pressure-trace"} else None
    if curves is not None and curves["coupled"] and coupled_chambers:
        from ._svzerod_case import coupling_masks

        masks = coupling_masks(mesh, coupled_chambers, str(case.source))
    elif curves is not None and curves["coupled"]:
        lv, rv = _ventricle_masks(mesh)

    def simulate(model, forward_mode):
        """Everything the data terms read, computed once per model evaluation: the activation (eikonal) and one
        periodic beat of the circulation (driven by that activation when coupled)."""
        from ..calibrate._haemo import circulation_curves

        out = {"model": model}
        if needs_activation:
            out["activation"] = _activation(model, forward_mode)
        if curves is not None and "config" in curves:  # an svZeroD configuration (io/_svzerod_case.py)
            cc = model["circulation"]
            circ = cc.circulation(model)
            if curves["coupled"]:
                from ._svzerod_case import couple_config

                circ = couple_config(circ, out["activation"], masks, delay_ms=curves["delay"])
            out["curves"] = cc.curves(
                circ,
                cycles=curves["cycles"],
                points=curves["points"],
                forward_mode=forward_mode,
                integrator=curves.get("integrator"),
            )
        elif curves is not None:
            c = curves
            circ = model["circulation"]
            if c["coupled"]:
                from ..couple import couple_circulation

                kw = {} if c["delay"] is None else {"delay_ms": c["delay"]}
                circ = couple_circulation(circ, out["activation"], lv, rv, **kw)
            out["curves"] = circulation_curves(
                circ,
                cycles=c["cycles"],
                points=c["points"],
                forward_mode=forward_mode,
                integrator=c.get("integrator"),  # a discretisation check's tighter one (io/_discretisation.py)
            )
        return out

    terms = []
    for d in case.data:
        try:
            if d.kind == "activation-map":
                amap = read_activation_map(d.file)
                data[d.name] = amap
                loss = ActivationTimeLoss.from_map(
                    mesh,
                    amap,
                    fit_offset=d.options["fit_offset"],
                    max_distance_mm=d.options["max_distance"],
                    noise_sd=d.noise_sd or 1.0,
                    dtype=dtype,
                )
                terms.append(Term(d.name, loss, lambda sim: sim["activation"], d.weight))
            elif d.kind == "ecg":
                from ..calibrate._ecg_loss import ECGLoss

                o = d.options
                ecg = read_ecg(d.file, sampling_rate_hz=o["sampling_rate"], units=o["units"])
                data[d.name] = ecg
                loss = ECGLoss.from_measured(
                    ecg,
                    model["ecg"].times_ms,
                    window_ms=o["window"],
                    leads=o["leads"],
                    max_shift_ms=o["max_shift"],
                    fit_gains=o["fit_gains"],
                    noise_sd=d.noise_sd,  # None: the loss's default
                    dtype=dtype,
                )
                terms.append(Term(d.name, loss, lambda sim: sim["model"]["ecg"](sim["activation"]), d.weight))
            else:
                from ..calibrate._haemo import CuffPressureLoss, PressureTraceLoss, VolumeCurveLoss

                period_ms = 1000.0 * float(model["circulation"].period)  # (an array leaf of the Circulation)
                kw = {} if d.noise_sd is None else {"noise_sd": d.noise_sd}
                if d.kind == "volume-curve":
                    curve = read_volume_curve(d.file, chamber=d.options["chamber"])
                    loss = VolumeCurveLoss.from_curve(
                        curve, d.options["chamber"], period_ms=period_ms, time_offset_ms=d.options["time_offset"], **kw
                    )
                elif d.kind == "cuff":
                    curve = read_cuff_pressure(d.file)
                    loss = CuffPressureLoss.from_cuff(curve, **kw)
                else:
                    curve = read_pressure_trace(d.file, site=d.options["site"])
                    loss = PressureTraceLoss.from_trace(
                        curve, d.options["site"], period_ms=period_ms, time_offset_ms=d.options["time_offset"], **kw
                    )
                data[d.name] = curve
                terms.append(Term(d.name, loss, lambda sim: sim["curves"], d.weight))
        except (ValueError, OSError) as err:
            msg = str(err)
            raise type(err)(msg if str(d.file.name) in msg else f"{d.file}: {msg}") from None
    return Problem(
        model,
        free,
        tuple(terms),
        lambda m: simulate(m, True),
        lambda m: simulate(m, False),
        mesh,
        data,
        np.asarray(free.pack(model)),
        tuple(notes),
    )


def _needed_observables(case: CalibrationCase) -> dict:
    """{"volume": chambers, "pressure": sites} the case's volume, pressure and cuff data read off the circulation."""
    vol, pres = set(), set()
    for d in case.data:
        if d.kind == "volume-curve":
            vol.add(d.options["chamber"])
        elif d.kind == "cuff":
            pres.add("aorta")
        elif d.kind == "pressure-trace":
            site = d.options["site"]
            if site is None:  # the trace's own site
                from ._patient_data import read_pressure_trace

                site = read_pressure_trace(d.file, site=None).site
            known = {k.lower(): k for k in ("LV", "RV", "aorta", "pulmonary_artery")}
            pres.add(known.get(str(site).lower().replace(" ", "_"), str(site)))
    return {"volume": vol, "pressure": pres}


def _ventricle_masks(mesh):
    """LV / RV node volume weights (`region_node_volumes`) of the regions `organtwin.mesh.ventricle_regions` takes as the
    LV (a septum joins it) and the RV: the one rule every command uses."""
    from ..couple import region_node_volumes
    from ..mesh import ventricle_regions

    try:
        lv_ids, rv_ids, _ = ventricle_regions(mesh)
    except MeshError as e:
        raise CaseError(f"a coupled circulation needs the LV and RV regions of the mesh: {e}") from None
    return region_node_volumes(mesh, lv_ids), region_node_volumes(mesh, rv_ids)


# ================================================================================================================ run
@dataclass(frozen=True)
class CalibrationOutcome:
    case: CalibrationCase
    problem: Problem
    result: FitResult
    report: FitReport
    provenance: dict


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("organtwin", "jax", "jaxlib", "equinox", "optimistix", "optax", "diffrax", "lineax", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _starts(case, free, u0):
    n = case.fit["starts"]
    if n == 1:
        return u0
    rng = np.random.default_rng(case.seed)
    extra = u0[None, :] + case.fit["start_spread"] * rng.standard_normal((n - 1, u0.size))
    return np.concatenate([u0[None, :], extra], axis=0)


def _check_signal(case: CalibrationCase, problem: Problem) -> None:
    """Refuse to fit an ECG term whose every lead is flat over its window (no signal: nothing to fit)."""
    for t in problem.terms:
        m = getattr(t.loss, "measured", None)
        leads = getattr(t.loss, "leads", None)
        if leads is not None and m is not None and np.ndim(m) == 2 and np.all(np.ptp(np.asarray(m), axis=1) == 0):
            d = next(d for d in case.data if d.name == t.name)
            raise CaseError(
                f"{d.file}: no usable lead: every lead ({', '.join(leads)}) is flat over the window "
                "(constant); give a record with a signal, or another window"
            )


def _memory_available() -> tuple[float, str] | None:
    """(bytes free for a fit, where): the accelerator's free memory when JAX runs on one, else the host's available
    memory (`organtwin._sizes.available_memory`); None when unknown."""
    import jax

    from .._sizes import available_memory

    dev = jax.devices()[0]
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        if stats.get("bytes_limit"):
            return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), f"free {dev.platform.upper()} memory"
    avail = available_memory()
    return None if avail is None else (float(avail), "host memory available")


def fit_bytes_per_start(case: CalibrationCase, problem: Problem) -> int:
    """An estimate of the memory one start of ``case``'s fit holds at once: every tangent of the forward-mode
    Jacobian (free values + 1) carries the eikonal's node and tet arrays (64 values a node, 100 a tet: measured, 400
    starts of a 1,737-node, 6,157-tet activation-map fit with one free value, float64 Levenberg–Marquardt on the CPU,
    held 11.9 MB each in resident memory; this gives 11.6 MB), the model ECG's time chunk × nodes and its (times, 12)
    leads, and the circulation's beat."""
    n_tan = problem.free.size + 1
    itemsize = 8 if case.dtype == "float64" else 4
    per = 0
    if "tissue" in problem.model:
        per += 64 * problem.mesh.n_nodes + 100 * problem.mesh.n_cells
    if "ecg" in problem.model:
        ecg = problem.model["ecg"]
        per += int(ecg.chunk) * problem.mesh.n_nodes + 13 * int(ecg.times_ms.shape[0])
    if case.circulation is not None:
        per += 32 * case.circulation["points"] * case.circulation["cycles"]
    return int(n_tan * itemsize * per)


def check_fit_memory(case: CalibrationCase, problem: Problem, *, available=None) -> None:
    """Refuse, in one line with the limit, a fit whose starts cannot fit in memory at once (`fit_bytes_per_start` ×
    starts against the memory available), before the starts are drawn or anything is compiled."""
    from .._sizes import MEMORY_FRACTION

    n = case.fit["starts"]
    per = fit_bytes_per_start(case, problem)
    avail = _memory_available() if available is None else available
    if avail is None or per * n <= MEMORY_FRACTION * avail[0]:
        return
    gib = 2.0**30
    cap = MEMORY_FRACTION * avail[0]
    limit = int(cap // per) if per else n
    what = (
        f"[fit] starts = {n:,}: the starts run at once, each holding about {per / 2**20:.3g} MiB here "
        f"({problem.mesh.n_nodes:,} nodes, {problem.free.size} free values), {per * n / gib:.3g} GiB in all"
    )
    if limit >= 1:
        raise CaseError(
            f"{case.source}: {what}, more than {cap / gib:.3g} GiB ({MEMORY_FRACTION:.0%} of the "
            f"{avail[0] / gib:.3g} GiB of {avail[1]}); use at most starts = {limit:,}"
        )
    raise CaseError(
        f"{case.source}: one start of this fit holds about {per / gib:.3g} GiB "
        f"({problem.mesh.n_nodes:,} nodes, {problem.free.size} free values), more than {cap / gib:.3g} "
        f"GiB ({MEMORY_FRACTION:.0%} of the {avail[0] / gib:.3g} GiB of {avail[1]}); free fewer "
        "parameters or use a coarser mesh"
    )


def provenance(case: CalibrationCase, problem: Problem) -> dict:
    """Hashes of the case and every file it read, the software versions, the seed and the options."""
    files = {d.name: {"path": str(d.file), "sha256": _sha256(d.file)} for d in case.data}
    mesh = dict(case.mesh)
    if "path" in mesh:
        mesh = {**mesh, "path": str(mesh["path"]), "sha256": _sha256(mesh["path"])}
    elif "builtin" in mesh:
        from ..mesh import builtin_mesh_path

        p = builtin_mesh_path(mesh["builtin"].replace("-", "_"))
        mesh = {**mesh, "path": str(p), "sha256": _sha256(p)}
    mesh.update({"nodes": int(problem.mesh.n_nodes), "tets": int(problem.mesh.n_cells)})
    extra = {}
    c = case.circulation or {}
    if "config" in c:  # an svZeroD configuration: its file, hash and the units assumed (io/_svzerod_case.py)
        extra["circulation"] = {"config": str(c["config"]), "sha256": _sha256(c["config"]), "units": c["units"]}
    return {
        "case_file": str(case.source),
        "case_dir": str(case.base_dir),
        "case_sha256": hashlib.sha256(case.text.encode()).hexdigest(),
        "case_text": case.text,
        "data": files,
        "mesh": mesh,
        **extra,
        "seed": case.seed,
        "dtype": case.dtype,
        "fit_options": case.fit,
        "versions": _versions(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def run_calibration(
    case: CalibrationCase,
    *,
    progress: bool | Callable[..., None] = True,
    truth: dict | None = None,
    say=print,
    check=None,
    discretisation: bool | None = False,
) -> CalibrationOutcome:
    """Build ``case``, fit it with its optimiser, report. ``discretisation``: then re-fit on the case made finer
    (h/2, dt/2, 0D tolerances / 10) and put the shift in the report's SDs (`io._discretisation.check_discretisation`);
    otherwise the report says its SDs are statistical only; None: as the case's ``[fit] discretisation_check`` says
    (true when it does not say). ``truth`` ({parameter name: value}) adds relative errors.
    ``check(problem)``, if given, runs once the problem is built, before the fit (a re-run's checks); then the starts
    are bounded against the memory available (`check_fit_memory`).

    A ``dtype = "float64"`` case runs in JAX's 64-bit mode for this call only (``jax.enable_x64``, scoped to the
    thread; the process's setting is left as it was): the fit, its report and the fitted model's outputs
    (``outcome.report.observables``, what the pictures draw) are all computed inside it."""
    import contextlib

    import jax

    x64 = jax.enable_x64(True) if case.dtype == "float64" else contextlib.nullcontext()
    with x64:
        outcome = _run_calibration(case, progress=progress, truth=truth, say=say, check=check)
        import dataclasses

        from ._discretisation import check_discretisation

        if discretisation is None:
            discretisation = case.fit.get("discretisation_check", True)
        if discretisation and case.fit["method"] != "adam":
            report = check_discretisation(case, outcome.problem, outcome.result, outcome.report, say=say)
        else:
            why = "an Adam fit (no Gauss-Newton re-fit)" if discretisation else "switched off"
            report = outcome.report.with_discretisation(None, skipped=why)
        return dataclasses.replace(outcome, report=report)


def _run_calibration(case: CalibrationCase, *, progress, truth, say, check) -> CalibrationOutcome:
    import optimistix as optx

    from ..calibrate._fit import fit_adam, fit_least_squares
    from ..calibrate._report import fit_report, joint_residuals

    problem = build_problem(case)
    if check is not None:
        check(problem)
    _check_signal(case, problem)
    check_fit_memory(case, problem)
    say(f"case {case.source}{': ' + case.title if case.title else ''}")
    say(
        f"mesh: {problem.mesh.n_nodes} nodes, {problem.mesh.n_cells} tets; free: {', '.join(problem.free.names)} "
        f"({problem.free.size} values); data: "
        + ", ".join(f"{t.name} ({t.loss.__class__.__name__})" for t in problem.terms)
    )
    for line in problem.notes:
        say(line)
    u0 = _starts(case, problem.free, problem.u0)
    f = case.fit
    if f["method"] == "adam":
        import jax.numpy as jnp
        import optax

        joint = joint_residuals(problem.terms, problem.simulate_reverse)

        def objective(model):  # ½ Σ whitened², the least-squares objective (its priors are added by fit_adam)
            return 0.5 * jnp.sum(jnp.square(joint(model)))

        sched = optax.cosine_decay_schedule(f["learning_rate"], f["max_steps"], alpha=0.05)
        result = fit_adam(
            objective,
            problem.free,
            problem.model,
            learning_rate=sched,
            steps=f["max_steps"],
            u0=u0,
            progress=progress,
            print_every=max(1, f["max_steps"] // 20),
        )
    else:
        solver = (
            optx.LevenbergMarquardt(rtol=f["rtol"], atol=f["atol"])
            if f["method"] == "levenberg-marquardt"
            else optx.GaussNewton(rtol=f["rtol"], atol=f["atol"])
        )
        result = fit_least_squares(
            joint_residuals(problem.terms, problem.simulate),
            problem.free,
            problem.model,
            solver=solver,
            max_steps=f["max_steps"],
            u0=u0,
            progress=progress,
        )
    _check_final(problem, result)
    report = fit_report(
        result,
        problem.free,
        problem.model,
        problem.terms,
        shared=problem.simulate,
        identified_rel_sd=f["identified_rel_sd"],
        tolerance=tolerances(case),
        truth=truth,
        units={n: parameter_unit(n) or _config_unit(case, n) for n in problem.free.names},
    )
    return CalibrationOutcome(case, problem, result, report, provenance(case, problem))


def _config_unit(case: CalibrationCase, name: str) -> str:
    """An svZeroD configuration's parameter's unit, in the configuration's unit system (io/_svzerod_case.py)."""
    from ._svzerod_case import config_parameter_unit

    return config_parameter_unit(case.circulation, name)


def _check_final(problem: Problem, result) -> None:
    """A fit that ended with a non-finite objective: the model at its last point evaluated with concrete values, so
    that a failed eikonal solve raises its own message (node, coordinates; `_activation`) rather than the fit's."""
    import numpy as np

    if not np.isfinite(float(result.loss)):
        problem.simulate(result.model)


def _activation(model: dict[str, Any], forward_mode: bool):
    """The eikonal's activation times of a calibration model. Called with concrete values (the report, the pictures,
    a check after the fit) a failed solve raises with its node and coordinates (``throw=True``). Traced, inside a fit's
    or a sampler's compiled program, a failed solve gives NaN activation times instead, which the fit treats as a
    failed trial point (a rejected step; a fit that ends non-finite is checked with concrete values, which raises
    the solver's own message: `_check_final`). Why not ``throw=True`` there too: equinox's in-program check is a host
    callback, and JAX writes no persistent-cache entry for a program holding one, so every calibration compiled its
    fit again in every process (a 1-step fit on the suite's 1.7k-node LV map, second run: 25.8 CPU s, 8.0 now)."""
    import jax
    import jax.core
    import jax.numpy as jnp

    from .. import ep
    from .._solution import RESULTS

    sites = tuple(model["sites"].values())
    traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves((model["tissue"], sites)))
    res = ep.simulate_eikonal(model["tissue"], sites, forward_mode=forward_mode, throw=not traced)
    if not traced:
        return res.activation
    return jnp.where(res.result == RESULTS.successful, res.activation, jnp.nan)


def tolerances(case: CalibrationCase) -> dict:
    """{name: absolute tolerance} of the free parameters that set one."""
    return {f.name: f.tolerance for f in case.free if f.tolerance is not None}


def _json_object(d: Mapping[str, object]) -> dict[str, Any]:
    """`organtwin.calibrate._report._json` of a dict: plain JSON values, a dict again."""
    from ..calibrate._report import _json

    out = _json(d)
    assert isinstance(out, dict)  # _json maps a dict to a dict
    return out


def fit_record(outcome: CalibrationOutcome) -> dict:
    """What fit.json holds: the fitted values (and the unconstrained vector that re-creates them), how the fit ended,
    and the provenance."""
    from .._solution import result_name
    from ._discretisation import uncertainty_record

    r = outcome.result
    return _json_object(
        {
            "organtwin_fit": 1,
            "parameters": {k: np.asarray(v) for k, v in r.values.items()},
            "u": r.u,
            "objective": r.loss,
            "steps": r.steps,
            "seconds": r.seconds,
            "result": result_name(r.result),
            "message": r.message,
            "history": r.history,
            "uncertainty": uncertainty_record(outcome.report),
            "provenance": outcome.provenance,
        }
    )


def write_calibration(
    outcome: CalibrationOutcome, out, *, pictures=None, samples: CalibrationSamples | None = None
) -> list[Path]:
    """DIR/fit.json, report.json, summary.txt, summary.json and what ``pictures(folder)`` draws there (the CLI passes
    `organtwin.viz.calibration_pictures` of the outcome's observables) — all or nothing. With ``samples``
    (`sample_calibration`): posterior.npz (the draws) and a "posterior" section in fit.json and report.json
    (`posterior_record`), the sampler's table in summary.txt."""
    from ._results import results_folder, write_json

    written = []
    with results_folder(out) as tmp:
        tmp = Path(tmp)
        record = fit_record(outcome)
        if samples is not None:
            record["posterior"] = posterior_record(samples, outcome.report)
            write_posterior_draws(samples, tmp / "posterior.npz")
        write_json(tmp / "fit.json", record)
        write_fit_report(outcome.report, tmp, samples=samples)
        write_json(
            tmp / "summary.json",
            {"organtwin_results": "calibration", "case": str(outcome.case.source), "objective": outcome.result.loss},
        )
        if pictures is not None:
            pictures(tmp)
        write_report_html(outcome, tmp, samples=samples)
        written = sorted(p.name for p in tmp.iterdir())
    return [Path(out) / n for n in written]


def write_fit_report(report, directory, *, samples: CalibrationSamples | None = None) -> list[Path]:
    """report.json and summary.txt of a `FitReport` in ``directory`` (each atomically: no half-written files); with
    ``samples``, report.json's "posterior" section and the sampler's table after the report's."""
    from ._results import atomic_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    rec, summary = report.to_dict(None if samples is None else samples.posterior), report.summary()
    if samples is not None:
        rec["posterior"] = posterior_record(samples, report)
        summary += "\n" + samples.summary()
    for name, text in (
        ("report.json", json.dumps(rec, indent=1, allow_nan=False) + "\n"),
        ("summary.txt", summary),
    ):
        with atomic_file(d / name) as (fh, _):
            assert fh is not None  # a text mode ("w") opens a handle
            fh.write(text)
        out.append(d / name)
    return out


def write_report_html(outcome: CalibrationOutcome, directory, *, samples: CalibrationSamples | None = None) -> Path:
    """report.html in ``directory`` (atomically): the report's table (per parameter value, SDs, discretisation shift,
    identifiability, credible interval when sampled, verdict), the data fit per term, and the pictures already in
    ``directory``, for a browser (`organtwin.calibrate._report.report_html`)."""
    from ..calibrate._report import report_html
    from ._results import atomic_file

    d = Path(directory)
    pngs = sorted(p.name for p in d.glob("*.png"))
    text = report_html(
        outcome.report,
        title=outcome.case.title or str(outcome.case.source),
        posterior=None if samples is None else samples.posterior,
        pictures=pngs,
    )
    with atomic_file(d / "report.html") as (fh, _):
        assert fh is not None
        fh.write(text)
    return d / "report.html"


# ============================================================================================================ sample
_UNITS = (  # (pattern on a free parameter's name, unit): the case file's model pytree (module docstring)
    (re.compile(r"^tissue\.(fast_)?velocity"), "m/s"),
    (re.compile(r"^sites\.[^.]+\.position"), "mm"),
    (re.compile(r"^sites\.[^.]+\.(onset|radius)"), "ms"),
    (re.compile(r"^ecg\.(apd_ms|template\.tau_\w+)"), "ms"),
    (re.compile(r"\.(e_active|e_passive|elastance\w*)(\[|$)"), "mmHg/mL"),
    (re.compile(r"\.(resistance|r_\w+)(\[|$)"), "mmHg·s/mL"),
    (re.compile(r"\.(capacitance|compliance|c_\w+)(\[|$)"), "mL/mmHg"),
    (re.compile(r"\.(inductance|inertance|l_\w+)(\[|$)"), "mmHg·s²/mL"),
)


def parameter_unit(name: str) -> str:
    """The unit of a case's free parameter (or one element, ``name[i]``), from its path into the case's model
    (velocities m/s, positions mm, onsets ms, 0D elastances mmHg/mL, resistances mmHg·s/mL, compliances mL/mmHg);
    "" where unknown."""
    if re.match(r"^sites\.[^.]+\.radius", name):
        return "mm"
    for pattern, unit in _UNITS:
        if pattern.search(name):
            return unit
    return ""


@dataclass(frozen=True)
class CalibrationSamples:
    """A fit's sampled posterior (`organtwin.calibrate.sample_posterior`) and the profile likelihoods of the values
    its report flags as not identified (`organtwin.calibrate.profile_likelihood`), by element name."""

    posterior: Any  # PosteriorSamples
    profiles: dict[str, Any]  # {element name: ProfileLikelihood}
    units: dict[str, str]

    def summary(self) -> str:
        return self.posterior.summary() + "".join(
            f"profile of {n}: 68% {_interval_text(p.interval_68)}, 95% {_interval_text(p.interval_95)} "
            f"({p.values.size} points, {p.values[0]:.4g} to {p.values[-1]:.4g})\n"
            for n, p in self.profiles.items()
        )


def _interval_text(iv) -> str:
    lo, hi = iv
    return f"[{'below the grid' if lo is None else f'{lo:.4g}'}, {'above the grid' if hi is None else f'{hi:.4g}'}]"


def sample_calibration(
    outcome: CalibrationOutcome,
    *,
    draws: int,
    chains: int = 4,
    warmup: int = 200,
    seed: int | None = None,
    profiles: bool = True,
    progress: bool | Callable[..., None] = False,
    say=print,
) -> CalibrationSamples:
    """NUTS draws of a fitted case's posterior (`organtwin.calibrate.sample_posterior`), from its optimum, with the
    report's fitted noise scale (s² = the report's covariance scale), and (``profiles``) a profile likelihood of every
    value the report flags as not identified. The gradients are by reverse mode through the eikonal where the case
    has one (one adjoint solve), else by a forward-mode Jacobian (the 0D circulation: few parameters). ``seed``:
    default the case's. In JAX's 64-bit mode for a float64 case, as `run_calibration`."""
    import contextlib

    import jax

    case = outcome.case
    x64 = jax.enable_x64(True) if case.dtype == "float64" else contextlib.nullcontext()
    with x64:
        return _sample_calibration(outcome, draws, chains, warmup, seed, profiles, progress, say)


def _sample_calibration(outcome, draws, chains, warmup, seed, profiles, progress, say) -> CalibrationSamples:
    import math

    from ..calibrate._report import joint_residuals
    from ..calibrate._sample import profile_likelihood, sample_posterior

    problem, report = outcome.problem, outcome.report
    residuals = joint_residuals(problem.terms, problem.simulate)
    reverse = joint_residuals(problem.terms, problem.simulate_reverse) if "tissue" in problem.model else None
    s = math.sqrt(report.scale)
    say(
        f"sampling: NUTS, {chains} chains, {draws} draws, {warmup} warmup steps per chain, noise scale {s:.3g}, "
        f"gradients by {'reverse' if reverse is not None else 'forward'} mode, chains "
        f"{'one after another' if reverse is not None else 'batched (vmap)'}"
    )
    post = sample_posterior(
        residuals,
        problem.free,
        problem.model,
        outcome.result.u,
        draws=draws,
        chains=chains,
        warmup=warmup,
        reverse_residuals=reverse,
        noise_scale=s,
        seed=outcome.case.seed if seed is None else seed,
        progress=progress,
        # the eikonal's band switch and sweep loop run every branch and the slowest chain's sweeps when the chains are
        # vmapped: one after another is 5x cheaper per gradient there (benchmarks/RESULTS.md, sampled posterior)
        vmap_chains=reverse is None,
    )
    prof = {}
    if profiles:
        for n in report.not_identified:
            say(f"profile likelihood of {n} (not identified by the data)")
            prof[n] = profile_likelihood(residuals, problem.free, problem.model, outcome.result.u, n, noise_scale=s)
    return CalibrationSamples(post, prof, {n: parameter_unit(n) for n in post.names})


def posterior_record(samples: CalibrationSamples, report) -> dict:
    """The "posterior" section of fit.json and report.json: the sampler's figures, and per parameter the Laplace
    intervals (value ± 1 and 1.96 SD of the report) beside the credible ones, R-hat and ESS; the profiles."""
    rec = samples.posterior.to_dict()
    sd = dict(zip(report.names, np.asarray(report.sd, float)))
    for n, entry in rec["parameters"].items():
        v, s = float(entry["optimum"]), sd.get(n, float("nan"))
        entry["unit"] = samples.units.get(n, "")
        entry["laplace_sd"] = s
        entry["laplace_68"] = [v - s, v + s]
        entry["laplace_95"] = [v - 1.96 * s, v + 1.96 * s]
    rec["profiles"] = {n: p.to_dict() for n, p in samples.profiles.items()}
    return _json_object(rec)


def write_posterior_draws(samples: CalibrationSamples, path) -> Path:
    """posterior.npz: ``names``, ``units``, ``draws`` (chains, draws, p) in the parameters' units, ``u_draws`` (the
    fit's unconstrained coordinates), ``logdensity`` (chains, draws), ``optimum`` (p,) — atomically."""
    from ._results import atomic_file

    post = samples.posterior
    path = Path(path)
    with atomic_file(path, "wb") as (fh, _):
        assert fh is not None
        np.savez(
            fh,
            names=np.asarray(post.names),
            units=np.asarray([samples.units.get(n, "") for n in post.names]),
            draws=post.draws,
            u_draws=post.u_draws,
            logdensity=post.logdensity,
            optimum=post.optimum,
        )
    return path


# ============================================================================================================ re-run
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _what(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}" + ("..." if len(v) > 40 else "")
    if isinstance(v, list):
        return f"a list of {len(v)}"
    return "an object" if isinstance(v, dict) else type(v).__name__


def _numbers(v) -> bool:
    """A finite number or a (nested, rectangular or not) non-empty list of them."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return bool(np.isfinite(v))
    return isinstance(v, list) and bool(v) and all(_numbers(x) for x in v)


_FIT_FIELDS = (  # (dotted field, test, what it must be): everything a re-run reads, in the order it reads it
    (
        "parameters",
        lambda v: isinstance(v, dict) and bool(v) and all(_numbers(x) for x in v.values()),
        "an object {parameter name: number or list of numbers}",
    ),
    (
        "u",
        lambda v: isinstance(v, list) and bool(v) and all(_numbers(x) and not isinstance(x, list) for x in v),
        "a list of finite numbers (the unconstrained vector)",
    ),
    ("provenance", lambda v: isinstance(v, dict), "an object"),
    ("provenance.case_text", lambda v: isinstance(v, str) and bool(v.strip()), "the case file's text (a string)"),
    (
        "provenance.case_sha256",
        lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)),
        "64 lower-case hex digits (the SHA-256 of case_text)",
    ),
    ("provenance.case_file", lambda v: isinstance(v, str) and bool(v.strip()), "a path (string)"),
    ("provenance.case_dir", lambda v: isinstance(v, str) and bool(v.strip()), "a path (string)"),
    ("provenance.data", lambda v: isinstance(v, dict) and bool(v), "an object {data name: {path, sha256}}"),
    ("provenance.mesh", lambda v: isinstance(v, dict), "an object (the mesh's path or builtin, sha256, nodes, tets)"),
    (
        "provenance.mesh.nodes",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive whole number",
    ),
    (
        "provenance.mesh.tets",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
        "a positive whole number",
    ),
    ("provenance.seed", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    ("provenance.dtype", lambda v: v in ("float32", "float64"), '"float32" or "float64"'),
    ("provenance.fit_options", lambda v: isinstance(v, dict), "an object (the [fit] options)"),
    ("provenance.versions", lambda v: isinstance(v, dict), "an object {package: version}"),
)


def _bad_field(p, field: str, message: str) -> CaseError:
    return CaseError(
        f"{p}: {field}: {message}; a fit.json organtwin wrote has it (was the file edited or cut?), or "
        "re-run from the case file instead"
    )


def _check_fit_structure(rec: dict, p: Path) -> None:
    """Every field a re-run reads, with its type, before anything is read or built: one line naming the field."""
    for name, ok, what in _FIT_FIELDS:
        v = rec
        for part in name.split("."):
            if not isinstance(v, dict) or part not in v:
                raise _bad_field(p, name, f"missing (expected {what})")
            v = v[part]
        if not ok(v):
            raise _bad_field(p, name, f"expected {what}, got {_what(v)}")
    for dname, entry in rec["provenance"]["data"].items():
        if not isinstance(entry, dict):
            raise _bad_field(p, f"provenance.data.{dname}", f"expected an object {{path, sha256}}, got {_what(entry)}")
        for key, ok, what in (
            ("path", lambda v: isinstance(v, str), "a path (string)"),
            ("sha256", lambda v: isinstance(v, str) and _HEX64.fullmatch(v), "64 lower-case hex digits"),
        ):
            if not ok(entry.get(key)):
                raise _bad_field(
                    p,
                    f"provenance.data.{dname}.{key}",
                    f"expected {what}, got {_what(entry.get(key)) if key in entry else 'nothing'}",
                )
    mesh = rec["provenance"]["mesh"]
    if ("path" in mesh or "builtin" in mesh) and not (
        isinstance(mesh.get("sha256"), str) and _HEX64.fullmatch(mesh["sha256"])
    ):
        raise _bad_field(
            p, "provenance.mesh.sha256", f"expected 64 lower-case hex digits, got {_what(mesh.get('sha256'))}"
        )
    v = rec["provenance"]["versions"].get("organtwin")
    if v is not None and not isinstance(v, str):
        raise _bad_field(p, "provenance.versions.organtwin", f"expected a version string, got {_what(v)}")


def read_fit(path) -> dict:
    """A saved fit.json, its structure checked (every field a re-run reads, with its type): a one-line `CaseError`
    naming the file and the field if it is not one."""
    p = Path(path)
    if not p.is_file():
        raise CaseError(f"{p}: no such fit.json" if not p.exists() else f"{p} is a folder; give its fit.json")
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CaseError(f"{p}: cannot read the fit ({' '.join(str(e).split())})") from None
    if not isinstance(rec, dict) or "organtwin_fit" not in rec:
        raise CaseError(
            f"{p}: not an organtwin fit.json (no organtwin_fit field); give the fit.json of an "
            "`organtwin calibrate` results folder"
        )
    if rec["organtwin_fit"] != 1 or isinstance(rec["organtwin_fit"], bool):
        raise CaseError(
            f"{p}: organtwin_fit: version {_what(rec['organtwin_fit'])} is not one this organtwin reads (1)"
        )
    _check_fit_structure(rec, p)
    return rec


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _rerun_case_dir(p: Path, prov: dict, case_dir) -> tuple[Path, str]:
    """The folder the stored case's relative paths are read against, and where it came from."""
    if case_dir is not None:
        d = Path(case_dir).expanduser()
        if not d.is_dir():
            raise CaseError(f"--case-dir {d}: no such folder; give the folder that holds the case's data files")
        return d.resolve(), "from --case-dir"
    d = Path(prov["case_dir"])
    if not d.is_absolute():
        raise _bad_field(
            p, "provenance.case_dir", f"expected an absolute path (organtwin writes one), got {_what(prov['case_dir'])}"
        )
    if not d.is_dir():
        raise CaseError(
            f"{p}: the case folder of the saved fit, {d} (provenance.case_dir), does not exist any more; "
            "give --case-dir DIR, the folder that now holds the case's data files"
        )
    cf = Path(prov["case_file"])
    if cf.is_absolute() and cf.parent.resolve() != d.resolve():
        raise CaseError(
            f"{p}: provenance.case_file {cf} is not in provenance.case_dir {d} (the fit.json was edited?); "
            "give --case-dir DIR to say which folder to read"
        )
    return d.resolve(), "provenance.case_dir"


def _confine(p: Path, raw: dict, base: Path, allow_outside: bool) -> None:
    """Refuse a stored case whose mesh or data paths lie outside its case folder (absolute paths, ``..``, links that
    lead out): a fit.json must not make a re-run read files elsewhere unless the user allows it."""
    if allow_outside:
        return
    places = []
    if isinstance(raw.get("mesh"), dict) and isinstance(raw["mesh"].get("path"), str):
        places.append(("[mesh] path", raw["mesh"]["path"]))
    for i, d in enumerate(raw.get("data") or []):
        if isinstance(d, dict) and isinstance(d.get("file"), str):
            places.append((f"[data.{i + 1}] file", d["file"]))
    circ = raw.get("circulation")
    if isinstance(circ, dict) and isinstance(circ.get("model"), str) and circ["model"].lower().endswith(".json"):
        places.append(("[circulation] model", circ["model"]))  # an svZeroD configuration file
    for where, value in places:
        q = Path(value).expanduser()
        full = q if q.is_absolute() else base / q
        if not _inside(full, base):
            raise CaseError(
                f"{p}: the stored case's {where} = {value!r} lies outside its case folder {base}; a "
                "re-run reads only inside the case folder: pass --allow-outside-case if you trust this "
                "fit.json, or copy the file into the case folder"
            )


def _check_rerun_case(p: Path, rec: dict, case: CalibrationCase) -> None:
    """The stored fields against the case the stored text describes (before anything is built)."""
    prov = rec["provenance"]
    names, saved = [f.name for f in case.free], list(rec["parameters"])
    if names != saved:
        extra, missing = sorted(set(saved) - set(names)), sorted(set(names) - set(saved))
        what = (
            f"has {', '.join(map(repr, extra))}, which the case does not free"
            if extra
            else f"lacks {', '.join(map(repr, missing))}"
            if missing
            else "lists them in another order"
        )
        raise CaseError(
            f"{p}: parameters {what} (the stored case frees {', '.join(map(repr, names))}); the fit.json "
            "does not belong to its stored case"
        )
    dnames, dsaved = sorted(d.name for d in case.data), sorted(prov["data"])
    if dnames != dsaved:
        raise CaseError(
            f"{p}: provenance.data names {dsaved} but the stored case reads {dnames}; the fit.json does "
            "not belong to its stored case"
        )
    fields = [("seed", prov["seed"], case.seed), ("dtype", prov["dtype"], case.dtype)]
    fields += [
        (f"fit_options.{k}", prov["fit_options"].get(k, "nothing"), v) for k, v in _json_object(case.fit).items()
    ]
    for key, saved, now in fields:
        if saved != now:
            raise CaseError(
                f"{p}: provenance.{key} is {saved!r} but the stored case gives {now!r}; the fit.json "
                "does not belong to its stored case"
            )
    kind = next(k for k in ("path", "builtin", "generate") if k in case.mesh)
    if kind not in prov["mesh"] or (kind != "path" and prov["mesh"][kind] != case.mesh[kind]):
        raise CaseError(
            f"{p}: provenance.mesh does not record the stored case's mesh ({kind} = "
            f"{str(case.mesh[kind])!r}); the fit.json does not belong to its stored case"
        )


def _check_rerun_files(p: Path, prov: dict, case: CalibrationCase) -> None:
    """Every data file and the mesh against their stored SHA-256."""
    for d in case.data:
        saved = prov["data"][d.name]["sha256"]
        if not d.file.is_file():
            raise CaseError(f"{p}: data file {d.file} of the saved fit is missing")
        if saved != _sha256(d.file):
            raise CaseError(
                f"{p}: data file {d.file} changed since the fit (SHA-256 differs); the saved fit "
                "cannot be reproduced from it"
            )
    c = case.circulation or {}
    saved = (prov.get("circulation") or {}).get("sha256")
    if "config" in c and saved is not None and (not c["config"].is_file() or _sha256(c["config"]) != saved):
        raise CaseError(
            f"{p}: svZeroD configuration {c['config']} changed since the fit (SHA-256 differs); the saved fit "
            "cannot be reproduced from it"
        )
    m = case.mesh
    if "path" in m:
        if not m["path"].is_file():
            raise CaseError(f"{p}: mesh {m['path']} of the saved fit is missing")
        if _sha256(m["path"]) != prov["mesh"]["sha256"]:
            raise CaseError(
                f"{p}: mesh {m['path']} changed since the fit (SHA-256 differs); the saved fit cannot "
                "be reproduced from it"
            )
    elif "builtin" in m:
        from ..mesh import builtin_mesh_path

        if _sha256(builtin_mesh_path(m["builtin"].replace("-", "_"))) != prov["mesh"]["sha256"]:
            warnings.warn(
                f"{p}: the built-in mesh {m['builtin']!r} differs from the one of the saved fit (another "
                "organtwin version); the re-run's numbers will differ",
                MeshWarning,
                stacklevel=3,
            )


def _check_rerun_problem(p: Path, rec: dict, problem: Problem) -> None:
    """The stored vector and values against the built problem (before fitting)."""
    import jax.numpy as jnp

    free = problem.free
    u = np.asarray(rec["u"], float)
    if u.size != free.size:
        raise CaseError(
            f"{p}: u has {u.size} values but the case's free parameters have {free.size} "
            f"({', '.join(f'{n} {s}' for n, s in zip(free.names, free.sizes))}); the fit.json does not "
            "belong to its stored case"
        )
    for name, shape in zip(free.names, free.shapes):
        got = np.shape(rec["parameters"][name])
        if tuple(got) != tuple(shape):
            raise CaseError(
                f"{p}: parameters.{name} has shape {list(got)} but the case's parameter has "
                f"{list(shape)}; the fit.json does not belong to its stored case"
            )
    now = free.values(jnp.asarray(u, problem.u0.dtype))
    rtol = 1e-5 if problem.u0.dtype == np.float32 else 1e-9
    for name in free.names:
        a, b = np.asarray(rec["parameters"][name], float), np.asarray(now[name], float)
        if not np.allclose(a, b, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(b))))):
            raise CaseError(
                f"{p}: parameters.{name} = {a.round(12).tolist()} is not what u gives "
                f"({b.round(12).tolist()}); the fitted values were edited"
            )
    mp = rec["provenance"]["mesh"]
    if (mp["nodes"], mp["tets"]) != (problem.mesh.n_nodes, problem.mesh.n_cells):
        raise CaseError(
            f"{p}: the mesh has {problem.mesh.n_nodes} nodes and {problem.mesh.n_cells} tets now, "
            f"{mp['nodes']} and {mp['tets']} in the saved fit (provenance.mesh); the saved fit cannot be "
            "reproduced on this mesh"
        )


def rerun_fit(
    path,
    *,
    progress: bool | Callable[..., None] = True,
    say=print,
    truth: dict | None = None,
    case_dir=None,
    allow_outside_case: bool = False,
) -> tuple[CalibrationOutcome, dict]:
    """Re-run a saved fit from its provenance, verified before anything is fitted: the file's structure (every field,
    its type and version), the stored case text against its SHA-256, the case folder (``provenance.case_dir``, or
    ``case_dir``; said which), the stored case's mesh and data paths confined to that folder (unless
    ``allow_outside_case``), every data file and the mesh against their SHA-256, and the stored fields (parameter
    names and shapes, the unconstrained vector, data names, seed, dtype, options) against the case. Any mismatch is a
    one-line `CaseError`. Returns the new outcome and the comparison {parameter: (saved, now)} with the largest
    relative difference."""
    p = Path(path)
    rec = read_fit(p)
    prov = rec["provenance"]
    text = prov["case_text"]
    if hashlib.sha256(text.encode()).hexdigest() != prov["case_sha256"]:
        raise CaseError(
            f"{p}: provenance.case_text does not match provenance.case_sha256 (the stored case was "
            "edited after the fit); re-run from the case file instead"
        )
    v = prov["versions"].get("organtwin")
    now_v = _versions()["organtwin"]
    if v != now_v:
        warnings.warn(
            f"{p} was written by organtwin {v}, this is {now_v}: the re-run's numbers may differ",
            MeshWarning,
            stacklevel=2,
        )
    base, why = _rerun_case_dir(p, prov, case_dir)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _bad_field(p, "provenance.case_text", f"not valid TOML ({' '.join(str(e).split())})") from None
    _confine(p, raw, base, allow_outside_case)
    try:
        case = parse_calibration_case(raw, text=text, source=prov["case_file"], base_dir=base)
    except CaseError as e:
        raise CaseError(f"{p}: its stored case, read in the case folder {base} ({why}): {e}") from None
    _check_rerun_case(p, rec, case)
    _check_rerun_files(p, prov, case)
    say(f"re-run of {p}: case folder {base} ({why})")
    out = run_calibration(
        case, progress=progress, say=say, truth=truth, check=lambda problem: _check_rerun_problem(p, rec, problem)
    )
    cmp, worst = {}, 0.0
    for k, saved in rec["parameters"].items():
        now = np.asarray(out.result.values[k], float)
        s = np.asarray(saved, float)
        cmp[k] = (s.tolist(), now.tolist())
        worst = max(worst, float(np.max(np.abs(now - s) / np.maximum(np.abs(s), 1e-300))))
    return out, {"parameters": cmp, "max_relative_difference": worst}

"""From a parsed case to a run: read the mesh, set up fibres, tissue, stimuli and what to record, checking everything that
needs the mesh before the time loop starts; then run it.

`prepare_case(config)` raises `CaseError` (one line, naming the file and the key) for: an unreadable mesh, regions /
surfaces / node sets that do not exist, anisotropic conductivity without fibres, an unknown model parameter, a stimulus
that selects no node, a probe outside the mesh, a dt above the explicit stability limit, float64 without x64.
`run_case(prepared)` runs `organtwin.ep.simulate_monodomain` and times it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._errors import InputError
from ._case import (
    _CONDUCTIVITY_KEYS,
    CaseConfig,
    CaseError,
    ConductivitySpec,
    ModelSpec,
    PerRegion,
    StimulusSpec,
    _suggest,
)

if TYPE_CHECKING:
    from ..ep import AbstractDiffusion, Record, Splitting, Stimulus, Tissue
    from ..mesh import Mesh

__all__ = ["PreparedCase", "RunOutcome", "prepare_case", "run_case", "read_fibre_file"]

# Snapshots are carried in memory through the run (k x nodes values): refuse more than this before starting.
_SNAPSHOT_BYTES_LIMIT = 4 * 2**30


@dataclass(frozen=True)
class PreparedCase:
    """Everything a run needs, checked against the mesh (see `prepare_case`)."""

    config: CaseConfig
    mesh: Mesh  # after scale, regions and fibres
    tissue: Tissue
    stimuli: tuple[Stimulus, ...]
    record: Record
    diffusion: AbstractDiffusion
    splitting: Splitting
    dtype: object
    region_models: dict  # region id -> model name
    stimulus_nodes: tuple[int, ...]  # nodes selected by each stimulus
    stability_limit: float | None  # ms, for explicit diffusion
    setup_seconds: float
    tuned_conductivity: dict = dataclasses.field(default_factory=dict)  # region id -> {sigma_l: {...}, ...} (cv keys)

    @property
    def n_steps(self) -> int:
        return self.config.simulation.n_steps


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: the `MonodomainResult` and its timings (s)."""

    result: object
    wall_seconds: float  # the whole simulate_monodomain call (compilation included)
    first_chunk_seconds: float | None  # up to the first progress callback (compilation + one chunk)
    steps_after_first_chunk: int | None  # steps between the first and the last progress callback ...
    seconds_after_first_chunk: float | None  # ... and their time (no compilation: the steady stepping rate)


# ====================================================================================================== mesh
def _load_mesh(config: CaseConfig):
    from ..mesh import builtin_mesh_path, read_mesh, slab_mesh

    spec = config.mesh
    try:
        if spec.slab is not None:
            s = spec.slab
            return slab_mesh(s.size, s.dx, fibre=s.fibre)
        path = builtin_mesh_path(spec.builtin) if spec.builtin is not None else spec.path
        if config.fibres.source != "mesh":  # the file's fibre arrays are replaced: they must not stop the read
            from ..mesh import check_mesh

            raw = read_mesh(path, scale=spec.scale, file_format=spec.format, check=False)
            return check_mesh(raw.replace(fibres=None, sheets=None), source=str(path))
        return read_mesh(path, scale=spec.scale, file_format=spec.format)
    except (ValueError, OSError) as e:
        raise config.error("mesh", f"{'slab' if spec.slab is not None else 'path'}: {_line(e)}") from None


def _line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _region_table(mesh) -> str:
    names = dict(mesh.region_names)
    return ", ".join(f"{r}" + (f" {names[r]!r}" if r in names else "") for r in mesh.region_ids.tolist())


def _resolve_region(config: CaseConfig, mesh, where: str, key: str | None, selector, extra_keys=()) -> int:
    ids = mesh.region_ids.tolist()
    names = {n: i for i, n in mesh.region_names if i in ids}
    if isinstance(selector, int):
        if selector in ids:
            return selector
    else:
        if selector in names:
            return names[selector]
        lowered = {n.lower(): i for n, i in names.items()}
        if selector.lower() in lowered:
            return lowered[selector.lower()]
    what = f"{key}: " if key else ""
    hint = _suggest(str(selector), [*map(str, names), *map(str, ids), *extra_keys])
    raise config.error(where, f"{what}no region {selector!r} in the mesh{hint} (regions: {_region_table(mesh)})")


def read_fibre_file(path, n_cells: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-tet fibres (and sheets) from a file: .npy or text (.lon, .txt, .csv: 3 or 6 numbers per tet, openCARP's
    optional header line "1"/"2" allowed), or any mesh file with fibres on the same tets."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        vals = np.load(p, allow_pickle=False).astype(np.float64)
        if vals.ndim != 2 or vals.shape[0] != n_cells or vals.shape[1] not in (3, 6):
            raise InputError(f"{p}: expected an array of shape ({n_cells}, 3) or ({n_cells}, 6), got {vals.shape}")
        return vals[:, :3], (vals[:, 3:] if vals.shape[1] == 6 else None)
    if suffix in (".lon", ".txt", ".csv", ".dat"):
        try:
            vals = np.array(p.read_text(encoding="utf-8").replace(",", " ").split(), dtype=np.float64)
        except ValueError:
            raise InputError(f"{p}: fibre directions must be numbers (3 or 6 per tet)") from None
        for k in (1, 2):
            if vals.size == 3 * k * n_cells + 1 and vals[0] == k:
                vals = vals[1:]
        if vals.size not in (3 * n_cells, 6 * n_cells):
            raise InputError(f"{p}: expected 3 or 6 numbers for each of the {n_cells} tets, found {vals.size}")
        k = vals.size // n_cells
        rows = vals.reshape(n_cells, k)
        return rows[:, :3], (rows[:, 3:] if k == 6 else None)
    from ..mesh import read_mesh

    other = read_mesh(p)
    if other.n_cells != n_cells:
        raise InputError(
            f"{p}: has {other.n_cells} tets, the mesh has {n_cells}; the fibre file must have the same tets"
        )
    if other.fibres is None:
        raise InputError(f"{p}: the file has no fibre directions (a cell array named 'fibres')")
    return other.fibres, other.sheets


def _fibres_before_regions(config: CaseConfig, mesh):
    f = config.fibres
    if f.source == "file":
        try:
            fibres, sheets = read_fibre_file(f.path, mesh.n_cells)
        except (ValueError, OSError) as e:
            raise config.error("fibres", f"path: {_line(e)}") from None
        from ..mesh import check_fibres

        try:  # the rules of every read: zero/NaN refused, normalised, sheets Gram-Schmidt, placeholders flagged
            mesh = check_fibres(mesh.replace(fibres=fibres, sheets=sheets), source=str(f.path))
        except ValueError as e:
            raise config.error("fibres", f"path: {_line(e)}") from None
    elif f.source == "none":
        mesh = mesh.replace(fibres=None, sheets=None)
    return mesh


def _fibres_after_regions(config: CaseConfig, mesh):
    f = config.fibres
    if f.source != "rule-based":
        return mesh
    from ..mesh import rule_based_fibres

    fibres = functools.partial(
        rule_based_fibres,
        mesh,
        alpha_endo=f.alpha_endo,
        alpha_epi=f.alpha_epi,
        beta_endo=f.beta_endo,
        beta_epi=f.beta_epi,
        epi=f.epi,
        base=f.base,
    )
    try:  # endo: the default unless the case names the surfaces
        return fibres() if f.endo is None else fibres(endo=f.endo if len(f.endo) == 2 else f.endo[0])
    except ValueError as e:
        hint = " (in the case file: [fibres] endo, epi, base)" if "surface" in str(e) else ""
        raise config.error("fibres", f'source = "rule-based": {_line(e)}{hint}') from None


# ====================================================================================================== per region
def _per_region(config: CaseConfig, mesh, per: PerRegion, build, extra_keys=()) -> dict:
    """{region id: build(spec, where)} for every region of the mesh, from the section's default and region tables."""
    out: dict = {}
    seen: dict = {}
    for sel, spec in per.regions:
        where = f"{per.where}.{sel}"
        rid = _resolve_region(config, mesh, where, None, sel, extra_keys)
        if rid in seen:
            raise config.error(where, f"region {rid} is also given as [{per.where}.{seen[rid]}]")
        seen[rid] = sel
        out[rid] = build(spec, where)
    missing = [r for r in mesh.region_ids.tolist() if r not in out]
    if missing:
        if per.default is None:
            raise config.error(
                per.where,
                f"no value for region(s) {missing} (regions: {_region_table(mesh)}); give "
                f"the keys directly in [{per.where}] for every region, or a "
                f"[{per.where}.<region>] table for each",
            )
        value = build(per.default, per.where)
        for r in missing:
            out[r] = value
    return out


def _conductivity(config: CaseConfig, mesh, models: dict, names: dict, *, dtype, diffusion, say) -> tuple[dict, dict]:
    """{region id: Conductivity} and, for regions given conduction velocities, {region id: tuning report}."""
    from ..ep import Conductivity
    from ..mesh import mean_edge_length

    def build(spec: ConductivitySpec, where: str):
        if not spec.isotropic and mesh.fibres is None:
            raise config.error(
                where,
                "anisotropic conductivity (sigma_t differs from sigma_l) needs fibres, but the "
                'mesh has none; add [fibres] source = "rule-based" or "file", or give an '
                "isotropic conductivity",
            )
        if (spec.sigma_n is not None or (spec.cv is not None and spec.cv[2] is not None)) and mesh.sheets is None:
            raise config.error(
                where,
                "sigma_n / cv_n (orthotropic) needs sheet directions, but the mesh has none; use "
                '[fibres] source = "rule-based" or a fibre file with sheets',
            )
        if spec.cv is not None:
            return (spec, where)  # tuned below, with the model of each region
        return Conductivity(spec.sigma_l, spec.sigma_t, spec.sigma_n)

    out = _per_region(config, mesh, config.conductivity, build, extra_keys=_CONDUCTIVITY_KEYS)
    tuned: dict = {}
    cache: dict = {}
    for rid, value in out.items():
        if not isinstance(value, tuple):
            continue
        spec, where = value
        dx = spec.tune_edge_length if spec.tune_edge_length is not None else mean_edge_length(mesh)
        sigmas, report = [], {}
        for direction, cv in zip(("l", "t", "n"), spec.cv):
            if cv is None:
                sigmas.append(None)
                continue
            key = (names[rid], cv, dx)
            if key not in cache:
                say(
                    f"tuning sigma_{direction} of region {rid} ({names[rid]}) to {cv:g} m/s for mean edge {dx:.3g} mm ..."
                )
                cache[key] = _tune(
                    config, where, models[rid], cv, dx, dtype=dtype, diffusion=diffusion, direction=direction
                )
            r = cache[key]
            sigmas.append(r.sigma)
            report[f"sigma_{direction}"] = {
                "cv_target_m_per_s": cv,
                "sigma_S_per_m": r.sigma,
                "cv_m_per_s": r.cv,
                "strand_runs": len(r.history),
                "edge_length_mm": dx,
            }
        out[rid] = Conductivity(*sigmas)
        tuned[rid] = report
    return out, tuned


def _tune(config, where, model, cv, dx, *, dtype, diffusion, direction):
    from ..ep import tune_conductivity

    sim = config.simulation
    try:
        r = tune_conductivity(
            model, cv, dx, dt=sim.dt, diffusion=diffusion, chi=config.tissue.chi, Cm=config.tissue.Cm, dtype=dtype
        )
    except ValueError as e:
        raise config.error(where, f"cv_{direction}: {_line(e)}") from None
    if not r.converged:
        raise config.error(
            where,
            f"cv_{direction}: tuning to {cv:g} m/s did not converge (closest {r.cv:.3g} m/s at "
            f"sigma {r.sigma:.3g} S/m after {len(r.history)} strand runs); give sigma_{direction}",
        )
    return r


def _models(config: CaseConfig, mesh) -> tuple[dict, dict]:
    from ..ionic import model_from_name

    cache: dict = {}

    def build(spec: ModelSpec, where: str):
        if spec in cache:
            return cache[spec]
        try:
            base = model_from_name(spec.name)
        except ValueError as e:
            raise config.error(where, f"name: {_line(e)}") from None
        fields = [f.name for f in dataclasses.fields(type(base))]
        for name, _ in spec.parameters:
            if name not in fields:
                shown = [f for f in fields if f not in ("V0", "s0")]
                raise config.error(
                    f"{where}.parameters",
                    f"unknown parameter {name!r} of {spec.name}"
                    f"{_suggest(name, fields)}; parameters: {', '.join(shown)}",
                )
        try:
            model = model_from_name(spec.name, **dict(spec.parameters)) if spec.parameters else base
        except (ValueError, TypeError) as e:
            raise config.error(f"{where}.parameters", _line(e)) from None
        cache[spec] = model
        return model

    models = _per_region(config, mesh, config.model, build, extra_keys=("name", "parameters"))
    names = {r: next(s.name for s, m in cache.items() if m is models[r]) for r in models}
    return models, names


def _check_dt_against_models(config: CaseConfig, models: dict, names: dict) -> None:
    """The time step must sample every model's upstroke (organtwin.ionic.check_time_step: refused above half of it,
    warned above a fifth), for ep check as for ep run, before any conductivity is tuned with that dt."""
    from ..ionic import check_time_step

    for rid in sorted(models, key=str):
        try:
            check_time_step(models[rid], config.simulation.dt, where="dt:", name=names.get(rid))
        except ValueError as e:
            raise config.error("simulation", _line(e)) from None


# ====================================================================================================== stimuli, record
def _stimulus(spec: StimulusSpec):
    from ..ep import Box, NamedSurface, NodeSet, Sphere, Stimulus, StimulusUnits

    # each kind comes with its geometry (`_parse_stimulus` requires it)
    if spec.kind == "box":
        region = Box(spec.lower, spec.upper)
    elif spec.kind == "sphere":
        assert spec.radius is not None
        region = Sphere(spec.centre, spec.radius)
    elif spec.kind == "nodes":
        region = NodeSet(spec.name if spec.name is not None else np.asarray(spec.nodes, dtype=np.int64))
    else:
        assert spec.name is not None
        region = NamedSurface(spec.name)
    units = StimulusUnits.PER_CAPACITANCE if spec.per_capacitance else StimulusUnits.PER_VOLUME
    return Stimulus(
        region,
        spec.strength,
        start=spec.start,
        duration=spec.duration,
        period=spec.period,
        count=spec.count,
        units=units,
    )


# Nodes on the boundary of a box or sphere count as inside, within this tolerance (mm): the rule of organtwin.ep's regions.
_GEOMETRIC_TOL = 1e-6


def _node_mask(spec: StimulusSpec, mesh) -> np.ndarray:
    """The nodes a stimulus selects, on the host (the same rules as `organtwin.ep.Box` / `Sphere` / `NodeSet` /
    `NamedSurface`; the solver checks again with those)."""
    x = mesh.points
    mask = np.zeros(mesh.n_nodes, dtype=bool)
    if spec.kind == "box":
        lo = np.asarray(spec.lower) - _GEOMETRIC_TOL
        hi = np.asarray(spec.upper) + _GEOMETRIC_TOL
        mask = np.all((x >= lo) & (x <= hi), axis=1)
    elif spec.kind == "sphere":
        assert spec.radius is not None  # a sphere has one (_parse_stimulus)
        mask = np.sum((x - np.asarray(spec.centre)) ** 2, axis=1) <= (spec.radius + _GEOMETRIC_TOL) ** 2
    elif spec.kind == "nodes":
        mask[np.asarray(spec.nodes if spec.name is None else mesh.node_sets[spec.name], dtype=np.int64)] = True
    else:
        mask[mesh.surfaces[spec.name].nodes] = True
    return mask


def _check_stimuli(config: CaseConfig, mesh) -> tuple[int, ...]:
    counts = []
    lo, hi = mesh.points.min(0), mesh.points.max(0)
    span = f"the mesh spans {np.round(lo, 3).tolist()}..{np.round(hi, 3).tolist()} mm"
    for i, spec in enumerate(config.stimuli):
        where = f"stimulus.{i + 1}"
        if spec.kind == "surface" and spec.name not in mesh.surfaces:
            assert spec.name is not None  # a surface stimulus is named (_parse_stimulus)
            have = ", ".join(sorted(mesh.surfaces)) or "none"
            raise config.error(
                where,
                f"name: the mesh has no surface {spec.name!r}{_suggest(spec.name, mesh.surfaces)} (surfaces: {have})",
            )
        if spec.kind == "nodes" and spec.name is not None and spec.name not in mesh.node_sets:
            have = ", ".join(sorted(mesh.node_sets)) or "none"
            raise config.error(
                where,
                f"name: the mesh has no node set {spec.name!r}"
                f"{_suggest(spec.name, mesh.node_sets)} (node sets: {have})",
            )
        if spec.kind == "nodes" and spec.nodes is not None and max(spec.nodes) >= mesh.n_nodes:
            raise config.error(
                where,
                f"nodes: node {max(spec.nodes)} does not exist (the mesh has {mesh.n_nodes} "
                f"nodes, 0..{mesh.n_nodes - 1})",
            )
        n = int(_node_mask(spec, mesh).sum())
        if n == 0:
            from ..ep._stimulus import nearest_node

            near = ""
            if spec.kind == "sphere":
                assert spec.radius is not None  # a sphere has one (_parse_stimulus)
                near = nearest_node(mesh.points, point=spec.centre, radius=spec.radius)
            elif spec.kind == "box":
                near = nearest_node(mesh.points, lower=spec.lower, upper=spec.upper)
            raise config.error(
                where,
                f"the {spec.describe()} selects no mesh node; {near + '; ' if near else ''}{span} (lengths are in mm)",
            )
        counts.append(n)
    return tuple(counts)


def _record(config: CaseConfig, mesh, dtype):
    from ..ep import Record

    r = config.record
    sim = config.simulation
    _check_sizes(config, mesh, dtype)  # (prepare_case checked them already; kept for direct callers)
    times = r.snapshot_times(sim.duration)
    probes = None
    if r.probes:
        probes = np.asarray(r.probes, dtype=np.float64)
        inside = points_inside(mesh, probes)
        for name, p, ok in zip(r.probe_names, probes, inside):
            if not ok:
                from ..ep._stimulus import nearest_node

                near = nearest_node(mesh.points, point=p).replace("from the site", "from it")
                raise config.error(
                    "record",
                    f"probes.{name}: the point {p.round(4).tolist()} mm lies outside the mesh; "
                    f"{near} (move the probe into the tissue; check the units)",
                )
    every = 1 if r.probe_every is None else max(1, int(round(r.probe_every / sim.dt)))
    return Record(
        activation=r.activation,
        repolarisation=r.repolarisation,
        beats=r.beats,
        snapshots_at=times,
        probes=probes,
        probe_every=every,
        activation_threshold=r.activation_threshold,
        repolarisation_threshold=r.repolarisation_threshold,
    )


def _check_sizes(config: CaseConfig, mesh, dtype) -> None:
    """Snapshots and probe samples against memory, before anything is built (ep check does it as ep run does)."""
    from .._sizes import SizeError, check_bytes

    r, sim = config.record, config.simulation
    itemsize = np.dtype(dtype).itemsize
    k, n = r.snapshot_count(sim.duration), mesh.n_nodes
    try:
        if k:
            check_bytes(
                float(k) * n * itemsize,
                limit=_SNAPSHOT_BYTES_LIMIT,
                what=f"{k:,} snapshots x {n:,} nodes x {itemsize} B (held in memory through the run)",
                fix="ask for fewer: a larger snapshot_every or fewer snapshots_at",
            )
        if r.probes:
            every = 1 if r.probe_every is None else max(1, int(round(r.probe_every / sim.dt)))
            samples = sim.n_steps // every + 1
            check_bytes(
                float(samples) * (len(r.probes) + 1) * (2 * itemsize + 12),
                what=f"{samples:,} probe samples (one every {every * sim.dt:g} ms) x {len(r.probes) + 1} "
                f"columns x ({itemsize} B x 2 for the run's traces and their copy + ~12 B of CSV text)",
                fix="record probes less often: set probe_every (ms)",
            )
    except SizeError as e:
        raise config.error("record", str(e)) from None


def points_inside(mesh, query, *, tol: float = 1e-6) -> np.ndarray:
    """For each query point (mm), whether it lies in a tet of the mesh (smallest barycentric coordinate >= -tol).

    Host numpy: tets whose bounding box holds the point, then barycentric coordinates in those (the same rule as
    `organtwin.ep.locate_points`, without compiling anything).
    """
    p = mesh.points[mesh.tets]  # (cells, 4, 3)
    lo, hi = p.min(axis=1), p.max(axis=1)
    scale = float(np.max(hi - lo)) if len(p) else 1.0
    out = []
    for q in np.asarray(query, dtype=np.float64).reshape(-1, 3):
        cand = np.flatnonzero(np.all((lo - 1e-9 * scale <= q) & (q <= hi + 1e-9 * scale), axis=1))
        ok = False
        if cand.size:
            c = p[cand]
            A = np.transpose(c[:, 1:] - c[:, :1], (0, 2, 1))  # columns p1-p0, p2-p0, p3-p0
            lam = np.linalg.solve(A, (q - c[:, 0])[:, :, None])[:, :, 0]
            bary = np.column_stack([1.0 - lam.sum(axis=1), lam])
            ok = bool(np.max(bary.min(axis=1)) >= -tol)
        out.append(ok)
    return np.asarray(out, dtype=bool)


def _diffusion(config: CaseConfig):
    from ..ep import ExplicitLumped, Mass, Splitting, ThetaScheme

    d = config.simulation.diffusion
    splitting = Splitting.STRANG if config.simulation.splitting == "strang" else Splitting.GODUNOV
    if d.kind == "explicit":
        return ExplicitLumped(), splitting
    mass = Mass.LUMPED if d.mass == "lumped" else Mass.CONSISTENT
    return ThetaScheme(theta=d.theta, mass=mass, rtol=d.rtol, max_steps=d.max_steps), splitting


# ====================================================================================================== prepare / run
def prepare_case(config: CaseConfig, *, log: Callable[[str], None] | None = None) -> PreparedCase:
    """Read the mesh and build the tissue, stimuli and record of a case, checking everything before a run.

    Order: read the mesh (scale), fibres from a file (on the whole mesh), keep ``[mesh] regions``, rule-based fibres
    (on the kept regions), conductivities and models per region, the tissue, stimuli, probes, the stability limit.
    ``log`` receives short progress lines (e.g. the CLI prints them).

    Raises:
        CaseError: one line naming the file and the key.
    """
    import jax.numpy as jnp

    t_start = time.perf_counter()
    say = log or (lambda s: None)
    sim = config.simulation
    dtype = jnp.dtype(sim.dtype)
    if dtype == jnp.float64 and jnp.result_type(float) != jnp.float64:
        raise config.error(
            "simulation",
            "dtype: float64 needs JAX's 64-bit mode: call "
            'jax.config.update("jax_enable_x64", True) first (`organtwin ep run` does)',
        )
    mesh = _load_mesh(config)
    say(f"mesh {config.mesh.describe()}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, regions {_region_table(mesh)}")
    mesh = _fibres_before_regions(config, mesh)
    if config.mesh.regions is not None:
        keep = [_resolve_region(config, mesh, "mesh", "regions", sel) for sel in config.mesh.regions]
        mesh = mesh.submesh(sorted(set(keep)))
        say(f"kept regions {sorted(set(keep))}: {mesh.n_nodes} nodes, {mesh.n_cells} tets")
    _check_sizes(config, mesh, dtype)  # snapshots and probe samples against memory, before fibres, tuning, the run
    if config.fibres.source == "rule-based":
        say("rule-based fibres (Bayer et al. 2012) ...")
    mesh = _fibres_after_regions(config, mesh)
    models, names = _models(config, mesh)
    _check_dt_against_models(config, models, names)
    diffusion, splitting = _diffusion(config)
    conductivity, tuned = _conductivity(config, mesh, models, names, dtype=dtype, diffusion=diffusion, say=say)

    from ..ep import Tissue, explicit_stability_limit

    try:
        stimuli = tuple(_stimulus(s) for s in config.stimuli)
    except (ValueError, TypeError) as e:  # the parser checks the same rules; kept for safety
        raise config.error("stimulus", _line(e)) from None
    counts = _check_stimuli(config, mesh)
    record = _record(config, mesh, dtype)
    try:
        tissue = Tissue.from_mesh(mesh, conductivity, models, chi=config.tissue.chi, Cm=config.tissue.Cm, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise config.error("tissue", _line(e)) from None
    limit = None
    if sim.diffusion.kind == "explicit":
        limit = float(explicit_stability_limit(tissue))
        if sim.dt > limit:
            raise config.error(
                "simulation",
                f"dt: {sim.dt:g} ms exceeds the explicit stability limit {limit:.3g} ms "
                f"of this mesh and conductivity; use dt <= {_floor(limit)} ms or "
                'diffusion = "theta"',
            )
    return PreparedCase(
        config=config,
        mesh=mesh,
        tissue=tissue,
        stimuli=stimuli,
        record=record,
        diffusion=diffusion,
        splitting=splitting,
        dtype=dtype,
        region_models=names,
        stimulus_nodes=counts,
        stability_limit=limit,
        setup_seconds=time.perf_counter() - t_start,
        tuned_conductivity=tuned,
    )


def _floor(x: float) -> str:
    """A round number at or below x (two significant figures)."""
    if x <= 0:
        return f"{x:.3g}"
    e = math.floor(math.log10(x)) - 1
    return f"{math.floor(x / 10**e) * 10**e:.{max(0, -e)}f}"


def run_case(prepared: PreparedCase, *, progress: Callable[[int, int], None] | None = None) -> RunOutcome:
    """Run a prepared case (`organtwin.ep.simulate_monodomain`). ``progress(steps_done, n_steps)`` between chunks.

    Errors of the solver come back as `CaseError` (before the loop, and a divergence's solver outcome), one line,
    prefixed with the case file.
    """
    from ..ep import simulate_monodomain

    config = prepared.config
    sim = config.simulation
    t0 = time.perf_counter()
    calls: list = []  # (seconds since start, steps done) of the first and the latest progress callback

    def on_chunk(done: int, total: int) -> None:
        now = (time.perf_counter() - t0, done)
        if len(calls) < 2:
            calls.append(now)
        else:
            calls[1] = now
        if progress is not None:
            progress(done, total)

    try:
        result = simulate_monodomain(
            prepared.tissue,
            prepared.stimuli,
            sim.duration,
            sim.dt,
            splitting=prepared.splitting,
            diffusion=prepared.diffusion,
            record=prepared.record,
            progress=on_chunk,
            dtype=prepared.dtype,
        )
        import jax

        result = jax.block_until_ready(result)
    except ValueError as e:
        raise CaseError(f"{config.source}: {_line(e)}") from None
    except RuntimeError as e:
        from .._solution import SOLVER_FAILURES

        if not isinstance(e, SOLVER_FAILURES):
            raise  # not a solver outcome: a bug, reported as one
        raise CaseError(f"{config.source}: {_line(e)}") from None
    wall = time.perf_counter() - t0
    if len(calls) == 2 and calls[1][1] > calls[0][1]:
        return RunOutcome(result, wall, calls[0][0], calls[1][1] - calls[0][1], calls[1][0] - calls[0][0])
    return RunOutcome(result, wall, calls[0][0] if calls else None, None, None)

"""Case files: a TOML description of a monodomain run, parsed into typed, validated configuration objects.

`load_case(path)` reads the file and returns a `CaseConfig` (frozen dataclasses, every quantity a float in the house
unit: mm, ms, mV, S/m, 1/mm, µF/cm², µA/cm³ or µA/µF). Nothing here touches JAX or the mesh: this is the syntax and
unit layer. `organtwin.io.prepare_case` then reads the mesh and checks everything that needs it (regions, surfaces, node
sets, fibres, model parameters, stimuli selecting nodes, the explicit stability limit) before a run starts.

Every problem is a `CaseError` (a ValueError) with a one-line message naming the file and the key path, e.g.
``case.toml: [stimulus.1] unknown key 'strenght' (did you mean 'strength'?)``. ``[[stimulus]]`` tables are counted
from 1 in the order written. The schema, with every key, unit and default, is in docs/case-file.md.
"""

from __future__ import annotations

import difflib
import enum
import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

from .._errors import CaseError as CaseError
from .._sizes import INT32_MAX, SizeError, count_of
from ._units import (
    ANGLE,
    CAPACITANCE,
    CONDUCTIVITY,
    CURRENT_DENSITY,
    CURRENT_PER_CAP,
    INV_LENGTH,
    LENGTH,
    TIME,
    VELOCITY,
    VOLTAGE,
    Dimension,
    UnitError,
    format_quantity,
    parse_quantity,
)

__all__ = [
    "CaseError",
    "CaseConfig",
    "MeshSpec",
    "SlabSpec",
    "FibreSpec",
    "ConductivitySpec",
    "ModelSpec",
    "PerRegion",
    "TissueSpec",
    "StimulusSpec",
    "DiffusionSpec",
    "SimulationSpec",
    "RecordSpec",
    "load_case",
    "parse_case",
]

T = TypeVar("T")


# ====================================================================================================== config objects
@dataclass(frozen=True)
class SlabSpec:
    """A generated slab ``[0, size]`` mm with node spacing ``dx`` mm and uniform fibres (see `organtwin.mesh.slab_mesh`)."""

    size: tuple[float, float, float]
    dx: float
    fibre: tuple[float, float, float] = (1.0, 0.0, 0.0)


@dataclass(frozen=True)
class MeshSpec:
    """Where the mesh comes from: a file (``path``), a built-in mesh (``builtin``) or a generated slab (``slab``)."""

    path: Path | None = None
    builtin: str | None = None
    slab: SlabSpec | None = None
    scale: int | float | None = None
    format: str | None = None
    regions: tuple[int | str, ...] | None = None

    def describe(self) -> str:
        if self.builtin is not None:
            return f"builtin:{self.builtin}"
        if self.slab is not None:
            return f"slab {'x'.join(f'{s:g}' for s in self.slab.size)} mm at dx {self.slab.dx:g} mm"
        return str(self.path)


FIBRE_SOURCES = ("mesh", "file", "rule-based", "none")


@dataclass(frozen=True)
class FibreSpec:
    """Fibres: kept from the mesh file, read from another file, rule-based (Bayer 2012), or none (isotropic only)."""

    source: str = "mesh"
    path: Path | None = None
    alpha_endo: float = 60.0
    alpha_epi: float = -60.0
    beta_endo: float = 0.0
    beta_epi: float = 0.0
    endo: tuple[str, ...] | None = None
    epi: str = "epi"
    base: str = "base"


@dataclass(frozen=True)
class ConductivitySpec:
    """Monodomain conductivities of one region, S/m (``sigma_t``/``sigma_n`` None: equal to ``sigma_l``/``sigma_t``).

    ``intra``/``extra`` keep the intra- and extracellular values (l, t, n) when the case gave those; ``sigma_*`` are then
    their harmonic means ``si se / (si + se)``. ``cv`` (m/s, l, t, n) instead asks for conductivities tuned to those
    conduction velocities on a strand of mean edge length ``tune_edge_length`` (mm; None: the mesh's); ``sigma_*``
    are then None until the case is prepared.
    """

    sigma_l: float | None
    sigma_t: float | None = None
    sigma_n: float | None = None
    intra: tuple[float | None, float | None, float | None] | None = None
    extra: tuple[float | None, float | None, float | None] | None = None
    cv: tuple[float, float | None, float | None] | None = None
    tune_edge_length: float | None = None

    @property
    def isotropic(self) -> bool:
        if self.cv is not None:
            return all(v is None or v == self.cv[0] for v in self.cv[1:])
        return all(v is None or v == self.sigma_l for v in (self.sigma_t, self.sigma_n))


@dataclass(frozen=True)
class ModelSpec:
    """An ionic model by name (`organtwin.ionic.MODEL_NAMES`) with parameter overrides by field name."""

    name: str
    parameters: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class PerRegion(Generic[T]):
    """A value for every region: ``default`` (the section's own keys) and per-region ``regions`` (id or name -> value).

    ``where`` is the section name, for error messages.
    """

    default: T | None
    regions: tuple[tuple[int | str, T], ...]
    where: str


@dataclass(frozen=True)
class TissueSpec:
    chi: float = 140.0  # 1/mm
    Cm: float = 1.0  # µF/cm²


STIMULUS_KINDS = ("box", "sphere", "nodes", "surface")


@dataclass(frozen=True)
class StimulusSpec:
    """A stimulus: where (``kind`` and its geometry, mm), when (ms) and how strong."""

    kind: str
    strength: float
    per_capacitance: bool = False  # strength in µA/µF instead of µA/cm³
    start: float = 0.0
    duration: float = 2.0
    period: float | None = None
    count: int | None = 1  # None: pulses until the end of the run
    lower: tuple[float, float, float] | None = None
    upper: tuple[float, float, float] | None = None
    centre: tuple[float, float, float] | None = None
    radius: float | None = None
    nodes: tuple[int, ...] | None = None
    name: str | None = None

    def describe(self) -> str:
        # each kind comes with its geometry (`_parse_stimulus` requires it): a box lower and upper, a sphere centre
        # and radius, a node set nodes or name
        if self.kind == "box":
            assert self.lower is not None and self.upper is not None
            return f"box {list(self.lower)}..{list(self.upper)} mm"
        if self.kind == "sphere":
            assert self.radius is not None and self.centre is not None
            return f"sphere of radius {self.radius:g} mm at {list(self.centre)} mm"
        if self.kind == "nodes":
            if self.name is not None:
                return f"node set {self.name!r}"
            assert self.nodes is not None
            return f"{len(self.nodes)} given nodes"
        return f"surface {self.name!r}"


@dataclass(frozen=True)
class DiffusionSpec:
    kind: str = "explicit"  # explicit | theta
    theta: float = 0.5
    rtol: float | None = None
    mass: str = "consistent"
    max_steps: int = 200


@dataclass(frozen=True)
class SimulationSpec:
    duration: float  # ms
    dt: float  # ms
    splitting: str = "godunov"
    diffusion: DiffusionSpec = field(default_factory=DiffusionSpec)
    dtype: str = "float32"

    @property
    def n_steps(self) -> int:
        """Steps of the run (as `simulate_monodomain` counts them: enough to reach ``duration``)."""
        return max(1, math.ceil(self.duration / self.dt - 1e-9))


#: The most Vm snapshots a case may ask for: each is written as a VTU file (vm/vm_XXXX.vtu).
MAX_SNAPSHOTS = 100_000


@dataclass(frozen=True)
class RecordSpec:
    activation: bool = True
    repolarisation: bool = False
    beats: bool = False
    activation_threshold: float = 0.0  # mV
    repolarisation_threshold: float = -70.0  # mV
    snapshots_at: tuple[float, ...] = ()  # ms
    snapshot_every: float | None = None  # ms
    probes: tuple[tuple[float, float, float], ...] = ()  # mm
    probe_names: tuple[str, ...] = ()
    probe_every: float | None = None  # ms (None: every time step)

    def snapshot_count(self, duration: float) -> int:
        """How many snapshot times `snapshot_times` gives at most (without building them)."""
        k = 0 if self.snapshot_every is None else int(math.floor(duration / self.snapshot_every + 1e-9)) + 1
        return k + len(self.snapshots_at)

    def snapshot_times(self, duration: float) -> tuple[float, ...]:
        """The requested snapshot times: ``snapshots_at`` and every ``snapshot_every`` from 0 to ``duration``, sorted."""
        times = set(self.snapshots_at)
        if self.snapshot_every is not None:
            k = int(math.floor(duration / self.snapshot_every + 1e-9))
            times.update(round(i * self.snapshot_every, 12) for i in range(k + 1))
        return tuple(sorted(times))


@dataclass(frozen=True)
class CaseConfig:
    """A parsed, unit-resolved case file (see docs/case-file.md)."""

    source: Path
    mesh: MeshSpec
    fibres: FibreSpec
    conductivity: PerRegion[ConductivitySpec]
    tissue: TissueSpec
    model: PerRegion[ModelSpec]
    stimuli: tuple[StimulusSpec, ...]
    simulation: SimulationSpec
    record: RecordSpec
    title: str | None = None
    description: str | None = None

    def error(self, where: str, message: str) -> CaseError:
        """A one-line `CaseError` about this case: ``"<file>: [where] message"``."""
        return CaseError(_message(str(self.source), where, None, message))

    def to_dict(self) -> dict:
        """The case as plain TOML-able data with every quantity resolved to its house unit (``"0.02 ms"``).

        `parse_case` reads it back to an equal config; `organtwin ep run` writes it into summary.json.
        """
        return _to_dict(self)


# ====================================================================================================== parsing helpers
class _NotGiven(enum.Enum):
    """The type of `_NOT_GIVEN`: no value passed (None is a value)."""

    NOT_GIVEN = enum.auto()


_NOT_GIVEN = _NotGiven.NOT_GIVEN
_Dims = Dimension | tuple[Dimension, ...]


def _message(source: str, path: str, key: str | None, message: str) -> str:
    where = f"[{path}] " if path else ""
    what = f"{key}: " if key else ""
    return " ".join(f"{source}: {where}{what}{message}".split())


def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if not close:
        lowered = {a.lower(): a for a in allowed}
        if key.lower() in lowered:
            close = [lowered[key.lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Section:
    """One table of the case file: typed access to its keys, with the key path in every error.

    ``data`` is a table as `tomllib` gives it (no None values). The typed getters return None for a missing key that is
    neither required nor given a default; their overloads say so (a default or ``required=True``: never None).
    """

    def __init__(self, source: str, path: str, data: dict[str, Any], base_dir: Path):
        self.source, self.path, self.data, self.base_dir = source, path, data, base_dir

    # -------------------------------------------------------------------------------------------- errors and keys
    def error(self, key: str | None, message: str) -> CaseError:
        return CaseError(_message(self.source, self.path, key, message))

    def check_keys(
        self,
        allowed: Iterable[str],
        *,
        elsewhere: dict[str, str] | None = None,
        extra_ok: Callable[[str, Any], bool] | None = None,
    ) -> None:
        """Raise on the first key that is not allowed (with a suggestion); ``elsewhere`` explains keys of other variants."""
        allowed = tuple(allowed)
        for key in self.data:
            if key in allowed or (extra_ok is not None and extra_ok(key, self.data[key])):
                continue
            if elsewhere and key in elsewhere:
                raise self.error(key, elsewhere[key])
            raise self.error(None, f"unknown key {key!r}{_suggest(key, allowed)}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None, *, required: bool = False, hint: str = "") -> Any:
        """The value as parsed (any TOML value), ``default`` if the key is missing (an error if ``required``)."""
        if key in self.data:
            return self.data[key]
        if required:
            raise self.error(None, f"missing required key {key!r}{'; ' + hint if hint else ''}")
        return default

    @overload
    def sub(self, key: str, *, required: Literal[True], hint: str = "") -> _Section: ...
    @overload
    def sub(self, key: str, *, required: bool = False, hint: str = "") -> _Section | None: ...
    def sub(self, key: str, *, required: bool = False, hint: str = "") -> _Section | None:
        value = self.raw(key, required=required, hint=hint)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(
                key, f"expected a table (like [{self._join(key)}] or {key} = {{ ... }}), got {_kind(value)}"
            )
        return _Section(self.source, self._join(key), value, self.base_dir)

    def tables(self, key: str, *, hint: str = "") -> list[_Section]:
        """The ``[[key]]`` array of tables (one table also accepted), each a section named ``key.1``, ``key.2``, ...
        (counted from 1 in the order written); required, at least one."""
        raw = self.raw(key, required=True, hint=hint)
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
            raise self.error(key, f"expected one or more [[{self._join(key)}]] tables")
        return [_Section(self.source, f"{self._join(key)}.{i + 1}", s, self.base_dir) for i, s in enumerate(raw)]

    def _join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    # -------------------------------------------------------------------------------------------- typed values
    @overload
    def quantity(
        self, key: str, dims: _Dims, default: float, *, positive: bool = ..., nonnegative: bool = ..., hint: str = ...
    ) -> float: ...
    @overload
    def quantity(
        self,
        key: str,
        dims: _Dims,
        default: None = None,
        *,
        required: Literal[True],
        positive: bool = ...,
        nonnegative: bool = ...,
        hint: str = ...,
    ) -> float: ...
    @overload
    def quantity(
        self,
        key: str,
        dims: _Dims,
        default: None = None,
        *,
        required: bool = ...,
        positive: bool = ...,
        nonnegative: bool = ...,
        hint: str = ...,
    ) -> float | None: ...
    def quantity(
        self,
        key: str,
        dims: _Dims,
        default: float | None = None,
        *,
        required: bool = False,
        positive: bool = False,
        nonnegative: bool = False,
        hint: str = "",
    ) -> float | None:
        value = self.raw(key, default, required=required, hint=hint)
        if value is None or value is default:
            return value
        return self.value_quantity(key, value, dims, positive=positive, nonnegative=nonnegative)[0]

    def value_quantity(
        self, key: str, value: Any, dims: _Dims, *, positive: bool = False, nonnegative: bool = False
    ) -> tuple[float, Dimension]:
        try:
            x, dim = parse_quantity(value, dims)
        except UnitError as e:
            raise self.error(key, str(e)) from None
        if positive and not x > 0:
            raise self.error(key, f"must be positive, got {_fmt_value(value, dim)}")
        if nonnegative and not x >= 0:
            raise self.error(key, f"must not be negative, got {_fmt_value(value, dim)}")
        return x, dim

    @overload
    def number(self, key: str, default: float, *, positive: bool = ...) -> float: ...
    @overload
    def number(self, key: str, default: None = None, *, required: Literal[True], positive: bool = ...) -> float: ...
    @overload
    def number(self, key: str, default: None = None, *, required: bool = ..., positive: bool = ...) -> float | None: ...
    def number(
        self, key: str, default: float | None = None, *, required: bool = False, positive: bool = False
    ) -> float | None:
        value = self.raw(key, default, required=required)
        if value is None or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        if positive and not value > 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return float(value)

    @overload
    def integer(self, key: str, default: int, *, minimum: int | None = ..., maximum: int | None = ...) -> int: ...
    @overload
    def integer(
        self, key: str, default: None = None, *, minimum: int | None = ..., maximum: int | None = ...
    ) -> int | None: ...
    def integer(
        self, key: str, default: int | None = None, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self.raw(key, default)
        if value is None or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.error(key, f"expected a whole number, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum:,}, got {value:,}")
        return int(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    @overload
    def string(self, key: str, default: str, *, choices: Sequence[str] | None = ..., hint: str = ...) -> str: ...
    @overload
    def string(
        self,
        key: str,
        default: None = None,
        *,
        required: Literal[True],
        choices: Sequence[str] | None = ...,
        hint: str = ...,
    ) -> str: ...
    @overload
    def string(
        self,
        key: str,
        default: None = None,
        *,
        required: bool = ...,
        choices: Sequence[str] | None = ...,
        hint: str = ...,
    ) -> str | None: ...
    def string(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        choices: Sequence[str] | None = None,
        hint: str = "",
    ) -> str | None:
        value = self.raw(key, default, required=required, hint=hint)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(
                key,
                f"expected a string{' (' + ', '.join(map(repr, choices)) + ')' if choices else ''}, got {_kind(value)}",
            )
        if choices is not None:
            norm = value.strip().lower().replace("_", "-")
            if norm not in choices:
                raise self.error(
                    key, f"{value!r} is not one of {', '.join(map(repr, choices))}{_suggest(norm, choices)}"
                )
            return norm
        return value

    @overload
    def vector3(
        self, key: str, value: Any = _NOT_GIVEN, dims: _Dims | None = LENGTH, *, required: Literal[True] = True
    ) -> tuple[float, float, float]: ...
    @overload
    def vector3(
        self, key: str, value: Any = _NOT_GIVEN, dims: _Dims | None = LENGTH, *, required: bool
    ) -> tuple[float, float, float] | None: ...
    def vector3(
        self, key: str, value: Any = _NOT_GIVEN, dims: _Dims | None = LENGTH, *, required: bool = True
    ) -> tuple[float, float, float] | None:
        """Three numbers (``dims`` None: plain numbers, else quantities) from the key ``key``, or from ``value`` (a
        parsed value; ``key`` then names it in errors). None only for a missing key that is not required."""
        if value is _NOT_GIVEN:
            value = self.raw(key, required=required)
            if value is None:
                return None
        unit = dims.unit if isinstance(dims, Dimension) else ""
        if not isinstance(value, list) or len(value) != 3:
            raise self.error(
                key,
                f"expected three coordinates{' in ' + unit if unit else ''} like [1.0, 2.0, 3.0], got {_kind(value)}",
            )
        out: list[float] = []
        for i, v in enumerate(value):
            if dims is None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise self.error(f"{key}[{i}]", f"expected a number, got {_kind(v)}")
                out.append(float(v))
            else:
                out.append(self.value_quantity(f"{key}[{i}]", v, dims)[0])
        return out[0], out[1], out[2]

    @overload
    def path_value(
        self, key: str, *, required: Literal[True] = True, must_exist: bool = ..., hint: str = ...
    ) -> Path: ...
    @overload
    def path_value(self, key: str, *, required: bool, must_exist: bool = ..., hint: str = ...) -> Path | None: ...
    def path_value(self, key: str, *, required: bool = True, must_exist: bool = True, hint: str = "") -> Path | None:
        value = self.string(key, required=required, hint=hint)
        if value is None:
            return None
        if not value.strip():
            raise self.error(key, "empty path")
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = (self.base_dir / p).resolve()
        if must_exist and not p.exists() and not _opencarp_base_exists(p):
            raise self.error(key, f"file not found: {p} (relative paths are relative to the case file's folder)")
        return p


def _opencarp_base_exists(p: Path) -> bool:
    return p.with_name(p.name + ".pts").exists() or p.with_suffix(".pts").exists()


def _kind(value) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)


def _fmt_value(value, dim: Dimension) -> str:
    return repr(value) if isinstance(value, str) else f"{value!r} {dim.unit}"


def _selector(key: str) -> int | str:
    try:
        return int(key)
    except ValueError:
        return key


# ====================================================================================================== the sections
_TOP = ("title", "description", "mesh", "fibres", "conductivity", "tissue", "model", "stimulus", "simulation", "record")


def load_case(path) -> CaseConfig:
    """Read and validate a case file (TOML). Raises `CaseError` (one line) for any problem."""
    p = Path(path)
    if not p.exists():
        raise CaseError(f"case file not found: {p}")
    if p.is_dir():
        raise CaseError(f"{p} is a folder; give the case file (.toml)")
    try:
        text = p.read_bytes().decode("utf-8-sig")  # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as e:
        raise CaseError(
            f"{p}: not a UTF-8 text file ({e.reason} at byte {e.start}); is this a TOML case file?"
        ) from None
    except OSError as e:
        raise CaseError(f"{p}: cannot read the case file: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CaseError(f"{p}: invalid TOML: {' '.join(str(e).split())}") from None
    return parse_case(data, source=p, base_dir=p.resolve().parent)


def parse_case(
    data: dict[str, Any], *, source: str | Path = "<case>", base_dir: str | Path | None = None
) -> CaseConfig:
    """Validate case data (the dict `tomllib` returns) into a `CaseConfig`.

    ``source`` names the case in error messages; relative paths are resolved against ``base_dir`` (default: the folder
    of ``source`` if it is a path, else the current folder).
    """
    source = Path(source)
    if base_dir is None:
        base_dir = source.resolve().parent if source.suffix else Path.cwd()
    top = _Section(str(source), "", data, Path(base_dir))
    top.check_keys(_TOP)
    title = top.string("title", None)
    description = top.string("description", None)
    mesh = _parse_mesh(top.sub("mesh", required=True, hint='e.g. [mesh] path = "heart.vtu" or path = "builtin:biv"'))
    fibres = _parse_fibres(top.sub("fibres") or _Section(top.source, "fibres", {}, top.base_dir))
    conductivity = _parse_per_region(
        top.sub("conductivity", required=True, hint='e.g. [conductivity] sigma_l = "0.17 S/m", sigma_t = "0.019 S/m"'),
        _CONDUCTIVITY_KEYS,
        _parse_conductivity,
        "sigma_l",
    )
    tissue_sec = top.sub("tissue") or _Section(top.source, "tissue", {}, top.base_dir)
    tissue_sec.check_keys(("chi", "Cm"))
    tissue = TissueSpec(
        chi=tissue_sec.quantity("chi", INV_LENGTH, 140.0, positive=True),
        Cm=tissue_sec.quantity("Cm", CAPACITANCE, 1.0, positive=True),
    )
    model = _parse_per_region(
        top.sub("model", required=True, hint='e.g. [model] name = "bueno-orovio-epi"'),
        _MODEL_KEYS,
        _parse_model,
        "name",
    )
    simulation = _parse_simulation(
        top.sub("simulation", required=True, hint='e.g. [simulation] duration = "100 ms", dt = "0.02 ms"')
    )
    stimuli = _parse_stimuli(top, simulation)
    record = _parse_record(top.sub("record") or _Section(top.source, "record", {}, top.base_dir), simulation)
    _check_fibres_needed(top, fibres, conductivity)
    return CaseConfig(
        source=source,
        mesh=mesh,
        fibres=fibres,
        conductivity=conductivity,
        tissue=tissue,
        model=model,
        stimuli=stimuli,
        simulation=simulation,
        record=record,
        title=title,
        description=description,
    )


# ---------------------------------------------------------------------------------------------------------------- mesh
def _parse_mesh(sec: _Section) -> MeshSpec:
    sec.check_keys(("path", "slab", "scale", "format", "regions"))
    if sec.has("path") == sec.has("slab"):
        raise sec.error(
            None, "give exactly one of 'path' (a mesh file or \"builtin:NAME\") and 'slab' (a generated slab)"
        )
    path = builtin = slab = None
    if sec.has("path"):
        text = sec.string("path", required=True)
        if text.strip().lower().startswith("builtin:"):
            builtin = text.strip()[len("builtin:") :].strip()
            if not builtin:
                raise sec.error("path", 'name the built-in mesh, e.g. "builtin:biv"')
        else:
            path = sec.path_value("path")
    else:
        s = sec.sub("slab", required=True)  # present: exactly one of path and slab
        s.check_keys(("size", "dx", "fibre"))
        size = s.vector3("size", required=True)
        if any(not v > 0 for v in size):
            raise s.error("size", f"the three lengths must be positive, got {list(size)} mm")
        dx = s.quantity("dx", LENGTH, required=True, positive=True)
        fibre = s.vector3("fibre", dims=None, required=False) or (1.0, 0.0, 0.0)
        if all(v == 0 for v in fibre):
            raise s.error("fibre", "must be a non-zero direction")
        slab = SlabSpec(size, dx, fibre)
        if sec.has("scale") or sec.has("format"):
            raise sec.error("scale" if sec.has("scale") else "format", "only used with a mesh 'path'")
    scale = sec.number("scale", None, positive=True)
    fmt = sec.string("format", None)
    regions = sec.raw("regions")
    if regions is not None:
        if not isinstance(regions, list) or not regions:
            raise sec.error(
                "regions", f"expected a non-empty list of region ids or names like [1, 2], got {_kind(regions)}"
            )
        for r in regions:
            if isinstance(r, bool) or not isinstance(r, (int, str)):
                raise sec.error("regions", f"region ids are whole numbers or names, got {_kind(r)}")
        regions = tuple(regions)
    return MeshSpec(path=path, builtin=builtin, slab=slab, scale=scale, format=fmt, regions=regions)


# ---------------------------------------------------------------------------------------------------------------- fibres
_RULE_KEYS = ("alpha_endo", "alpha_epi", "beta_endo", "beta_epi", "endo", "epi", "base")


def _parse_fibres(sec: _Section) -> FibreSpec:
    sec.check_keys(("source", "path") + _RULE_KEYS)
    source = sec.string("source", "mesh", choices=FIBRE_SOURCES)
    if source != "rule-based":
        for k in _RULE_KEYS:
            if sec.has(k):
                raise sec.error(k, f'only used with source = "rule-based" (source is {source!r})')
    if source != "file" and sec.has("path"):
        raise sec.error("path", f'only used with source = "file" (source is {source!r})')
    if source == "file":
        return FibreSpec(source=source, path=sec.path_value("path", hint="the file with one fibre (and sheet) per tet"))
    if source == "rule-based":
        endo = sec.raw("endo")
        if endo is not None:
            if isinstance(endo, str):
                endo = (endo,)
            elif isinstance(endo, list) and 1 <= len(endo) <= 2 and all(isinstance(e, str) for e in endo):
                endo = tuple(endo)
            else:
                raise sec.error("endo", f"expected a surface name or [LV, RV] surface names, got {_kind(endo)}")
        return FibreSpec(
            source=source,
            alpha_endo=sec.quantity("alpha_endo", ANGLE, 60.0),
            alpha_epi=sec.quantity("alpha_epi", ANGLE, -60.0),
            beta_endo=sec.quantity("beta_endo", ANGLE, 0.0),
            beta_epi=sec.quantity("beta_epi", ANGLE, 0.0),
            endo=endo,
            epi=sec.string("epi", "epi"),
            base=sec.string("base", "base"),
        )
    return FibreSpec(source=source)


# ---------------------------------------------------------------------------------------------------------------- per region
def _parse_per_region(
    sec: _Section, keys: tuple[str, ...], parse_one: Callable[[_Section], T], required_key: str
) -> PerRegion[T]:
    """A section whose own keys are the default for every region and whose sub-tables are per-region values."""

    def is_region_table(key: str, value: Any) -> bool:
        return isinstance(value, dict) and key not in keys

    sec.check_keys(keys, extra_ok=is_region_table)
    own = {k: v for k, v in sec.data.items() if not is_region_table(k, v)}
    default: T | None = None
    if own:
        default = parse_one(_Section(sec.source, sec.path, own, sec.base_dir))
    regions: list[tuple[int | str, T]] = []
    for key, value in sec.data.items():
        if is_region_table(key, value):
            regions.append((_selector(key), parse_one(_Section(sec.source, f"{sec.path}.{key}", value, sec.base_dir))))
    if default is None and not regions:
        raise sec.error(
            None,
            f"missing required key {required_key!r} (for every region, or per region in "
            f"[{sec.path}.<region id or name>] tables)",
        )
    return PerRegion(default, tuple(regions), sec.path)


_SIGMAS = ("sigma_l", "sigma_t", "sigma_n")
_CVS = ("cv_l", "cv_t", "cv_n")
_CONDUCTIVITY_KEYS = _SIGMAS + ("intra", "extra") + _CVS + ("tune_edge_length",)


def _sigmas(sec: _Section) -> tuple[float, float | None, float | None]:
    l = sec.quantity("sigma_l", CONDUCTIVITY, required=True, positive=True)
    t = sec.quantity("sigma_t", CONDUCTIVITY, None, positive=True)
    n = sec.quantity("sigma_n", CONDUCTIVITY, None, positive=True)
    if n is not None and t is None:
        raise sec.error("sigma_n", "needs sigma_t as well (sigma_n is the sheet-normal value of orthotropic tissue)")
    return l, t, n


def _parse_conductivity(sec: _Section) -> ConductivitySpec:
    sec.check_keys(_CONDUCTIVITY_KEYS)
    if any(sec.has(k) for k in _CVS):
        for k in _SIGMAS + ("intra", "extra"):
            if sec.has(k):
                raise sec.error(
                    k,
                    "give either conduction velocities cv_l/cv_t/cv_n (conductivities tuned to them) or "
                    "conductivities, not both",
                )
        l = sec.quantity("cv_l", VELOCITY, required=True, positive=True)
        t = sec.quantity("cv_t", VELOCITY, None, positive=True)
        n = sec.quantity("cv_n", VELOCITY, None, positive=True)
        if n is not None and t is None:
            raise sec.error("cv_n", "needs cv_t as well (cv_n is the sheet-normal velocity of orthotropic tissue)")
        dx = sec.quantity("tune_edge_length", LENGTH, None, positive=True)
        return ConductivitySpec(None, cv=(l, t, n), tune_edge_length=dx)
    if sec.has("tune_edge_length"):
        raise sec.error("tune_edge_length", "only with conduction velocities (cv_l, cv_t, cv_n)")
    if sec.has("intra") or sec.has("extra"):
        for k in _SIGMAS:
            if sec.has(k):
                raise sec.error(
                    k, "give either sigma_l/sigma_t/sigma_n (monodomain) or intra and extra tables, not both"
                )
        intra = sec.sub("intra", required=True, hint="intra and extra are combined by the harmonic mean")
        extra = sec.sub("extra", required=True, hint="intra and extra are combined by the harmonic mean")
        intra.check_keys(_SIGMAS)
        extra.check_keys(_SIGMAS)
        i, e = _sigmas(intra), _sigmas(extra)
        for name, a, b in zip(_SIGMAS, i, e):
            if (a is None) != (b is None):
                raise sec.error(name, "intra and extra must give the same directions")
        h = [None if a is None or b is None else a * b / (a + b) for a, b in zip(i, e)]
        return ConductivitySpec(h[0], h[1], h[2], intra=i, extra=e)
    l, t, n = _sigmas(sec)
    return ConductivitySpec(l, t, n)


_MODEL_KEYS = ("name", "parameters")


def _model_names() -> tuple[str, ...]:
    from ..ionic._registry import MODEL_NAMES

    return MODEL_NAMES


def _parse_model(sec: _Section) -> ModelSpec:
    sec.check_keys(_MODEL_KEYS)
    names = _model_names()
    name = sec.string("name", required=True, hint=f"one of {', '.join(names)}")
    key = name.strip().lower().replace("_", "-")
    if key not in names:
        raise sec.error("name", f"unknown ionic model {name!r}{_suggest(key, names)}; choose one of {', '.join(names)}")
    params = sec.sub("parameters")
    items = []
    if params is not None:
        for p, v in params.data.items():
            ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)) or (
                isinstance(v, list) and v and all(not isinstance(x, bool) and isinstance(x, (int, float)) for x in v)
            )
            if not ok:
                raise params.error(p, f"expected a number (in the model's own units), got {_kind(v)}")
            items.append((p, tuple(float(x) for x in v) if isinstance(v, list) else float(v)))
    return ModelSpec(key, tuple(items))


# ---------------------------------------------------------------------------------------------------------------- simulation
def _parse_simulation(sec: _Section) -> SimulationSpec:
    sec.check_keys(("duration", "dt", "splitting", "diffusion", "dtype"))
    duration = sec.quantity("duration", TIME, required=True, positive=True, hint='the simulated time, e.g. "100 ms"')
    dt = sec.quantity("dt", TIME, required=True, positive=True, hint='the time step, e.g. "0.02 ms"')
    if dt > duration:
        raise sec.error("dt", f"the time step ({dt:g} ms) is longer than the run (duration {duration:g} ms)")
    try:  # before anything counts steps: the solver's step counter is int32 under jit
        count_of(
            duration,
            dt,
            what="",
            total_name="duration",
            step_name="dt",
            name="steps",
            why="the solver counts steps in int32",
            fix=f"shorten the run or use a larger dt (at least {duration / INT32_MAX:.3g} ms)",
        )
    except SizeError as e:
        raise sec.error(None, str(e)) from None
    splitting = sec.string("splitting", "godunov", choices=("godunov", "strang"))
    dtype = sec.string("dtype", "float32", choices=("float32", "float64"))
    diffusion = DiffusionSpec()
    raw = sec.raw("diffusion")
    if isinstance(raw, str):  # present: required=True only says so
        diffusion = DiffusionSpec(kind=sec.string("diffusion", required=True, choices=("explicit", "theta")))
    elif isinstance(raw, dict):
        d = sec.sub("diffusion", required=True)
        kind = d.string("kind", "explicit", choices=("explicit", "theta"))
        if kind == "explicit":
            d.check_keys(
                ("kind",),
                elsewhere={k: 'only used with kind = "theta"' for k in ("theta", "rtol", "mass", "max_steps")},
            )
            diffusion = DiffusionSpec()
        else:
            d.check_keys(("kind", "theta", "rtol", "mass", "max_steps"))
            theta = d.number("theta", 0.5)
            if not 0.5 <= theta <= 1.0:
                raise d.error("theta", f"must be in [0.5, 1] (0.5 Crank-Nicolson, 1 backward Euler), got {theta!r}")
            diffusion = DiffusionSpec(
                kind="theta",
                theta=theta,
                rtol=d.number("rtol", None, positive=True),
                mass=d.string("mass", "consistent", choices=("consistent", "lumped")),
                max_steps=d.integer("max_steps", 200, minimum=1, maximum=INT32_MAX),
            )
    elif raw is not None:
        raise sec.error(
            "diffusion", f'expected "explicit", "theta" or a table {{ kind = "theta", theta = 0.5 }}, got {_kind(raw)}'
        )
    return SimulationSpec(duration=duration, dt=dt, splitting=splitting, diffusion=diffusion, dtype=dtype)


# ---------------------------------------------------------------------------------------------------------------- stimuli
_STIM_COMMON = ("kind", "strength", "start", "duration", "period", "count")
_STIM_GEOMETRY = {
    "box": ("lower", "upper"),
    "sphere": ("centre", "radius"),
    "nodes": ("nodes", "name"),
    "surface": ("name",),
}


def _parse_stimuli(top: _Section, sim: SimulationSpec) -> tuple[StimulusSpec, ...]:
    return tuple(
        _parse_stimulus(sec, sim)
        for sec in top.tables("stimulus", hint="add at least one [[stimulus]] table (kind, geometry, strength)")
    )


def _parse_stimulus(sec: _Section, sim: SimulationSpec) -> StimulusSpec:
    kind = sec.string("kind", required=True, choices=STIMULUS_KINDS, hint="box, sphere, nodes or surface")
    geometry = _STIM_GEOMETRY[kind]
    others = {
        k: f"not used by kind = {kind!r} (a {kind} takes {' and '.join(geometry)})"
        for g in _STIM_GEOMETRY.values()
        for k in g
        if k not in geometry
    }
    allowed = _STIM_COMMON + geometry
    sec.check_keys(allowed, elsewhere=others)
    strength, dim = sec.value_quantity(
        "strength",
        sec.raw("strength", required=True, hint='e.g. "50000 uA/cm^3" (or "50 uA/uF")'),
        (CURRENT_DENSITY, CURRENT_PER_CAP),
    )
    start = sec.quantity("start", TIME, 0.0, nonnegative=True)
    duration = sec.quantity("duration", TIME, 2.0, positive=True)
    period = sec.quantity("period", TIME, None, positive=True)
    count = sec.integer("count", None, minimum=1)
    if count is None:
        count = None if period is not None else 1
    if period is None and count is not None and count > 1:
        raise sec.error("count", f"{count} pulses need a 'period' (ms)")
    if period is not None and not period > duration:
        raise sec.error("period", f"must be longer than the pulse duration ({duration:g} ms), got {period:g} ms")
    if start >= sim.duration:
        raise sec.error("start", f"{start:g} ms is not before the end of the run (duration {sim.duration:g} ms)")
    if period is not None and sim.dt > period - duration:
        raise sec.error(
            "period", f"the gap between pulses ({period - duration:g} ms) is shorter than dt ({sim.dt:g} ms)"
        )
    lower: tuple[float, float, float] | None = None
    upper: tuple[float, float, float] | None = None
    centre: tuple[float, float, float] | None = None
    radius: float | None = None
    nodes: tuple[int, ...] | None = None
    name: str | None = None
    if kind == "box":
        lower, upper = sec.vector3("lower"), sec.vector3("upper")
        for i, (a, b) in enumerate(zip(lower, upper)):
            if a > b:
                raise sec.error("upper", f"upper[{i}] = {b:g} mm is below lower[{i}] = {a:g} mm")
    elif kind == "sphere":
        centre = sec.vector3("centre")
        radius = sec.quantity("radius", LENGTH, required=True, positive=True)
    elif kind == "nodes":
        if sec.has("nodes") == sec.has("name"):
            raise sec.error(None, "give exactly one of 'nodes' (node indices) and 'name' (a node set of the mesh)")
        if sec.has("nodes"):
            given = sec.raw("nodes")
            if (
                not isinstance(given, list)
                or not given
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in given)
            ):
                raise sec.error(
                    "nodes", f"expected a non-empty list of node indices (whole numbers >= 0), got {_kind(given)}"
                )
            nodes = tuple(given)
        else:  # present: exactly one of nodes and name
            name = sec.string("name", required=True)
    else:
        name = sec.string("name", required=True, hint='a named surface of the mesh, e.g. "endo_lv"')
    return StimulusSpec(
        kind=kind,
        strength=strength,
        per_capacitance=dim is CURRENT_PER_CAP,
        start=start,
        duration=duration,
        period=period,
        count=count,
        lower=lower,
        upper=upper,
        centre=centre,
        radius=radius,
        nodes=nodes,
        name=name,
    )


# ---------------------------------------------------------------------------------------------------------------- record
_RECORD_KEYS = (
    "activation",
    "repolarisation",
    "beats",
    "activation_threshold",
    "repolarisation_threshold",
    "snapshots_at",
    "snapshot_every",
    "probes",
    "probe_every",
)


def _parse_record(sec: _Section, sim: SimulationSpec) -> RecordSpec:
    sec.check_keys(_RECORD_KEYS)
    activation = sec.boolean("activation", True)
    repolarisation = sec.boolean("repolarisation", False)
    beats = sec.boolean("beats", False)
    if (repolarisation or beats) and not activation:
        raise sec.error("repolarisation" if repolarisation else "beats", "needs activation = true")
    a_thr = sec.quantity("activation_threshold", VOLTAGE, 0.0)
    r_thr = sec.quantity("repolarisation_threshold", VOLTAGE, -70.0)
    if repolarisation and not r_thr < a_thr:
        raise sec.error(
            "repolarisation_threshold", f"must be below the activation threshold ({a_thr:g} mV), got {r_thr:g} mV"
        )
    end = sim.n_steps * sim.dt
    at = sec.raw("snapshots_at")
    snapshots_at = ()
    if at is not None:
        if not isinstance(at, list):
            raise sec.error("snapshots_at", f'expected a list of times like [10, 20, "30 ms"], got {_kind(at)}')
        times = []
        for i, v in enumerate(at):
            t, _ = sec.value_quantity(f"snapshots_at[{i}]", v, TIME, nonnegative=True)
            if t > end + 1e-9:
                raise sec.error(f"snapshots_at[{i}]", f"{t:g} ms is after the end of the run ({end:g} ms)")
            times.append(t)
        snapshots_at = tuple(times)
    every = sec.quantity("snapshot_every", TIME, None, positive=True)
    if every is not None and every < sim.dt * (1 - 1e-9):
        raise sec.error(
            "snapshot_every",
            f"{every:g} ms is shorter than dt ({sim.dt:g} ms): snapshots are taken at "
            f"time steps; use snapshot_every >= {sim.dt:g} ms",
        )
    k = (0 if every is None else int(math.floor(end / every + 1e-9)) + 1) + len(snapshots_at)
    if k > MAX_SNAPSHOTS:  # before any list of times is built
        key = "snapshot_every" if every is not None else "snapshots_at"
        ratio = f"duration {end:g} ms / snapshot_every {every:g} ms = " if every is not None else ""
        fix = (
            f"snapshot_every >= {end / (MAX_SNAPSHOTS - 1 - len(snapshots_at)):.3g} ms"
            if every is not None
            else "fewer snapshots_at"
        )
        raise sec.error(
            key,
            f"{ratio}{k:,} snapshots, above the limit of {MAX_SNAPSHOTS:,} (each is a VTU file in "
            f"vm/); ask for fewer: {fix}",
        )
    probe_every = sec.quantity("probe_every", TIME, None, positive=True)
    if probe_every is not None and probe_every < sim.dt * (1 - 1e-9):
        raise sec.error("probe_every", f"{probe_every:g} ms is shorter than dt ({sim.dt:g} ms)")
    raw = sec.raw("probes")
    names, points = [], []
    if raw is not None:
        if isinstance(raw, dict):
            items = list(raw.items())
        elif isinstance(raw, list):
            items = [(f"p{i + 1}", v) for i, v in enumerate(raw)]
        else:
            raise sec.error(
                "probes",
                f"expected a list of points [[x, y, z], ...] or a table {{ name = [x, y, z] }}, got {_kind(raw)}",
            )
        if not items:
            raise sec.error("probes", "no probe points given (leave 'probes' out for none)")
        for name, v in items:
            points.append(sec.vector3(f"probes.{name}", v))
            names.append(str(name))
    return RecordSpec(
        activation=activation,
        repolarisation=repolarisation,
        beats=beats,
        activation_threshold=a_thr,
        repolarisation_threshold=r_thr,
        snapshots_at=snapshots_at,
        snapshot_every=every,
        probes=tuple(points),
        probe_names=tuple(names),
        probe_every=probe_every,
    )


def _check_fibres_needed(top: _Section, fibres: FibreSpec, conductivity: PerRegion[ConductivitySpec]) -> None:
    if fibres.source != "none":
        return
    specs = [(conductivity.where, conductivity.default)] if conductivity.default else []
    for where, spec in specs + [(f"{conductivity.where}.{k}", v) for k, v in conductivity.regions]:
        if not spec.isotropic:
            raise CaseError(
                _message(
                    top.source,
                    where,
                    None,
                    "anisotropic conductivity (sigma_t differs from sigma_l) "
                    'needs fibres, but [fibres] source = "none"; use source = "mesh", "file" or '
                    '"rule-based", or an isotropic conductivity',
                )
            )


# ====================================================================================================== echo (to_dict)
def _q(x: float | None, dim: Dimension) -> str | None:
    return None if x is None else format_quantity(x, dim)


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _to_dict(c: CaseConfig) -> dict:
    out: dict = {}
    if c.title is not None:
        out["title"] = c.title
    if c.description is not None:
        out["description"] = c.description
    m = c.mesh
    mesh = {}
    if m.slab is not None:
        mesh["slab"] = {
            "size": [format_quantity(v, LENGTH) for v in m.slab.size],
            "dx": format_quantity(m.slab.dx, LENGTH),
            "fibre": list(m.slab.fibre),
        }
    else:
        mesh["path"] = f"builtin:{m.builtin}" if m.builtin is not None else str(m.path)
    mesh.update(
        _drop_none({"scale": m.scale, "format": m.format, "regions": None if m.regions is None else list(m.regions)})
    )
    out["mesh"] = mesh
    f = c.fibres
    fib: dict = {"source": f.source}
    if f.source == "file":
        fib["path"] = str(f.path)
    if f.source == "rule-based":
        fib.update(
            {k: format_quantity(getattr(f, k), ANGLE) for k in ("alpha_endo", "alpha_epi", "beta_endo", "beta_epi")}
        )
        fib.update(_drop_none({"endo": None if f.endo is None else list(f.endo), "epi": f.epi, "base": f.base}))
    out["fibres"] = fib

    def cond(s: ConductivitySpec) -> dict:
        if s.cv is not None:
            d = _drop_none(dict(zip(_CVS, (_q(v, VELOCITY) for v in s.cv))))
            return d if s.tune_edge_length is None else {**d, "tune_edge_length": _q(s.tune_edge_length, LENGTH)}
        if s.intra is not None:
            assert s.extra is not None  # given together (_parse_conductivity)
            return {
                "intra": _drop_none(dict(zip(_SIGMAS, (_q(v, CONDUCTIVITY) for v in s.intra)))),
                "extra": _drop_none(dict(zip(_SIGMAS, (_q(v, CONDUCTIVITY) for v in s.extra)))),
            }
        return _drop_none(dict(zip(_SIGMAS, (_q(v, CONDUCTIVITY) for v in (s.sigma_l, s.sigma_t, s.sigma_n)))))

    def model(s: ModelSpec) -> dict:
        d: dict = {"name": s.name}
        if s.parameters:
            d["parameters"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.parameters}
        return d

    def per_region(per: PerRegion[T], fn: Callable[[T], dict]) -> dict:
        d = dict(fn(per.default)) if per.default is not None else {}
        for sel, spec in per.regions:
            d[str(sel)] = fn(spec)
        return d

    out["conductivity"] = per_region(c.conductivity, cond)
    out["model"] = per_region(c.model, model)
    out["tissue"] = {"chi": format_quantity(c.tissue.chi, INV_LENGTH), "Cm": format_quantity(c.tissue.Cm, CAPACITANCE)}
    stims = []
    for s in c.stimuli:
        d: dict[str, Any] = {"kind": s.kind}
        # each kind comes with its geometry (`_parse_stimulus` requires it)
        if s.kind == "box":
            assert s.lower is not None and s.upper is not None
            d.update(
                lower=[format_quantity(v, LENGTH) for v in s.lower], upper=[format_quantity(v, LENGTH) for v in s.upper]
            )
        elif s.kind == "sphere":
            assert s.centre is not None and s.radius is not None
            d.update(centre=[format_quantity(v, LENGTH) for v in s.centre], radius=format_quantity(s.radius, LENGTH))
        elif s.nodes is not None:
            d["nodes"] = list(s.nodes)
        else:
            d["name"] = s.name
        d["strength"] = format_quantity(s.strength, CURRENT_PER_CAP if s.per_capacitance else CURRENT_DENSITY)
        d["start"] = format_quantity(s.start, TIME)
        d["duration"] = format_quantity(s.duration, TIME)
        if s.period is not None:
            d["period"] = format_quantity(s.period, TIME)
        if s.count is not None:
            d["count"] = s.count
        stims.append(d)
    out["stimulus"] = stims
    sim = c.simulation
    diff = {"kind": sim.diffusion.kind}
    if sim.diffusion.kind == "theta":
        diff.update(
            _drop_none(
                {
                    "theta": sim.diffusion.theta,
                    "rtol": sim.diffusion.rtol,
                    "mass": sim.diffusion.mass,
                    "max_steps": sim.diffusion.max_steps,
                }
            )
        )
    out["simulation"] = {
        "duration": format_quantity(sim.duration, TIME),
        "dt": format_quantity(sim.dt, TIME),
        "splitting": sim.splitting,
        "diffusion": diff,
        "dtype": sim.dtype,
    }
    r = c.record
    rec: dict = {
        "activation": r.activation,
        "repolarisation": r.repolarisation,
        "beats": r.beats,
        "activation_threshold": format_quantity(r.activation_threshold, VOLTAGE),
        "repolarisation_threshold": format_quantity(r.repolarisation_threshold, VOLTAGE),
    }
    if r.snapshots_at:
        rec["snapshots_at"] = [format_quantity(t, TIME) for t in r.snapshots_at]
    if r.snapshot_every is not None:
        rec["snapshot_every"] = format_quantity(r.snapshot_every, TIME)
    if r.probes:
        rec["probes"] = {n: [format_quantity(v, LENGTH) for v in p] for n, p in zip(r.probe_names, r.probes)}
    if r.probe_every is not None:
        rec["probe_every"] = format_quantity(r.probe_every, TIME)
    out["record"] = rec
    return out

"""Patient data for calibration: ECGs, activation maps, volume curves, pressure traces and cuff pressures (the readers
and writers of their files, WFDB, CSV, VTK point clouds, JSON, are `organtwin.io`'s: `organtwin.io.read_ecg`, ...).

Host data: frozen dataclasses of read-only float64 numpy arrays in organtwin units (time ms, voltage mV, length mm,
volume mL, pressure mmHg). They are not part of the differentiable core; losses turn them into JAX arrays.
Every malformed input raises `DataError` with one line, ``FILE:LINE: what is wrong; how to fix`` (CSV lines are 1-based;
for WFDB records and VTK files the place is a sample or point index instead).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .._errors import DataError as DataError

__all__ = [
    "ActivationMap",
    "CuffPressure",
    "DataError",
    "MeasuredECG",
    "PressureTrace",
    "STANDARD_LEADS",
    "VolumeCurve",
    "normalise_lead_name",
    "synthetic_volume_and_cuff",
]

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_LEAD_BY_LOWER = {n.lower(): n for n in STANDARD_LEADS}

_VOLTAGE_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
_TIME_TO_MS = {"ms": 1.0, "s": 1e3}
_LENGTH_TO_MM = {"mm": 1.0, "um": 1e-3, "µm": 1e-3, "μm": 1e-3, "cm": 10.0, "m": 1e3}
_VOLUME_TO_ML = {"ml": 1.0, "l": 1e3, "cl": 10.0}
_PRESSURE_TO_MMHG = {"mmhg": 1.0, "kpa": 7.500617, "pa": 7.500617e-3}
_ALL_UNITS = {**_VOLTAGE_TO_MV, **_TIME_TO_MS, **_LENGTH_TO_MM, **_VOLUME_TO_ML, **_PRESSURE_TO_MMHG}
# "V1 (uV)", "V1 [mV]", "I_mV", "time_ms", "LV_mL"
_UNIT_SUFFIX = re.compile(r"^(?P<base>.*?)\s*(?:[\(\[]\s*(?P<u1>[^\)\]]+?)\s*[\)\]]|_(?P<u2>[A-Za-zµμ]+))$")


def _err(source, line, what: str) -> DataError:
    where = f"{source}:{line}" if line is not None else f"{source}"
    return DataError(f"{where}: {' '.join(str(what).split())}")


def normalise_lead_name(name: str) -> str:
    """The standard 12-lead spelling of ``name`` (case-insensitive, e.g. 'AVR' → 'aVR', 'v1' → 'V1'); other names
    (e.g. 'MLII') are returned stripped but otherwise as given."""
    s = name.strip()
    key = s.lower().replace(" ", "")
    for prefix in ("lead_", "lead-", "lead"):
        if key.startswith(prefix) and key[len(prefix) :] in _LEAD_BY_LOWER:
            key = key[len(prefix) :]
            break
    return _LEAD_BY_LOWER.get(key, s)


def _readonly(a, dtype=float) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------------------------------------------- ECG


@dataclass(frozen=True, eq=False)
class MeasuredECG:
    """A measured ECG: ``signals`` (samples, leads) in mV sampled uniformly at ``sampling_rate_hz`` from ``t0_ms``."""

    leads: tuple[str, ...]
    signals: np.ndarray
    sampling_rate_hz: float
    t0_ms: float = 0.0
    source: str = ""

    def __post_init__(self):
        sig = _readonly(self.signals)
        object.__setattr__(self, "leads", tuple(str(n) for n in self.leads))
        if sig.ndim != 2 or sig.shape[1] != len(self.leads):
            raise _err(
                self.source or "MeasuredECG",
                None,
                f"signals of shape {sig.shape} for {len(self.leads)} leads; expected (samples, {len(self.leads)})",
            )
        if sig.shape[0] < 2:
            raise _err(self.source or "MeasuredECG", None, "fewer than 2 samples; an ECG needs a signal")
        if not np.all(np.isfinite(sig)):
            s, c = np.argwhere(~np.isfinite(sig))[0]
            raise _err(
                self.source or "MeasuredECG",
                None,
                f"lead {self.leads[c]} sample {s} is not finite; fill in or cut the gap",
            )
        if len(set(self.leads)) != len(self.leads):
            raise _err(
                self.source or "MeasuredECG",
                None,
                f"duplicate lead names in {', '.join(self.leads)}; keep one signal per lead",
            )
        fs = float(self.sampling_rate_hz)
        if not (math.isfinite(fs) and fs > 0):
            raise _err(self.source or "MeasuredECG", None, f"sampling rate {fs} Hz; give a positive rate")
        object.__setattr__(self, "signals", sig)
        object.__setattr__(self, "sampling_rate_hz", fs)
        object.__setattr__(self, "t0_ms", float(self.t0_ms))

    @property
    def n_samples(self) -> int:
        return self.signals.shape[0]

    @property
    def times_ms(self) -> np.ndarray:
        """Sample times (samples,), ms."""
        return self.t0_ms + np.arange(self.n_samples) * (1000.0 / self.sampling_rate_hz)

    def lead(self, name: str) -> np.ndarray:
        """One lead's signal (samples,), mV; ``name`` as in `normalise_lead_name`."""
        n = normalise_lead_name(name)
        if n not in self.leads:
            raise KeyError(f"no lead {name!r} in {self.source or 'this ECG'}; leads: {', '.join(self.leads)}")
        return self.signals[:, self.leads.index(n)]


# ---------------------------------------------------------------------------------------------------- activation map


@dataclass(frozen=True, eq=False)
class ActivationMap:
    """Measured local activation times ``times_ms`` (n,) at ``points_mm`` (n, 3), e.g. from an electroanatomic map."""

    points_mm: np.ndarray
    times_ms: np.ndarray
    source: str = ""

    def __post_init__(self):
        pts, t = _readonly(self.points_mm), _readonly(self.times_ms)
        src = self.source or "ActivationMap"
        if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < 1:
            raise _err(src, None, f"points of shape {pts.shape}; expected (n, 3) in mm")
        if t.shape != (pts.shape[0],):
            raise _err(src, None, f"{t.shape} times for {pts.shape[0]} points; give one time per point")
        for a, what in ((pts, "coordinate"), (t, "activation time")):
            if not np.all(np.isfinite(a)):
                k = int(np.argwhere(~np.isfinite(a))[0][0])
                raise _err(src, None, f"point {k}: {what} is not finite; remove the point or fill it in")
        object.__setattr__(self, "points_mm", pts)
        object.__setattr__(self, "times_ms", t)

    @property
    def n_points(self) -> int:
        return self.points_mm.shape[0]

    @classmethod
    def synthetic(
        cls,
        mesh,
        activation_ms,
        n_points: int,
        *,
        off_surface_mm: float = 0.0,
        offset_ms: float = 0.0,
        noise_ms: float = 0.0,
        seed: int = 0,
        source: str = "synthetic",
    ) -> "ActivationMap":
        """A map sampled from a simulated ``activation_ms`` (per node of ``mesh``), for tests and case studies:
        ``n_points`` distinct nodes of the mesh's tagged surfaces, each moved up to ``off_surface_mm`` along the ray
        from the mesh's centroid (a catheter's distance from the wall, uniform in ±), times shifted by ``offset_ms``
        (a map's arbitrary reference) plus Gaussian noise of SD ``noise_ms``; reproducible by ``seed``."""
        rng = np.random.default_rng(seed)
        surf = np.unique(np.concatenate([np.unique(s.triangles) for s in mesh.surfaces.values()]))
        if n_points > surf.size:
            raise _err(source, None, f"{n_points} points asked of a surface of {surf.size} nodes; ask for fewer")
        pick = rng.choice(surf, n_points, replace=False)
        pts = np.asarray(mesh.points, float)[pick]
        ray = pts - np.asarray(mesh.points, float).mean(0)
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        moved = pts + off_surface_mm * ray * rng.uniform(-1, 1, (n_points, 1))
        times = np.asarray(activation_ms, float)[pick] + offset_ms + rng.normal(0, noise_ms, n_points)
        return cls(moved, times, source)


# --------------------------------------------------------------------------------------- volumes and pressures


def _check_trace(src, times, values, what: str):
    if times.ndim != 1 or times.shape != values.shape or times.size < 2:
        raise _err(src, None, f"{times.shape} times and {values.shape} {what}; give at least 2 pairs")
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))):
        raise _err(src, None, f"non-finite time or {what}; fill in or remove those samples")
    if np.any(np.diff(times) <= 0):
        k = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise _err(src, None, f"sample {k}: times must increase; sort the samples")


@dataclass(frozen=True, eq=False)
class VolumeCurve:
    """A chamber volume over time: ``volumes_ml`` at increasing ``times_ms``; ``chamber`` e.g. 'LV' (None: unknown)."""

    times_ms: np.ndarray
    volumes_ml: np.ndarray
    chamber: str | None = None
    source: str = ""

    def __post_init__(self):
        t, v = _readonly(self.times_ms), _readonly(self.volumes_ml)
        _check_trace(self.source or "VolumeCurve", t, v, "volumes")
        if np.any(v < 0):
            raise _err(self.source or "VolumeCurve", None, f"negative volume {v.min():g} mL; volumes are mL, >= 0")
        object.__setattr__(self, "times_ms", t)
        object.__setattr__(self, "volumes_ml", v)

    @property
    def edv_ml(self) -> float:
        """End-diastolic (largest) volume, mL."""
        return float(self.volumes_ml.max())

    @property
    def esv_ml(self) -> float:
        """End-systolic (smallest) volume, mL."""
        return float(self.volumes_ml.min())

    @property
    def ejection_fraction(self) -> float:
        return (self.edv_ml - self.esv_ml) / self.edv_ml if self.edv_ml > 0 else 0.0


@dataclass(frozen=True, eq=False)
class PressureTrace:
    """A pressure over time: ``pressures_mmhg`` at increasing ``times_ms``; ``site`` e.g. 'LV', 'aorta' (None: not
    known)."""

    times_ms: np.ndarray
    pressures_mmhg: np.ndarray
    site: str | None = None
    source: str = ""

    def __post_init__(self):
        t, v = _readonly(self.times_ms), _readonly(self.pressures_mmhg)
        _check_trace(self.source or "PressureTrace", t, v, "pressures")
        object.__setattr__(self, "times_ms", t)
        object.__setattr__(self, "pressures_mmhg", v)


# ---------------------------------------------------------------------------------------------------- cuff pressure


@dataclass(frozen=True)
class CuffPressure:
    """A brachial cuff blood pressure, mmHg."""

    systolic_mmhg: float
    diastolic_mmhg: float
    source: str = ""

    def __post_init__(self):
        s, d = float(self.systolic_mmhg), float(self.diastolic_mmhg)
        src = self.source or "CuffPressure"
        if not (math.isfinite(s) and math.isfinite(d) and 0 < d < s < 400):
            raise _err(src, None, f"systolic {s:g} / diastolic {d:g} mmHg; need 0 < diastolic < systolic < 400")
        object.__setattr__(self, "systolic_mmhg", s)
        object.__setattr__(self, "diastolic_mmhg", d)

    @property
    def mean_mmhg(self) -> float:
        """Mean arterial pressure estimate, diastolic + (systolic - diastolic) / 3, mmHg."""
        return self.diastolic_mmhg + (self.systolic_mmhg - self.diastolic_mmhg) / 3.0


def synthetic_volume_and_cuff(
    result, n_frames: int, *, volume_noise_ml: float, cuff_noise_mmhg: float, seed: int, chamber: str = "LV"
) -> tuple[VolumeCurve, CuffPressure]:
    """Imaging- and cuff-like data from one simulated beat (a `organtwin.flow.zerod.CirculationResult`), for tests
    and case studies: ``n_frames`` chamber volumes at uniformly random times of the beat (a cine segmentation's
    frames) with Gaussian noise of SD ``volume_noise_ml``, and the aortic systolic/diastolic pressure with noise of SD
    ``cuff_noise_mmhg``; reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    t_ms = 1000.0 * np.asarray(result.t, float)
    t = np.sort(rng.uniform(0.0, t_ms[-1], n_frames))
    v = np.interp(t, t_ms, np.asarray(result.volume[chamber], float)) + rng.normal(0.0, volume_noise_ml, t.size)
    aorta = result.metrics["aorta"]
    cuff = CuffPressure(
        float(aorta["systolic_mmHg"] + rng.normal(0, cuff_noise_mmhg)),
        float(aorta["diastolic_mmHg"] + rng.normal(0, cuff_noise_mmhg)),
        "synthetic",
    )
    return VolumeCurve(t, v, chamber, "synthetic"), cuff

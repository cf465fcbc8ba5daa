"""Readers and writers of patient data files (the edge of calibration): ECGs (WFDB records, CSV), activation maps (CSV,
VTK point clouds), volume curves, pressure traces and cuff pressures (CSV, JSON), into the host containers of
`organtwin.calibrate` (`MeasuredECG`, `ActivationMap`, `VolumeCurve`, `PressureTrace`, `CuffPressure`) in organtwin units
(time ms, voltage mV, length mm, volume mL, pressure mmHg).

Every malformed input raises `DataError` with one line, ``FILE:LINE: what is wrong; how to fix`` (CSV lines are 1-based;
for WFDB records and VTK files the place is a sample or point index instead). The writers are atomic (`atomic_file`).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np

from ..calibrate._data import (
    _ALL_UNITS,
    _LENGTH_TO_MM,
    _PRESSURE_TO_MMHG,
    _TIME_TO_MS,
    _UNIT_SUFFIX,
    _VOLTAGE_TO_MV,
    _VOLUME_TO_ML,
    ActivationMap,
    CuffPressure,
    MeasuredECG,
    PressureTrace,
    VolumeCurve,
    _err,
    normalise_lead_name,
)

__all__ = [
    "read_activation_map",
    "read_cuff_pressure",
    "read_ecg",
    "read_pressure_trace",
    "read_volume_curve",
    "write_activation_map_csv",
    "write_cuff_json",
    "write_ecg_csv",
    "write_volume_curve_csv",
]


def _split_unit(name: str) -> tuple[str, str | None]:
    """('V1', 'uv') from 'V1 (uV)' / 'V1_uV'; (name, None) without a recognised unit suffix."""
    m = _UNIT_SUFFIX.match(name.strip())
    if m:
        unit = (m.group("u1") or m.group("u2")).strip().lower()
        if m.group("u1") is not None or unit in _ALL_UNITS:
            return m.group("base").strip(), unit
    return name.strip(), None


# ---------------------------------------------------------------------------------------------------------------- CSV


class _Table:
    """A numeric CSV table: header names, columns (float64) and the 1-based file line of every row."""

    def __init__(self, path: Path, header: list[str], header_line: int, rows: np.ndarray, lines: np.ndarray):
        self.path, self.header, self.header_line, self.rows, self.lines = path, header, header_line, rows, lines

    def column(self, i: int) -> np.ndarray:
        return self.rows[:, i]

    def find(self, candidates) -> int | None:
        """Index of the first header name (case-insensitive) in ``candidates``."""
        lower = [h.strip().lower() for h in self.header]
        for c in candidates:
            if c.lower() in lower:
                return lower.index(c.lower())
        return None


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_table(path: Path, what: str) -> _Table:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _err(path, None, f"not a UTF-8 text file; save the {what} as a CSV file") from None
    except OSError as e:
        raise _err(path, None, f"cannot read: {e.strerror or e}") from None
    numbered = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise _err(path, None, f"empty file; expected a header row and {what} rows")
    first = numbered[0][1]
    delim = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    header = [h.strip() for h in next(csv.reader([first], delimiter=delim))]
    hline = numbered[0][0]
    if all(_is_number(h) for h in header):
        raise _err(path, hline, f"no header row (got numbers); add a first row naming the columns of the {what}")
    if any(not h for h in header):
        raise _err(path, hline, f"empty column name in header {first.strip()!r}; name every column")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise _err(path, hline, f"duplicate column(s) {', '.join(dupes)}; give every column its own name")
    if len(numbered) < 2:
        raise _err(path, None, f"header only, no data rows; add the {what} below the header")
    rows = np.empty((len(numbered) - 1, len(header)))
    lines = np.empty(len(numbered) - 1, dtype=np.int64)
    for k, (lineno, ln) in enumerate(numbered[1:]):
        cells = next(csv.reader([ln], delimiter=delim))
        if len(cells) != len(header):
            raise _err(
                path, lineno, f"{len(cells)} values but the header has {len(header)} columns; give one value per column"
            )
        for j, c in enumerate(cells):
            if not c.strip():
                raise _err(path, lineno, f"column {header[j]}: empty value; fill in or remove this row")
            try:
                v = float(c)
            except ValueError:
                raise _err(
                    path, lineno, f"column {header[j]}: {c.strip()!r} is not a number; fix or remove this row"
                ) from None
            if not math.isfinite(v):
                raise _err(
                    path, lineno, f"column {header[j]}: {c.strip()} is not a finite number; fill in or remove this row"
                )
            rows[k, j] = v
        lines[k] = lineno
    return _Table(Path(path), header, hline, rows, lines)


def _time_column(t: _Table) -> tuple[int, float] | None:
    """(index, factor to ms) of the time column (t_ms, time_ms, time_s, 'time (s)', ...), or None."""
    for j, h in enumerate(t.header):
        base, unit = _split_unit(h)
        if base.lower() in ("t", "time"):
            if unit is None:
                raise _err(t.path, t.header_line, f"time column {h!r} has no unit; rename it time_ms or time_s")
            if unit not in _TIME_TO_MS:
                raise _err(t.path, t.header_line, f"time column {h!r}: unknown unit {unit!r}; use ms or s")
            return j, _TIME_TO_MS[unit]
    return None


def _increasing_times(t: _Table, j: int, factor: float) -> np.ndarray:
    times = t.column(j) * factor
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        k = bad[0] + 1
        raise _err(
            t.path,
            t.lines[k],
            f"time {t.rows[k, j]:g} does not increase from {t.rows[k - 1, j]:g} "
            f"(line {t.lines[k - 1]}); sort the rows and remove duplicate times",
        )
    return times


_UNIT_CHOICES = {id(_VOLTAGE_TO_MV): "mV, uV, V", id(_LENGTH_TO_MM): "mm, um, cm, m"}


def _unit_factor(source, unit: str, table: dict, what: str, line=None) -> float:
    """Factor to organtwin units of ``unit``; ``what`` is like 'lead V1: voltage'."""
    u = unit.strip().lower().replace("micro", "u")
    if u not in table:
        hint = " (or pass units=)" if table is _VOLTAGE_TO_MV else ""
        raise _err(source, line, f"{what} unit {unit!r} unknown; use one of {_UNIT_CHOICES[id(table)]}{hint}")
    return table[u]


def _select_leads(source, names: list[str], sig: np.ndarray, leads) -> tuple[tuple[str, ...], np.ndarray]:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(source, None, f"lead(s) {', '.join(dup)} appear twice (after normalising names); keep one")
    if leads is None:
        return tuple(names), sig
    want = [normalise_lead_name(n) for n in leads]
    missing = [n for n in want if n not in names]
    if missing:
        raise _err(source, None, f"no lead(s) {', '.join(missing)}; the file has {', '.join(names)}")
    return tuple(want), sig[:, [names.index(n) for n in want]]


def read_ecg(path, *, sampling_rate_hz: int | float | None = None, units: str | None = None, leads=None) -> MeasuredECG:
    """Read an ECG from a WFDB record (``rec.hea``, ``rec.dat`` or the base name ``rec``) or a CSV file.

    WFDB: sampling rate and units (mV, uV, V) from the header; ``units`` overrides the header's units (for signals
    marked 'NU' or wrongly); a given ``sampling_rate_hz`` must agree with the header.
    CSV: a header row with a time column (``time_ms``/``t_ms``/``time_s``, or none and ``sampling_rate_hz`` given) and
    one column per lead; units from ``units`` or from a suffix of the lead column (``I_mV``, ``V1 (uV)``), default mV
    only when ``units`` is given. Organtwin's own ``ecg.csv`` (`organtwin ecg`) reads back as it is.
    Lead names are normalised to I, II, III, aVR, aVL, aVF, V1-V6 (case-insensitive); ``leads`` selects and orders.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".hea", ".dat", ".mat") or (suffix == "" and p.with_suffix(".hea").is_file()):
        ecg = _read_wfdb(p, units)
    elif suffix in (".csv", ".tsv", ".txt"):
        ecg = _read_ecg_csv(p, sampling_rate_hz, units)
    elif not p.exists() and not p.with_suffix(".hea").exists():
        raise _err(p, None, "no such file (nor a WFDB header .hea); check the path")
    else:
        raise _err(p, None, f"unknown ECG format {p.suffix!r}; give a WFDB record (.hea) or a .csv file")
    if sampling_rate_hz is not None and abs(ecg.sampling_rate_hz - sampling_rate_hz) > 1e-3 * sampling_rate_hz:
        raise _err(
            p,
            None,
            f"sampling rate in the file is {ecg.sampling_rate_hz:g} Hz, not the "
            f"{sampling_rate_hz:g} Hz given; drop sampling_rate_hz or fix the file",
        )
    names, sig = _select_leads(p, list(ecg.leads), ecg.signals, (leads,) if isinstance(leads, str) else leads)
    return MeasuredECG(names, sig, ecg.sampling_rate_hz, ecg.t0_ms, str(p))


def _read_wfdb(p: Path, units: str | None) -> MeasuredECG:
    import wfdb

    base = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat", ".mat") else p
    if not base.with_suffix(".hea").is_file():
        raise _err(base.with_suffix(".hea"), None, "no such WFDB header; give the record's .hea file or base name")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The inplace keyword")  # wfdb's own pandas use
            rec = wfdb.rdrecord(str(base), physical=True)
    except Exception as e:  # wfdb raises many types for broken records
        raise _err(base.with_suffix(".hea"), None, f"cannot read WFDB record: {type(e).__name__}: {e}") from None
    assert isinstance(rec, wfdb.Record)  # m2s=True (the default) joins a multi-segment record into one Record
    if rec.fs is None:  # wfdb fills in 250 Hz when the header gives none
        raise _err(base.with_suffix(".hea"), None, "WFDB header gives no sampling frequency")
    fs = float(rec.fs)
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] < 2:
        raise _err(base.with_suffix(".hea"), None, "WFDB record has no signal samples")
    sig = np.array(sig, dtype=float)
    names = [normalise_lead_name(n) for n in (rec.sig_name or [f"ch{k}" for k in range(sig.shape[1])])]
    rec_units = list(rec.units or [""] * sig.shape[1])
    for c in range(sig.shape[1]):
        u = units if units is not None else rec_units[c]
        sig[:, c] *= _unit_factor(base.with_suffix(".hea"), u or "", _VOLTAGE_TO_MV, f"lead {names[c]}: voltage")
    bad = np.argwhere(~np.isfinite(sig))
    if bad.size:
        s, c = bad[0]
        raise _err(
            base.with_suffix(".hea"),
            None,
            f"lead {names[c]} sample {s} is missing (NaN, {len(bad)} in all); cut the record or fill the gap",
        )
    return MeasuredECG(tuple(names), sig, fs, 0.0, str(p))


def _read_ecg_csv(p: Path, sampling_rate_hz: float | None, units: str | None) -> MeasuredECG:
    t = _read_table(p, "ECG samples")
    tc = _time_column(t)
    hline = t.header_line
    lead_cols = [j for j in range(len(t.header)) if tc is None or j != tc[0]]
    if not lead_cols:
        raise _err(p, hline, "no lead columns; add one column per lead (e.g. I_mV, II_mV, ...)")
    names, factors = [], []
    for j in lead_cols:
        base, unit = _split_unit(t.header[j])
        u = units if units is not None else unit
        if u is None:
            raise _err(p, hline, f"lead column {t.header[j]!r} has no unit; name it like {base}_mV or pass units=")
        names.append(normalise_lead_name(base))
        factors.append(_unit_factor(p, u, _VOLTAGE_TO_MV, f"column {t.header[j]}: voltage", hline))
    sig = t.rows[:, lead_cols] * np.asarray(factors)
    if tc is None:
        if sampling_rate_hz is None:
            raise _err(p, hline, "no time column; add time_ms (or time_s) or pass sampling_rate_hz")
        return MeasuredECG(tuple(names), sig, sampling_rate_hz, 0.0, str(p))
    times = _increasing_times(t, *tc)
    if times.size < 2:
        raise _err(p, None, "fewer than 2 samples; an ECG needs a signal")
    dt = np.diff(times)
    typical = float(np.median(dt))
    # tolerance: 1% of a step, enough for times printed to 6 significant digits
    off = np.flatnonzero(np.abs(dt - typical) > 0.01 * typical)
    if off.size:
        k = off[0] + 1
        raise _err(
            p,
            t.lines[k],
            f"non-uniform sampling: step {dt[k - 1]:g} ms here, {typical:g} ms elsewhere; resample to a uniform rate",
        )
    step = (times[-1] - times[0]) / (times.size - 1)
    return MeasuredECG(tuple(names), sig, 1000.0 / step, float(times[0]), str(p))


_LAT_NAMES = ("lat", "activation_time", "activationtime", "local_activation_time", "time", "t", "at")


def read_activation_map(path) -> ActivationMap:
    """Read measured activation times from a CSV file (columns x, y, z in mm, e.g. ``x_mm``, and a time column
    ``lat_ms``/``activation_time_ms``/``time_ms``/``lat``, ms unless suffixed ``_s``) or a VTK point cloud or mesh
    (.vtk, .vtu, .vtp; point data ``activation_time``/``lat``/``LAT``, ms; coordinates in mm)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_activation_csv(p)
    if suffix in (".vtk", ".vtu", ".vtp"):
        return _read_activation_vtk(p)
    raise _err(p, None, f"unknown activation map format {p.suffix!r}; give a .csv, .vtk, .vtu or .vtp file")


def _read_activation_csv(p: Path) -> ActivationMap:
    t = _read_table(p, "activation times")
    hline = t.header_line
    coords, factors = [], []
    for axis in "xyz":
        hit = None
        for j, h in enumerate(t.header):
            base, unit = _split_unit(h)
            if base.lower() == axis:
                hit = (j, _unit_factor(p, unit or "mm", _LENGTH_TO_MM, f"column {h}: length", hline))
                break
        if hit is None:
            raise _err(p, hline, f"no column {axis!r}; need columns x, y, z (mm) and lat_ms")
        coords.append(hit[0])
        factors.append(hit[1])
    tcol = None
    for name in _LAT_NAMES:
        for j, h in enumerate(t.header):
            base, unit = _split_unit(h)
            if base.lower() == name and (unit is None or unit in _TIME_TO_MS):
                tcol = (j, _TIME_TO_MS[unit or "ms"])
                break
        if tcol is not None:
            break
    if tcol is None:
        raise _err(p, hline, f"no activation time column in {', '.join(t.header)}; add lat_ms (or activation_time_ms)")
    pts = t.rows[:, coords] * np.asarray(factors)
    return ActivationMap(pts, t.rows[:, tcol[0]] * tcol[1], str(p))


def _read_activation_vtk(p: Path) -> ActivationMap:
    if not p.is_file():
        raise _err(p, None, "no such file; check the path")
    points, data = _read_vtk_points(p)
    lower = {k.lower(): k for k in data}
    key = next(
        (
            lower[n]
            for n in (
                "activation_time",
                "activation_time_ms",
                "lat",
                "lat_ms",
                "activationtime",
                "local_activation_time",
            )
            if n in lower
        ),
        None,
    )
    if key is None:
        raise _err(
            p,
            None,
            f"no point data activation_time or lat (has: {', '.join(data) or 'none'}); "
            f"add activation times in ms as point data",
        )
    t = np.asarray(data[key], dtype=float).reshape(len(points), -1)
    if t.shape[1] != 1:
        raise _err(p, None, f"point data {key!r} has {t.shape[1]} components; expected one time per point")
    t = t[:, 0] * (1e3 if key.lower().endswith("_s") else 1.0)
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise _err(p, None, f"point {bad[0]}: {key} is NaN ({bad.size} points in all); remove or fill those points")
    return ActivationMap(points, t, str(p))


def _read_vtk_points(p: Path) -> tuple[np.ndarray, dict]:
    try:
        import meshio

        m = meshio.read(str(p))
        pts, data = np.asarray(m.points, dtype=float), dict(m.point_data)
    except Exception as e:  # meshio raises many types; .vtp is not readable by meshio 5
        try:
            import pyvista as pv

            m = pv.read(str(p))
            pts, data = np.asarray(m.points, dtype=float), {k: np.asarray(m.point_data[k]) for k in m.point_data}
        except Exception:
            raise _err(p, None, f"cannot read as VTK: {type(e).__name__}: {e}") from None
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise _err(p, None, "no points; expected a point cloud with activation times")
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    return pts, data


_CHAMBERS = ("LV", "RV", "LA", "RA")


def _value_columns(t: _Table, table: dict, generic: tuple[str, ...]) -> list[tuple[int, str | None, float]]:
    """(index, label or None, factor) of the columns with a unit in ``table`` (label: 'LV' from 'LV_mL',
    'LV' from 'LV_volume_mL'; None from generic names like 'volume_ml')."""
    out = []
    for j, h in enumerate(t.header):
        base, unit = _split_unit(h)
        if unit is None or unit not in table or base.lower() in ("t", "time"):
            continue
        label = base
        for g in generic:
            if label.lower() == g:
                label = ""
            elif label.lower().endswith("_" + g) or label.lower().endswith(" " + g):
                label = label[: -len(g) - 1]
        out.append((j, label.strip() or None, table[unit]))
    return out


def _read_trace(path, label, table, generic, what, unit_hint):
    p = Path(path)
    t = _read_table(p, f"{what} samples")
    hline = t.header_line
    tc = _time_column(t)
    if tc is None:
        raise _err(p, hline, f"no time column in {', '.join(t.header)}; add time_ms (or time_s)")
    cols = _value_columns(t, table, generic)
    if not cols:
        raise _err(p, hline, f"no {what} column in {', '.join(t.header)}; add one named like {unit_hint}")
    if label is not None:
        hits = [c for c in cols if (c[1] or "").lower() == label.lower()]
        if not hits and len(cols) == 1 and cols[0][1] is None:  # one unnamed column ('volume_ml'): it is `label`'s
            hits = cols
        if not hits:
            have = ", ".join(t.header[c[0]] for c in cols)
            raise _err(
                p,
                hline,
                f"no {what} column for {label!r} (have {have}); check the name, e.g. {label}_"
                f"{unit_hint.split('_')[-1]}",
            )
        cols = hits
    if len(cols) > 1:
        have = ", ".join(t.header[c[0]] for c in cols)
        raise _err(p, hline, f"several {what} columns ({have}); say which one to read")
    j, found, factor = cols[0]
    times = _increasing_times(t, *tc)
    return times, t.column(j) * factor, (label if found is None else found), str(p)


def read_volume_curve(path, chamber: str | None = None) -> VolumeCurve:
    """Read a chamber volume curve from CSV: a time column (``time_ms``/``time_s``) and a volume column in mL
    (``volume_ml``, ``LV_mL``, ``LV_volume_ml``, ``V (mL)``; L also accepted). With several volume columns, ``chamber``
    ('LV', 'RV', ...) picks one; the chamber is taken from the column name where it has one."""
    times, v, found, src = _read_trace(path, chamber, _VOLUME_TO_ML, ("volume", "vol", "v"), "volume", "LV_mL")
    if found is not None and found.upper() in _CHAMBERS:
        found = found.upper()
    return VolumeCurve(times, v, found, src)


def read_pressure_trace(path, site: str | None = None) -> PressureTrace:
    """Read a pressure trace from CSV: a time column (``time_ms``/``time_s``) and a pressure column in mmHg
    (``pressure_mmhg``, ``LV_mmHg``, ``aorta_pressure_mmHg``; kPa also accepted). With several pressure columns,
    ``site`` picks one; the site is taken from the column name where it has one."""
    times, pr, found, src = _read_trace(path, site, _PRESSURE_TO_MMHG, ("pressure", "p"), "pressure", "pressure_mmHg")
    return PressureTrace(times, pr, found, src)


def _cuff_key(name: str) -> tuple[str | None, float]:
    base, unit = _split_unit(str(name))
    key = base.lower().replace(" ", "_")
    kind = (
        "systolic"
        if key in ("systolic", "sys", "sbp", "sp")
        else "diastolic"
        if key in ("diastolic", "dia", "dbp", "dp")
        else None
    )
    if kind is None:
        return None, 1.0
    return kind, _PRESSURE_TO_MMHG.get(unit or "mmhg", math.nan)


def read_cuff_pressure(path) -> CuffPressure:
    """Read a cuff pressure from JSON (``{"systolic_mmhg": 120, "diastolic_mmhg": 80}``) or a tiny CSV: either a header
    ``systolic_mmhg,diastolic_mmhg`` and one row, or ``name,value`` rows (``systolic_mmhg,120``)."""
    p = Path(path)
    found: dict[str, float] = {}
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(p.read_text(encoding="utf-8-sig"))
        except OSError as e:
            raise _err(p, None, f"cannot read: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise _err(p, e.lineno, f"not valid JSON ({e.msg}); fix the syntax") from None
        if not isinstance(obj, dict):
            raise _err(p, None, 'expected an object like {"systolic_mmhg": 120, "diastolic_mmhg": 80}')
        for k, v in obj.items():
            kind, f = _cuff_key(k)
            if kind is None:
                continue
            if math.isnan(f):
                raise _err(p, None, f"key {k!r}: unknown pressure unit; use mmHg or kPa")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _err(p, None, f"key {k!r}: {v!r} is not a finite number")
            found[kind] = float(v) * f
    elif p.suffix.lower() in (".csv", ".txt"):
        try:
            text = p.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise _err(p, None, f"cannot read: {e.strerror or e}") from None
        rows = [
            (i, [c.strip() for c in next(csv.reader([ln]))])
            for i, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        kinds = {_cuff_key(c)[0] for c in rows[0][1]} if rows else set()
        if {"systolic", "diastolic"} <= kinds and len(rows) >= 2:  # header + one row
            (_, head), (vl, vals) = rows[0], rows[1]
            if len(vals) != len(head):
                raise _err(p, vl, f"{len(vals)} values for {len(head)} columns; give one value per column")
            pairs = [(vl, k, v) for k, v in zip(head, vals)]
        else:  # name,value rows
            pairs = [(i, r[0], r[1] if len(r) > 1 else "") for i, r in rows if r[0].lower() not in ("name", "key")]
        for line, k, v in pairs:
            kind, f = _cuff_key(k)
            if kind is None:
                continue
            if math.isnan(f):
                raise _err(p, line, f"{k!r}: unknown pressure unit; use mmHg or kPa")
            try:
                x = float(v)
            except ValueError:
                raise _err(p, line, f"{k}: {v!r} is not a number") from None
            if not math.isfinite(x):
                raise _err(p, line, f"{k}: {v!r} is not a finite number")
            found[kind] = x * f
    else:
        raise _err(p, None, f"unknown cuff pressure format {p.suffix!r}; give a .json or .csv file")
    missing = [k for k in ("systolic", "diastolic") if k not in found]
    if missing:
        raise _err(p, None, f"no {' or '.join(missing)} pressure; give systolic_mmhg and diastolic_mmhg")
    return CuffPressure(found["systolic"], found["diastolic"], str(p))


# ---------------------------------------------------------------------------------------------------------- writers
def _write_text(path, text: str) -> Path:
    from ._results import atomic_file

    with atomic_file(path) as (fh, _):
        assert fh is not None  # a text mode ("w") opens a handle
        fh.write(text)
    return Path(path)


def write_ecg_csv(ecg: MeasuredECG, path, *, time_offset_ms: float = 0.0, digits: int = 5) -> Path:
    """An ECG as CSV that `read_ecg` reads back: ``time_ms`` (shifted by ``time_offset_ms``: a record's own clock)
    and one ``<lead>_mV`` column per lead (atomically)."""
    head = "time_ms," + ",".join(f"{n}_mV" for n in ecg.leads)
    rows = [
        f"{t + time_offset_ms:.1f}," + ",".join(f"{v:.{digits}f}" for v in row)
        for t, row in zip(ecg.times_ms, ecg.signals)
    ]
    return _write_text(path, head + "\n" + "\n".join(rows) + "\n")


def write_activation_map_csv(amap: ActivationMap, path) -> Path:
    """A map as CSV ``x_mm,y_mm,z_mm,lat_ms`` (what `read_activation_map` reads)."""
    rows = [f"{x:.4f},{y:.4f},{z:.4f},{t:.3f}" for (x, y, z), t in zip(amap.points_mm, amap.times_ms)]
    return _write_text(path, "x_mm,y_mm,z_mm,lat_ms\n" + "\n".join(rows) + "\n")


def write_volume_curve_csv(curve: VolumeCurve, path) -> Path:
    """A volume curve as CSV ``time_ms,<chamber>_volume_ml`` (what `read_volume_curve` reads)."""
    name = f"{curve.chamber}_volume_ml" if curve.chamber else "volume_ml"
    return _write_text(
        path, f"time_ms,{name}\n" + "".join(f"{a:.2f},{b:.3f}\n" for a, b in zip(curve.times_ms, curve.volumes_ml))
    )


def write_cuff_json(cuff: CuffPressure, path) -> Path:
    """A cuff pressure as JSON ``{"systolic_mmhg": .., "diastolic_mmhg": ..}`` (what `read_cuff_pressure` reads)."""
    return _write_text(
        path,
        json.dumps({"systolic_mmhg": round(cuff.systolic_mmhg, 1), "diastolic_mmhg": round(cuff.diastolic_mmhg, 1)})
        + "\n",
    )

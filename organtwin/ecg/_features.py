"""ECG features on the 12 leads: QRS onset / offset / duration, the frontal electrical axis, per-lead amplitudes.

QRS detection on a single simulated beat: the spatial velocity ``SV(t) = sqrt(Σ_leads (dφ/dt)²)`` (a standard global
measure); onset = first time SV exceeds ``threshold`` × its maximum, offset = the last time before SV stays below that
level for ``gap_ms`` (the isoelectric ST segment), searched from the onset. Axis = atan2(net QRS area in aVF, net QRS
area in I), degrees (the hexaxial convention: I at 0°, aVF at +90°). Host-side (numpy): the ECG has been computed.
"""

from __future__ import annotations

import numpy as np

from ._leads import LEAD_NAMES

__all__ = ["ecg_features"]


def ecg_features(t, leads, *, threshold: float = 0.05, gap_ms: float = 20.0) -> dict:
    """Features of one beat: ``t`` (n,) ms, ``leads`` (n, 12) mV in `LEAD_NAMES` order. Returns a JSON-ready dict."""
    t = np.asarray(t, float)
    x = np.asarray(leads, float)
    if x.ndim != 2 or x.shape != (t.size, 12):
        raise ValueError(f"ecg_features: leads must have shape (times, 12) = ({t.size}, 12), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("ecg_features: the leads contain NaN or inf")
    sv = np.sqrt(np.sum(np.gradient(x, t, axis=0) ** 2, axis=1))
    top = sv.max()
    out: dict = {"qrs_onset_ms": None, "qrs_offset_ms": None, "qrs_duration_ms": None, "axis_deg": None}
    if top > 0:
        above = sv > threshold * top
        i0 = int(np.argmax(above))
        i1 = i0
        j = i0
        while j < t.size:
            if above[j]:
                i1 = j
            elif t[j] - t[i1] > gap_ms:
                break
            j += 1
        out.update(qrs_onset_ms=float(t[i0]), qrs_offset_ms=float(t[i1]), qrs_duration_ms=float(t[i1] - t[i0]))
        w = slice(i0, i1 + 1)
        area = np.trapezoid(x[w], t[w], axis=0) if i1 > i0 else np.zeros(12)
        out["axis_deg"] = float(np.degrees(np.arctan2(area[5], area[0])))
        out["leads"] = {name: {"r_mV": float(max(x[w, k].max(), 0.0)), "s_mV": float(min(x[w, k].min(), 0.0)),
                               "qrs_area_mV_ms": float(area[k])} for k, name in enumerate(LEAD_NAMES)}
    return out

"""ECG features on the 12 leads: QRS onset / offset / duration, the frontal electrical axis, per-lead amplitudes.

QRS detection on a single simulated beat: the spatial velocity ``SV(t) = sqrt(Σ_leads (dφ/dt)²)`` (a standard global
measure); onset = first time SV exceeds ``threshold`` × its maximum, offset = the last time before SV stays below that
level for ``gap_ms`` (the isoelectric ST segment), searched from the onset. Axis = atan2(net QRS area in aVF, net QRS
area in I), degrees (the hexaxial convention: I at 0°, aVF at +90°). Host-side (numpy): the ECG has been computed.

A record that ends before the QRS has returned to baseline (SV still above the threshold within ``gap_ms`` of the
end) has no measurable offset: ``qrs_offset_ms`` and ``qrs_duration_ms`` are None, ``qrs_truncated`` is True,
``qrs_duration_min_ms`` gives the lower bound ("≥ X ms") and a `MeshWarning` says so, never the record's length as
a duration.

`qrs_amplitude_check` compares per-lead QRS amplitudes with published adult limits (`NORMAL_QRS_AMPLITUDE`):
low QRS voltage is a peak-to-peak QRS amplitude < 0.5 mV in every limb lead or < 1.0 mV in every precordial lead
(the usual definition, e.g. Chinitz et al., J Electrocardiol 41:281, 2008), and increased voltage is an R or S wave
≥ 2.0 mV in a limb lead, S ≥ 3.0 mV in V1 or V2, or R ≥ 3.0 mV in V5 or V6 (ESC recommendations for the athlete's
ECG, Corrado et al., Eur Heart J 31:243, 2010, table 1); a normal adult QRS lies between the two.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import InputError, MeshWarning
from ._leads import LEAD_NAMES

__all__ = ["NORMAL_QRS_AMPLITUDE", "ecg_features", "qrs_amplitude_check"]

NORMAL_QRS_AMPLITUDE = {
    "source": "low voltage: QRS < 0.5 mV peak-to-peak in all limb leads or < 1.0 mV in all precordial leads (Chinitz "
    "et al., J Electrocardiol 41:281, 2008); increased voltage: R or S >= 2.0 mV in a limb lead, S >= 3.0 mV "
    "in V1/V2, R >= 3.0 mV in V5/V6 (Corrado et al., Eur Heart J 31:243, 2010)",
    "limb_peak_to_peak_min_mV": 0.5,
    "precordial_peak_to_peak_min_mV": 1.0,
    "limb_wave_max_mV": 2.0,
    "s_v1_v2_max_mV": 3.0,
    "r_v5_v6_max_mV": 3.0,
}


def ecg_features(t, leads, *, threshold: float = 0.05, gap_ms: float = 20.0) -> dict:
    """Features of one beat: ``t`` (n,) ms, ``leads`` (n, 12) mV in `LEAD_NAMES` order. Returns a JSON-ready dict."""
    t = np.asarray(t, float)
    x = np.asarray(leads, float)
    if x.ndim != 2 or x.shape != (t.size, 12):
        raise InputError(f"ecg_features: leads must have shape (times, 12) = ({t.size}, 12), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("ecg_features: the leads contain NaN or inf")
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
        truncated = t[-1] - t[i1] <= gap_ms  # the activity goes on to (nearly) the end of the record
        out.update(
            qrs_onset_ms=float(t[i0]),
            qrs_offset_ms=None if truncated else float(t[i1]),
            qrs_duration_ms=None if truncated else float(t[i1] - t[i0]),
            qrs_truncated=bool(truncated),
        )
        if truncated:
            out["qrs_duration_min_ms"] = float(t[-1] - t[i0])
            warnings.warn(
                f"the QRS has not returned to baseline by the end of the record ({t[-1]:.4g} ms): QRS duration "
                f">= {t[-1] - t[i0]:.4g} ms (truncated), offset unknown; record longer to measure it",
                MeshWarning,
                stacklevel=2,
            )
        w = slice(i0, i1 + 1)
        area = np.trapezoid(x[w], t[w], axis=0) if i1 > i0 else np.zeros(12)
        out["axis_deg"] = float(np.degrees(np.arctan2(area[5], area[0])))
        out["leads"] = {
            name: {
                "r_mV": float(max(x[w, k].max(), 0.0)),
                "s_mV": float(min(x[w, k].min(), 0.0)),
                "qrs_area_mV_ms": float(area[k]),
            }
            for k, name in enumerate(LEAD_NAMES)
        }
    return out


def qrs_amplitude_check(features: dict) -> dict:
    """Compare the QRS amplitudes of `ecg_features` output with `NORMAL_QRS_AMPLITUDE` (module docstring). Returns
    ``{"limb_peak_to_peak_mV", "precordial_peak_to_peak_mV", "limb_wave_max_mV", "s_v1_v2_mV", "r_v5_v6_mV",
    "findings": [text, ...] (empty when within the normal adult limits), "normal": bool, "source": text}``."""
    n = NORMAL_QRS_AMPLITUDE
    leads = features.get("leads")
    if not leads:
        raise InputError("qrs_amplitude_check: the features have no QRS (a flat ECG)")
    pp = {k: v["r_mV"] - v["s_mV"] for k, v in leads.items()}
    limb, prec = LEAD_NAMES[:6], LEAD_NAMES[6:]
    out = {
        "limb_peak_to_peak_mV": max(pp[k] for k in limb),
        "precordial_peak_to_peak_mV": max(pp[k] for k in prec),
        "limb_wave_max_mV": max(max(leads[k]["r_mV"], -leads[k]["s_mV"]) for k in limb),
        "s_v1_v2_mV": max(-leads["V1"]["s_mV"], -leads["V2"]["s_mV"]),
        "r_v5_v6_mV": max(leads["V5"]["r_mV"], leads["V6"]["r_mV"]),
    }
    f = []
    if out["limb_peak_to_peak_mV"] < n["limb_peak_to_peak_min_mV"]:
        f.append(
            f"low limb-lead voltage (largest {out['limb_peak_to_peak_mV']:.2f} mV < {n['limb_peak_to_peak_min_mV']} mV)"
        )
    if out["precordial_peak_to_peak_mV"] < n["precordial_peak_to_peak_min_mV"]:
        f.append(
            f"low precordial voltage (largest {out['precordial_peak_to_peak_mV']:.2f} mV < "
            f"{n['precordial_peak_to_peak_min_mV']} mV)"
        )
    if out["limb_wave_max_mV"] >= n["limb_wave_max_mV"]:
        f.append(f"limb-lead R or S {out['limb_wave_max_mV']:.2f} mV >= {n['limb_wave_max_mV']} mV")
    if out["s_v1_v2_mV"] >= n["s_v1_v2_max_mV"]:
        f.append(f"S in V1/V2 {out['s_v1_v2_mV']:.2f} mV >= {n['s_v1_v2_max_mV']} mV")
    if out["r_v5_v6_mV"] >= n["r_v5_v6_max_mV"]:
        f.append(f"R in V5/V6 {out['r_v5_v6_mV']:.2f} mV >= {n['r_v5_v6_max_mV']} mV")
    return {**out, "findings": f, "normal": not f, "source": n["source"]}

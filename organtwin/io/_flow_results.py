"""The results folder of ``organtwin flow circulation``: circulation.csv (one beat: time_s and every pressure mmHg,
volume mL, valve flow mL/s), summary.json (haemodynamic figures, convergence, blood-volume conservation, parameters,
activation, EDV rule, and the folder's manifest: docs/results-folders.md) and the pictures, written all or nothing;
and the printed summary, every number from summary.json.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "CIRCULATION_FILES",
    "circulation_report",
    "circulation_summary",
    "write_circulation_csv",
    "write_circulation_folder",
    "circulation_headline",
    "write_svzerod_csv",
]

CIRCULATION_FILES = ("circulation.csv", "summary.json", "pv_loops.png", "pressures.png", "volumes.png")
_CSV_GROUPS = (("pressure", "mmHg"), ("volume", "mL"), ("flow", "mL_per_s"))


def write_circulation_csv(path: Path, res) -> list[str]:
    """One beat (a `CirculationResult`) as CSV, atomically: time_s, then pressure_<site>_mmHg, volume_<chamber>_mL,
    flow_<valve>_mL_per_s. Returns the column names."""
    from . import atomic_file

    names, cols = ["time_s"], [np.asarray(res.t, float)]
    for group, unit in _CSV_GROUPS:
        for k, v in getattr(res, group).items():
            names.append(f"{group}_{k}_{unit}")
            cols.append(np.asarray(v, float))
    with atomic_file(path) as (fh, _):
        assert fh is not None  # (a text handle: mode "w")
        fh.write(",".join(names) + "\n")
        np.savetxt(fh, np.column_stack(cols), fmt="%.10g", delimiter=",")
    return names


def circulation_summary(run, *, preset: str, overrides: dict, tol: float, wall_s: float) -> dict:
    """summary.json's content for a `CirculationRun` (``overrides``: the {path: value} given on the command line)."""
    from .. import __version__
    from . import RESULTS_MARKER

    res, period = run.result, float(run.circulation.period)
    bv = res.blood_volume
    return {
        RESULTS_MARKER: {"kind": "flow circulation", "organtwin_version": __version__},
        "preset": preset,
        "parameter_overrides": dict(overrides),
        "parameters": run.params.as_dict(),
        "period_s": period,
        "heart_rate_per_min": 60.0 / period,
        "dtype": "float64",
        "tol": tol,
        "cycles_to_periodic_state": res.cycles,
        "cycle_change": res.change,
        "blood_volume_mL": float(bv.mean()),
        "blood_volume_ptp_mL": float(bv.max() - bv.min()),
        "activation": run.activation,
        "edv": run.edv,
        "metrics": res.metrics,
        "timing": {"run_s": run.run_s, "wall_s": wall_s},
        "files": list(CIRCULATION_FILES),
    }


def write_circulation_folder(out: Path, summary: dict, res, draw: Callable[[Path], object] | None = None) -> None:
    """The folder ``out``, all or nothing: circulation.csv from ``res``, the pictures (``draw(folder)`` writes
    pv_loops.png, pressures.png and volumes.png into the folder it is given), summary.json (``summary`` completed with
    the CSV's ``columns``)."""
    from . import results_folder, write_json

    with results_folder(out, kind="flow circulation") as tmp:
        summary["columns"] = write_circulation_csv(tmp / "circulation.csv", res)
        if draw is not None:
            draw(tmp)
        write_json(tmp / "summary.json", summary)


def circulation_report(s: dict) -> list[str]:
    """The printed summary: every number comes from summary.json's dict ``s``."""
    m = s["metrics"]
    lines = []
    for c in ("LV", "RV"):
        x = m[c]
        lines.append(
            f"{c}: EF {100 * x['EF']:.1f} %, EDV {x['EDV_mL']:.1f} mL, ESV {x['ESV_mL']:.1f} mL, "
            f"SV {x['SV_mL']:.1f} mL, CO {x['cardiac_output_L_per_min']:.2f} L/min, "
            f"peak {x['peak_pressure_mmHg']:.1f} mmHg, dP/dt max {x['dPdt_max_mmHg_per_s']:.0f} mmHg/s"
        )
    for key, label in (("aorta", "aorta"), ("pulmonary_artery", "pulmonary artery")):
        x = m[key]
        lines.append(f"{label}: {x['systolic_mmHg']:.1f}/{x['diastolic_mmHg']:.1f} mmHg (mean {x['mean_mmHg']:.1f})")
    return lines


def circulation_headline(s: dict) -> str:
    """The first printed line of a circulation run, from summary.json's dict ``s``: preset and overrides, period,
    convergence to the periodic state, blood-volume conservation."""
    flat = s["parameter_overrides"]
    given = f" with {', '.join(f'{k}={v:g}' for k, v in flat.items())}" if flat else ""
    return (
        f"{s['preset']}{given}: period {s['period_s']:g} s; periodic after {s['cycles_to_periodic_state']} cycles "
        f"(change {s['cycle_change']:.1e}) in {s['timing']['run_s']:.1f} s; blood volume {s['blood_volume_mL']:.1f} mL "
        f"conserved to {s['blood_volume_ptp_mL']:.1e} mL"
    )


def write_svzerod_csv(path: Path, res) -> int:
    """An svZeroDSolver run (`organtwin.flow.zerod.SvZeroDResult`) in svZeroDSolver's CSV layout, atomically; returns
    the number of data rows."""
    from ..flow.zerod import svzerod_csv
    from . import atomic_file

    text = svzerod_csv(res)
    with atomic_file(path) as (fh, _):
        assert fh is not None  # (a text handle: mode "w")
        fh.write(text)
    return text.count("\n") - 1

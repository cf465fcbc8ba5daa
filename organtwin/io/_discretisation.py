"""A calibration case at a finer resolution, and the discretisation check of its fit
(`organtwin.calibrate.discretisation_check`): what `run_calibration` does after the fit unless told not to.

The finer case: a generated mesh at h/2 (organtwin's own generator); a read mesh (a file, a built-in) refined
uniformly (`organtwin.calibrate.refine_mesh`, every edge halved); the ECG model's dt/2; the 0D circulation's
integrator at rtol/atol / 10. The eikonal itself has no time step. A case without any of these (nothing to refine)
is not checked, and the report says so."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["check_discretisation", "refined_case", "uncertainty_record"]


def refined_case(case) -> tuple[Any, Any, str]:
    """(the case at the finer resolution, the refined mesh to build it on or None, what was refined in words)."""
    from ..calibrate._discretisation import refine_mesh
    from ._calibration import _read_mesh

    what, mesh = [], None
    changes: dict[str, Any] = {}
    needs_mesh = case.eikonal is not None or case.ecg is not None
    if needs_mesh:
        m = case.mesh
        if "generate" in m:
            changes["mesh"] = {**m, "h": 0.5 * m["h"]}
            what.append(f"mesh h {m['h']:g} -> {0.5 * m['h']:g} mm (regenerated)")
        else:
            coarse = _read_mesh(case)
            mesh = refine_mesh(coarse)
            what.append(f"mesh refined uniformly ({coarse.n_cells:,} -> {mesh.n_cells:,} tets, edges halved)")
    if case.ecg is not None:
        dt = case.ecg["dt"]
        changes["ecg"] = {**case.ecg, "dt": 0.5 * dt}
        what.append(f"ECG dt {dt:g} -> {0.5 * dt:g} ms")
    if case.circulation is not None:
        from ..flow.zerod import Integrator

        rtol, atol = (1e-8, 1e-9) if case.dtype == "float64" else (1e-6, 1e-6)  # defaults / 10
        changes["circulation"] = {**case.circulation, "integrator": Integrator.adaptive(rtol=rtol, atol=atol)}
        what.append(f"0D integrator rtol/atol / 10 ({rtol:g}/{atol:g})")
    return dataclasses.replace(case, **changes), mesh, "; ".join(what)


def check_discretisation(case, problem, result, report, *, say=print, max_steps: int = 5):
    """``report`` with the discretisation term of ``case``'s fit ``result`` (`FitReport.with_discretisation`): the
    case rebuilt finer (`refined_case`), re-fitted from the optimum in ``max_steps`` Levenberg–Marquardt steps.
    A case with nothing to refine, or an Adam fit's report, is returned marked "not checked" with the reason."""
    from ..calibrate._discretisation import discretisation_check
    from ..calibrate._report import joint_residuals
    from ._calibration import build_problem, check_fit_memory
    from ._case import CaseError

    fine_case, mesh, what = refined_case(case)
    if not what:
        return report.with_discretisation(None, skipped="the case's model has no resolution to refine")
    say(f"discretisation check: {what}")
    fine = build_problem(fine_case, mesh=mesh)
    try:  # one start of the finer fit must fit in memory; else the check is skipped, and the report says why
        check_fit_memory(dataclasses.replace(fine_case, fit={**fine_case.fit, "starts": 1}), fine)
    except CaseError as e:
        msg = str(e).split(": ", 1)[-1]
        say(f"discretisation check skipped: {msg}")
        return report.with_discretisation(None, skipped=f"the finer model does not fit in memory ({msg})")
    if fine.free.names != problem.free.names or fine.free.size != problem.free.size:
        return report.with_discretisation(None, skipped="the finer model's free parameters differ")
    check = discretisation_check(
        joint_residuals(fine.terms, fine.simulate),
        fine.free,
        fine.model,
        np.asarray(result.u),
        report.sd,
        names=report.names,
        what=what,
        max_steps=max_steps,
    )
    return report.with_discretisation(check)


def uncertainty_record(report) -> dict | None:
    """fit.json's "uncertainty": per parameter value, unit, sd_statistical, discretisation_shift, sd_total, whether
    sd_total includes the discretisation term and the report's verdict, and the check's own record (or why it was not
    done); None without a report (an outcome assembled by hand)."""
    if report is None:
        return None
    params = report.to_dict()["parameters"]
    keys = (
        "value",
        "unit",
        "sd_statistical",
        "discretisation_shift",
        "sd_total",
        "sd_includes_discretisation",
        "verdict",
    )
    return {
        "parameters": {n: {k: p[k] for k in keys} for n, p in params.items()},
        "discretisation": report.to_dict()["discretisation"],
    }

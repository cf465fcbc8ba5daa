"""`organtwin calibrate CASE --out DIR`: fit a twin to data from a calibration case file, and report.

CASE is a calibration case (TOML; docs/calibration-case.md), or a fit.json written by an earlier run: that fit is then
re-run from its provenance (the case text it stored, every data file checked against its SHA-256) and the fitted values
compared with the saved ones. DIR receives (all or nothing) fit.json (fitted values, the unconstrained vector, the
objective's history and the provenance: case and data hashes, package versions, seed, options), report.json and
summary.txt (Laplace standard deviations, correlations, singular values and flat directions, bounds, per-term
residuals) and the pictures. ``--truth FILE`` (JSON {parameter: value}, for synthetic cases) adds each parameter's error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["calibrate"]


def _say(msg: str) -> None:
    print(msg, flush=True)


def _truth(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        t = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"--truth {path}: cannot read JSON ({' '.join(str(e).split())})") from None
    if not isinstance(t, dict) or not all(isinstance(v, (int, float)) for v in t.values()):
        raise ValueError(f"--truth {path}: expected a JSON object {{\"parameter name\": number}}")
    return t


def calibrate(
    case: Annotated[Path, typer.Argument(help="Calibration case (.toml), or a fit.json to re-run.")],
    out: Annotated[Path, typer.Option("--out", help="Results folder (new, empty, or earlier organtwin results).")],
    truth: Annotated[Optional[Path], typer.Option(help="JSON {parameter: true value} for synthetic cases.")] = None,
    pictures: Annotated[bool, typer.Option("--pictures/--no-pictures", help="Draw the report's pictures.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-step progress lines.")] = False,
):
    """Fit a twin's free parameters to measured data (activation maps, 12-lead ECG, volume curves, pressures)."""
    from ..calibrate._case import load_calibration_case, rerun_fit, run_calibration, tolerances, write_calibration
    from ..io import check_output_folder

    check_output_folder(out)
    t = _truth(truth)
    comparison = None
    if case.suffix.lower() == ".json":
        outcome, comparison = rerun_fit(case, progress=not quiet, say=_say)
        if t is not None:
            from ..calibrate._report import fit_report
            p = outcome.problem
            outcome = type(outcome)(outcome.case, p, outcome.result,
                                    fit_report(outcome.result, p.free, p.model, p.terms, truth=t,
                                               identified_rel_sd=outcome.case.fit["identified_rel_sd"],
                                               tolerance=tolerances(outcome.case)),
                                    outcome.provenance)
    else:
        outcome = run_calibration(load_calibration_case(case), progress=not quiet, truth=t, say=_say)
    written = write_calibration(outcome, out, pictures=pictures)
    _say("")
    _say(outcome.report.summary().rstrip())
    if comparison is not None:
        _say(f"re-run of {case}: largest relative difference from the saved values "
             f"{comparison['max_relative_difference']:.3g}")
    for w in written:
        _say(f"wrote {w}")

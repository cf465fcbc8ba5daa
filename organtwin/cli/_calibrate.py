"""`organtwin calibrate CASE --out DIR`: fit a twin to data from a calibration case file, and report.

CASE is a calibration case (TOML; docs/calibration-case.md), or a fit.json written by an earlier run: that fit is then
re-run from its provenance and the fitted values compared with the saved ones. Before anything is fitted the re-run
checks the fit.json's structure, the stored case text against its SHA-256, every data file and the mesh against theirs,
and the stored fields against the case; it reads only inside the case folder (``provenance.case_dir``, or
``--case-dir DIR`` when the folder moved; the line "case folder" says which) unless ``--allow-outside-case``.
DIR receives (all or nothing) fit.json (fitted values, the unconstrained vector, the objective's history and the
provenance: case and data hashes, package versions, seed, options), report.json and summary.txt (Laplace standard
deviations, correlations, singular values and flat directions, bounds, per-term residuals, the discretisation term, a
verdict per parameter and the data fit per term), report.png and report.html (the same table) and the pictures (each
term's fit and residuals).
``--truth FILE`` (JSON {parameter: value}, for synthetic cases) adds each parameter's error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import Context  # what typer passes for a context parameter (typer.Context's base)

from .._errors import InputError
from ._common import ProgressBar, say, show_progress

__all__ = ["calibrate"]


def _truth(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        t = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"--truth {path}: cannot read JSON ({' '.join(str(e).split())})") from None
    if not isinstance(t, dict) or not all(isinstance(v, (int, float)) for v in t.values()):
        raise InputError(f'--truth {path}: expected a JSON object {{"parameter name": number}}')
    return t


def calibrate(
    ctx: Context,
    case: Annotated[Path, typer.Argument(help="Calibration case (.toml), or a fit.json to re-run.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Results folder (new, empty, or earlier organtwin results).")
    ],
    truth: Annotated[Path | None, typer.Option(help="JSON {parameter: true value} for synthetic cases.")] = None,
    pictures: Annotated[
        bool,
        typer.Option(
            "--pictures/--no-pictures",
            help="Draw the report's pictures (PNGs of the fit against the data) into --out, or not.",
        ),
    ] = True,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress display (default: a bar on stderr when it is a terminal, else a line per fit step).",
        ),
    ] = False,
    case_dir: Annotated[
        Path | None,
        typer.Option(
            "--case-dir",
            help="Re-run of a fit.json: the folder holding the case's data files (default: the one it recorded).",
        ),
    ] = None,
    allow_outside_case: Annotated[
        bool,
        typer.Option(
            "--allow-outside-case",
            help="Re-run of a fit.json: allow its case's mesh and data paths outside the case "
            "folder (absolute paths, ..).",
        ),
    ] = False,
    discretisation_check: Annotated[
        bool,
        typer.Option(
            "--discretisation-check/--no-discretisation-check",
            help="After the fit, re-fit on the model made finer (mesh h/2 or refined, ECG dt/2, 0D tolerances / 10) "
            "and add the shift to each SD (sd_total), or not (the report then says its SDs are statistical only). "
            "Without the flag: the case's [fit] discretisation_check (true when it does not say).",
        ),
    ] = True,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            min=8,
            metavar="N",
            help="After the fit, N draws of the posterior (NUTS, 4 chains from the optimum, with the fitted noise): "
            "credible intervals beside the Laplace ones, R-hat, ESS, posterior.npz, a corner plot, and profile "
            "likelihoods of the values the report flags as not identified.",
        ),
    ] = None,
):
    """Fit a twin's free parameters to measured data (activation maps, 12-lead ECG, volume curves, pressures)."""
    from ..io import check_output_folder, load_calibration_case, rerun_fit, run_calibration, write_calibration

    check_output_folder(out, inputs=[case, truth])  # before the fit: a folder we may write and replace
    t = _truth(truth)
    comparison = None
    bar = ProgressBar(show_progress(quiet), "compiling + first step")
    # a bar on a terminal, else a line per step
    progress = bar.callback(lambda step, steps, loss: f"fit: loss {loss:.6g}") if bar.enabled else not quiet
    rerun = case.suffix.lower() == ".json"
    if not rerun and (case_dir is not None or allow_outside_case):
        raise typer.BadParameter(
            "only for re-running a fit.json (a case file's own paths are read as written, relative to its folder)",
            param_hint="--case-dir/--allow-outside-case",
        )
    if rerun:
        with bar:
            outcome, comparison = rerun_fit(
                case, progress=progress, say=say, truth=t, case_dir=case_dir, allow_outside_case=allow_outside_case
            )
    else:
        c = load_calibration_case(case)
        with bar:
            source = ctx.get_parameter_source("discretisation_check")  # the flag given, or its default
            given = source is not None and source.name != "DEFAULT"
            outcome = run_calibration(
                c, progress=progress, truth=t, say=say, discretisation=discretisation_check if given else None
            )
    samples = None
    if sample is not None:
        from ..io._calibration import sample_calibration

        with ProgressBar(bar.enabled, "sampling") as sbar:
            tell = sbar.callback(lambda done, total, what: f"sample: {what}") if sbar.enabled else not quiet
            samples = sample_calibration(outcome, draws=sample, progress=tell, say=say)
    draw = None
    if pictures:  # the fit's own outputs, drawn inside the same all-or-nothing results folder
        import functools

        from ..viz import report_pictures

        # the data terms' pictures, a residual plot per term, report.png (and the corner/profile plots when sampled)
        draw = functools.partial(
            report_pictures,
            outcome.report,
            mesh=outcome.problem.mesh,
            samples=samples,
            truth=t,
            title=outcome.case.title,
        )

    written = write_calibration(outcome, out, pictures=draw, samples=samples)
    say("")
    say(outcome.report.summary().rstrip())
    if samples is not None:
        say("")
        say(samples.summary().rstrip())
    if comparison is not None:
        say(
            f"re-run of {case}: largest relative difference from the saved values "
            f"{comparison['max_relative_difference']:.3g}"
        )
    for w in written:
        say(f"wrote {w}")

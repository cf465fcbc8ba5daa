"""`organtwin ep`: tissue electrophysiology from case files.

``organtwin ep run CASE.toml --out DIR`` reads and checks the case (docs/case-file.md), runs the monodomain model with a
progress bar, and writes DIR (all or nothing): activation.vtu, vm/vm_XXXX.vtu + vm.pvd, probes.csv, with ``--ecg`` ecg/
(ecg.csv, features.json, ecg.png), and summary.json, which lists them (its manifest: docs/results-folders.md). The
output folder and, with ``--ecg``, the ECG's regions and electrodes are checked before the run.
``organtwin ep check CASE.toml`` does every check of a run (mesh, regions, fibres, models, stimuli, stability) without
running it.

A typer sub-application registered by the main application (``app.add_typer(ep_app, name="ep")``). JAX is imported inside
the commands so that ``organtwin --help`` stays instant; a case with ``dtype = "float64"`` switches JAX's 64-bit mode on
here, at the user's edge, never on import. Errors are raised (CaseError / ResultsError / RuntimeError, one line) and
printed by ``organtwin.cli._main.main``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ._common import QUIET_HELP, Dtype, ProgressBar, say, show_progress, use_dtype

__all__ = ["ep_app", "run", "check"]

ep_app = typer.Typer(help="Tissue electrophysiology (monodomain) from case files.", no_args_is_help=True)


_FIBRES_HELP = (
    "Override the case's \\[fibres] source: mesh (the mesh file's arrays, checked), rule-based (Bayer, "
    "from surfaces endo_lv, endo_rv if present, epi, base; the case's angles are kept) or none (isotropic)."
)
_FIBRES_METAVAR = "<mesh|rule-based|none>"
_CASE_HELP = "The case file (TOML; see docs/case-file.md)."


def _load(case: Path, fibres: str | None = None):
    from ..io import load_ep_case
    from ..mesh import FIBRE_CHOICES

    if fibres is not None and fibres not in FIBRE_CHOICES:
        raise typer.BadParameter(f"--fibres must be one of {', '.join(FIBRE_CHOICES)}, got {fibres!r}")
    config = load_ep_case(case, fibres=fibres)
    if config.simulation.dtype == "float64":
        use_dtype(Dtype.float64)  # the user's edge: asked for by the case file
    return config


@ep_app.command("run")
def run(
    case: Annotated[Path, typer.Argument(help=_CASE_HELP)],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the results (written all or nothing; an earlier "
            "organtwin results folder there is replaced).",
        ),
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", hidden=True, help="Deprecated: --quiet.")
    ] = None,
    ecg: Annotated[
        bool,
        typer.Option(
            "--ecg",
            help="Also write the 12-lead pseudo-ECG of the run (from its Vm "
            "snapshots: record them every 1-2 ms) into ecg/ in --out (as "
            "`organtwin ecg` does), in the same all-or-nothing results "
            "folder; its regions and electrodes are checked before the "
            "run.",
        ),
    ] = False,
    fibres: Annotated[str | None, typer.Option("--fibres", metavar=_FIBRES_METAVAR, help=_FIBRES_HELP)] = None,
):
    """Run a monodomain case: activation.vtu, vm/*.vtu + vm.pvd, probes.csv and summary.json in --out."""
    from ..io import (
        check_ecg_record,
        check_output_folder,
        describe_case,
        ecg_files_writer,
        prepare_case,
        run_case,
        run_ecg,
        run_ecg_placement,
        run_report,
        write_ep_results,
        written_line,
    )

    show = show_progress(quiet, progress)
    t0 = time.perf_counter()
    config = _load(case, fibres)
    # before the run: refuse a folder we could not write, may not replace, or that holds the case's own files
    check_output_folder(out, inputs=[case, config.mesh.path, config.fibres.path])
    if ecg:
        check_ecg_record(config)
    prepared = prepare_case(config)
    for line in describe_case(prepared):
        say(line)
    placement = lv = rv = None
    if ecg:  # the ECG's inputs (LV/RV regions, the chest and its electrodes) are checked before the run, not after
        placement, lv, rv, regions_text = run_ecg_placement(prepared, source=str(case))
        say(regions_text)
    dt = config.simulation.dt
    with ProgressBar(show, "compiling + first chunk", config.simulation.n_steps, eta=True) as bar:
        outcome = run_case(prepared, progress=bar.callback(lambda done, total: f"simulating t = {done * dt:8.2f} ms"))
    ecg_result = None
    if ecg:
        ecg_result = run_ecg(prepared, outcome, placement=placement, lv=lv, rv=rv)
    extra = None if ecg_result is None else ecg_files_writer(ecg_result, source=str(case))
    summary = write_ep_results(out, prepared, outcome, extra=extra)
    for line in run_report(summary, config):
        say(line)
    if ecg_result is not None:
        n_times = ecg_result.times.size
        for line in ecg_result.describe(f"the run's Vm snapshots ({n_times} times)", prepared.mesh.n_nodes):
            say(line)
    say(written_line(out, summary, time.perf_counter() - t0))


@ep_app.command("check")
def check(
    case: Annotated[Path, typer.Argument(help=_CASE_HELP)],
    fibres: Annotated[str | None, typer.Option("--fibres", metavar=_FIBRES_METAVAR, help=_FIBRES_HELP)] = None,
):
    """Check a case without running it: the file, the mesh, regions, fibres, models, stimuli, probes and dt."""
    from ..io import describe_case, prepare_case

    for line in describe_case(prepare_case(_load(case, fibres))):
        say(line)
    say("ok: the case is ready to run")


@ep_app.command("tune-cv")
def tune_cv(
    model: Annotated[str, typer.Argument(help="Ionic model name (as in `organtwin cell`), e.g. tentusscher2006-epi.")],
    cv: Annotated[
        list[float],
        typer.Option(
            "--cv",
            help="Target conduction velocity, m/s (= mm/ms); repeat for more "
            "directions, e.g. --cv 0.6 --cv 0.4 --cv 0.2.",
        ),
    ],
    edge_length: Annotated[
        float,
        typer.Option(
            "--edge-length",
            help="Mean edge length of the mesh the conductivity is for, mm (`organtwin mesh info` prints it).",
        ),
    ],
    dt: Annotated[float, typer.Option(help="Time step of the run, ms.")] = 0.02,
    diffusion: Annotated[
        str,
        typer.Option(
            metavar="<theta|explicit>",
            help="Diffusion of the run: theta (Crank-Nicolson, consistent mass) or explicit (lumped mass).",
        ),
    ] = "theta",
    chi: Annotated[float, typer.Option(help="Surface-to-volume ratio, 1/mm.")] = 140.0,
    cm: Annotated[float, typer.Option("--cm", help="Membrane capacitance, uF/cm^2.")] = 1.0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the figures as JSON to this file.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", hidden=True, help="Deprecated: --out.")] = None,
):
    """Conductivities (S/m) that give the target conduction velocities on a mesh of this resolution (openCARP's tuneCV).

    Each velocity is tuned on its own strand (a plane wave along one principal direction feels only that conductivity),
    with the model, dt and diffusion of the run; use the results as sigma_l, sigma_t, sigma_n (or put cv_l, cv_t, cv_n in
    the case file and let `organtwin ep run` tune them).
    """
    from ..ep import ExplicitLumped, ThetaScheme, tune_conductivity
    from ..io import TUNING_HEADER, check_output_file, tuning_row, write_tuning_json
    from ..ionic import model_from_name
    from ._common import legacy_option

    out, out_name = legacy_option(out, json_out, "--out", "--json")
    if diffusion not in ("theta", "explicit"):
        raise typer.BadParameter(f"--diffusion must be theta or explicit, got {diffusion!r}")
    if not cv or any(not v > 0 for v in cv):
        raise typer.BadParameter(f"--cv must be positive velocities in m/s, got {cv}")
    if not edge_length > 0:
        raise typer.BadParameter(f"--edge-length must be a positive length in mm, got {edge_length}")
    if out is not None:
        check_output_file(out, out_name)  # before the tuning runs
    m = model_from_name(model)
    d = ThetaScheme() if diffusion == "theta" else ExplicitLumped()
    say(
        f"{model}, mean edge {edge_length:g} mm, dt {dt:g} ms, {diffusion} diffusion, chi {chi:g} /mm, Cm {cm:g} uF/cm^2"
    )
    say(TUNING_HEADER)
    tunings = []
    for v in cv:  # each row printed as soon as it is tuned
        tunings.append(tune_conductivity(m, v, edge_length, dt=dt, diffusion=d, chi=chi, Cm=cm))
        say(tuning_row(v, tunings[-1]))
    if out is not None:
        write_tuning_json(
            out, tunings, cv, model=model, edge_length_mm=edge_length, dt_ms=dt, diffusion=diffusion, chi_per_mm=chi,
            Cm_uF_per_cm2=cm,
        )  # fmt: skip
        say(f"wrote {out}")

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

import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer

from .._errors import MeshWarning

__all__ = ["ep_app", "run", "check"]

ep_app = typer.Typer(help="Tissue electrophysiology (monodomain) from case files.", no_args_is_help=True)


def _say(msg: str) -> None:
    print(msg, flush=True)


_FIBRES_HELP = (
    "Override the case's [fibres] source: mesh (the mesh file's arrays, checked), rule-based (Bayer, "
    "from surfaces endo_lv, endo_rv if present, epi, base; the case's angles are kept) or none (isotropic)."
)


def _load(case: Path, fibres: str | None = None):
    import dataclasses

    from ..io import load_case
    from ..mesh import FIBRE_CHOICES

    if fibres is not None and fibres not in FIBRE_CHOICES:
        raise typer.BadParameter(f"--fibres must be one of {', '.join(FIBRE_CHOICES)}, got {fibres!r}")
    config = load_case(case)
    if fibres is not None:
        config = dataclasses.replace(config, fibres=dataclasses.replace(config.fibres, source=fibres))
    if config.simulation.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)  # the user's edge: asked for by the case file
    return config


def _fmt_ms(x: float) -> str:
    return f"{x:.4g} ms"


def _placeholder_note(mesh) -> str:
    from ..mesh import fibre_quality

    q = fibre_quality(mesh)
    if q is None or not q["placeholder"]:
        return ""
    return (
        f" - WARNING: they look like a placeholder ({100 * q['constant_fraction']:.1f}% of cells have one fibre); "
        f"use --fibres rule-based or --fibres none"
    )


def _describe(prepared) -> list[str]:
    c, mesh = prepared.config, prepared.mesh
    sim = c.simulation
    models = sorted(set(prepared.region_models.values()))
    diff = "explicit (lumped mass)" if sim.diffusion.kind == "explicit" else f"theta = {sim.diffusion.theta:g}"
    lines = [
        f"case {c.source}{': ' + c.title if c.title else ''}",
        f"mesh {c.mesh.describe()}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, regions {mesh.region_ids.tolist()}, "
        f"fibres {c.fibres.source if mesh.fibres is not None else 'none'}"
        + (_placeholder_note(mesh) if c.fibres.source == "mesh" else ""),
        f"model {', '.join(models)}; {len(c.stimuli)} stimul{'us' if len(c.stimuli) == 1 else 'i'} "
        f"({', '.join(str(n) for n in prepared.stimulus_nodes)} nodes)",
        f"{sim.n_steps} steps of {sim.dt:g} ms to {sim.n_steps * sim.dt:g} ms, {sim.splitting}, {diff}, {sim.dtype}"
        + (f" (stability limit {prepared.stability_limit:.3g} ms)" if prepared.stability_limit is not None else ""),
    ]
    for r, rep in prepared.tuned_conductivity.items():
        lines.append(
            f"region {r}: tuned "
            + ", ".join(
                f"{k} {v['sigma_S_per_m']:.4g} S/m ({v['cv_m_per_s']:.3g} m/s for mean edge {v['edge_length_mm']:.3g} mm)"
                for k, v in rep.items()
            )
        )
    return lines


class _Bar:
    """A rich progress bar on stderr, advanced by simulate_monodomain's progress callback (between chunks)."""

    def __init__(self, n_steps: int, dt: float, enabled: bool):
        self.enabled = enabled
        self.progress = None
        self.task = None
        self.n_steps, self.dt = n_steps, dt

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("compiling + first chunk", total=self.n_steps)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task, completed=done, total=total, description=f"simulating t = {done * self.dt:8.2f} ms"
            )

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False


@ep_app.command("run")
def run(
    case: Annotated[Path, typer.Argument(help="The case file (TOML; see docs/case-file.md).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the results (written all or nothing; an earlier "
            "organtwin results folder there is replaced).",
        ),
    ],
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Show a progress bar (default: when stderr is a terminal)."),
    ] = None,
    ecg: Annotated[
        bool,
        typer.Option(
            "--ecg",
            help="Also write the 12-lead pseudo-ECG of the run (from its Vm "
            "snapshots: record them every 1-2 ms) into OUT/ecg/ (as "
            "`organtwin ecg` does), in the same all-or-nothing results "
            "folder; its regions and electrodes are checked before the "
            "run.",
        ),
    ] = False,
    fibres: Annotated[str | None, typer.Option("--fibres", help=_FIBRES_HELP)] = None,
):
    """Run a monodomain case: activation.vtu, vm/*.vtu + vm.pvd, probes.csv and summary.json in --out."""
    from ..io import check_output_folder, prepare_case, run_case, write_ep_results

    t0 = time.perf_counter()
    config = _load(case, fibres)
    # before the run: refuse a folder we could not write, may not replace, or that holds the case's own files
    check_output_folder(out, inputs=[case, config.mesh.path, config.fibres.path])
    if ecg:
        every = config.record.snapshot_every
        if every is None or every > 2.0:
            raise config.error(
                "record",
                "--ecg needs Vm snapshots every 1-2 ms: set [record] snapshot_every = "
                '"1 ms" (or run `organtwin ecg` later on a run that has them)',
            )
    prepared = prepare_case(config)
    for line in _describe(prepared):
        _say(line)
    placement = None
    if ecg:  # the ECG's inputs (LV/RV regions, the chest and its electrodes) are checked before the run, not after
        from ..mesh import ventricle_regions
        from ._ecg import ecg_placement

        lv, rv, regions_text = ventricle_regions(prepared.mesh, source=str(case))
        _say(regions_text)
        placement = ecg_placement(prepared.mesh, lv=lv, rv=rv)
    show = sys.stderr.isatty() if progress is None else progress
    with _Bar(config.simulation.n_steps, config.simulation.dt, show) as bar:
        outcome = run_case(prepared, progress=bar)
    extra = ecg_result = None
    if ecg:
        import numpy as np

        from ..ecg import ecg_from_vm
        from ..io import write_ecg_files

        res = outcome.result
        ecg_result = ecg_from_vm(
            prepared.mesh,
            np.asarray(res.snapshot_times, float),
            np.asarray(res.snapshots, float),
            placement=placement,
            lv=lv,
            rv=rv,
        )

        def extra(tmp):  # the ECG goes into OUT/ecg inside the same all-or-nothing results folder (one manifest)
            return [f"ecg/{n}" for n in write_ecg_files(tmp / "ecg", ecg_result, source=str(case))]

    summary = write_ep_results(out, prepared, outcome, extra=extra)
    t = summary["timing"]
    rate = f", {t['node_steps_per_s']:.3g} node-steps/s after compilation" if "node_steps_per_s" in t else ""
    _say(f"ran {summary['steps']} steps in {t['run_s']:.1f} s (set-up {t['setup_s']:.1f} s{rate})")
    a = summary.get("activation")
    if a is not None:
        if a["nodes_activated"]:
            _say(
                f"activation {_fmt_ms(a['first_ms'])} .. {_fmt_ms(a['last_ms'])} (total activation time "
                f"{_fmt_ms(a['total_activation_time_ms'])}); {a['nodes_activated']} of {a['nodes']} nodes activated"
            )
            missed = a["nodes"] - a["nodes_activated"]
            if missed:
                warnings.warn(
                    f"{missed} of {a['nodes']} nodes ({100.0 * missed / a['nodes']:.1f} %) never activated "
                    f"by the end of the run ({_fmt_ms(config.simulation.duration)}): a run too short, a "
                    "stimulus that did not capture (on a coarse mesh raise its radius), or conduction block; "
                    "their activation_time is NaN in activation.vtu",
                    MeshWarning,
                    stacklevel=1,
                )
        else:
            _say(f"no node activated (threshold {config.record.activation_threshold:g} mV)")
    if "apd_ms" in summary and summary["apd_ms"].get("count"):
        apd = summary["apd_ms"]
        _say(f"APD {apd['min']:.4g} .. {apd['max']:.4g} ms (mean {apd['mean']:.4g} ms) at {apd['count']} nodes")
    if ecg_result is not None:
        res = outcome.result
        for line in ecg_result.describe(
            f"the run's Vm snapshots ({len(res.snapshot_times)} times)", prepared.mesh.n_nodes
        ):
            _say(line)
    files = summary["files"]
    vtus = [f for f in files if f.startswith("vm/")]
    shown = [f for f in files if not f.startswith("vm/")]
    if vtus:
        shown = [f"{f} ({len(vtus)} snapshots in vm/)" if f == "vm.pvd" else f for f in shown]
    _say(f"wrote {out}: {', '.join(shown)} in {time.perf_counter() - t0:.1f} s")


@ep_app.command("check")
def check(
    case: Annotated[Path, typer.Argument(help="The case file (TOML; see docs/case-file.md).")],
    fibres: Annotated[str | None, typer.Option("--fibres", help=_FIBRES_HELP)] = None,
):
    """Check a case without running it: the file, the mesh, regions, fibres, models, stimuli, probes and dt."""
    from ..io import prepare_case

    prepared = prepare_case(_load(case, fibres))
    for line in _describe(prepared):
        _say(line)
    _say("ok: the case is ready to run")


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
            "-h",
            help="Mean edge length of the mesh the conductivity is for, mm (`organtwin mesh info` prints it).",
        ),
    ],
    dt: Annotated[float, typer.Option(help="Time step of the run, ms.")] = 0.02,
    diffusion: Annotated[
        str,
        typer.Option(help="Diffusion of the run: theta (Crank-Nicolson, consistent mass) or explicit (lumped mass)."),
    ] = "theta",
    chi: Annotated[float, typer.Option(help="Surface-to-volume ratio, 1/mm.")] = 140.0,
    cm: Annotated[float, typer.Option("--cm", help="Membrane capacitance, uF/cm^2.")] = 1.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here.")] = None,
):
    """Conductivities (S/m) that give the target conduction velocities on a mesh of this resolution (openCARP's tuneCV).

    Each velocity is tuned on its own strand (a plane wave along one principal direction feels only that conductivity),
    with the model, dt and diffusion of the run; use the results as sigma_l, sigma_t, sigma_n (or put cv_l, cv_t, cv_n in
    the case file and let `organtwin ep run` tune them).
    """
    from ..ep import ExplicitLumped, ThetaScheme, tune_conductivity
    from ..io import write_json
    from ..ionic import model_from_name

    if diffusion not in ("theta", "explicit"):
        raise typer.BadParameter(f"--diffusion must be theta or explicit, got {diffusion!r}")
    if not cv or any(not v > 0 for v in cv):
        raise typer.BadParameter(f"--cv must be positive velocities in m/s, got {cv}")
    if not edge_length > 0:
        raise typer.BadParameter(f"--edge-length must be a positive length in mm, got {edge_length}")
    if json_out is not None:
        from ..io import check_output_file

        check_output_file(json_out, "--json")  # before the tuning runs
    m = model_from_name(model)
    d = ThetaScheme() if diffusion == "theta" else ExplicitLumped()
    rows = []
    _say(
        f"{model}, mean edge {edge_length:g} mm, dt {dt:g} ms, {diffusion} diffusion, chi {chi:g} /mm, Cm {cm:g} uF/cm^2"
    )
    _say(f"{'target m/s':>10} {'sigma S/m':>10} {'CV m/s':>8} {'runs':>5}")
    for v in cv:
        r = tune_conductivity(m, v, edge_length, dt=dt, diffusion=d, chi=chi, Cm=cm)
        flag = "" if r.converged else "  (not converged: closest)"
        _say(f"{v:10.4g} {r.sigma:10.4g} {r.cv:8.4g} {len(r.history):5d}{flag}")
        rows.append(
            {
                "cv_target_m_per_s": v,
                "sigma_S_per_m": r.sigma,
                "cv_m_per_s": r.cv,
                "converged": r.converged,
                "history": [{"sigma_S_per_m": s, "cv_m_per_s": c} for s, c in r.history],
            }
        )
    if json_out is not None:
        doc = {
            "model": model,
            "edge_length_mm": edge_length,
            "dt_ms": dt,
            "diffusion": diffusion,
            "chi_per_mm": chi,
            "Cm_uF_per_cm2": cm,
            "directions": rows,
        }
        write_json(json_out.expanduser(), doc)
        _say(f"wrote {json_out}")

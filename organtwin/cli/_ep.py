"""`organtwin ep`: tissue electrophysiology from case files.

``organtwin ep run CASE.toml --out DIR`` reads and checks the case (docs/case-file.md), runs the monodomain model with a
progress bar, and writes DIR (all or nothing): activation.vtu, vm/vm_XXXX.vtu + vm.pvd, probes.csv, summary.json.
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
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["ep_app", "run", "check"]

ep_app = typer.Typer(help="Tissue electrophysiology (monodomain) from case files.", no_args_is_help=True)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _load(case: Path):
    from ..io import load_case

    config = load_case(case)
    if config.simulation.dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)  # the user's edge: asked for by the case file
    return config


def _fmt_ms(x: float) -> str:
    return f"{x:.4g} ms"


def _describe(prepared) -> list[str]:
    c, mesh = prepared.config, prepared.mesh
    sim = c.simulation
    models = sorted(set(prepared.region_models.values()))
    diff = "explicit (lumped mass)" if sim.diffusion.kind == "explicit" else f"theta = {sim.diffusion.theta:g}"
    lines = [
        f"case {c.source}{': ' + c.title if c.title else ''}",
        f"mesh {c.mesh.describe()}: {mesh.n_nodes} nodes, {mesh.n_cells} tets, regions {mesh.region_ids.tolist()}, "
        f"fibres {c.fibres.source if mesh.fibres is not None else 'none'}",
        f"model {', '.join(models)}; {len(c.stimuli)} stimul{'us' if len(c.stimuli) == 1 else 'i'} "
        f"({', '.join(str(n) for n in prepared.stimulus_nodes)} nodes)",
        f"{sim.n_steps} steps of {sim.dt:g} ms to {sim.n_steps * sim.dt:g} ms, {sim.splitting}, {diff}, {sim.dtype}"
        + (f" (stability limit {prepared.stability_limit:.3g} ms)" if prepared.stability_limit is not None else ""),
    ]
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
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("steps"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("compiling + first chunk", total=self.n_steps)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total,
                                 description=f"simulating t = {done * self.dt:8.2f} ms")

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
        return False


@ep_app.command("run")
def run(
    case: Annotated[Path, typer.Argument(help="The case file (TOML; see docs/case-file.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (written all or nothing; an earlier "
                                                          "organtwin results folder there is replaced).")],
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress",
                                                     help="Show a progress bar (default: when stderr is a terminal).")
                        ] = None,
):
    """Run a monodomain case: activation.vtu, vm/*.vtu + vm.pvd, probes.csv and summary.json in --out."""
    from ..io import check_output_folder, prepare_case, run_case, write_ep_results

    t0 = time.perf_counter()
    config = _load(case)
    check_output_folder(out)  # before the run: refuse a folder we could not write
    prepared = prepare_case(config)
    for line in _describe(prepared):
        _say(line)
    show = sys.stderr.isatty() if progress is None else progress
    with _Bar(config.simulation.n_steps, config.simulation.dt, show) as bar:
        outcome = run_case(prepared, progress=bar)
    summary = write_ep_results(out, prepared, outcome)
    t = summary["timing"]
    rate = f", {t['node_steps_per_s']:.3g} node-steps/s after compilation" if "node_steps_per_s" in t else ""
    _say(f"ran {summary['steps']} steps in {t['run_s']:.1f} s (set-up {t['setup_s']:.1f} s{rate})")
    a = summary.get("activation")
    if a is not None:
        if a["nodes_activated"]:
            _say(f"activation {_fmt_ms(a['first_ms'])} .. {_fmt_ms(a['last_ms'])} (total activation time "
                 f"{_fmt_ms(a['total_activation_time_ms'])}); {a['nodes_activated']} of {a['nodes']} nodes activated")
        else:
            _say(f"no node activated (threshold {config.record.activation_threshold:g} mV)")
    if "apd_ms" in summary and summary["apd_ms"].get("count"):
        apd = summary["apd_ms"]
        _say(f"APD {apd['min']:.4g} .. {apd['max']:.4g} ms (mean {apd['mean']:.4g} ms) at {apd['count']} nodes")
    files = summary["files"]
    vtus = [f for f in files if f.startswith("vm/")]
    shown = [f for f in files if not f.startswith("vm/")]
    if vtus:
        shown = [f"{f} ({len(vtus)} snapshots in vm/)" if f == "vm.pvd" else f for f in shown]
    _say(f"wrote {out}: {', '.join(shown)} in {time.perf_counter() - t0:.1f} s")


@ep_app.command("check")
def check(
    case: Annotated[Path, typer.Argument(help="The case file (TOML; see docs/case-file.md).")],
):
    """Check a case without running it: the file, the mesh, regions, fibres, models, stimuli, probes and dt."""
    from ..io import prepare_case

    prepared = prepare_case(_load(case))
    for line in _describe(prepared):
        _say(line)
    _say("ok: the case is ready to run")

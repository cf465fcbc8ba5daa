"""What `organtwin ep run` / `ep check` / `ep tune-cv` say and write beyond the run itself: the description of a prepared
case, the figures of a finished run (with a warning for nodes that never activated), the ECG of a run's Vm snapshots
(checked before the run, written into its results folder) and the conduction-velocity tuning table as JSON."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._errors import MeshWarning
from ._results import write_json

__all__ = [
    "load_ep_case",
    "describe_case",
    "run_report",
    "written_line",
    "check_ecg_record",
    "ecg_placement",
    "run_ecg_placement",
    "run_ecg",
    "ecg_files_writer",
    "tuning_row",
    "TUNING_HEADER",
    "write_tuning_json",
]


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


def load_ep_case(path, *, fibres: str | None = None):
    """`load_case`, with the case's [fibres] source replaced by ``fibres`` (one of `organtwin.mesh.FIBRE_CHOICES`: mesh,
    rule-based, none; `ep run --fibres`, `ep check --fibres`) when it is given; the case's angles are kept."""
    import dataclasses

    from ._case import load_case

    config = load_case(path)
    if fibres is None:
        return config
    return dataclasses.replace(config, fibres=dataclasses.replace(config.fibres, source=fibres))


def describe_case(prepared) -> list[str]:
    """The lines that describe a prepared case (`organtwin.io.prepare_case`): file, mesh, models and stimuli, time
    stepping, tuned conductivities."""
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


def run_report(summary: dict, config) -> list[str]:
    """The lines that sum up a finished run from its summary.json (`write_ep_results`): steps and timing, activation,
    APD. Nodes that never activated are a `MeshWarning` (a run too short, a stimulus that did not capture, a block)."""
    t = summary["timing"]
    rate = f", {t['node_steps_per_s']:.3g} node-steps/s after compilation" if "node_steps_per_s" in t else ""
    lines = [f"ran {summary['steps']} steps in {t['run_s']:.1f} s (set-up {t['setup_s']:.1f} s{rate})"]
    a = summary.get("activation")
    if a is not None and a["nodes_activated"]:
        lines.append(
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
                stacklevel=2,
            )
    elif a is not None:
        lines.append(f"no node activated (threshold {config.record.activation_threshold:g} mV)")
    if "apd_ms" in summary and summary["apd_ms"].get("count"):
        apd = summary["apd_ms"]
        lines.append(f"APD {apd['min']:.4g} .. {apd['max']:.4g} ms (mean {apd['mean']:.4g} ms) at {apd['count']} nodes")
    return lines


def written_line(out, summary: dict, seconds: float) -> str:
    """The last line of `organtwin ep run`: the results folder's files (from its summary.json), the Vm snapshots
    counted rather than listed."""
    files = summary["files"]
    vtus = [f for f in files if f.startswith("vm/")]
    shown = [f"{f} ({len(vtus)} snapshots in vm/)" if f == "vm.pvd" and vtus else f for f in files if f[:3] != "vm/"]
    return f"wrote {out}: {', '.join(shown)} in {seconds:.1f} s"


def check_ecg_record(config) -> None:
    """Before a run with its ECG: the run must record Vm snapshots every 1-2 ms (a `CaseError` otherwise)."""
    every = config.record.snapshot_every
    if every is None or every > 2.0:
        raise config.error(
            "record",
            "--ecg needs Vm snapshots every 1-2 ms: set [record] snapshot_every = "
            '"1 ms" (or run `organtwin ecg` later on a run that has them)',
        )


def ecg_placement(mesh, *, lv=None, rv=None):
    """The generated chest and its electrodes around ``mesh`` (`organtwin.ecg.chest_for_heart`), with the advice to
    give the electrodes instead in the error (a `MeshError`); cheap: `organtwin ep run --ecg` calls it before the run."""
    from .._errors import MeshError
    from ..ecg import chest_for_heart

    try:
        return chest_for_heart(mesh, lv=lv, rv=rv)
    except ValueError as e:
        raise MeshError(f"{e}; or give --electrodes FILE.csv (name,x,y,z in mm)") from None


def run_ecg_placement(prepared, *, source: str):
    """Before a run with its ECG (`ep run --ecg`): the LV and RV regions of the prepared case's mesh
    (`organtwin.mesh.ventricle_regions`) and the electrodes placed from them (`ecg_placement`), so that a mesh the ECG
    cannot use is refused before the run. Returns (placement, lv, rv, the line that says which regions they are)."""
    from ..mesh import ventricle_regions

    lv, rv, regions_text = ventricle_regions(prepared.mesh, source=source)
    return ecg_placement(prepared.mesh, lv=lv, rv=rv), lv, rv, regions_text


def run_ecg(prepared, outcome, *, placement, lv, rv):
    """The 12-lead pseudo-ECG of a finished run's Vm snapshots (`organtwin.ecg.ecg_from_vm`)."""
    from ..ecg import ecg_from_vm

    res = outcome.result
    times, vm = np.asarray(res.snapshot_times, float), np.asarray(res.snapshots, float)
    return ecg_from_vm(prepared.mesh, times, vm, placement=placement, lv=lv, rv=rv)


def ecg_files_writer(ecg, *, source: str) -> Callable[[Path], list[str]]:
    """``extra`` for `write_ep_results`: the ECG goes into OUT/ecg inside the same all-or-nothing results folder (one
    manifest)."""
    from ._ecg import write_ecg_files

    return lambda tmp: [f"ecg/{n}" for n in write_ecg_files(Path(tmp) / "ecg", ecg, source=source)]


def tuning_row(target: float, tuning) -> str:
    """One row of `organtwin ep tune-cv`'s table (`TUNING_HEADER`): the target, the tuned conductivity, the velocity it
    gives, the number of runs, and a flag when the search did not converge."""
    flag = "" if tuning.converged else "  (not converged: closest)"
    return f"{target:10.4g} {tuning.sigma:10.4g} {tuning.cv:8.4g} {len(tuning.history):5d}{flag}"


#: The header of `organtwin ep tune-cv`'s table (`tuning_row`).
TUNING_HEADER = f"{'target m/s':>10} {'sigma S/m':>10} {'CV m/s':>8} {'runs':>5}"


def write_tuning_json(path: Path, tunings: Sequence, targets: Sequence[float], **settings) -> None:
    """`organtwin ep tune-cv`'s figures as JSON: the settings (model, edge_length_mm, dt_ms, ...) and one row per
    direction (`organtwin.ep.CVTuning`: target, conductivity, velocity, convergence, the search's history)."""
    rows = [
        {
            "cv_target_m_per_s": v,
            "sigma_S_per_m": r.sigma,
            "cv_m_per_s": r.cv,
            "converged": r.converged,
            "history": [{"sigma_S_per_m": s, "cv_m_per_s": c} for s, c in r.history],
        }
        for v, r in zip(targets, tunings, strict=True)
    ]
    write_json(Path(path).expanduser(), {**settings, "directions": rows})

"""`organtwin flow`: lumped-parameter (0D) blood flow.

``organtwin flow zerod CONFIG.json OUT.csv`` behaves like ``svzerodsolver CONFIG.json OUT.csv``: it reads an
svZeroDSolver configuration, runs it and writes the result in svZeroDSolver's CSV layout (vessel-based, or variable-based
when the configuration's ``output_variable_based`` is true), atomically.

``organtwin flow circulation --out DIR`` runs the Regazzoni et al. 2022 closed loop (parameters overridden with
``--param GROUP.KEY=VALUE``) to its periodic state, optionally with the ventricles' contraction timed by EP activation
times (``--activation``: an `organtwin ep run` folder or an activation mesh from `organtwin activate`), and writes DIR
(all or nothing): circulation.csv (one beat: time_s and every pressure mmHg, volume mL, valve flow mL/s), summary.json
(haemodynamic figures, convergence, blood-volume conservation, parameters, activation, and the manifest of the folder's
files: docs/results-folders.md), pv_loops.png, pressures.png, volumes.png. Both commands check their output place
before the work.

A typer sub-application registered by the main application (``app.add_typer(flow_app, name="flow")``). JAX is imported
inside the commands so that ``organtwin --help`` stays instant; both commands compute in float64 and switch JAX's
64-bit mode on here, at the user's edge (``flow zerod --float32`` computes in float32). Errors are raised with one-line
messages and printed by ``organtwin.cli._main.main``.
"""

from __future__ import annotations

import math
import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["flow_app", "zerod", "circulation"]

flow_app = typer.Typer(
    help="Blood flow: lumped-parameter (0D) networks and the closed-loop circulation.", no_args_is_help=True
)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _check_output_file(out: Path, name: str) -> Path:
    """Before the work: ``out`` can be written (not a folder, its folder exists and is writable)."""
    from ..io import check_output_file

    out = out.expanduser()
    if out.is_dir():
        raise typer.BadParameter(f"{name}: {out} is a folder; give a file name like results.csv")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise typer.BadParameter(f"{name}: folder {parent} does not exist")
    return check_output_file(out, name)


# ------------------------------------------------------------------------------------------------------------- zerod
@flow_app.command("zerod")
def zerod(
    config: Annotated[Path, typer.Argument(metavar="CONFIG.json", help="svZeroDSolver configuration (JSON).")],
    out: Annotated[Path, typer.Argument(metavar="OUT.csv", help="CSV to write, in svZeroDSolver's layout.")],
    float32: Annotated[bool, typer.Option("--float32", help="Compute in float32 (default float64).")] = False,
):
    """Run an svZeroDSolver configuration and write its CSV, like `svzerodsolver CONFIG.json OUT.csv`."""
    out = _check_output_file(out, "OUT.csv")
    t0 = time.perf_counter()
    import jax

    if not float32:
        jax.config.update("jax_enable_x64", True)  # the user's edge: float64 unless --float32
    import jax.numpy as jnp

    from ..flow.zerod import read_svzerod, run_svzerod, svzerod_csv
    from ..io import atomic_file

    try:  # the library's messages say what and how; the line also names the file (where)
        cfg = read_svzerod(config)
        dtype = jnp.float32 if float32 else jnp.float64
        res = run_svzerod(cfg, dtype=dtype)  # a failed solve is a one-line NetworkError from the library
    except ValueError as e:
        if str(config) in str(e):
            raise
        raise ValueError(f"{config}: {e}") from None
    text = svzerod_csv(res)
    with atomic_file(out) as (fh, _):
        fh.write(text)
    kinds: dict = {}
    for k in cfg.block_types.values():
        kinds[k] = kinds.get(k, 0) + 1
    blocks = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    n_blocks = len(cfg.block_types)
    layout = "variable-based" if cfg.output_variable_based else "vessel-based"
    shown = "all cycles" if cfg.output_all_cycles else "last cycle"
    _say(
        f"{config.name}: {n_blocks} block{'s' if n_blocks != 1 else ''} ({blocks}); {cfg.cycles} cycle"
        f"{'s' if cfg.cycles != 1 else ''} of {cfg.period:g} s ({cfg.cycles * cfg.period:g} s simulated), "
        f"{res.times.size} output times ({shown}), {'float32' if float32 else 'float64'}; "
        f"wrote {out} ({text.count(chr(10)) - 1} rows, {layout}) in {time.perf_counter() - t0:.1f} s"
    )


# ------------------------------------------------------------------------------------------------------- circulation
class Preset(str, Enum):
    regazzoni2022 = "regazzoni2022"


def _parse_regions(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        ids = []
    if not ids:
        raise typer.BadParameter(f"{name} must be comma-separated integer region ids like 1 or 1,3, got {text!r}")
    return ids


def _parse_params(items: list[str], preset: dict) -> tuple[dict, dict]:
    """``GROUP.KEY=VALUE`` (or ``period=VALUE``, ``initial.volume.LV=VALUE``) -> (nested overrides for the preset,
    flat {path: value} for the summary). Paths are checked against the preset's own parameters."""
    nested: dict = {}
    flat: dict = {}
    for item in items:
        path, eq, value = item.partition("=")
        path = path.strip()
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not eq or not path or not math.isfinite(v):
            raise typer.BadParameter(
                f"--param must be GROUP.KEY=VALUE with a finite number, e.g. LV.e_active=2.5 or "
                f"period=0.9, got {item!r}"
            )
        keys = path.split(".")
        node = preset
        for depth, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                where = ".".join(keys[:depth]) or "the preset"
                known = ", ".join(node) if isinstance(node, dict) else "none (a number)"
                raise typer.BadParameter(f"--param {item}: {where} has no parameter {k!r}; known: {known}")
            node = node[k]
        if isinstance(node, dict):
            raise typer.BadParameter(
                f"--param {item}: {path} is a group ({', '.join(node)}); give one of its "
                f"parameters, e.g. {path}.{next(iter(node))}=VALUE"
            )
        flat[path] = v
    for path, v in flat.items():
        keys = path.split(".")
        if len(keys) == 1:
            nested[keys[0]] = v
            continue
        group = nested.setdefault(keys[0], {})
        if len(keys) == 2:
            group[keys[1]] = v
        else:  # e.g. initial.volume.LV: the library replaces the whole sub-dict, so start from the preset's
            sub = group.setdefault(keys[1], dict(preset[keys[0]][keys[1]]))
            d = sub
            for k in keys[2:-1]:
                d = d.setdefault(k, dict(d[k]))
            d[keys[-1]] = v
    return nested, flat


def _effective(preset: dict, nested: dict) -> dict:
    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: merge(a[k], b[k]) if k in b else a[k] for k in a}
        return b

    return merge(preset, nested)


def _activation_stats(times, weights) -> dict:
    import numpy as np

    t, w = np.asarray(times, float), np.asarray(weights, float)
    m = w > 0
    t, w = t[m], w[m]
    mean = float(np.sum(w * t) / np.sum(w))
    return {
        "nodes": int(m.sum()),
        "myocardium_mL": float(np.sum(w) / 1000.0),
        "onset_ms": float(t.min()),
        "mean_ms": mean,
        "latest_ms": float(t.max()),
        "dispersion_sd_ms": float(np.sqrt(np.sum(w * (t - mean) ** 2) / np.sum(w))),
    }


def _parse_edv(text: str | None):
    """None, "measured", or {"LV": mL, "RV": mL} from ``--edv``."""
    if text is None:
        return None
    if text.strip().lower() == "measured":
        return "measured"
    out = {}
    for item in text.replace(" ", "").split(","):
        key, eq, value = item.partition("=")
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not eq or key.upper() not in ("LV", "RV") or not (math.isfinite(v) and v > 0) or key.upper() in out:
            raise typer.BadParameter(
                f"--edv must be 'measured' or LV=VALUE,RV=VALUE in mL (e.g. LV=120,RV=186), got {text!r}"
            )
        out[key.upper()] = v
    return out


def _cavity_surface(mesh, chamber: str, source: str) -> str:
    """The surface whose cavity is the chamber's EDV: ``endo_lv`` / ``endo_rv``; else the one surface named like the
    chamber's cavity or endocardium ("LV cavity", "left ventricle endocardium", ...); a closed one wins over open ones."""
    import re

    from .._errors import MeshError
    from ..mesh import cavity

    exact = f"endo_{chamber.lower()}"
    if exact in mesh.surfaces:
        return exact
    side = {"LV": r"(lv|left ventric\w*)", "RV": r"(rv|right ventric\w*)"}[chamber]
    kind = r"(endo\w*|cavity|blood ?pool)"
    pat = re.compile(rf"^({side} {kind}|{kind} {side})$")
    found = [n for n in mesh.surfaces if pat.match(" ".join(re.sub(r"[_\-]+", " ", n).lower().split()))]
    if len(found) > 1:
        closed = []
        for n in found:
            try:
                if cavity(mesh, n).closed:
                    closed.append(n)
            except MeshError:
                pass
        found = closed if len(closed) == 1 else found
    if len(found) == 1:
        return found[0]
    if found:
        raise MeshError(
            f"--edv measured: {source}: several surfaces could be the {chamber} cavity ({', '.join(found)}); "
            f"name the one to use {exact} (`organtwin mesh surfaces`), or give --edv LV=..,RV=.. (mL)"
        )
    return exact  # missing: cavity() says which surfaces there are


def _edv_targets(given, run) -> tuple[dict, dict]:
    """({chamber: mL}, {chamber: where it came from}) for --edv."""
    if given != "measured":
        return dict(given), {c: "(given with --edv)" for c in given}
    from .._errors import MeshError
    from ..mesh import cavity

    targets, where = {}, {}
    for c in ("LV", "RV"):
        name = _cavity_surface(run.mesh, c, run.source)
        try:
            cav = cavity(run.mesh, name)
        except MeshError as e:
            raise MeshError(
                f"--edv measured: {run.source}: {e}; or give the volumes, --edv LV=120,RV=186 (mL)"
            ) from None
        targets[c] = cav.volume_ml
        how = "a closed surface" if cav.closed else f"open, closed at {cav.rims} rim{'s' if cav.rims != 1 else ''}"
        where[c] = f"from the {name} cavity of {run.source} ({how})"
    return targets, where


_CSV_GROUPS = (("pressure", "mmHg"), ("volume", "mL"), ("flow", "mL_per_s"))


def _write_csv(path: Path, res) -> list[str]:
    import numpy as np

    from ..io import atomic_file

    names, cols = ["time_s"], [np.asarray(res.t, float)]
    for group, unit in _CSV_GROUPS:
        for k, v in getattr(res, group).items():
            names.append(f"{group}_{k}_{unit}")
            cols.append(np.asarray(v, float))
    with atomic_file(path) as (fh, _):
        fh.write(",".join(names) + "\n")
        np.savetxt(fh, np.column_stack(cols), fmt="%.10g", delimiter=",")
    return names


def _report(s: dict) -> list[str]:
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


@flow_app.command("circulation")
def circulation(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for circulation.csv, summary.json and the PNGs "
            "(written all or nothing; an earlier organtwin results "
            "folder there is replaced).",
        ),
    ],
    preset: Annotated[
        Preset, typer.Option(help="The closed loop and its published parameters.")
    ] = Preset.regazzoni2022,
    activation: Annotated[
        Path | None,
        typer.Option(
            help="Time the LV and RV contraction by EP activation: an "
            "`organtwin ep run` results folder or a mesh with point data "
            "activation_time (ms), e.g. from `organtwin activate`."
        ),
    ] = None,
    lv_regions: Annotated[
        str | None,
        typer.Option(
            "--lv-regions", help="--activation: LV region id(s), e.g. 1 or 1,3 (default: the regions named LV)."
        ),
    ] = None,
    rv_regions: Annotated[
        str | None, typer.Option("--rv-regions", help="--activation: RV region id(s) (default: the regions named RV).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Override a preset parameter, GROUP.KEY=VALUE "
            "in mmHg, mL, s (e.g. LV.e_active=2.0, "
            "sys.r_ar=1.0, period=0.9); repeat for more.",
        ),
    ] = None,
    edv: Annotated[
        str | None,
        typer.Option(
            "--edv",
            help="Set the ventricles' end-diastolic volumes: 'measured' (the "
            "endo_lv / endo_rv (or 'LV cavity', ...) cavities of the "
            "--activation mesh, "
            "taken as at end-diastole) or LV=120,RV=186 (mL). Rule: "
            "docs/regazzoni2022.md.",
        ),
    ] = None,
    tol: Annotated[float, typer.Option(help="Periodic state: largest relative cycle-to-cycle change.")] = 1e-6,
    max_cycles: Annotated[int, typer.Option("--max-cycles", help="Give up after this many cycles.")] = 200,
):
    """Closed-loop circulation to its periodic beat: pressures, volumes, flows, PV loops and haemodynamic figures."""
    if not (math.isfinite(tol) and tol > 0):
        raise typer.BadParameter(f"--tol must be a positive number, got {tol}")
    if max_cycles < 1:
        raise typer.BadParameter(f"--max-cycles must be at least 1, got {max_cycles}")
    lv_ids = _parse_regions(lv_regions, "--lv-regions")
    rv_ids = _parse_regions(rv_regions, "--rv-regions")
    if activation is None and (lv_ids or rv_ids):
        raise typer.BadParameter("--lv-regions / --rv-regions need --activation")
    edv_given = _parse_edv(edv)
    if edv_given == "measured" and activation is None:
        raise typer.BadParameter(
            "--edv measured takes the cavity volumes of the --activation mesh; give --activation, "
            "or the volumes as --edv LV=120,RV=186 (mL)"
        )

    from ..flow.zerod import REGAZZONI2022

    nested, flat = _parse_params(list(param or []), REGAZZONI2022)

    from ..io import check_output_folder

    check_output_folder(out, inputs=[activation])  # before the run: refuse a folder we could not write or replace
    t0 = time.perf_counter()
    import jax

    jax.config.update("jax_enable_x64", True)  # the user's edge: the periodic-state tolerance needs float64
    import jax.numpy as jnp

    from .. import __version__
    from ..couple import ELECTROMECHANICAL_DELAY_MS, couple_circulation
    from ..flow.zerod import regazzoni2022, regazzoni2022_for_edv, simulate_circulation
    from ..io import RESULTS_MARKER, activation_from_run, results_folder, write_json
    from ..viz import plot_circulation_pressures, plot_circulation_volumes, plot_pv_loops

    params = _effective(REGAZZONI2022, nested)
    circ = regazzoni2022(params=params, dtype=jnp.float64)
    act_doc = edv_doc = run = None
    if activation is not None:
        run = activation_from_run(activation, lv_regions=lv_ids, rv_regions=rv_ids)
        _say(f"{run.regions_text} (of {run.source})")
        circ = couple_circulation(circ, run.activation_ms, run.lv_volume, run.rv_volume)
        act_doc = {
            "source": str(Path(run.source).resolve()),
            "nodes": int(run.activation_ms.size),
            "electromechanical_delay_ms": ELECTROMECHANICAL_DELAY_MS,
            "total_activation_time_ms": run.total_activation_time_ms,
            "lv_regions": list(run.lv_regions),
            "rv_regions": list(run.rv_regions),
            "regions": run.regions_text,
            "LV": _activation_stats(run.activation_ms, run.lv_volume),
            "RV": _activation_stats(run.activation_ms, run.rv_volume),
        }
        lv, rv = act_doc["LV"], act_doc["RV"]
        _say(
            f"activation {run.source}: LV onset {lv['onset_ms']:.1f} ms, mean {lv['mean_ms']:.1f} ms, dispersion "
            f"(SD) {lv['dispersion_sd_ms']:.1f} ms; RV onset {rv['onset_ms']:.1f} ms, mean {rv['mean_ms']:.1f} ms, "
            f"dispersion (SD) {rv['dispersion_sd_ms']:.1f} ms"
        )
    if edv_given is not None:
        targets, where = _edv_targets(edv_given, run)
        for c in ("LV", "RV"):
            if c in targets:
                _say(f"{c} EDV target {targets[c]:.4g} mL {where[c]}")
        first = simulate_circulation(circ, tol=tol, max_cycles=max_cycles)
        params, how = regazzoni2022_for_edv(params, first.metrics, targets)
        circ = regazzoni2022(params=params, dtype=jnp.float64)
        if run is not None:
            circ = couple_circulation(circ, run.activation_ms, run.lv_volume, run.rv_volume)
        edv_doc = {
            "target_mL": targets,
            "source": where,
            **how,
            "before_mL": {c: first.metrics[c]["EDV_mL"] for c in ("LV", "RV")},
        }
        _say(f"chambers set for the EDV: {how['rule']}")
    t1 = time.perf_counter()
    res = simulate_circulation(circ, tol=tol, max_cycles=max_cycles)  # solver failures: one-line NetworkError
    run_s = time.perf_counter() - t1
    if edv_doc is not None:
        sim = {c: res.metrics[c]["EDV_mL"] for c in ("LV", "RV")}
        dev = {c: 100.0 * (sim[c] / t - 1.0) for c, t in edv_doc["target_mL"].items()}
        edv_doc.update(simulated_mL=sim, deviation_percent=dev)
        _say(
            "simulated EDV "
            + ", ".join(
                f"{c} {sim[c]:.4g} mL"
                + (f" (target {edv_doc['target_mL'][c]:.4g} mL, {dev[c]:+.2f} %)" if c in dev else "")
                for c in ("LV", "RV")
            )
        )
        off = {c: d for c, d in dev.items() if abs(d) > 3.0}
        if off:
            import warnings

            from .._errors import MeshWarning

            warnings.warn(
                f"--edv: the simulated EDV misses the target by more than 3 % ("
                f"{', '.join(f'{c} {d:+.1f} %' for c, d in off.items())})",
                MeshWarning,
                stacklevel=2,
            )
    bv = res.blood_volume
    summary = {
        RESULTS_MARKER: {"kind": "flow circulation", "organtwin_version": __version__},
        "preset": preset.value,
        "parameter_overrides": flat,
        "parameters": params,
        "period_s": float(circ.period),
        "heart_rate_per_min": 60.0 / float(circ.period),
        "dtype": "float64",
        "tol": tol,
        "cycles_to_periodic_state": res.cycles,
        "cycle_change": res.change,
        "blood_volume_mL": float(bv.mean()),
        "blood_volume_ptp_mL": float(bv.max() - bv.min()),
        "activation": act_doc,
        "edv": edv_doc,
        "metrics": res.metrics,
        "timing": {"run_s": run_s, "wall_s": time.perf_counter() - t0},
        "files": ["circulation.csv", "summary.json", "pv_loops.png", "pressures.png", "volumes.png"],
    }
    title = f"organtwin: {preset.value}" + (f", activation {Path(act_doc['source']).name}" if act_doc else "")
    with results_folder(out, kind="flow circulation") as tmp:
        summary["columns"] = _write_csv(tmp / "circulation.csv", res)
        plot_pv_loops(res, tmp / "pv_loops.png", title=title)
        plot_circulation_pressures(res, tmp / "pressures.png", title=title)
        plot_circulation_volumes(res, tmp / "volumes.png", title=title)
        write_json(tmp / "summary.json", summary)
    _say(
        f"{preset.value}{' with ' + ', '.join(f'{k}={v:g}' for k, v in flat.items()) if flat else ''}: period "
        f"{summary['period_s']:g} s; periodic after {res.cycles} cycles (change {res.change:.1e}) in {run_s:.1f} s; "
        f"blood volume {summary['blood_volume_mL']:.1f} mL conserved to {summary['blood_volume_ptp_mL']:.1e} mL"
    )
    for line in _report(summary):
        _say(line)
    _say(f"wrote {out}: {', '.join(summary['files'])} in {time.perf_counter() - t0:.1f} s")

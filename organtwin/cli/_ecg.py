"""`organtwin ecg SOURCE --out DIR`: the 12-lead ECG of one beat, its features and an ECG print.

SOURCE is either a mesh with point data ``activation_time`` (ms; e.g. from `organtwin activate`), turned into Vm(x, t)
by the action-potential template (organtwin.ep.APTemplate), or an `organtwin ep run` results folder, whose Vm snapshots
(vm.pvd) are used as they are (record them every 1-2 ms for a usable ECG). Electrode positions: the standard ones on
the skin of a chest generated around the heart, sized from its ventricles and placed from its axis (LV/RV regions,
'base' surface if any; organtwin.ecg.chest_for_heart, printed: chest size and each electrode's distance to the heart)
or a CSV file of ``name,x,y,z`` (mm) rows for RA, LA, LL, V1..V6. The potentials are the pseudo-ECG of an infinite
homogeneous medium (x2 for electrodes on the insulating skin), or with ``--torso`` the lead-field ECG of that chest
meshed as a homogeneous torso (organtwin.ecg.torso_for_heart). The QRS amplitudes are compared with published adult
limits (organtwin.ecg.qrs_amplitude_check; the source is printed).
Writes the results folder DIR all or nothing (organtwin.io.results_folder): ecg.csv (t_ms and the 12 leads in mV),
features.json, ecg.png and summary.json (which lists the folder's files: docs/results-folders.md). DIR may not lie
inside another results folder (an `organtwin ep run` folder: use `ep run --ecg`, which writes RUN/ecg in its own
transaction).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from ._mesh_options import NameMap, RegionNames, read_mesh_cli

__all__ = ["ecg"]


def _read_electrodes(path: Path) -> dict:
    import numpy as np

    from ..ecg import ELECTRODE_NAMES

    out = {}
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as e:
        raise ValueError(f"--electrodes: cannot read {path}: {e.strerror or e}") from None
    for i, row in enumerate(rows, 1):
        if not row or row[0].strip().lower() in ("name", "") or row[0].startswith("#"):
            continue
        try:
            name, x, y, z = (c.strip() for c in row)
            p = np.array([float(x), float(y), float(z)])
        except ValueError:
            raise ValueError(f"{path}:{i}: expected 'name,x,y,z' (mm), got {','.join(row)!r}") from None
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{path}:{i}: non-finite coordinate in {','.join(row)!r}")
        out[name] = p
    missing = [n for n in ELECTRODE_NAMES if n not in out]
    if missing:
        raise ValueError(f"{path}: missing electrode(s) {', '.join(missing)}; need {', '.join(ELECTRODE_NAMES)}")
    return out


def _vm_from_run(folder: Path):
    """(mesh, times (k,), Vm (k, nodes)) from an `organtwin ep run` folder's vm.pvd."""
    from ..io import read_snapshot_series

    mesh, times, vm = read_snapshot_series(folder)
    if not mesh.region_names:  # a run folder from before the VTU files carried the names: take summary.json's
        from ..couple._read import _names_from_summary

        present = set(mesh.region_ids.tolist())
        names = {k: v for k, v in _names_from_summary(folder).items() if k in present}
        if names:
            mesh = mesh.replace(region_names=names)
    if times.size < 3:
        raise ValueError(
            f"{folder / 'vm.pvd'}: {times.size} snapshots; an ECG needs a Vm series (snapshot_every 1-2 ms)"
        )
    return mesh, times, vm


def ecg_placement(mesh, *, lv=None, rv=None):
    """The generated chest and its electrodes around ``mesh`` (`organtwin.ecg.chest_for_heart`), with the CLI's advice
    in the error; cheap: `organtwin ep run --ecg` calls it before the run."""
    from ..ecg import chest_for_heart

    try:
        return chest_for_heart(mesh, lv=lv, rv=rv)
    except ValueError as e:
        raise ValueError(f"{e}; or give --electrodes FILE.csv (name,x,y,z in mm)") from None


def compute_ecg(
    mesh,
    times,
    vm,
    *,
    electrodes: dict | None = None,
    placement=None,
    sigma_i: float = 0.1,
    sigma_b: float = 0.2,
    torso: bool = False,
    source: str = "",
    lv=None,
    rv=None,
) -> dict:
    """The 12-lead ECG of Vm (times, nodes) on ``mesh``, nothing written: ``{"signal": (times (k,) ms, leads (k, 12)
    mV), "doc" (what features.json holds), "subtitle", "source", "method", "placement", "amplitudes"}`` and the
    features (`organtwin.ecg.ecg_features`).
    ``placement``: a `ChestPlacement` already computed (`ecg_placement`), else it is computed here."""
    import jax.numpy as jnp
    import numpy as np

    from ..ecg import (
        ELECTRODE_NAMES,
        SKIN_FACTOR,
        ecg_features,
        pseudo_ecg,
        pseudo_ecg_matrix,
        qrs_amplitude_check,
        twelve_leads,
    )

    el = electrodes
    if el is None:
        placement = placement if placement is not None else ecg_placement(mesh, lv=lv, rv=rv)
        el = placement.electrodes
        where = "standard positions on the skin of a " + placement.summary()
    else:
        from scipy.spatial import cKDTree

        placement = None
        pos = np.stack([np.asarray(el[n], float) for n in ELECTRODE_NAMES])
        d, _ = cKDTree(np.asarray(mesh.points, float)).query(pos)
        where = "electrodes from the file; distance to the heart (mm): " + ", ".join(
            f"{n} {v:.3g}" for n, v in zip(ELECTRODE_NAMES, d)
        )
    if torso:
        from ..ecg import lead_field_matrix, torso_for_heart, torso_lead_fields

        torso_mesh, standard = torso_for_heart(mesh, lv=lv, rv=rv, placement=placement)
        el = standard if placement is not None else el
        fields = torso_lead_fields(torso_mesh, np.stack([el[n] for n in ELECTRODE_NAMES]), sigma_b=sigma_b)
        el = {n: np.asarray(torso_mesh.points)[k] for n, k in zip(ELECTRODE_NAMES, fields.electrode_nodes)}
        L = lead_field_matrix(mesh.points, mesh.tets, sigma_i, fields)
        method = f"lead field in a generated torso ({torso_mesh.n_nodes} nodes), electrodes on its skin"
    else:
        pos = np.stack([el[n] for n in ELECTRODE_NAMES])
        L = SKIN_FACTOR * pseudo_ecg_matrix(
            jnp.asarray(mesh.points), jnp.asarray(mesh.tets), sigma_i, jnp.asarray(pos), sigma_b=sigma_b
        )
        method = f"pseudo-ECG (infinite homogeneous medium, x{SKIN_FACTOR:g} for electrodes on the skin)"
    leads = np.asarray(twelve_leads(pseudo_ecg(L, jnp.asarray(vm))), float)
    feats = ecg_features(times, leads)
    amp = qrs_amplitude_check(feats) if feats.get("leads") else None
    if amp is None:
        amp_text = "QRS amplitudes: none (a flat ECG)"
    else:
        amp_text = (
            f"QRS amplitudes: largest limb lead {amp['limb_peak_to_peak_mV']:.2f} mV, precordial "
            f"{amp['precordial_peak_to_peak_mV']:.2f} mV peak to peak; "
            + (
                "within the normal adult limits"
                if amp["normal"]
                else "outside the normal adult limits: " + "; ".join(amp["findings"])
            )
            + f" ({amp['source']})"
        )
    doc = {
        "source": source,
        "method": method,
        "sigma_i_S_per_m": sigma_i,
        "sigma_b_S_per_m": sigma_b,
        "electrode_placement": where,
        "amplitude_check": amp,
        "electrodes_mm": {k: np.asarray(v).tolist() for k, v in el.items()},
        **feats,
    }
    trunc = "; the QRS had not ended by the end of the record" if feats.get("qrs_truncated") else ""
    return {
        "signal": (np.asarray(times, float), leads),
        "doc": doc,
        "source": source,
        "subtitle": f"{method}; sigma_i {sigma_i:g} S/m, sigma_b {sigma_b:g} S/m{trunc}",
        "method": method,
        "placement": where,
        "amplitudes": amp_text,
        **feats,
    }


ECG_FILES = ("ecg.csv", "features.json", "ecg.png")


def write_ecg_files(folder: Path, ecg: dict) -> list[str]:
    """Write ``folder``/ecg.csv, features.json, ecg.png of a `compute_ecg` result (the folder is created; call it inside
    a `results_folder`). Returns the names written."""
    import numpy as np

    from ..ecg import LEAD_NAMES
    from ..io import atomic_file, write_json
    from ..viz import plot_12lead

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    times, leads = ecg["signal"]
    with atomic_file(folder / "ecg.csv") as (fh, _):
        fh.write("t_ms," + ",".join(f"{n}_mV" for n in LEAD_NAMES) + "\n")
        np.savetxt(fh, np.column_stack([times, leads]), fmt="%.6g", delimiter=",")
    write_json(folder / "features.json", ecg["doc"])
    plot_12lead(
        times, leads, folder / "ecg.png", title=f"organtwin: {Path(ecg['source']).name}", subtitle=ecg["subtitle"]
    )
    return list(ECG_FILES)


def write_ecg(
    mesh,
    times,
    vm,
    out: Path,
    *,
    electrodes: dict | None = None,
    sigma_i: float = 0.1,
    sigma_b: float = 0.2,
    torso: bool = False,
    source: str = "",
    lv=None,
    rv=None,
    placement=None,
) -> dict:
    """Compute the 12-lead ECG of Vm (times, nodes) on ``mesh`` and write the results folder OUT (all or nothing,
    `organtwin.io.results_folder`): ecg.csv, features.json, ecg.png and summary.json (marker and manifest).

    Standard electrodes: on the skin of the chest generated around the heart (`organtwin.ecg.chest_for_heart`), the
    same positions for the pseudo-ECG and the torso. The pseudo-ECG of electrodes on the skin is the infinite-medium
    potential times `organtwin.ecg.SKIN_FACTOR` (2: the insulating skin, by the method of images near a flat
    boundary; the torso lead field needs no such factor). The returned dict adds ``placement`` (a line: where the
    electrodes are) and ``amplitudes`` (the QRS amplitudes against published adult limits,
    `organtwin.ecg.qrs_amplitude_check`)."""
    from .. import __version__
    from ..io import RESULTS_MARKER, results_folder, write_json

    ecg = compute_ecg(
        mesh,
        times,
        vm,
        electrodes=electrodes,
        placement=placement,
        sigma_i=sigma_i,
        sigma_b=sigma_b,
        torso=torso,
        source=source,
        lv=lv,
        rv=rv,
    )
    with results_folder(out, kind="ecg") as tmp:
        files = write_ecg_files(tmp, ecg)
        write_json(
            tmp / "summary.json",
            {
                RESULTS_MARKER: {"kind": "ecg", "organtwin_version": __version__},
                "source": source,
                "method": ecg["method"],
                "files": files + ["summary.json"],
            },
        )
    return {k: v for k, v in ecg.items() if k not in ("signal", "doc", "subtitle", "source")}


def ecg_report_lines(feats: dict, what: str, n_nodes: int) -> list[str]:
    """What `organtwin ecg` (and `ep run --ecg`) print about an ECG written by `write_ecg`."""
    lines = [f"ECG from {what}: {n_nodes} nodes; {feats['method']}", f"electrodes: {feats['placement']}"]
    if feats["qrs_duration_ms"] is not None:
        lines.append(
            f"QRS {feats['qrs_onset_ms']:.4g} .. {feats['qrs_offset_ms']:.4g} ms (duration "
            f"{feats['qrs_duration_ms']:.4g} ms), axis {feats['axis_deg']:.0f} deg"
        )
    elif feats.get("qrs_truncated"):
        lines.append(
            f"QRS from {feats['qrs_onset_ms']:.4g} ms, duration >= {feats['qrs_duration_min_ms']:.4g} ms "
            f"(truncated: the record ends before the QRS does), axis {feats['axis_deg']:.0f} deg"
        )
    lines.append(feats["amplitudes"])
    return lines


def ecg(
    source: Annotated[
        Path,
        typer.Argument(
            help="A mesh with point data activation_time (ms), or an `organtwin ep run` results folder (Vm snapshots)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Results folder for ecg.csv, features.json, ecg.png and "
            "summary.json (written all or nothing; an earlier "
            "organtwin results folder there is replaced).",
        ),
    ],
    electrodes: Annotated[
        Path | None,
        typer.Option(
            help="CSV of name,x,y,z (mm) for RA, LA, LL, V1..V6; default: standard positions from the heart's axis."
        ),
    ] = None,
    sigma_i: Annotated[
        float,
        typer.Option(
            "--sigma-i",
            help="Intracellular conductivity, S/m (0.1: about the mean of ~0.2 along and ~0.02 across fibres).",
        ),
    ] = 0.1,
    sigma_b: Annotated[
        float, typer.Option("--sigma-b", help="Volume-conductor (torso) conductivity, S/m (0.2: the average torso).")
    ] = 0.2,
    apd: Annotated[float, typer.Option(help="Activation source only: action-potential duration, ms.")] = 280.0,
    duration: Annotated[float, typer.Option(help="Activation source only: length of the beat, ms.")] = 450.0,
    dt: Annotated[float, typer.Option(help="Activation source only: ECG sampling step, ms.")] = 1.0,
    lv_regions: Annotated[
        str | None,
        typer.Option("--lv-regions", help="LV region id(s), e.g. 1,7 (default: the regions named LV, and a septum)."),
    ] = None,
    rv_regions: Annotated[
        str | None, typer.Option("--rv-regions", help="RV region id(s) (default: the regions named RV).")
    ] = None,
    torso: Annotated[
        bool,
        typer.Option(
            "--torso",
            help="Lead-field ECG in a generated torso around the heart (the "
            "electrodes on its skin) instead of the infinite-medium "
            "pseudo-ECG; needs LV/RV regions.",
        ),
    ] = False,
    region_names: RegionNames = None,
    name_map: NameMap = None,
):
    """The 12-lead ECG (pseudo-ECG) of one beat from activation times or Vm snapshots: CSV, features, ECG print."""
    for name, v in (
        ("--sigma-i", sigma_i),
        ("--sigma-b", sigma_b),
        ("--apd", apd),
        ("--duration", duration),
        ("--dt", dt),
    ):
        if not (math.isfinite(v) and v > 0):
            raise typer.BadParameter(f"{name} must be positive, got {v}")
    t_start = time.perf_counter()
    from ..io import check_output_folder
    from ._flow import _parse_regions

    lv_ids, rv_ids = _parse_regions(lv_regions, "--lv-regions"), _parse_regions(rv_regions, "--rv-regions")
    check_output_folder(out, inputs=[source, electrodes])  # before any heavy work: refuse a folder we may not replace
    import jax.numpy as jnp
    import numpy as np

    el = None if electrodes is None else _read_electrodes(electrodes)  # before any heavy work
    if source.is_dir():
        mesh, times, vm = _vm_from_run(source)
        if region_names:
            from ..mesh import parse_id_names

            names = parse_id_names(region_names, "--region-names")
            unknown = sorted(set(names) - set(mesh.region_ids.tolist()))
            if unknown:
                raise typer.BadParameter(
                    f"--region-names: no region {unknown} in {source} (regions {mesh.region_ids.tolist()})"
                )
            mesh = mesh.replace(region_names={**dict(mesh.region_names), **names})
        what = f"Vm snapshots of {source} ({times.size} times)"
    else:
        from ..mesh import check_mesh

        # fibres play no part in this ECG (a scalar sigma_i): the file's fibre arrays are dropped, unchecked
        mesh = read_mesh_cli(source, region_names=region_names, name_map=name_map, check=False)
        mesh = check_mesh(mesh.replace(fibres=None, sheets=None), source=str(source))
        print("fibres: not used (the pseudo-ECG takes a scalar --sigma-i)", flush=True)
        if "activation_time" not in mesh.point_data:
            raise ValueError(f"{source}: no point data 'activation_time' (write one with `organtwin activate`)")
        act = np.asarray(mesh.point_data["activation_time"], float)
        if not np.isfinite(act).any():  # else a flat, all-zero ECG written with rc 0
            raise ValueError(
                f"{source}: point data 'activation_time' has no finite value ({act.size} nodes, all NaN or "
                "inf: no node activated); check the activation run (its sites and velocities)"
            )
        act = np.where(np.isfinite(act), act, np.inf)
        from ..ecg import ecg_times
        from ..ep import APTemplate

        times = ecg_times(duration, dt, mesh.n_nodes, what="--duration/--dt")  # checked before any array is made
        vm = np.asarray(APTemplate()(jnp.asarray(act), jnp.asarray(times), apd))
        what = f"activation times of {source} with the AP template (APD {apd:g} ms)"
    from ..mesh import ventricle_regions

    if el is None or torso or lv_ids or rv_ids:  # the electrodes are placed from the LV and RV: say which they are
        lv_ids, rv_ids, regions_text = ventricle_regions(mesh, lv_ids, rv_ids, source=str(source))
        print(regions_text, flush=True)
    feats = write_ecg(
        mesh,
        times,
        vm,
        out,
        electrodes=el,
        sigma_i=sigma_i,
        sigma_b=sigma_b,
        torso=torso,
        source=str(source),
        lv=lv_ids,
        rv=rv_ids,
    )
    for line in ecg_report_lines(feats, what, mesh.n_nodes):
        print(line, flush=True)
    print(
        f"wrote {out}: ecg.csv, features.json, ecg.png, summary.json in {time.perf_counter() - t_start:.1f} s",
        flush=True,
    )

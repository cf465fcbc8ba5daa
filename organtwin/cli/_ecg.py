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

import functools
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from ._mesh_options import NameMap, RegionNames, parse_region_list, read_mesh_cli

__all__ = ["ecg"]


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
    from ..ecg import activation_times, ecg_from_activation, ecg_from_vm, ecg_times
    from ..io import check_output_folder, ecg_placement, read_electrodes_csv, read_vm_series, write_ecg_folder
    from ..mesh import check_mesh, parse_id_names, ventricle_regions

    lv_ids, rv_ids = parse_region_list(lv_regions, "--lv-regions"), parse_region_list(rv_regions, "--rv-regions")
    check_output_folder(out, inputs=[source, electrodes])  # before any heavy work: refuse a folder we may not replace
    el = None if electrodes is None else read_electrodes_csv(electrodes)  # before any heavy work
    if source.is_dir():
        mesh, times, vm = read_vm_series(source)
        names = parse_id_names(region_names, "--region-names") or {}
        unknown = sorted(set(names) - set(mesh.region_ids.tolist()))
        if unknown:
            raise typer.BadParameter(
                f"--region-names: no region {unknown} in {source} (regions {mesh.region_ids.tolist()})"
            )
        mesh = mesh.replace(region_names={**dict(mesh.region_names), **names}) if names else mesh
        what = f"Vm snapshots of {source} ({times.size} times)"
        compute = functools.partial(ecg_from_vm, mesh, times, vm)
    else:  # fibres play no part in this ECG (a scalar sigma_i): the file's fibre arrays are dropped, unchecked
        mesh = read_mesh_cli(source, region_names=region_names, name_map=name_map, check=False)
        mesh = check_mesh(mesh.replace(fibres=None, sheets=None), source=str(source))
        print("fibres: not used (the pseudo-ECG takes a scalar --sigma-i)", flush=True)
        act = activation_times(mesh, source=str(source))  # checked before the samples are made
        times = ecg_times(duration, dt, mesh.n_nodes, what="--duration/--dt")
        what = f"activation times of {source} with the AP template (APD {apd:g} ms)"
        compute = functools.partial(ecg_from_activation, mesh, act, times, apd=apd)
    placement = None
    if el is None or torso or lv_ids or rv_ids:  # the electrodes are placed from the LV and RV: say which they are
        lv_ids, rv_ids, regions_text = ventricle_regions(mesh, lv_ids, rv_ids, source=str(source))
        print(regions_text, flush=True)
    if el is None:
        placement = ecg_placement(mesh, lv=lv_ids, rv=rv_ids)
    result = compute(
        electrodes=el, placement=placement, sigma_i=sigma_i, sigma_b=sigma_b, torso=torso, lv=lv_ids, rv=rv_ids
    )
    write_ecg_folder(out, result, source=str(source))
    for line in result.describe(what, mesh.n_nodes):
        print(line, flush=True)
    print(
        f"wrote {out}: ecg.csv, features.json, ecg.png, summary.json in {time.perf_counter() - t_start:.1f} s",
        flush=True,
    )

"""Writers for simulation results: VTU files (ParaView, meshio, pyvista), a .pvd time series, probe CSV, summary JSON.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), and a whole results folder
is written through `results_folder`: into a hidden temporary folder next to the target, moved into place only when every
file is complete. A failure leaves no partial folder (an existing results folder from an earlier run is kept until the
new one is complete, then replaced).

Point data of ``activation.vtu`` (float, ms): ``activation_time``, and with repolarisation ``repolarisation_time`` and
``apd``; with beats ``activation_count`` and ``last_activation_time``. Nodes that never activated (repolarised) hold NaN
(ParaView shows them in its NaN colour). Vm snapshots: point data ``Vm`` (mV) in ``vm/vm_0000.vtu``, ... and ``vm.pvd``
lists them with their times in ms. ``activation.vtu`` carries the whole mesh as `organtwin.mesh.write_mesh` writes it,
so `read_mesh` gives it back: cell data ``region`` (the region id of each tet; the surface tag of each triangle), the
surfaces as triangle cells, ``fibres`` / ``sheets``, the other cell and point fields, node sets, region and surface names
as FieldData; the Vm snapshots carry all but the fibres, sheets and cell fields (repeated in every file they would make
a long series many times larger). So
`organtwin ecg RUN_DIR`, `organtwin flow circulation --activation RUN_DIR` and `organtwin mesh render` work on it.

The VTU files are written by `organtwin.io._vtu.VtuWriter` (binary, zlib, the geometry encoded once per series);
ParaView/VTK, pyvista and meshio read them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from ._vtu import VtuWriter, read_vtu_point_array

__all__ = [
    "ResultsError",
    "atomic_file",
    "results_folder",
    "check_output_folder",
    "write_vtu",
    "write_pvd",
    "write_snapshot_series",
    "read_snapshot_series",
    "write_activation_vtu",
    "write_probes_csv",
    "write_json",
    "RESULTS_MARKER",
]

#: The key of summary.json that marks a folder as organtwin results (such a folder may be replaced by a new run).
RESULTS_MARKER = "organtwin_results"


class ResultsError(OSError):
    """Results could not be written (one-line message; nothing partial is left behind)."""


def _line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _normal_mode(path, folder: bool) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries: give results the usual permissions (umask applied)."""
    with contextlib.suppress(OSError):
        os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


# ====================================================================================================== atomic files
@contextlib.contextmanager
def atomic_file(path, mode: str = "w"):
    """Open a temporary file next to ``path`` for writing; on success it replaces ``path`` (``os.replace``).

    Yields ``(handle, temp_path)``: the handle is None for ``mode=None`` (the caller writes ``temp_path`` itself, e.g.
    meshio). On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if mode is None:
            yield None, Path(tmp)
        else:
            with open(tmp, mode, encoding=None if "b" in mode else "utf-8", newline=None if "b" in mode else "\n") as fh:
                yield fh, Path(tmp)
        _normal_mode(tmp, folder=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _is_results_folder(folder: Path) -> bool:
    summary = folder / "summary.json"
    if not summary.is_file():
        return False
    try:
        return RESULTS_MARKER in json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def check_output_folder(folder) -> Path:
    """Check that results can go to ``folder`` (call it before a long run): it does not exist, is empty, or holds
    earlier organtwin results; and its parent can be created and written. Raises `ResultsError` (one line)."""
    folder = Path(folder).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise ResultsError(f"--out {folder}: exists and is a file, not a folder; choose another output folder")
        if any(folder.iterdir()) and not _is_results_folder(folder):
            raise ResultsError(f"--out {folder}: the folder exists and holds other files (not organtwin results); "
                               "choose a new or empty folder")
    ancestor = Path(os.path.abspath(folder)).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ResultsError(f"--out {folder}: cannot write in {ancestor} (permission denied)")
    return folder


@contextlib.contextmanager
def results_folder(folder):
    """Write a results folder all-or-nothing: yields a temporary folder beside ``folder``; on success it becomes
    ``folder`` (replacing an earlier organtwin results folder there), on failure it is removed.

    Raises `ResultsError` (one line) if the folder cannot be written; the original exception of a failed writer is
    turned into one line saying that nothing was written.
    """
    folder = check_output_folder(folder)
    parent = Path(os.path.abspath(folder)).parent  # not resolve(): a symlinked --out is replaced, not its target
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=parent))
        _normal_mode(tmp, folder=True)
    except OSError as e:
        raise ResultsError(f"cannot write results to {folder}: {_line(e)}") from None
    try:
        try:
            yield tmp
        except (OSError, ValueError, TypeError, RuntimeError) as e:
            raise ResultsError(f"could not write results to {folder} ({_line(e)}); nothing was written") from None
        target = parent / folder.name
        old = None
        try:
            if target.exists():
                if any(target.iterdir()) and not _is_results_folder(target):  # appeared during the run
                    raise ResultsError(f"--out {folder}: the folder now holds other files; nothing was written")
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=parent))
                os.replace(target, old / "previous")
            os.replace(tmp, target)
        except ResultsError:
            raise
        except OSError as e:
            if old is not None and (old / "previous").exists() and not target.exists():
                os.replace(old / "previous", target)  # put the earlier results back
            raise ResultsError(f"could not move the results into {folder} ({_line(e)}); nothing was written") from None
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ====================================================================================================== VTU / PVD
def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = np.where(np.isfinite(a), a, np.nan)
    return a


def write_vtu(path, points, tets, *, point_data: dict | None = None, cell_data: dict | None = None,
              compress: bool = True) -> Path:
    """Write a tetrahedral mesh with point and cell fields as a binary VTU (atomically). Non-finite values become NaN."""
    writer = VtuWriter(points, tets, {k: _finite_or_nan(v) for k, v in (cell_data or {}).items()}, compress=compress)
    return writer.write(path, {k: _finite_or_nan(v) for k, v in (point_data or {}).items()})


def _writer(mesh, cell_fields: bool = True) -> VtuWriter:
    """The writer of a results mesh: regions and names, surfaces, node sets, and with ``cell_fields`` fibres, sheets and
    the other cell fields (`VtuWriter.for_mesh`)."""
    return VtuWriter.for_mesh(mesh, cell_fields=cell_fields)


def write_pvd(path, entries: Iterable[tuple[float, str]]) -> Path:
    """A ParaView collection (.pvd) of ``(time, relative file name)`` entries."""
    lines = ['<?xml version="1.0"?>',
             '<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">',
             "  <Collection>"]
    for t, name in entries:
        lines.append(f'    <DataSet timestep={quoteattr(repr(float(t)))} group="" part="0" file={quoteattr(str(name))}/>')
    lines += ["  </Collection>", "</VTKFile>", ""]
    with atomic_file(path) as (fh, _):
        fh.write("\n".join(lines))
    return Path(path)


def write_snapshot_series(folder, mesh, times: Sequence[float], snapshots, *, name: str = "vm", field: str = "Vm",
                          writer: VtuWriter | None = None) -> list[Path]:
    """Vm snapshots as ``folder/<name>/<name>_0000.vtu ...`` plus ``folder/<name>.pvd``. Returns the files written.

    The geometry (with the regions, their names, the surfaces and node sets; not the fibres, sheets or other cell
    fields, which would be repeated in every file) is encoded once for the whole series (pass ``writer`` to share it).
    """
    folder = Path(folder)
    sub = folder / name
    sub.mkdir(parents=True, exist_ok=True)
    snaps = np.asarray(snapshots)
    writer = writer or _writer(mesh, cell_fields=False)
    entries, written = [], []
    width = max(4, len(str(len(times) - 1)))
    for k, (t, v) in enumerate(zip(times, snaps)):
        rel = f"{name}/{name}_{k:0{width}d}.vtu"
        written.append(writer.write(folder / rel, {field: _finite_or_nan(v)}))
        entries.append((float(t), rel))
    written.append(write_pvd(folder / f"{name}.pvd", entries))
    return written


def read_snapshot_series(folder, *, name: str = "vm", field: str = "Vm"):
    """The series `write_snapshot_series` wrote: ``(mesh, times (k,) ms, snapshots (k, nodes))`` from
    ``folder/<name>.pvd`` and the VTU files it lists (the mesh read from the first). One-line ValueError when the
    collection is missing or unreadable, or a file lacks the point data ``field``."""
    import xml.etree.ElementTree as ET

    from ..mesh import read_mesh

    folder = Path(folder)
    pvd = folder / f"{name}.pvd"
    if not pvd.is_file():
        raise ValueError(f"{folder}: no {name}.pvd (an `organtwin ep run` folder with [record] snapshot_every)")
    try:
        entries = [(float(d.get("timestep")), folder / d.get("file")) for d in ET.parse(pvd).getroot().iter("DataSet")]
    except (ET.ParseError, TypeError, ValueError) as e:
        raise ValueError(f"{pvd}: not a readable ParaView collection ({e})") from None
    if not entries:
        raise ValueError(f"{pvd}: lists no snapshots")
    import meshio

    mesh = read_mesh(entries[0][1])
    values = []
    for k, (_, f) in enumerate(entries):
        if k == 0:
            data = mesh.point_data
        else:  # the same mesh in every file: read only the point data (no mesh checks again)
            try:
                fast = read_vtu_point_array(f, field)
                data = {field: fast} if fast is not None else meshio.read(f, file_format="vtu").point_data
            except Exception as e:
                raise ValueError(f"{f}: not a readable VTU file ({_line(e)})") from None
            if field in data and np.asarray(data[field]).shape[0] != mesh.n_nodes:
                raise ValueError(f"{f}: {np.asarray(data[field]).shape[0]} points, the series' first file has "
                                 f"{mesh.n_nodes}")
        if field not in data:
            raise ValueError(f"{f}: no point data {field!r}")
        values.append(np.asarray(data[field], float).reshape(-1))
    return mesh, np.array([t for t, _ in entries]), np.stack(values)


def write_activation_vtu(path, mesh, result, *, writer: VtuWriter | None = None) -> Path:
    """Activation, repolarisation and APD (ms) as point data on the mesh, NaN where a node never activated; the mesh's
    regions, names, surfaces, fibres, sheets, node sets and its own point fields go with them (`VtuWriter.for_mesh`)."""
    point_data = {str(k): v for k, v in mesh.point_data.items()}
    for key, attr in (("activation_time", "activation"), ("repolarisation_time", "repolarisation"), ("apd", "apd"),
                      ("activation_count", "activation_count"), ("last_activation_time", "last_activation")):
        value = getattr(result, attr, None)
        if value is not None:
            point_data[key] = _finite_or_nan(value)
    return (writer or _writer(mesh)).write(path, point_data)


def write_probes_csv(path, times, values, names: Sequence[str], *, unit: str = "mV") -> Path:
    """Probe traces: a header ``t_ms,<name>_mV,...`` and one row per sample."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(len(times), -1)
    if values.shape[1] != len(names):
        raise ValueError(f"write_probes_csv: {values.shape[1]} traces but {len(names)} names")
    header = ",".join(["t_ms"] + [f"{_csv_name(n)}_{unit}" for n in names])
    with atomic_file(path) as (fh, _):
        fh.write(header + "\n")
        np.savetxt(fh, np.column_stack([times, values]), fmt=["%.6g"] + ["%.6f"] * values.shape[1], delimiter=",")
    return Path(path)


def _csv_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in str(name))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path, data: dict) -> Path:
    """JSON (indented, non-finite numbers as null), atomically."""
    with atomic_file(path) as (fh, _):
        json.dump(_jsonable(data), fh, indent=2, allow_nan=False)
        fh.write("\n")
    return Path(path)


# ====================================================================================================== an EP run's folder
def _stats(a, finite_only=True) -> dict:
    a = np.asarray(a, dtype=np.float64)
    ok = a[np.isfinite(a)] if finite_only else a
    if ok.size == 0:
        return {"count": 0}
    return {"count": int(ok.size), "min": float(ok.min()), "mean": float(ok.mean()), "max": float(ok.max())}


def ep_summary(prepared, outcome, *, files: Sequence[str] = (), write_seconds: float | None = None) -> dict:
    """The summary of a monodomain case run (what summary.json holds): sizes, timings, activation statistics, the case
    echoed back with every quantity in its resolved unit."""
    from .. import __version__

    config, mesh, result = prepared.config, prepared.mesh, outcome.result
    n, steps = mesh.n_nodes, int(result.n_steps)
    names = dict(mesh.region_names)
    regions = {}
    for r in mesh.region_ids.tolist():
        regions[str(r)] = {"name": names.get(r), "tets": int(np.sum(mesh.regions == r)),
                           "model": prepared.region_models.get(r)}
    timing = {"setup_s": prepared.setup_seconds, "run_s": outcome.wall_seconds}
    if outcome.first_chunk_seconds is not None:
        timing["first_chunk_s"] = outcome.first_chunk_seconds  # compilation + the first chunk of steps
    if outcome.steps_after_first_chunk and outcome.seconds_after_first_chunk:
        # the steady rate: from the end of the first chunk to the end of the last one (no compilation)
        timing["node_steps_per_s"] = n * outcome.steps_after_first_chunk / outcome.seconds_after_first_chunk
    if write_seconds is not None:
        timing["write_s"] = write_seconds
    timing["wall_s"] = sum(v for k, v in timing.items() if k in ("setup_s", "run_s", "write_s"))
    out: dict = {
        RESULTS_MARKER: {"kind": "ep run", "organtwin_version": __version__},
        "case_file": str(Path(config.source).resolve()),
        "title": config.title,
        "mesh": {"source": config.mesh.describe(), "nodes": n, "tets": mesh.n_cells, "regions": regions,
                 "fibres": config.fibres.source if mesh.fibres is not None else "none"},
        "dtype": config.simulation.dtype,
        "dt_ms": float(result.dt),
        "steps": steps,
        "end_time_ms": float(np.asarray(result.final.t)),
        "explicit_stability_limit_ms": prepared.stability_limit,
        "timing": timing,
        **({"tuned_conductivity": {str(r): v for r, v in prepared.tuned_conductivity.items()}}
           if prepared.tuned_conductivity else {}),
        "stimuli": [{"what": s.describe(), "nodes": c} for s, c in zip(config.stimuli, prepared.stimulus_nodes)],
    }
    if result.activation is not None:
        act = np.asarray(result.activation, dtype=np.float64)
        ok = np.isfinite(act)
        a = {"nodes_activated": int(ok.sum()), "nodes": n}
        if ok.any():
            a.update(first_ms=float(act[ok].min()), last_ms=float(act[ok].max()),
                     total_activation_time_ms=float(act[ok].max() - act[ok].min()), mean_ms=float(act[ok].mean()))
        out["activation"] = a
    if result.repolarisation is not None:
        rep = np.asarray(result.repolarisation, dtype=np.float64)
        ok = np.isfinite(rep)
        r = {"nodes_repolarised": int(ok.sum())}
        if ok.any():
            r.update(first_ms=float(rep[ok].min()), last_ms=float(rep[ok].max()))
        out["repolarisation"] = r
        apd = _stats(result.apd)
        out["apd_ms"] = apd
    if result.activation_count is not None:
        out["beats"] = _stats(result.activation_count, finite_only=False)
    if result.snapshot_times is not None:
        out["snapshots"] = {"count": int(np.asarray(result.snapshot_times).size),
                            "times_ms": np.asarray(result.snapshot_times, dtype=np.float64).round(9).tolist()}
    if result.probes is not None:
        r = config.record
        out["probes"] = {"points_mm": {name: list(p) for name, p in zip(r.probe_names, r.probes)},
                         "samples": int(np.asarray(result.probe_times).size),
                         "every_ms": float(np.asarray(result.probe_times)[1] - np.asarray(result.probe_times)[0])
                         if np.asarray(result.probe_times).size > 1 else None}
    out["files"] = list(files)
    out["case"] = config.to_dict()
    return out


def write_ep_results(folder, prepared, outcome) -> dict:
    """Write the outputs of a monodomain case into ``folder``, all or nothing (see `results_folder`):

    ``activation.vtu`` (when activation is recorded), ``vm/vm_XXXX.vtu`` + ``vm.pvd`` (snapshots), ``probes.csv``
    (probes), ``summary.json`` (always, written last). Returns the summary.
    """
    import time

    t0 = time.perf_counter()
    mesh, result, config = prepared.mesh, outcome.result, prepared.config
    with results_folder(folder) as tmp:
        files = []
        if result.activation is not None:
            write_activation_vtu(tmp / "activation.vtu", mesh, result)
            files.append("activation.vtu")
        if result.snapshots is not None:
            written = write_snapshot_series(tmp, mesh, np.asarray(result.snapshot_times), np.asarray(result.snapshots))
            files += [str(Path(p).relative_to(tmp)) for p in written]
        if result.probes is not None:
            write_probes_csv(tmp / "probes.csv", np.asarray(result.probe_times), np.asarray(result.probes),
                             config.record.probe_names)
            files.append("probes.csv")
        files.append("summary.json")
        summary = ep_summary(prepared, outcome, files=files, write_seconds=time.perf_counter() - t0)
        write_json(tmp / "summary.json", summary)
    return summary

"""Writers for simulation results: VTU files (ParaView, meshio, pyvista), a .pvd time series, probe CSV, summary JSON.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), and a whole results folder
is written through `results_folder`: into a hidden temporary folder next to the target, moved into place only when every
file is complete. A failure or an interrupt leaves no partial folder (an existing results folder from an earlier run is
kept until the new one is complete, then replaced).

Results folders and what may be replaced (docs/results-folders.md):

- **The manifest.** Every results folder's ``summary.json`` holds the key ``organtwin_results`` (the marker: which
  command wrote it) and ``manifest``: ``{"files": {"relative/path": size in bytes, ...}}``, every file of the folder
  but summary.json itself (sub-folders are implied by the paths). `results_folder` adds both when the writer is done
  (it writes summary.json itself for a writer that has none, e.g. `organtwin ecg`).
- **Replacing.** An existing folder is replaced only when it is empty, or when every entry in it is listed in its
  manifest (whose list still matches its seal, ``"sha256"``: a list edited by hand is refused) with the size listed (a regular file; never a link). Anything else (a file of the user's, a listed file
  whose size changed, a sub-folder no listed path needs, a link) is "in the way": the command refuses before the work,
  naming the first few entries and their count, and says how to fix it (choose another ``--out`` or move them out).
  A folder written before the manifest (summary.json with the marker but no ``manifest``) is accepted only when every
  entry is in its summary's own ``files`` list (what `organtwin ep run` and `organtwin flow circulation` wrote then);
  otherwise (e.g. an old calibration folder, which listed no files) it is refused as "not provably organtwin's".
- **Nesting.** A results folder is never written inside another one (``organtwin ecg RUN --out RUN/ecg``): the next run
  into RUN would replace it whole. That is refused with a line saying so (`organtwin ep run --ecg` writes its ECG into
  RUN/ecg inside RUN's own transaction and manifest instead). ``--out`` may not be the current folder or hold it, nor
  hold an input of the command (``inputs=``).
- **Temporary names and dead processes.** The temporary folder is ``.<name>.<pid>-<host>.<random>.partial`` beside the
  target (``.old`` for the earlier results while they are swapped; ``.<file>.<pid>-<host>.<random>.tmp`` for a single
  file). The next write into the same place removes those whose process is gone (same host, pid no longer running);
  those of live processes and of other hosts are kept. An ``.old`` folder whose target is missing (a process killed
  between the two renames) is moved back into place: the earlier results come back, with a warning.
- **Errors** are one-line `ResultsError` s naming the file meant (never a temporary name); a full disk reads "disk full
  while writing X; nothing was written". A `KeyboardInterrupt` (or subclass) passing through `results_folder` or
  `atomic_file` gets a PEP 678 note saying what was kept (e.g. "nothing was written to out/run; the earlier results
  there are kept"), the temporary files are removed, and it is re-raised.

Point data of ``activation.vtu`` (float, ms): ``activation_time``, and with repolarisation ``repolarisation_time`` and
``apd``; with beats ``activation_count`` and ``last_activation_time``. Nodes that never activated (repolarised) hold NaN
(ParaView shows them in its NaN colour). Vm snapshots: point data ``Vm`` (mV) in ``vm/vm_0000.vtu``, ... and ``vm.pvd``
lists them with their times in ms. ``activation.vtu`` carries the whole mesh as `organtwin.mesh.write_mesh` writes it,
so `read_mesh` gives it back: cell data ``region`` (the region id of each tet; the surface tag of each triangle), the
surfaces as triangle cells, ``fibres`` / ``sheets``, the other cell and point fields, node sets, region and surface names
as FieldData; the Vm snapshots carry all but the fibres, sheets and cell fields (repeated in every file they would make
a long series many times larger). So
`organtwin ecg RUN_DIR`, `organtwin flow circulation --activation RUN_DIR` and `organtwin mesh render` work on it.

The VTU files are written by `organtwin.io.VtuWriter` (binary, zlib, the geometry encoded once per series; it lives in
organtwin/mesh/_vtu.py and is also `write_mesh`'s .vtu writer); ParaView/VTK, pyvista and meshio read them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from .._atomic import (
    _DISK_FULL,
    _abs,
    _kept_note,
    _line,
    _meant_path,
    _normal_mode,
    _remove,
    _temp_prefix,
    _untemp,
    atomic_file,
    check_output_file,
    clean_stale,
)
from .._errors import InputError
from .._errors import ResultsError as ResultsError
from ..mesh._vtu import VtuWriter, read_vtu_point_array

__all__ = [
    "ResultsError",
    "atomic_file",
    "results_folder",
    "check_output_folder",
    "check_output_file",
    "clean_stale",
    "folder_manifest",
    "write_vtu",
    "write_pvd",
    "write_snapshot_series",
    "read_snapshot_series",
    "write_activation_vtu",
    "write_probes_csv",
    "write_json",
    "RESULTS_MARKER",
    "MANIFEST_KEY",
]

#: The key of summary.json that marks a folder as organtwin results (which command wrote it).
RESULTS_MARKER = "organtwin_results"
#: The key of summary.json listing the folder's own files: ``{"files": {relative path: bytes}}``.
MANIFEST_KEY = "manifest"
_SHOWN = 5  # entries named in a refusal


# ====================================================================================================== manifests
def folder_manifest(folder) -> dict:
    """``{"files": {relative posix path: size in bytes}}`` of every regular file under ``folder`` except
    ``summary.json``, and the list's seal ``"sha256"`` (what `results_folder` stores in summary.json under
    `MANIFEST_KEY`)."""
    folder = Path(folder)
    files = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath) / f
            rel = p.relative_to(folder).as_posix()
            if rel != "summary.json":
                files[rel] = p.lstat().st_size
    return {"files": files, "sha256": _seal(files)}


def _seal(files: dict) -> str:
    """SHA-256 of the file list (canonical JSON): a manifest edited by hand (a user's file added to the list so that
    the next run would replace it) no longer matches its seal, and the folder is refused."""
    return hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _read_summary(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_results_folder(folder: Path) -> bool:
    """summary.json carries the organtwin marker (whether or not every entry is ours: see `_in_the_way`)."""
    doc = _read_summary(folder) if (folder / "summary.json").is_file() else None
    return doc is not None and RESULTS_MARKER in doc


def _in_the_way(folder: Path) -> tuple[list[str], str]:
    """The entries of an existing folder that keep it from being replaced (relative names, sub-folders with a
    trailing /), and why; ``([], "")`` when it is empty or every entry is listed in its manifest."""
    try:
        top = sorted(os.listdir(folder))
    except OSError as e:
        return [folder.name], f"cannot be read ({e.strerror or _line(e)})"
    if not top:
        return [], ""
    doc = _read_summary(folder) if "summary.json" in top else None
    if doc is None or RESULTS_MARKER not in doc:
        return [
            t + ("/" if (folder / t).is_dir() and not (folder / t).is_symlink() else "") for t in top
        ], "not written by organtwin"
    manifest = doc.get(MANIFEST_KEY)
    sizes: dict | None = None
    if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict):
        sizes = {str(k): v for k, v in manifest["files"].items()}
        if "sha256" in manifest and manifest["sha256"] != _seal(manifest["files"]):
            return [
                t + ("/" if (folder / t).is_dir() and not (folder / t).is_symlink() else "") for t in top
            ], "its manifest (summary.json) was edited after organtwin wrote it, so its files cannot be told from yours"
    elif isinstance(doc.get("files"), list) and all(isinstance(f, str) for f in doc["files"]):
        sizes = {f: None for f in doc["files"]}  # written before the manifest: the summary's own list, no sizes
    if sizes is None:
        return [
            t + ("/" if (folder / t).is_dir() and not (folder / t).is_symlink() else "") for t in top
        ], "written by an older organtwin that kept no list of its files, so they cannot be told from yours"
    dirs = {p.rsplit("/", 1)[0] for p in sizes if "/" in p}
    dirs |= {d.rsplit("/", k)[0] for d in list(dirs) for k in range(1, d.count("/") + 1)}
    way = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        dirnames.sort()
        for d in list(dirnames):
            rel = (base / d).relative_to(folder).as_posix()
            if (base / d).is_symlink() or rel not in dirs:
                way.append(rel + ("" if (base / d).is_symlink() else "/"))
                dirnames.remove(d)
        for f in sorted(filenames):
            p = base / f
            rel = p.relative_to(folder).as_posix()
            if rel == "summary.json" and base == folder:
                continue
            try:
                st = p.lstat()
            except OSError:
                continue
            if rel not in sizes or not stat.S_ISREG(st.st_mode):
                way.append(rel)
            elif sizes[rel] is not None and sizes[rel] != st.st_size:
                way.append(f"{rel} (changed since organtwin wrote it)")
    return sorted(way), "not listed in its manifest (summary.json)"


def _way_text(way: list[str]) -> str:
    shown = ", ".join(way[:_SHOWN])
    return shown + (f" and {len(way) - _SHOWN} more ({len(way)} in all)" if len(way) > _SHOWN else "")


def _enclosing_results(folder: Path) -> Path | None:
    """The nearest folder above ``folder`` that is an organtwin results folder, if any."""
    for a in folder.parents:
        if (a / "summary.json").is_file() and _is_results_folder(a):
            return a
    return None


def check_output_folder(folder, *, inputs: Sequence = (), option: str = "--out", _contents: bool = True) -> Path:
    """Check that results can go to ``folder`` (call it before the work): it does not exist, is empty, or holds only
    organtwin's own files (its manifest: module docstring); it is not inside another results folder, not the current
    folder, holds no input; and it (or its nearest existing parent) can be written. Raises `ResultsError` (one line:
    what is in the way and how to fix it)."""
    given = folder
    folder = _abs(folder)
    if not folder.name:
        raise ResultsError(f"{option} {given}: not a folder that can be replaced; give a folder name", meant=folder)
    cwd = _abs(os.getcwd())
    if cwd == folder or folder in cwd.parents:
        raise ResultsError(
            f"{option} {given}: is the current folder or holds it; results replace their folder whole, "
            "so choose a new folder (e.g. --out results)",
            meant=folder,
        )
    for inp in inputs:
        if inp is None:
            continue
        p = _abs(inp)
        if p == folder or folder in p.parents:
            raise ResultsError(
                f"{option} {given}: holds the input {inp}, which the new results would replace; choose "
                "another output folder",
                meant=folder,
            )
    outer = _enclosing_results(folder)
    if outer is not None:
        beside = outer.parent / f"{outer.name}-{folder.name}"
        raise ResultsError(
            f"{option} {given}: is inside the organtwin results folder {outer}, which its next run "
            f"replaces whole; choose a folder outside it (e.g. {beside})",
            meant=folder,
        )
    if os.path.lexists(folder):
        if not folder.is_dir():
            raise ResultsError(
                f"{option} {given}: exists and is a file, not a folder; choose another output folder", meant=folder
            )
        way, why = _in_the_way(folder) if _contents else ([], "")
        if way:
            raise ResultsError(
                f"{option} {given}: the folder holds other files, {why}: {_way_text(way)}; organtwin "
                f"replaces a folder only when it holds nothing but its own results: choose another "
                f"{option} or move those out",
                meant=folder,
            )
    ancestor = folder.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        why = "a file, not a folder" if not ancestor.is_dir() else "permission denied"
        raise ResultsError(
            f"{option} {given}: cannot write in {ancestor} ({why}); choose another output folder", meant=folder
        )
    return Path(given).expanduser()


def _finish_summary(tmp: Path, kind: str | None) -> None:
    """Add the marker (if the writer wrote none) and the manifest of ``tmp`` to its summary.json."""
    from .. import __version__

    path = tmp / "summary.json"
    doc = _read_summary(tmp) if path.is_file() else {}
    if doc is None:
        raise InputError("summary.json is not a JSON object")
    manifest = folder_manifest(tmp)  # before summary.json is (re)written: it is not listed
    if RESULTS_MARKER not in doc:
        doc = {RESULTS_MARKER: {"kind": kind or "results", "organtwin_version": __version__}, **doc}
    doc[MANIFEST_KEY] = manifest
    write_json(path, doc)


def _free_sibling(parent: Path, name: str) -> Path:
    for k in range(1, 1000):
        p = parent / f"{name}-new{'' if k == 1 else k}"
        if not os.path.lexists(p):
            return p
    raise ResultsError(f"no free name beside {parent / name} for the new results")


@contextlib.contextmanager
def results_folder(folder, *, kind: str | None = None):
    """Write a results folder all-or-nothing: yields a temporary folder beside ``folder``; on success summary.json
    gets the manifest (and the marker ``kind`` if the writer wrote no summary.json), and the folder becomes ``folder``
    (replacing an earlier organtwin results folder there: module docstring), on failure it is removed.

    Raises `ResultsError` (one line) if the folder cannot be written; the original exception of a failed writer is
    turned into one line saying that nothing was written. If ``folder`` holds files not organtwin's (commands refuse
    that before their work with `check_output_folder`; they may also have appeared while the work went on), nothing
    there is touched: the new results, complete, go to ``<folder>-new`` and the error says so. An interrupt gets a
    note saying what was kept.
    """
    check_output_folder(folder, _contents=False)  # what is in the folder is checked when the results are complete
    final = _abs(folder)
    parent, name = final.parent, final.name
    earlier = final.is_dir() and any(final.iterdir())
    kept = f"nothing was written to {folder}" + ("; the earlier results there are kept" if earlier else "")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale(parent, name)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(name), suffix=".partial", dir=parent))
        _normal_mode(tmp, folder=True)
    except OSError as e:
        raise ResultsError(f"cannot write results to {folder}: {e.strerror or _line(e)}", meant=final) from None
    old = None
    placed = False
    try:
        try:
            yield tmp
            _finish_summary(tmp, kind)
        except OSError as e:
            meant = getattr(e, "meant", None) or (Path(e.filename) if getattr(e, "filename", None) else None)
            meant = _meant_path(meant, tmp, final) if meant is not None else final
            if e.errno is not None and e.errno in _DISK_FULL:
                raise ResultsError(
                    f"disk full while writing {meant}; nothing was written (could not write results "
                    f"to {folder}: {os.strerror(e.errno)}"
                    f"{'; the earlier results there are kept' if earlier else ''})",
                    meant=meant,
                    errno=e.errno,
                ) from None
            raise ResultsError(
                f"could not write results to {folder} ({_untemp(_line(e), tmp, final)}); nothing was written",
                meant=meant,
                errno=e.errno,
            ) from None
        except (ValueError, TypeError, RuntimeError) as e:
            raise ResultsError(
                f"could not write results to {folder} ({_untemp(_line(e), tmp, final)}); nothing was written",
                meant=final,
            ) from None
        try:
            if os.path.lexists(final):
                way, why = _in_the_way(final) if final.is_dir() and not final.is_symlink() else ([name], "a file")
                if way and not final.is_symlink():
                    aside = _free_sibling(parent, name)
                    os.replace(tmp, aside)
                    placed = True
                    raise ResultsError(
                        f"--out {folder}: the folder holds other files ({why}: {_way_text(way)}); "
                        f"nothing there was touched: the new results are in {aside}",
                        meant=final,
                    )
                old = Path(tempfile.mkdtemp(prefix=_temp_prefix(name), suffix=".old", dir=parent))
                os.rmdir(old)  # a unique free name; os.replace puts the earlier folder (or a link to one) there
                os.replace(final, old)  # same parent: no '..' update, works for a read-only folder too
            os.replace(tmp, final)
            placed = True
        except ResultsError:
            raise
        except OSError as e:
            if old is not None and os.path.lexists(old) and not os.path.lexists(final):
                with contextlib.suppress(OSError):
                    os.replace(old, final)  # put the earlier results back
                    old = None
            raise ResultsError(
                f"could not move the results into {folder} ({e.strerror or _line(e)}); nothing was written",
                meant=final,
                errno=e.errno,
            ) from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            if placed or not os.path.lexists(tmp):  # the complete results were already moved into place
                _kept_note(e, f"the new results were written to {folder}", drop=str(tmp))
            else:
                _kept_note(e, kept, drop=str(tmp))
        raise
    finally:
        if old is not None:
            if not os.path.lexists(final):  # interrupted between the two renames: the earlier results go back
                with contextlib.suppress(OSError):
                    os.replace(old, final)
            if os.path.lexists(old):
                _remove(old)
        if os.path.lexists(tmp):
            _remove(tmp)


# ====================================================================================================== VTU / PVD
def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = np.where(np.isfinite(a), a, np.nan)
    return a


def write_vtu(
    path, points, tets, *, point_data: dict | None = None, cell_data: dict | None = None, compress: bool = True
) -> Path:
    """Write a tetrahedral mesh with point and cell fields as a binary VTU (atomically). Non-finite values become NaN."""
    writer = VtuWriter(points, tets, {k: _finite_or_nan(v) for k, v in (cell_data or {}).items()}, compress=compress)
    return writer.write(path, {k: _finite_or_nan(v) for k, v in (point_data or {}).items()})


def _writer(mesh, cell_fields: bool = True) -> VtuWriter:
    """The writer of a results mesh: regions and names, surfaces, node sets, and with ``cell_fields`` fibres, sheets and
    the other cell fields (`VtuWriter.for_mesh`)."""
    return VtuWriter.for_mesh(mesh, cell_fields=cell_fields)


def write_pvd(path, entries: Iterable[tuple[float, str]]) -> Path:
    """A ParaView collection (.pvd) of ``(time, relative file name)`` entries."""
    lines = [
        '<?xml version="1.0"?>',
        '<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">',
        "  <Collection>",
    ]
    for t, name in entries:
        lines.append(
            f'    <DataSet timestep={quoteattr(repr(float(t)))} group="" part="0" file={quoteattr(str(name))}/>'
        )
    lines += ["  </Collection>", "</VTKFile>", ""]
    with atomic_file(path) as (fh, _):
        assert fh is not None  # a text mode ("w") opens a handle
        fh.write("\n".join(lines))
    return Path(path)


def write_snapshot_series(
    folder,
    mesh,
    times: Sequence[float] | np.ndarray,
    snapshots,
    *,
    name: str = "vm",
    field: str = "Vm",
    writer: VtuWriter | None = None,
) -> list[Path]:
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
        raise InputError(f"{folder}: no {name}.pvd (an `organtwin ep run` folder with [record] snapshot_every)")

    def attribute(d: ET.Element, key: str) -> str:
        value = d.get(key)
        if value is None:
            raise InputError(f"a DataSet has no {key}")  # caught below and named with the file
        return value

    try:
        entries = [
            (float(attribute(d, "timestep")), folder / attribute(d, "file"))
            for d in ET.parse(pvd).getroot().iter("DataSet")
        ]
    except (ET.ParseError, TypeError, ValueError) as e:
        raise InputError(f"{pvd}: not a readable ParaView collection ({e})") from None
    if not entries:
        raise InputError(f"{pvd}: lists no snapshots")
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
                raise InputError(f"{f}: not a readable VTU file ({_line(e)})") from None
            if field in data and np.asarray(data[field]).shape[0] != mesh.n_nodes:
                raise InputError(
                    f"{f}: {np.asarray(data[field]).shape[0]} points, the series' first file has {mesh.n_nodes}"
                )
        if field not in data:
            raise InputError(f"{f}: no point data {field!r}")
        values.append(np.asarray(data[field], float).reshape(-1))
    return mesh, np.array([t for t, _ in entries]), np.stack(values)


def write_activation_vtu(path, mesh, result, *, writer: VtuWriter | None = None) -> Path:
    """Activation, repolarisation and APD (ms) as point data on the mesh, NaN where a node never activated; the mesh's
    regions, names, surfaces, fibres, sheets, node sets and its own point fields go with them (`VtuWriter.for_mesh`)."""
    point_data = {str(k): v for k, v in mesh.point_data.items()}
    for key, attr in (
        ("activation_time", "activation"),
        ("repolarisation_time", "repolarisation"),
        ("apd", "apd"),
        ("activation_count", "activation_count"),
        ("last_activation_time", "last_activation"),
    ):
        value = getattr(result, attr, None)
        if value is not None:
            point_data[key] = _finite_or_nan(value)
    return (writer or _writer(mesh)).write(path, point_data)


def write_probes_csv(path, times, values, names: Sequence[str], *, unit: str = "mV") -> Path:
    """Probe traces: a header ``t_ms,<name>_mV,...`` and one row per sample."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(len(times), -1)
    if values.shape[1] != len(names):
        raise InputError(f"write_probes_csv: {values.shape[1]} traces but {len(names)} names")
    header = ",".join(["t_ms"] + [f"{_csv_name(n)}_{unit}" for n in names])
    with atomic_file(path) as (fh, _):
        assert fh is not None  # a text mode ("w") opens a handle
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
        assert fh is not None  # a text mode ("w") opens a handle
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
        regions[str(r)] = {
            "name": names.get(r),
            "tets": int(np.sum(mesh.regions == r)),
            "model": prepared.region_models.get(r),
        }
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
        "mesh": {
            "source": config.mesh.describe(),
            "nodes": n,
            "tets": mesh.n_cells,
            "regions": regions,
            "fibres": config.fibres.source if mesh.fibres is not None else "none",
        },
        "dtype": config.simulation.dtype,
        "dt_ms": float(result.dt),
        "steps": steps,
        "end_time_ms": float(np.asarray(result.final.t)),
        "explicit_stability_limit_ms": prepared.stability_limit,
        "timing": timing,
        **(
            {"tuned_conductivity": {str(r): v for r, v in prepared.tuned_conductivity.items()}}
            if prepared.tuned_conductivity
            else {}
        ),
        "stimuli": [{"what": s.describe(), "nodes": c} for s, c in zip(config.stimuli, prepared.stimulus_nodes)],
    }
    if result.activation is not None:
        act = np.asarray(result.activation, dtype=np.float64)
        ok = np.isfinite(act)
        a: dict[str, int | float] = {"nodes_activated": int(ok.sum()), "nodes": n}
        if ok.any():
            a.update(
                first_ms=float(act[ok].min()),
                last_ms=float(act[ok].max()),
                total_activation_time_ms=float(act[ok].max() - act[ok].min()),
                mean_ms=float(act[ok].mean()),
            )
        out["activation"] = a
    if result.repolarisation is not None:
        rep = np.asarray(result.repolarisation, dtype=np.float64)
        ok = np.isfinite(rep)
        repol: dict[str, int | float] = {"nodes_repolarised": int(ok.sum())}
        if ok.any():
            repol.update(first_ms=float(rep[ok].min()), last_ms=float(rep[ok].max()))
        out["repolarisation"] = repol
        apd = _stats(result.apd)
        out["apd_ms"] = apd
    if result.activation_count is not None:
        out["beats"] = _stats(result.activation_count, finite_only=False)
    if result.snapshot_times is not None:
        out["snapshots"] = {
            "count": int(np.asarray(result.snapshot_times).size),
            "times_ms": np.asarray(result.snapshot_times, dtype=np.float64).round(9).tolist(),
        }
    if result.probes is not None:
        r = config.record
        out["probes"] = {
            "points_mm": {name: list(p) for name, p in zip(r.probe_names, r.probes)},
            "samples": int(np.asarray(result.probe_times).size),
            "every_ms": float(np.asarray(result.probe_times)[1] - np.asarray(result.probe_times)[0])
            if np.asarray(result.probe_times).size > 1
            else None,
        }
    out["files"] = list(files)
    out["case"] = config.to_dict()
    return out


def write_ep_results(folder, prepared, outcome, *, extra: Callable[[Path], Sequence[str]] | None = None) -> dict:
    """Write the outputs of a monodomain case into ``folder``, all or nothing (see `results_folder`):

    ``activation.vtu`` (when activation is recorded), ``vm/vm_XXXX.vtu`` + ``vm.pvd`` (snapshots), ``probes.csv``
    (probes), what ``extra(temporary folder)`` writes (it returns the relative names, e.g. the ECG of ``ep run --ecg``
    in ``ecg/``), ``summary.json`` (always, written last, with the manifest). Returns the summary.
    """
    import time

    t0 = time.perf_counter()
    mesh, result, config = prepared.mesh, outcome.result, prepared.config
    with results_folder(folder, kind="ep run") as tmp:
        files = []
        if result.activation is not None:
            write_activation_vtu(tmp / "activation.vtu", mesh, result)
            files.append("activation.vtu")
        if result.snapshots is not None:
            written = write_snapshot_series(tmp, mesh, np.asarray(result.snapshot_times), np.asarray(result.snapshots))
            files += [str(Path(p).relative_to(tmp)) for p in written]
        if result.probes is not None:
            write_probes_csv(
                tmp / "probes.csv", np.asarray(result.probe_times), np.asarray(result.probes), config.record.probe_names
            )
            files.append("probes.csv")
        if extra is not None:
            files += list(extra(tmp))
        files.append("summary.json")
        summary = ep_summary(prepared, outcome, files=files, write_seconds=time.perf_counter() - t0)
        write_json(tmp / "summary.json", summary)
    return summary

"""The files of an ECG: electrode positions a user gives (CSV), the Vm series of an `organtwin ep run` folder an ECG is
computed from, and an `organtwin.ecg.ECGResult` written out (ecg.csv, features.json, ecg.png; a results folder with
summary.json). The ECG itself is computed by `organtwin.ecg.ecg_from_vm` / `ecg_from_activation`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["ECG_FILES", "read_electrodes_csv", "read_vm_series", "write_ecg_files", "write_ecg_folder"]

#: The files `write_ecg_files` writes.
ECG_FILES = ("ecg.csv", "features.json", "ecg.png")


def read_electrodes_csv(path) -> dict[str, np.ndarray]:
    """``{name: (3,) mm}`` from a CSV file of ``name,x,y,z`` rows (mm; a header row and ``#`` comments allowed) for RA,
    LA, LL, V1..V6.

    Raises:
        DataError: the file cannot be read, a row is malformed or not finite, or an electrode is missing.
    """
    from .._errors import DataError
    from ..ecg import ELECTRODE_NAMES

    path = Path(path)
    out = {}
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))  # a byte-order mark is fine
    except OSError as e:
        raise DataError(f"--electrodes: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"--electrodes {path}: not UTF-8 text ({e.reason} at byte {e.start}); save the CSV as UTF-8"
        ) from None
    for i, row in enumerate(rows, 1):
        if not row or row[0].strip().lower() in ("name", "") or row[0].startswith("#"):
            continue
        try:
            name, x, y, z = (c.strip() for c in row)
            p = np.array([float(x), float(y), float(z)])
        except ValueError:
            raise DataError(f"{path}:{i}: expected 'name,x,y,z' (mm), got {','.join(row)!r}") from None
        if not np.all(np.isfinite(p)):
            raise DataError(f"{path}:{i}: non-finite coordinate in {','.join(row)!r}")
        out[name] = p
    missing = [n for n in ELECTRODE_NAMES if n not in out]
    if missing:
        raise DataError(f"{path}: missing electrode(s) {', '.join(missing)}; need {', '.join(ELECTRODE_NAMES)}")
    return out


def read_vm_series(folder):
    """``(mesh, times (k,) ms, Vm (k, nodes) mV)`` from an `organtwin ep run` folder's vm.pvd; the mesh carries the
    region names of its files (of the folder's summary.json for a folder written before the files carried them).

    Raises:
        ValueError: no vm.pvd or an unreadable snapshot; DataError: fewer than 3 snapshots (an ECG needs a series).
    """
    from .._errors import DataError
    from . import read_snapshot_series, region_names_from_summary

    folder = Path(folder)
    mesh, times, vm = read_snapshot_series(folder)
    if not mesh.region_names:  # a run folder from before the VTU files carried the names: take summary.json's
        present = set(mesh.region_ids.tolist())
        names = {k: v for k, v in region_names_from_summary(folder).items() if k in present}
        if names:
            mesh = mesh.replace(region_names=names)
    if times.size < 3:
        raise DataError(
            f"{folder / 'vm.pvd'}: {times.size} snapshots; an ECG needs a Vm series (snapshot_every 1-2 ms)"
        )
    return mesh, times, vm


def write_ecg_files(folder, ecg, *, source: str = "") -> list[str]:
    """Write ``folder``/ecg.csv (``t_ms`` and the 12 leads in mV), features.json (`ECGResult.to_json`) and ecg.png
    (`organtwin.viz.plot_12lead`) of an `organtwin.ecg.ECGResult`; the folder is created (call it inside a
    `results_folder`). Returns the names written (`ECG_FILES`)."""
    from ..viz import plot_12lead
    from . import atomic_file, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / "ecg.csv") as (fh, _):
        assert fh is not None  # a text mode ("w") opens a handle
        fh.write("t_ms," + ",".join(f"{n}_mV" for n in ecg.lead_names) + "\n")
        np.savetxt(fh, np.column_stack([ecg.times, ecg.leads]), fmt="%.6g", delimiter=",")
    write_json(folder / "features.json", ecg.to_json(source))
    plot_12lead(
        ecg.times, ecg.leads, folder / "ecg.png", title=f"organtwin: {Path(source).name}", subtitle=ecg.subtitle
    )
    return list(ECG_FILES)


def write_ecg_folder(out, ecg, *, source: str = "") -> list[str]:
    """The results folder ``out`` of an ECG, all or nothing (`results_folder`): `write_ecg_files` and summary.json
    (marker and manifest). Returns the names written."""
    from .. import __version__
    from . import RESULTS_MARKER, results_folder, write_json

    with results_folder(out, kind="ecg") as tmp:
        files = write_ecg_files(tmp, ecg, source=source) + ["summary.json"]
        write_json(
            tmp / "summary.json",
            {
                RESULTS_MARKER: {"kind": "ecg", "organtwin_version": __version__},
                "source": source,
                "method": ecg.method,
                "files": files,
            },
        )
    return files

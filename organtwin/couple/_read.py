"""Reading activation times and the ventricles' myocardium from EP results (the file edge of the coupling).

Two sources: an `organtwin ep run` results folder (its ``activation.vtu``, point data ``activation_time`` in ms, cell
data ``region``; region names from its ``summary.json``) or a mesh file with point data ``activation_time`` (what
`organtwin activate --out X.vtu` writes, region names as field data). The LV and RV are the regions named ``LV`` / ``RV``
(any case); a mesh without names whose regions are exactly 1 and 2 is read as organtwin's generators lay it out (1 LV,
2 RV) with a warning; ``lv_regions`` / ``rv_regions`` say it explicitly.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._timing import region_node_volumes

__all__ = ["RunActivation", "activation_from_run"]


@dataclass(frozen=True)
class RunActivation:
    """Activation times of one EP result and the ventricles' myocardium (host arrays, one entry per node).

    Attributes:
        activation_ms: (nodes,) ms (NaN where a node never activated).
        lv_mask, rv_mask: (nodes,) bool: nodes of an LV / RV tet.
        lv_volume, rv_volume: (nodes,) mm³: each node's share of the LV / RV tets' volume (the weights for
            `couple_circulation`'s volume-weighted quantiles).
        mesh: the mesh read.
        source: the file read.
    """

    activation_ms: np.ndarray
    lv_mask: np.ndarray
    rv_mask: np.ndarray
    lv_volume: np.ndarray
    rv_volume: np.ndarray
    mesh: object
    source: str

    @property
    def total_activation_time_ms(self) -> float:
        """Latest minus earliest activation over both ventricles (a QRS-duration-like figure), ms."""
        a = self.activation_ms[self.lv_mask | self.rv_mask]
        a = a[np.isfinite(a)]
        return float(a.max() - a.min()) if a.size else float("nan")


def _names_from_summary(folder: Path) -> dict:
    try:
        doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        regs = doc["mesh"]["regions"]
        return {int(k): v.get("name") for k, v in regs.items() if isinstance(v, dict) and v.get("name")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _pick(ids, names: dict, key: str, given, source: str) -> list[int]:
    present = set(int(i) for i in ids)
    if given is not None:
        want = [int(r) for r in np.atleast_1d(given)]
        missing = sorted(set(want) - present)
        if missing:
            raise ValueError(f"{source}: no region {missing[0]} (regions: {sorted(present)})")
        return want
    return [r for r in sorted(present) if str(names.get(r, "")).strip().lower() == key]


def activation_from_run(path, *, lv_regions=None, rv_regions=None) -> RunActivation:
    """Activation times (ms) and the LV / RV myocardium from an `organtwin ep run` folder or an activation mesh file.

    Args:
        path: a results folder (with ``activation.vtu``) or a mesh file with point data ``activation_time`` (ms).
        lv_regions, rv_regions: region id(s) of the LV / RV myocardium; default: the regions named LV / RV.

    Raises:
        ValueError: no activation times, no LV/RV regions, or ventricular nodes that never activated.
    """
    from ..mesh import read_mesh

    p = Path(path).expanduser()
    names: dict = {}
    if p.is_dir():
        f = p / "activation.vtu"
        if not f.is_file():
            raise ValueError(f"{p}: no activation.vtu (an `organtwin ep run` folder with activation recorded, or give "
                             f"the activation mesh file itself)")
        names = _names_from_summary(p)
    elif p.is_file():
        f = p
    else:
        raise ValueError(f"{p}: no such results folder or activation file")
    mesh = read_mesh(f)
    if "activation_time" not in mesh.point_data:
        raise ValueError(f"{f}: no point data 'activation_time' (ms); write one with `organtwin activate` or "
                         f"`organtwin ep run`")
    act = np.asarray(mesh.point_data["activation_time"], np.float64).reshape(-1)
    names = {**names, **dict(mesh.region_names)}
    ids = np.unique(np.asarray(mesh.regions)).tolist()
    lv = _pick(ids, names, "lv", lv_regions, str(f))
    rv = _pick(ids, names, "rv", rv_regions, str(f))
    if (not lv or not rv) and lv_regions is None and rv_regions is None and sorted(ids) == [1, 2] \
            and not any(names.get(i) for i in ids):
        warnings.warn(f"{f}: regions 1 and 2 have no names; reading them as LV (1) and RV (2), as organtwin's "
                      f"biventricular meshes are laid out (give lv_regions/rv_regions otherwise)", stacklevel=2)
        lv, rv = [1], [2]
    if not lv or not rv:
        shown = ", ".join(f"{i}" + (f" ({names[i]})" if names.get(i) else "") for i in ids)
        raise ValueError(f"{f}: cannot tell the LV and RV regions (regions: {shown}); name them LV and RV, or give "
                         f"the region ids (lv_regions / rv_regions, --lv-regions / --rv-regions)")
    if set(lv) & set(rv):
        raise ValueError(f"{f}: region(s) {sorted(set(lv) & set(rv))} given as both LV and RV")
    lv_vol = region_node_volumes(mesh, lv)
    rv_vol = region_node_volumes(mesh, rv)
    lv_mask, rv_mask = lv_vol > 0, rv_vol > 0
    for name, m in (("LV", lv_mask), ("RV", rv_mask)):
        bad = int(np.sum(~np.isfinite(act[m])))
        if bad:
            raise ValueError(f"{f}: {bad} of {int(m.sum())} {name} nodes never activated (activation_time NaN); the "
                             f"coupling needs the whole ventricle activated (longer run, or sites that reach it)")
    return RunActivation(act, lv_mask, rv_mask, lv_vol, rv_vol, mesh, str(f))

"""Reading activation times and the ventricles' myocardium from EP results (the file edge of the coupling).

Two sources: an `organtwin ep run` results folder (its ``activation.vtu``, point data ``activation_time`` in ms, cell
data ``region``, names as field data; a folder from before the names were written there: names from its
``summary.json``) or a mesh file with point data ``activation_time`` (what `organtwin activate --out X.vtu` writes,
region names as field data). The LV and RV come from `organtwin.mesh.ventricle_regions` (the one rule: regions named
LV / RV, a septum joins the LV, ``lv_regions`` / ``rv_regions`` override; a 1/2 mesh without names is organtwin's
layout; otherwise a one-line error).
"""

from __future__ import annotations

import json
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
        lv_regions, rv_regions: the region ids taken as LV / RV.
        regions_text: which regions were taken and why, e.g. "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)".
    """

    activation_ms: np.ndarray
    lv_mask: np.ndarray
    rv_mask: np.ndarray
    lv_volume: np.ndarray
    rv_volume: np.ndarray
    mesh: object
    source: str
    lv_regions: tuple = ()
    rv_regions: tuple = ()
    regions_text: str = ""

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


def activation_from_run(path, *, lv_regions=None, rv_regions=None) -> RunActivation:
    """Activation times (ms) and the LV / RV myocardium from an `organtwin ep run` folder or an activation mesh file.

    Args:
        path: a results folder (with ``activation.vtu``) or a mesh file with point data ``activation_time`` (ms).
        lv_regions, rv_regions: region id(s) of the LV / RV myocardium; default: `organtwin.mesh.ventricle_regions`
            (regions named LV / RV, a septum joins the LV).

    Raises:
        ValueError: no activation times, or ventricular nodes that never activated.
        MeshError: the LV / RV regions cannot be told, or given ids are not in the mesh.
    """
    from ..mesh import read_mesh, ventricle_regions

    p = Path(path).expanduser()
    names: dict = {}
    if p.is_dir():
        f = p / "activation.vtu"
        if not f.is_file():
            raise ValueError(
                f"{p}: no activation.vtu (an `organtwin ep run` folder with activation recorded, or give "
                f"the activation mesh file itself)"
            )
        names = _names_from_summary(p)
    elif p.is_file():
        f = p
    else:
        raise ValueError(f"{p}: no such results folder or activation file")
    mesh = read_mesh(f)
    if "activation_time" not in mesh.point_data:
        raise ValueError(
            f"{f}: no point data 'activation_time' (ms); write one with `organtwin activate` or `organtwin ep run`"
        )
    act = np.asarray(mesh.point_data["activation_time"], np.float64).reshape(-1)
    present = set(np.unique(np.asarray(mesh.regions)).tolist())
    names = {**{k: v for k, v in names.items() if k in present}, **dict(mesh.region_names)}
    if names != dict(mesh.region_names):
        mesh = mesh.replace(region_names=names)
    lv, rv, text = ventricle_regions(mesh, lv_regions, rv_regions, source=str(f))
    lv_vol = region_node_volumes(mesh, lv)
    rv_vol = region_node_volumes(mesh, rv)
    lv_mask, rv_mask = lv_vol > 0, rv_vol > 0
    for name, m in (("LV", lv_mask), ("RV", rv_mask)):
        bad = int(np.sum(~np.isfinite(act[m])))
        if bad:
            raise ValueError(
                f"{f}: {bad} of {int(m.sum())} {name} nodes never activated (activation_time NaN); the "
                f"coupling needs the whole ventricle activated (longer run, or sites that reach it)"
            )
    return RunActivation(act, lv_mask, rv_mask, lv_vol, rv_vol, mesh, str(f), tuple(lv), tuple(rv), text)

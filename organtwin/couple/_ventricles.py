"""Activation times and the ventricles' myocardium (arrays in, arrays out; reading a results folder is
`organtwin.io.activation_from_run`). The LV and RV come from `organtwin.mesh.ventricle_regions` (the one rule: regions
named LV / RV, a septum joins the LV, ``lv_regions`` / ``rv_regions`` override; a 1/2 mesh without names is
organtwin's layout; otherwise a one-line error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import InputError
from ._timing import region_node_volumes

__all__ = ["RunActivation", "ventricle_activation"]


@dataclass(frozen=True)
class RunActivation:
    """Activation times of one EP result and the ventricles' myocardium (host arrays, one entry per node).

    Attributes:
        activation_ms: (nodes,) ms (NaN where a node never activated).
        lv_mask, rv_mask: (nodes,) bool: nodes of an LV / RV tet.
        lv_volume, rv_volume: (nodes,) mm³: each node's share of the LV / RV tets' volume (the weights for
            `couple_circulation`'s volume-weighted quantiles).
        mesh: the mesh.
        source: where the activation came from (the file read, or what the caller says).
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


def ventricle_activation(mesh, activation_ms, *, lv_regions=None, rv_regions=None, source: str = "") -> RunActivation:
    """Activation times (ms, one per node of ``mesh``) with the LV / RV myocardium and their volume weights.

    Args:
        mesh: the mesh the times belong to (its region ids and names tell the ventricles).
        activation_ms: (nodes,) ms.
        lv_regions, rv_regions: region id(s) of the LV / RV myocardium; default: `organtwin.mesh.ventricle_regions`
            (regions named LV / RV, a septum joins the LV).
        source: named in messages (the file the times came from).

    Raises:
        ValueError: ventricular nodes that never activated.
        MeshError: the LV / RV regions cannot be told, or given ids are not in the mesh.
    """
    from ..mesh import ventricle_regions

    act = np.asarray(activation_ms, np.float64).reshape(-1)
    lv, rv, text = ventricle_regions(mesh, lv_regions, rv_regions, source=source)
    lv_vol = region_node_volumes(mesh, lv)
    rv_vol = region_node_volumes(mesh, rv)
    lv_mask, rv_mask = lv_vol > 0, rv_vol > 0
    for name, m in (("LV", lv_mask), ("RV", rv_mask)):
        bad = int(np.sum(~np.isfinite(act[m])))
        if bad:
            raise InputError(
                f"{source}: {bad} of {int(m.sum())} {name} nodes never activated (activation_time NaN); the "
                f"coupling needs the whole ventricle activated (longer run, or sites that reach it)"
            )
    return RunActivation(act, lv_mask, rv_mask, lv_vol, rv_vol, mesh, source, tuple(lv), tuple(rv), text)

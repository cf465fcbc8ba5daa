"""Reading an `organtwin ep run` results folder (or an activation mesh file) back: the file edge of the EP ->
circulation coupling (`organtwin.couple` takes the arrays).

Two sources: an `organtwin ep run` results folder (its ``activation.vtu``, point data ``activation_time`` in ms, cell
data ``region``, names as field data; a folder from before the names were written there: names from its
``summary.json``) or a mesh file with point data ``activation_time`` (what `organtwin activate --out X.vtu` writes,
region names as field data).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._errors import InputError

__all__ = ["activation_from_run", "read_ep_run", "region_names_from_summary"]


def region_names_from_summary(folder) -> dict:
    """{region id: name} from an `organtwin ep run` folder's summary.json (empty when it has none)."""
    try:
        doc = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
        regs = doc["mesh"]["regions"]
        return {int(k): v.get("name") for k, v in regs.items() if isinstance(v, dict) and v.get("name")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def read_ep_run(path):
    """``(mesh, activation_ms (nodes,), source file)`` of an `organtwin ep run` folder or an activation mesh file; the
    mesh carries the region names (of the file, else of the folder's summary.json).

    Raises:
        ValueError: no such folder or file, no activation.vtu, no point data ``activation_time``.
        MeshError: the file cannot be read as a mesh.
    """
    from ..mesh import read_mesh

    p = Path(path).expanduser()
    names: dict = {}
    if p.is_dir():
        f = p / "activation.vtu"
        if not f.is_file():
            raise InputError(
                f"{p}: no activation.vtu (an `organtwin ep run` folder with activation recorded, or give "
                f"the activation mesh file itself)"
            )
        names = region_names_from_summary(p)
    elif p.is_file():
        f = p
    else:
        raise InputError(f"{p}: no such results folder or activation file")
    mesh = read_mesh(f)
    if "activation_time" not in mesh.point_data:
        raise InputError(
            f"{f}: no point data 'activation_time' (ms); write one with `organtwin activate` or `organtwin ep run`"
        )
    act = np.asarray(mesh.point_data["activation_time"], np.float64).reshape(-1)
    present = set(np.unique(np.asarray(mesh.regions)).tolist())
    names = {**{k: v for k, v in names.items() if k in present}, **dict(mesh.region_names)}
    if names != dict(mesh.region_names):
        mesh = mesh.replace(region_names=names)
    return mesh, act, str(f)


def activation_from_run(path, *, lv_regions=None, rv_regions=None):
    """Activation times (ms) and the LV / RV myocardium from an `organtwin ep run` folder or an activation mesh file:
    `read_ep_run` then `organtwin.couple.ventricle_activation` (a `RunActivation`).

    Args:
        path: a results folder (with ``activation.vtu``) or a mesh file with point data ``activation_time`` (ms).
        lv_regions, rv_regions: region id(s) of the LV / RV myocardium; default: `organtwin.mesh.ventricle_regions`
            (regions named LV / RV, a septum joins the LV).

    Raises:
        ValueError: no activation times, or ventricular nodes that never activated.
        MeshError: the LV / RV regions cannot be told, or given ids are not in the mesh.
    """
    from ..couple import ventricle_activation

    mesh, act, source = read_ep_run(path)
    return ventricle_activation(mesh, act, lv_regions=lv_regions, rv_regions=rv_regions, source=source)

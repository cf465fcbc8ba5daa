"""Which regions of a mesh are the left and the right ventricle: one rule, used by every command that needs them
(`organtwin ecg`, `organtwin flow circulation --activation`, the electrode placement, the EP → circulation coupling).

The rule (`ventricle_regions`):

1. Ids given by the user (``lv=`` / ``rv=``, on the command line ``--lv-regions`` / ``--rv-regions``) are taken as they
   are, for that side; they must exist in the mesh.
2. Otherwise the regions are found by name (case-insensitive; ``_`` and ``-`` count as spaces): the LV is every region
   named ``LV``, ``left ventricle``, ``left ventricular ...`` or ``LV myocardium`` / ``LV wall``, the RV likewise
   (``RV``, ``right ventricle``, ...). A region named ``septum`` (``septal``, ``interventricular septum``, ``IVS``, ``LV
   septum``) joins the LV: the septum is mostly LV myocardium and contracts with it. The septum does not join when the
   user gave the LV ids, or gave the septum as RV.
3. A mesh without any region names whose regions are exactly 1 and 2 is read as organtwin's generated biventricular
   meshes are laid out: 1 = LV, 2 = RV (the description says so).
4. Anything else is a one-line error asking for ``--lv-regions`` / ``--rv-regions``; region 1 is never taken silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from .._errors import MeshError

__all__ = ["ventricle_regions", "describe_regions"]

_LV = re.compile(r"^(lv|left ventricle|left ventricular|leftventricle)( (myocardium|myo|wall|tissue|free wall))?$")
_RV = re.compile(r"^(rv|right ventricle|right ventricular|rightventricle)( (myocardium|myo|wall|tissue|free wall))?$")
_SEPTUM = re.compile(r"^((lv|left|interventricular|ventricular) )?(septum|septal|ivs|sept)( (myocardium|wall))?$")


def _norm(name) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", str(name)).lower().split())


def _ids(value) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in np.atleast_1d(np.asarray(value)).reshape(-1)]


def describe_regions(ids: Iterable[int], names: dict) -> str:
    """``"region 2 (RV)"`` / ``"regions 1 (LV) + 7 (septum)"``."""
    ids = list(ids)
    parts = [f"{i}" + (f" ({names[i]})" if names.get(i) else "") for i in ids]
    return ("region " if len(ids) == 1 else "regions ") + " + ".join(parts)


def ventricle_regions(mesh, lv=None, rv=None, *, source: str = "") -> tuple[list[int], list[int], str]:
    """The region ids of the LV and the RV myocardium, and a line saying which they are and why (module docstring).

    Args:
        mesh: a `Mesh` (its ``regions`` and ``region_names``).
        lv, rv: region id(s) given by the user (int or sequence), overriding the names for that side.
        source: where the mesh came from, for the messages.

    Returns:
        ``(lv_ids, rv_ids, description)``, e.g. ``([1, 7], [2], "LV = regions 1 (LV) + 7 (septum); RV = region 2 (RV)")``.

    Raises:
        MeshError: given ids that are not in the mesh (the message lists the ids present), an id given as both, or
            regions that cannot be told apart (no names, and not a two-region 1/2 mesh).
    """
    where = f"{source}: " if source else ""
    present = [int(i) for i in np.unique(np.asarray(mesh.regions)).tolist()]
    names = {int(k): str(v) for k, v in dict(mesh.region_names).items() if int(k) in present}
    shown = ", ".join(f"{i}" + (f" ({names[i]})" if names.get(i) else "") for i in present)
    lv_ids, rv_ids = _ids(lv), _ids(rv)
    for flag, given in (("--lv-regions", lv_ids), ("--rv-regions", rv_ids)):
        if given is not None:
            if not given:
                raise MeshError(f"{where}{flag} names no region; regions present: {shown}")
            missing = sorted(set(given) - set(present))
            if missing:
                raise MeshError(
                    f"{where}{flag}: no region {', '.join(map(str, missing))} in the mesh (regions present: {shown})"
                )
    note = ""
    by_name_lv = [r for r in present if _LV.match(_norm(names.get(r, "")))]
    by_name_rv = [r for r in present if _RV.match(_norm(names.get(r, "")))]
    septum = [r for r in present if _SEPTUM.match(_norm(names.get(r, "")))]
    if lv_ids is None and by_name_lv:
        lv_ids = by_name_lv + [r for r in septum if r not in (rv_ids or []) and r not in by_name_lv]
    if rv_ids is None and by_name_rv:
        rv_ids = [r for r in by_name_rv if r not in (lv_ids or [])] or None
    if (lv_ids is None or rv_ids is None) and not names and present == [1, 2]:
        lv_ids = [1] if lv_ids is None else lv_ids
        rv_ids = [2] if rv_ids is None else rv_ids
        note = " (regions without names: organtwin's biventricular layout, 1 = LV, 2 = RV)"
    if lv_ids is None or rv_ids is None:
        side = " and ".join(s for s, v in (("LV", lv_ids), ("RV", rv_ids)) if v is None)
        raise MeshError(
            f"{where}cannot tell which regions are the {side} (regions: {shown or 'none'}); name them LV / RV "
            f"or give the ids with --lv-regions / --rv-regions"
        )
    both = sorted(set(lv_ids) & set(rv_ids))
    if both:
        raise MeshError(
            f"{where}region(s) {', '.join(map(str, both))} taken as both LV and RV; give --lv-regions / "
            f"--rv-regions that do not overlap (regions: {shown})"
        )
    lv_ids, rv_ids = sorted(dict.fromkeys(lv_ids)), sorted(dict.fromkeys(rv_ids))
    text = f"LV = {describe_regions(lv_ids, names)}; RV = {describe_regions(rv_ids, names)}{note}"
    return lv_ids, rv_ids, text

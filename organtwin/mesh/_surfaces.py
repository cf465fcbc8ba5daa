"""Surfaces: names for tags (name maps, ``17=endo_lv`` lists), and automatic labelling of ventricular surfaces.

Name maps
---------
A name map is a JSON object that names integer ids. Accepted shapes (mixed freely):

* ``{"LV endocardium": 17, "RV endocardium": 18}``         name -> id
* ``{"17": "endo_lv", "18": "endo_rv"}``                   id -> name
* ``{"base": [20, 21, 22]}``                              name -> several ids (merged into one surface)
* ``{"regions": {...}, "surfaces": {...}}``               sections, each in one of the shapes above

A flat map (no sections) names surfaces by the ids that are surface tags and regions by the ids that are region ids (an
id that is both names both). Several ids under one name merge into one surface. Command-line lists use the same rules:
``--surface-names 17=endo_lv,20=base,21=base`` and ``--region-names 1=LV,2=RV,7=septum``.

Automatic labelling (`label_ventricular_surfaces`)
-------------------------------------------------
For a ventricular mesh (LV, or LV + RV) whose file carries no usable surface tags:

1. The boundary faces of the tets (faces of exactly one tet), oriented outward.
2. Feature edges: boundary edges whose dihedral angle (the angle between the two face normals) exceeds
   ``feature_angle`` (default 60 degrees). Cutting them splits the boundary into smooth patches.
3. Base: the patches that are flat (area-weighted mean normal of length >= 0.95, i.e. normals within ~18 degrees of
   their mean), hold at least 0.1 % of the boundary area and face the basal direction (their normal within 60 degrees
   of the largest flat patch's outward normal): the basal cut plane(s) and valve planes, not a flat cavity roof (which
   faces the other way). At least one is required.
4. The other faces, grouped by edge connectivity (the base separates them), must form 2 (LV) or 3 (BiV) components.
   epi = the component with the largest bounding box (it must contain the others' boxes); the others are endocardia.
5. LV or RV endocardium: when the regions are named (a name starting with "LV" or containing "left"), the endocardium
   whose faces lie most on LV tets is endo_lv; otherwise the one with the thicker wall (larger mean distance from its
   nodes to the nearest epicardial node) is endo_lv: the LV wall is thicker than the RV free wall.

With ``regions=`` (the ventricles' ids in a larger mesh) the result is their submesh and the faces they share with the
other regions (the AV cut, however jagged) are base too; the cut's mean outward normal is then the basal direction.

Anything else (no flat base, 1 or more than 3 non-base components, an epicardium that does not enclose the others) is
an error that says what was found.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np

from .._errors import MeshError, MeshWarning
from ._mesh import Mesh, Surface

__all__ = [
    "label_ventricular_surfaces",
    "surface_summary",
    "parse_id_names",
    "load_name_map",
    "load_name_maps",
    "find_name_maps",
    "apply_names",
    "FEATURE_ANGLE_DEG",
    "AUTO_SURFACE_TAGS",
]

#: Dihedral angle (degrees) above which a boundary edge is a feature edge (cuts the boundary into patches).
FEATURE_ANGLE_DEG = 60.0
#: Tags given to automatically labelled surfaces (the same as the built-in meshes use).
AUTO_SURFACE_TAGS = {"base": 10, "endo_rv": 20, "endo_lv": 30, "epi": 40}
_FLATNESS = 0.95
_MIN_BASE_FRACTION = 0.001
_MAX_BASE_TILT_DEG = 60.0


# ============================================================================================================ names
def parse_id_names(text: str | None, what: str = "--surface-names") -> dict[int, str] | None:
    """``"17=endo_lv,18=epi"`` -> ``{17: "endo_lv", 18: "epi"}`` (one-line ValueError for anything malformed)."""
    if text is None:
        return None
    out: dict[int, str] = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        m = re.fullmatch(r"(-?\d+)\s*=\s*(\S(?:.*\S)?)", item)
        if not m:
            raise MeshError(f"{what}: cannot read {item!r}; give comma-separated id=name pairs like 1=LV,2=RV")
        rid, name = int(m.group(1)), m.group(2)
        if out.get(rid, name) != name:
            raise MeshError(f"{what}: id {rid} is named twice ({out[rid]!r} and {name!r}); give each id one name")
        out[rid] = name
    if not out:
        raise MeshError(f"{what}: no id=name pairs in {text!r}; give e.g. 1=LV,2=RV")
    return out


def _ids_names(obj, source: str) -> dict[int, str]:
    """One flat map (any accepted shape) -> {id: name}."""
    if not isinstance(obj, dict):
        raise MeshError(
            f'{source}: a name map must be a JSON object like {{"LV endocardium": 17}}, got {type(obj).__name__}'
        )
    out: dict[int, str] = {}

    def put(i, name):
        if isinstance(i, bool) or not isinstance(i, (int, float)) or not math.isfinite(i) or float(i) != int(i):
            raise MeshError(f"{source}: the id of {name!r} must be a whole number, got {i!r}")
        i = int(i)
        if out.get(i, name) != name:
            raise MeshError(f"{source}: id {i} is named twice ({out[i]!r} and {name!r}); give each id one name")
        out[i] = str(name)

    for k, v in obj.items():
        if re.fullmatch(r"\s*-?\d+\s*", str(k)) and isinstance(v, str):
            put(int(k), v)
        elif isinstance(v, list) and v:
            for i in v:
                put(i, k)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            put(v, k)
        else:
            raise MeshError(
                f'{source}: cannot read the entry {k!r}: {v!r}; use "name": id, "name": [ids] or "id": "name"'
            )
    return out


def load_name_maps(srcs, source: str | None = None) -> dict[str, dict[int, str]]:
    """Several name maps (paths or dicts) merged into one, later ones winning (see `load_name_map`)."""
    if isinstance(srcs, (str, Path, dict)):
        srcs = [srcs]
    out: dict[str, dict[int, str]] = {"regions": {}, "surfaces": {}, "any": {}}
    for src in srcs:
        one = src if isinstance(src, dict) and set(src) == set(out) else load_name_map(src, source)
        for k in out:
            out[k].update(one[k])
    return out


def load_name_map(src, source: str | None = None) -> dict[str, dict[int, str]]:
    """A name map (JSON file path, or an already loaded dict) -> {"regions": {...}, "surfaces": {...}, "any": {...}}
    where "any" holds the ids of a flat map (they name surfaces and regions alike). A flat map in a file named
    ``*_regions.json`` / ``*_surfaces.json`` names only regions / only surfaces."""
    section = None
    if not isinstance(src, dict):
        stem = Path(src).name.lower().removesuffix(".json")
        section = (
            "regions"
            if stem.endswith(("_regions", ".regions"))
            else "surfaces"
            if stem.endswith(("_surfaces", ".surfaces"))
            else None
        )
    if isinstance(src, dict):
        obj, source = src, source or "name map"
    else:
        p = Path(src)
        source = source or str(p)
        try:
            text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is fine
        except FileNotFoundError:
            raise MeshError(f"name map not found: {p}; check the path") from None
        except UnicodeDecodeError as e:
            raise MeshError(
                f"{p}: the name map is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"
            ) from None
        except OSError as e:
            raise MeshError(f"cannot read the name map {p} ({type(e).__name__}: {e})") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise MeshError(
                f"{p}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); a name map looks "
                'like {"LV endocardium": 17, "base": [20, 21]}'
            ) from None
    if not isinstance(obj, dict):
        raise MeshError(
            f'{source}: a name map must be a JSON object like {{"LV endocardium": 17}}, got {type(obj).__name__}'
        )
    sections = {"regions": "regions", "volumes": "regions", "surfaces": "surfaces"}
    lower = {str(k).lower(): k for k in obj}
    if any(k in sections for k in lower) and all(isinstance(v, dict) for v in obj.values()):
        out = {"regions": {}, "surfaces": {}, "any": {}}
        for low, k in lower.items():
            if low not in sections:
                raise MeshError(f'{source}: unknown section {k!r}; a sectioned name map has "regions" and "surfaces"')
            out[sections[low]].update(_ids_names(obj[k], f"{source} [{k}]"))
        return out
    flat = _ids_names(obj, source)
    if section is not None:
        return {"regions": {}, "surfaces": {}, "any": {}} | {section: flat}
    return {"regions": {}, "surfaces": {}, "any": flat}


def find_name_maps(mesh_path) -> list[Path]:
    """The name maps next to a mesh: those of ``<stem>.json``, ``<stem>_names.json``, ``<stem>.names.json``,
    ``<stem>_regions.json`` and ``<stem>_surfaces.json`` that exist in the mesh's folder (applied in that order). For an
    openCARP basename the stem is the basename. (A folder-wide ``names.json`` is not looked for: it would also name
    every other mesh written into that folder; pass it with --map.)"""
    p = Path(mesh_path)
    stem = p.name
    for suffix in (".vtu", ".vtk", ".msh", ".xdmf", ".xmf", ".mesh", ".pts", ".elem", ".lon", ".inp", ".med"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    names = (
        f"{stem}.json",
        f"{stem}_names.json",
        f"{stem}.names.json",
        f"{stem}_regions.json",
        f"{stem}_surfaces.json",
    )
    if not p.name:  # "" or "/": no file to find maps beside (the read then says what is wrong with the path)
        return []
    return [c for c in (p.with_name(n) for n in names) if c.is_file() and c != p]


def _source_of(name_map) -> str:
    maps = [name_map] if isinstance(name_map, (str, Path, dict)) else list(name_map)
    return ", ".join("name map" if isinstance(m, dict) else str(m) for m in maps)


def _check_ids(named: dict[int, str], present: set[int], what: str, source: str, strict: bool) -> dict[int, str]:
    missing = sorted(set(named) - present)
    if not missing:
        return named
    have = sorted(present)
    if strict or len(missing) == len(named):
        raise MeshError(
            f"{source}: {what} id(s) {missing} are not in the mesh ({what} ids present: {have}); "
            "fix the ids or the name map"
        )
    warnings.warn(
        f"{source}: {len(missing)} of {len(named)} named id(s) are not in the mesh: {missing} "
        f"(ids present: {have}); they were ignored",
        MeshWarning,
        stacklevel=3,
    )
    return {k: v for k, v in named.items() if k not in missing}


def apply_names(
    mesh: Mesh,
    *,
    region_names: dict[int, str] | None = None,
    surface_names: dict[int, str] | None = None,
    name_map=None,
    name_map_source: str | None = None,
    strict_map: bool = True,
) -> Mesh:
    """Name regions and surfaces by id; later sources win: the file's names < `name_map` < explicit arguments.

    Surfaces are regrouped by tag: every tag given the same name becomes one surface (its tag the smallest). Ids in
    `region_names` / `surface_names` that are not in the mesh are a one-line error listing the ids present; ids of a
    name map that are in neither the surfaces nor the regions are an error when none match (or `strict_map` and any is
    missing), else a warning listing them.
    """
    if region_names is None and surface_names is None and name_map is None:
        return mesh
    region_ids = set(mesh.region_ids.tolist())
    surf_tags = {s.tag for s in mesh.surfaces.values()}
    reg = dict(mesh.region_names)
    surf_by_tag: dict[int, str] = {}
    for name, s in mesh.surfaces.items():
        surf_by_tag.setdefault(s.tag, name)

    if name_map is not None:
        nm = load_name_maps(name_map, name_map_source)
        src = name_map_source or _source_of(name_map)
        flat = nm["any"]
        if flat:
            flat = _check_ids(flat, region_ids | surf_tags, "region or surface", src, strict=False)
            reg.update({k: v for k, v in flat.items() if k in region_ids})
            surf_by_tag.update({k: v for k, v in flat.items() if k in surf_tags})
        if nm["regions"]:
            reg.update(_check_ids(nm["regions"], region_ids, "region", src, strict=False))
        if nm["surfaces"]:
            surf_by_tag.update(_check_ids(nm["surfaces"], surf_tags, "surface", src, strict=False))
    if region_names:
        reg.update(
            _check_ids(
                {int(k): str(v) for k, v in region_names.items()}, region_ids, "region", "--region-names", strict=True
            )
        )
    if surface_names:
        surf_by_tag.update(
            _check_ids(
                {int(k): str(v) for k, v in surface_names.items()}, surf_tags, "surface", "--surface-names", strict=True
            )
        )

    surfaces: dict[str, Surface] = {}
    if surface_names or name_map is not None:
        groups: dict[str, list[Surface]] = {}
        for s in mesh.surfaces.values():
            groups.setdefault(surf_by_tag[s.tag], []).append(s)  # every tag is there (filled from the surfaces above)
        for name, group in groups.items():
            if len(group) == 1:
                surfaces[name] = group[0]
            else:
                surfaces[name] = Surface(np.concatenate([g.triangles for g in group]), min(g.tag for g in group))
    else:
        surfaces = dict(mesh.surfaces)
    return mesh.replace(surfaces=surfaces, region_names={k: v for k, v in reg.items() if k in region_ids})


# ============================================================================================================ geometry
def _boundary(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Outward-oriented boundary triangles and the tet each belongs to."""
    local = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])  # outward for a positively oriented tet
    faces = mesh.tets[:, local].reshape(-1, 3).astype(np.int64)
    owner = np.repeat(np.arange(mesh.n_cells), 4)
    key = np.sort(faces, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    once = counts[inv.ravel()] == 1
    tris, owner = faces[once], owner[once]
    # make them outward whatever the tet orientation: the opposite vertex must lie behind the face
    p = mesh.points
    tet = mesh.tets[owner]
    centre = p[tet].mean(axis=1)
    n = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    flip = np.einsum("ij,ij->i", n, p[tris[:, 0]] - centre) < 0
    tris[flip] = tris[flip][:, [0, 2, 1]]
    return tris, owner


def _normals_areas(points: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.cross(points[tris[:, 1]] - points[tris[:, 0]], points[tris[:, 2]] - points[tris[:, 0]])
    a = np.linalg.norm(n, axis=1)
    return n / np.maximum(a, 1e-300)[:, None], 0.5 * a


def _edge_pairs(tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each interior edge of a triangle set, the two triangles sharing it (non-manifold edges: neighbours)."""
    e = np.sort(tris[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(tris)), 3)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, owner = e[order], owner[order]
    same = np.all(e[1:] == e[:-1], axis=1)
    return owner[:-1][same], owner[1:][same]


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label per item, given edges a-b."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1]


def surface_summary(mesh: Mesh) -> list[dict]:
    """Name, tag, triangle count and area (mm²) of every surface, in name order."""
    out = []
    for name in sorted(mesh.surfaces):
        s = mesh.surfaces[name]
        _, a = _normals_areas(mesh.points, s.triangles)
        out.append({"name": name, "tag": s.tag, "triangles": s.n_faces, "area_mm2": float(a.sum())})
    return out


def _is_lv_name(name: str) -> bool:
    low = name.lower()
    return low.startswith("lv") or "left" in low


def label_ventricular_surfaces(mesh: Mesh, *, feature_angle: float = FEATURE_ANGLE_DEG, regions=None) -> Mesh:
    """Classify the boundary of a ventricular tet mesh into ``endo_lv``, ``endo_rv`` (BiV only), ``epi`` and ``base``.

    The rule is in the module docstring. The mesh's other surfaces are replaced by these. Raises a one-line MeshError
    saying what was found when the boundary does not look like one (or two) ventricles with a flat base.

    Args:
        regions: the ventricles' region ids in a larger (e.g. four-chamber) mesh: the result is their submesh, and
            the faces they share with the other regions (the cut at the AV junction and the vessels, however jagged)
            are base, with the flat patches that face the same way (the valve planes).
    """
    interface = None
    if regions is not None:
        full = mesh
        mask = np.isin(full.regions, [int(r) for r in regions])
        mesh = full.submesh(regions)
        used = np.unique(full.tets[mask])  # submesh node k is full node used[k] (keep_cells keeps node order)
        others = np.sort(full.tets[~mask][:, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]].reshape(-1, 3), axis=1)
    tris, owner = _boundary(mesh)
    if len(tris) == 0:
        raise MeshError("the mesh has no boundary faces; cannot label surfaces")
    if regions is not None:
        from ._mesh import _face_keys

        mine = _face_keys(np.sort(used[tris], axis=1), full.n_nodes)
        interface = np.isin(mine, _face_keys(others, full.n_nodes)) if len(others) else np.zeros(len(tris), bool)
    nrm, area = _normals_areas(mesh.points, tris)
    total = float(area.sum())
    a, b = _edge_pairs(tris)
    cos = np.einsum("ij,ij->i", nrm[a], nrm[b])
    smooth = cos >= np.cos(np.radians(feature_angle))
    patch = _components(len(tris), a[smooth], b[smooth])

    base = np.zeros(len(tris), dtype=bool)
    n_patches = int(patch.max()) + 1
    resultant = np.zeros((n_patches, 3))
    np.add.at(resultant, patch, nrm * area[:, None])
    parea = np.bincount(patch, weights=area, minlength=n_patches)
    flat = (np.linalg.norm(resultant, axis=1) >= _FLATNESS * parea) & (parea >= _MIN_BASE_FRACTION * total)
    up = None
    if interface is not None and interface.any():  # the basal direction: the mean outward normal of the cut
        up = (nrm[interface] * area[interface, None]).sum(axis=0)
    elif flat.any():  # ... or the largest flat patch's normal
        up = resultant[int(np.argmax(np.where(flat, parea, -1.0)))]
    if up is not None and np.linalg.norm(up) > 0:  # flat patches must face it: a cavity's flat roof faces away
        up = up / np.linalg.norm(up)
        flat &= resultant @ up >= np.cos(np.radians(_MAX_BASE_TILT_DEG)) * np.linalg.norm(resultant, axis=1)
    base = flat[patch]
    if interface is not None:
        base |= interface
    if not base.any():
        raise MeshError(
            f"found no flat basal surface among the {n_patches} smooth boundary patches (feature angle "
            f"{feature_angle:g} deg); automatic labelling needs a ventricle cut by a base plane, or the "
            "ventricles' region ids in the whole heart mesh (--regions) to take their cut as the base; or "
            "name the surfaces with a name map or --surface-names"
        )

    rest = np.flatnonzero(~base)
    keep = (~base[a]) & (~base[b])
    comp_rest = _components(len(rest), *_reindex(rest, a[keep], b[keep], len(tris)))
    n_comp = int(comp_rest.max()) + 1 if rest.size else 0
    comp_area = np.bincount(comp_rest, weights=area[rest], minlength=n_comp)
    if n_comp not in (2, 3):
        areas = ", ".join(f"{x:.0f}" for x in sorted(comp_area, reverse=True)) or "none"
        raise MeshError(
            f"found {n_comp} boundary component(s) besides {int(flat.sum())} flat basal patch(es) (areas "
            f"{areas} mm^2), expected 2 "
            "(LV: epi + endo) or 3 (BiV: epi + 2 endo); name the surfaces with a name map or "
            "--surface-names instead"
        )
    boxes = []
    for c in range(n_comp):
        pts = mesh.points[np.unique(tris[rest[comp_rest == c]])]
        boxes.append((pts.min(axis=0), pts.max(axis=0)))
    diag = [float(np.linalg.norm(hi - lo)) for lo, hi in boxes]
    epi = int(np.argmax(diag))
    lo_e, hi_e = boxes[epi]
    tol = 1e-6 * diag[epi] + 1e-9
    for c in range(n_comp):
        if c != epi and (np.any(boxes[c][0] < lo_e - tol) or np.any(boxes[c][1] > hi_e + tol)):
            raise MeshError(
                f"the largest boundary component (area {comp_area[epi]:.0f} mm^2) does not enclose the "
                f"others, so it cannot be told as the epicardium; found {n_comp} components besides the "
                "base; name the surfaces with a name map or --surface-names instead"
            )
    endos = [c for c in range(n_comp) if c != epi]
    labels = {"epi": epi}
    if len(endos) == 1:
        labels["endo_lv"] = endos[0]
    else:
        lv_ids = [rid for rid, name in mesh.region_names if _is_lv_name(name)]
        score = None
        if lv_ids:
            on_lv = np.isin(mesh.regions[owner[rest]], lv_ids)
            score = [float(on_lv[comp_rest == c].mean()) for c in endos]
            if abs(score[0] - score[1]) < 0.05:
                score = None
        if score is None:  # the thicker wall is the LV's
            from scipy.spatial import KDTree

            epi_nodes = np.unique(tris[rest[comp_rest == epi]])
            tree = KDTree(mesh.points[epi_nodes])
            score = [float(tree.query(mesh.points[np.unique(tris[rest[comp_rest == c]])])[0].mean()) for c in endos]
        lv = endos[int(np.argmax(score))]
        labels["endo_lv"] = lv
        labels["endo_rv"] = endos[0] if lv == endos[1] else endos[1]

    surfaces = {"base": Surface(tris[base], AUTO_SURFACE_TAGS["base"])}
    for name, c in labels.items():
        surfaces[name] = Surface(tris[rest[comp_rest == c]], AUTO_SURFACE_TAGS[name])
    return mesh.replace(surfaces={k: surfaces[k] for k in sorted(surfaces)})


def _reindex(rest: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.full(n, -1, dtype=np.int64)
    index[rest] = np.arange(rest.size)
    return index[a], index[b]

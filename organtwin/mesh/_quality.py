"""Mesh summary and quality measures: sizes, regions, surfaces, units, tet shape (vectorised numpy, host)."""

from __future__ import annotations

import numpy as np

from ._checks import guess_units
from ._fibre_checks import fibre_quality, fibre_quality_lines
from ._mesh import Mesh

__all__ = ["mesh_summary", "format_summary", "tet_aspect_ratios"]

_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


def tet_aspect_ratios(points, tets) -> np.ndarray:
    """Normalised aspect ratio R / (3 r) per tet (circumradius over three inradii): 1 for a regular tet, larger for worse
    shapes, inf for a flat one."""
    p = np.asarray(points, dtype=np.float64)[np.asarray(tets)]
    d = {(i, j): p[:, j] - p[:, i] for i, j in _EDGES.tolist()}
    length = {e: np.linalg.norm(v, axis=1) for e, v in d.items()}
    vol = np.abs(np.einsum("ij,ij->i", np.cross(d[0, 1], d[0, 2]), d[0, 3])) / 6.0
    # Circumradius from the products of opposite edge lengths: 24 V R = sqrt((a+b+c)(a+b-c)(a-b+c)(-a+b+c)).
    a = length[0, 1] * length[2, 3]
    b = length[0, 2] * length[1, 3]
    c = length[0, 3] * length[1, 2]
    prod = np.clip((a + b + c) * (a + b - c) * (a - b + c) * (-a + b + c), 0.0, None)
    # Inradius r = 3 V / (total face area), so R / (3 r) = R * area / (9 V).
    area = 0.5 * (
        np.linalg.norm(np.cross(d[0, 1], d[0, 2]), axis=1)
        + np.linalg.norm(np.cross(d[0, 1], d[0, 3]), axis=1)
        + np.linalg.norm(np.cross(d[0, 2], d[0, 3]), axis=1)
        + np.linalg.norm(np.cross(d[1, 2], d[1, 3]), axis=1)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(prod) * area / (24.0 * 9.0 * vol**2)
    return np.where(vol > 0, ratio, np.inf)


def _unique_edge_lengths(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    e = np.sort(tets[:, _EDGES].reshape(-1, 2).astype(np.int64), axis=1)
    keys = np.sort(e[:, 0] * points.shape[0] + e[:, 1])  # sort + mask: several times faster than np.unique here
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys
    i, j = np.divmod(keys, points.shape[0])
    return np.linalg.norm(points[j] - points[i], axis=1)


def mean_edge_length(mesh) -> float:
    """Mean length (mm) of the mesh's unique edges (the resolution a mesh is usually quoted at)."""
    return float(_unique_edge_lengths(np.asarray(mesh.points), np.asarray(mesh.tets)).mean())


def _f(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def mesh_summary(mesh: Mesh) -> dict:
    """A JSON-serialisable summary of a mesh: sizes, regions (tets, volume in mL), surfaces (triangles, area in mm²),
    bounding box (mm), a units guess, quality (tet volumes, aspect ratios R/(3r), edge lengths), fibres, node sets and
    the names of the other fields. Non-finite numbers are reported as None."""
    pts, tets = mesh.points, mesh.tets
    vol = mesh.cell_volumes() if mesh.n_cells else np.zeros(0)
    absvol = np.abs(vol)

    ids, inverse = np.unique(mesh.regions, return_inverse=True)
    counts = np.bincount(inverse, minlength=ids.size)
    vol_by_region = np.bincount(inverse, weights=absvol, minlength=ids.size)
    regions = [
        {"id": int(r), "name": mesh.region_name(int(r)), "tets": int(n), "volume_mL": float(v) / 1000.0}
        for r, n, v in zip(ids.tolist(), counts.tolist(), vol_by_region.tolist())
    ]

    surfaces = []
    for name, s in mesh.surfaces.items():
        t = pts[s.triangles]
        area = 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()
        surfaces.append({"name": name, "tag": int(s.tag), "triangles": s.n_faces, "area_mm2": float(area)})

    if mesh.n_nodes:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        bbox = {"min": [_f(x) for x in lo], "max": [_f(x) for x in hi], "size": [_f(x) for x in hi - lo]}
    else:
        bbox = {"min": None, "max": None, "size": None}
    units, _, reason = guess_units(pts)

    quality: dict = {"inverted_tets": int((vol < 0).sum())}
    if mesh.n_cells:
        ar = tet_aspect_ratios(pts, tets)
        finite = ar[np.isfinite(ar)]
        pct = np.percentile(finite, [50, 95, 99]) if finite.size else [np.nan] * 3
        edges = _unique_edge_lengths(pts, tets)
        quality.update(
            volume_min_mm3=_f(vol.min()),
            volume_max_mm3=_f(vol.max()),
            total_volume_mL=_f(absvol.sum() / 1000.0),
            aspect_ratio={
                "p50": _f(pct[0]),
                "p95": _f(pct[1]),
                "p99": _f(pct[2]),
                "max": _f(ar.max()),
                "degenerate": int((~np.isfinite(ar)).sum()),
            },
            edge_length_mm={"mean": _f(edges.mean()), "min": _f(edges.min()), "max": _f(edges.max())},
        )
    return {
        "nodes": mesh.n_nodes,
        "tets": mesh.n_cells,
        "regions": regions,
        "surfaces": surfaces,
        "cavities": _cavities(mesh),
        "bounding_box": bbox,
        "units_guess": {"units": units, "reason": reason},
        "quality": quality,
        "fibres": mesh.fibres is not None,
        "sheets": mesh.sheets is not None,
        "fibre_quality": fibre_quality(mesh),
        "node_sets": [{"name": k, "nodes": int(v.size)} for k, v in mesh.node_sets.items()],
        "cell_fields": sorted(mesh.cell_data),
        "point_fields": sorted(mesh.point_data),
    }


def _cavities(mesh: Mesh) -> list[dict]:
    """Cavity volumes of the endocardial / cavity surfaces (open ones closed at their rims) and of any closed surface
    (organtwin.mesh.cavity_volumes); a cavity surface that cannot be closed is listed with the reason."""
    from ._cavity import cavity_volumes

    out = []
    for name, c in cavity_volumes(mesh).items():
        if isinstance(c, Exception):
            out.append({"surface": name, "volume_mL": None, "error": str(c)})
        else:
            out.append(
                {
                    "surface": name,
                    "volume_mL": c.volume_ml,
                    "closed": c.closed,
                    "rims": c.rims,
                    "lid_area_mm2": c.lid_area_mm2,
                }
            )
    return out


def _g(x, spec: str = ".4g") -> str:
    return "n/a" if x is None else format(x, spec)


def format_summary(summary: dict) -> str:
    """The summary from `mesh_summary` as readable multi-line text (for `organtwin mesh info`)."""
    s = summary
    lines = [f"Mesh: {s['nodes']:,} nodes, {s['tets']:,} tets"]
    bb = s["bounding_box"]
    if bb["min"] is not None:
        vec = lambda v: "(" + ", ".join(_g(x) for x in v) + ")"
        lines.append(f"Bounding box (mm): min {vec(bb['min'])}, max {vec(bb['max'])}, size {vec(bb['size'])}")
    u = s["units_guess"]
    lines.append(f"Units: {u['units']} ({u['reason']})")
    if s["regions"]:
        lines.append("Regions:")
        w = max(4, *(len(r["name"]) for r in s["regions"]))
        lines.append(f"  {'id':>6}  {'name':<{w}}  {'tets':>10}  {'volume (mL)':>12}")
        for r in s["regions"]:
            lines.append(f"  {r['id']:>6}  {r['name']:<{w}}  {r['tets']:>10,}  {r['volume_mL']:>12.4g}")
    if s["surfaces"]:
        lines.append("Surfaces:")
        w = max(4, *(len(x["name"]) for x in s["surfaces"]))
        lines.append(f"  {'name':<{w}}  {'tag':>6}  {'triangles':>10}  {'area (mm²)':>12}")
        for x in s["surfaces"]:
            lines.append(f"  {x['name']:<{w}}  {x['tag']:>6}  {x['triangles']:>10,}  {x['area_mm2']:>12.4g}")
    else:
        lines.append("Surfaces: none")
    for c in s.get("cavities", []):
        if c["volume_mL"] is None:
            lines.append(f"Cavity {c['surface']}: not measured ({c['error']})")
        else:
            how = "closed surface" if c["closed"] else f"open, closed at {c['rims']} rim{'s' if c['rims'] != 1 else ''}"
            lines.append(f"Cavity {c['surface']}: {c['volume_mL']:.4g} mL ({how})")
    q = s["quality"]
    if "aspect_ratio" in q:
        ar, el = q["aspect_ratio"], q["edge_length_mm"]
        lines.append("Quality:")
        lines.append(
            f"  tet volume (mm³): min {_g(q['volume_min_mm3'])}, max {_g(q['volume_max_mm3'])}, "
            f"total {_g(q['total_volume_mL'])} mL, inverted {q['inverted_tets']}"
        )
        lines.append(
            f"  aspect ratio R/3r (1 = regular): p50 {_g(ar['p50'], '.3f')}, p95 {_g(ar['p95'], '.3f')}, "
            f"p99 {_g(ar['p99'], '.3f')}, max {_g(ar['max'], '.3f')}"
            + (f", degenerate {ar['degenerate']}" if ar["degenerate"] else "")
        )
        lines.append(f"  edge length (mm): mean {_g(el['mean'])}, min {_g(el['min'])}, max {_g(el['max'])}")
    lines.extend(fibre_quality_lines(s))  # unit-norm and orthogonality errors, constant fraction, placeholders
    ns = s["node_sets"]
    lines.append("Node sets: " + (", ".join(f"{x['name']} ({x['nodes']:,} nodes)" for x in ns) if ns else "none"))
    lines.append("Cell fields: " + (", ".join(s["cell_fields"]) or "none"))
    lines.append("Point fields: " + (", ".join(s["point_fields"]) or "none"))
    return "\n".join(lines)

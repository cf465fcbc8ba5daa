"""Off-screen picture of a mesh's named surfaces, one distinct colour each, so a user can check a labelling.

Three views: the outside (every surface opaque), and from the side and from the apex with the largest surface (usually
the epicardium) faint, to show the inner surfaces (endocardia, base). The legend gives each surface's name, triangle
count and area.
pyvista is imported here (the edge), never by the core.
"""

from __future__ import annotations

import pathlib

import numpy as np

from .._errors import MeshError
from ._render import _picture_target, _plotter, _pyvista, _write_screenshot, category_colours

__all__ = ["render_surfaces"]


def render_surfaces(mesh, out_png, *, window_size=(2200, 650), title: str | None = None) -> pathlib.Path:
    """Write a PNG of `mesh.surfaces`, one colour per surface with a legend "name (triangles, area mm²)".

    Returns the path written (atomically: a temporary file renamed into place).
    """
    if not mesh.surfaces:
        raise MeshError("render_surfaces: the mesh has no surfaces to draw; name them first (organtwin mesh surfaces)")
    from ..mesh._surfaces import surface_summary

    pv = _pyvista()
    out_png = _picture_target(out_png)
    summary = surface_summary(mesh)
    colours = dict(zip([s["name"] for s in summary], category_colours(len(summary))))
    largest = max(summary, key=lambda s: s["area_mm2"])["name"]
    # faint in the see-through views: the largest surface and every epicardium (they hide the inner surfaces)
    faint_names = {largest} | {s["name"] for s in summary if "epi" in s["name"].lower()}
    if len(faint_names) == len(summary):
        faint_names = {largest}
    points = np.asarray(mesh.points, dtype=np.float64)
    polys = {}
    for s in summary:
        tri = mesh.surfaces[s["name"]].triangles.astype(np.int64)
        faces = np.hstack([np.full((len(tri), 1), 3, dtype=np.int64), tri]).ravel()
        polys[s["name"]] = pv.PolyData(points, faces).clean()
    labels = [[f"{s['name']}  ({s['triangles']} tri, {s['area_mm2']:.0f} mm²)", colours[s["name"]]] for s in summary]

    centre = 0.5 * (points.min(axis=0) + points.max(axis=0))
    distance = 4.0 * float(np.ptp(points, axis=0).max())
    views = [
        ("outside", False, (1.0, 1.0, 0.8)),
        ("see-through, side", True, (-1.0, 1.0, 0.3)),
        ("see-through, from the apex", True, (0.0, 0.0, -1.0)),
    ]
    plotter = _plotter(shape=(1, 4), col_weights=[1, 1, 1, 0.9], window_size=tuple(window_size), border=False)
    try:
        for k, (caption, see_through, direction) in enumerate(views):
            plotter.subplot(0, k)
            plotter.renderers.set_background("white")  # all panels (see `_plotter` on pass-throughs)
            for name, poly in polys.items():
                faint = see_through and name in faint_names and len(polys) > 1
                plotter.add_mesh(poly, color=colours[name], opacity=0.15 if faint else 1.0, show_edges=False)
            if see_through:
                shown = sorted(faint_names)
                caption += f" ({', '.join(shown[:3])}{', ...' if len(shown) > 3 else ''} faint)"
            plotter.add_text(f"{title}: {caption}" if title and k == 0 else caption, font_size=10, color="black")
            d = np.asarray(direction, dtype=np.float64)
            plotter.camera.focal_point = tuple(centre)
            plotter.camera.position = tuple(centre + distance * d / np.linalg.norm(d))
            plotter.camera.up = (0.0, 1.0, 0.0) if d[2] < -0.9 else (0.0, 0.0, 1.0)
            plotter.reset_camera()  # pyright: ignore[reportCallIssue]  # pyvista's functools.wraps reads as unbound
            plotter.renderer.add_axes()
        plotter.subplot(0, 3)
        plotter.renderers.set_background("white")
        plotter.renderer.add_legend(
            labels=labels,
            bcolor="white",
            face="rectangle",
            loc="center left",
            size=(0.98, min(0.09 * len(labels) + 0.02, 0.9)),
        )
        return _write_screenshot(plotter, out_png)
    finally:
        plotter.close()

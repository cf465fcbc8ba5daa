"""Off-screen picture of a mesh's fibres: line glyphs coloured by helix angle, one panel per transmural layer.

pyvista is imported here (the edge), never by the core. Rendering is off-screen through EGL when no display is set.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, cast

import numpy as np

from .._errors import MeshError
from ._render import _picture_target, _plotter, _pyvista, _write_screenshot, to_pyvista

if TYPE_CHECKING:
    import pyvista

__all__ = ["render_fibres"]

_LAYERS = (
    ("endocardial third", 0.0, 1 / 3),
    ("mid-wall third", 1 / 3, 2 / 3),
    ("epicardial third", 2 / 3, 1.0 + 1e-12),
)


def render_fibres(
    mesh, out_png, *, max_arrows: int = 3000, view=(0.0, 1.0, 0.0), window_size=(1800, 700), seed: int = 0
) -> pathlib.Path:
    """Write a PNG of the fibres of `mesh`: three panels (endocardial, mid-wall, epicardial thirds of the wall by the
    ``transmural`` cell field), each with up to ``max_arrows // 3`` fibre glyphs (centred line segments: fibres are
    lines) at tet centroids, coloured by ``helix_angle`` (deg, shared symmetric colour scale), over the faint surface.

    Meshes without a ``transmural`` field are drawn in one panel; without ``helix_angle`` the colour is the fibre's
    component along z (``|f_z|``). The camera looks along `view` (default +y: from the -y side, z up) and only the
    tets of the near half (centroid before the bounding-box centre along `view`) get glyphs, so the far wall does not
    cross-hatch the picture. The glyphs are a random (`seed`) subset. Returns the path written (atomically).
    """
    if mesh.fibres is None:
        raise MeshError("render_fibres: the mesh has no fibres; compute them first (organtwin.mesh.rule_based_fibres)")
    pv = _pyvista()
    out_png = _picture_target(out_png)

    points = np.asarray(mesh.points, dtype=np.float64)
    tets = np.asarray(mesh.tets)
    centroids = points[tets].mean(axis=1)
    fibres = np.asarray(mesh.fibres, dtype=np.float64)
    if "helix_angle" in mesh.cell_data:
        colour = np.asarray(mesh.cell_data["helix_angle"], dtype=np.float64)
        label = "helix angle (deg)"
        # symmetric, robust to a few outlier tets (apex, junctions): the 99.5th percentile of |angle|, up to a multiple of 5
        lim = max(5.0 * np.ceil(float(np.nanpercentile(np.abs(colour), 99.5)) / 5.0), 5.0)
        clim, cmap = (-lim, lim), "coolwarm"
    else:
        colour = np.abs(fibres[:, 2])
        label = "|fibre z|"
        clim, cmap = (0.0, 1.0), "viridis"
    if "transmural" in mesh.cell_data:
        d = np.asarray(mesh.cell_data["transmural"], dtype=np.float64)
        layers = [(name, (d >= lo) & (d < hi)) for name, lo, hi in _LAYERS]
    else:
        layers = [("fibres", np.ones(mesh.n_cells, dtype=bool))]

    grid = to_pyvista(mesh.replace(cell_data={}, point_data={}))
    try:
        surface = grid.extract_surface(algorithm=None)
    except TypeError:  # pyvista < 0.47 has no `algorithm`
        surface = grid.extract_surface()
    view = np.asarray(view, dtype=np.float64) / np.linalg.norm(view)
    centre = 0.5 * (points.min(axis=0) + points.max(axis=0))
    near = (centroids - centre) @ view < 0  # the half facing the camera: the far wall would cross its fibres over it
    cell_volume = np.abs(mesh.cell_volumes())
    rng = np.random.default_rng(seed)
    per_panel = max(1, int(max_arrows) // len(layers))

    segment = pv.Cylinder(center=(0, 0, 0), direction=(1, 0, 0), radius=0.06, height=1.0, resolution=8)
    distance = 4.0 * float(np.ptp(points, axis=0).max())

    plotter = _plotter(shape=(1, len(layers)), window_size=tuple(window_size), border=False)
    try:
        plotter.renderers.set_background("white")  # all panels (see `_plotter` on pass-throughs)
        for k, (name, mask) in enumerate(layers):
            plotter.subplot(0, k)
            plotter.add_mesh(surface, color="lightgrey", opacity=0.12, show_edges=False)
            shown = np.flatnonzero(mask & near)
            if shown.size > per_panel:
                shown = np.sort(rng.choice(shown, size=per_panel, replace=False))
            if shown.size:
                # glyph length ~ the spacing of the shown centroids: (volume of the near layer / glyph count)^(1/3)
                length = 1.4 * (float(np.sum(cell_volume[mask & near])) / shown.size) ** (1 / 3)
                cloud = pv.PolyData(centroids[shown])
                cloud["fibre"] = fibres[shown]
                cloud[label] = colour[shown]
                # a glyph filter's output is a PolyData (vtkGlyph3D; pyvista's glyph() has no return annotation)
                glyphs = cast("pyvista.PolyData", cloud.glyph(orient="fibre", scale=False, factor=length, geom=segment))
                plotter.add_mesh(
                    glyphs,
                    scalars=label,
                    cmap=cmap,
                    clim=clim,
                    show_scalar_bar=(k == len(layers) - 1),
                    scalar_bar_args={
                        "title": label,
                        "color": "black",
                        "vertical": True,
                        "position_x": 0.82,
                        "position_y": 0.15,
                        "height": 0.7,
                        "width": 0.08,
                    },
                )
            plotter.add_text(f"{name} (near half, {shown.size} of {int(mask.sum())} tets)", font_size=11, color="black")
            plotter.camera.focal_point = tuple(centre)
            plotter.camera.position = tuple(centre - distance * view)
            plotter.camera.up = (0.0, 0.0, 1.0)
            plotter.reset_camera()  # pyright: ignore[reportCallIssue]  # pyvista's functools.wraps reads as unbound
            plotter.camera.zoom(1.15)
        return _write_screenshot(plotter, out_png)
    finally:
        plotter.close()

"""`render_mesh` colours regions categorically: one distinct colour per region id (never binned), names in a legend."""

from __future__ import annotations

import make_meshes as H
import numpy as np
import pytest
from cli import run_cli

from organtwin.mesh import Mesh
from organtwin.viz import region_colours, render_mesh


def _three_regions() -> Mesh:
    points, tets = H.box_mesh((6, 2, 2), (6.0, 2.0, 2.0))
    x = points[tets].mean(axis=1)[:, 0]
    return Mesh(points, tets, np.where(x < 2, 1, np.where(x < 4, 7, 2)), region_names={1: "LV", 2: "RV", 7: "septum"})


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def test_region_ids_1_2_7_get_three_different_colours_and_labels():
    colours = region_colours(_three_regions())
    assert sorted(colours) == [1, 2, 7]
    rgb = [_rgb(c) for c, _ in colours.values()]
    for i in range(3):
        for j in range(i):
            assert np.abs(rgb[i] - rgb[j]).max() > 60  # clearly different, not neighbouring shades of one map
    assert [label for _, label in colours.values()] == ["1 LV", "2 RV", "7 septum"]
    many = region_colours(Mesh(*H.box_mesh((30, 1, 1), (30.0, 1.0, 1.0)), np.repeat(np.arange(1, 31), 6)))
    assert len({c for c, _ in many.values()}) == 30


def _has_colour(img: np.ndarray, rgb: np.ndarray, tol: float = 6.0) -> int:
    return int((np.abs(img[..., :3].astype(float) - rgb).max(axis=-1) <= tol).sum())


def test_rendered_picture_shows_each_region_colour(tmp_path):
    pytest.importorskip("pyvista")
    from matplotlib.image import imread

    mesh = _three_regions()
    png = render_mesh(mesh, tmp_path / "r.png", window_size=(600, 450))
    img = (imread(png) * 255).round()
    for rid, (colour, _) in region_colours(mesh).items():
        # the legend swatch is drawn unlit in the exact colour; the shaded faces are that colour times the lighting
        assert _has_colour(img, _rgb(colour)) > 20, rid
        base = _rgb(colour) / np.linalg.norm(_rgb(colour))
        px = img[..., :3].reshape(-1, 3)
        norm = np.linalg.norm(px, axis=1)
        lit = (px @ base) / np.maximum(norm, 1e-9) > 0.995
        assert int((lit & (norm > 60)).sum()) > 2000, rid  # a real area of the picture, not just the swatch


def test_cli_render_with_region_names(capsys, tmp_path):
    from organtwin.mesh import write_mesh

    src = tmp_path / "m.vtu"
    write_mesh(_three_regions().replace(region_names=()), src)
    rc, out, err = run_cli(
        capsys, "mesh", "render", src, "--out", tmp_path / "m.png", "--region-names", "1=LV,2=RV,7=septum"
    )
    assert rc == 0, err
    assert (tmp_path / "m.png").stat().st_size > 10000
    rc, _, err = run_cli(capsys, "mesh", "render", src, "--out", tmp_path / "x.png", "--region-names", "3=LA")
    assert rc == 1 and "region id(s) [3] are not in the mesh (region ids present: [1, 2, 7])" in err
    assert not (tmp_path / "x.png").exists()

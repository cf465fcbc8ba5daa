"""`organtwin demo`: the main job on the built-in biventricular mesh (summary, rule-based fibres, a VTU and two pictures),
written all or nothing into one folder. Light module: heavy imports happen inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import say

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("organtwin-demo"),
):
    """The main job on the built-in default: the biventricular mesh, its summary, fibres, pictures and a VTU."""
    from ..io import check_output_folder, results_folder
    from ..mesh import builtin_mesh_path, format_summary, mesh_summary, read_mesh, rule_based_fibres, write_mesh
    from ..viz import render_fibres, render_mesh

    check_output_folder(out)  # a new, empty or earlier demo folder (written all or nothing, user files never replaced)
    path = builtin_mesh_path("biv")
    mesh = read_mesh(path)
    say(f"built-in biventricular mesh: {path}")
    say(format_summary(mesh_summary(mesh)))
    mesh = rule_based_fibres(mesh)
    say("rule-based fibres (Bayer et al. 2012): helix +60 deg endo to -60 deg epi")
    names = ("biv.vtu", "biv_regions.png", "biv_fibres.png")
    with results_folder(out, kind="demo") as tmp:
        write_mesh(mesh, tmp / names[0])
        render_mesh(mesh, tmp / names[1], title="organtwin: biventricular mesh (regions)")
        render_fibres(mesh, tmp / names[2])
    for name in names:
        say(f"wrote {out / name}")

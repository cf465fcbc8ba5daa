"""Regenerate the built-in meshes in this folder with organtwin's own generators.

    python meshes/regenerate.py              # all of them
    python meshes/regenerate.py biv          # one (names: niederer_slab_0.5mm, lv_ellipsoid, biv)

The recipe of each mesh (generator and arguments) is `organtwin.mesh._generate.BUILTIN_MESHES`, the same table that
`organtwin.mesh.builtin_mesh_path` uses to regenerate a missing file, so the shipped files and the fallback agree.
Each mesh is checked (positive tets, no unused nodes, surfaces = boundary) before it is written, and a summary line is
printed for meshes/README.md.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from organtwin.mesh._generate import BUILTIN_MESHES, _boundary_faces, _face_keys, _write_builtin_vtu

HERE = pathlib.Path(__file__).resolve().parent


def save_builtin(mesh, path) -> None:
    """Write `mesh` as a compressed binary VTU: tets + surface triangles, ``gmsh:physical`` tags, names in field data."""
    _write_builtin_vtu(mesh, path)


def check(mesh) -> None:
    """Raise if the mesh breaks an invariant every built-in mesh keeps."""
    vol = mesh.cell_volumes()
    if not np.all(vol > 0):
        raise SystemExit(f"{int(np.sum(vol <= 0))} tets are not positively oriented")
    if np.unique(mesh.tets).size != mesh.n_nodes:
        raise SystemExit("the mesh has unreferenced nodes")
    boundary, _ = _boundary_faces(mesh.tets, mesh.n_nodes)
    surf = np.concatenate([s.triangles for s in mesh.surfaces.values()])
    a = np.sort(_face_keys(boundary, mesh.n_nodes))
    b = np.sort(_face_keys(surf, mesh.n_nodes))
    if a.shape != b.shape or not np.array_equal(a, b):
        raise SystemExit("the named surfaces do not partition the boundary")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BUILTIN_MESHES), help="meshes to regenerate (default: all)")
    args = parser.parse_args(argv)
    try:
        import gmsh

        gmsh_version = gmsh.__version__
    except ImportError:
        gmsh_version = "not installed"
    print(f"gmsh {gmsh_version}")
    for name in args.names:
        spec = BUILTIN_MESHES[name]
        t0 = time.perf_counter()
        mesh = spec.generate()
        seconds = time.perf_counter() - t0
        check(mesh)
        path = HERE / spec.file
        save_builtin(mesh, path)
        vol = mesh.cell_volumes()
        per_region = ", ".join(
            f"{mesh.region_name(r)} {vol[mesh.regions == r].sum() / 1e3:.3f} mL" for r in mesh.region_ids
        )
        print(
            f"{spec.file}: {spec.generator}({', '.join(f'{k}={v!r}' for k, v in spec.kwargs)}) "
            f"{mesh.n_nodes} nodes, {mesh.n_cells} tets, {sum(s.n_faces for s in mesh.surfaces.values())} boundary "
            f"triangles, tissue {per_region}, {path.stat().st_size / 1e6:.2f} MB, built in {seconds:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

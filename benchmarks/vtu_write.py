"""Time of `organtwin.mesh.write_mesh` for a ~100k-tet mesh written as .vtu (binary and ascii), and the file sizes.

A 30 x 30 x 19 mm slab at dx 1 mm (19,220 nodes, 102,600 tets, 8,160 surface triangles) with fibres and sheets;
median of 7 binary writes and 3 ascii writes (each one atomic: temporary file, fsync, rename). To compare with another
tree, run it with ``PYTHONPATH=<that tree>`` (e.g. ``git archive <commit> organtwin | tar -x -C /tmp/old``).

    python benchmarks/vtu_write.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

import organtwin
from organtwin.mesh import slab_mesh, write_mesh


def main() -> None:
    mesh = slab_mesh((30.0, 30.0, 19.0), 1.0)
    f = np.tile([1.0, 0.0, 0.0], (mesh.n_cells, 1))
    mesh = mesh.replace(fibres=f, sheets=np.roll(f, 1, axis=1))
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "m.vtu"
        line = [f"{Path(organtwin.__file__).parent.parent}: {mesh.n_nodes:,} nodes, {mesh.n_cells:,} tets;"]
        for binary, repeats in ((True, 7), (False, 3)):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                write_mesh(mesh, out, binary=binary)
                times.append(time.perf_counter() - t0)
            size = os.path.getsize(out) / 1e6
            line.append(f"{'binary' if binary else 'ascii'} {np.median(times):.2f} s, {size:.2f} MB;")
    print(" ".join(line))


if __name__ == "__main__":
    main()

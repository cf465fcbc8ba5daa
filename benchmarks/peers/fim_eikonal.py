"""Peer runner for benchmarks/eikonal_vs_fim.py: fim-python (CPU) on a problem given as an .npz file.

Run with the peer venv's python (benchmarks/peers/setup_fim.sh): ``python fim_eikonal.py problem.npz out.npz [repeats]``.
The npz holds points (n, 3) mm, tets (m, 4), D (m, 3, 3) the velocity tensor V (mm/ms)² (fim-python solves
<grad phi, D grad phi> = 1), x0 (k,) source node indices and x0_vals (k,) their times (ms). Writes phi (n,) and the
wall times of each repeat (the solver object is created once; creation time is reported apart).
"""

import sys
import time

import numpy as np
from fimpy.solver import create_fim_solver


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    d = np.load(src)
    precision = np.float64 if d["D"].dtype == np.float64 else np.float32
    t0 = time.perf_counter()
    solver = create_fim_solver(d["points"], d["tets"], d["D"], precision=precision, device="cpu", use_active_list=True)
    create_s = time.perf_counter() - t0
    times, phi = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        phi = solver.comp_fim(d["x0"], d["x0_vals"])
        times.append(time.perf_counter() - t0)
    np.savez(out, phi=np.asarray(phi, np.float64), times=np.asarray(times), create_s=create_s)


if __name__ == "__main__":
    main()

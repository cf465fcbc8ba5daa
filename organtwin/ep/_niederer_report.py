"""The Niederer et al. 2011 benchmark's figures as text: what `organtwin bench niederer` prints (host values only)."""

from __future__ import annotations

import math

from ._niederer import NIEDERER_POINTS, NIEDERER_REFERENCE_FENICSX_BEAT, NiedererResult

__all__ = ["niederer_report"]


def _ms(x: float) -> str:
    return f"{x:8.2f}" if math.isfinite(x) else "   never"


def niederer_report(res: NiedererResult, *, automatic: bool = False) -> list[str]:
    """The lines of a benchmark run: mesh, diffusion (``automatic``: the scheme was chosen for the user), splitting, the
    activation time at P1..P9 (next to fenicsx-beat's where it published this resolution), steps, CG, wall time."""
    auto = " (automatic)" if automatic else ""
    lines = [
        f"mesh       {res.nodes:,} nodes, {res.cells:,} tets (20 x 7 x 3 mm, fibres along x)",
        f"diffusion  {res.diffusion}{auto}; explicit stability limit {res.stability_limit:.3g} ms",
        f"splitting  {res.splitting}; reaction: Rush-Larsen gates, forward Euler for the rest",
    ]
    ref = NIEDERER_REFERENCE_FENICSX_BEAT.get((res.dx, res.dt))
    lines.append("point  x, y, z (mm)         activation (ms)" + ("   fenicsx-beat (ms)" if ref else ""))
    for name, p in NIEDERER_POINTS.items():
        coords = f"({p[0]:g}, {p[1]:g}, {p[2]:g})"
        line = f"{name:<6} {coords:<20} {_ms(res.activation[name])}"
        lines.append(line + (f"        {ref[name]:8.2f}" if ref else ""))
    if res.all_activated:
        stop = f"stopped at {res.t_end:.1f} ms: every node activated (the last at {res.last_activation:.2f} ms)"
    else:
        stop = f"stopped at the cap of {res.t_end:.1f} ms: some nodes never activated"
    lines.append(f"steps      {res.steps:,} ({stop})")
    if res.cg_iterations:
        lines.append(
            f"CG         {res.cg_iterations:,} iterations ({res.cg_iterations / max(res.steps, 1):.1f} per step)"
        )
    lines.append(
        f"wall time  {res.wall_s:.1f} s (set-up {res.setup_s:.1f} s, time loop {res.solve_s:.1f} s of which the first "
        f"segment, with compilation, {res.first_segment_s:.1f} s)"
    )
    return lines

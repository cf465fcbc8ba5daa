"""A 12-lead ECG print: 3 x 4 panels (I, aVR, V1, V4 / II, aVL, V2, V5 / III, aVF, V3, V6) and a lead II rhythm strip
on the standard paper grid: 25 mm/s, 10 mm/mV, 1 mm minor and 5 mm major squares, written to PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_12lead"]

_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_MM_PER_MS = 25.0 / 1000.0
_MM_PER_MV = 10.0


def plot_12lead(t, leads, path, *, title: str = "", lead_names=None, mv_range: tuple[float, float] | None = None) -> Path:
    """Draw the 12 leads (t in ms, leads (n, 12) in mV) on ECG paper and save a PNG at ``path`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from ..ecg import LEAD_NAMES
    from ..io import atomic_file

    names = list(LEAD_NAMES if lead_names is None else lead_names)
    t = np.asarray(t, float)
    x = np.asarray(leads, float)
    lo, hi = mv_range if mv_range is not None else (min(-1.0, x.min() - 0.2), max(1.0, x.max() + 0.2))
    col_mm = (t[-1] - t[0]) * _MM_PER_MS + 5.0
    row_mm = (hi - lo) * _MM_PER_MV
    width_mm, height_mm = 4 * col_mm, 4 * row_mm + 12.0
    fig = plt.figure(figsize=(max((width_mm + 8.0) / 25.4 * 1.6, 6.0), height_mm / 25.4 * 1.6 + (0.4 if title else 0.0)))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - (0.08 if title else 0.0)))
    ax.set_xlim(-8.0, width_mm)
    ax.set_ylim(0, height_mm)
    ax.set_aspect("equal")
    for v in np.arange(0, width_mm + 1e-9, 1.0):
        ax.axvline(v, color="#f4b6b6" if round(v) % 5 else "#e06666", lw=0.3 if round(v) % 5 else 0.7, zorder=0)
    for v in np.arange(0, height_mm + 1e-9, 1.0):
        ax.axhline(v, color="#f4b6b6" if round(v) % 5 else "#e06666", lw=0.3 if round(v) % 5 else 0.7, zorder=0)

    def trace(k, x0, y0, label):
        xs = x0 + (t - t[0]) * _MM_PER_MS
        ys = y0 + (x[:, k] - lo) * _MM_PER_MV
        ax.plot(xs, ys, color="black", lw=0.9)
        ax.text(x0 + 1.0, y0 + row_mm - 3.0, label, fontsize=9, weight="bold")

    for r, row in enumerate(_LAYOUT):
        for c, name in enumerate(row):
            trace(names.index(name), c * col_mm, height_mm - (r + 1) * row_mm, name)
    # rhythm strip: lead II over the full width (the beat repeated to fill it)
    k = names.index("II")
    reps = max(1, int(width_mm // col_mm))
    for i in range(reps):
        xs = i * col_mm + (t - t[0]) * _MM_PER_MS
        ax.plot(xs, 2.0 + (x[:, k] - lo) * _MM_PER_MV, color="black", lw=0.9)
    ax.text(1.0, 2.0 + row_mm - 3.0, "II", fontsize=9, weight="bold")
    # 1 mV calibration pulse (10 mm high, 200 ms wide) at the start of the rhythm strip's row, on its baseline
    y0 = 2.0 + (0.0 - lo) * _MM_PER_MV
    ax.plot([-6.0, -6.0, -1.0, -1.0], [y0, y0 + _MM_PER_MV, y0 + _MM_PER_MV, y0], color="black", lw=1.0)
    ax.axis("off")
    if title:
        fig.suptitle(f"{title}\n25 mm/s, 10 mm/mV", fontsize=8)
    path = Path(path)
    with atomic_file(path, None) as (_, tmp):
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path

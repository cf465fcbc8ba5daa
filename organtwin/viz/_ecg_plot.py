"""A 12-lead ECG print on one landscape page: 3 x 4 panels (I, aVR, V1, V4 / II, aVL, V2, V5 / III, aVF, V3, V6) and a
lead II rhythm strip, on the standard paper grid (1 mm minor and 5 mm major squares), written to PNG (matplotlib, Agg).

The page has a fixed size (about 1980 x 1100 px) whatever the signal. The paper speed and the gain are standard
values chosen to fit and printed on the page, with a calibration pulse of 1 mV at the start of every row:

* paper speed 25 mm/s (the clinical standard) when one beat fits a panel's 62 mm; a shorter record is drawn at
  50, 100 or 200 mm/s so that it fills the panel (a single simulated beat of 450 ms is ~11 mm at 25 mm/s);
* gain 10 mm/mV (standard), 20 mm/mV for small signals, or 5 / 2.5 / 1.25 mm/mV (half, quarter standard ...) for
  large ones, so that the QRS fits the 33 mm of a row; whatever still leaves its row is clipped at the row's edge
  and drawn in red (the clipped lead is named in the page's footer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import InputError

__all__ = ["plot_12lead"]

_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_SPEEDS = (25.0, 50.0, 100.0, 200.0)  # mm/s
_GAINS = (20.0, 10.0, 5.0, 2.5, 1.25)  # mm/mV
_COL_MM = 62.0  # one panel's width
_ROW_MM = 33.0  # one row's height
_LEFT_MM = 12.0  # calibration pulses
_PAGE_W, _PAGE_H = _LEFT_MM + 4 * _COL_MM + 4.0, 4 * _ROW_MM + 22.0  # mm, with header and footer


def _choose_speed(duration_ms: float) -> float:
    fit = [s for s in _SPEEDS if duration_ms * s / 1000.0 <= _COL_MM - 2.0]
    return max(fit) if fit else _SPEEDS[0]


def _choose_gain(lo: float, hi: float) -> float:
    """The largest standard gain at which [lo, hi] mV fits a row (with 3 mm margins), 10 mm/mV when that fits and 20
    only for small signals; the smallest gain when nothing fits (then clipped)."""
    span = max(hi, 0.0) - min(lo, 0.0)
    room = _ROW_MM - 4.0
    for g in _GAINS:
        if span * g <= room and (g <= 10.0 or span * g <= 0.5 * room):
            return g
    return _GAINS[-1]


def plot_12lead(
    t, leads, path, *, title: str = "", lead_names=None, mv_range: tuple[float, float] | None = None, subtitle: str = ""
) -> Path:
    """Draw the 12 leads (t in ms, leads (n, 12) in mV) on ECG paper and save a PNG at ``path`` (atomically).

    ``mv_range``: the (low, high) mV that must fit a row (default: the leads' own range); ``subtitle``: a second
    header line (e.g. the method and the electrodes)."""
    from matplotlib.collections import LineCollection

    from ._figures import figures

    plt = figures()  # a free-standing figure: the process's matplotlib backend is left alone

    from ..ecg import LEAD_NAMES
    from ..io import atomic_file

    names: list[str] = list(LEAD_NAMES if lead_names is None else lead_names)
    t = np.asarray(t, float)
    x = np.asarray(leads, float)
    if x.ndim != 2 or x.shape != (t.size, len(names)) or t.size < 2:
        raise InputError(
            f"plot_12lead: leads must have shape (times, {len(names)}) with at least 2 times, got {x.shape}"
        )
    finite = np.isfinite(x)
    rows = [[names.index(n) for n in row] for row in _LAYOUT] + [[names.index("II")]]

    def row_range(ks):
        if mv_range is not None:
            return tuple(float(v) for v in mv_range)
        v = x[:, ks][finite[:, ks]]
        return float(np.min(v, initial=0.0)), float(np.max(v, initial=0.0))

    ranges = [row_range(ks) for ks in rows]
    duration = float(t[-1] - t[0])
    speed = _choose_speed(duration)
    gain = min(_choose_gain(lo, hi) for lo, hi in ranges)
    mm_per_ms = speed / 1000.0
    shown = min(duration, (_COL_MM - 2.0) / mm_per_ms)  # ms shown per panel
    # each row's baseline placed so that its leads' (lo, hi) range is centred in the row
    base_offs = [
        float(np.clip(0.5 * _ROW_MM - 0.5 * (min(lo, 0.0) + max(hi, 0.0)) * gain, 0.3 * _ROW_MM, 0.7 * _ROW_MM))
        for lo, hi in ranges
    ]

    fig = plt.figure(figsize=(_PAGE_W / 25.4, _PAGE_H / 25.4))  # true size: 1 mm of paper is 1 mm
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, _PAGE_W)
    ax.set_ylim(0.0, _PAGE_H)
    ax.set_aspect("equal")
    ax.axis("off")
    gx0, gx1, gy0, gy1 = 2.0, _PAGE_W - 2.0, 8.0, 8.0 + 4 * _ROW_MM
    minor, major = [], []
    for v in np.arange(gx0, gx1 + 1e-9, 1.0):
        (major if round(v - gx0) % 5 == 0 else minor).append([(v, gy0), (v, gy1)])
    for v in np.arange(gy0, gy1 + 1e-9, 1.0):
        (major if round(v - gy0) % 5 == 0 else minor).append([(gx0, v), (gx1, v)])
    ax.add_collection(LineCollection(minor, colors="#f6c4c4", linewidths=0.35, zorder=0))
    ax.add_collection(LineCollection(major, colors="#e07070", linewidths=0.7, zorder=0))

    clipped: set[str] = set()

    def draw(k, x0, row, label, t_from=0.0, t_len=shown, repeat=1):
        y_bot = gy1 - (row + 1) * _ROW_MM
        y0 = y_bot + base_offs[row]
        sel = (t - t[0] >= t_from - 1e-9) & (t - t[0] <= t_from + t_len + 1e-9)
        for i in range(repeat):
            xs = x0 + (t[sel] - t[0] - t_from + i * duration) * mm_per_ms
            ys = y0 + x[sel, k] * gain
            lo_y, hi_y = y_bot + 0.5, y_bot + _ROW_MM - 0.5
            out = (ys < lo_y) | (ys > hi_y)
            ax.plot(xs, np.clip(ys, lo_y, hi_y), color="black", lw=1.0, zorder=3)
            if out.any():
                clipped.add(label.split(" ")[0])
                ax.plot(np.where(out, xs, np.nan), np.clip(ys, lo_y, hi_y), color="red", lw=2.2, zorder=4)
        ax.text(
            x0 + 3.0,
            y_bot + _ROW_MM - 1.5,
            label,
            fontsize=11,
            weight="bold",
            va="top",
            zorder=5,
            bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.8),
        )

    for r, row in enumerate(_LAYOUT):
        for c, name in enumerate(row):
            x0 = _LEFT_MM + c * _COL_MM
            draw(names.index(name), x0, r, name)
            if c > 0:  # the panel boundary: a short vertical bar on the baseline, as on printed ECGs
                yb = gy1 - (r + 1) * _ROW_MM + base_offs[r]
                ax.plot([x0, x0], [yb - 2.5, yb + 2.5], color="black", lw=1.2, zorder=4)
    # rhythm strip: lead II across the page, the beat repeated back to back
    # repeated only where one beat is complete (it ends where it starts: back at baseline), not a truncated record
    ends_at_start = np.all(np.abs(x[-1] - x[0]) <= 0.05 * max(np.ptp(x[finite]) if finite.any() else 0.0, 1e-12))
    reps = max(1, int((4 * _COL_MM - 2.0) // max(duration * mm_per_ms, 1e-9))) if shown >= duration else 1
    reps = reps if ends_at_start else 1
    strip = min(duration, (4 * _COL_MM - 2.0) / mm_per_ms)
    draw(
        names.index("II"),
        _LEFT_MM,
        3,
        "II" if reps == 1 else "II (the beat repeated)",
        t_len=strip,
        repeat=min(reps, 200),
    )
    # calibration pulses: 1 mV high at the gain, 200 ms wide at 25 mm/s (5 mm)
    for r in range(4):
        yb = gy1 - (r + 1) * _ROW_MM + base_offs[r]
        hgt = min(gain, _ROW_MM - base_offs[r] - 1.0)
        ax.plot(
            [3.0, 5.0, 5.0, 10.0, 10.0, 12.0], [yb, yb, yb + hgt, yb + hgt, yb, yb], color="black", lw=1.2, zorder=3
        )
    # time scale under the rhythm strip's first beat
    need = 10.0 / mm_per_ms  # at least 10 mm between labels
    step = min(m * 10.0**e for e in range(-2, 6) for m in (1.0, 2.0, 5.0) if m * 10.0**e >= need)
    ticks = np.arange(0.0, min(duration, strip) + 1e-9, step)
    for tm in ticks:
        ax.text(_LEFT_MM + tm * mm_per_ms, gy0 - 0.8, f"{tm:.4g}", fontsize=7, ha="center", va="top", color="#333333")
    ax.text(_LEFT_MM + ticks[-1] * mm_per_ms + 4.0, gy0 - 0.8, "ms", fontsize=7, ha="left", va="top", color="#333333")

    def times_std(v, std, unit):
        r = v / std
        return f"{v:g} {unit}" + ("" if r == 1 else f" ({r:g}x standard)")

    head = f"{times_std(speed, 25.0, 'mm/s')}   {times_std(gain, 10.0, 'mm/mV')}"
    title = (title or "12-lead ECG") if len(title or "") <= 48 else title[:45] + "..."
    ax.text(gx0, _PAGE_H - 2.0, title, fontsize=12, weight="bold", va="top")
    ax.text(gx1, _PAGE_H - 2.0, head, fontsize=11, weight="bold", va="top", ha="right")
    if subtitle:
        ax.text(gx0, _PAGE_H - 7.5, subtitle, fontsize=8, va="top")
    big = float(np.max(np.abs(x[finite]), initial=0.0))
    foot = f"calibration pulses: 1 mV; record {t[0]:.4g}-{t[-1]:.4g} ms; largest deflection {big:.3g} mV"
    if shown < duration:
        foot += f"; panels show the first {shown:.0f} ms"
    if clipped:
        foot += f"; clipped at the row's edge (red): {', '.join(sorted(clipped, key=names.index))}"
    ax.text(gx0, 2.0, foot, fontsize=8, va="bottom", color="red" if clipped else "black")
    path = Path(path)
    with atomic_file(path, None) as (_, tmp):
        fig.savefig(tmp, dpi=190, format="png")
    plt.close(fig)
    return path

"""Pictures of one periodic beat of the closed-loop circulation (matplotlib, Agg): the LV and RV pressure-volume loops,
the pressure traces of the left and right heart, and the chamber volumes, each written to PNG (atomically).

Each function takes a `organtwin.flow.zerod.CirculationResult` (or anything with its ``t`` (s), ``pressure`` (mmHg),
``volume`` (mL) and ``metrics`` attributes): LA, LV, RA, RV chambers, ``sys_art`` (the systemic arterial compartment,
shown as the aorta) and ``pul_art`` (the pulmonary artery).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._figures import figures

__all__ = ["plot_pv_loops", "plot_circulation_pressures", "plot_circulation_volumes", "circulation_pictures"]

_COLOURS = {
    "LV": "#c0392b",
    "LA": "#e59866",
    "sys_art": "#7b241c",
    "RV": "#2471a3",
    "RA": "#85c1e9",
    "pul_art": "#1b4f72",
}
_LABELS = {
    "LV": "LV",
    "LA": "LA",
    "RV": "RV",
    "RA": "RA",
    "sys_art": "aorta (systemic arteries)",
    "pul_art": "pulmonary artery",
}


def _pyplot():
    """Free-standing figures (`organtwin.viz._figures`): the process's matplotlib backend is left alone."""
    return figures()


def _save(fig, path, plt=None, *, dpi: int = 110) -> Path:
    """The figure as PNG at ``path``, atomically (`organtwin.io.atomic_file`)."""
    from ..io import atomic_file

    path = Path(path)
    with atomic_file(path, None) as (_, tmp):
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def _title(fig, title: str, what: str) -> None:
    fig.suptitle(f"{title}: {what}" if title else what, fontsize=10)


def plot_pv_loops(result, path, *, title: str = "") -> Path:
    """The LV and RV pressure-volume loops of the beat (two panels, each titled with EDV, ESV, SV and EF from
    ``result.metrics`` and with the end-diastolic and end-systolic points marked) to a PNG at ``path``."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.4), constrained_layout=True)
    for ax, c in zip(axes, ("LV", "RV")):
        v = np.asarray(result.volume[c], float)
        p = np.asarray(result.pressure[c], float)
        ax.plot(np.append(v, v[0]), np.append(p, p[0]), color=_COLOURS[c], lw=1.8, label=f"{c} loop")
        ied, ies = int(np.argmax(v)), int(np.argmin(v))
        ax.plot(v[ied], p[ied], "o", color="black", ms=5, label="end-diastole (max volume)")
        ax.plot(v[ies], p[ies], "s", color="grey", ms=5, label="end-systole (min volume)")
        m = result.metrics.get(c, {}) if isinstance(result.metrics, dict) else {}
        figures = (
            f"\nEDV {m['EDV_mL']:.0f} mL, ESV {m['ESV_mL']:.0f} mL, SV {m['SV_mL']:.0f} mL, EF {100 * m['EF']:.0f} %"
            if m
            else ""
        )
        ax.set_xlabel(f"{c} volume (mL)")
        ax.set_ylabel(f"{c} pressure (mmHg)")
        ax.set_title(f"{c} pressure-volume loop{figures}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="center", fontsize=7)  # inside the loop, where no trace runs
    _title(fig, title, "pressure-volume loops")
    return _save(fig, path, plt)


def plot_circulation_pressures(result, path, *, title: str = "") -> Path:
    """Pressures over the beat: LV, aorta and LA (left heart) above RV, pulmonary artery and RA (right heart)."""
    plt = _pyplot()
    t = np.asarray(result.t, float)
    fig, axes = plt.subplots(2, 1, figsize=(9.0, 6.4), sharex=True)
    fig.subplots_adjust(left=0.08, right=0.76, bottom=0.09, top=0.9, hspace=0.22)  # equal panels, legends at right
    for ax, names, side in (
        (axes[0], ("LV", "sys_art", "LA"), "left heart"),
        (axes[1], ("RV", "pul_art", "RA"), "right heart"),
    ):
        for k in names:
            ax.plot(t, np.asarray(result.pressure[k], float), color=_COLOURS[k], lw=1.6, label=_LABELS[k])
        ax.set_ylabel("pressure (mmHg)")
        ax.set_title(side, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    axes[1].set_xlabel("time in the beat (s)")
    axes[1].set_xlim(t[0], t[-1])
    _title(fig, title, "pressures over one beat")
    return _save(fig, path, plt)


def plot_circulation_volumes(result, path, *, title: str = "") -> Path:
    """The four chamber volumes over the beat."""
    plt = _pyplot()
    t = np.asarray(result.t, float)
    fig, ax = plt.subplots(figsize=(8.6, 4.0), constrained_layout=True)
    for k in ("LV", "LA", "RV", "RA"):
        ax.plot(t, np.asarray(result.volume[k], float), color=_COLOURS[k], lw=1.6, label=k)
    ax.set_xlabel("time in the beat (s)")
    ax.set_ylabel("volume (mL)")
    ax.set_xlim(t[0], t[-1])
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    _title(fig, title, "chamber volumes over one beat")
    return _save(fig, path, plt)


def circulation_pictures(result, folder, *, title: str = "") -> list[Path]:
    """The three pictures of a circulation results folder: pv_loops.png, pressures.png and volumes.png in ``folder``."""
    folder = Path(folder)
    return [
        plot_pv_loops(result, folder / "pv_loops.png", title=title),
        plot_circulation_pressures(result, folder / "pressures.png", title=title),
        plot_circulation_volumes(result, folder / "volumes.png", title=title),
    ]

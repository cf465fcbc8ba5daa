"""Pictures of a calibration (the edge): for each data term of a fit, measured against fitted.

* activation map — the fitted activation on the heart surface beside the measured map points in the same colours
  (pyvista, off-screen), and measured vs fitted times at the points (matplotlib);
* 12-lead ECG — measured (black) and fitted (red, after the fitted shift and gains) per lead, on ECG-paper scale;
* volume curve / pressure trace / cuff — the fitted beat's curve with the measured samples.

`calibration_pictures(observables, folder, mesh=...)` draws whichever apply from the fit's own outputs
(`FitReport.observables`: nothing is re-simulated here) and returns the paths; each file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._circulation_plot import _pyplot, _save
from ._render import _plotter, _pyvista, _write_screenshot, to_pyvista

__all__ = ["calibration_pictures", "plot_activation_fit", "plot_ecg_fit", "plot_trace_fit"]


def plot_activation_fit(mesh, fitted_ms, points_mm, measured_ms, predicted_ms, path, *, title: str = "") -> Path:
    """Two panels with one colour scale (ms): the fitted activation on the mesh surface, and the measured map
    points (coloured by their measured times, offset-corrected) over the grey surface."""
    pv = _pyvista()
    grid = to_pyvista(mesh)
    grid.point_data["activation (ms)"] = np.asarray(fitted_ms, float)
    try:
        surf = grid.extract_surface(algorithm=None)
    except TypeError:  # pyvista < 0.47 has no `algorithm`
        surf = grid.extract_surface()
    clim = [float(np.nanmin(fitted_ms)), float(np.nanmax(fitted_ms))]
    cloud = pv.PolyData(np.asarray(points_mm, float))
    cloud.point_data["activation (ms)"] = np.asarray(measured_ms, float)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pl = _plotter(shape=(1, 2), window_size=[1600, 800])
    try:
        pl.subplot(0, 0)
        pl.add_text("fitted model" + (f" — {title}" if title else ""), font_size=11)
        pl.add_mesh(
            surf,
            scalars="activation (ms)",
            cmap="turbo",
            clim=clim,
            scalar_bar_args={"title": "activation (ms)", "n_labels": 5, "fmt": "%.0f"},
        )
        pl.renderer.view_isometric()  # the active panel's view (see `_plotter` on pass-throughs)
        pl.subplot(0, 1)
        pl.add_text(f"measured map ({cloud.n_points} points)", font_size=11)
        pl.add_mesh(surf, color="#dddddd", opacity=0.35)
        pl.add_mesh(
            cloud,
            scalars="activation (ms)",
            cmap="turbo",
            clim=clim,
            render_points_as_spheres=True,
            point_size=9,
            show_scalar_bar=False,
        )
        pl.renderer.view_isometric()
        pl.link_views()
        return _write_screenshot(pl, path)
    finally:
        pl.close()


def plot_activation_scatter(measured_ms, predicted_ms, path, *, title: str = "") -> Path:
    plt = _pyplot()
    m, p = np.asarray(measured_ms, float), np.asarray(predicted_ms, float)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(m, p, ".", ms=4, color="#2471a3")
    lo, hi = float(min(m.min(), p.min())), float(max(m.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    rmse = float(np.sqrt(np.mean((p - m) ** 2)))
    ax.set_xlabel("measured activation (ms, offset removed)")
    ax.set_ylabel("fitted activation (ms)")
    ax.set_title((title + ": " if title else "") + f"RMSE {rmse:.2f} ms, {m.size} points", fontsize=10)
    ax.set_aspect("equal")
    fig.tight_layout()
    return _save(fig, path, plt)


def _lead_limits(a, b):
    """Each lead on its own scale (limb leads can be a tenth of the precordial ones), at least ±0.05 mV."""
    span = max(float(np.nanmax(np.abs(np.concatenate([a, b])))) * 1.15, 0.05)
    return -span, span


def plot_ecg_fit(times_ms, measured, fitted, leads, path, *, title: str = "", correlations=None) -> Path:
    """Measured (black) and fitted (red) leads, 3 × 4 panels (each lead on its own mV scale), with each lead's
    correlation."""
    plt = _pyplot()
    t = np.asarray(times_ms, float)
    mea, fit = np.asarray(measured, float), np.asarray(fitted, float)
    n = len(leads)
    cols = 4 if n > 4 else n
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), sharex=True, squeeze=False)
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k >= n:
            ax.axis("off")
            continue
        ax.plot(t, mea[:, k], color="k", lw=0.9, label="measured")
        ax.plot(t, fit[:, k], color="#c0392b", lw=1.1, label="fitted")
        r = None if correlations is None else correlations.get(leads[k])
        ax.set_title(f"{leads[k]}" + (f"  r = {r:.3f}" if r is not None else ""), fontsize=9)
        ax.set_ylim(*_lead_limits(mea[:, k], fit[:, k]))
        ax.grid(True, color="#f4b6b6", lw=0.4)
    axes[0][0].legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("ms")
    for row in axes:
        row[0].set_ylabel("mV")
    fig.suptitle(title or "12-lead ECG: measured vs fitted", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, plt)


def plot_trace_fit(
    model_t_ms, model_values, data_t_ms, data_values, path, *, ylabel: str, title: str = "", extra_lines=None
) -> Path:
    """A fitted beat's curve (line) with the measured samples (dots); ``extra_lines``: {label: value} horizontal
    references (e.g. cuff systolic / diastolic)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.asarray(model_t_ms), np.asarray(model_values), color="#c0392b", lw=1.5, label="fitted model")
    if data_t_ms is not None:
        ax.plot(np.asarray(data_t_ms), np.asarray(data_values), "o", ms=3.5, color="k", label="measured")
    for i, (lab, v) in enumerate((extra_lines or {}).items()):
        ax.axhline(v, color=["#1b4f72", "#85c1e9"][i % 2], ls="--", lw=1.0, label=lab)
    ax.set_xlabel("time in the beat (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, color="#eeeeee")
    fig.tight_layout()
    return _save(fig, path, plt)


def calibration_pictures(observables: dict, folder, *, mesh=None) -> list[Path]:
    """The pictures of a fit's data terms in ``folder``, drawn from what the fit computed (``observables``: {term
    name: observables}, `FitReport.observables`; nothing is simulated here). Each term's observables choose its
    pictures: an activation map gets the fitted activation on ``mesh`` beside the measured points (when ``mesh`` and
    the points are given) and a measured-vs-fitted scatter; an ECG its 12 leads; a trace its curve; None none."""
    from ..calibrate._observables import ActivationObservables, ECGObservables, TraceObservables

    folder = Path(folder)
    out = []
    for name, obs in observables.items():
        if isinstance(obs, ActivationObservables):
            if mesh is not None and obs.points_mm is not None:
                out.append(
                    plot_activation_fit(
                        mesh,
                        obs.activation_ms,
                        obs.points_mm,
                        obs.measured_ms,
                        obs.predicted_ms,
                        folder / f"{name}_activation.png",
                        title=name,
                    )
                )
            out.append(
                plot_activation_scatter(obs.measured_ms, obs.predicted_ms, folder / f"{name}_scatter.png", title=name)
            )
        elif isinstance(obs, ECGObservables):
            out.append(
                plot_ecg_fit(
                    obs.times_ms,
                    obs.measured,
                    obs.fitted,
                    obs.leads,
                    folder / f"{name}_ecg.png",
                    title=f"{name}: measured vs fitted",
                    correlations=obs.correlations,
                )
            )
        elif isinstance(obs, TraceObservables):
            out.append(
                plot_trace_fit(
                    obs.model_t_ms,
                    obs.model_values,
                    obs.data_t_ms,
                    obs.data_values,
                    folder / f"{name}.png",
                    ylabel=obs.ylabel,
                    title=f"{name}: measured vs fitted",
                    extra_lines=obs.extra_lines,
                )
            )
    return out

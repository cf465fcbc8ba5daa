"""Pictures of a calibration (the edge): for each data term of a fit, measured against fitted.

* activation map — the fitted activation on the heart surface beside the measured map points in the same colours
  (pyvista, off-screen), and measured vs fitted times at the points (matplotlib);
* 12-lead ECG — measured (black) and fitted (red, after the fitted shift and gains) per lead, on ECG-paper scale;
* volume curve / pressure trace / cuff — the fitted beat's curve with the measured samples.

`calibration_pictures(observables, folder, mesh=...)` draws whichever apply from the fit's own outputs
(`FitReport.observables`: nothing is re-simulated here) and returns the paths; each file is written atomically.

The report a researcher reads (`report_pictures(report, folder, ...)`, what `organtwin calibrate` draws):

* report.png — `plot_report_table`: per free parameter its value and unit, statistical SD, discretisation shift, total
  SD, identified by the data or not, the posterior's 95 % credible interval beside the Laplace one with R-hat and ESS
  (when sampled), and the verdict (coloured); below it the data fit per term (χ²/dof, RMS residual in its unit);
* NAME_residuals.png per data term — `plot_residuals`: model − data in the data's unit against what it is measured
  over (an activation map's points against their measured time and their position along the long axis, an ECG's
  leads against time, a volume or pressure trace against the time in the beat, a cuff's two readings), with the
  noise SD the case gave as a ±1 and ±2 SD band;
* the data terms' own pictures above, and with ``samples`` the corner and profile plots (`posterior_pictures`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._circulation_plot import _pyplot, _save
from ._render import _plotter, _pyvista, _write_screenshot, to_pyvista

__all__ = [
    "calibration_pictures",
    "plot_activation_fit",
    "plot_ecg_fit",
    "plot_report_table",
    "plot_residuals",
    "plot_trace_fit",
    "report_pictures",
]


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
        pl.add_text(f"measured map ({cloud.n_points} points, same colour scale)", font_size=11)
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
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, frameon=False)  # off the curves
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


# ------------------------------------------------------------------------------------------------- the report
_VERDICT_COLOUR = {
    "identified": "#1e8449",
    "identified within mesh error": "#b9770e",
    "not identifiable from these data": "#c0392b",
}


def _noise_band(ax, noise, unit: str, *, value_in_label: bool = True) -> None:
    """±1 noise SD (the case's) as a grey band and ±2 as dotted lines around zero."""
    ax.axhline(0.0, color="k", lw=0.8)
    if noise is None or not np.isfinite(noise) or noise <= 0:
        return
    u = f" {unit}" if unit else ""
    label = f"±1 noise SD ({noise:.3g}{u})" if value_in_label else "±1 noise SD (each lead's)"
    ax.axhspan(-noise, noise, color="#aab7b8", alpha=0.25, lw=0, label=label)
    for sgn in (-1, 1):
        ax.axhline(2 * sgn * noise, color="#7f8c8d", ls=":", lw=1.0, label="±2 noise SD" if sgn > 0 else None)


def _ylabel(unit: str) -> str:
    return f"model − data ({unit})" if unit else "model − data (data units)"


def _noise_value(noise) -> float | None:
    if noise is None:
        return None
    if isinstance(noise, (list, tuple)):
        return float(max(noise))
    return float(noise)


def plot_residuals(obs, residuals, path, *, unit: str = "", noise_sd=None, title: str = "", lead_noise=None) -> Path:
    """The residuals (model − data, in ``unit``) of one data term against what they are measured over, chosen by the
    term's observables ``obs`` (`ActivationObservables`: against measured time and position along z; `ECGObservables`:
    per lead against time; `TraceObservables` with samples: against the time in the beat, without (a cuff): per
    reading; None: against the residual's index), with the ``noise_sd`` band (±1, ±2 SD); ``lead_noise`` {lead: SD}
    gives each ECG lead its own."""
    from ..calibrate._observables import ActivationObservables, ECGObservables, TraceObservables

    plt = _pyplot()
    r = np.asarray(residuals, float).ravel()
    noise = _noise_value(noise_sd)
    rms = float(np.sqrt(np.mean(r**2))) if r.size else float("nan")
    u = f" {unit}" if unit else ""
    head = (f"{title}: " if title else "") + f"residuals, RMS {rms:.3g}{u} ({r.size} values)"
    if isinstance(obs, ECGObservables):
        t = np.asarray(obs.times_ms, float)
        res = np.asarray(obs.fitted, float) - np.asarray(obs.measured, float)
        n = len(obs.leads)
        cols = 4 if n > 4 else n
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.3 * rows + 0.6), sharex=True, squeeze=False)
        span = max(float(np.nanmax(np.abs(res))) * 1.15, 2.2 * (noise or 0.0), 1e-3)
        for k in range(rows * cols):
            ax = axes[k // cols][k % cols]
            if k >= n:
                ax.axis("off")
                continue
            lead = obs.leads[k]
            ln = (lead_noise or {}).get(lead, noise)
            _noise_band(ax, ln, unit, value_in_label=not lead_noise)
            ax.plot(t, res[:, k], color="#2471a3", lw=0.9)
            lr = float(np.sqrt(np.mean(res[:, k] ** 2)))
            ax.set_title(f"{lead}  RMS {lr:.3g}{u}" + (f", noise SD {ln:.3g}" if lead_noise and ln else ""), fontsize=9)
            ax.set_ylim(-span, span)
            ax.tick_params(labelsize=8)
        for ax in axes[-1]:
            ax.set_xlabel("time (ms)", fontsize=9)
        for row in axes:
            row[0].set_ylabel(_ylabel(unit), fontsize=9)
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="upper right", fontsize=8, frameon=False)
        fig.suptitle(head, fontsize=10, x=0.01, ha="left")
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        return _save(fig, path, plt)
    if isinstance(obs, ActivationObservables):
        m = np.asarray(obs.measured_ms, float)
        res = np.asarray(obs.predicted_ms, float) - m
        panels = [(m, "measured activation time (ms, offset removed)")]
        if obs.points_mm is not None:
            panels.append((np.asarray(obs.points_mm, float)[:, 2], "z coordinate of the point (mm)"))
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), sharey=True, squeeze=False)
        for ax, (x, xlabel) in zip(axes[0], panels):
            _noise_band(ax, noise, unit)
            ax.plot(x, res, ".", ms=4, color="#2471a3", label="map point")
            ax.set_xlabel(xlabel, fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, color="#eeeeee")
        axes[0][0].set_ylabel(_ylabel(unit), fontsize=9)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
        fig.suptitle(head, fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        return _save(fig, path, plt)
    fig, ax = plt.subplots(figsize=(7, 4))
    _noise_band(ax, noise, unit)
    if isinstance(obs, TraceObservables) and obs.data_t_ms is not None and np.size(obs.data_t_ms) == r.size:
        x = np.asarray(obs.data_t_ms, float)
        o = np.argsort(x)
        ax.plot(x[o], r[o], "o-", ms=3.5, lw=0.5, color="#2471a3", label="at the measured samples")
        ax.set_xlabel("time in the beat (ms)", fontsize=9)
        what = obs.ylabel.split(" (")[0]
        ax.set_title(head.replace(":", f" ({what}):", 1) if what and title else head, fontsize=10)
        ax.grid(True, color="#eeeeee")
    else:
        labels = [f"value {i + 1}" for i in range(r.size)]
        if isinstance(obs, TraceObservables) and len(obs.extra_lines) == r.size:
            labels = list(obs.extra_lines)
        x = np.arange(r.size)
        ax.bar(x, r, width=0.5, color="#2471a3", label="model − data")
        ax.set_xticks(x, labels, fontsize=9)
        ax.set_xlim(-0.8, r.size - 0.2)
        ax.set_title(head, fontsize=10)
        ax.grid(True, axis="y", color="#eeeeee")
    span = max(float(np.max(np.abs(r))) * 1.2 if r.size else 0.0, 2.3 * (noise or 0.0), 1e-9)
    ax.set_ylim(-span, span)
    ax.set_ylabel(_ylabel(unit), fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    fig.tight_layout()
    return _save(fig, path, plt)


def _fmt(x, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return format(float(x), spec)


def _table(fig, x_in: float, top_in: float, head: list, cells: list, *, fontsize: float = 9.0, colours=None) -> float:
    """A table with its top-left corner at (``x_in``, ``top_in``) inches from the figure's left and top, columns as
    wide as their longest text; ``colours`` (row -> colour) colours the last column. Its height in inches."""
    W, H = fig.get_size_inches()
    char = fontsize / 72.0 * 0.66  # inches per character (DejaVu Sans, a little generous)
    widths = [(max(len(str(r[j])) for r in [head, *cells]) + 3.5) * char for j in range(len(head))]
    row = fontsize / 72.0 * 2.1
    h = row * (len(cells) + 1)
    ax = fig.add_axes((x_in / W, 1.0 - (top_in + h) / H, sum(widths) / W, h / H))
    ax.axis("off")
    tab = ax.table(
        cellText=cells,
        colLabels=head,
        colWidths=[w / sum(widths) for w in widths],
        cellLoc="left",
        colLoc="left",
        bbox=(0.0, 0.0, 1.0, 1.0),
    )
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    for (i, j), cell in tab.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if i == 0:
            cell.set_facecolor("#f2f2f2")
            cell.set_text_props(weight="bold")
        elif colours is not None and j == len(head) - 1:
            cell.set_text_props(color=colours[i - 1], weight="bold")
    return h


def _table_width(head: list, cells: list, fontsize: float = 9.0) -> float:
    char = fontsize / 72.0 * 0.66
    return sum((max(len(str(r[j])) for r in [head, *cells]) + 3.5) * char for j in range(len(head)))


def plot_report_table(report, path, *, posterior=None, title: str = "") -> Path:
    """report.png: the report's parameter table (`FitReport.parameter_table`: value, statistical SD, discretisation
    shift, total SD, all in the parameter's unit; identified by the data; with ``posterior`` the 95 % credible
    interval beside the Laplace one, R-hat and bulk ESS; with a known truth its error in total SDs) with each verdict
    coloured and its reason below, then the data fit per term (χ²/dof, RMS and largest residual in the data's unit,
    the noise SD the case gave)."""
    from ._posterior_plot import axis_label

    plt = _pyplot()
    rows = report.parameter_table(posterior)
    sampled = posterior is not None
    truth = {r["name"]: report.truth[r["name"]] for r in rows if r["name"] in report.truth}
    head = ["parameter", "unit", "value", "SD stat.", "discretisation shift", "SD total", "data identify it?"]
    head += ["95% Laplace", "95% credible (NUTS)", "R-hat", "ESS bulk"] if sampled else []
    head += ["truth", "error / SD total"] if truth else []
    head += ["verdict"]
    cells, colours = [], []
    for r in rows:
        c = [
            axis_label(r["name"]),
            r["unit"] or "–",
            _fmt(r["value"], ".4g"),
            _fmt(r["sd_statistical"], ".2g"),
            "not checked" if r["discretisation_shift"] is None else _fmt(r["discretisation_shift"], "+.2g"),
            _fmt(r["sd_total"], ".2g") + ("" if r["sd_includes_discretisation"] else " (stat. only)"),
            ("yes" if r["identified"] else "no") + (", at a bound" if r["at_bound"] else ""),
        ]
        if sampled:
            iv = lambda v: "–" if v is None else f"{_fmt(v[0], '.4g')} to {_fmt(v[1], '.4g')}"
            c += [iv(r["laplace_95"]), iv(r["credible_95"]), _fmt(r["rhat"], ".3f"), _fmt(r["ess_bulk"], ".0f")]
        if truth:
            t = truth.get(r["name"])
            z = None if t is None or not r["sd_total"] > 0 else (r["value"] - t) / r["sd_total"]
            c += [_fmt(t, ".4g"), _fmt(z, "+.2f")]
        c.append(r["verdict"])
        cells.append(c)
        colours.append(_VERDICT_COLOUR.get(r["verdict"], "k"))
    fit_head = ["data term", "unit", "n", "χ²/dof", "RMS residual", "largest |residual|", "noise SD given"]
    fit_cells = []
    for name, d in report.data_fit.items():
        ns = d["noise_sd"]
        noise = _fmt(ns, ".3g") if not isinstance(ns, list) else f"{_fmt(ns[0], '.3g')} to {_fmt(ns[1], '.3g')}"
        fit_cells.append(
            [
                name,
                d["unit"] or "–",
                str(d["n"]),
                _fmt(d["chi2_per_dof"], ".3g"),
                _fmt(d["rms_residual"], ".3g"),
                _fmt(d["max_abs_residual"], ".3g"),
                noise,
            ]
        )
    reasons = [f"{axis_label(r['name'])}: {r['verdict_reason']}" for r in rows]
    disc = report.discretisation
    dof = report.chi2 / max(report.n_residuals - len(report.names), 1)
    notes = [
        f"{report.n_residuals} data residuals, {len(report.names)} free values, χ²/dof {dof:.3g}. SD stat.: Laplace "
        "(noise only); discretisation shift: how far the fit moves on the model made finer;",
        "SD total = sqrt(SD stat.² + (2 × shift)²) (Richardson, first order). "
        + (
            f"Refinement: {disc.get('what', '')}."
            if disc.get("checked")
            else f"Discretisation not checked ({disc.get('reason', 'not asked')}): SD total = SD stat."
        ),
    ]
    small, body, line = 8.5, 9.0, 0.21
    width = max(
        _table_width(head, cells, body),
        _table_width(fit_head, fit_cells, body),
        max(len(x) for x in reasons + notes) * small / 72.0 * 0.56 + 0.4,
        7.0,
    )
    row = body / 72.0 * 2.1
    height = (
        0.55  # title
        + line * len(notes)
        + 0.2
        + row * (len(cells) + 1)
        + 0.25
        + line * (len(reasons) + 1)
        + 0.45
        + row * (len(fit_cells) + 1)
        + 0.3
    )
    fig = plt.figure(figsize=(width + 0.4, height))
    H = height
    y = 0.2
    fig.text(0.2 / (width + 0.4), 1 - y / H, title or "calibration report", fontsize=13, weight="bold", va="top")
    y += 0.35
    x0 = 0.2 / (width + 0.4)
    for note in notes:
        fig.text(x0, 1 - y / H, note, fontsize=small, va="top", color="#333333")
        y += line
    y += 0.2
    y += _table(fig, 0.2, y, head, cells, fontsize=body, colours=colours) + 0.25
    fig.text(x0, 1 - y / H, "why:", fontsize=body, weight="bold", va="top")
    y += line
    for text, colour in zip(reasons, colours):
        fig.text(x0 + 0.15 / (width + 0.4), 1 - y / H, text, fontsize=small, va="top", color=colour)
        y += line
    y += 0.2
    fig.text(x0, 1 - y / H, "data fit per term", fontsize=11, weight="bold", va="top")
    y += 0.25
    if fit_cells:
        _table(fig, 0.2, y, fit_head, fit_cells, fontsize=body)
    return _save(fig, path, plt)


def report_pictures(report, folder, *, mesh=None, samples=None, truth: dict | None = None, title: str = "") -> list:
    """Everything a calibration report draws in ``folder`` (module docstring): the data terms' pictures
    (`calibration_pictures`), a residual plot per term, report.png, and with ``samples`` (a
    `organtwin.io.CalibrationSamples`) the corner and profile plots. The paths."""
    folder = Path(folder)
    out = calibration_pictures(report.observables, folder, mesh=mesh)
    for name, r in report.residuals.items():
        d = report.data_fit.get(name, {})
        out.append(
            plot_residuals(
                report.observables.get(name),
                r,
                folder / f"{name}_residuals.png",
                unit=d.get("unit", ""),
                noise_sd=d.get("noise_sd"),
                title=name,
                lead_noise=report.terms.get(name, {}).get("noise_sd_mv"),
            )
        )
    post = None if samples is None else samples.posterior
    out.append(plot_report_table(report, folder / "report.png", posterior=post, title=title))
    if samples is not None:
        from ._posterior_plot import posterior_pictures

        out += posterior_pictures(samples, folder, truth=truth, laplace_sd=report.sd, title=title)
    return out

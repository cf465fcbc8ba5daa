"""Pictures of a sampled posterior (the edge): a corner plot of the draws and the profile likelihoods.

* `plot_corner` — every free value's marginal (histogram of the draws, the Laplace Gaussian dashed over it, the 95 %
  credible interval shaded) on the diagonal, every pair's draws below it; the optimum the chains started from (red
  cross/line) and the truth where known (green star/line) marked; axes in the parameters' own units.
* `plot_profiles` — each profiled value's rise of the negative log posterior over its best point, with the 68 % and
  95 % thresholds (χ²₁/2).

`posterior_pictures(samples, folder, ...)` draws both from a `organtwin.io.CalibrationSamples` (or anything with
``posterior``, ``profiles`` and ``units``) and returns the paths; each file is written atomically.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._circulation_plot import _pyplot, _save

__all__ = ["axis_label", "plot_corner", "plot_profiles", "posterior_pictures"]

_PREFIXES = ("circulation.model.blocks.", "circulation.model.", "circulation.", "tissue.", "sites.", "ecg.")


def axis_label(name: str, unit: str = "") -> str:
    """A readable axis label: the case's model path shortened (``circulation.model.blocks.LV.e_active`` -> ``LV
    e_active``; ``sites.lv.position[2]`` -> ``lv position z``; ``tissue.velocity[1, 0]`` -> ``velocity region 2``),
    with the unit in brackets."""
    n = name
    for p in _PREFIXES:
        if n.startswith(p):
            n = n[len(p) :]
            break
    m = re.match(r"^(.*position)\[(\d)\]$", n)
    if m:
        n = f"{m.group(1)} {'xyz'[int(m.group(2))]}"
    m = re.match(r"^((?:fast_)?velocity)\[(\d+), *(\d+)\]$", n)
    if m:
        kind = ("", " sheet", " normal")[int(m.group(3))] if int(m.group(3)) < 3 else f" [{m.group(3)}]"
        n = f"{m.group(1)}{kind} region #{int(m.group(2)) + 1}"
    n = n.replace(".", " ").replace("[0]", "")
    return f"{n} ({unit})" if unit else n


def plot_corner(
    draws,
    names,
    path,
    *,
    units: dict | None = None,
    optimum=None,
    truth: dict | None = None,
    laplace_sd=None,
    interval_95=None,
    title: str = "",
    max_points: int = 2000,
) -> Path:
    """A corner plot of ``draws`` ((draws, p) or (chains, draws, p), the parameters' units) named ``names``.
    ``optimum`` (p,) the fitted values (red), ``truth`` {name: value} (green; synthetic cases), ``laplace_sd`` (p,)
    the Laplace SDs (a dashed Gaussian on each marginal), ``interval_95`` (p, 2) the credible intervals (shaded). At
    most ``max_points`` draws (evenly thinned) in each scatter panel."""
    plt = _pyplot()
    x = np.asarray(draws, float)
    x = x.reshape(-1, x.shape[-1])
    p = x.shape[1]
    names = list(names)
    units = units or {}
    truth = truth or {}
    labels = [axis_label(n, units.get(n, "")) for n in names]
    thin = x[:: max(1, x.shape[0] // max_points)]
    size = min(2.3, 16.0 / p) if p > 1 else 4.0
    fig, axes = plt.subplots(p, p, figsize=(size * p + 0.8, size * p + 0.8), squeeze=False)
    lo_hi = []
    for j in range(p):
        a, b = np.quantile(x[:, j], [0.002, 0.998])
        pts = (
            [a, b]
            + ([float(optimum[j])] if optimum is not None else [])
            + ([truth[names[j]]] if names[j] in truth else [])
        )
        a, b = min(pts), max(pts)
        pad = 0.08 * (b - a) if b > a else max(abs(a) * 0.05, 1e-6)
        lo_hi.append((a - pad, b + pad))
    for i in range(p):
        for j in range(p):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(x[:, j], bins=40, range=lo_hi[j], density=True, color="#7f9fbf", edgecolor="none")
                if interval_95 is not None:
                    ax.axvspan(*interval_95[j], color="#7f9fbf", alpha=0.18, lw=0)
                if laplace_sd is not None and optimum is not None and np.isfinite(laplace_sd[j]) and laplace_sd[j] > 0:
                    g = np.linspace(lo_hi[j][0], lo_hi[j][1], 200)
                    s, m = float(laplace_sd[j]), float(optimum[j])
                    ax.plot(g, np.exp(-0.5 * ((g - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)), "k--", lw=1)
                if optimum is not None:
                    ax.axvline(float(optimum[j]), color="#d62728", lw=1.2)
                if names[j] in truth:
                    ax.axvline(truth[names[j]], color="#2ca02c", lw=1.5, ls=":")
                ax.set_yticks([])
            else:
                ax.plot(thin[:, j], thin[:, i], ".", ms=1.5, color="#3b5f8a", alpha=0.35, rasterized=True)
                if optimum is not None:
                    ax.plot(float(optimum[j]), float(optimum[i]), "x", color="#d62728", ms=8, mew=2)
                if names[i] in truth and names[j] in truth:
                    ax.plot(truth[names[j]], truth[names[i]], "*", color="#2ca02c", ms=11, mec="k", mew=0.5)
                ax.set_ylim(*lo_hi[i])
            ax.set_xlim(*lo_hi[j])
            ax.tick_params(labelsize=7)
            ax.xaxis.get_major_locator().set_params(nbins=4)
            if i < p - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel(labels[j], fontsize=8)
                for t in ax.get_xticklabels():
                    t.set_rotation(40)
                    t.set_horizontalalignment("right")
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i], fontsize=8)
                ax.yaxis.get_major_locator().set_params(nbins=4)
            elif i != j:
                ax.set_yticklabels([])
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color="#7f9fbf", label="posterior draws (NUTS)"),
        Patch(color="#7f9fbf", alpha=0.3, label="95% credible interval"),
        Line2D([], [], color="k", ls="--", label="Laplace approximation"),
        Line2D([], [], color="#d62728", marker="x", label="fitted optimum"),
    ]
    if truth:
        handles.append(Line2D([], [], color="#2ca02c", marker="*", ls=":", label="truth"))
    fig.legend(handles=handles, loc="upper right", fontsize=9, frameon=False, bbox_to_anchor=(0.98, 0.98))
    fig.suptitle(f"{title}: posterior" if title else "posterior", fontsize=11, x=0.02, ha="left")
    fig.subplots_adjust(left=0.1, bottom=0.1, right=0.98, top=0.95, wspace=0.08, hspace=0.08)
    return _save(fig, path, plt)


def plot_profiles(profiles: dict, path, *, units: dict | None = None, optimum: dict | None = None) -> Path:
    """One panel per profiled value: Δ(negative log posterior) against the value, the 68 % and 95 % thresholds
    (0.495, 1.921) and the profile intervals they give."""
    plt = _pyplot()
    units = units or {}
    n = len(profiles)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, (name, prof) in zip(axes[0], profiles.items()):
        ax.plot(prof.values, prof.delta, "o-", color="#3b5f8a", ms=4)
        for level, ls, lab in ((0.5 * 0.98945, "--", "68%"), (0.5 * 3.84146, ":", "95%")):
            ax.axhline(level, color="k", ls=ls, lw=1, label=f"{lab} threshold")
        if optimum and name in optimum:
            ax.axvline(optimum[name], color="#d62728", lw=1, label="fitted optimum")
        ax.set_xlabel(axis_label(name, units.get(name, "")), fontsize=9)
        ax.set_ylabel("Δ negative log posterior", fontsize=9)
        ax.set_title(f"profile of {axis_label(name)}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path, plt)


def posterior_pictures(samples, folder, *, truth: dict | None = None, laplace_sd=None, title: str = "") -> list[Path]:
    """posterior_corner.png (and profiles.png when a value was profiled) in ``folder``; the paths."""
    folder = Path(folder)
    post = samples.posterior
    out = [
        plot_corner(
            post.draws,
            post.names,
            folder / "posterior_corner.png",
            units=samples.units,
            optimum=post.optimum,
            truth=truth,
            laplace_sd=laplace_sd,
            interval_95=post.interval_95,
            title=title,
        )
    ]
    if samples.profiles:
        opt = dict(zip(post.names, post.optimum))
        out.append(plot_profiles(samples.profiles, folder / "profiles.png", units=samples.units, optimum=opt))
    return out

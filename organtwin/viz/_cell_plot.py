"""The picture of a paced cell (`organtwin.ionic.simulate_cell`): every beat, and the last one from its stimulus."""

from __future__ import annotations

from pathlib import Path

__all__ = ["cell_trace_figure", "plot_cell_trace"]


def cell_trace_figure(trace, *, title: str = ""):
    """The figure of a `CellTrace` (V in mV against t in ms: all beats, and the last beat with its APD90 and peak), on
    its own canvas (no pyplot state). ``title``: e.g. the model's name."""
    from ._figures import figures

    features = trace.features()
    fig, (ax_all, ax_last) = figures().subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    ax_all.plot(trace.t, trace.V, lw=0.7, color="tab:blue")
    ax_all.set_xlabel("t (ms)")
    ax_all.set_ylabel("V (mV)")
    ax_all.set_title(f"{title}: {trace.beats} beats at BCL {trace.bcl:g} ms")
    per = trace.t.size // trace.beats
    t_last = trace.t[-per:] - trace.t[-per]
    ax_last.plot(t_last, trace.V[-per:], lw=1.0, color="tab:red")
    ax_last.set_xlabel("t since last stimulus (ms)")
    ax_last.set_title(f"last beat: APD90 {features['apd90_ms']:.1f} ms, peak {features['peak_mV']:.1f} mV", fontsize=9)
    for ax in (ax_all, ax_last):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cell_trace(trace, path, *, title: str = "") -> Path:
    """`cell_trace_figure` saved as a PNG at ``path`` (atomically)."""
    from ..io import atomic_file

    fig = cell_trace_figure(trace, title=title)
    path = Path(path)
    with atomic_file(path, None) as (_, tmp):
        fig.savefig(tmp, dpi=120, format="png")
    return path

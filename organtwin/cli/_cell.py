"""`organtwin cell`: pace one ionic-model cell, print its action-potential figures, write the trace (CSV) and a plot.

A plain typer-annotated function; the application registers it with ``app.command("cell")(cell)``. JAX and matplotlib are
imported inside the command so that ``organtwin --help`` stays instant.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["cell", "CellModel", "CellDtype"]


class CellModel(str, Enum):
    """Model names (with presets); kept equal to ``organtwin.ionic.MODEL_NAMES`` (checked by the tests)."""

    aliev_panfilov = "aliev-panfilov"
    mitchell_schaeffer = "mitchell-schaeffer"
    fenton_karma = "fenton-karma"
    bueno_orovio_epi = "bueno-orovio-epi"
    bueno_orovio_endo = "bueno-orovio-endo"
    bueno_orovio_mid = "bueno-orovio-mid"
    tentusscher2006_epi = "tentusscher2006-epi"
    tentusscher2006_endo = "tentusscher2006-endo"
    tentusscher2006_mid = "tentusscher2006-mid"


class CellDtype(str, Enum):
    float64 = "float64"
    float32 = "float32"


def _write_both(writers: list) -> None:
    """All or nothing: ``writers`` is a list of ``(path, write(tmp_path))``; each writes a temporary file beside its
    path, and only when every one has been written are they moved into place (the last one's move first). If a move
    fails, the files already moved are removed again, so the outputs appear together or not at all."""
    import contextlib
    import os

    from ..io import atomic_file

    placed: list[Path] = []

    def nest(k: int) -> None:
        if k == len(writers):
            return
        path, write = writers[k]
        with atomic_file(path.expanduser(), None) as (_, tmp):
            write(tmp)
            nest(k + 1)
        placed.append(path.expanduser())

    try:
        nest(0)
    except BaseException:
        for p in placed:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise


def _csv_writer(t, V):
    import numpy as np

    data = np.column_stack([t, V])

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("t_ms,V_mV\n")
            np.savetxt(fh, data, fmt=("%.6g", "%.6f"), delimiter=",")

    return write


def _png_writer(trace, title: str, features: dict):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax_all, ax_last) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
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

    def write(tmp):
        try:
            fig.savefig(tmp, dpi=120, format="png")
        finally:
            plt.close(fig)

    return write


def cell(
    model: Annotated[CellModel, typer.Argument(help="Ionic model (and cell type).", case_sensitive=False)],
    bcl: Annotated[float, typer.Option(help="Basic cycle length, ms.")] = 1000.0,
    beats: Annotated[int, typer.Option(help="Number of beats to pace.")] = 20,
    dt: Annotated[
        float | None, typer.Option(help="Time step, ms (default: the model's, e.g. 0.01 for ten Tusscher).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the trace as CSV (columns t_ms,V_mV).")] = None,
    png: Annotated[Path | None, typer.Option(help="Plot the trace to this PNG.")] = None,
    stim_amplitude: Annotated[
        float | None,
        typer.Option(help="Stimulus, µA/µF, positive depolarises (default: the model's, 52 for ten Tusscher)."),
    ] = None,
    stim_duration: Annotated[float | None, typer.Option(help="Stimulus duration, ms (default: the model's).")] = None,
    record_every: Annotated[
        int | None, typer.Option(help="Keep every n-th step in the trace (default: about one sample per 0.1 ms).")
    ] = None,
    dtype: Annotated[CellDtype, typer.Option(help="Floating-point precision.")] = CellDtype.float64,
):
    """Pace a single cell and print resting potential, peak, dV/dt max and APD90 of the last beat."""
    if not bcl > 0:
        raise typer.BadParameter(f"--bcl must be a positive number of ms, got {bcl:g}")
    if beats < 1:
        raise typer.BadParameter(f"--beats must be at least 1, got {beats}")
    if dt is not None and not dt > 0:
        raise typer.BadParameter(f"--dt must be a positive number of ms, got {dt:g}")
    if stim_duration is not None and not 0 < stim_duration < bcl:
        raise typer.BadParameter(f"--stim-duration must be between 0 and the BCL ({bcl:g} ms), got {stim_duration:g}")
    if record_every is not None and record_every < 1:
        raise typer.BadParameter(f"--record-every must be a positive whole number, got {record_every}")
    from ..io import check_output_file

    for path, option in ((out, "--out"), (png, "--png")):  # before the simulation: nothing runs that cannot be written
        if path is not None:
            try:
                check_output_file(path, option)
            except OSError as e:  # a bad command line (exit 2), as before
                raise typer.BadParameter(str(e)) from None
    if out is not None and png is not None and out.expanduser().resolve() == png.expanduser().resolve():
        raise typer.BadParameter(f"--out and --png name the same file ({out}); give two different paths")

    import jax

    if dtype is CellDtype.float64:
        jax.config.update("jax_enable_x64", True)  # the user's choice, at the edge
    from ..ionic import model_from_name, simulate_cell

    name = CellModel(model).value
    ionic = model_from_name(name)
    trace = simulate_cell(
        ionic, bcl=bcl, beats=beats, dt=dt, stim_amplitude=stim_amplitude, stim_duration=stim_duration,
        record_every=record_every, dtype=dtype.value,
    )  # fmt: skip
    f = trace.features()
    print(f"{name}: BCL {bcl:g} ms, {beats} beats, dt {trace.dt:g} ms, {dtype.value}; last beat:", flush=True)
    print(f"  rest       {f['rest_mV']:9.2f} mV")
    print(f"  peak       {f['peak_mV']:9.2f} mV")
    print(f"  dV/dt max  {f['dvdt_max_V_per_s']:9.1f} V/s")
    apd = "no action potential" if f["apd90_ms"] != f["apd90_ms"] else f"{f['apd90_ms']:9.1f} ms"
    print(f"  APD90      {apd}", flush=True)
    writers = []  # both outputs or neither
    if out is not None:
        writers.append((out, _csv_writer(trace.t, trace.V)))
    if png is not None:
        writers.append((png, _png_writer(trace, name, f)))
    _write_both(writers)
    if out is not None:
        print(f"wrote {out} ({trace.t.size} samples)", flush=True)
    if png is not None:
        print(f"wrote {png}", flush=True)

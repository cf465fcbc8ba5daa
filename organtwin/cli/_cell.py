"""`organtwin cell`: pace one ionic-model cell, print its action-potential figures, write the trace (CSV) and a plot.

A plain typer-annotated function; the application registers it with ``app.command("cell")(cell)``. JAX and matplotlib are
imported inside the command so that ``organtwin --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import DTYPE_HELP, Dtype, use_dtype

__all__ = ["cell", "model_name"]


def model_name(text: str) -> str:
    """The ``MODEL`` argument: a name of `organtwin.ionic.MODEL_NAMES` (the registry: the one list), any case."""
    from ..ionic import MODEL_NAMES

    key = text.strip().lower().replace("_", "-")
    if key not in MODEL_NAMES:
        raise typer.BadParameter(f"{text!r} is not one of {', '.join(map(repr, MODEL_NAMES))}.")
    return key


def cell(
    model: Annotated[
        str,
        typer.Argument(
            parser=model_name,
            help="Ionic model (and cell type): a name of organtwin.ionic.MODEL_NAMES, e.g. tentusscher2006-epi, "
            "fenton-karma (a wrong name lists them all).",
        ),
    ],
    bcl: Annotated[float, typer.Option(help="Basic cycle length, ms.")] = 1000.0,
    beats: Annotated[int, typer.Option(help="Number of beats to pace.")] = 20,
    dt: Annotated[
        float | None, typer.Option(help="Time step, ms (default: the model's, e.g. 0.01 for ten Tusscher).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the trace as CSV (columns t_ms,V_mV).")] = None,
    png: Annotated[Path | None, typer.Option(help="Also plot the trace to this PNG (default: no picture).")] = None,
    stim_amplitude: Annotated[
        float | None,
        typer.Option(help="Stimulus, µA/µF, positive depolarises (default: the model's, 52 for ten Tusscher)."),
    ] = None,
    stim_duration: Annotated[float | None, typer.Option(help="Stimulus duration, ms (default: the model's).")] = None,
    record_every: Annotated[
        int | None, typer.Option(help="Keep every n-th step in the trace (default: about one sample per 0.1 ms).")
    ] = None,
    dtype: Annotated[Dtype, typer.Option(help=DTYPE_HELP, case_sensitive=False)] = Dtype.float64,
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

    use_dtype(dtype)
    from ..io import write_cell_trace
    from ..ionic import model_from_name, simulate_cell

    trace = simulate_cell(
        model_from_name(model), bcl=bcl, beats=beats, dt=dt, stim_amplitude=stim_amplitude,
        stim_duration=stim_duration, record_every=record_every, dtype=dtype.value,
    )  # fmt: skip
    f = trace.features()
    print(f"{model}: BCL {bcl:g} ms, {beats} beats, dt {trace.dt:g} ms, {dtype.value}; last beat:", flush=True)
    print(f"  rest       {f['rest_mV']:9.2f} mV")
    print(f"  peak       {f['peak_mV']:9.2f} mV")
    print(f"  dV/dt max  {f['dvdt_max_V_per_s']:9.1f} V/s")
    apd = "no action potential" if f["apd90_ms"] != f["apd90_ms"] else f"{f['apd90_ms']:9.1f} ms"
    print(f"  APD90      {apd}", flush=True)
    write_cell_trace(trace, csv=out, png=png, title=model)  # both outputs or neither
    if out is not None:
        print(f"wrote {out} ({trace.t.size} samples)", flush=True)
    if png is not None:
        print(f"wrote {png}", flush=True)

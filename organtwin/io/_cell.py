"""The files of a paced cell (`organtwin.ionic.simulate_cell`): its trace as CSV and its picture, written together."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["write_cell_trace", "write_all_or_nothing"]


def write_all_or_nothing(writers: list[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write several files all or nothing: ``writers`` is a list of ``(path, write(tmp_path))``; each writes a
    temporary file beside its path (`atomic_file`), and only when every one has been written are they moved into place
    (the last one's move first). If a move fails, the files already moved are removed again, so the outputs appear
    together or not at all."""
    from . import atomic_file

    placed: list[Path] = []

    def nest(k: int) -> None:
        if k == len(writers):
            return
        path, write = writers[k]
        with atomic_file(Path(path).expanduser(), None) as (_, tmp):
            write(tmp)
            nest(k + 1)
        placed.append(Path(path).expanduser())

    try:
        nest(0)
    except BaseException:
        for p in placed:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise


def write_cell_trace(trace, *, csv=None, png=None, title: str = "") -> None:
    """Write a `CellTrace` as CSV (``t_ms,V_mV``) to ``csv`` and its picture (`organtwin.viz.plot_cell_trace`,
    titled ``title``) to ``png``, whichever are given, both or neither (`write_all_or_nothing`)."""
    writers: list[tuple[Path, Callable[[Path], object]]] = []
    if csv is not None:
        data = np.column_stack([trace.t, trace.V])

        def write_csv(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write("t_ms,V_mV\n")
                np.savetxt(fh, data, fmt=("%.6g", "%.6f"), delimiter=",")

        writers.append((Path(csv), write_csv))
    if png is not None:
        from ..viz import cell_trace_figure

        fig = cell_trace_figure(trace, title=title)  # drawn before any file is written
        writers.append((Path(png), lambda tmp: fig.savefig(tmp, dpi=120, format="png")))
    write_all_or_nothing(writers)

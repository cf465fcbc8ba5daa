"""Figures without pyplot: each figure on its own Agg canvas (``matplotlib.figure.Figure``), so drawing a picture
leaves the process's matplotlib backend and pyplot's figure list as they were (no ``matplotlib.use``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figures"]


class _Figures:
    """The two pyplot calls the pictures use, ``figure`` and ``subplots``, on free-standing figures; ``close`` has
    nothing to release (no pyplot figure manager holds them)."""

    @staticmethod
    def figure(figsize=None, **fig_kw) -> Figure:
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, **fig_kw)

    @staticmethod
    def subplots(
        nrows: int = 1, ncols: int = 1, *, figsize=None, constrained_layout=None, **kw
    ) -> tuple[Figure, Any]:  # an Axes or an array of them, as pyplot.subplots (its annotation too)
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, constrained_layout=constrained_layout)
        return fig, fig.subplots(nrows, ncols, **kw)

    @staticmethod
    def close(fig) -> None:
        return None


def figures() -> _Figures:
    """pyplot's ``figure`` / ``subplots`` for off-screen pictures, without pyplot's global state."""
    return _Figures()

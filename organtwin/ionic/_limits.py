"""What a time step must resolve and what a result must be: the upstroke limit on dt, the stimulus range, and the
finite-value check of simulation outputs (one line naming the time, the node or cell, its coordinates and the field).

The upstroke limit. A model's upstroke time ``tau_up = (peak - rest) / max dV/dt`` (`AbstractIonicModel.upstroke_ms`,
measured on a paced single cell at a fifth of the model's default step) is how long the fastest change of V lasts. The
reaction step (Rush–Larsen gates, forward Euler for V) must sample it:

- ``dt > tau_up / 2`` (the upstroke falls within two steps) is refused: measured on a paced cell, ten Tusscher's peak is
  29 mV too high at dt = 0.2 ms (tau_up 0.33) and 120 mV at 0.5 ms; Aliev–Panfilov (tau_up 14 ms) and
  Mitchell–Schaeffer (2.5 ms) give NaN at dt = 10 and 2.5 ms; Fenton–Karma (2.3 ms) loses its action potential at 2 ms.
- ``dt > tau_up / 5`` warns: ten Tusscher's peak is 13 mV off at dt = 0.1 ms (tau_up / 3.3), Bueno-Orovio's dV/dt
  max 20 % at 0.1 ms; at tau_up / 5 and below the peak is within ~5 mV and APD90 within 1 %.

The stimulus range: a step's stimulus increment ``amplitude * dt`` far above an action potential's amplitude (~100 mV)
drives V out of every model's range (exponentials overflow); `stimulus_advice` names it as the likely cause.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._errors import InputError, MeshWarning

__all__ = ["check_time_step", "time_step_limits", "nonfinite_message", "stimulus_advice"]

#: dt above upstroke_ms / REFUSE_FRACTION is refused, above upstroke_ms / WARN_FRACTION warns.
REFUSE_FRACTION = 2.0
WARN_FRACTION = 5.0


def _nice(x: float) -> str:
    """A round number at or below x (two significant figures)."""
    if not x > 0:
        return f"{x:.3g}"
    e = math.floor(math.log10(x)) - 1
    v = math.floor(x / 10**e + 1e-9) * 10**e
    return f"{v:.{max(0, -e)}f}"


def time_step_limits(model) -> tuple[float, float] | None:
    """``(recommended, refused)``: dt up to ``recommended`` (upstroke / 5) samples the model's upstroke; above
    ``refused`` (upstroke / 2) it is not sampled. None when the model states no upstroke time."""
    tau = getattr(model, "upstroke_ms", None)
    if tau is None:
        return None
    return tau / WARN_FRACTION, tau / REFUSE_FRACTION


def check_time_step(model, dt: float, *, where: str = "dt", name: str | None = None, warn: bool = True) -> str | None:
    """Refuse a time step that cannot sample ``model``'s upstroke (ValueError, one line with the measured upstroke and
    the limit); warn (`MeshWarning`, unless ``warn`` is False) when it samples it coarsely. Returns the warning text or
    None. ``where`` names the setting in the messages (``--dt``, ``[simulation] dt``)."""
    limits = time_step_limits(model)
    if limits is None:
        return None
    good, bad = limits
    name = name or type(model).__name__
    tau = float(model.upstroke_ms)
    dt = float(dt)
    if dt > bad:
        raise InputError(
            f"{where} {dt:g} ms is too long for {name}: its upstroke lasts ~{tau:g} ms ((peak - rest) / max dV/dt) and "
            f"a step longer than half of it ({bad:.3g} ms) does not sample it (V overshoots or becomes NaN); use "
            f"dt <= {_nice(good)} ms"
        )
    if dt > good:
        text = (
            f"dt {dt:g} ms samples the upstroke of {type(model).__name__} (~{tau:g} ms) in fewer than "
            f"{WARN_FRACTION:g} steps: peak and dV/dt max are off (ten Tusscher: +13 mV at 0.1 ms); dt <= {_nice(good)} ms resolves it"
        )
        if warn:  # stacklevel 1: the same text is shown once per process (a case's check, then its run)
            warnings.warn(text, MeshWarning, stacklevel=1)
        return text
    return None


def stimulus_advice(amplitude: float, dt: float, model) -> str | None:
    """The likely cause of a diverged run when it is the stimulus: one step's stimulus increment ``amplitude * dt``
    above 200 mV (twice an action potential), or an amplitude above 50 x the model's own single-cell stimulus.
    None otherwise."""
    amp = abs(float(amplitude))
    ref = float(model.default_stimulus[0]) if getattr(model, "default_stimulus", None) else None
    step_mV = amp * float(dt)
    if step_mV > 200.0 or (ref and amp > 50.0 * ref):
        typical = f" ({type(model).__name__}'s single-cell stimulus is {ref:g} µA/µF)" if ref else ""
        return (
            f"the stimulus of {amp:.3g} µA/µF adds {step_mV:.3g} mV per step of {dt:g} ms, far beyond an action "
            f"potential (~100 mV){typical}: lower the stimulus strength (a few times the threshold suffices)"
        )
    return None


def nonfinite_message(
    what: str,
    *,
    time_ms: float | None,
    index: int,
    field: str,
    kind: str = "node",
    point=None,
    value=None,
    cause: str = "",
) -> str:
    """One line: ``<what>: non-finite <field> (nan) at t = 12.5 ms, node 17 at (1, 2, 3) mm; <cause>``."""
    where = f"{kind} {index}"
    if point is not None:
        where += " at (" + ", ".join(f"{float(c):.4g}" for c in np.asarray(point).ravel()) + ") mm"
    when = "" if time_ms is None else f" at t = {float(time_ms):.6g} ms"
    val = "" if value is None else f" ({float(value)!r})"
    return f"{what}: non-finite {field}{val}{when}, {where}" + (f"; {cause}" if cause else "")

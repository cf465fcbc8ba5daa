"""Single-cell pacing (a jitted ``lax.scan``, no Python loop over time steps) and action-potential features."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._errors import InputError
from .._solution import RESULTS, raise_if_failed
from ._base import AbstractIonicModel, reaction_increments
from ._limits import check_time_step, nonfinite_message, stimulus_advice, time_step_limits

__all__ = ["CellTrace", "simulate_cell", "pace_cell", "ap_features"]


def _steps_per(length: float, dt: float, what: str) -> int:
    n = int(round(length / dt))
    if n < 1 or abs(n * dt - length) > 1e-6 * max(length, dt):
        raise InputError(f"{what} ({length:g} ms) must be a whole multiple of dt ({dt:g} ms)")
    return n


def _check_cell_sizes(bcl: float, dt: float, beats: int, record_every: int | None, dtype) -> None:
    """Steps per beat (an int32 counter under jit), beats, and the recorded trace against memory: one line each."""
    from .._sizes import check_bytes, check_count, count_of

    n_beat = count_of(
        bcl,
        dt,
        what="cell:",
        total_name="bcl",
        step_name="dt",
        name="steps per beat",
        why="the beat's step counter is int32 under jit",
        fix=f"use a larger dt (at least {bcl / 2**31:.3g} ms) or a shorter bcl",
    )
    check_count(beats, what="cell:", name="beats", why="the beat counter is int32 under jit", fix="pace fewer beats")
    per_beat = max(1, n_beat // max(1, record_every or min(n_beat, round(0.1 / dt))))
    itemsize = 8 if dtype is None else np.dtype(dtype).itemsize
    check_bytes(
        float(beats) * per_beat * (itemsize + 16 + 20),
        what=f"cell: {beats:,} beats x {per_beat:,} samples per beat x ({itemsize} B on the device + 16 B of t "
        "and V on the host + ~20 B of CSV text)",
        fix="pace fewer beats, or keep fewer samples (--record-every)",
    )


def _record_stride(n_beat: int, dt: float, record_every: int | None) -> int:
    if record_every is None:
        target = max(1, min(n_beat, int(round(0.1 / dt))))  # about one sample per 0.1 ms
        divisors = {d for k in range(1, math.isqrt(n_beat) + 1) if n_beat % k == 0 for d in (k, n_beat // k)}
        return max(d for d in divisors if d <= target)
    record_every = int(record_every)
    if record_every < 1 or n_beat % record_every:
        raise InputError(f"record_every ({record_every}) must be a positive divisor of the steps per beat ({n_beat})")
    return record_every


def pace_cell(
    model: AbstractIonicModel,
    V: Array,
    s: Array,
    *,
    dt: ArrayLike,
    steps_per_beat: int,
    beats: int,
    stim_amplitude: ArrayLike,
    stim_steps: int,
    record_every: int = 1,
    checkpoint: bool = True,
    compensated: bool | None = None,
) -> dict[str, Array]:
    """Pace a cell (or many: V may carry node axes) for ``beats`` beats; pure JAX, jit-able and differentiable.

    Each beat lasts ``steps_per_beat`` steps of ``dt`` ms (``reaction_step``: Rush–Larsen gates, forward Euler for the
    rest) and starts with ``stim_steps`` steps of the stimulus ``stim_amplitude`` (µA/µF, positive = depolarising).
    The time loop is a ``lax.scan`` over beats of a scan over blocks of ``record_every`` steps; with ``checkpoint``
    each block is rematerialised in the backward pass, so reverse-mode memory grows with blocks, not steps.

    Returns a dict of arrays: ``V`` (beats, n_rec, *shape) sampled at the start of each block (the first sample of a
    beat is the potential just before its stimulus), ``peak`` / ``dvdt_max`` (mV/ms = V/s) / ``t_upstroke`` (ms from
    the beat start, midpoint of the steepest step) per beat from every step, and the final ``V_final``, ``s_final``;
    ``bad_beat`` / ``bad_step`` (the beat, and the step within it counted from 0, after which V or a state first was
    non-finite; -1: never) and ``bad_field`` (0: V, 1 + i: state i) locate a divergence.

    ``compensated`` (default: on for float32) accumulates the steps with Kahan summation: in float32 a step's increment
    can be below half an ulp of the state (the diastolic drift of V near -84 mV at dt = 0.01 ms, the slow change of
    K_i ≈ 137 mM), and plain summation would freeze those variables.
    """
    if steps_per_beat % record_every:
        raise InputError("record_every must divide steps_per_beat")
    n_rec = steps_per_beat // record_every
    dtype = jnp.result_type(V)
    dt = jnp.asarray(dt, dtype)
    amp = jnp.asarray(stim_amplitude, dtype)
    if compensated is None:
        compensated = jnp.finfo(dtype).bits < 64

    def add(x, inc, c):
        if not compensated:
            return x + inc, c
        y = inc - c
        t = x + y
        return t, (t - x) - y

    def step(carry, _):
        (V, s, cV, cs, k, vmax, dvmax, kup), (b, bad, badb, badf) = carry
        istim = jnp.where(k < stim_steps, amp, jnp.zeros((), dtype))
        dV, ds = reaction_increments(model, V, s, dt, istim)
        Vn, cV = add(V, dV, cV)
        sn, cs = add(s, ds, cs)
        slope = (Vn - V) / dt
        steeper = slope > dvmax
        # the first non-finite step and field (V first, then the states in order): where a divergence began
        ok = jnp.stack([jnp.all(jnp.isfinite(Vn))] + [jnp.all(jnp.isfinite(sn[i])) for i in range(sn.shape[0])])
        first = bad < 0
        bad = jnp.where(first & ~jnp.all(ok), k, bad)
        badb = jnp.where(first & ~jnp.all(ok), b, badb)
        badf = jnp.where(first & ~jnp.all(ok), jnp.argmin(ok).astype(jnp.int32), badf)
        carry = (
            Vn,
            sn,
            cV,
            cs,
            k + 1,
            jnp.maximum(vmax, Vn),
            jnp.where(steeper, slope, dvmax),
            jnp.where(steeper, k, kup),
        )
        return (carry, (b, bad, badb, badf)), None

    def block(carry, _):
        V = carry[0][0]
        carry, _ = jax.lax.scan(step, carry, None, length=record_every)
        return carry, V

    if checkpoint:
        block = jax.checkpoint(block, prevent_cse=False)

    def beat(state, b):
        V, s, cV, cs, bad, badb, badf = state
        neg_inf = jnp.full(jnp.shape(V), -jnp.inf, dtype)
        carry0 = (V, s, cV, cs, jnp.zeros((), jnp.int32), neg_inf, neg_inf, jnp.zeros(jnp.shape(V), jnp.int32))
        ((V, s, cV, cs, _, vmax, dvmax, kup), (_, bad, badb, badf)), V_rec = jax.lax.scan(
            block, (carry0, (b, bad, badb, badf)), None, length=n_rec
        )
        t_up = (kup.astype(dtype) + 0.5) * dt
        return (V, s, cV, cs, bad, badb, badf), (V_rec, vmax, dvmax, t_up)

    V = jnp.asarray(V, dtype)
    s = jnp.asarray(s, dtype)
    minus1 = jnp.full((), -1, jnp.int32)
    init = (V, s, jnp.zeros_like(V), jnp.zeros_like(s), minus1, minus1, minus1)
    beat_index = jnp.arange(beats, dtype=jnp.int32)
    (V, s, _, _, bad, badb, badf), (V_rec, peak, dvdt, t_up) = jax.lax.scan(beat, init, beat_index)
    return dict(
        V=V_rec,
        peak=peak,
        dvdt_max=dvdt,
        t_upstroke=t_up,
        V_final=V,
        s_final=s,
        bad_beat=badb,
        bad_step=bad,
        bad_field=badf,
    )


@eqx.filter_jit
def _pace_jit(model, V, s, dt, amp, steps_per_beat, beats, stim_steps, record_every):
    out = pace_cell(
        model, V, s, dt=dt, steps_per_beat=steps_per_beat, beats=beats, stim_amplitude=amp, stim_steps=stim_steps,
        record_every=record_every, checkpoint=False,
    )  # fmt: skip
    diverged = out["bad_step"] >= 0
    result = RESULTS.where(diverged, RESULTS.diverged, RESULTS.successful)
    bcl = steps_per_beat * dt
    failed_time = jnp.where(
        diverged, out["bad_beat"].astype(dt.dtype) * bcl + (out["bad_step"] + 1).astype(dt.dtype) * dt, jnp.nan
    )
    return out, result, failed_time


class CellTrace(eqx.Module):
    """The result of :func:`simulate_cell` (host numpy arrays).

    Attributes:
        t: sample times, ms (``beats * bcl / (record_every dt)`` samples, the first of each beat at its stimulus).
        V: membrane potential at ``t``, mV.
        bcl, dt, beats: the protocol (ms, ms, count).
        peak, dvdt_max, t_upstroke: per beat, from every time step: peak potential (mV), maximum dV/dt (V/s) and time
            of the steepest step (ms after the beat's start).
        V_final, s_final: the state at the end (a steady start for further pacing: ``model.with_initial_state``).
        result: the outcome, an `organtwin.RESULTS`: ``successful`` or ``diverged`` (V or a state became NaN/inf).
        failed_time: the end of the first step after which V or a state was non-finite, ms (NaN if none).
        failed_field: which: 0 for V, 1 + i for state i (``model.state_names[i]``); -1 if none.
        model_name: the model's class name.
    """

    t: np.ndarray
    V: np.ndarray
    peak: np.ndarray
    dvdt_max: np.ndarray
    t_upstroke: np.ndarray
    V_final: np.ndarray
    s_final: np.ndarray
    result: RESULTS
    failed_time: np.ndarray
    failed_field: np.ndarray
    bcl: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    beats: int = eqx.field(static=True)
    model_name: str = eqx.field(static=True, default="")

    def features(self, beat: int = -1) -> dict[str, float]:
        """rest_mV, peak_mV, dvdt_max_V_per_s, apd90_ms of one beat (default the last).

        Peak and dV/dt max come from every time step; the resting potential is V just before the beat's stimulus;
        APD90 runs from the steepest upstroke step to the linearly interpolated crossing of 90 % repolarisation.
        """
        b = range(self.beats)[beat]
        per = self.t.size // self.beats
        t = self.t[b * per : (b + 1) * per]
        V = self.V[b * per : (b + 1) * per]
        t0 = b * self.bcl
        return _features(t, V, float(self.peak[b]), float(self.dvdt_max[b]), t0 + float(self.t_upstroke[b]))


def _features(t: np.ndarray, V: np.ndarray, peak: float, dvdt: float, t_up: float) -> dict[str, float]:
    rest = float(V[0])
    apd90 = float("nan")
    if np.isfinite(peak) and peak - rest > 10.0:  # an action potential, not a subthreshold response
        v90 = peak - 0.9 * (peak - rest)
        i_peak = int(np.argmax(V))
        after = np.nonzero((V[i_peak:-1] >= v90) & (V[i_peak + 1 :] < v90))[0]
        if after.size:
            i = i_peak + int(after[0])
            frac = (V[i] - v90) / (V[i] - V[i + 1])
            apd90 = float(t[i] + frac * (t[i + 1] - t[i]) - t_up)
    return dict(rest_mV=rest, peak_mV=float(peak), dvdt_max_V_per_s=float(dvdt), apd90_ms=apd90)


def ap_features(t: ArrayLike, V: ArrayLike, *, bcl: float | None = None) -> dict[str, float]:
    """Features of the last beat of a sampled trace: rest_mV, peak_mV, dvdt_max_V_per_s, apd90_ms.

    With ``bcl`` the last beat is the last window ``[t0 + n bcl, end]`` (stimuli at ``t0 + n bcl``); without it the whole
    trace is one beat. Rest is the first sample of the beat (just before its stimulus); peak and dV/dt max come from
    the samples (dV/dt by finite differences, so sample finely for the upstroke); APD90 runs from the steepest
    upstroke to the linearly interpolated 90 % repolarisation crossing (NaN if there is no action potential).
    """
    t = np.asarray(t, dtype=float).ravel()
    V = np.asarray(V, dtype=float).ravel()
    if t.shape != V.shape or t.size < 3:
        raise InputError(f"t and V must be 1-D of the same length >= 3, got {t.shape} and {V.shape}")
    if not np.all(np.diff(t) > 0):
        raise InputError("t must be strictly increasing")
    if bcl is not None:
        if bcl <= 0:
            raise InputError(f"bcl must be positive, got {bcl}")
        n = math.floor((t[-1] - t[0]) / bcl + 1e-9)
        start = t[0] + n * bcl
        if t[-1] - start < 0.5 * bcl and n > 0:  # a trace that ends just after a stimulus: use the last full beat
            start -= bcl
        keep = (t >= start - 1e-9) & (t < start + bcl - 1e-9)
        t, V = t[keep], V[keep]
    slopes = np.diff(V) / np.diff(t)
    k = int(np.argmax(slopes))
    return _features(t, V, float(np.max(V)), float(slopes[k]), float(0.5 * (t[k] + t[k + 1])))


def _divergence(model, beat: int, k: int, field: int, dt: float, bcl: float, stim_steps: int, amp: float) -> str:
    """The one-line message of a single-cell run whose state became non-finite after step ``k`` of beat ``beat``."""
    name = "Vm" if field == 0 else f"state {model.state_names[field - 1]!r}"
    cause = stimulus_advice(amp, dt, model)
    if cause is None:
        during = "during the stimulus" if k < stim_steps else f"{(k + 1) * dt:g} ms after the beat's stimulus"
        limits = time_step_limits(model)
        hint = f"; dt <= {limits[0]:.3g} ms samples its upstroke" if limits else ""
        cause = f"it diverged {during}: check the model parameters and the stimulus, or lower dt (now {dt:g} ms{hint})"
    return nonfinite_message(
        f"{type(model).__name__} single cell",
        time_ms=beat * bcl + (k + 1) * dt,
        index=0,
        kind="cell",
        field=name,
        cause=f"beat {beat + 1}; {cause}",
    )


def simulate_cell(
    model: AbstractIonicModel,
    *,
    bcl: float = 1000.0,
    beats: int = 20,
    dt: float | None = None,
    stim_amplitude: float | None = None,
    stim_duration: float | None = None,
    record_every: int | None = None,
    dtype=None,
    initial: tuple[ArrayLike, ArrayLike] | None = None,
    throw: bool = True,
) -> CellTrace:
    """Pace a single cell at a basic cycle length and record its membrane potential.

    Args:
        model: any :class:`AbstractIonicModel`.
        bcl: basic cycle length, ms (a whole multiple of dt).
        beats: number of beats (the stimulus opens each beat).
        dt: time step, ms (default ``model.default_dt``).
        stim_amplitude: µA/µF, positive = depolarising (default ``model.default_stimulus[0]``; 52 for ten Tusscher).
        stim_duration: ms (default ``model.default_stimulus[1]``), rounded to whole steps (at least one).
        record_every: keep every n-th step (a divisor of the steps per beat; default about one sample per 0.1 ms).
            Peak and dV/dt max are taken from every step regardless.
        dtype: float32 or float64 (default: the default float type); the model is cast to it.
        initial: optional ``(V0, s0)`` to start from instead of ``model.initial_state()``.
        throw: raise when the run failed (``trace.result`` is not ``RESULTS.successful``); with False, inspect
            ``trace.result`` (and ``trace.failed_time``, ``trace.failed_field``) yourself.

    Returns:
        A :class:`CellTrace`; ``trace.features()`` gives rest, peak, dV/dt max and APD90 of the last beat.

    Raises:
        ValueError: bad arguments; a dt longer than half the model's upstroke (`check_time_step`; a coarser one
            than a fifth of it warns).
        EquinoxTracetimeError (a RuntimeError; ``throw``): ``RESULTS.diverged``, V or a state became NaN/inf: one
            line with the time (ms), the field (Vm or the state's name), the beat and the likely cause (a stimulus far
            beyond physiological, or the time step).
    """
    if not isinstance(model, AbstractIonicModel):
        raise TypeError(f"model must be an organtwin ionic model, got {type(model).__name__}")
    beats = int(beats)
    if beats < 1:
        raise InputError(f"beats must be at least 1, got {beats}")
    if not (bcl > 0 and math.isfinite(bcl)):
        raise InputError(f"bcl must be a positive number of ms, got {bcl}")
    dt = float(model.default_dt if dt is None else dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise InputError(f"dt must be a positive number of ms, got {dt}")
    amp = float(model.default_stimulus[0] if stim_amplitude is None else stim_amplitude)
    dur = float(model.default_stimulus[1] if stim_duration is None else stim_duration)
    if not math.isfinite(amp):
        raise InputError(f"stim_amplitude must be a finite number of µA/µF, got {amp}")
    if not (dur > 0 and dur < bcl):
        raise InputError(f"stim_duration must be between 0 and bcl ({bcl:g} ms), got {dur:g}")
    _check_cell_sizes(bcl, dt, beats, record_every, dtype)  # before any count becomes a loop or an array
    n_beat = _steps_per(bcl, dt, "bcl")
    check_time_step(model, dt, where="dt")  # refuses a dt that cannot sample the upstroke, warns when coarse
    stim_steps = max(1, int(round(dur / dt)))
    rec = _record_stride(n_beat, dt, record_every)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise InputError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.float64 and not jax.config.read("jax_enable_x64"):
        raise InputError("float64 needs JAX's 64-bit mode: call jax.config.update('jax_enable_x64', True) first")
    model = model.astype(dtype)
    if initial is None:
        V, s = model.initial_state((), dtype)
    else:
        V = jnp.asarray(initial[0], dtype)
        s = jnp.asarray(initial[1], dtype)
        if s.shape[:1] != (model.n_states,):
            raise InputError(
                f"initial states must have {model.n_states} rows for {type(model).__name__}, got {s.shape}"
            )
    out, result, failed_time = _pace_jit(
        model, V, s, jnp.asarray(dt, dtype), jnp.asarray(amp, dtype), n_beat, beats, stim_steps, rec
    )
    out = jax.tree_util.tree_map(np.asarray, out)
    n_rec = n_beat // rec
    t = (np.arange(beats)[:, None] * bcl + np.arange(n_rec)[None, :] * (rec * dt)).ravel()
    trace = CellTrace(
        t=t, V=out["V"].reshape(-1), peak=out["peak"], dvdt_max=out["dvdt_max"], t_upstroke=out["t_upstroke"],
        V_final=out["V_final"], s_final=out["s_final"], result=result, failed_time=np.asarray(failed_time),
        failed_field=np.where(out["bad_step"] >= 0, out["bad_field"], -1), bcl=float(bcl), dt=dt, beats=beats,
        model_name=type(model).__name__,
    )  # fmt: skip
    if throw:  # before anything is written or printed: where and when it diverged, and why

        def describe(_):
            beat, k, field = int(out["bad_beat"]), int(out["bad_step"]), int(out["bad_field"])
            return _divergence(model, beat, k, field, dt, float(bcl), stim_steps, amp)

        trace = raise_if_failed(trace, trace.result, describe=describe)
    return trace

"""Time-varying boundary values: periodic piecewise-linear waveforms, as svZeroDSolver interpolates them."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..._errors import NetworkError
from ..._types import ArrayLike as NumpyOrJax
from ._activation import phase

__all__ = ["Waveform", "as_waveform"]


class Waveform(eqx.Module):
    """A value over time: ``values`` at ``times`` (s), linearly interpolated; periodic with period ``times[-1] - times[0]``.

    A single value is a constant. Periodic evaluation uses ``t mod period`` (svZeroDSolver's convention, which assumes the
    samples start at t = 0). ``values`` is a differentiable array; ``times`` is data.
    """

    times: Float[NumpyOrJax, " samples"]  # numpy or JAX: data, read on the host by the checks
    values: Float[NumpyOrJax, " samples"]
    periodic: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        t = np.asarray(self.times)
        v = np.asarray(self.values)
        if t.ndim != 1 or v.shape[-1:] != t.shape or t.size < 1:
            raise NetworkError(
                f"waveform: times {t.shape} and values {v.shape} must be 1-D of equal length; give "
                "matching 't' and value lists"
            )
        if t.size > 1 and not np.all(np.diff(t) > 0):
            raise NetworkError("waveform: times must increase strictly; sort the samples and drop duplicates")
        if not np.all(np.isfinite(v)):
            raise NetworkError("waveform: values contain NaN or inf; fix the input data")

    @property
    def is_constant(self) -> bool:
        return self.times.shape[0] == 1

    @property
    def period(self):
        """t[-1] - t[0] (s): a float on the host, an array while traced."""
        try:
            t = np.asarray(self.times)
            return float(t[-1] - t[0])
        except Exception:  # traced
            return self.times[-1] - self.times[0]

    def mean(self) -> Array:
        """The arithmetic mean of the samples (svZeroDSolver's steady value)."""
        return jnp.mean(self.values, axis=-1)

    def __call__(self, t: Float[ArrayLike, ""]) -> Array:
        if self.is_constant:
            return jnp.asarray(self.values[..., 0])
        tt = phase(t, self.period) if self.periodic else t
        return _interp(tt, self.times.astype(self.values.dtype), self.values)


def _count_le(xp, x):
    """The number of samples xp[k] <= x (``searchsorted(xp, x, side="right")`` for a scalar x and sorted xp): an
    unrolled binary search with plain comparisons. (jnp.searchsorted's default is a while loop, and its comparisons
    order NaNs, a dozen operations each; in an ODE's right-hand side, evaluated every stage, that was most of a small
    model's cost. Comparing with every sample at once measured slower for 50 samples under vmap.)"""
    n = xp.shape[-1]
    i = jnp.zeros(jnp.shape(x), jnp.int32)
    step = 1 << (n.bit_length() - 1)
    while step:
        j = i + step
        i = jnp.where((j <= n) & (xp[jnp.minimum(j, n) - 1] <= x), j, i)
        step >>= 1
    return i


def _interp(x, xp, fp):
    """``jnp.interp(x, xp, fp)`` for a scalar x (constant beyond the ends), with the bracketing sample found by
    :func:`_count_le`."""
    n = xp.shape[-1]
    i = jnp.clip(_count_le(xp, x), 1, n - 1)
    df = fp[i] - fp[i - 1]
    dx = xp[i] - xp[i - 1]
    delta = x - xp[i - 1]
    eps = np.spacing(np.finfo(xp.dtype).eps)
    dx0 = jnp.abs(dx) <= eps  # no NaN gradients where two samples coincide
    f = jnp.where(dx0, fp[i - 1], fp[i - 1] + (delta / jnp.where(dx0, 1, dx)) * df)
    f = jnp.where(x < xp[0], fp[0], f)
    return jnp.where(x > xp[-1], fp[-1], f)


def as_waveform(value, times=None, *, periodic: bool = True) -> Waveform:
    """A Waveform from a number, a Waveform, or values with their times."""
    if isinstance(value, Waveform):
        return value
    v = jnp.atleast_1d(jnp.asarray(value, dtype=jnp.result_type(float)))
    if v.shape[0] == 1:
        return Waveform(jnp.zeros(1, v.dtype), v, periodic)
    if times is None:
        raise NetworkError("waveform: several values need their times 't'")
    return Waveform(jnp.asarray(times, v.dtype), v, periodic)

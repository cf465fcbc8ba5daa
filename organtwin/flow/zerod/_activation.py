"""Chamber activation functions a(t) in [0, 1] driving time-varying elastance (time in s).

* :class:`DoubleCosine` — contraction and relaxation half-cosines, Regazzoni et al. 2022 (J. Comput. Phys. 457:111083,
  eq. for e(t)); svZeroDSolver's ``piecewise_cosine``.
* :class:`HalfCosine` — one full cosine twitch of length ``t_twitch`` starting at ``t_active`` (svZeroDSolver's
  ``half_cosine``, the ChamberElastanceInductor default).
* :class:`TwoHill` — Stergiopulos et al. 1996 / Mynard et al. 2012 two-Hill waveform, normalised to a peak of 1
  (svZeroDSolver's ``two_hill``).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._errors import NetworkError

__all__ = ["AbstractActivation", "DoubleCosine", "HalfCosine", "TwoHill"]


def _p(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _positive(what: str, name: str):
    """A converter for a duration that must be > 0 s. A value given on the host (a Python or NumPy number: a preset, a
    configuration file, the command line) is checked as it is given, a one-line `NetworkError` naming it; a JAX array
    (perhaps traced: built inside jit or vmap) is checked by ``eqx.error_if``, where it is computed."""

    def convert(x):
        if isinstance(x, (int, float, np.ndarray, np.generic)):
            v = np.asarray(x, dtype=float)
            if not np.all(v > 0):
                got = float(v) if v.ndim == 0 else v.tolist()
                raise NetworkError(f"{what} activation: {name} must be > 0 s (got {got})")
            return _p(x)
        x = _p(x)
        return eqx.error_if(x, ~(x > 0), f"{what} activation: {name} must be > 0 s")

    return convert


def phase(x, period):
    """``x mod period`` in [0, period) for period > 0, as x − period·⌊x/period⌋ with one correction each way for
    rounding: the value and derivatives of ``jnp.mod`` to round-off, but vectorisable (XLA's CPU remainder is a
    scalar ``fmod`` call, a large share of the cost of an activation)."""
    s = x - period * jnp.floor(x / period)
    return jnp.where(s < 0, s + period, jnp.where(s >= period, s - period, s))


class AbstractActivation(eqx.Module):
    """a(t) in [0, 1]; concrete activations carry the heart ``period`` (s) as an array field (a closed loop sets it to
    its own period when it is integrated: `with_period`, `Circulation.beat_model`)."""

    if TYPE_CHECKING:  # every concrete activation declares it (an eqx.AbstractVar would move it first in __init__)
        period: Array

    def with_period(self, period) -> AbstractActivation:
        """This activation at heart period ``period`` (s), its shape kept."""
        return eqx.tree_at(lambda a: a.period, self, jnp.broadcast_to(period, jnp.shape(self.period)))

    @abc.abstractmethod
    def __call__(self, t) -> Array: ...


class DoubleCosine(AbstractActivation):
    """Regazzoni 2022: ½(1 − cos(π s/T_C)) for 0 ≤ s < T_C with s = (t − t_C) mod T; then ½(1 + cos(π r/T_R)) for
    0 ≤ r < T_R with r = (t − t_R) mod T, t_R = t_C + T_C unless given; 0 otherwise."""

    contract_start: Array = eqx.field(converter=_p)
    contract_duration: Array = eqx.field(converter=_positive("piecewise_cosine", "contract_duration"))
    relax_duration: Array = eqx.field(converter=_positive("piecewise_cosine", "relax_duration"))
    period: Array = eqx.field(converter=_positive("piecewise_cosine", "period"))
    relax_start: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))

    def __call__(self, t):
        t_r = self.contract_start + self.contract_duration if self.relax_start is None else self.relax_start
        s = phase(t - self.contract_start, self.period)
        r = phase(t - t_r, self.period)
        # one cosine for both phases: ½(1 + cos(π r/T_R)) = ½(1 − cos(π + π r/T_R)) (the cosine is most of the cost of
        # a 0D right-hand side; evaluating one per chamber rather than two halves it)
        up = s < self.contract_duration
        theta = jnp.where(up, jnp.pi * s / self.contract_duration, jnp.pi + jnp.pi * r / self.relax_duration)
        return jnp.where(up | (r < self.relax_duration), 0.5 * (1.0 - jnp.cos(theta)), 0.0)


class HalfCosine(AbstractActivation):
    """svZeroDSolver ``half_cosine``: ½(1 − cos(2π s/t_twitch)) for s = (t mod T) − t_active in [0, t_twitch]."""

    t_active: Array = eqx.field(converter=_p)
    t_twitch: Array = eqx.field(converter=_p)
    period: Array = eqx.field(converter=_p)

    def __call__(self, t):
        s = phase(t, self.period) - self.t_active
        act = 0.5 * (1.0 - jnp.cos(2.0 * jnp.pi * s / self.t_twitch))
        return jnp.where((s >= 0.0) & (s <= self.t_twitch), act, 0.0)


class TwoHill(AbstractActivation):
    """C · g1/(1 + g1) · 1/(1 + g2), g_i = (s/τ_i)^{m_i}, s = (t − t_shift) mod T; C normalises the peak to 1
    (computed once on a 1e-5·T grid when built, and held fixed under differentiation)."""

    t_shift: Array = eqx.field(converter=_p)
    tau_1: Array = eqx.field(converter=_p)
    tau_2: Array = eqx.field(converter=_p)
    m1: Array = eqx.field(converter=_p)
    m2: Array = eqx.field(converter=_p)
    period: Array = eqx.field(converter=_p)
    normalization: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))

    def __post_init__(self):
        if self.normalization is None:
            T, t1, t2, m1, m2 = (float(np.asarray(x)) for x in (self.period, self.tau_1, self.tau_2, self.m1, self.m2))
            if min(T, t1, t2) <= 0:
                raise NetworkError("two_hill activation: period, tau_1 and tau_2 must be > 0")
            s = np.arange(0.0, T, 1e-5 * T)
            g1, g2 = (s / t1) ** m1, (s / t2) ** m2
            peak = float(np.max(g1 / (1 + g1) / (1 + g2)))
            object.__setattr__(self, "normalization", _p(1.0 / peak))

    def __call__(self, t):
        s = phase(phase(t, self.period) - self.t_shift, self.period)
        g1 = (s / self.tau_1) ** self.m1
        g2 = (s / self.tau_2) ** self.m2
        c = self.normalization
        assert c is not None  # (set when built)
        return c * g1 / (1.0 + g1) / (1.0 + g2)

"""Chamber activation functions a(t) in [0, 1] driving time-varying elastance (time in s).

* :class:`DoubleCosine` — contraction and relaxation half-cosines, Regazzoni et al. 2022 (J. Comput. Phys. 457:111083,
  eq. for e(t)); svZeroDSolver's ``piecewise_cosine``.
* :class:`HalfCosine` — one full cosine twitch of length ``t_twitch`` starting at ``t_active`` (svZeroDSolver's
  ``half_cosine``, the ChamberElastanceInductor default).
* :class:`TwoHill` — Stergiopulos et al. 1996 / Mynard et al. 2012 two-Hill waveform, normalised to a peak of 1
  (svZeroDSolver's ``two_hill``).
* :class:`WrappingCosine` — the atrial activation AA(t) of Sankaran et al. 2012 (Ann. Biomed. Eng. 40:2228) and Menon
  et al. 2023, a cosine twitch that wraps across the end of the cycle (svZeroDSolver's ``wrapping_cosine``, source
  ``src/model/ActivationFunction.cpp``).
* :class:`Fourier` — the 25-mode Fourier series of ventricular elastance from J. Tran's tuning framework (Menon et al.
  2023), min–max normalised to [0, 1] (svZeroDSolver's ``fourier``, same source).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._errors import NetworkError

__all__ = ["AbstractActivation", "DoubleCosine", "Fourier", "HalfCosine", "TwoHill", "WrappingCosine"]


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


class WrappingCosine(AbstractActivation):
    """svZeroDSolver ``wrapping_cosine`` (Sankaran et al. 2012's atrial AA(t)): with s = t mod T, T_s = ``tsa``·T (the
    atrial systole, a fraction of the period) and t_p = T / ``tpwave`` (the P wave),
    ½(1 − cos(2π (s − t_p + T_s)/T_s)) for s ≤ t_p, ½(1 − cos(2π (s − t_p − (T − T_s))/T_s)) for T − T_s + t_p ≤ s < T,
    0 otherwise: one twitch of length T_s ending at t_p of the next cycle."""

    tsa: Array = eqx.field(converter=_positive("wrapping_cosine", "Tsa"))
    tpwave: Array = eqx.field(converter=_positive("wrapping_cosine", "tpwave"))
    period: Array = eqx.field(converter=_positive("wrapping_cosine", "period"))

    def __call__(self, t):
        s = phase(t, self.period)
        ts = self.tsa * self.period
        tp = self.period / self.tpwave
        early = s <= tp
        late = (s >= self.period - ts + tp) & (s < self.period)
        shift = jnp.where(early, tp - ts, tp + self.period - ts)
        act = 0.5 * (1.0 - jnp.cos(2.0 * jnp.pi * (s - shift) / ts))
        return jnp.where(early | late, act, 0.0)


# the coefficients (a_k, b_k) of Fourier's series Σ a_k cos(2πks/T) − b_k sin(2πks/T), as svZeroDSolver lists them
# (src/model/ActivationFunction.cpp, FT_ELAST; from J. Tran's tuning framework, Menon et al. 2023)
FOURIER_ELASTANCE = np.array(
    [
        [0.283748803, 0.000000000],
        [0.031830626, -0.374299825],
        [-0.209472400, -0.018127770],
        [0.020520047, 0.073971113],
        [0.008316883, -0.047249597],
        [-0.041677660, 0.003212163],
        [0.000867323, 0.019441411],
        [-0.001675379, -0.005565534],
        [-0.011252277, 0.003401432],
        [-0.000414677, 0.008376795],
        [0.000253749, -0.000071880],
        [-0.002584966, 0.001566861],
        [0.000584752, 0.003143555],
        [0.000028502, -0.000024787],
        [0.000022961, -0.000007476],
        [0.000018735, -0.000001281],
        [0.000015573, 0.000001781],
        [0.000013133, 0.000003494],
        [0.000011199, 0.000004507],
        [0.000009634, 0.000005117],
        [0.000008343, 0.000005481],
        [0.000007265, 0.000005687],
        [0.000006354, 0.000005789],
        [0.000005575, 0.000005821],
        [0.000004903, 0.000005805],
    ]
)


class Fourier(AbstractActivation):
    """svZeroDSolver ``fourier``: f(s) = Σ_k a_k cos(2πks/T) − b_k sin(2πks/T) with s = t mod T, normalised as
    (f − min f)/(max f − min f) over 10,000 samples of one period (computed once when built, held fixed under
    differentiation, as svZeroDSolver does). ``coefficients`` (n, 2): (a_k, b_k), default `FOURIER_ELASTANCE`."""

    period: Array = eqx.field(converter=_positive("fourier", "period"))
    coefficients: Array = eqx.field(converter=_p, default_factory=lambda: FOURIER_ELASTANCE.copy())
    f_min: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))
    f_range: Array | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))

    def __post_init__(self):
        if self.f_min is None or self.f_range is None:
            T = float(np.asarray(self.period))
            c = np.asarray(self.coefficients, float)
            s = np.arange(10000) * (T / 10000)
            k = np.arange(c.shape[0])[:, None]
            f = c[:, 0] @ np.cos(2 * np.pi * k * s / T) - c[:, 1] @ np.sin(2 * np.pi * k * s / T)
            lo, rng = float(f.min()), float(f.max() - f.min())
            object.__setattr__(self, "f_min", _p(lo))
            object.__setattr__(self, "f_range", _p(rng if rng > 0 else 1.0))

    def __call__(self, t):
        s = phase(t, self.period)
        c = self.coefficients  # (modes, 2), or (chambers, modes, 2) when like chambers are evaluated stacked
        k = jnp.arange(c.shape[-2], dtype=c.dtype).reshape((1,) * jnp.ndim(s) + (-1,))
        w = 2.0 * jnp.pi * k * (s / self.period)[..., None]
        f = jnp.sum(c[..., 0] * jnp.cos(w) - c[..., 1] * jnp.sin(w), axis=-1)
        assert self.f_min is not None and self.f_range is not None  # (set when built)
        return (f - self.f_min) / self.f_range

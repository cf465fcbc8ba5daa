"""Chamber elastance timing from electrical activation: the EP → 0D circulation edge.

A ventricle does not contract at once: each piece of myocardium starts its own twitch when the electrical wave reaches it,
an electromechanical delay later. The chamber's elastance activation is modelled as the average of those local twitches,

    a(t) = Σ_k w_k φ(t − d_k),    d_k = (τ_k + δ − t_origin) / 1000   [s],

with φ the chamber's own double-cosine twitch (Regazzoni et al. 2022; contraction T_C and relaxation T_R taken from the
chamber it replaces), τ_k the K equal-probability quantiles (default 32, w_k = 1/K) of the local activation times (ms) over
the chamber's myocardium, δ the electromechanical delay (ms) and t_origin the EP time (ms) that is t = 0 of the 0D beat. A
synchronous activation gives back the chamber's own twitch; a dispersed one a lower, slower-rising average elastance
(the peak is below 1 once the spread of the τ_k is a fair part of T_C). Everything is differentiable with respect to the
activation times, the delay and the origin.

Choices, and why:

* **Quantiles, not every node.** K quantiles summarise the distribution at a cost independent of the mesh (the 0D
  right-hand side is evaluated thousands of times per beat); the sum is the midpoint rule of ∫ φ(t − d) dF(d) in
  probability, so its error falls like 1/K² for a smooth distribution. 32 quantiles of a 100 ms spread are 3 ms apart,
  1 % of T_C.
* **Volume weighting.** What contracts is myocardial mass, and an unstructured mesh is not uniform (gmsh refines at
  curved surfaces, a fast endocardial layer is thin): node counting would over-weight refined parts. The quantiles are of
  the distribution weighted by each node's share of its region's volume (the lumped P1 mass of the region's tets,
  `region_node_volumes`); plain boolean masks (every node counts once) are accepted too.
* **Electromechanical delay.** :data:`ELECTROMECHANICAL_DELAY_MS` = 30 ms: the interval between local electrical
  activation and the onset of fibre shortening measured in canine LV was 24–41 ms (Prinzen et al. 1992, Eur Heart J
  13:535–543: 32 ± 10 ms early vs 41 ± 8 ms late activated regions during RV outflow-tract pacing). One delay for all
  myocardium: the paper's longer delay in late-activated regions (which would add to dyssynchrony) is not modelled.
* **Time origin.** By default (`couple_circulation` with ``origin_ms=None``) the earliest ventricular activation plus
  the delay is put where the preset's ventricles start contracting (t_C of the chamber, 0 s in Regazzoni 2022): the
  earliest myocardium contracts exactly when the preset ventricle would, so the atria, which keep their preset timing,
  keep their preset interval to the ventricular onset (a fixed PR interval), and a dyssynchronous activation shows up as
  the *rest* of the ventricles contracting late. The uniform delay then drops out; it matters when ``origin_ms`` is
  given (an EP clock tied to the atria, e.g. a paced AV delay).

Units: activation times, delay and origin in ms (EP), the 0D clock and twitch durations in s; converted here, once.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._errors import InputError
from ..flow.zerod import AbstractActivation, Circulation, DoubleCosine

__all__ = [
    "ELECTROMECHANICAL_DELAY_MS",
    "ElectromechanicalActivation",
    "activation_quantiles",
    "couple_circulation",
    "region_node_volumes",
]

#: Electromechanical delay (ms), local electrical activation to onset of fibre shortening: canine LV 24–41 ms
#: (Prinzen et al. 1992, Eur Heart J 13:535–543); the middle of that range.
ELECTROMECHANICAL_DELAY_MS = 30.0


def _p(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _given(x) -> np.ndarray | None:
    """``x`` as float64 NumPy when it was given as a value (a number, a NumPy or a concrete JAX array); None when it
    is traced (built inside jit, vmap or autodiff), which the entry checks leave to ``eqx.error_if``."""
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x, dtype=np.float64)


class ElectromechanicalActivation(AbstractActivation):
    """a(t) = Σ_k w_k φ((t − d_k) mod T), d_k = (activation_ms_k + delay_ms − origin_ms)/1000 s, φ the double-cosine
    twitch ½(1 − cos(π s/T_C)) for 0 ≤ s < T_C, ½(1 + cos(π (s − T_C)/T_R)) for T_C ≤ s < T_C + T_R, else 0 (final).

    Attributes:
        activation_ms: (K,) local electrical activation times, ms on the EP clock (e.g. `activation_quantiles`).
        delay_ms: electromechanical delay, ms (default :data:`ELECTROMECHANICAL_DELAY_MS`).
        origin_ms: the EP time (ms) that is t = 0 of the 0D beat.
        contract_duration, relax_duration: T_C, T_R of one local twitch, s.
        period: heart period T, s.
        weights: (K,) nonnegative weights summing to 1, or None for 1/K each.
    """

    activation_ms: Float[Array, " k"] = eqx.field(converter=_p)
    origin_ms: Array = eqx.field(converter=_p)
    contract_duration: Array = eqx.field(converter=_p)
    relax_duration: Array = eqx.field(converter=_p)
    period: Array = eqx.field(converter=_p)
    delay_ms: Array = eqx.field(default=ELECTROMECHANICAL_DELAY_MS, converter=_p)
    weights: Float[Array, " k"] | None = eqx.field(default=None, converter=lambda x: None if x is None else _p(x))

    def __check_init__(self):
        if jnp.ndim(self.activation_ms) != 1 or jnp.shape(self.activation_ms)[0] == 0:
            raise InputError(
                f"ElectromechanicalActivation: activation_ms must be a non-empty 1-D array of times in ms, "
                f"got shape {jnp.shape(self.activation_ms)}"
            )
        if self.weights is not None and jnp.shape(self.weights) != jnp.shape(self.activation_ms):
            raise InputError(
                f"ElectromechanicalActivation: weights shape {jnp.shape(self.weights)} differs from "
                f"activation_ms shape {jnp.shape(self.activation_ms)}"
            )
        tc, tr, T = (_given(getattr(self, k)) for k in ("contract_duration", "relax_duration", "period"))
        for k, v in (("contract_duration", tc), ("relax_duration", tr), ("period", T)):
            if v is not None and not v > 0:
                raise InputError(f"ElectromechanicalActivation: {k} must be > 0 s (got {float(v)})")
        if tc is not None and tr is not None and T is not None and tc + tr > T * (1 + 1e-12):
            raise InputError(
                f"ElectromechanicalActivation: one twitch (T_C + T_R = {float(tc + tr):.4g} s) must fit in the "
                f"period ({float(T):.4g} s)"
            )
        a = _given(self.activation_ms)
        if a is not None and not np.all(np.isfinite(a)):
            raise InputError(
                "ElectromechanicalActivation: activation_ms must be finite (a region that never "
                "activated cannot contract)"
            )
        w = None if self.weights is None else _given(self.weights)
        if w is not None and (np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-6):
            raise InputError(
                f"ElectromechanicalActivation: weights must be >= 0 and sum to 1 (sum {float(w.sum()):.6g})"
            )

    # Per-chamber scalars carry a trailing axis against the K twitches, so that the module also evaluates when the
    # network stacks like chambers into one batched block (leaves (chambers,) and (chambers, K)).
    @property
    def onsets(self) -> Float[Array, "*chambers k"]:
        """d_k: the start of each local twitch on the 0D clock, s."""
        return (self.activation_ms + (self.delay_ms - self.origin_ms)[..., None]) * 1e-3

    def twitch(self, s) -> Array:
        """φ(s): one local twitch, s seconds after its start (s in [0, T); the last axis runs over the twitches)."""
        tc = jnp.broadcast_to(self.contract_duration[..., None], jnp.shape(s))
        tr = jnp.broadcast_to(self.relax_duration[..., None], jnp.shape(s))
        up = 0.5 * (1.0 - jnp.cos(jnp.pi * s / tc))
        down = 0.5 * (1.0 + jnp.cos(jnp.pi * (s - tc) / tr))
        return jnp.where(s < tc, up, jnp.where(s < tc + tr, down, 0.0))

    def __call__(self, t) -> Array:
        t = jnp.asarray(t)
        # the clock, the twitch onsets and the period broadcast explicitly (tested under rank_promotion="raise")
        tt, onsets = jnp.broadcast_arrays(t[..., None], self.onsets)
        s = jnp.mod(tt - onsets, jnp.broadcast_to(self.period[..., None], tt.shape))
        phi = self.twitch(s)
        if self.weights is None:
            return jnp.mean(phi, axis=-1)
        return jnp.sum(phi * jnp.broadcast_to(self.weights, phi.shape), axis=-1)


def activation_quantiles(
    times_ms: Float[ArrayLike, " nodes"], weights: Float[ArrayLike, " nodes"] | None = None, n: int = 32
) -> Float[Array, " n"]:
    """The ``n`` quantiles at levels (j + ½)/n, j = 0..n−1, of the weighted distribution of ``times_ms``.

    Each time sits at the middle of its weight in the cumulative distribution ((W_<i + w_i/2) / W) and the quantile is
    interpolated linearly between neighbours (clamped to the least / greatest time at the ends); with equal weights this
    is the Hazen definition. Differentiable with respect to the times (a continuous, piecewise-linear function of them);
    the weights must be positive (pass only the region's nodes).
    """
    if int(n) < 1:
        raise InputError(f"activation_quantiles: n must be >= 1, got {n}")
    t = jnp.asarray(times_ms)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    w = jnp.ones_like(t) if weights is None else jnp.asarray(weights, t.dtype)
    order = jnp.argsort(jax.lax.stop_gradient(t))
    ts, ws = t[order], jax.lax.stop_gradient(w[order])
    c = jnp.cumsum(ws)
    pos = (c - 0.5 * ws) / c[-1]
    levels = (jnp.arange(int(n), dtype=t.dtype) + 0.5) / int(n)
    return jnp.interp(levels, pos, ts)


def region_node_volumes(mesh, region_ids) -> np.ndarray:
    """(nodes,) each node's share of the volume (mm³) of the tets of ``region_ids`` (a quarter of each such tet it
    belongs to; zero for nodes outside): the weights of a volume-weighted activation distribution. Host (numpy)."""
    ids = np.atleast_1d(np.asarray(region_ids))
    keep = np.isin(np.asarray(mesh.regions), ids)
    pts = np.asarray(mesh.points, np.float64)
    tets = np.asarray(mesh.tets)[keep]
    p = pts[tets]
    vol = np.abs(np.einsum("ij,ij->i", p[:, 1] - p[:, 0], np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]))) / 6.0
    out = np.zeros(pts.shape[0])
    np.add.at(out, tets.reshape(-1), np.repeat(vol / 4.0, 4))
    return out


def _region(mask, n_nodes: int, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Host: (node indices, weights or None) of a boolean mask or a nonnegative weight array."""
    if isinstance(mask, jax.core.Tracer):
        raise InputError(f"couple_circulation: {what} must be a concrete array (connectivity, not a traced value)")
    m = np.asarray(mask)
    if m.shape != (n_nodes,):
        raise InputError(f"couple_circulation: {what} has shape {m.shape}, expected ({n_nodes},) (one per node)")
    if m.dtype == bool:
        idx = np.flatnonzero(m)
        w = None
    else:
        m = m.astype(np.float64)
        if not np.all(np.isfinite(m)) or np.any(m < 0):
            raise InputError(f"couple_circulation: {what} must be a boolean mask or nonnegative finite weights")
        idx = np.flatnonzero(m > 0)
        w = m[idx]
    if idx.size == 0:
        raise InputError(f"couple_circulation: {what} selects no node")
    return idx, w


def _twitch_of(circ: Circulation, name: str):
    act = circ.chamber(name).activation
    if isinstance(act, ElectromechanicalActivation):
        return act.contract_duration, act.relax_duration, act.period, None
    if isinstance(act, DoubleCosine):
        if act.relax_start is not None:
            rs, cs, cd = (_given(x) for x in (act.relax_start, act.contract_start, act.contract_duration))
            # traced (inside jit): no values to check here
            if rs is not None and cs is not None and cd is not None and not np.isclose(float(rs), float(cs + cd)):
                raise InputError(
                    f"couple_circulation: the {name} twitch relaxes at a separate relax_start; only a "
                    f"twitch that relaxes right after contracting can be spread over activation times"
                )
        return act.contract_duration, act.relax_duration, act.period, act.contract_start
    raise InputError(
        f"couple_circulation: the {name} chamber's activation is a {type(act).__name__}; the coupling needs "
        f"its DoubleCosine twitch (T_C, T_R)"
    )


def couple_circulation(
    circ: Circulation,
    activation_ms: Float[ArrayLike, " nodes"],
    lv_mask: Bool[ArrayLike, " nodes"] | Float[ArrayLike, " nodes"],
    rv_mask: Bool[ArrayLike, " nodes"] | Float[ArrayLike, " nodes"],
    *,
    n_quantiles: int = 32,
    delay_ms: float | ArrayLike = ELECTROMECHANICAL_DELAY_MS,
    origin_ms: float | ArrayLike | None = None,
) -> Circulation:
    """The circulation with its LV and RV driven by electrical activation (`ElectromechanicalActivation`); the atria
    keep their preset activation.

    Args:
        circ: a closed loop whose ventricles have `DoubleCosine` twitches (e.g. `regazzoni2022()`); their T_C, T_R and
            period become the local twitch.
        activation_ms: (nodes,) activation times, ms (may be traced: the result is differentiable w.r.t. them).
        lv_mask, rv_mask: (nodes,) the chamber's myocardium: boolean (each node weighs the same) or nonnegative weights
            (volume weighting: `region_node_volumes`; what `activation_from_run` gives). Concrete arrays.
        n_quantiles: K, the number of equally weighted quantiles per chamber.
        delay_ms: electromechanical delay, ms.
        origin_ms: the EP time (ms) that is t = 0 of the 0D beat. None: the earliest ventricular activation plus the
            delay lands on the preset ventricles' contraction start (module docstring).
    """
    t = jnp.asarray(activation_ms)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    if t.ndim != 1:
        raise InputError(f"couple_circulation: activation_ms must be (nodes,), got shape {t.shape}")
    n = t.shape[0]
    regions = {"LV": _region(lv_mask, n, "lv_mask"), "RV": _region(rv_mask, n, "rv_mask")}
    times = {}
    for name, (idx, _) in regions.items():
        tt = t[jnp.asarray(idx)]
        c = _given(tt)
        if c is not None:
            bad = int(np.sum(~np.isfinite(c)))
            if bad:
                raise InputError(
                    f"couple_circulation: {bad} of {c.size} {name} nodes never activated (non-finite "
                    f"activation time); the chamber cannot contract as a whole"
                )
        else:
            tt = eqx.error_if(tt, ~jnp.isfinite(tt), f"couple_circulation: {name} nodes with non-finite activation")
        times[name] = tt
    twitch = {name: _twitch_of(circ, name) for name in regions}
    delay = _p(delay_ms)
    if origin_ms is None:
        starts = [jnp.asarray(tw[3], t.dtype) for tw in twitch.values() if tw[3] is not None]
        start_s = jnp.min(jnp.stack(starts)) if starts else 0.0  # may be traced (a fit's model is a jit argument)
        origin = jnp.minimum(jnp.min(times["LV"]), jnp.min(times["RV"])) + delay - 1e3 * start_s
    else:
        origin = _p(origin_ms)
    acts = {}
    for name, (_, w) in regions.items():
        tc, tr, period, _ = twitch[name]
        q = activation_quantiles(times[name], None if w is None else jnp.asarray(w, times[name].dtype), n_quantiles)
        acts[name] = ElectromechanicalActivation(q, origin, tc, tr, period, delay_ms=delay)
    return circ.with_activation(acts)

"""Losses on measured data and the fits that minimise them over `FreeParameters`.

* `ActivationTimeLoss` — local activation times measured at scattered points (an electroanatomical map), each point
  projected onto the closest point of the mesh's boundary surface; the model's activation there is the barycentric
  interpolation of its nodal times. An electroanatomical map's times are relative to an arbitrary reference, so by
  default the mean difference (a global time shift) is removed in closed form (``fit_offset``).
* `fit_adam` — optax Adam (any optax schedule as the learning rate) on loss(model) + the priors' penalties; jitted
  steps, a progress line with the loss.

* `fit_least_squares` — optimistix Levenberg–Marquardt (or Gauss–Newton) on whitened residuals and the priors'
  residuals, with forward-mode Jacobians: few parameters, many residuals. (Reverse mode would vmap the eikonal's
  adjoint over every residual at once: 32 GB for 400 map points on the built-in BiV, measured.) The eikonal supplies
  forward mode by its own custom JVP (``simulate_eikonal(..., forward_mode=True)``).
* Several starts run as one vmapped job in both fits (``u0`` of shape (starts, n)).

Every fit returns a `FitResult` whose ``result`` (`organtwin.RESULTS`) says how it ended: ``successful``,
``max_steps_reached`` (Levenberg–Marquardt/Gauss–Newton used its step budget without meeting its tolerance: the point
reached is returned, not raised), ``diverged`` (the objective became non-finite) or an optimistix solver's own failure.
With ``throw=True`` (the default) a failure raises one line through `organtwin._solution.raise_if_failed`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float, Int

from .._solution import RESULTS, raise_if_failed
from ._observables import AbstractObservables, ActivationObservables
from ._params import CalibrationError, FreeParameters

__all__ = [
    "AbstractLoss",
    "ActivationTimeLoss",
    "FitResult",
    "MeasurementLoss",
    "dense_forward_jacobian",
    "fit_adam",
    "fit_least_squares",
    "least_squares_residuals",
    "project_onto_surface",
]


class AbstractLoss(eqx.Module):
    """A data term of a fit. ``residuals(prediction)`` in the data's units (ms, mV, mL, mmHg); ``noise_sd`` the
    measurement noise in the same units, so ``whitened(prediction) = residuals / noise_sd`` are standardised (what
    Gauss–Newton and the Laplace report use); ``__call__`` the mean squared residual (what Adam minimises). A subclass
    has a ``noise_sd`` field (a float, or an array broadcasting against its residuals)."""

    if TYPE_CHECKING:  # every concrete loss has the field (an eqx.AbstractVar would move it first in __init__)

        @property
        def noise_sd(self) -> float | Array: ...

    @abc.abstractmethod
    def residuals(self, prediction) -> Array:
        """Model minus measured, raveled, in the data's units."""

    def whitened(self, prediction) -> Array:
        return self.residuals(prediction) / self.noise_sd

    def __call__(self, prediction) -> Array:
        return jnp.mean(jnp.square(self.residuals(prediction)))

    def summary(self, prediction) -> dict:
        """Residual statistics for the fit report (host floats, the data's units); subclasses add their own."""
        r = np.asarray(self.residuals(prediction), np.float64)
        return {"rms_residual": float(np.sqrt(np.mean(r**2))), "max_abs_residual": float(np.max(np.abs(r)))}

    @abc.abstractmethod
    def observables(self, prediction) -> AbstractObservables | None:
        """The fitted model's outputs beside the data, for the report's pictures (`ActivationObservables`,
        `ECGObservables`, `TraceObservables`), or None for a term that has no picture. Host arrays; `fit_report`
        stores them in `FitReport.observables`, and `organtwin.viz.calibration_pictures` draws them."""


class MeasurementLoss(AbstractLoss):
    """Prediction minus ``measured`` for any array-valued prediction in the data's units (final): scalar figures
    (a QRS duration, an ejection fraction) or a custom observation. ``noise_sd`` in the same units."""

    measured: Array = eqx.field(converter=jnp.asarray)
    noise_sd: float | Array = 1.0

    def residuals(self, prediction) -> Array:
        return jnp.ravel(jnp.asarray(prediction) - self.measured)

    def observables(self, prediction) -> None:
        """No picture: a scalar figure or a custom observation (its residuals are in the report)."""
        return None


# --------------------------------------------------------------------------------------------- surface projection
def _closest_on_triangles(p, a, b, c):
    """Closest points to p (n, 3) on triangles (a, b, c) (n, 3 each): barycentric weights (n, 3) and squared
    distances (Ericson, Real-Time Collision Detection, 5.1.5; vectorised, region by region)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    with np.errstate(divide="ignore", invalid="ignore"):
        v = vb / denom
        w = vc / denom
    bary = np.stack([1 - v - w, v, w], axis=1)  # inside the face
    regions = [
        ((d1 <= 0) & (d2 <= 0), lambda: np.array([1.0, 0.0, 0.0])),
        ((d3 >= 0) & (d4 <= d3), lambda: np.array([0.0, 1.0, 0.0])),
        ((d6 >= 0) & (d5 <= d6), lambda: np.array([0.0, 0.0, 1.0])),
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
        t_ab = d1 / (d1 - d3)
        e_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
        t_ac = d2 / (d2 - d6)
        e_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    out = bary.copy()
    out[e_bc] = np.stack([np.zeros(e_bc.sum()), 1 - t_bc[e_bc], t_bc[e_bc]], axis=1)
    out[e_ac] = np.stack([1 - t_ac[e_ac], np.zeros(e_ac.sum()), t_ac[e_ac]], axis=1)
    out[e_ab] = np.stack([1 - t_ab[e_ab], t_ab[e_ab], np.zeros(e_ab.sum())], axis=1)
    for mask, value in reversed(regions):
        out[mask] = value()
    q = out[:, :1] * a + out[:, 1:2] * b + out[:, 2:] * c
    return out, np.sum((p - q) ** 2, axis=1)


def project_onto_surface(
    points, triangles, query, *, candidates: int = 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest point of a triangle surface to each query point (host, numpy + scipy's k-d tree).

    Returns (triangle vertex indices (m, 3), barycentric weights (m, 3), distances (m,) mm). The exact closest point
    over the ``candidates`` triangles with the nearest centroids (enough on a mesh whose triangles are of similar size).
    """
    from scipy.spatial import KDTree

    pts = np.asarray(points, np.float64)
    tri = np.asarray(triangles)
    q = np.asarray(query, np.float64)
    k = min(candidates, tri.shape[0])
    _, cand = KDTree(pts[tri].mean(axis=1)).query(q, k=k)
    cand = cand.reshape(q.shape[0], k)
    best_w = np.zeros((q.shape[0], 3))
    best_d = np.full(q.shape[0], np.inf)
    best_t = np.zeros(q.shape[0], np.int64)
    for j in range(k):  # k candidate triangles per point, each pass vectorised over all points
        t = cand[:, j]
        w, d = _closest_on_triangles(q, pts[tri[t, 0]], pts[tri[t, 1]], pts[tri[t, 2]])
        better = d < best_d
        best_w[better], best_d[better], best_t[better] = w[better], d[better], t[better]
    return tri[best_t], best_w, np.sqrt(best_d)


def locate_in_tets(points, tets, query, *, candidates: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tet holding each query point and its barycentric weights (host, numpy + scipy's k-d tree).

    Returns (tet vertex indices (m, 4), weights (m, 4), inside (m,) bool). A point is inside when one of the
    ``candidates`` tets with the nearest centroids holds it (weights all >= -1e-9); for the others the rows are the
    nearest candidate's and ``inside`` is False.
    """
    from scipy.spatial import KDTree

    pts = np.asarray(points, np.float64)
    tets = np.asarray(tets)
    q = np.asarray(query, np.float64)
    k = min(candidates, tets.shape[0])
    _, cand = KDTree(pts[tets].mean(axis=1)).query(q, k=k)
    cand = cand.reshape(q.shape[0], k)
    best_w = np.zeros((q.shape[0], 4))
    best_min = np.full(q.shape[0], -np.inf)
    best_t = cand[:, 0].copy()
    for j in range(k):  # k candidate tets per point, each pass vectorised over all points
        t = cand[:, j]
        x = pts[tets[t]]  # (m, 4, 3)
        A = np.transpose(x[:, 1:] - x[:, :1], (0, 2, 1))  # (m, 3, 3)
        with np.errstate(all="ignore"):
            lam = np.linalg.solve(A, (q - x[:, 0])[..., None])[..., 0]
        w = np.column_stack([1.0 - lam.sum(axis=1), lam])
        worst = np.where(np.isfinite(w).all(axis=1), w.min(axis=1), -np.inf)
        better = worst > best_min
        best_w[better], best_min[better], best_t[better] = w[better], worst[better], t[better]
    return tets[best_t], best_w, best_min >= -1e-9


def _surface_triangles(mesh) -> np.ndarray:
    from ..mesh._generate import _boundary_faces

    faces, _ = _boundary_faces(np.asarray(mesh.tets), mesh.n_nodes)
    return faces


# ----------------------------------------------------------------------------------------------------------- losses
class ActivationTimeLoss(AbstractLoss):
    """Mean squared difference (ms²) between measured and model activation times at the measured points (final).

    Attributes:
        nodes, weights: (m, 4) per measured point, the tet holding it and its barycentric weights, or (for a point
            outside the tissue) the surface triangle of its projection and its weights (fourth weight 0).
        measured_ms: (m,) measured local activation times.
        distance_mm: (m,) how far each measured point was from the surface (host diagnostics).
        fit_offset: remove the mean difference (a global time shift of the map) before squaring.
        noise_sd: ms, the measurement noise of the map's times (default 1 ms).
        points_mm: (m, 3) the measured points (host, for the report's picture; `from_map` keeps them).
    """

    nodes: Int[Array, "m 4"]
    weights: Float[Array, "m 4"]
    measured_ms: Float[Array, " m"]
    distance_mm: np.ndarray
    fit_offset: bool = eqx.field(static=True, default=True)
    noise_sd: float = 1.0
    points_mm: np.ndarray | None = None

    @classmethod
    def from_map(
        cls,
        mesh,
        activation_map,
        *,
        fit_offset: bool = True,
        max_distance_mm: float = 10.0,
        noise_sd: float = 1.0,
        dtype=None,
    ) -> "ActivationTimeLoss":
        """An `ActivationMap` (points mm, times ms) on ``mesh``: points inside the tissue are interpolated in their tet,
        the others projected onto the boundary surface; a point farther than ``max_distance_mm`` from it is a one-line
        error (a map in another frame or unit)."""
        tri = _surface_triangles(mesh)
        nodes, w, dist = project_onto_surface(mesh.points, tri, activation_map.points_mm)
        # Points inside the tissue (a volume map, e.g. another solver's activation on a finer mesh) are interpolated in
        # the tet that holds them: projecting them onto the boundary would compare them with the wrong tissue.
        tet_nodes, tet_w, inside = locate_in_tets(mesh.points, mesh.tets, activation_map.points_mm)
        nodes = np.where(inside[:, None], tet_nodes, np.column_stack([nodes, nodes[:, :1]]))
        w = np.where(inside[:, None], tet_w, np.column_stack([w, np.zeros(len(w))]))
        dist = np.where(inside, 0.0, dist)
        far = np.flatnonzero(dist > max_distance_mm)
        if far.size:
            i = int(far[0])
            raise CalibrationError(
                f"{activation_map.source or 'activation map'}: point {i} is {dist[i]:.1f} mm from "
                f"the mesh surface ({far.size} points farther than {max_distance_mm} mm); is the map "
                "in the mesh's frame and in mm?"
            )
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(
            jnp.asarray(nodes, jnp.int32),
            jnp.asarray(w, dtype),
            jnp.asarray(activation_map.times_ms, dtype),
            dist,
            fit_offset,
            float(noise_sd),
            np.asarray(activation_map.points_mm, np.float64),
        )

    def predicted(self, activation_ms: Float[ArrayLike, " nodes"]) -> Float[Array, " m"]:
        return jnp.sum(self.weights * jnp.asarray(activation_ms)[self.nodes], axis=-1)

    def residuals(self, activation_ms: Float[ArrayLike, " nodes"]) -> Float[Array, " m"]:
        r = self.predicted(activation_ms) - self.measured_ms
        return r - jnp.mean(r) if self.fit_offset else r

    def rmse(self, activation_ms) -> Array:
        """Root-mean-square error, ms (after the offset when ``fit_offset``)."""
        return jnp.sqrt(self(activation_ms))

    def summary(self, activation_ms) -> dict:
        r = np.asarray(self.predicted(activation_ms) - self.measured_ms, np.float64)
        offset = float(np.mean(r)) if self.fit_offset else 0.0
        r = r - offset
        return {
            "rmse_ms": float(np.sqrt(np.mean(r**2))),
            "max_abs_error_ms": float(np.max(np.abs(r))),
            "offset_ms": offset,
            "n_points": int(r.size),
            "max_projection_distance_mm": float(np.max(self.distance_mm)),
        }

    def observables(self, activation_ms) -> ActivationObservables:
        """The fitted activation on the mesh, and at the measured points beside their times (offset-corrected when
        ``fit_offset``)."""
        p = np.asarray(self.predicted(activation_ms), float)
        m = np.asarray(self.measured_ms, float)
        if self.fit_offset:
            m = m + float(np.mean(p - m))
        return ActivationObservables(np.asarray(activation_ms), self.points_mm, m, p)


# -------------------------------------------------------------------------------------------------------------- fits
@dataclass(frozen=True)
class FitResult:
    """The fitted model, its free parameters' values, the objective's history and how the fit ended.

    With several starts, ``u``/``values``/``loss``/``model`` are the best start's; ``starts_u`` (starts, n) and
    ``starts_loss`` (starts,) hold every start's end point and final objective. ``result`` (`organtwin.RESULTS`): how
    the fit ended (``successful``, ``max_steps_reached``, ``diverged``, or an optimistix solver's failure of the best
    start); when it is not ``successful``, ``message`` is the one line saying why."""

    model: object
    u: np.ndarray
    values: dict
    loss: float
    history: np.ndarray
    steps: int
    seconds: float
    message: str
    starts_u: np.ndarray | None = None
    starts_loss: np.ndarray | None = None
    result: RESULTS = field(default_factory=lambda: RESULTS.successful)


def _objective(loss, free: FreeParameters):
    """(u, model) -> loss + priors. The model is an argument, not a closure, so that the jitted steps take its arrays
    as inputs: closed over, a mesh's arrays become XLA constants that the compiler folds (slowly, on a big mesh)."""

    def f(u, model):
        return loss(free.unpack(model, u)) + free.prior_penalty(u)

    return f


def _starts(free, model, u0):
    u = free.pack(model) if u0 is None else jnp.asarray(u0, jnp.result_type(free.pack(model)))
    if u.ndim not in (1, 2) or u.shape[-1] != free.size:
        raise CalibrationError(
            f"fit: u0 has shape {tuple(u.shape)}; give ({free.size},) or (starts, {free.size}) "
            "unconstrained values (FreeParameters.pack)"
        )
    return u


_NON_FINITE_END = "fit: every start ended with a non-finite objective; check the data, the bounds and the starts"


def _finish(
    free, model, u_all, losses, history, steps, seconds, message, batched, *, result=None, starts_result=None
) -> FitResult:
    """The `FitResult` of the best start. ``result``: the fit's outcome when already known (Adam's loss that became
    non-finite, a Levenberg–Marquardt fit that used its step budget), with ``message`` the line saying why;
    ``starts_result``: the optimistix solver's outcome of each start (batched like ``u_all``), the best start's kept.
    Every start ending non-finite is ``diverged``."""
    losses = np.asarray(losses, float)
    finite = np.where(np.isfinite(losses), losses, np.inf)
    best = int(np.argmin(finite)) if batched else 0
    result = RESULTS.successful if result is None else result
    if starts_result is not None and result == RESULTS.successful:
        solver_result = RESULTS.promote(
            jax.tree.map(lambda v: np.asarray(v)[best], starts_result) if batched else starts_result
        )
        if solver_result != RESULTS.successful:
            result = solver_result
            message = f"{message}; the solver failed: {' '.join(RESULTS[solver_result].split())}"
    if result != RESULTS.diverged and not np.isfinite(finite[best] if batched else losses.reshape(-1)[0]):
        result, message = RESULTS.diverged, _NON_FINITE_END
    u = np.asarray(u_all[best] if batched else u_all)
    values = {k: np.asarray(v) for k, v in free.values(jnp.asarray(u)).items()}
    return FitResult(
        free.unpack(model, jnp.asarray(u)),
        u,
        values,
        float(losses.reshape(-1)[best]),
        np.asarray(history),
        int(steps),
        seconds,
        message,
        np.asarray(u_all) if batched else None,
        losses if batched else None,
        result,
    )


def _checked(fit: FitResult, throw: bool) -> FitResult:
    """``fit``, after raising its failure when ``throw`` (one line, its ``message``; `raise_if_failed`, as every
    organtwin solver). ``max_steps_reached`` is not raised: the fit used the step budget it was given, and its point
    is returned with the message saying so (as before results)."""
    if not throw or fit.result == RESULTS.max_steps_reached:
        return fit
    return raise_if_failed(fit, fit.result, describe=lambda _: fit.message)


def steps_until_done(step, u, state, max_steps: int, stationary_rtol: float, history: list, on_step=None):
    """The host loop of a jitted optimistix least-squares solver, as `fit_least_squares` runs it: ``step(u, state) ->
    (u, state, done, result, objective)`` (one start or a batch of them) called at most ``max_steps`` times, stopped
    when every start is done or when the objective changed by less than ``stationary_rtol`` (relative) over five steps
    (Levenberg–Marquardt rejecting steps at a minimum it cannot refine further, round-off level). Each objective is
    appended to ``history`` (as host arrays) and given to ``on_step(k, objective)``. Returns (u, state, steps taken,
    done, the solver's result, stationary)."""
    k, stationary, done, result = 0, False, False, None
    for k in range(1, int(max_steps) + 1):
        u, state, done, result, value = step(u, state)
        v = np.asarray(value)
        history.append(v)
        if on_step is not None:
            on_step(k, v)
        if bool(np.all(np.asarray(done))):
            break
        if k >= 6 and np.all(np.abs(history[-6] - v) <= stationary_rtol * np.abs(v)):
            stationary = True
            break
    return u, state, k, done, result, stationary


def _tell(progress, k: int, n: int, v, batched: bool, *, force: bool = True) -> None:
    """Report step k of n with loss v: ``progress`` a callable ``(step, steps, loss)`` (e.g. a progress bar), or
    True for a printed line (when ``force``)."""
    finite = np.asarray(v)[np.isfinite(v)]
    best = float(np.min(finite)) if finite.size else float("nan")  # (a diverged step: no all-NaN warning)
    if callable(progress):
        progress(k, n, best)
    elif progress and force:
        print(f"fit {k}/{n}: loss {best:.6g}" + (f" (best of {np.size(v)})" if batched else ""), flush=True)


def _batch(f, batched: bool):
    """``f`` over one start, vmapped over the leading axis of its array arguments when the fit runs several starts.
    (``eqx.filter_vmap``: an optimiser state holds non-array leaves, e.g. optimistix's linearised function, which
    are the same for every start and pass through unbatched.)"""
    return eqx.filter_vmap(f) if batched else f


def fit_adam(
    loss,
    free: FreeParameters,
    model,
    *,
    learning_rate: float | optax.Schedule = 1e-2,
    steps: int = 200,
    u0=None,
    progress=True,
    print_every: int = 20,
    throw: bool = True,
) -> FitResult:
    """Minimise ``loss(model) + priors`` over the free parameters with optax Adam (``learning_rate`` a float or an
    optax schedule), ``steps`` jitted steps from ``u0`` (default: the model's current values).

    Several starts: ``u0`` of shape (starts, n) runs them as one vmapped job (one compiled step advances every
    start); the result is the start with the least final objective, every start's end in ``starts_u``/``starts_loss``.
    ``history`` is (steps + 1,) or (steps + 1, starts). ``progress``: True prints a line every ``print_every``
    steps, a callable ``(step, steps, loss)`` is called after every step (a progress bar), False is silent.

    ``result``: ``successful`` after ``steps`` steps, or ``diverged`` when the loss of every start became non-finite
    (the fit stops at that step). ``throw=True`` raises a failure, one line (`raise_if_failed`); ``throw=False``
    returns it (``message`` says why)."""
    objective = _objective(loss, free)
    opt = optax.adam(learning_rate)
    u = _starts(free, model, u0)
    batched = u.ndim == 2

    def one(u, state, model):
        value, g = jax.value_and_grad(objective)(u, model)
        updates, state = opt.update(g, state, u)
        return optax.apply_updates(u, updates), state, value

    state = _batch(opt.init, batched)(u)
    step = eqx.filter_jit(lambda u, state, model: _batch(lambda y, st: one(y, st, model), batched)(u, state))
    final_value = eqx.filter_jit(lambda u, model: _batch(lambda y: objective(y, model), batched)(u))
    history = []
    result, failure = None, None
    t0 = time.perf_counter()
    for k in range(int(steps)):
        u, state, value = step(u, state, model)
        v = np.asarray(value)
        history.append(v)
        if not np.any(np.isfinite(v)):  # every start: the fit stops here, diverged
            result = RESULTS.diverged
            failure = f"fit: the loss became {v.tolist()} at step {k}; lower the learning rate or tighten bounds"
            break
        _tell(progress, k + 1, steps, v, batched, force=k % print_every == 0 or k == steps - 1)
    final = np.asarray(final_value(u, model))
    history.append(final)
    u_end = np.asarray(u)
    fit = _finish(
        free,
        model,
        u_end,
        final,
        np.stack(history),
        len(history) - 1,
        time.perf_counter() - t0,
        failure or f"{steps} Adam steps" + (f", {u_end.shape[0]} starts" if batched else ""),
        batched,
        result=result,
    )
    return _checked(fit, throw)


def dense_forward_jacobian(f):
    """``f`` (``f(u, *args)``: vector -> vector; ``args`` not differentiated, e.g. the model) with a JVP rule that
    materialises the Jacobian in u by forward mode (``jacfwd``: one tangent per parameter, vmapped) and applies it as
    a matrix. For Gauss–Newton on few parameters with many residuals: optimistix linearises the residual function and
    also transposes that linearisation (the gradient it checks), and a matrix product transposes where the eikonal's
    custom JVP (a while loop) does not."""

    @eqx.filter_custom_jvp
    def g(u, *args):
        return f(u, *args)

    @g.def_jvp
    def g_jvp(primals, tangents):
        u, *args = primals
        du = tangents[0]
        r, J = _value_and_jacfwd(lambda v: f(v, *args), u)
        return r, (jnp.zeros_like(r) if du is None else J @ du)

    return g


def _value_and_jacfwd(f, u):
    basis = jnp.eye(u.shape[0], dtype=u.dtype)
    r, J = jax.vmap(lambda e: jax.jvp(f, (u,), (e,)), out_axes=(None, 1))(basis)
    return r, J


@overload
def least_squares_residuals(
    residuals, free: FreeParameters, model: None = None
) -> Callable[[Array, Any], Array]: ...  # (u, model) -> r
@overload
def least_squares_residuals(residuals, free: FreeParameters, model: Any) -> Callable[[Array], Array]: ...  # u -> r
def least_squares_residuals(residuals, free: FreeParameters, model=None) -> Callable[..., Array]:
    """u -> [whitened data residuals of ``free.unpack(model, u)``, the priors' standardised residuals]: the vector
    whose half squared norm Gauss–Newton minimises (the negative log posterior up to a constant). Without ``model``:
    (u, model) -> the same, the model an argument (what the fits jit, so its arrays are inputs, not constants)."""

    def r(u, model):
        data = jnp.ravel(residuals(free.unpack(model, u)))
        return jnp.concatenate([data, free.prior_residuals(u).astype(data.dtype)])

    if model is None:
        return r
    return lambda u: r(u, model)


def fit_least_squares(
    residuals,
    free: FreeParameters,
    model,
    *,
    solver=None,
    max_steps: int = 50,
    u0=None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    progress=True,
    stationary_rtol: float = 1e-9,
    throw: bool = True,
) -> FitResult:
    """Minimise ½‖r(u)‖² with r = [``residuals(model)`` (whitened, e.g. `AbstractLoss.whitened`), prior residuals]
    by optimistix Levenberg–Marquardt (default; or any optimistix least-squares ``solver``, e.g.
    ``optx.GaussNewton``), with the Jacobian by forward mode (`dense_forward_jacobian`; a forward model must support
    ``jax.jvp``: the eikonal with ``forward_mode=True``).

    The solver is stepped from Python (one jitted step each, ``max_steps`` at most) so that a progress line with the
    loss prints after every step (``progress=False``: silent; a callable ``(step, steps, loss)``: called instead,
    e.g. to drive a progress bar). It also stops, as converged, when the objective has changed by less than
    ``stationary_rtol`` (relative) over five steps: Levenberg–Marquardt then only rejects steps at a minimum it
    cannot refine (optimistix's own test is on the step size, which a damped rejected step never meets). Several
    starts: ``u0`` (starts, n) steps every start at once (vmapped), as `fit_adam`. The objective reported is ½‖r‖² (the negative log posterior with whitened residuals).

    ``result``: ``successful`` (converged, or stationary), ``max_steps_reached`` (stopped at ``max_steps``: the point
    reached is returned, also with ``throw``), ``diverged`` (every start's objective non-finite) or the optimistix
    solver's failure (promoted, `organtwin.RESULTS`). ``throw=True`` raises a failure, one line
    (`raise_if_failed`); ``throw=False`` returns it (``message`` says why)."""
    solver = solver if solver is not None else optx.LevenbergMarquardt(rtol=rtol, atol=atol)
    r = dense_forward_jacobian(least_squares_residuals(residuals, free))  # r(u, model)
    u = _starts(free, model, u0)
    batched = u.ndim == 2
    fn = lambda y, args: (r(y, args), None)
    options = {"jac": "fwd"}
    tags = frozenset()
    u_one = u[0] if batched else u
    f_struct = eqx.filter_eval_shape(r, u_one, model)

    def init(y, model):
        return solver.init(fn, y, model, options, f_struct, None, tags)

    def step(y, state, model):
        y, state, _ = solver.step(fn, y, model, options, state, tags)
        done, result = solver.terminate(fn, y, model, options, state, tags)
        return y, state, done, result, 0.5 * jnp.sum(jnp.square(state.f_info.residual))

    # the model is a jit argument (its arrays inputs, not folded constants), unbatched across starts
    init_j = eqx.filter_jit(lambda u, model: _batch(lambda y: init(y, model), batched)(u))
    step_j = eqx.filter_jit(lambda u, state, model: _batch(lambda y, st: step(y, st, model), batched)(u, state))
    value_j = eqx.filter_jit(lambda u, model: _batch(lambda y: 0.5 * jnp.sum(jnp.square(r(y, model))), batched)(u))
    t0 = time.perf_counter()
    state = init_j(u, model)
    history = [np.asarray(value_j(u, model))]
    u, state, k, done, solver_result, stationary = steps_until_done(
        lambda u, state: step_j(u, state, model),
        u,
        state,
        max_steps,
        stationary_rtol,
        history,
        lambda k, v: _tell(progress, k, max_steps, v, batched),
    )
    final = np.asarray(value_j(u, model))
    history.append(final)
    converged = bool(np.all(np.asarray(done))) or stationary
    name = type(solver).__name__
    msg = (
        f"{name}: {'converged' if converged else 'stopped at max_steps'}"
        f"{' (objective stationary)' if stationary else ''} after {k} steps"
    )
    fit = _finish(
        free,
        model,
        np.asarray(u),
        final,
        np.stack(history),
        k,
        time.perf_counter() - t0,
        msg + (f", {u.shape[0]} starts" if batched else ""),
        batched,
        result=None if converged else RESULTS.max_steps_reached,
        starts_result=solver_result,
    )
    return _checked(fit, throw)

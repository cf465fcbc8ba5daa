"""Coverage of a calibration's intervals: over many noise draws of data made from a known truth, how often does the
68 % / 95 % interval contain the truth (issue 26, item 3; `benchmarks/calibrate_coverage.py`).

Two pieces:

* `compiled_refit` and `laplace_summary`: a least-squares fit, with the residuals and Jacobian its Laplace standard
  deviations need, **compiled once** with the data as a jit argument (any pytree of arrays, e.g. a case's `Term` s whose losses hold the measured arrays),
  so that refitting the same model to another noise draw reuses the compiled code (`fit_least_squares` and
  `fit_report` build their jitted functions per call: fine for one fit, a recompilation per seed for a coverage
  study). The fit is optimistix Levenberg–Marquardt on [whitened data residuals, prior residuals] with forward-mode
  Jacobians (`dense_forward_jacobian`), as `fit_least_squares`; the SDs follow `fit_report`'s rule exactly
  (C_u = s² (JᵀJ)⁺ with s² = max(1, χ²/(m − p)), C_x = D C_u Dᵀ, D = ∂x/∂u).
* `coverage` and `coverage_rows`: the fraction of draws whose interval holds the truth, its binomial standard error
  sqrt(p̂(1 − p̂)/n), and the mean |value − truth| / SD.

The intervals: Laplace and Laplace + discretisation are symmetric, value ± z·SD with z = 1 (68.27 %) and 1.96
(95 %), as the report prints them (`symmetric_intervals`); a sampled posterior's are its equal-tailed credible
intervals (16–84 %, 2.5–97.5 %: `PosteriorSamples.interval_68` / ``interval_95``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._errors import InputError
from ._fit import _value_and_jacfwd, dense_forward_jacobian, least_squares_residuals, steps_until_done
from ._params import FreeParameters
from ._report import laplace_covariance

__all__ = [
    "LEVELS",
    "NOMINAL",
    "LaplaceSummary",
    "RefitOutcome",
    "compiled_refit",
    "coverage",
    "coverage_rows",
    "laplace_summary",
    "symmetric_intervals",
]

LEVELS = ("68", "95")
Z = {"68": 1.0, "95": 1.959963984540054}
NOMINAL = {"68": math.erf(1.0 / math.sqrt(2.0)), "95": 0.95}  # 0.6827, 0.95


def _residuals_in_u(residuals_of: Callable, free: FreeParameters) -> Callable:
    """(u, model, data) -> [whitened data residuals of the model at u, prior residuals]."""

    def r(u, model, data):
        return least_squares_residuals(lambda m: residuals_of(m, data), free)(u, model)

    return r


def compiled_refit(
    residuals_of: Callable,
    free: FreeParameters,
    *,
    max_steps: int = 30,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    stationary_rtol: float = 1e-9,
) -> Callable[..., RefitOutcome]:
    """``fit(u0, model, data) -> RefitOutcome``: Levenberg–Marquardt from ``u0`` (unconstrained, `FreeParameters`)
    on ``residuals_of(model, data)`` (the whitened data residuals) and the priors' residuals, stepped and stopped as
    `fit_least_squares` does (at most ``max_steps``; converged when optimistix says so or when the objective changed
    by less than ``stationary_rtol`` over five steps), then the residuals and their forward-mode Jacobian at the point
    reached (what `laplace_summary` reads). Its jitted parts (init, step, the final Jacobian) are compiled on the first
    call and reused for every ``data`` of the same shapes."""
    solver = optx.LevenbergMarquardt(rtol=rtol, atol=atol)
    r_all = _residuals_in_u(residuals_of, free)
    r = dense_forward_jacobian(r_all)
    fn = lambda y, args: (r(y, *args), None)
    options, tags = {"jac": "fwd"}, frozenset()
    x_of_u = lambda u: jnp.concatenate([jnp.ravel(v) for v in free.values(u).values()])

    @eqx.filter_jit
    def init(u, model, data):
        f_struct = jax.eval_shape(lambda: r(u, model, data))
        return solver.init(fn, u, (model, data), options, f_struct, None, tags)

    @eqx.filter_jit
    def step(u, state, model, data):
        u, state, _ = solver.step(fn, u, (model, data), options, state, tags)
        done, result = solver.terminate(fn, u, (model, data), options, state, tags)
        return u, state, done, result, 0.5 * jnp.sum(jnp.square(state.f_info.residual))

    @eqx.filter_jit
    def final(u, model, data):
        res, J = _value_and_jacfwd(lambda v: r_all(v, model, data), u)
        return res, J, x_of_u(u), jax.jacfwd(x_of_u)(u)

    def fit(u0, model, data) -> RefitOutcome:
        u = jnp.asarray(u0)
        state = init(u, model, data)
        u, state, k, done, result, _ = steps_until_done(
            lambda u, state: step(u, state, model, data), u, state, max_steps, stationary_rtol, []
        )
        ok = not bool(done) or bool(result == optx.RESULTS.successful)
        res, J, x, D = final(u, model, data)
        ok = bool(ok) and bool(jnp.all(jnp.isfinite(u))) and bool(jnp.all(jnp.isfinite(res)))
        return RefitOutcome(u, x, k, ok, res, J, D)

    return fit


class RefitOutcome(NamedTuple):
    """What `compiled_refit`'s function returns: ``u`` (unconstrained) and ``values`` (each parameter's own units)
    reached; ``steps``; ``ok`` (converged, stationary or stopped at the step budget, with finite values: the point
    reached is used, as `fit_least_squares` does; False when the solver failed); at that point the residuals (data, then priors), their Jacobian in u and
    ``dx_du`` = ∂x/∂u."""

    u: Any
    values: Any
    steps: Any
    ok: Any
    residuals: Any
    jacobian: Any
    dx_du: Any


class LaplaceSummary(NamedTuple):
    """A fit's Laplace figures (host arrays, one entry per parameter element): ``values``; ``sd`` (posterior, priors
    included) and ``sd_data`` (data alone), both with the fitted noise scale; ``chi2`` of the data residuals, ``m``
    their number, ``scale`` = max(1, χ²/(m − p)) (`fit_report`'s covariance scale)."""

    values: np.ndarray
    sd: np.ndarray
    sd_data: np.ndarray
    chi2: float
    m: int
    scale: float


def laplace_summary(fit: RefitOutcome, free: FreeParameters) -> LaplaceSummary:
    """The Laplace SDs of a `compiled_refit` outcome by `fit_report`'s rule (module docstring)."""
    r, J, x, D = (np.asarray(a, np.float64) for a in (fit.residuals, fit.jacobian, fit.values, fit.dx_du))
    n_prior = int(free.prior_residuals(jnp.asarray(fit.u)).shape[0])
    m = r.size - n_prior
    chi2, scale, C_x, C_d = laplace_covariance(r, J, D, n_prior)
    sd = np.sqrt(np.maximum(np.diag(C_x), 0.0))
    sd_data = np.sqrt(np.maximum(np.diag(C_d), 0.0))
    return LaplaceSummary(x, sd, sd_data, chi2, m, scale)


def symmetric_intervals(values, sd) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"68": (values − sd, values + sd), "95": (values ∓ 1.96 sd)}: the report's Laplace intervals."""
    v, s = np.asarray(values, np.float64), np.asarray(sd, np.float64)
    return {k: (v - z * s, v + z * s) for k, z in Z.items()}


def coverage(truth, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """Per parameter: the fraction of draws (rows of ``lower`` / ``upper``, shape (draws, p)) whose interval holds
    ``truth`` (p,), and its binomial standard error sqrt(p̂(1 − p̂)/n). A draw with a non-finite bound counts as a
    miss (a failed fit or check is not a success)."""
    lo, hi = np.atleast_2d(np.asarray(lower, np.float64)), np.atleast_2d(np.asarray(upper, np.float64))
    t = np.asarray(truth, np.float64)
    if lo.shape != hi.shape or lo.shape[1:] != t.shape:
        raise InputError(f"coverage: bounds {lo.shape} / {hi.shape} against a truth of shape {t.shape}")
    hits = np.isfinite(lo) & np.isfinite(hi) & (lo <= t) & (t <= hi)
    n = hits.shape[0]
    p = hits.mean(axis=0)
    return p, np.sqrt(p * (1.0 - p) / n)


def coverage_rows(
    names: Sequence[str],
    truth,
    values,
    sd,
    intervals: dict[str, tuple[Any, Any]] | None = None,
) -> list[dict]:
    """One row per parameter: ``n`` draws, ``cover_68`` / ``se_68``, ``cover_95`` / ``se_95`` (`coverage`) and
    ``mean_abs_bias_over_sd`` = mean over draws of |value − truth| / sd. ``values``, ``sd``: (draws, p);
    ``intervals``: {"68": (lower, upper), "95": ...} of shape (draws, p) each, default `symmetric_intervals`."""
    v, s = np.atleast_2d(np.asarray(values, np.float64)), np.atleast_2d(np.asarray(sd, np.float64))
    t = np.asarray(truth, np.float64)
    iv = symmetric_intervals(v, s) if intervals is None else intervals
    cov = {k: coverage(t, *iv[k]) for k in LEVELS}
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(v - t) / s
    rows = []
    for i, name in enumerate(names):
        zi = z[:, i][np.isfinite(z[:, i])]
        rows.append(
            {
                "parameter": name,
                "n": int(v.shape[0]),
                **{f"{key}_{k}": float(cov[k][j][i]) for k in LEVELS for j, key in enumerate(("cover", "se"))},
                "mean_abs_bias_over_sd": float(np.mean(zi)) if zi.size else float("nan"),
            }
        )
    return rows

"""A sampled posterior of a fit (issue 26, item 2): NUTS from the optimum, convergence diagnostics, credible
intervals, and profile likelihoods for what the data do not determine.

* `sample_posterior` — the No-U-Turn sampler (blackjax) on the posterior of the unconstrained vector ``u`` that the fit
  worked on, several chains started at the optimum plus a small jitter scaled by the Laplace covariance, the Laplace
  covariance as the dense inverse mass matrix and the step size adapted by dual averaging (``adaptation="laplace"``,
  the default; ``"window"``: Stan's window adaptation of the mass matrix too, started from it), everything
  under jit in `jax.lax` loops (the chains vmapped, the steps a `jax.lax.scan` advanced a chunk at a time so that a
  progress line can be printed between chunks). Returns a `PosteriorSamples`: the draws in physical units, the
  rank-normalised split R-hat and the bulk and tail effective sample sizes (`blackjax.diagnostics`, Vehtari et al.
  2021), 68 % and 95 % equal-tailed credible intervals, divergences, acceptance, wall time and ``result``.
* `profile_likelihood` — one parameter held on a grid of values, the others re-optimised (Levenberg–Marquardt, warm
  started from the neighbouring grid point) at each: the profile of the negative log posterior, and the 68 % / 95 %
  profile intervals where it rises by χ²₁/2 (0.495 and 1.921).

Why blackjax rather than numpyro: blackjax samples any JAX log-density function of an array, which our fits
already have (the whitened residuals of `joint_residuals` and the priors of `FreeParameters`); numpyro would need the
model rewritten as a numpyro program with ``sample`` sites. blackjax also ships the diagnostics (rank-normalised R-hat,
bulk/tail ESS) and its window adaptation is a set of pure functions that run inside our own jitted loop.

**The density sampled** (in u, the fit's unconstrained coordinates):

    log p(u) = −½ ‖r_data(u)‖² / s² + Σ_priors log prior(x) + Σ log |∂x/∂u|,   x = T(u)

* ``r_data`` the whitened data residuals the fit minimised (each term's residuals / its ``noise_sd``, × √weight);
  ``s²`` the noise model fitted to them: ``noise_scale=None`` takes s² = max(1, χ²/(m − p)) at the optimum, the
  same over-dispersion rule as the Laplace report (`fit_report`), i.e. each term's noise SD is ``noise_sd`` · s.
* The prior is the one the case declares, as a density on the parameter in its own units: `Normal` (the fit's
  penalty ½((x − mean)/sd)²), `LogNormal` (log x normal: the penalty and the 1/x of the density), and for a
  parameter without one a **uniform prior on its transform's support**: uniform between the bounds of a `Bounded`
  parameter (proper), flat on (0, ∞) for `Positive` and on ℝ for `Unbounded` (improper: there the data alone must
  confine the parameter). The log-Jacobian Σ log|∂x/∂u| of the bound transforms makes the draws, mapped by x = T(u),
  draws from this posterior in physical units. (The fit minimised the same terms without the log-Jacobian, so its
  optimum is the maximum of the posterior in u, not in x; the two agree where the data dominate.)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._solution import RESULTS, raise_if_failed, result_name
from ._fit import _value_and_jacfwd, dense_forward_jacobian
from ._params import Bounded, CalibrationError, FreeParameters, LogNormal, Positive, Unbounded

__all__ = ["PosteriorSamples", "ProfileLikelihood", "log_posterior", "profile_likelihood", "sample_posterior"]

#: Convergence thresholds of Vehtari et al. (2021): R-hat below 1.01 and a bulk and tail ESS of at least 100 per chain.
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100


# ------------------------------------------------------------------------------------------------------ the density
def _log_jacobian(free: FreeParameters, u) -> Array:
    """Σ log |∂x/∂u| of the elementwise bound transforms at u, plus −Σ log x of the `LogNormal` priors' parameters
    (the 1/x of a log-normal density in x)."""
    total = jnp.zeros((), jnp.result_type(u))
    for p, x in zip(free.parameters, free._split(u)):
        t = p.transform
        if isinstance(t, Bounded):
            width = jnp.broadcast_to(jnp.asarray(t.upper - t.lower, x.dtype), x.shape)
            total = total + jnp.sum(jnp.log(width) + jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x))
        elif isinstance(t, Positive):
            total = total + jnp.sum(math.log(t.scale) + jax.nn.log_sigmoid(x))
        elif not isinstance(t, Unbounded):  # any other elementwise transform
            _, d = jax.jvp(t.forward, (x,), (jnp.ones_like(x),))
            total = total + jnp.sum(jnp.log(jnp.abs(d)))
        if isinstance(p.prior, LogNormal):
            total = total - jnp.sum(jnp.log(t.forward(x)))
    return total


def log_posterior(residuals: Callable, free: FreeParameters, *, noise_scale: float = 1.0) -> Callable:
    """(u, model) -> log p(u) of the module docstring (up to a constant): ``residuals(model)`` the whitened data
    residuals (e.g. `joint_residuals`), ``noise_scale`` s (each term's noise SD multiplied by it)."""
    s2 = float(noise_scale) ** 2

    def logp(u, model):
        r = jnp.ravel(residuals(free.unpack(model, u)))
        return -0.5 * jnp.sum(jnp.square(r)) / s2 - free.prior_penalty(u) + _log_jacobian(free, u)

    return logp


def _forward_log_posterior(residuals: Callable, free: FreeParameters, noise_scale: float) -> Callable:
    """`log_posterior` whose gradient is taken by a forward-mode Jacobian of the residuals (one tangent per free
    value, `dense_forward_jacobian`): for a model that supports ``jax.jvp`` but not reverse mode, or is cheaper so."""
    s2 = float(noise_scale) ** 2
    r = dense_forward_jacobian(lambda u, model: jnp.ravel(residuals(free.unpack(model, u))))

    def logp(u, model):
        return -0.5 * jnp.sum(jnp.square(r(u, model))) / s2 - free.prior_penalty(u) + _log_jacobian(free, u)

    return logp


def _element_names(free: FreeParameters) -> list[str]:
    from ._report import _element_names as names

    return names(free)


def _x_of_u(free: FreeParameters) -> Callable:
    return lambda u: jnp.concatenate([jnp.ravel(v) for v in free.values(u).values()])


def _laplace(residuals, free, model, u, noise_scale):
    """(s, χ², m, C_u) at u: the noise scale (given, or max(1, χ²/(m − p))^½), the data χ², the number of data
    residuals, and the covariance of u of the sampled density's Gaussian approximation (data and priors by
    Gauss–Newton, the log-Jacobian by its Hessian), eigenvalues floored so that no direction has a variance above
    100 (u units): a direction the data and priors leave free starts with a finite scale."""
    rd = lambda v, model: jnp.ravel(residuals(free.unpack(model, v)))
    r, Jd = eqx.filter_jit(lambda u, model: _value_and_jacfwd(lambda v: rd(v, model), u))(u, model)
    r, Jd = np.asarray(r, np.float64), np.asarray(Jd, np.float64)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(Jd))):
        raise CalibrationError(
            "sample: the residuals or their Jacobian at the optimum are not finite; sample from a fitted point"
        )
    chi2, m, p = float(np.sum(r**2)), r.size, free.size
    s = math.sqrt(max(1.0, chi2 / max(m - p, 1))) if noise_scale is None else float(noise_scale)
    if not s > 0:
        raise CalibrationError(f"sample: noise_scale must be > 0, got {noise_scale}")
    rest = lambda v: -free.prior_penalty(v) + _log_jacobian(free, v)
    H = -np.asarray(jax.hessian(rest)(u), np.float64)
    P = Jd.T @ Jd / s**2 + 0.5 * (H + H.T)
    w, V = np.linalg.eigh(P)
    w = np.maximum(w, max(float(w.max(initial=0.0)) * 1e-14, 1e-2))
    return s, chi2, m, (V / w) @ V.T


# ------------------------------------------------------------------------------------------------------- the result
class PosteriorSamples(eqx.Module):
    """Draws of a fit's posterior and what they say (final; host arrays).

    Attributes:
        names: the free values' names (an array parameter's elements as ``name[i]``).
        draws: (chains, draws, p) in each parameter's own units; ``u_draws`` the same in the fit's unconstrained
            coordinates; ``logdensity`` (chains, draws) log p(u) of each draw.
        optimum: (p,) the fitted values the chains started from.
        mean, sd, median: (p,) over all draws. ``interval_68``, ``interval_95``: (p, 2) equal-tailed credible
            intervals (the 16–84 % and 2.5–97.5 % quantiles).
        rhat: (p,) rank-normalised split R-hat; ``ess_bulk``, ``ess_tail``: (p,) effective sample sizes
            (`blackjax.diagnostics`).
        divergences: (chains,) divergent transitions after warmup; ``acceptance``: mean acceptance probability;
            ``step_size``: (chains,) adapted step sizes; ``mean_steps``: mean leapfrog steps per draw.
        warmup: adaptation steps per chain; ``noise_scale``: s of the density (module docstring);
            ``gradient``: "reverse" or "forward"; ``adaptation``: "laplace" (the Laplace covariance as the inverse
            mass matrix, the step size adapted) or "window" (Stan's windows, the mass matrix adapted too).
        seconds: wall time of the whole run (compilation, warmup, draws); ``seconds_compile``,
            ``seconds_warmup``, ``seconds_sampling`` its parts.
        result: ``successful``, ``sampling_not_converged`` (R-hat > 1.01, an ESS below 100 per chain, or
            divergences) or ``diverged`` (non-finite draws); ``message`` says which.
    """

    names: tuple[str, ...] = eqx.field(static=True)
    draws: np.ndarray
    u_draws: np.ndarray
    logdensity: np.ndarray
    optimum: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    median: np.ndarray
    interval_68: np.ndarray
    interval_95: np.ndarray
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    divergences: np.ndarray
    acceptance: float
    step_size: np.ndarray
    mean_steps: float
    warmup: int
    noise_scale: float
    gradient: str
    seconds: float
    seconds_compile: float
    seconds_warmup: float
    seconds_sampling: float
    result: RESULTS
    message: str
    adaptation: str = "laplace"

    @property
    def chains(self) -> int:
        return int(self.draws.shape[0])

    @property
    def n_draws(self) -> int:
        return int(self.draws.shape[0] * self.draws.shape[1])

    def seconds_per_effective_sample(self) -> float:
        """Whole wall time (compilation and warmup included) over the smallest bulk ESS."""
        ess = float(np.min(self.ess_bulk))
        return self.seconds / ess if ess > 0 else float("inf")

    def to_dict(self) -> dict:
        """What fit.json / report.json hold of the sampling (no draws: they go to an npz)."""
        from ._report import _json

        params = {
            n: {
                "optimum": self.optimum[i],
                "mean": self.mean[i],
                "sd": self.sd[i],
                "median": self.median[i],
                "credible_68": self.interval_68[i],
                "credible_95": self.interval_95[i],
                "rhat": self.rhat[i],
                "ess_bulk": self.ess_bulk[i],
                "ess_tail": self.ess_tail[i],
            }
            for i, n in enumerate(self.names)
        }
        out = {
            "sampler": "NUTS (blackjax), "
            + (
                "dense mass matrix = the Laplace covariance, step size by dual averaging"
                if self.adaptation == "laplace"
                else "window adaptation, dense mass matrix"
            ),
            "adaptation": self.adaptation,
            "result": result_name(self.result),
            "message": self.message,
            "chains": self.chains,
            "draws": self.n_draws,
            "warmup_per_chain": self.warmup,
            "noise_scale": self.noise_scale,
            "gradient": self.gradient,
            "divergences": int(np.sum(self.divergences)),
            "acceptance": self.acceptance,
            "step_size": self.step_size,
            "mean_leapfrog_steps": self.mean_steps,
            "seconds": self.seconds,
            "seconds_compile": self.seconds_compile,
            "seconds_warmup": self.seconds_warmup,
            "seconds_sampling": self.seconds_sampling,
            "seconds_per_effective_sample": self.seconds_per_effective_sample(),
            "parameters": params,
        }
        value = _json(out)
        assert isinstance(value, dict)
        return value

    def summary(self, laplace_sd: np.ndarray | None = None) -> str:
        """A readable table: optimum, posterior mean ± SD, the credible intervals (beside the Laplace ones, optimum ±
        1.96 ``laplace_sd``, when given), R-hat and ESS; then the sampler's figures."""
        lines = [
            f"posterior: {self.n_draws} draws ({self.chains} chains x {self.draws.shape[1]}, {self.warmup} warmup "
            f"each), NUTS; {self.seconds:.1f} s ({self.seconds_per_effective_sample():.3g} s per effective "
            f"sample); noise scale {self.noise_scale:.3g}",
            f"{'parameter':34s} {'optimum':>11s} {'mean':>11s} {'sd':>10s} {'95% credible':>25s}"
            + (f" {'95% Laplace':>25s}" if laplace_sd is not None else "")
            + f" {'R-hat':>6s} {'ESS bulk':>8s} {'ESS tail':>8s}",
        ]
        for i, n in enumerate(self.names):
            lo, hi = self.interval_95[i]
            row = f"{n:34s} {self.optimum[i]:11.5g} {self.mean[i]:11.5g} {self.sd[i]:10.3g} {f'[{lo:.5g}, {hi:.5g}]':>25s}"
            if laplace_sd is not None:
                a, b = self.optimum[i] - 1.96 * laplace_sd[i], self.optimum[i] + 1.96 * laplace_sd[i]
                row += f" {f'[{a:.5g}, {b:.5g}]':>25s}"
            row += f" {self.rhat[i]:6.3f} {self.ess_bulk[i]:8.0f} {self.ess_tail[i]:8.0f}"
            lines.append(row)
        lines.append(
            f"divergences {int(np.sum(self.divergences))}, acceptance {self.acceptance:.2f}, mean leapfrog steps "
            f"{self.mean_steps:.1f}, step size {', '.join(f'{h:.3g}' for h in self.step_size)}"
        )
        if self.result != RESULTS.successful:
            lines.append(f"WARNING: {self.message}")
        return "\n".join(lines) + "\n"


class ProfileLikelihood(eqx.Module):
    """One parameter's profile (final; host arrays): at each ``values[k]`` (the parameter's units) the other free
    values re-optimised; ``objective`` the negative log posterior there (½‖r_data‖²/s² + the priors' penalties, as the
    fit's objective with the fitted noise scale), ``delta`` its rise over the best point of the profile, ``others``
    (points, p) the re-optimised values (physical units, the profiled one included). ``interval_68``/``interval_95``:
    where the profile stays within Δ = 0.495 / 1.921 (χ²₁/2), by linear interpolation between grid points; an end is
    None where the profile does not rise that far inside the grid (the data do not bound it there)."""

    name: str = eqx.field(static=True)
    values: np.ndarray
    objective: np.ndarray
    delta: np.ndarray
    others: np.ndarray
    converged: np.ndarray
    interval_68: tuple
    interval_95: tuple
    seconds: float

    def to_dict(self) -> dict:
        from ._report import _json

        value = _json(
            {
                "values": self.values,
                "objective": self.objective,
                "delta": self.delta,
                "converged": self.converged,
                "interval_68": list(self.interval_68),
                "interval_95": list(self.interval_95),
                "seconds": self.seconds,
            }
        )
        assert isinstance(value, dict)
        return value


# ----------------------------------------------------------------------------------------------------- the sampler
def _chunk_runner(
    logdensity_of: Callable, adapt_update: Callable, max_doublings: int, vmap_chains: bool = True
) -> Callable:
    """A jitted function advancing every chain by a fixed number of steps (``jax.lax.scan``; a step with ``active``
    False is skipped, so that one compiled chunk serves warmup and sampling of any length). ``vmap_chains``: the
    chains' NUTS steps batched by ``jax.vmap``, else one chain after another by ``jax.lax.map`` (same draws)."""
    import blackjax.mcmc.nuts as nuts

    kernel = nuts.build_kernel()

    def run(states, adapt, xs, model):
        logdensity = lambda u: logdensity_of(u, model)

        def step_one(key, state, a):
            return kernel(key, state, logdensity, a.step_size, a.inverse_mass_matrix, max_num_doublings=max_doublings)

        def one(carry, x):
            states, adapt = carry
            keys, stage, window_end, adapting, active = x

            def go(states, adapt):
                if vmap_chains:
                    new, info = jax.vmap(step_one)(keys, states, adapt)
                else:
                    new, info = jax.lax.map(lambda a: step_one(*a), (keys, states, adapt))
                adapt = jax.lax.cond(
                    adapting,
                    lambda a: jax.vmap(lambda a, pos, acc: adapt_update(a, (stage, window_end), pos, acc))(
                        a, new.position, info.acceptance_rate
                    ),
                    lambda a: a,
                    adapt,
                )
                rec = (
                    new.position,
                    new.logdensity,
                    info.is_divergent,
                    jnp.asarray(info.acceptance_rate, dtype=jnp.asarray(new.logdensity).dtype),
                    jnp.asarray(info.num_integration_steps, dtype=jnp.int32),
                )
                return new, adapt, rec

            def skip(states, adapt):
                c = states.logdensity.shape[0]
                rec = (
                    states.position,
                    states.logdensity,
                    jnp.zeros((c,), bool),
                    jnp.zeros((c,), states.logdensity.dtype),
                    jnp.zeros((c,), jnp.int32),
                )
                return states, adapt, rec

            new, adapt, rec = jax.lax.cond(active, go, skip, states, adapt)
            return (new, adapt), rec

        (states, adapt), recs = jax.lax.scan(one, (states, adapt), xs)
        return states, adapt, recs

    return eqx.filter_jit(run)


def _chunk_text(phase: str, rec, adapt) -> str:
    """'warmup: step size 0.41-0.52, 7.0 leapfrog steps per draw' for a chunk just run."""
    h = np.asarray(adapt.step_size, np.float64)
    steps = np.asarray(rec[4])
    active = steps > 0
    mean = float(np.mean(steps[active])) if np.any(active) else 0.0
    return f"{phase}: step size {h.min():.3g}-{h.max():.3g}, {mean:.1f} leapfrog steps per draw"


def _tell(progress, done: int, total: int, what: str) -> None:
    if callable(progress):
        progress(done, total, what)
    elif progress:
        print(f"sample {done}/{total}: {what}", flush=True)


def sample_posterior(
    residuals: Callable,
    free: FreeParameters,
    model,
    u_opt,
    *,
    draws: int = 1000,
    chains: int = 4,
    warmup: int = 200,
    reverse_residuals: Callable | None = None,
    noise_scale: float | None = None,
    seed: int = 0,
    jitter: float = 0.3,
    max_tree_depth: int = 8,
    chunk: int = 25,
    progress=False,
    throw: bool = False,
    adaptation: str = "laplace",
    vmap_chains: bool = True,
) -> PosteriorSamples:
    """NUTS draws of the posterior of a fit (see the module docstring for the density), ``draws`` in all over
    ``chains`` chains (>= 2; rounded up to a whole number per chain), after ``warmup`` adaptation steps per chain.

    Args:
        residuals: model -> the whitened data residuals the fit minimised (`joint_residuals` of the fit's terms),
            supporting forward mode (``jax.jvp``), as `fit_least_squares` needs.
        free, model, u_opt: the fit's `FreeParameters`, model and optimum (``FitResult.u``, unconstrained).
        reverse_residuals: the same residuals through a model that supports reverse mode (e.g. the eikonal with
            ``forward_mode=False``); when given the sampler's gradients are by reverse mode through it (one adjoint
            solve), else by a forward-mode Jacobian of ``residuals`` (one tangent per free value: cheap for a few
            parameters and a model without an adjoint, e.g. the 0D circulation).
        noise_scale: s (each term's noise SD × s); None: max(1, χ²/(m − p))^½ at the optimum (the Laplace report's).
        seed: of the chains' jitter and of the sampler. ``jitter``: the chains start at u_opt + jitter · L z, L L^T
            the Laplace covariance of u (each direction's SD capped at 1 in u units), z standard normal.
        max_tree_depth: at most 2^depth − 1 leapfrog steps per draw.
        chunk: steps per compiled chunk (a progress line between chunks).
        progress: True prints a line per chunk; a callable ``(done, total, what)`` is called instead.
        throw: raise a failure (not converged, non-finite draws) in one line instead of returning it.
        adaptation: how ``warmup`` adapts the sampler. ``"laplace"`` (default): the inverse mass matrix is the
            Laplace covariance of u at the optimum (the fit's Gauss–Newton curvature with the priors' and the
            log-Jacobian's Hessian), kept fixed; only the step size is adapted (Nesterov dual averaging to an
            acceptance of 0.8) — for a near-Gaussian posterior NUTS then needs few leapfrog steps per draw, and
            100–200 warmup steps suffice. ``"window"``: Stan's window adaptation, the dense mass matrix re-estimated
            from the warmup draws (started from the Laplace covariance) — for a posterior far from its Laplace
            approximation, at the cost of a longer warmup.
        vmap_chains: True (default): the chains' NUTS steps batched by ``jax.vmap`` in the one jitted chunk (the
            fastest for a smooth model such as the 0D circulation); False: the chains one after another
            (``jax.lax.map``, the same draws) — for the eikonal, whose solver's ``lax.switch`` on the size of the
            active band and sweep ``while_loop`` run every branch and the slowest chain's sweeps when batched, and
            NUTS trees of different depths no longer wait for the deepest.
    """
    import blackjax.mcmc.nuts as nuts
    from blackjax.adaptation.window_adaptation import base as window_base
    from blackjax.adaptation.window_adaptation import build_schedule
    from blackjax.diagnostics import ess_bulk, ess_tail, rhat

    chains, draws, warmup = int(chains), int(draws), int(warmup)
    if chains < 2:
        raise CalibrationError(f"sample: need at least 2 chains for R-hat, got {chains}")
    if draws < 2 * chains:
        raise CalibrationError(f"sample: need at least 2 draws per chain ({2 * chains} in all), got {draws}")
    if warmup < 0 or chunk < 1 or not 1 <= max_tree_depth <= 12:
        raise CalibrationError("sample: warmup >= 0, chunk >= 1 and 1 <= max_tree_depth <= 12")
    if adaptation not in ("laplace", "window"):
        raise CalibrationError(f"sample: adaptation must be 'laplace' or 'window', got {adaptation!r}")
    t_start = time.perf_counter()
    u_opt = jnp.asarray(u_opt)
    if u_opt.shape != (free.size,):
        raise CalibrationError(f"sample: u_opt has shape {tuple(u_opt.shape)}, expected ({free.size},)")
    s, _, _, C_u = _laplace(residuals, free, model, u_opt, noise_scale)
    if reverse_residuals is not None:
        logdensity_of, gradient = log_posterior(reverse_residuals, free, noise_scale=s), "reverse"
    else:
        logdensity_of, gradient = _forward_log_posterior(residuals, free, s), "forward"
    dtype = u_opt.dtype
    p = free.size

    # starts: the optimum plus Laplace-scaled jitter (each direction's SD capped at 1 in u)
    sd_u = np.sqrt(np.diag(C_u))
    cap = np.minimum(1.0, 1.0 / np.maximum(sd_u, 1e-300))
    C_cap = C_u * np.outer(cap, cap)
    w, V = np.linalg.eigh(0.5 * (C_cap + C_cap.T))
    L = V * np.sqrt(np.maximum(w, 0.0))
    rng = np.random.default_rng(seed)
    u0 = np.asarray(u_opt, np.float64)[None, :] + jitter * rng.standard_normal((chains, p)) @ L.T
    u0 = jnp.asarray(u0, dtype)

    with warnings.catch_warnings():  # blackjax 1.7 marks its window adaptation's parts deprecated (pinned < 1.8)
        warnings.simplefilter("ignore", DeprecationWarning)
        adapt_fns = window_base(
            is_mass_matrix_diagonal=False,
            target_acceptance_rate=0.8,
            initial_inverse_mass_matrix=jnp.asarray(C_u, dtype),
            imm_shrinkage_to_previous=50.0,  # a window's estimate pulled halfway to the previous one (Laplace first)
        )
    adapt_init, adapt_update, adapt_final = adapt_fns
    initial_step = float(min(1.0, 1.5 / p**0.25))
    adapt = jax.vmap(lambda u: adapt_init(u, initial_step))(u0)
    init_states = eqx.filter_jit(
        lambda u0, model: jax.vmap(lambda u: nuts.init(u, lambda v: logdensity_of(v, model)))(u0)
    )
    run = _chunk_runner(logdensity_of, adapt_update, int(max_tree_depth), bool(vmap_chains))

    per_chain = -(-draws // chains)
    n_warm_chunks = -(-warmup // chunk)
    n_draw_chunks = -(-per_chain // chunk)
    key = jax.random.key(seed)
    keys = jax.random.split(key, (n_warm_chunks + n_draw_chunks) * chunk * chains).reshape(
        n_warm_chunks + n_draw_chunks, chunk, chains
    )
    if warmup > 0 and adaptation == "window":
        sched = np.asarray(build_schedule(warmup), dtype=np.int32).reshape(warmup, 2)
    elif warmup > 0:  # "laplace": every step a fast one (stage 0, no window end): the step size alone is adapted
        sched = np.zeros((warmup, 2), np.int32)
    else:
        sched = np.zeros((0, 2), np.int32)

    def xs_of(k: int, phase: str):
        if phase == "warmup":
            lo = k * chunk
            n = max(0, min(chunk, warmup - lo))
            st = np.zeros((chunk, 2), np.int32)
            st[:n] = sched[lo : lo + n]
            active = np.arange(chunk) < n
            adapting = np.ones(chunk, bool)
            kk = keys[k]
        else:
            lo = k * chunk
            n = max(0, min(chunk, per_chain - lo))
            st = np.zeros((chunk, 2), np.int32)
            active = np.arange(chunk) < n
            adapting = np.zeros(chunk, bool)
            kk = keys[n_warm_chunks + k]
        return (
            kk,
            jnp.asarray(st[:, 0]),
            jnp.asarray(st[:, 1].astype(bool)),
            jnp.asarray(adapting),
            jnp.asarray(active),
        )

    # compile (a chunk of skipped steps), timed apart
    t0 = time.perf_counter()
    states = init_states(u0, model)
    xs = xs_of(0, "draws")
    idle = (xs[0], xs[1], xs[2], xs[3], jnp.zeros(chunk, bool))
    jax.block_until_ready(run(states, adapt, idle, model))
    t_compile = time.perf_counter() - t0
    _tell(progress, 0, warmup + per_chain, "compiled")

    t0 = time.perf_counter()
    for k in range(n_warm_chunks):
        states, adapt, rec = run(states, adapt, xs_of(k, "warmup"), model)
        _tell(progress, min((k + 1) * chunk, warmup), warmup + per_chain, _chunk_text("warmup", rec, adapt))
    if warmup > 0:
        step_size, imm = jax.vmap(adapt_final)(adapt)
        adapt = adapt._replace(step_size=step_size, inverse_mass_matrix=imm)
    t_warm = time.perf_counter() - t0

    t0 = time.perf_counter()
    recs = []
    for k in range(n_draw_chunks):
        states, adapt, rec = run(states, adapt, xs_of(k, "draws"), model)
        n = min(chunk, per_chain - k * chunk)
        recs.append([np.asarray(a)[:n] for a in rec])
        _tell(progress, warmup + min((k + 1) * chunk, per_chain), warmup + per_chain, _chunk_text("draws", rec, adapt))
    t_draw = time.perf_counter() - t0

    pos, logd, div, acc, nsteps = (np.concatenate([r[i] for r in recs], axis=0) for i in range(5))
    u_draws = np.swapaxes(pos, 0, 1)  # (chains, draws, p)
    x_of_u = eqx.filter_jit(jax.vmap(_x_of_u(free)))
    x = np.asarray(x_of_u(jnp.asarray(u_draws.reshape(-1, p), dtype)), np.float64).reshape(chains, per_chain, p)
    optimum = np.asarray(_x_of_u(free)(u_opt), np.float64)
    names = tuple(_element_names(free))

    finite = bool(np.all(np.isfinite(x)))
    if finite:
        # blackjax's diagnostics broadcast (chains, draws, p) against (p,) implicitly: allowed here, for its code only
        with jax.numpy_rank_promotion("allow"):
            r_hat = np.atleast_1d(np.asarray(rhat(x, chain_axis=0, sample_axis=1), np.float64))
            e_bulk = np.atleast_1d(np.asarray(ess_bulk(x, chain_axis=0, sample_axis=1), np.float64))
            e_tail = np.atleast_1d(np.asarray(ess_tail(x, chain_axis=0, sample_axis=1), np.float64))
    else:
        r_hat = e_bulk = e_tail = np.full(p, np.nan)
    flat = x.reshape(-1, p)
    q = np.quantile(flat, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0) if finite else np.full((5, p), np.nan)
    divergences = np.sum(div, axis=0).astype(np.int64)
    result, message = RESULTS.successful, "converged"
    if not finite:
        result, message = RESULTS.diverged, "sample: draws became non-finite; check the bounds and the model"
    else:
        bad = []
        worst = int(np.argmax(r_hat))
        if not r_hat[worst] < RHAT_MAX:
            bad.append(f"R-hat {r_hat[worst]:.3f} of {names[worst]} >= {RHAT_MAX}")
        ess_min = ESS_PER_CHAIN_MIN * chains
        low = int(np.argmin(np.minimum(e_bulk, e_tail)))
        if not min(e_bulk[low], e_tail[low]) >= ess_min:
            bad.append(
                f"ESS {min(e_bulk[low], e_tail[low]):.0f} of {names[low]} < {ess_min} ({ESS_PER_CHAIN_MIN} per chain)"
            )
        if int(np.sum(divergences)) > 0:
            bad.append(f"{int(np.sum(divergences))} divergent transitions")
        if bad:
            result = RESULTS.sampling_not_converged
            message = "sample: not converged: " + "; ".join(bad) + "; draw more, or read the intervals with care"
    out = PosteriorSamples(
        names,
        x,
        u_draws,
        np.swapaxes(logd, 0, 1),
        optimum,
        np.mean(flat, axis=0),
        np.std(flat, axis=0, ddof=1),
        q[2],
        np.stack([q[1], q[3]], axis=1),
        np.stack([q[0], q[4]], axis=1),
        r_hat,
        e_bulk,
        e_tail,
        divergences,
        float(np.mean(acc)),
        np.asarray(adapt.step_size, np.float64),
        float(np.mean(nsteps)),
        warmup,
        float(s),
        gradient,
        time.perf_counter() - t_start,
        t_compile,
        t_warm,
        t_draw,
        result,
        message,
        adaptation,
    )
    if throw and result != RESULTS.successful:
        return raise_if_failed(out, result, describe=lambda _: message)
    return out


# ------------------------------------------------------------------------------------------------------ profiles
def profile_likelihood(
    residuals: Callable,
    free: FreeParameters,
    model,
    u_opt,
    name: str | int,
    *,
    values: Sequence[float] | None = None,
    points: int = 11,
    width: float = 3.0,
    noise_scale: float | None = None,
    max_steps: int = 20,
) -> ProfileLikelihood:
    """The profile of one free value ``name`` (an element name as in `fit_report`, e.g. ``sites.lv.position[2]``, or
    its index): held at each of ``values`` (its units; default ``points`` values, odd, centred on the optimum over ±
    ``width`` Laplace SDs in the unconstrained coordinate, at most ±6 there: for a bounded parameter that data do not
    see, nearly its whole range), the other values re-fitted by Levenberg–Marquardt (``max_steps`` at most, forward
    mode as `fit_least_squares`), each grid point warm-started from its neighbour nearer the optimum. ``residuals``
    and ``noise_scale`` as in `sample_posterior`."""
    import optimistix as optx

    names = _element_names(free)
    if isinstance(name, str):
        if name not in names:
            raise CalibrationError(f"profile: {name!r} is not a free value (free: {', '.join(names)})")
        i = names.index(name)
    else:
        i = int(name)
        if not 0 <= i < len(names):
            raise CalibrationError(f"profile: index {i} outside the {len(names)} free values")
    t_start = time.perf_counter()
    u_opt = jnp.asarray(u_opt)
    dtype = u_opt.dtype
    p = free.size
    s, _, _, C_u = _laplace(residuals, free, model, u_opt, noise_scale)
    x_of_u = _x_of_u(free)
    if values is None:
        points = int(points) + (1 - int(points) % 2)
        half = min(width * math.sqrt(C_u[i, i]), 6.0)
        grid_u = float(u_opt[i]) + np.linspace(-half, half, points)
    else:
        # the element's own transform: a copy of u_opt with the i-th value varied, inverted one value at a time
        grid_u = np.asarray([_inverse_element(free, u_opt, i, float(v)) for v in values], np.float64)
        order = np.argsort(grid_u)
        grid_u = grid_u[order]
    others = np.asarray([j for j in range(p) if j != i])
    rd = lambda u, model: jnp.ravel(residuals(free.unpack(model, u)))

    def full(v, ui):
        return jnp.zeros((p,), dtype).at[others].set(v).at[i].set(ui)

    def fn(v, args):
        ui, model = args
        u = full(v, ui)
        return jnp.concatenate([rd(u, model) / s, free.prior_residuals(u).astype(dtype)])

    fn_j = dense_forward_jacobian(lambda v, ui, model: fn(v, (ui, model)))
    solver = optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)

    def sweep(v0, uis, model):
        def one(v, ui):
            sol = optx.least_squares(
                lambda y, args: fn_j(y, *args),
                solver,
                v,
                args=(ui, model),
                max_steps=max_steps,
                throw=False,
                options={"jac": "fwd"},
            )
            v = sol.value
            obj = 0.5 * jnp.sum(jnp.square(fn(v, (ui, model))))
            return v, (v, obj, sol.result == optx.RESULTS.successful)

        return jax.lax.scan(one, v0, uis)

    v0 = jnp.asarray(np.asarray(u_opt)[others], dtype)
    centre = int(np.argmin(np.abs(grid_u - float(u_opt[i]))))
    up = jnp.asarray(grid_u[centre:], dtype)
    down = jnp.asarray(grid_u[: centre + 1][::-1], dtype)
    run = eqx.filter_jit(sweep)
    _, (v_up, o_up, c_up) = run(v0, up, model)
    _, (v_dn, o_dn, c_dn) = run(v0, down, model) if down.shape[0] > 1 else (None, (v_up[:0], o_up[:0], c_up[:0]))
    v_dn, o_dn, c_dn = (np.asarray(a)[1:][::-1] for a in (v_dn, o_dn, c_dn))
    V = np.concatenate([v_dn, np.asarray(v_up)], axis=0)
    obj = np.concatenate([o_dn, np.asarray(o_up)]).astype(np.float64)
    conv = np.concatenate([c_dn, np.asarray(c_up)]).astype(bool)
    U = np.zeros((grid_u.size, p))
    U[:, others] = V
    U[:, i] = grid_u
    X = np.asarray(jax.vmap(x_of_u)(jnp.asarray(U, dtype)), np.float64)
    xs = X[:, i]
    delta = obj - np.min(obj[np.isfinite(obj)]) if np.any(np.isfinite(obj)) else obj
    return ProfileLikelihood(
        names[i],
        xs,
        obj,
        delta,
        X,
        conv,
        _profile_interval(xs, delta, 0.5 * 0.98945),
        _profile_interval(xs, delta, 0.5 * 3.84146),
        time.perf_counter() - t_start,
    )


def _inverse_element(free: FreeParameters, u, i: int, value: float) -> float:
    """The unconstrained value of free value i at ``value`` (its parameter's transform, that element's bounds)."""
    k = 0
    for p, n, shape in zip(free.parameters, free.sizes, free.shapes):
        if i < k + n:
            j = i - k
            t = p.transform
            if isinstance(t, Bounded):
                lo = float(np.broadcast_to(np.asarray(t.lower, float), shape).ravel()[j])
                hi = float(np.broadcast_to(np.asarray(t.upper, float), shape).ravel()[j])
                if not lo < value < hi:
                    raise CalibrationError(f"profile: value {value:g} is outside the bounds ({lo:g}, {hi:g})")
                sfrac = (value - lo) / (hi - lo)
                return math.log(sfrac) - math.log1p(-sfrac)
            return float(np.asarray(t.inverse(jnp.asarray(value))))
        k += n
    raise CalibrationError(f"profile: index {i} outside the {free.size} free values")


def _profile_interval(x: np.ndarray, delta: np.ndarray, level: float) -> tuple:
    """(low, high) where the profile ``delta`` (at sorted ``x``) crosses ``level`` either side of its minimum (linear
    interpolation); an end is None where it stays below ``level`` to the grid's edge."""
    ok = np.isfinite(delta)
    if not np.any(ok):
        return (None, None)
    k = int(np.argmin(np.where(ok, delta, np.inf)))
    lo = hi = None
    for j in range(k, 0, -1):
        if delta[j - 1] > level:
            a, b = delta[j - 1], delta[j]
            lo = float(x[j - 1] + (x[j] - x[j - 1]) * (a - level) / (a - b))
            break
    for j in range(k, x.size - 1):
        if delta[j + 1] > level:
            a, b = delta[j], delta[j + 1]
            hi = float(x[j] + (x[j + 1] - x[j]) * (level - a) / (b - a))
            break
    return (lo, hi)

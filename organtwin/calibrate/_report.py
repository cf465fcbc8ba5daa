"""What a fit determined: the Laplace approximation at the fitted point, identifiability and per-term residuals.

A calibration problem is a set of `Term` s, each a data loss (`AbstractLoss`) and the forward map from the model to
that loss's prediction; `joint_residuals` stacks their whitened residuals (times √weight) into the vector whose half
squared norm `fit_least_squares` minimises, and `fit_report` reads the fit back from the same vector:

* **Laplace approximation.** With whitened residuals r(u) (data, then the priors' standardised residuals) and J = ∂r/∂u
  at the fitted u* (forward mode, one tangent per parameter), the posterior covariance of u is (JᵀJ)⁻¹ — the priors'
  rows of J are their precision. When the model cannot reach the noise level (χ²/(m − p) > 1: model error, or noise
  larger than ``noise_sd`` says) the covariance is scaled by s² = max(1, χ²/(m − p)), the standard over-dispersion
  correction, so the error bars stay honest. Physical parameters x = T(u) get C_x = D C_u Dᵀ with D = ∂x/∂u (the delta
  method through the bound transforms).
* **Identifiability.** A parameter is *identified* when the data alone (no prior rows) give it a relative standard
  deviation ≤ ``identified_rel_sd`` (5 % by default); otherwise it is flagged, even if a prior pins it. The data
  Jacobian in log-parameter coordinates, J_rel = ∂r/∂log|x| (dimensionless: the change of the whitened residuals per
  relative change of each parameter), has singular values σ_k and right singular vectors v_k: the combination v_k of
  relative changes is known to s/σ_k, so a direction with s/σ_k > ``identified_rel_sd`` is *flat* — the data do not
  determine it, and its largest components name the parameters that trade off against each other.
  A parameter whose origin is arbitrary (a site's position, an onset time) is judged instead by an absolute
  ``tolerance`` in its units (identified when its data-only SD ≤ tolerance; its reference scale in J_rel is
  tolerance / ``identified_rel_sd``).
* **Bounds.** A parameter within 1 % of the width of its `Bounded` interval from an end (or a `Positive` one below
  1e-3 of its scale) is reported as stuck at the bound: its error bar is then meaningless (the transform's derivative
  vanishes there).
* **Residuals.** Each term's own ``summary(prediction)`` (activation RMSE, per-lead ECG correlation, volume and
  pressure errors) and its χ² (whitened sum of squares) per point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._solution import result_name
from ._fit import AbstractLoss, FitResult, _value_and_jacfwd, least_squares_residuals
from ._params import Bounded, CalibrationError, FreeParameters, Positive

__all__ = ["FitReport", "Term", "fit_report", "joint_residuals"]


class Term(eqx.Module):
    """One data term of a calibration (final): a ``loss`` on the prediction ``forward(model)``, weighted by ``weight``
    (multiplies the whitened residuals by √weight; 1 = trust the noise level ``loss.noise_sd`` as given)."""

    name: str = eqx.field(static=True)
    loss: AbstractLoss
    forward: Callable = eqx.field(static=True)
    weight: float = eqx.field(static=True, default=1.0)

    def whitened(self, model):
        return self.whitened_of(self.forward(model))

    def whitened_of(self, prediction):
        """The whitened residuals (× √weight) of a prediction already computed."""
        return jnp.ravel(self.loss.whitened(prediction)) * np.sqrt(self.weight)


def joint_residuals(terms, shared: Callable | None = None) -> Callable:
    """model -> the terms' whitened residuals, concatenated (what `fit_least_squares` takes). ``shared``: model ->
    what every term's ``forward`` reads, computed once per evaluation (e.g. one activation for an ECG term and a
    coupled volume term); default the model itself."""
    terms = tuple(terms)
    if not terms:
        raise CalibrationError("a calibration needs at least one data term")

    def residuals(model):
        s = model if shared is None else shared(model)
        return jnp.concatenate([t.whitened(s) for t in terms])

    return residuals


def _json_dict(x: dict) -> dict:
    """`_json` of a dict: a dict with string keys."""
    return {str(k): _json(v) for k, v in x.items()}


def _json(x):
    """Plain Python (JSON) values from numpy/jax scalars and arrays, recursively; non-finite floats -> None."""
    if isinstance(x, dict):
        return _json_dict(x)
    if isinstance(x, (list, tuple)):
        return [_json(v) for v in x]
    if isinstance(x, (str, bool)) or x is None:
        return x
    a = np.asarray(x)
    if a.ndim == 0:
        v = a.item()
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v
    return [_json(v) for v in a.tolist()]


def _element_names(free: FreeParameters) -> list[str]:
    out = []
    for p, shape in zip(free.parameters, free.shapes):
        if not shape:
            out.append(p.name)
        else:
            out += [f"{p.name}{list(ix)}" for ix in np.ndindex(*shape)]
    return out


def _at_bounds(free: FreeParameters, x: np.ndarray, frac: float = 0.01) -> list[str]:
    names, out, k = _element_names(free), [], 0
    for p, n, shape in zip(free.parameters, free.sizes, free.shapes):
        t = p.transform
        if isinstance(t, Bounded):
            lo = np.broadcast_to(np.asarray(t.lower, float), shape).ravel()
            hi = np.broadcast_to(np.asarray(t.upper, float), shape).ravel()
        for j in range(n):
            v = float(x[k + j])
            if isinstance(t, Bounded):
                s = (v - lo[j]) / (hi[j] - lo[j])
                if s < frac:
                    out.append(f"{names[k + j]} at its lower bound {lo[j]:g}")
                elif s > 1 - frac:
                    out.append(f"{names[k + j]} at its upper bound {hi[j]:g}")
            elif isinstance(t, Positive) and v < 1e-3 * t.scale:
                out.append(f"{names[k + j]} at its lower bound 0")
        k += n
    return out


def _element_tolerances(free: FreeParameters, tolerance: dict) -> np.ndarray:
    unknown = sorted(set(tolerance) - set(free.names))
    if unknown:
        raise CalibrationError(f"report: tolerance for {unknown[0]!r}, which is not a free parameter")
    out = []
    for p, n in zip(free.parameters, free.sizes):
        t = tolerance.get(p.name)
        if t is not None and not float(t) > 0:
            raise CalibrationError(f"report: tolerance of {p.name!r} must be > 0, got {t}")
        out += [np.nan if t is None else float(t)] * n
    return np.asarray(out, float)


def _pinv_psd(A: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive semi-definite matrix, with eigenvalues floored at 1e-14 of the largest: a
    direction the data do not see gets a huge (finite) variance instead of a division by zero."""
    w, V = np.linalg.eigh(0.5 * (A + A.T))
    w = np.maximum(w, max(float(w.max(initial=0.0)), 1e-300) * 1e-14)
    return (V / w) @ V.T


@dataclass(frozen=True)
class FitReport:
    """The report of one fit (host values): see the module docstring. ``to_dict()`` is what report.json holds."""

    names: list
    values: np.ndarray
    sd: np.ndarray
    sd_data: np.ndarray
    correlation: np.ndarray
    singular_values: np.ndarray
    flat_directions: list
    identified: list
    not_identified: list
    at_bounds: list
    scale: float
    chi2: float
    n_residuals: int
    terms: dict
    fit: dict
    identified_rel_sd: float
    truth: dict = field(default_factory=dict)
    tolerance: dict = field(default_factory=dict)
    #: {term name: the fitted model's outputs beside the data} (`AbstractLoss.observables`; None for a term without a
    #: picture): what the report's pictures draw, computed once at the fitted point (not part of report.json).
    observables: dict = field(default_factory=dict)
    #: the discretisation term (`with_discretisation`): {"checked": bool, "what"/"reason", "shift", "sd_total", ...};
    #: empty when no check was asked (then every SD is statistical only, and report.json says so per parameter).
    discretisation: dict = field(default_factory=dict)

    def with_discretisation(self, check=None, *, skipped: str = "") -> "FitReport":
        """This report with the discretisation term of ``check`` (a `DiscretisationCheck` of this fit), or with the
        reason it was ``skipped`` (then the SDs stay statistical only, and the report says so)."""
        if check is None:
            return dataclasses.replace(self, discretisation={"checked": False, "reason": skipped or "not asked"})
        if list(check.names) != list(self.names):
            raise CalibrationError("report: the discretisation check is of other parameters than the fit's")
        rec = check.record()
        rec["shift"] = np.asarray(check.shift, float)
        rec["sd_total"] = np.asarray(check.sd_total, float)
        return dataclasses.replace(self, discretisation=rec)

    def sd_total(self) -> np.ndarray:
        """The SDs with the discretisation term where it was measured (`with_discretisation`), else `sd`."""
        t = self.discretisation.get("sd_total")
        return self.sd if t is None else np.where(np.isfinite(t), t, self.sd)

    def _includes_discretisation(self) -> np.ndarray:
        t = self.discretisation.get("sd_total")
        return np.zeros(len(self.names), bool) if t is None else np.isfinite(np.asarray(t, float))

    def relative_sd(self) -> np.ndarray:
        return self.sd / np.maximum(np.abs(self.values), 1e-300)

    def _judged(self, i: int, sd: float) -> str:
        """How parameter i's SD is judged: relative to its value, or against its absolute tolerance."""
        n = self.names[i]
        if n in self.tolerance:
            return f"{sd:.3g}/{self.tolerance[n]:g}"
        return f"{100 * sd / max(abs(self.values[i]), 1e-300):.2f}%"

    def to_dict(self) -> dict:
        params = {}
        for i, n in enumerate(self.names):
            params[n] = {
                "value": self.values[i],
                "sd": self.sd[i],
                "sd_data_only": self.sd_data[i],
                "relative_sd": self.relative_sd()[i],
                "identified": n in self.identified,
                "sd_statistical": self.sd[i],
                "discretisation_shift": (self.discretisation["shift"][i] if "shift" in self.discretisation else None),
                "sd_total": self.sd_total()[i],
                "sd_includes_discretisation": bool(self._includes_discretisation()[i]),
            }
            if n in self.tolerance:
                params[n]["tolerance"] = self.tolerance[n]
            if n in self.truth:
                params[n]["truth"] = self.truth[n]
                params[n]["error"] = self.values[i] - self.truth[n]
                if n not in self.tolerance:
                    params[n]["relative_error"] = (self.values[i] - self.truth[n]) / self.truth[n]
        return _json_dict(
            {
                "parameters": params,
                "correlation": {"names": self.names, "matrix": self.correlation},
                "jacobian_singular_values": self.singular_values,
                "flat_directions": self.flat_directions,
                "identified": self.identified,
                "not_identified": self.not_identified,
                "at_bounds": self.at_bounds,
                "covariance_scale": self.scale,
                "chi2": self.chi2,
                "n_residuals": self.n_residuals,
                "n_parameters": len(self.names),
                "identified_rel_sd": self.identified_rel_sd,
                "terms": self.terms,
                "fit": self.fit,
                "discretisation": {k: v for k, v in self.discretisation.items() if k not in ("shift", "sd_total")}
                or {"checked": False, "reason": "not asked"},
            }
        )

    def summary(self) -> str:
        """A readable account: parameters ± SD, what is identified, flat directions, bounds, per-term residuals."""
        lines = [
            f"fit: {self.fit.get('message', '')}, {self.fit.get('seconds', float('nan')):.1f} s, objective "
            f"{self.fit.get('objective', float('nan')):.6g}",
            f"residuals: {self.n_residuals}, chi2 {self.chi2:.4g}, chi2/dof "
            f"{self.chi2 / max(self.n_residuals - len(self.names), 1):.3g} (covariance scaled by {self.scale:.3g})",
            "",
            f"{'parameter':34s} {'value':>12s} {'± SD':>11s} {'SD judged':>12s} {'data-only':>12s}  "
            "identified" + ("      truth      error" if self.truth else ""),
            "  (SD judged: relative to the value, or SD/tolerance in the parameter's units)",
        ]
        for i, n in enumerate(self.names):
            row = (
                f"{n:34s} {self.values[i]:12.5g} {self.sd[i]:11.3g} {self._judged(i, self.sd[i]):>12s} "
                f"{self._judged(i, self.sd_data[i]):>12s}  {'yes' if n in self.identified else 'NO '}"
            )
            if n in self.truth:
                t = self.truth[n]
                err = f"{self.values[i] - t:+.3g}" if n in self.tolerance else f"{100 * (self.values[i] - t) / t:+.2f}%"
                row += f"  {t:9.5g} {err:>10s}"
            lines.append(row)
        lines += self._discretisation_lines()
        dof_ratio = self.chi2 / max(self.n_residuals - len(self.names), 1)
        if dof_ratio > 1.2:
            lines += [
                "",
                f"WARNING: chi2/dof = {dof_ratio:.3g} > 1.2: the model does not reach the noise level (model "
                "or discretisation error, or noise larger than noise_sd says). The SDs are scaled by "
                "sqrt(chi2/dof), but a systematic error is not in them: read them as lower bounds.",
            ]
        if self.not_identified:
            lines += [
                "",
                f"NOT identified by the data (data-only SD > {100 * self.identified_rel_sd:.0f}% of the "
                "value, or > the tolerance): " + ", ".join(self.not_identified),
            ]
        if self.flat_directions:
            lines.append("flat directions (combinations of relative changes the data do not determine):")
            for d in self.flat_directions:
                comb = " ".join(f"{c:+.2f}·{n}" for n, c in d["components"].items())
                lines.append(
                    f"  σ = {d['singular_value']:.3g} (SD {100 * d['relative_sd']:.1f}% of the reference scale): {comb}"
                )
        if self.at_bounds:
            lines += ["stuck at bounds: " + "; ".join(self.at_bounds)]
        strong = [
            (self.names[i], self.names[j], self.correlation[i, j])
            for i in range(len(self.names))
            for j in range(i + 1, len(self.names))
            if abs(self.correlation[i, j]) > 0.9
        ]
        if strong:
            lines.append("strong correlations: " + "; ".join(f"{a} ~ {b} {c:+.2f}" for a, b, c in strong))
        lines += ["", "data terms:"]
        for name, t in self.terms.items():
            extra = {k: v for k, v in t.items() if k not in ("chi2", "n")}
            lines.append(
                f"  {name}: n {t['n']}, chi2/n {t['chi2'] / max(t['n'], 1):.3g}; "
                + ", ".join(f"{k} {_short(v)}" for k, v in extra.items())
            )
        return "\n".join(lines) + "\n"

    def _discretisation_lines(self) -> list[str]:
        d = self.discretisation
        if not d.get("checked"):
            return [
                "",
                f"discretisation: not checked ({d.get('reason', 'not asked')}): every SD above is statistical only",
            ]
        lines = [
            "",
            f"discretisation check ({d['what']}; re-fit {d['steps']} steps, {d['result']}): {d['rule']}",
            f"{'parameter':34s} {'SD stat':>11s} {'shift':>11s} {'SD total':>11s}",
        ]
        for i, n in enumerate(self.names):
            mark = "  shift > SD" if n in d.get("exceeds_statistical_sd", []) else ""
            lines.append(f"{n:34s} {self.sd[i]:11.3g} {d['shift'][i]:+11.3g} {self.sd_total()[i]:11.3g}{mark}")
        return lines


def _short(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        if len(v) > 4:
            vals = [x for x in v.values() if isinstance(x, (int, float))]
            return f"({len(v)} values, min {min(vals):.4g}, max {max(vals):.4g})" if vals else f"({len(v)} values)"
        return "{" + ", ".join(f"{k} {_short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list) and len(v) > 4:
        return f"({len(v)} values)"
    return str(v)


def fit_report(
    result: FitResult,
    free: FreeParameters,
    model,
    terms,
    *,
    shared: Callable | None = None,
    identified_rel_sd: float = 0.05,
    tolerance: dict | None = None,
    flat_max: int = 5,
    truth: dict | None = None,
) -> FitReport:
    """The report of ``result`` (from `fit_least_squares` or `fit_adam` over ``free`` in ``model``) on the data
    ``terms`` (`Term` s): see the module docstring. ``truth`` ({name: value}, for synthetic cases) adds the error
    of each fitted value. The Jacobian is taken by forward mode at the fitted point (the forward maps must support
    ``jax.jvp``, as for `fit_least_squares`). ``shared`` as in `joint_residuals`.

    ``tolerance`` ({parameter name: SD in its units}) judges a parameter whose origin is arbitrary (a site's
    position in mm, an onset in ms: a relative error means nothing there) by an absolute standard deviation instead:
    identified when its data-only SD ≤ the tolerance, and its sensitivity scaled by tolerance / identified_rel_sd
    instead of its value in the flat-direction analysis."""
    terms = tuple(terms)
    data_r = joint_residuals(terms, shared)
    u = jnp.asarray(result.u)

    r_all = least_squares_residuals(data_r, free)  # (u, model), the model a jit argument
    r, J = eqx.filter_jit(lambda u, model: _value_and_jacfwd(lambda v: r_all(v, model), u))(u, model)
    r, J = np.asarray(r, np.float64), np.asarray(J, np.float64)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(J))):
        raise CalibrationError(
            "report: the residuals or their Jacobian at the fitted point are not finite; the fit "
            "ended somewhere the model fails (check the bounds)"
        )
    x_of_u = lambda u: jnp.concatenate([jnp.ravel(v) for v in free.values(u).values()])
    x = np.asarray(x_of_u(u), np.float64)
    D = np.asarray(jax.jacfwd(x_of_u)(u), np.float64)  # ∂x/∂u (diagonal for elementwise transforms)
    n_prior = int(free.prior_residuals(u).shape[0])
    m = r.size - n_prior
    p = x.size
    Jd = J[:m]
    chi2 = float(np.sum(r[:m] ** 2))
    scale = max(1.0, chi2 / max(m - p, 1))
    C_u = scale * _pinv_psd(J.T @ J)
    C_x = D @ C_u @ D.T
    C_x_data = D @ (scale * _pinv_psd(Jd.T @ Jd)) @ D.T
    sd = np.sqrt(np.maximum(np.diag(C_x), 0.0))
    sd_data = np.sqrt(np.maximum(np.diag(C_x_data), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = C_x / np.outer(sd, sd)
    corr = np.where(np.isfinite(corr), corr, np.nan)
    np.fill_diagonal(corr, 1.0)
    names = _element_names(free)
    tol = _element_tolerances(free, tolerance or {})
    # each parameter's reference scale: |x| (relative), or tolerance / identified_rel_sd (absolute)
    ref = np.where(np.isnan(tol), np.abs(x), tol / identified_rel_sd)
    # sensitivities per reference change: ∂r/∂(x / ref) = J_d (∂u/∂x) diag(ref)
    J_rel = Jd @ np.linalg.pinv(D) @ np.diag(ref)
    _, sv, Vt = np.linalg.svd(J_rel, full_matrices=False)
    flat = []
    for k in np.argsort(sv):
        rel = np.sqrt(scale) / sv[k] if sv[k] > 0 else np.inf
        if rel <= identified_rel_sd or len(flat) >= flat_max:
            break
        v = Vt[k] / np.max(np.abs(Vt[k]))
        comps = {names[i]: float(v[i]) for i in np.argsort(-np.abs(v)) if abs(v[i]) >= 0.2}
        flat.append({"singular_value": float(sv[k]), "relative_sd": float(rel), "components": comps})
    rel_data = sd_data / np.maximum(ref, 1e-300)
    identified = [n for n, s in zip(names, rel_data) if s <= identified_rel_sd]
    not_identified = [n for n in names if n not in identified]
    fitted = free.unpack(model, u)
    sim = fitted if shared is None else shared(fitted)
    term_stats, observables = {}, {}
    for t in terms:
        pred = t.forward(sim)
        observables[t.name] = t.loss.observables(pred)
        w = np.asarray(t.whitened_of(pred))
        stats = {"n": int(w.size), "chi2": float(np.sum(w**2))}
        summary = getattr(t.loss, "summary", None)
        if summary is not None:
            stats.update(_json_dict(summary(pred)))
        term_stats[t.name] = stats
    fit = {
        "result": result_name(result.result),
        "message": result.message,
        "steps": result.steps,
        "seconds": result.seconds,
        "objective": result.loss,
    }
    if result.starts_loss is not None:
        fit["starts_objective"] = _json(result.starts_loss)
    return FitReport(
        names,
        x,
        sd,
        sd_data,
        corr,
        sv,
        flat,
        identified,
        not_identified,
        _at_bounds(free, x),
        float(scale),
        chi2,
        int(m),
        term_stats,
        _json_dict(fit),
        identified_rel_sd,
        {k: float(v) for k, v in (truth or {}).items()},
        {n: float(t) for n, t in zip(names, tol) if np.isfinite(t)},
        observables,
    )

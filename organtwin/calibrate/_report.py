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
* **Data fit per term** (`FitReport.data_fit`): n residuals, their unit (ms, mV, mL, mmHg), the RMS residual in it,
  the noise SD the case gave, and χ²/dof with the term's share of the degrees of freedom, dof = n − p·n/m (m data
  residuals in all, p free values), χ² = Σ((model − data)/noise_sd)² without the term's weight: about 1 when the
  residuals are the noise the case declared, well above 1 when the model misses the data (or the noise is larger).
  The residuals themselves (`FitReport.residuals`, model − data in the data's unit) are what the residual plots draw.
* **Verdict** (`verdict`, one line per parameter; `VERDICT_RULE` is the rule in words). With ``limit`` the largest
  SD that counts as small — ``identified_rel_sd`` · |value|, or the parameter's absolute ``tolerance`` —, in order:

  1. stuck at a bound, or data-only SD > limit (the identifiability check above, which leaves the priors out, so a
     parameter that only a prior pins is caught too), or a non-finite SD: **"not identifiable from these data"**;
  2. a discretisation shift larger than the statistical SD, |shift| > sd: **"identified within mesh error"** (the
     data determine it, but the resolution moves it more than the noise does: read the total SD, which holds the
     mesh term, and expect a finer mesh to narrow it);
  3. total SD (statistical and discretisation terms) > limit: **"not identifiable from these data"**;
  4. otherwise **"identified"** (its total SD ≤ limit, and |shift| ≤ sd where the mesh was checked).
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

__all__ = [
    "IDENTIFIED",
    "NOT_IDENTIFIABLE",
    "VERDICTS",
    "VERDICT_RULE",
    "WITHIN_MESH_ERROR",
    "FitReport",
    "Term",
    "fit_report",
    "data_unit",
    "joint_residuals",
    "report_html",
    "verdict",
]

#: The three verdicts of `verdict`, the report's one line per parameter.
IDENTIFIED = "identified"
WITHIN_MESH_ERROR = "identified within mesh error"
NOT_IDENTIFIABLE = "not identifiable from these data"
VERDICTS = (IDENTIFIED, WITHIN_MESH_ERROR, NOT_IDENTIFIABLE)
#: `verdict`'s rule in words (report.json's "verdict_rule").
VERDICT_RULE = (
    "limit = identified_rel_sd x |value| (or the parameter's absolute tolerance). 'not identifiable from these "
    "data': stuck at a bound, or data-only SD (priors left out) > limit, or an SD not finite; else 'identified within "
    "mesh error': |discretisation shift| > statistical SD (use the total SD); else 'not identifiable from these "
    "data': total SD > limit; else 'identified': total SD <= limit and |shift| <= statistical SD."
)


def _g(x: float) -> str:
    return f"{x:.3g}"


def verdict(
    value: float,
    sd_statistical: float,
    sd_data_only: float,
    sd_total: float | None = None,
    shift: float | None = None,
    *,
    identified_rel_sd: float = 0.05,
    tolerance: float | None = None,
    at_bound: bool = False,
    unit: str = "",
) -> tuple[str, str]:
    """The report's verdict on one fitted parameter and its reason in a few words: (one of `VERDICTS`, reason). The
    rule is the module docstring's (`VERDICT_RULE`): ``sd_statistical`` the Laplace SD (priors in), ``sd_data_only``
    the data's alone, ``sd_total`` the SD with the discretisation term (None: not checked, the statistical one),
    ``shift`` the discretisation shift (None: not checked); ``tolerance`` an absolute limit in the parameter's
    ``unit`` instead of ``identified_rel_sd`` · |value|."""
    u = f" {unit}" if unit else ""
    limit = float(tolerance) if tolerance is not None else identified_rel_sd * abs(float(value))
    how = f"tolerance {limit:.3g}{u}" if tolerance is not None else f"{100 * identified_rel_sd:g}% of the value"
    total = float(sd_statistical) if sd_total is None or not np.isfinite(sd_total) else float(sd_total)
    small = lambda s: bool(np.isfinite(s)) and s <= limit
    if at_bound:
        return NOT_IDENTIFIABLE, "stuck at a bound of its range: the data push it there, its SD means nothing"
    if not (np.isfinite(sd_statistical) and np.isfinite(sd_data_only)):
        return NOT_IDENTIFIABLE, "its SD is not finite: the data do not see it"
    if not small(float(sd_data_only)):
        why = f"the data alone leave an SD of {_g(sd_data_only)}{u} (> {how})"
        if small(float(sd_statistical)):
            why += f"; only the prior pins it (SD {_g(sd_statistical)}{u})"
        return NOT_IDENTIFIABLE, why
    if shift is not None and np.isfinite(shift) and abs(float(shift)) > float(sd_statistical):
        return WITHIN_MESH_ERROR, (
            f"the finer model moves it by {float(shift):+.3g}{u}, more than its statistical SD {_g(sd_statistical)}"
            f"{u}: total SD {_g(total)}{u} is mostly the mesh's"
        )
    if not small(total):
        return NOT_IDENTIFIABLE, f"total SD {_g(total)}{u} > {how}"
    checked = "" if shift is not None and np.isfinite(shift) else " (statistical only: the mesh was not checked)"
    return IDENTIFIED, f"total SD {_g(total)}{u} <= {how}{checked}"


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


def laplace_covariance(
    r: np.ndarray, J: np.ndarray, D: np.ndarray, n_prior: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The Laplace rule `fit_report` uses, on host arrays: ``r`` the residuals (whitened data, then the ``n_prior``
    prior residuals), ``J`` their Jacobian in the unconstrained u, ``D`` = ∂x/∂u. Returns (χ² of the data residuals,
    the covariance scale max(1, χ²/(m − p)), the covariance of x with the priors, that of the data alone)."""
    m, p = r.size - n_prior, D.shape[0]
    chi2 = float(np.sum(r[:m] ** 2))
    scale = max(1.0, chi2 / max(m - p, 1))
    C_x = D @ (scale * _pinv_psd(J.T @ J)) @ D.T
    C_x_data = D @ (scale * _pinv_psd(J[:m].T @ J[:m])) @ D.T
    return chi2, scale, C_x, C_x_data


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
    #: {parameter element name: its unit} ("" or absent where unknown): the report's table and verdicts say it.
    units: dict = field(default_factory=dict)
    #: {term name: model − data (host array, the data's unit)} at the fitted point: what the residual plots draw (not
    #: part of report.json; `data_fit` has their figures).
    residuals: dict = field(default_factory=dict)
    #: {term name: {"unit", "n", "dof", "chi2", "chi2_per_dof", "rms_residual", "max_abs_residual", "noise_sd",
    #: "weight"}}: the module docstring's data fit per term.
    data_fit: dict = field(default_factory=dict)

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

    def _at_bound(self, name: str) -> bool:
        return any(b.startswith(f"{name} at its ") for b in self.at_bounds)

    def verdicts(self) -> dict[str, tuple[str, str]]:
        """{parameter element name: (verdict, reason)} by `verdict`'s rule (module docstring)."""
        shift = self.discretisation.get("shift")
        total = self.sd_total()
        out = {}
        for i, n in enumerate(self.names):
            s = None if shift is None or not np.isfinite(shift[i]) else float(shift[i])
            out[n] = verdict(
                float(self.values[i]),
                float(self.sd[i]),
                float(self.sd_data[i]),
                float(total[i]) if s is not None else None,
                s,
                identified_rel_sd=self.identified_rel_sd,
                tolerance=self.tolerance.get(n),
                at_bound=self._at_bound(n),
                unit=self.units.get(n, ""),
            )
        return out

    def parameter_table(self, posterior=None) -> list[dict]:
        """One row per free value, what the report's table shows: name, unit, value, sd_statistical,
        discretisation_shift (None: not checked), sd_total, sd_includes_discretisation, identified (the data-only
        check), at_bound, verdict, verdict_reason; with ``posterior`` (a `PosteriorSamples` of this fit) also
        laplace_95 (value ± 1.96 sd_statistical, the interval the draws are compared with), credible_95, rhat,
        ess_bulk, ess_tail (None for a value the draws do not have)."""
        shift = self.discretisation.get("shift")
        total, incl = self.sd_total(), self._includes_discretisation()
        verdicts = self.verdicts()
        post = {}
        if posterior is not None:
            for j, n in enumerate(posterior.names):
                post[n] = {
                    "credible_95": [float(v) for v in np.asarray(posterior.interval_95)[j]],
                    "rhat": float(np.asarray(posterior.rhat)[j]),
                    "ess_bulk": float(np.asarray(posterior.ess_bulk)[j]),
                    "ess_tail": float(np.asarray(posterior.ess_tail)[j]),
                }
        rows = []
        for i, n in enumerate(self.names):
            v, sd = float(self.values[i]), float(self.sd[i])
            row = {
                "name": n,
                "unit": self.units.get(n, ""),
                "value": v,
                "sd_statistical": sd,
                "discretisation_shift": None if shift is None or not np.isfinite(shift[i]) else float(shift[i]),
                "sd_total": float(total[i]),
                "sd_includes_discretisation": bool(incl[i]),
                "identified": n in self.identified,
                "at_bound": self._at_bound(n),
                "verdict": verdicts[n][0],
                "verdict_reason": verdicts[n][1],
            }
            if posterior is not None:
                row["laplace_95"] = [v - 1.96 * sd, v + 1.96 * sd]
                row.update(post.get(n, {"credible_95": None, "rhat": None, "ess_bulk": None, "ess_tail": None}))
            rows.append(row)
        return rows

    def relative_sd(self) -> np.ndarray:
        return self.sd / np.maximum(np.abs(self.values), 1e-300)

    def _judged(self, i: int, sd: float) -> str:
        """How parameter i's SD is judged: relative to its value, or against its absolute tolerance."""
        n = self.names[i]
        if n in self.tolerance:
            return f"{sd:.3g}/{self.tolerance[n]:g}"
        return f"{100 * sd / max(abs(self.values[i]), 1e-300):.2f}%"

    def to_dict(self, posterior=None) -> dict:
        """What report.json holds; with ``posterior`` (a `PosteriorSamples` of this fit) each parameter also has its
        laplace_95, credible_95, rhat, ess_bulk and ess_tail (`parameter_table`)."""
        params = {}
        table = {r["name"]: r for r in self.parameter_table(posterior)}
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
            params[n].update(
                {k: v for k, v in table[n].items() if k not in params[n] and k not in ("name", "identified")}
            )
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
                "verdicts": {n: table[n]["verdict"] for n in self.names},
                "verdict_rule": VERDICT_RULE,
                "data_fit": self.data_fit,
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
        lines += self._data_fit_lines() + self._verdict_lines()
        return "\n".join(lines) + "\n"

    def _data_fit_lines(self) -> list[str]:
        if not self.data_fit:
            return []
        lines = ["", "data fit per term (chi2/dof about 1: residuals at the noise level given):"]
        for name, d in self.data_fit.items():
            u = f" {d['unit']}" if d["unit"] else ""
            lines.append(
                f"  {name}: chi2/dof {d['chi2_per_dof']:.3g} ({d['n']} residuals, dof {d['dof']:.4g}), RMS residual "
                f"{d['rms_residual']:.3g}{u}, largest {d['max_abs_residual']:.3g}{u}, "
                f"noise SD given {_short(d['noise_sd'])}{u}"
            )
        return lines

    def _verdict_lines(self) -> list[str]:
        lines = ["", "verdict per parameter (rule: docs/calibration-case.md, 'The report'):"]
        for n, (v, why) in self.verdicts().items():
            lines.append(f"  {n}: {v} ({why})")
        return lines

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
    units: dict | None = None,
) -> FitReport:
    """The report of ``result`` (from `fit_least_squares` or `fit_adam` over ``free`` in ``model``) on the data
    ``terms`` (`Term` s): see the module docstring. ``truth`` ({name: value}, for synthetic cases) adds the error
    of each fitted value. The Jacobian is taken by forward mode at the fitted point (the forward maps must support
    ``jax.jvp``, as for `fit_least_squares`). ``shared`` as in `joint_residuals`.

    ``tolerance`` ({parameter name: SD in its units}) judges a parameter whose origin is arbitrary (a site's
    position in mm, an onset in ms: a relative error means nothing there) by an absolute standard deviation instead:
    identified when its data-only SD ≤ the tolerance, and its sensitivity scaled by tolerance / identified_rel_sd
    instead of its value in the flat-direction analysis. ``units`` ({parameter or element name: unit}) label the
    report's table and verdicts."""
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
    m, p = r.size - n_prior, x.size
    Jd = J[:m]
    chi2, scale, C_x, C_x_data = laplace_covariance(r, J, D, n_prior)
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
    term_stats, observables, residuals, data_fit = {}, {}, {}, {}
    for t in terms:
        pred = t.forward(sim)
        observables[t.name] = t.loss.observables(pred)
        w = np.asarray(t.whitened_of(pred))
        stats = {"n": int(w.size), "chi2": float(np.sum(w**2))}
        residuals[t.name] = np.asarray(t.loss.residuals(pred), np.float64)
        data_fit[t.name] = _data_fit(t, residuals[t.name], stats["chi2"], m, p)
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
        units=_element_units(free, units or {}),
        residuals=residuals,
        data_fit=data_fit,
    )


def _element_units(free: FreeParameters, units: dict) -> dict:
    """{element name: unit} from units given by parameter or by element name."""
    out, names, k = {}, _element_names(free), 0
    for p, n in zip(free.parameters, free.sizes):
        for j in range(n):
            u = units.get(names[k + j], units.get(p.name))
            if u:
                out[names[k + j]] = str(u)
        k += n
    return out


def data_unit(loss) -> str:
    """The unit of a loss's residuals: its ``unit`` attribute if it has one, else by kind (activation times ms, ECG
    mV, volumes mL, pressures and cuffs mmHg); "" where unknown (a `MeasurementLoss`: the caller's units)."""
    from ._ecg_loss import ECGLoss
    from ._fit import ActivationTimeLoss
    from ._haemo import CuffPressureLoss, PressureTraceLoss, VolumeCurveLoss

    unit = getattr(loss, "unit", None)
    if isinstance(unit, str):
        return unit
    for cls, u in (
        (ActivationTimeLoss, "ms"),
        (ECGLoss, "mV"),
        (VolumeCurveLoss, "mL"),
        (PressureTraceLoss, "mmHg"),
        (CuffPressureLoss, "mmHg"),
    ):
        if isinstance(loss, cls):
            return u
    return ""


def _data_fit(term: Term, r: np.ndarray, chi2_weighted: float, m: int, p: int) -> dict:
    """The data fit of one term (module docstring): χ²/dof without the weight, RMS residual in the data's unit."""
    n = int(r.size)
    dof = max(n - p * n / max(m, 1), 1.0)
    chi2 = chi2_weighted / term.weight
    noise = np.asarray(term.loss.noise_sd, np.float64)
    noise_sd = float(noise) if noise.size == 1 else [float(noise.min()), float(noise.max())]
    return {
        "unit": data_unit(term.loss),
        "n": n,
        "dof": float(dof),
        "chi2": float(chi2),
        "chi2_per_dof": float(chi2 / dof),
        "rms_residual": float(np.sqrt(np.mean(r**2))) if n else float("nan"),
        "max_abs_residual": float(np.max(np.abs(r))) if n else float("nan"),
        "noise_sd": noise_sd,
        "weight": float(term.weight),
    }


_VERDICT_COLOUR = {IDENTIFIED: "#1e8449", WITHIN_MESH_ERROR: "#b9770e", NOT_IDENTIFIABLE: "#c0392b"}


def _num(x, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return format(float(x), fmt)


def _interval(iv) -> str:
    return "–" if iv is None else f"[{_num(iv[0])}, {_num(iv[1])}]"


def report_html(report: FitReport, *, title: str = "", posterior=None, pictures=()) -> str:
    """A self-contained HTML page of ``report``: the parameter table (value and unit, statistical SD, discretisation
    shift, total SD and whether it holds the mesh term, identified by the data, with ``posterior`` (a
    `PosteriorSamples`) the 95 % credible interval beside the Laplace one, R-hat and bulk ESS, and the verdict with its
    reason), the rule, the data fit per term, and ``pictures`` (file names next to the page) below."""
    import html

    e = html.escape
    rows = report.parameter_table(posterior)
    sampled = posterior is not None
    truth = report.truth
    head = ["parameter", "value", "unit", "SD (statistical)", "discretisation shift", "SD total", "identified by data"]
    head += ["95% Laplace", "95% credible (NUTS)", "R-hat", "ESS bulk"] if sampled else []
    head += ["truth", "error / SD total"] if truth else []
    head += ["verdict"]
    body = []
    for r in rows:
        cells = [
            f"<code>{e(r['name'])}</code>",
            _num(r["value"], ".5g"),
            e(r["unit"]) or "–",
            _num(r["sd_statistical"], ".3g"),
            "not checked" if r["discretisation_shift"] is None else _num(r["discretisation_shift"], "+.3g"),
            _num(r["sd_total"], ".3g") + ("" if r["sd_includes_discretisation"] else " (statistical only)"),
            ("yes" if r["identified"] else "no") + (" (at a bound)" if r["at_bound"] else ""),
        ]
        if sampled:
            cells += [
                _interval(r["laplace_95"]),
                _interval(r["credible_95"]),
                _num(r["rhat"], ".3f"),
                _num(r["ess_bulk"], ".0f"),
            ]
        if truth:
            t = truth.get(r["name"])
            z = None if t is None or not r["sd_total"] > 0 else (r["value"] - t) / r["sd_total"]
            cells += [_num(t, ".5g"), _num(z, "+.2f")]
        colour = _VERDICT_COLOUR[r["verdict"]]
        cells.append(f'<b style="color:{colour}">{e(r["verdict"])}</b><br><small>{e(r["verdict_reason"])}</small>')
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    fit_rows = []
    for name, d in report.data_fit.items():
        ns = d["noise_sd"]
        noise = _num(ns, ".3g") if not isinstance(ns, list) else f"{_num(ns[0], '.3g')}–{_num(ns[1], '.3g')}"
        fit_rows.append(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    e(name),
                    e(d["unit"]) or "–",
                    str(d["n"]),
                    _num(d["chi2_per_dof"], ".3g"),
                    _num(d["rms_residual"], ".3g"),
                    _num(d["max_abs_residual"], ".3g"),
                    noise,
                )
            )
            + "</tr>"
        )
    disc = report.discretisation
    disc_line = (
        f"Discretisation check: {e(str(disc.get('what', '')))}; {e(str(disc.get('rule', '')))}."
        if disc.get("checked")
        else f"Discretisation: not checked ({e(str(disc.get('reason', 'not asked')))}): every SD is statistical only."
    )
    dof = report.chi2 / max(report.n_residuals - len(report.names), 1)
    imgs = "\n".join(
        f'<figure><img src="{e(p)}" alt="{e(p)}"><figcaption>{e(p)}</figcaption></figure>'
        for p in pictures
        if p != "report.png"  # the table above is its content
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title or "calibration report")}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
td small {{ color: #555; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
figure {{ margin: 1em 0; }}
</style></head><body>
<h1>{e(title or "calibration report")}</h1>
<p>Fit: {e(str(report.fit.get("message", "")))}; {report.n_residuals} residuals, χ²/dof {dof:.3g}
(covariance scaled by {report.scale:.3g}).</p>
<h2>Parameters</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>
{chr(10).join(body)}
</table>
<p>{disc_line}</p>
<p><small>Verdict rule: {e(VERDICT_RULE)}</small></p>
<h2>Data fit per term</h2>
<table><tr><th>term</th><th>unit</th><th>n</th><th>χ²/dof</th><th>RMS residual</th><th>largest residual</th>
<th>noise SD given</th></tr>
{chr(10).join(fit_rows)}
</table>
<h2>Pictures</h2>
{imgs}
</body></html>
"""

"""Losses on haemodynamic data (volume curves, pressure traces, cuff pressures) against the 0D closed-loop circulation.

* `circulation_curves` — one periodic beat of a `Circulation` (Regazzoni 2022 or any loop with the same named
  chambers and arterial compartments): LV/RV volumes, LV/RV/aortic/pulmonary arterial pressures at ``points`` times
  over [0, period]. Exactly ``cycles`` cycles (a scan) bring the state to the periodic one, so the curves are
  differentiable with respect to every array of the circulation: by reverse mode (default) or by forward mode
  (``forward_mode=True``: diffrax's `ForwardMode` adjoint, what `fit_least_squares` needs).
* `VolumeCurveLoss` — a measured chamber volume curve (mL, e.g. from cine MRI or 3D echo) against the model's volume
  interpolated periodically at the measured times.
* `PressureTraceLoss` — a measured pressure trace (mmHg, a catheter) against the model's pressure at that site.
* `CuffPressureLoss` — a cuff's systolic/diastolic pressure (mmHg) against the model's aortic maximum and minimum.

Time: the 0D model runs in seconds; the curves and the data are in ms (converted here, at the edge). A measured time
t (ms) is beat time ``(t - time_offset_ms) mod period_ms`` of the model, whose beat starts (t = 0) at the onset of
ventricular contraction; ``time_offset_ms`` is the measured time of that onset (e.g. the ECG's R wave).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._solution import RESULTS
from ..flow.zerod._closed_loop import _trace_indices
from ..flow.zerod._solve import default_integrator, simulate_zerod
from ..flow.zerod._steady import periodic_steady_state
from ._fit import AbstractLoss
from ._observables import TraceObservables
from ._params import CalibrationError

__all__ = ["CirculationCurves", "CuffPressureLoss", "PressureTraceLoss", "VolumeCurveLoss", "circulation_curves"]

#: the curves' chambers (volumes) and pressure sites, with the circulation node each site is read at
VOLUME_CHAMBERS = ("LV", "RV")
PRESSURE_SITES = {"LV": "LV", "RV": "RV", "aorta": "sys_art", "pulmonary_artery": "pul_art"}


class CirculationCurves(eqx.Module):
    """One periodic beat of the circulation (final; a pytree of JAX arrays).

    Attributes:
        times_ms: (k,) beat times on [0, period] (ms), evenly spaced, both ends included.
        volume_ml: {"LV", "RV"}: (k,) chamber volumes, mL.
        pressure_mmhg: {"LV", "RV", "aorta", "pulmonary_artery"}: (k,) pressures, mmHg (aorta: the systemic arterial
            compartment ``sys_art``; pulmonary_artery: ``pul_art``).
    """

    times_ms: Float[Array, " k"]
    volume_ml: dict[str, Float[Array, " k"]]
    pressure_mmhg: dict[str, Float[Array, " k"]]

    @property
    def period_ms(self) -> Array:
        return self.times_ms[-1]

    def interpolate(self, trace: Float[Array, " k"], times_ms: Float[Array, " m"]) -> Float[Array, " m"]:
        """``trace`` (one of this beat's arrays) at beat times ``times_ms`` (any real ms, taken modulo the period),
        linear and periodic (the last sample, at t = period, is the first one again and is left out)."""
        return jnp.interp(times_ms, self.times_ms[:-1], trace[:-1], period=self.period_ms)


@eqx.filter_jit
def _curves(circ, cycles: int, points: int, forward_mode: bool, integrator):
    model, T = circ.beat_model, circ.period  # the period a leaf: differentiable
    adjoint = diffrax.ForwardMode() if forward_mode else None
    ps = periodic_steady_state(model, T, circ.y0, cycles=cycles, integrator=integrator, adjoint=adjoint, throw=False)
    ts = jnp.linspace(0.0, T, points, dtype=circ.y0.dtype)
    sol = simulate_zerod(model, 0.0, T, ps.y0, ts=ts, integrator=integrator, adjoint=adjoint, throw=False)
    obs = sol.observe()
    p_idx, _ = _trace_indices(model)
    st = model.structure
    vol = {c: obs["volume"][:, st.chambers.index(c)] for c in VOLUME_CHAMBERS}
    pres = {k: obs["pressure"][:, p_idx[node]] for k, node in PRESSURE_SITES.items()}
    result = RESULTS.where(ps.result == RESULTS.successful, sol.result, ps.result)
    return CirculationCurves(ts * 1000.0, vol, pres), result


def circulation_curves(
    circ, *, cycles: int = 10, points: int = 201, forward_mode: bool = False, integrator=None, throw: bool = True
) -> CirculationCurves:
    """The beat after exactly ``cycles`` cycles from ``circ.y0`` (the convention of ``simulate_circulation(circ,
    cycles=...)``), sampled at ``points`` evenly spaced times on [0, period].

    Differentiable with respect to every array of ``circ`` (its model's parameters and ``y0``): reverse mode by
    default; ``forward_mode=True`` integrates with diffrax's `ForwardMode` adjoint, so that ``jax.jvp`` / ``jacfwd``
    work (reverse mode then does not). Works in the dtype of ``circ.y0`` (float32 or float64), with
    `default_integrator` of that dtype unless ``integrator`` is given. How periodic the state is after ``cycles``
    depends on the start: from the published initial state the Regazzoni loop needs tens of cycles for a
    cycle-to-cycle change of 1e-4; starting ``y0`` from a nearby model's periodic state needs few. ``throw``: a
    solver failure (an `organtwin.RESULTS` member) raises through ``result.error_if``, eagerly and under jit alike."""
    if int(cycles) < 1 or int(points) < 3:
        raise CalibrationError(f"circulation_curves: need cycles >= 1 and points >= 3 (got {cycles}, {points})")
    integ = integrator or default_integrator(circ.y0.dtype)
    curves, result = _curves(circ, int(cycles), int(points), bool(forward_mode), integ)
    return result.error_if(curves, result != RESULTS.successful) if throw else curves


def _interp_trace_checks(times_ms, period_ms, noise_sd, what: str, source: str) -> tuple[np.ndarray, float]:
    t = np.asarray(times_ms, np.float64)
    period_ms = float(period_ms)
    if not np.all(np.asarray(noise_sd) > 0):
        raise CalibrationError(f"{source}: noise_sd must be > 0 (got {np.asarray(noise_sd).tolist()})")
    if not (np.isfinite(period_ms) and period_ms > 0):
        raise CalibrationError(f"{source}: period_ms must be a positive number of ms (got {period_ms:g})")
    span = float(t[-1] - t[0]) if t.size else 0.0
    if span > period_ms * (1 + 1e-9):
        raise CalibrationError(
            f"{source}: the {what} spans {span:g} ms, more than one period ({period_ms:g} ms); "
            "give one beat (or average the beats), in ms"
        )
    return t, period_ms


def _errors(r: np.ndarray, unit: str) -> dict:
    return {f"rmse_{unit}": float(np.sqrt(np.mean(r**2))), f"max_abs_error_{unit}": float(np.max(np.abs(r)))}


# ---------------------------------------------------------------------------------------------------------- volume
class VolumeCurveLoss(AbstractLoss):
    """A measured chamber volume curve against the model's (final): residuals (mL) = model volume at each measured
    time (periodic linear interpolation of the beat) − measured volume.

    Attributes:
        chamber: "LV" or "RV".
        times_ms: (m,) the measured times as beat times of the model, (t − time_offset_ms) mod period_ms.
        measured_ml: (m,) measured volumes, mL.
        period_ms: the model's period (ms), for the interpolation's wrap-around.
        noise_sd: mL, the measurement noise (default 2 mL).
    """

    times_ms: Float[Array, " m"]
    measured_ml: Float[Array, " m"]
    chamber: str = eqx.field(static=True, default="LV")
    period_ms: float = eqx.field(static=True, default=800.0)
    noise_sd: float = 2.0

    @classmethod
    def from_curve(
        cls,
        curve,
        chamber: str = "LV",
        *,
        period_ms: float,
        noise_sd: float = 2.0,
        time_offset_ms: float = 0.0,
        dtype=None,
    ) -> "VolumeCurveLoss":
        """From a `VolumeCurve` (one beat, ms and mL) of ``chamber`` (LV or RV) of a model with period ``period_ms``
        (``circ.period * 1000``); its times shifted by ``time_offset_ms`` (the measured time of the beat's start)."""
        src = curve.source or "VolumeCurve"
        if chamber not in VOLUME_CHAMBERS:
            raise CalibrationError(
                f"{src}: chamber {chamber!r} has no volume curve in the model; use one of {', '.join(VOLUME_CHAMBERS)}"
            )
        if curve.chamber is not None and str(curve.chamber).upper() != chamber:
            raise CalibrationError(
                f"{src}: the curve is of the {curve.chamber} but chamber={chamber!r} was asked; "
                "pass the curve's chamber"
            )
        t, period_ms = _interp_trace_checks(curve.times_ms, period_ms, noise_sd, "volume curve", src)
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(
            jnp.asarray(np.mod(t - float(time_offset_ms), period_ms), dtype),
            jnp.asarray(curve.volumes_ml, dtype),
            chamber,
            period_ms,
            float(noise_sd),
        )

    def predicted(self, prediction: CirculationCurves) -> Float[Array, " m"]:
        """The model's volume (mL) at the measured times."""
        return prediction.interpolate(prediction.volume_ml[self.chamber], self.times_ms)

    def residuals(self, prediction: CirculationCurves) -> Float[Array, " m"]:
        return self.predicted(prediction) - self.measured_ml

    def summary(self, prediction: CirculationCurves) -> dict:
        """RMSE and largest error at the measured times (mL); model − measured EDV and ESV (mL, the model's over the
        whole beat, the measured curve's largest and smallest) and ejection fraction (a fraction, not %)."""
        r = np.asarray(self.residuals(prediction), np.float64)
        v = np.asarray(prediction.volume_ml[self.chamber], np.float64)
        m = np.asarray(self.measured_ml, np.float64)
        edv, esv, edv_m, esv_m = float(v.max()), float(v.min()), float(m.max()), float(m.min())
        return {
            **_errors(r, "ml"),
            "edv_model_ml": edv,
            "esv_model_ml": esv,
            "edv_error_ml": edv - edv_m,
            "esv_error_ml": esv - esv_m,
            "ef_error": (edv - esv) / edv - (edv_m - esv_m) / edv_m,
        }

    def observables(self, prediction: CirculationCurves) -> TraceObservables:
        """What the report's picture draws: the fitted beat's volume and the measured samples."""
        return TraceObservables(
            model_t_ms=np.asarray(prediction.times_ms),
            model_values=np.asarray(prediction.volume_ml[self.chamber]),
            data_t_ms=np.asarray(self.times_ms),
            data_values=np.asarray(self.measured_ml),
            ylabel=f"{self.chamber} volume (mL)",
        )


# -------------------------------------------------------------------------------------------------------- pressure
class PressureTraceLoss(AbstractLoss):
    """A measured pressure trace against the model's pressure at the same site (final): residuals (mmHg) = model
    pressure at each measured time (periodic linear interpolation of the beat) − measured pressure.

    Attributes:
        site: "LV", "RV", "aorta" (systemic arterial compartment) or "pulmonary_artery".
        times_ms: (m,) the measured times as beat times of the model, (t − time_offset_ms) mod period_ms.
        measured_mmhg: (m,) measured pressures, mmHg.
        period_ms: the model's period (ms).
        noise_sd: mmHg, the measurement noise (default 2 mmHg).
    """

    times_ms: Float[Array, " m"]
    measured_mmhg: Float[Array, " m"]
    site: str = eqx.field(static=True, default="LV")
    period_ms: float = eqx.field(static=True, default=800.0)
    noise_sd: float = 2.0

    @classmethod
    def from_trace(
        cls,
        trace,
        site: str | None = "LV",
        *,
        period_ms: float,
        noise_sd: float = 2.0,
        time_offset_ms: float = 0.0,
        dtype=None,
    ) -> "PressureTraceLoss":
        """From a `PressureTrace` (one beat, ms and mmHg) at ``site`` (None: the trace's own ``site``) of a model
        with period ``period_ms``; its times shifted by ``time_offset_ms``."""
        src = trace.source or "PressureTrace"
        site = trace.site if site is None else site
        if site not in PRESSURE_SITES:
            known = {k.lower(): k for k in PRESSURE_SITES}
            site = known.get(str(site).lower().replace(" ", "_"), site)
        if site not in PRESSURE_SITES:
            raise CalibrationError(
                f"{src}: pressure site {site!r} is not in the model; use one of {', '.join(PRESSURE_SITES)}"
            )
        t, period_ms = _interp_trace_checks(trace.times_ms, period_ms, noise_sd, "pressure trace", src)
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(
            jnp.asarray(np.mod(t - float(time_offset_ms), period_ms), dtype),
            jnp.asarray(trace.pressures_mmhg, dtype),
            site,
            period_ms,
            float(noise_sd),
        )

    def predicted(self, prediction: CirculationCurves) -> Float[Array, " m"]:
        """The model's pressure (mmHg) at the measured times."""
        return prediction.interpolate(prediction.pressure_mmhg[self.site], self.times_ms)

    def residuals(self, prediction: CirculationCurves) -> Float[Array, " m"]:
        return self.predicted(prediction) - self.measured_mmhg

    def summary(self, prediction: CirculationCurves) -> dict:
        """RMSE and largest error at the measured times (mmHg); model − measured peak and minimum pressure (mmHg, the
        model's over the whole beat)."""
        r = np.asarray(self.residuals(prediction), np.float64)
        p = np.asarray(prediction.pressure_mmhg[self.site], np.float64)
        m = np.asarray(self.measured_mmhg, np.float64)
        return {
            **_errors(r, "mmhg"),
            "peak_error_mmhg": float(p.max() - m.max()),
            "min_error_mmhg": float(p.min() - m.min()),
        }

    def observables(self, prediction: CirculationCurves) -> TraceObservables:
        """The fitted beat's pressure at the site and the measured samples."""
        return TraceObservables(
            model_t_ms=np.asarray(prediction.times_ms),
            model_values=np.asarray(prediction.pressure_mmhg[self.site]),
            data_t_ms=np.asarray(self.times_ms),
            data_values=np.asarray(self.measured_mmhg),
            ylabel=f"{self.site} pressure (mmHg)",
        )


# ------------------------------------------------------------------------------------------------------------ cuff
class CuffPressureLoss(AbstractLoss):
    """A cuff blood pressure against the model's aortic pressure (final): residuals (mmHg) = [largest aortic pressure
    over the beat − systolic, smallest − diastolic]. (A brachial cuff reads the aortic pressure up to the
    amplification of the pulse towards the arm, a few mmHg systolic at rest; not modelled.)

    Attributes:
        measured_mmhg: (2,) systolic, diastolic.
        noise_sd: mmHg (default 5 mmHg, the spread of repeated cuff readings).
    """

    measured_mmhg: Float[Array, " 2"]
    noise_sd: float = 5.0

    @classmethod
    def from_cuff(cls, cuff, *, noise_sd: float = 5.0, dtype=None) -> "CuffPressureLoss":
        """From a `CuffPressure` (mmHg)."""
        s, d = float(cuff.systolic_mmhg), float(cuff.diastolic_mmhg)
        if not (np.isfinite(s) and np.isfinite(d) and 0 < d < s):
            raise CalibrationError(
                f"{cuff.source or 'CuffPressure'}: systolic {s:g} / diastolic {d:g} mmHg; need 0 < diastolic < systolic"
            )
        if not noise_sd > 0:
            raise CalibrationError(f"{cuff.source or 'CuffPressure'}: noise_sd must be > 0 mmHg (got {noise_sd})")
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(jnp.asarray([s, d], dtype), float(noise_sd))

    def predicted(self, prediction: CirculationCurves) -> Float[Array, " 2"]:
        """The model's aortic [systolic, diastolic] pressure, mmHg."""
        pa = prediction.pressure_mmhg["aorta"]
        return jnp.stack([jnp.max(pa), jnp.min(pa)])

    def residuals(self, prediction: CirculationCurves) -> Float[Array, " 2"]:
        return self.predicted(prediction) - self.measured_mmhg

    def summary(self, prediction: CirculationCurves) -> dict:
        """Model and measured systolic/diastolic pressures and their differences (model − measured), mmHg."""
        (ps, pd), (ms, md) = np.asarray(self.predicted(prediction), float), np.asarray(self.measured_mmhg, float)
        return {
            "systolic_model_mmhg": float(ps),
            "diastolic_model_mmhg": float(pd),
            "systolic_measured_mmhg": float(ms),
            "diastolic_measured_mmhg": float(md),
            "systolic_error_mmhg": float(ps - ms),
            "diastolic_error_mmhg": float(pd - md),
        }

    def observables(self, prediction: CirculationCurves) -> TraceObservables:
        """The fitted beat's aortic pressure with the cuff's systolic and diastolic values as references."""
        ms, md = np.asarray(self.measured_mmhg, float)
        return TraceObservables(
            model_t_ms=np.asarray(prediction.times_ms),
            model_values=np.asarray(prediction.pressure_mmhg["aorta"]),
            ylabel="aortic pressure (mmHg)",
            extra_lines={f"cuff systolic {ms:.0f} mmHg": float(ms), f"cuff diastolic {md:.0f} mmHg": float(md)},
        )

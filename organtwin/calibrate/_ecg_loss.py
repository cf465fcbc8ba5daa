"""ECG fits: the eikonal → action-potential template → 12-lead pseudo-ECG forward map, and a loss on a measured ECG.

* `EikonalECG` — activation times (ms per node) → the 12 standard leads (times, 12) mV, as
  ``twelve_leads(pseudo_ecg(L, APTemplate()(activation, times, apd)))`` but without materialising Vm (times × nodes):
  the times are taken in chunks (``jax.lax.map``), each chunk's Vm (chunk × nodes) contracted with the lead matrix at
  once and rematerialised in reverse mode (``jax.checkpoint``). Forward-mode Jacobians vmap every tangent through the
  map, so the peak is (parameters × chunk × nodes), not (parameters × times × nodes): 10 parameters on a 50k-node mesh
  with 500 time steps would otherwise hold 2 GB per intermediate.
* `ECGLoss` — model minus measured at the measured samples in a window, after profiling out two nuisances that a
  measured ECG never pins down: a global time shift (the record's clock against the model's stimulus time) and one
  positive gain per lead (electrode placement, torso attenuation, an infinite-medium pseudo-ECG's amplitude).
* `add_noise` — white Gaussian noise at a given SNR, for synthetic data.

Soft-DTW (or any elastic time warping) is not implemented: for QRS-morphology fits the model and the measurement
differ mainly by when the QRS starts (the clock) and by how large each lead is (geometry and conductivity of the torso),
which a shift and per-lead gains absorb; the shape within the QRS — durations, the order and timing of the deflections —
is what carries the information about conduction velocities and sites, and a warping would absorb exactly that.
"""

from __future__ import annotations

import math
import warnings

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._errors import MeshWarning
from ..ecg import ELECTRODE_NAMES, LEAD_NAMES, electrodes_for_mesh, pseudo_ecg_matrix, twelve_leads
from ..ep import APTemplate
from ._data import MeasuredECG, normalise_lead_name
from ._fit import AbstractLoss
from ._observables import ECGObservables
from ._params import CalibrationError

__all__ = ["ECGLoss", "EikonalECG", "add_noise"]


# ------------------------------------------------------------------------------------------------------ forward map
class EikonalECG(eqx.Module):
    """Activation times → 12-lead ECG (final): ``ecg(activation_ms)`` -> (times, 12) mV in the order of
    `organtwin.ecg.LEAD_NAMES`.

    Attributes:
        lead_matrix: (9, nodes) the pseudo-ECG lead matrix of the electrodes `ELECTRODE_NAMES` (mV per mV of Vm).
        times_ms: (times,) the model's sample times, ms (uniform steps for `ECGLoss`).
        template: the action-potential shape (`organtwin.ep.APTemplate`).
        apd_ms: action-potential duration, ms: a scalar, (nodes,), or (regions,) with ``node_region``; a floating
            leaf, so ``"apd_ms"`` (or ``"apd_ms[r]"``, region r's APD) can be freed.
        node_region: (nodes,) index into a per-region ``apd_ms`` (the region of a tet holding the node, in the order of
            the mesh's sorted region ids), or None.
        chunk: time steps per chunk (static): peak memory ∝ chunk × nodes (× tangents in forward mode).

    Differentiable (``jax.grad``, ``jax.jvp``) w.r.t. the activation times and every floating field.

    On a coarse mesh (neighbouring nodes activating many ms apart) the default 0.5 ms upstroke makes the ECG a
    staircase whose misfit grows like |Δparameter| rather than its square, which stalls Gauss–Newton; widen the
    upstroke (``APTemplate(tau_up=...)`` ≈ half the nodes' activation spacing, e.g. 4 ms on a 6 mm mesh).
    """

    lead_matrix: Float[Array, "9 nodes"]
    times_ms: Float[Array, " times"]
    template: APTemplate
    apd_ms: Array = eqx.field(converter=jnp.asarray)
    chunk: int = eqx.field(static=True, default=16)
    node_region: Int[Array, " nodes"] | None = None

    def __check_init__(self):
        if self.lead_matrix.ndim != 2 or self.lead_matrix.shape[0] != len(ELECTRODE_NAMES):
            raise CalibrationError(
                f"EikonalECG: lead_matrix of shape {tuple(self.lead_matrix.shape)}; expected "
                f"({len(ELECTRODE_NAMES)}, nodes) for the electrodes {', '.join(ELECTRODE_NAMES)}"
            )
        if self.times_ms.ndim != 1 or self.times_ms.shape[0] < 2:
            raise CalibrationError(
                f"EikonalECG: times_ms of shape {tuple(self.times_ms.shape)}; give at least 2 sample times (ms)"
            )
        if not self.chunk >= 1:
            raise CalibrationError(f"EikonalECG: chunk must be a positive number of time steps, got {self.chunk}")

    @classmethod
    def from_mesh(
        cls,
        mesh,
        times_ms,
        *,
        sigma_i=0.2,
        sigma_b: float = 0.7,
        electrodes=None,
        template: APTemplate | None = None,
        apd_ms=280.0,
        chunk: int = 16,
        dtype=None,
    ) -> "EikonalECG":
        """The forward map on ``mesh`` (the same nodes as its `EikonalTissue`) at ``times_ms`` (ms).

        ``sigma_i`` (S/m: scalar, per cell or per-cell tensors) and ``sigma_b`` (S/m) as `pseudo_ecg_matrix`;
        ``electrodes``: ``{name: xyz}`` with the nine `ELECTRODE_NAMES`, or a (9, 3) array in that order, mm (default
        `electrodes_for_mesh`, which needs LV/RV regions and a 'base' surface); ``template`` default `APTemplate()`;
        ``apd_ms`` a scalar, per node, or per region ``{region_id: ms}`` (every region of the mesh: then
        ``apd_ms[r]`` is the r-th region's in sorted id order, a parameter to free); ``dtype`` default JAX's
        default float."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        if electrodes is None:
            try:
                electrodes = electrodes_for_mesh(mesh)
            except ValueError as e:
                raise CalibrationError(f"EikonalECG.from_mesh: {e}") from None
        if isinstance(electrodes, dict):
            missing = [n for n in ELECTRODE_NAMES if n not in electrodes]
            if missing:
                raise CalibrationError(
                    f"EikonalECG.from_mesh: electrodes lack {', '.join(missing)}; give all of "
                    f"{', '.join(ELECTRODE_NAMES)}"
                )
            electrodes = np.stack([np.asarray(electrodes[n], float) for n in ELECTRODE_NAMES])
        xe = np.asarray(electrodes, float)
        if xe.shape != (len(ELECTRODE_NAMES), 3):
            raise CalibrationError(
                f"EikonalECG.from_mesh: electrodes of shape {xe.shape}; expected "
                f"({len(ELECTRODE_NAMES)}, 3) mm in the order {', '.join(ELECTRODE_NAMES)}"
            )
        t = np.asarray(times_ms, float)
        if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or not np.all(np.diff(t) > 0):
            raise CalibrationError("EikonalECG.from_mesh: times_ms must be at least 2 finite, increasing times (ms)")
        L = pseudo_ecg_matrix(
            jnp.asarray(mesh.points, dtype), jnp.asarray(mesh.tets), sigma_i, jnp.asarray(xe, dtype), sigma_b
        )
        node_region = None
        if isinstance(apd_ms, dict):
            ids = [int(r) for r in np.asarray(mesh.region_ids).tolist()]
            missing = [r for r in ids if r not in apd_ms]
            if missing or set(apd_ms) - set(ids):
                raise CalibrationError(
                    f"EikonalECG.from_mesh: apd_ms per region needs exactly the mesh's regions "
                    f"{ids} (got {sorted(apd_ms)})"
                )
            apd = jnp.asarray([float(apd_ms[r]) for r in ids], dtype)
            index = {r: i for i, r in enumerate(ids)}
            cell = np.asarray([index[int(r)] for r in np.asarray(mesh.regions)], np.int32)
            nr = np.zeros(mesh.n_nodes, np.int32)
            for k in range(4):
                nr[np.asarray(mesh.tets)[:, k]] = cell
            node_region = jnp.asarray(nr)
        else:
            apd = jnp.asarray(apd_ms, dtype)
            if apd.ndim not in (0, 1) or (apd.ndim == 1 and apd.shape[0] != mesh.n_nodes):
                raise CalibrationError(
                    f"EikonalECG.from_mesh: apd_ms of shape {tuple(apd.shape)}; give a scalar, one "
                    f"value per node ({mesh.n_nodes},) or {{region id: ms}}"
                )
        return cls(
            L, jnp.asarray(t, dtype), APTemplate() if template is None else template, apd, int(chunk), node_region
        )

    def apd_per_node(self) -> Array:
        """The APD (ms) the template uses: per node (or the scalar)."""
        return self.apd_ms if self.node_region is None else self.apd_ms[self.node_region]

    @property
    def dt_ms(self) -> float:
        """The (median) model time step, ms."""
        return float(np.median(np.diff(np.asarray(self.times_ms))))

    def electrodes(self, activation_ms: Float[Array, " nodes"]) -> Float[Array, "times 9"]:
        """The nine electrode potentials (times, 9) mV."""
        act = jnp.asarray(activation_ms)
        dtype = jnp.result_type(act, self.lead_matrix)
        act = act.astype(dtype)
        L = self.lead_matrix.astype(dtype)
        t = self.times_ms.astype(dtype)
        n = t.shape[0]
        c = min(self.chunk, n)
        n_chunks = -(-n // c)
        padded = jnp.concatenate([t, jnp.broadcast_to(t[-1], (n_chunks * c - n,))]).reshape(n_chunks, c)

        apd = self.apd_per_node()

        @jax.checkpoint
        def one(tc):
            return self.template(act, tc, apd) @ L.T  # (c, nodes) @ (nodes, 9)

        return jax.lax.map(one, padded).reshape(n_chunks * c, L.shape[0])[:n]

    def __call__(self, activation_ms: Float[Array, " nodes"]) -> Float[Array, "times 12"]:
        return twelve_leads(self.electrodes(activation_ms))

    def synthetic(self, activation_ms, *, source: str = "synthetic") -> MeasuredECG:
        """The model's ECG as a `MeasuredECG` (host, float64) sampled at ``times_ms`` (uniform steps), all 12 leads:
        synthetic data for tests and case studies (see `add_noise`)."""
        sig = np.asarray(self(activation_ms), np.float64)
        t = np.asarray(self.times_ms, np.float64)
        dt = float(np.median(np.diff(t)))
        if not np.allclose(np.diff(t), dt, rtol=1e-6, atol=1e-9):
            raise CalibrationError(
                "EikonalECG.synthetic: times_ms are not uniformly spaced; a MeasuredECG is sampled at a fixed rate"
            )
        return MeasuredECG(LEAD_NAMES, sig, 1000.0 / dt, float(t[0]), source)


# ------------------------------------------------------------------------------------------------------------ noise
def add_noise(ecg: MeasuredECG, snr_db: float, seed: int = 0) -> MeasuredECG:
    """``ecg`` plus white Gaussian noise, independent per lead and sample, reproducible by ``seed``.

    The SNR is a power ratio of signal to noise: each lead's noise SD is RMS(lead) / 10**(snr_db / 20), the RMS taken
    over the whole record about zero (20 dB: the noise SD is a tenth of the lead's RMS)."""
    snr = float(snr_db)
    if not math.isfinite(snr):
        raise CalibrationError(f"add_noise: snr_db must be a finite number of dB, got {snr_db}")
    sig = np.asarray(ecg.signals, np.float64)
    sd = np.sqrt(np.mean(sig**2, axis=0)) / 10.0 ** (snr / 20.0)
    noisy = sig + np.random.default_rng(seed).normal(size=sig.shape) * sd[None, :]
    return MeasuredECG(
        ecg.leads, noisy, ecg.sampling_rate_hz, ecg.t0_ms, f"{ecg.source or 'ECG'} + noise at {snr:g} dB"
    )


def estimate_noise_sd(signals: np.ndarray) -> np.ndarray:
    """Per-lead white-noise SD (mV) of a record (samples, leads): 1.4826 · MAD(second difference) / √6. A second
    difference of white noise of SD σ has SD √6 σ; the median ignores the minority of samples where the signal itself
    curves (the QRS), so a smooth signal's own shape barely enters. Floored at 1 µV (ECG quantisation)."""
    x = np.asarray(signals, np.float64)
    d2 = x[2:] - 2.0 * x[1:-1] + x[:-2] if x.shape[0] >= 3 else np.zeros((1, x.shape[1]))
    mad = np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0)
    return np.maximum(1.4826 * mad / np.sqrt(6.0), 1e-3)


# ------------------------------------------------------------------------------------------------------------- loss
_PRECORDIAL = tuple(n for n in LEAD_NAMES if n.startswith("V"))


def _usable_leads(src: str, measured: MeasuredECG, names: list[str], inside, *, explicit: bool, noise_sd):
    """The fitted leads that carry a signal in the window. A flat lead (constant, e.g. a placeholder column of zeros
    or a lead off) is dropped with a warning when the leads were not chosen (an error when ``leads=`` named it); when
    every lead is flat they are kept with a warning (a placeholder record, e.g. to build a problem that makes
    synthetic data; `organtwin.io.run_calibration` refuses to fit it). Without any precordial lead (V1-V6) a
    warning says what that costs: the limb leads see only the frontal plane."""
    sig = np.asarray(measured.signals, np.float64)[inside]
    flat = [n for n in names if np.ptp(sig[:, measured.leads.index(n)]) == 0.0]
    if flat and explicit:
        raise CalibrationError(
            f"{src}: lead {flat[0]} is flat over the window (constant "
            f"{sig[0, measured.leads.index(flat[0])]:g} mV): it carries no signal; leave it out "
            "of leads"
        )
    if flat and len(flat) == len(names):  # kept (a placeholder record to build a problem with); a fit refuses it
        warnings.warn(
            f"{src}: every lead ({', '.join(names)}) is flat over the window (constant): there is no signal to fit",
            MeshWarning,
            stacklevel=4,
        )
        return names, noise_sd
    if flat:
        keep = [n not in flat for n in names]
        if noise_sd is not None and np.ndim(noise_sd) == 1 and np.size(noise_sd) == len(names):
            noise_sd = np.asarray(noise_sd)[keep]
        names = [n for n, k in zip(names, keep) if k]
        warnings.warn(
            f"{src}: {len(flat)} flat lead(s) ({', '.join(flat)}: constant over the window, no signal) "
            f"left out of the fit; fitting {', '.join(names)}",
            MeshWarning,
            stacklevel=4,
        )
    if not any(n in _PRECORDIAL for n in names):
        absent = [n for n in _PRECORDIAL if n not in measured.leads]
        why = (
            f"{', '.join(absent)} missing from the record"
            if absent
            else "leads= leaves out V1-V6"
            if explicit
            else "V1-V6 flat"
        )
        warnings.warn(
            f"{src}: no precordial lead fitted ({why}; fitting {', '.join(names)} only): the limb leads see "
            "only the frontal plane (all six are combinations of two signals, I and II), so activation "
            "differences front to back (anterior vs posterior walls, a site's depth along that axis) are "
            "weakly identified: check the report's flat directions and SDs, or add V1-V6",
            MeshWarning,
            stacklevel=4,
        )
    return names, noise_sd


class ECGLoss(AbstractLoss):
    """Model minus measured 12-lead ECG (mV) at the measured samples in a window, after a fitted global time shift and
    per-lead gains (final). Build it with `ECGLoss.from_measured`.

    ``residuals(prediction)``: ``prediction`` is the model ECG (model times, 12) of an `EikonalECG` (leads in the
    order `LEAD_NAMES`); residual = gain_l · model_l(t − s) − measured_l(t) for the measured times t in the window
    (model interpolated linearly with ``jnp.interp``; constant beyond the model's first and last time), raveled lead
    by lead: (leads × samples,) mV.

    The nuisances, profiled out inside ``residuals`` (no free parameters needed):

    * shift s (ms): the least squared misfit (with the gains refitted) over candidate shifts every model time step in
      ±``max_shift_ms`` and a parabola through the best candidate and its neighbours, under
      ``jax.lax.stop_gradient``; then (``refine_shift``) one Gauss–Newton step on the continuous shift, differentiable
      in the prediction. So derivatives see the shift re-adapt (variable projection; with the shift held fixed, a
      Levenberg–Marquardt fit of velocities crawled: a change of timing that the shift would absorb looked like a
      misfit to remove). Because of this shift a site's onset time is not identifiable from the ECG (it moves the
      whole ECG, as s does): do not free it.
    * gains g_l: closed-form least squares ⟨m_l, p_l⟩ / ⟨p_l, p_l⟩ at the chosen shift, clipped to ``gain_range``
      (positive: an inverted lead is a model error, not a gain); differentiable in the prediction (variable projection).

    Attributes:
        measured: (leads, samples) mV in the window.
        measured_times_ms: (samples,) the window's sample times in the measured record's clock, ms.
        model_times_ms: (times,) the model's times (the same clock; give the measured record's ``t0_ms`` accordingly).
        shifts_ms: (candidates,) the shift grid.
        lead_index: indices of the fitted leads in `LEAD_NAMES` (static); ``leads`` their names (static).
        noise_sd: mV, a float or (leads × samples,) (each lead's SD repeated along its samples).
        lead_noise_sd: (leads,) mV, each lead's noise SD (host diagnostics).
    """

    measured: Float[Array, "leads samples"]
    measured_times_ms: Float[Array, " samples"]
    model_times_ms: Float[Array, " times"]
    shifts_ms: Float[Array, " candidates"]
    lead_index: tuple[int, ...] = eqx.field(static=True)
    leads: tuple[str, ...] = eqx.field(static=True)
    fit_gains: bool = eqx.field(static=True)
    gain_range: tuple[float, float] = eqx.field(static=True)
    refine_shift: bool = eqx.field(static=True)
    lead_noise_sd: tuple[float, ...] = eqx.field(static=True)
    noise_sd: Array | float = 1.0
    source: str = eqx.field(static=True, default="")

    @classmethod
    def from_measured(
        cls,
        measured: MeasuredECG,
        model_times_ms,
        *,
        window_ms=None,
        leads=None,
        max_shift_ms: float = 30.0,
        fit_gains: bool = True,
        gain_range=(0.1, 10.0),
        refine_shift: bool = True,
        noise_sd=None,
        dtype=None,
    ) -> "ECGLoss":
        """A loss on ``measured`` for model ECGs sampled at ``model_times_ms`` (uniform steps, ms, the measured
        record's clock to within ``max_shift_ms``).

        Args:
            window_ms: (t0, t1) ms in the measured record's clock (e.g. the QRS); default the whole record.
            leads: names of the leads to fit (default every standard lead the record has).
            max_shift_ms: the shift search's half-width, ms (0: no shift).
            fit_gains: fit one positive gain per lead (else gain 1).
            gain_range: (lowest, highest) gain.
            refine_shift: sub-step (parabolic) refinement of the best grid shift.
            noise_sd: mV; a float for every lead, a sequence (one per lead), or None: estimated per lead from the whole
                record (`estimate_noise_sd`: robust white-noise SD from second differences, floored at 1 µV).
            dtype: default JAX's default float.
        """
        src = measured.source or "measured ECG"
        dtype = jnp.result_type(float) if dtype is None else dtype
        present = [n for n in measured.leads if n in LEAD_NAMES]
        if leads is None:
            names = [n for n in LEAD_NAMES if n in present]
            if not names:
                raise CalibrationError(
                    f"{src}: none of its leads ({', '.join(measured.leads)}) is a standard lead "
                    f"({', '.join(LEAD_NAMES)}); rename them or pass leads="
                )
        else:
            names = [normalise_lead_name(n) for n in leads]
            bad = [n for n in names if n not in LEAD_NAMES]
            if bad:
                raise CalibrationError(
                    f"{src}: lead {bad[0]!r} is not one of the model's leads ({', '.join(LEAD_NAMES)})"
                )
            absent = [n for n in names if n not in measured.leads]
            if absent:
                raise CalibrationError(
                    f"{src}: no lead {absent[0]} in the record (it has "
                    f"{', '.join(measured.leads)}); fit only leads it has"
                )
            if not names or len(set(names)) != len(names):
                raise CalibrationError(f"{src}: leads= must name each fitted lead once, got {list(leads)}")
        tm = np.asarray(model_times_ms, np.float64)
        if tm.ndim != 1 or tm.size < 2 or not np.all(np.isfinite(tm)):
            raise CalibrationError(f"{src}: model_times_ms must be at least 2 finite times (ms)")
        steps = np.diff(tm)
        dt = float(np.median(steps))
        if not (dt > 0 and np.allclose(steps, dt, rtol=1e-6, atol=1e-9)):
            raise CalibrationError(
                f"{src}: model_times_ms must be increasing in uniform steps (the shift grid steps by one model step)"
            )
        t = measured.times_ms
        if window_ms is None:
            lo, hi = float(t[0]), float(t[-1])
        else:
            lo, hi = (float(v) for v in window_ms)
            if not lo < hi:
                raise CalibrationError(
                    f"{src}: window_ms ({lo:g}, {hi:g}) is empty; give (start, end) ms with start < end"
                )
        inside = (t >= lo) & (t <= hi)
        if inside.sum() < 2:
            raise CalibrationError(
                f"{src}: window {lo:g}-{hi:g} ms holds {int(inside.sum())} samples of the record "
                f"({t[0]:g}-{t[-1]:g} ms); give a window inside the record"
            )
        ms = float(max_shift_ms)
        if not (math.isfinite(ms) and ms >= 0):
            raise CalibrationError(f"{src}: max_shift_ms must be >= 0 ms, got {max_shift_ms}")
        tw = t[inside]
        if tw[-1] + ms < tm[0] or tw[0] - ms > tm[-1]:
            raise CalibrationError(
                f"{src}: window {tw[0]:g}-{tw[-1]:g} ms does not overlap the model's times "
                f"{tm[0]:g}-{tm[-1]:g} ms even shifted by ±{ms:g} ms; put the record and the model "
                "on one clock (MeasuredECG t0_ms)"
            )
        g_lo, g_hi = (float(v) for v in gain_range)
        if not 0 < g_lo <= g_hi:
            raise CalibrationError(f"{src}: gain_range ({g_lo:g}, {g_hi:g}) must be positive and increasing")
        k = math.floor(ms / dt + 1e-9)
        shifts = np.arange(-k, k + 1) * dt
        names, noise_sd = _usable_leads(src, measured, names, inside, explicit=leads is not None, noise_sd=noise_sd)
        cols = [measured.leads.index(n) for n in names]
        m = np.asarray(measured.signals, np.float64)[inside][:, cols].T  # (leads, samples)
        if noise_sd is None:
            lead_sd = estimate_noise_sd(np.asarray(measured.signals, np.float64)[:, cols])
        else:
            lead_sd = (
                np.broadcast_to(np.asarray(noise_sd, np.float64), (len(names),)).copy()
                if np.ndim(noise_sd) <= 1 and np.size(noise_sd) in (1, len(names))
                else None
            )
            if lead_sd is None or not np.all(lead_sd > 0) or not np.all(np.isfinite(lead_sd)):
                raise CalibrationError(
                    f"{src}: noise_sd must be a positive mV value or one per fitted lead ({len(names)}), got {noise_sd}"
                )
        sd = float(lead_sd[0]) if np.all(lead_sd == lead_sd[0]) else jnp.asarray(np.repeat(lead_sd, m.shape[1]), dtype)
        return cls(
            jnp.asarray(m, dtype),
            jnp.asarray(tw, dtype),
            jnp.asarray(tm, dtype),
            jnp.asarray(shifts, dtype),
            tuple(LEAD_NAMES.index(n) for n in names),
            tuple(names),
            bool(fit_gains),
            (g_lo, g_hi),
            bool(refine_shift),
            tuple(float(v) for v in lead_sd),
            sd,
            measured.source,
        )

    # ----------------------------------------------------------------------------------------------- internals
    def _check(self, prediction):
        p = jnp.asarray(prediction)
        if p.ndim != 2 or p.shape != (self.model_times_ms.shape[0], len(LEAD_NAMES)):
            raise CalibrationError(
                f"ECGLoss: prediction of shape {tuple(p.shape)}; expected "
                f"({self.model_times_ms.shape[0]}, {len(LEAD_NAMES)}) (model times, leads in the "
                "order of LEAD_NAMES), as EikonalECG gives"
            )
        # A prediction given now is checked now; a traced one (inside a fit) reaches the optimiser, whose outcome
        # (`RESULTS`) reports a non-finite loss.
        if not isinstance(p, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(p))):
            s, c = np.argwhere(~np.isfinite(np.asarray(p)))[0]
            raise CalibrationError(
                f"ECGLoss: the model ECG is not finite (lead {LEAD_NAMES[c]}, model time "
                f"{float(self.model_times_ms[s]):g} ms); check the model's parameters"
            )
        return p[:, jnp.asarray(self.lead_index)].T.astype(self.measured.dtype)  # (leads, times)

    def _sample(self, p, shift):
        """The model leads p (leads, times) at the measured times − shift: (leads, samples)."""
        t = self.measured_times_ms - shift
        return jax.vmap(lambda y: jnp.interp(t, self.model_times_ms, y))(p)

    def _gains(self, q):
        if not self.fit_gains:
            return jnp.ones(q.shape[0], q.dtype)
        num = jnp.sum(q * self.measured, axis=1)
        den = jnp.sum(q * q, axis=1)
        safe = den > 0
        g = jnp.where(safe, num / jnp.where(safe, den, 1.0), 1.0)
        return jnp.clip(g, *self.gain_range)

    def _misfit(self, p, shift):
        q = self._sample(p, shift)
        g = self._gains(q)
        return jnp.sum(jnp.square(g[:, None] * q - self.measured))

    def _shift(self, p):
        p = jax.lax.stop_gradient(p)
        e = jax.vmap(lambda s: self._misfit(p, s))(self.shifts_ms)
        n = self.shifts_ms.shape[0]
        k = jnp.argmin(e)
        s = self.shifts_ms[k]
        if self.refine_shift and n >= 3:
            km, kp = jnp.clip(k - 1, 0, n - 1), jnp.clip(k + 1, 0, n - 1)
            em, e0, ep = e[km], e[k], e[kp]
            curv = em - 2.0 * e0 + ep
            interior = (k > 0) & (k < n - 1) & (curv > 0)
            delta = jnp.where(interior, 0.5 * (em - ep) / jnp.where(interior, curv, 1.0), 0.0)
            dt = self.shifts_ms[1] - self.shifts_ms[0]
            s = s + jnp.clip(delta, -0.5, 0.5) * dt
        return jax.lax.stop_gradient(s)

    def _aligned(self, prediction):
        p = self._check(prediction)
        s = self._shift(p)
        if self.refine_shift and self.shifts_ms.shape[0] >= 2:
            s = s + self._gauss_newton_shift(p, s)
        q = self._sample(p, s)
        g = self._gains(q)
        return s, g, g[:, None] * q

    def _gauss_newton_shift(self, p, s0):
        """One Gauss–Newton step on the continuous shift from ``s0`` (gains held at their value at s0), differentiable
        in ``p``: the derivative of the shift w.r.t. the model is then the variable-projection one, −⟨J_s, ∂r⟩/|J_s|²,
        so a Jacobian sees the shift re-adapt to a change of the model (a timing change the shift absorbs is not
        mistaken for a misfit the parameters must remove). Clipped to one model step."""
        q0, dq = jax.jvp(lambda s: self._sample(p, s), (s0,), (jnp.ones_like(s0),))
        g0 = self._gains(q0)
        r0 = g0[:, None] * q0 - self.measured
        js = g0[:, None] * dq
        den = jnp.sum(js * js)
        ok = den > 0
        delta = jnp.where(ok, -jnp.sum(js * r0) / jnp.where(ok, den, 1.0), 0.0)
        dt = self.shifts_ms[1] - self.shifts_ms[0]
        return jnp.clip(delta, -dt, dt)

    # ---------------------------------------------------------------------------------------------------- API
    def residuals(self, prediction: Float[Array, "times 12"]) -> Float[Array, " n"]:
        _, _, fitted = self._aligned(prediction)
        return jnp.ravel(fitted - self.measured)

    def nuisance(self, prediction) -> tuple[Array, Array]:
        """(shift ms, gains (leads,)) fitted for ``prediction``: the model is compared at measured time t with its
        value at t − shift."""
        s, g, _ = self._aligned(prediction)
        return s, g

    def summary(self, prediction) -> dict:
        """Host figures (JSON-serialisable) of the aligned fit: ``{"correlation": {lead: Pearson r of fitted vs
        measured}, "min_correlation", "shift_ms", "gains": {lead: g}, "rmse_mv", "leads", "samples",
        "noise_sd_mv": {lead: sd}}``."""
        s, g, fitted = self._aligned(prediction)
        f = np.asarray(fitted, np.float64)
        m = np.asarray(self.measured, np.float64)
        fc, mc = f - f.mean(axis=1, keepdims=True), m - m.mean(axis=1, keepdims=True)
        den = np.sqrt(np.sum(fc**2, axis=1) * np.sum(mc**2, axis=1))
        r = np.where(den > 0, np.sum(fc * mc, axis=1) / np.where(den > 0, den, 1.0), 0.0)
        return {
            "correlation": {n: float(v) for n, v in zip(self.leads, r)},
            "min_correlation": float(np.min(r)),
            "shift_ms": float(s),
            "gains": {n: float(v) for n, v in zip(self.leads, np.asarray(g))},
            "rmse_mv": float(np.sqrt(np.mean((f - m) ** 2))),
            "leads": list(self.leads),
            "samples": int(m.shape[1]),
            "noise_sd_mv": {n: float(v) for n, v in zip(self.leads, self.lead_noise_sd)},
        }

    def observables(self, prediction) -> ECGObservables:
        """What the report's picture draws: measured and aligned fitted leads over the window, with correlations."""
        fitted = np.asarray(self._aligned(prediction)[2], np.float64)
        return ECGObservables(
            times_ms=np.asarray(self.measured_times_ms),
            measured=np.asarray(self.measured).T,
            fitted=fitted.T,
            leads=list(self.leads),
            correlations=self.summary(prediction)["correlation"],
        )

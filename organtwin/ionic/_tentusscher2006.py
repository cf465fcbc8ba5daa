"""ten Tusscher & Panfilov 2006 human ventricular myocyte model (19 state variables)."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractIonicModel, check_nonnegative, check_positive, param

__all__ = ["TenTusscher2006"]

_STATE_NAMES = (
    # gates (Rush–Larsen)
    "m", "h", "j", "xr1", "xr2", "xs", "r", "s", "d", "f", "f2", "fcass",
    # forward Euler
    "Rbar", "Ca_i", "Ca_SR", "Ca_ss", "Na_i", "K_i",
)  # fmt: skip

# Initial states of the three cell types (V first, then _STATE_NAMES), as in the CellML versions of ten Tusscher &
# Panfilov 2006 on the Physiome Model Repository (models.physiomeproject.org, exposure 80d / workspace 604; checked
# against the gotran conversions in fenics-beat, odes/tentusscher_panfilov_2006/*.ode, and myokit's tentusscher-2006.mmt).
# The epicardial values are those of the Niederer et al. 2011 benchmark (V -85.23 mV, Na_i 8.604, K_i 136.89, Ca_i
# 1.26e-4, Ca_SR 3.64 mM). They are states from the authors' 1 Hz pacing, not an exact 1 Hz steady state (Na_i still
# creeps up under pacing: APD90 of the epicardial cell 290 ms on the first beat, 305 ms after 20 beats).
_INITIAL = {
    "epi": (-85.23, 0.00172, 0.7444, 0.7045, 0.00621, 0.4712, 0.0095, 2.42e-8, 0.999998, 3.373e-5, 0.7888, 0.9755,
            0.9953, 0.9073, 0.000126, 3.64, 0.00036, 8.604, 136.89),
    "endo": (-86.709, 0.00155, 0.7573, 0.7225, 0.00448, 0.476, 0.0087, 2.235e-8, 0.3212, 3.164e-5, 0.8009, 0.9778,
             0.9953, 0.9068, 0.00013, 3.715, 0.00036, 10.355, 138.4),
    "mid": (-85.423, 0.00165, 0.749, 0.6788, 0.0165, 0.473, 0.0174, 2.347e-8, 0.999998, 3.288e-5, 0.7026, 0.9526,
            0.9942, 0.8978, 0.000153, 4.272, 0.00042, 10.132, 138.52),
}  # fmt: skip

# Cell-type differences (ten Tusscher & Panfilov 2006, Table 1 and the I_to description, taken over from ten Tusscher
# et al. 2004): G_Ks, G_to and the s-gate (I_to inactivation) kinetics.
_S_GATE_EPI = dict(s_inf_vhalf=-20.0, tau_s_gauss_amp=85.0, tau_s_gauss_centre=-45.0, tau_s_gauss_width=320.0,
                   tau_s_sig_amp=5.0, tau_s_sig_vhalf=20.0, tau_s_sig_slope=5.0, tau_s_min=3.0)  # fmt: skip
_S_GATE_ENDO = dict(s_inf_vhalf=-28.0, tau_s_gauss_amp=1000.0, tau_s_gauss_centre=-67.0, tau_s_gauss_width=1000.0,
                    tau_s_sig_amp=0.0, tau_s_sig_vhalf=20.0, tau_s_sig_slope=5.0, tau_s_min=8.0)  # fmt: skip


def _x_over_expm1(x):
    """x / (exp(x) - 1), smooth through x = 0 (value 1 - x/2 there), safe for gradients."""
    small = jnp.abs(x) < 1e-4
    xs = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, 1.0 - 0.5 * x, xs / jnp.expm1(xs))


class TenTusscher2006(AbstractIonicModel):
    r"""ten Tusscher & Panfilov (2006), "Alternans and spiral breakup in a human ventricular tissue model",
    Am J Physiol Heart Circ Physiol 291:H1088–H1100 (with the formulation of ten Tusscher, Noble, Noble & Panfilov 2004,
    Am J Physiol 286:H1573, for the currents it keeps).

    Membrane: ``dV/dt = -(I_Na + I_K1 + I_to + I_Kr + I_Ks + I_CaL + I_NaCa + I_NaK + I_pCa + I_pK + I_bCa + I_bNa)
    + Istim`` with currents in pA/pF (= µA/µF). Calcium: cytosol, SR and dyadic subspace with instantaneous buffering
    (the buffering-factor form of the CellML version, integrated by forward Euler), the four-state RyR reduced to the
    R̄ (``Rbar``) variable with SR-load-dependent ``k1 = k1'/k_casr``, ``k2 = k2' k_casr``. Na_i and K_i are dynamic;
    the stimulus current is carried by K+ (as in the authors' code and the CellML), so pass the stimulus to
    :meth:`derivatives` / :func:`reaction_step`.

    Equations and constants follow the paper as transcribed in the CellML versions (Physiome Model Repository, exposure
    80d), checked term by term against their gotran (fenics-beat) and myokit (tentusscher-2006.mmt) conversions. Two
    places where the authors' own C code (tbb.bio.uu.nl/khwjtuss/SourceCodes, as mirrored e.g. in DGWhittaker's
    TNNP.cpp) differs from the paper/CellML, and which we do *not* follow:

    * f2 gate: the code has ``tau_f2 = 600 exp(-(V+25)²/170) + 31/(1+exp((25-V)/10)) + 16/(1+exp((V+30)/10))``; the
      CellML transcription of the paper (used here) ``562 exp(-(V+27)²/240) + 31/(1+exp((25-V)/10))
      + 80/(1+exp((V+30)/10))``;
    * I_K1: the CellML scales g_K1 by sqrt(K_o/5.4) like I_Kr; the code does not (identical at the default K_o =
      5.4 mM).

    The code's R = 8314.472 mJ/(mol K), F = 96485.3415 C/mol are used (the CellML's 8.314, 96.485 give RT/F within
    0.01 %).

    Defaults are the published values (Table 1 of the 2006 paper; the epicardial cell with the standard restitution
    slope: G_Kr 0.153, G_Ks 0.392, G_pCa 0.1238, G_pK 0.0146). Presets: :meth:`epicardial`, :meth:`endocardial`,
    :meth:`midmyocardial` (differ in G_Ks, G_to, the s-gate kinetics and the initial state). The epicardial initial
    state is that of the Niederer et al. 2011 benchmark.

    States (18, after V): gates m, h, j, xr1, xr2, xs, r, s, d, f, f2, fcass (Rush–Larsen), then Rbar, Ca_i, Ca_SR,
    Ca_ss, Na_i, K_i (mM; forward Euler).

    Units: conductances in nS/pF, g_CaL in cm³ µF⁻¹ s⁻¹ (CellML: 0.0398 L F⁻¹ s⁻¹), P_NaK and k_NaCa in pA/pF,
    concentrations mM. Cm = 0.185 and the volumes V_c, V_sr, V_ss = 0.016404, 0.001094, 5.468e-5 are the numbers of the
    authors' code (the paper/CellML: 185 pF and 16404, 1094, 54.68 µm³); they enter only as Cm / (V F) (1.1689e-4 mM/ms
    per pA/pF either way) and as volume ratios.
    """

    # physical constants
    R: Array = param(8314.472, doc="gas constant, J/(kmol K)")
    T: Array = param(310.0, doc="temperature, K")
    F: Array = param(96485.3415, doc="Faraday constant, C/mol")
    Cm: Array = param(0.185, doc="cell capacitance (authors' code; paper 185 pF)")
    V_c: Array = param(0.016404, doc="cytoplasmic volume (authors' code; paper 16404 µm³)")
    V_sr: Array = param(0.001094, doc="SR volume (authors' code; paper 1094 µm³)")
    V_ss: Array = param(0.00005468, doc="subspace volume (authors' code; paper 54.68 µm³)")
    # extracellular concentrations
    K_o: Array = param(5.4, doc="mM")
    Na_o: Array = param(140.0, doc="mM")
    Ca_o: Array = param(2.0, doc="mM")
    # conductances and currents
    g_Na: Array = param(14.838, doc="nS/pF")
    g_K1: Array = param(5.405, doc="nS/pF")
    g_to: Array = param(0.294, doc="nS/pF (epi, M; endo 0.073)")
    g_Kr: Array = param(0.153, doc="nS/pF")
    g_Ks: Array = param(0.392, doc="nS/pF (epi, endo; M 0.098)")
    p_KNa: Array = param(0.03, doc="relative I_Ks permeability to Na+")
    g_CaL: Array = param(3.98e-5, doc="cm^3 uF^-1 s^-1")
    g_bNa: Array = param(0.00029, doc="nS/pF")
    g_bCa: Array = param(0.000592, doc="nS/pF")
    g_pCa: Array = param(0.1238, doc="pA/pF")
    K_pCa: Array = param(0.0005, doc="mM")
    g_pK: Array = param(0.0146, doc="nS/pF")
    P_NaK: Array = param(2.724, doc="pA/pF")
    K_mK: Array = param(1.0, doc="mM")
    K_mNa: Array = param(40.0, doc="mM")
    k_NaCa: Array = param(1000.0, doc="pA/pF")
    gamma: Array = param(0.35, doc="NCX voltage-dependence parameter")
    K_mCa: Array = param(1.38, doc="mM")
    K_mNai: Array = param(87.5, doc="mM")
    k_sat: Array = param(0.1, doc="NCX saturation factor")
    alpha: Array = param(2.5, doc="NCX factor enhancing outward mode")
    # calcium dynamics
    Buf_c: Array = param(0.2, doc="mM")
    K_buf_c: Array = param(0.001, doc="mM")
    Buf_sr: Array = param(10.0, doc="mM")
    K_buf_sr: Array = param(0.3, doc="mM")
    Buf_ss: Array = param(0.4, doc="mM")
    K_buf_ss: Array = param(0.00025, doc="mM")
    V_maxup: Array = param(0.006375, doc="mM/ms")
    K_up: Array = param(0.00025, doc="mM")
    V_rel: Array = param(0.102, doc="1/ms")
    V_leak: Array = param(0.00036, doc="1/ms")
    V_xfer: Array = param(0.0038, doc="1/ms")
    k1_prime: Array = param(0.15, doc="1/(mM^2 ms)")
    k2_prime: Array = param(0.045, doc="1/(mM ms)")
    k3: Array = param(0.06, doc="1/ms")
    k4: Array = param(0.005, doc="1/ms")
    EC: Array = param(1.5, doc="mM")
    max_sr: Array = param(2.5, doc="dimensionless")
    min_sr: Array = param(1.0, doc="dimensionless")
    # I_to inactivation gate s: s_inf = 1/(1+exp((V - s_inf_vhalf)/5)),
    # tau_s = A exp(-(V - c)^2 / w) + B / (1 + exp((V - v_half)/slope)) + tau_s_min   (epi/M defaults; endo preset)
    s_inf_vhalf: Array = param(-20.0, doc="mV (epi, M; endo -28)")
    tau_s_gauss_amp: Array = param(85.0, doc="ms (epi, M; endo 1000)")
    tau_s_gauss_centre: Array = param(-45.0, doc="mV (epi, M; endo -67)")
    tau_s_gauss_width: Array = param(320.0, doc="mV^2 (epi, M; endo 1000)")
    tau_s_sig_amp: Array = param(5.0, doc="ms (epi, M; endo 0)")
    tau_s_sig_vhalf: Array = param(20.0, doc="mV")
    tau_s_sig_slope: Array = param(5.0, doc="mV")
    tau_s_min: Array = param(3.0, doc="ms (epi, M; endo 8)")
    # initial state (epicardial; the Niederer 2011 benchmark's)
    V0: Array = param(_INITIAL["epi"][0], doc="initial membrane potential, mV")
    s0: Array = param(_INITIAL["epi"][1:], doc="initial states in state_names order")

    state_names: ClassVar[tuple[str, ...]] = _STATE_NAMES
    gate_indices: ClassVar[tuple[int, ...]] = tuple(range(12))
    # m, h, j, xr1, xr2, xs, r, s, d, f, f2 depend on V alone (fCass on Ca_ss): tabulated by `gate_table`.
    voltage_gates: ClassVar[tuple[int, ...]] = tuple(range(11))
    # 0.01 ms: the upstroke peak is within ~1 mV of the dt -> 0 limit (0.02 ms, the paper's step, overshoots by ~2 mV).
    default_dt: ClassVar[float] = 0.01
    # (peak - rest) / max dV/dt of a paced single cell, ms: 122 mV / 349-369 V/s (float64, dt = default_dt / 5);
    # `check_time_step` limits dt to fractions of it.
    upstroke_ms: ClassVar[float] = 0.33
    default_stimulus: ClassVar[tuple[float, float]] = (52.0, 1.0)
    citation: ClassVar[str] = "ten Tusscher KHWJ, Panfilov AV (2006) Am J Physiol Heart Circ Physiol 291:H1088-H1100"

    def __check_init__(self):
        check_positive(self, ("R", "T", "F", "Cm", "V_c", "V_sr", "V_ss", "K_o", "Na_o", "Ca_o", "tau_s_gauss_width",
                              "tau_s_sig_slope", "tau_s_min"))  # fmt: skip
        check_nonnegative(self, ("g_Na", "g_K1", "g_to", "g_Kr", "g_Ks", "g_CaL", "g_bNa", "g_bCa", "g_pCa", "g_pK",
                                 "P_NaK", "k_NaCa", "V_maxup", "V_rel", "V_leak", "V_xfer"))  # fmt: skip

    # ------------------------------------------------------------------------------------------------ presets
    @classmethod
    def epicardial(cls, **overrides) -> "TenTusscher2006":
        """Epicardial cell: G_Ks 0.392, G_to 0.294 nS/pF, epicardial s-gate; Niederer 2011 initial state."""
        return cls(**overrides)

    @classmethod
    def endocardial(cls, **overrides) -> "TenTusscher2006":
        """Endocardial cell: G_Ks 0.392, G_to 0.073 nS/pF, slow-recovering endocardial s-gate."""
        init = _INITIAL["endo"]
        p = dict(g_Ks=0.392, g_to=0.073, V0=init[0], s0=init[1:], **_S_GATE_ENDO)
        return cls(**{**p, **overrides})

    @classmethod
    def midmyocardial(cls, **overrides) -> "TenTusscher2006":
        """M cell: G_Ks 0.098, G_to 0.294 nS/pF, epicardial s-gate."""
        init = _INITIAL["mid"]
        p = dict(g_Ks=0.098, g_to=0.294, V0=init[0], s0=init[1:], **_S_GATE_EPI)
        return cls(**{**p, **overrides})

    # ------------------------------------------------------------------------------------------------ equations
    def gate_inf_tau(self, V, s):
        dtype = jnp.result_type(V, s)
        infs, taus = self._gate_rows(jnp.asarray(V, dtype), s[15])
        shape = jnp.broadcast_shapes(jnp.shape(V), jnp.shape(s[15]))
        inf = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in infs])
        tau = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in taus])
        return inf, tau

    def _gate_rows(self, V, Ca_ss):
        """Steady states and time constants of the 12 gates as two tuples of arrays (not stacked: stacking inside the
        hot path costs XLA a concatenation per step)."""
        # I_Na: m, h, j
        m_inf = 1.0 / jnp.square(1.0 + jnp.exp((-56.86 - V) / 9.03))
        a_m = 1.0 / (1.0 + jnp.exp((-60.0 - V) / 5.0))
        b_m = 0.1 / (1.0 + jnp.exp((V + 35.0) / 5.0)) + 0.1 / (1.0 + jnp.exp((V - 50.0) / 200.0))
        tau_m = a_m * b_m
        h_inf = 1.0 / jnp.square(1.0 + jnp.exp((V + 71.55) / 7.43))
        lo = V < -40.0
        Vlo = jnp.minimum(V, -40.0)  # each branch sees only its own range (finite values and gradients)
        Vhi = jnp.maximum(V, -40.0)
        a_h = jnp.where(lo, 0.057 * jnp.exp(-(Vlo + 80.0) / 6.8), 0.0)
        b_h = jnp.where(
            lo,
            2.7 * jnp.exp(0.079 * Vlo) + 3.1e5 * jnp.exp(0.3485 * Vlo),
            0.77 / (0.13 * (1.0 + jnp.exp(-(Vhi + 10.66) / 11.1))),
        )
        tau_h = 1.0 / (a_h + b_h)
        j_inf = h_inf
        a_j = jnp.where(
            lo,
            (-25428.0 * jnp.exp(0.2444 * Vlo) - 6.948e-6 * jnp.exp(-0.04391 * Vlo))
            * (Vlo + 37.78)
            / (1.0 + jnp.exp(0.311 * (Vlo + 79.23))),
            0.0,
        )
        b_j = jnp.where(
            lo,
            0.02424 * jnp.exp(-0.01052 * Vlo) / (1.0 + jnp.exp(-0.1378 * (Vlo + 40.14))),
            0.6 * jnp.exp(0.057 * Vhi) / (1.0 + jnp.exp(-0.1 * (Vhi + 32.0))),
        )
        tau_j = 1.0 / (a_j + b_j)
        # I_Kr: xr1, xr2
        xr1_inf = 1.0 / (1.0 + jnp.exp((-26.0 - V) / 7.0))
        tau_xr1 = (450.0 / (1.0 + jnp.exp((-45.0 - V) / 10.0))) * (6.0 / (1.0 + jnp.exp((V + 30.0) / 11.5)))
        xr2_inf = 1.0 / (1.0 + jnp.exp((V + 88.0) / 24.0))
        tau_xr2 = (3.0 / (1.0 + jnp.exp((-60.0 - V) / 20.0))) * (1.12 / (1.0 + jnp.exp((V - 60.0) / 20.0)))
        # I_Ks: xs
        xs_inf = 1.0 / (1.0 + jnp.exp((-5.0 - V) / 14.0))
        tau_xs = (1400.0 / jnp.sqrt(1.0 + jnp.exp((5.0 - V) / 6.0))) * (1.0 / (1.0 + jnp.exp((V - 35.0) / 15.0))) + 80.0
        # I_to: r, s
        r_inf = 1.0 / (1.0 + jnp.exp((20.0 - V) / 6.0))
        tau_r = 9.5 * jnp.exp(-jnp.square(V + 40.0) / 1800.0) + 0.8
        s_inf = 1.0 / (1.0 + jnp.exp((V - self.s_inf_vhalf) / 5.0))
        tau_s = (
            self.tau_s_gauss_amp * jnp.exp(-jnp.square(V - self.tau_s_gauss_centre) / self.tau_s_gauss_width)
            + self.tau_s_sig_amp / (1.0 + jnp.exp((V - self.tau_s_sig_vhalf) / self.tau_s_sig_slope))
            + self.tau_s_min
        )
        # I_CaL: d, f, f2, fCass
        d_inf = 1.0 / (1.0 + jnp.exp((-8.0 - V) / 7.5))
        a_d = 1.4 / (1.0 + jnp.exp((-35.0 - V) / 13.0)) + 0.25
        b_d = 1.4 / (1.0 + jnp.exp((V + 5.0) / 5.0))
        g_d = 1.0 / (1.0 + jnp.exp((50.0 - V) / 20.0))
        tau_d = a_d * b_d + g_d
        f_inf = 1.0 / (1.0 + jnp.exp((V + 20.0) / 7.0))
        tau_f = (
            1102.5 * jnp.exp(-jnp.square(V + 27.0) / 225.0)
            + 200.0 / (1.0 + jnp.exp((13.0 - V) / 10.0))
            + 180.0 / (1.0 + jnp.exp((V + 30.0) / 10.0))
            + 20.0
        )
        f2_inf = 0.67 / (1.0 + jnp.exp((V + 35.0) / 7.0)) + 0.33
        tau_f2 = (
            562.0 * jnp.exp(-jnp.square(V + 27.0) / 240.0)
            + 31.0 / (1.0 + jnp.exp((25.0 - V) / 10.0))
            + 80.0 / (1.0 + jnp.exp((V + 30.0) / 10.0))
        )
        c = jnp.square(Ca_ss / 0.05)
        fcass_inf = 0.6 / (1.0 + c) + 0.4
        tau_fcass = 80.0 / (1.0 + c) + 2.0
        infs = (m_inf, h_inf, j_inf, xr1_inf, xr2_inf, xs_inf, r_inf, s_inf, d_inf, f_inf, f2_inf, fcass_inf)
        taus = (tau_m, tau_h, tau_j, tau_xr1, tau_xr2, tau_xs, tau_r, tau_s, tau_d, tau_f, tau_f2, tau_fcass)
        return infs, taus

    def currents(self, V, s) -> dict[str, Array]:
        """All membrane currents (pA/pF) and the intracellular fluxes (mM/ms) at (V, s), by name."""
        m, h, j, xr1, xr2, xs, r, sg, d, f, f2, fcass = (s[i] for i in range(12))
        Rbar, Ca_i, Ca_SR, Ca_ss, Na_i, K_i = (s[i] for i in range(12, 18))
        RTF = self.R * self.T / self.F
        E_Na = RTF * jnp.log(self.Na_o / Na_i)
        E_K = RTF * jnp.log(self.K_o / K_i)
        E_Ks = RTF * jnp.log((self.K_o + self.p_KNa * self.Na_o) / (K_i + self.p_KNa * Na_i))
        E_Ca = 0.5 * RTF * jnp.log(self.Ca_o / Ca_i)
        sq_ko = jnp.sqrt(self.K_o / 5.4)

        I_Na = self.g_Na * m**3 * h * j * (V - E_Na)
        a_K1 = 0.1 / (1.0 + jnp.exp(0.06 * (V - E_K - 200.0)))
        b_K1 = (3.0 * jnp.exp(0.0002 * (V - E_K + 100.0)) + jnp.exp(0.1 * (V - E_K - 10.0))) / (
            1.0 + jnp.exp(-0.5 * (V - E_K))
        )
        I_K1 = self.g_K1 * sq_ko * (a_K1 / (a_K1 + b_K1)) * (V - E_K)
        I_to = self.g_to * r * sg * (V - E_K)
        I_Kr = self.g_Kr * sq_ko * xr1 * xr2 * (V - E_K)
        I_Ks = self.g_Ks * xs * xs * (V - E_Ks)
        x = 2.0 * (V - 15.0) / RTF
        # g_CaL d f f2 fCass 4 (V-15) F²/(RT) (0.25 Ca_ss e^x - Ca_o)/(e^x - 1), written as 2F x/(e^x - 1) (smooth at V = 15)
        I_CaL = (
            self.g_CaL * d * f * f2 * fcass * 2.0 * self.F * (0.25 * Ca_ss * jnp.exp(x) - self.Ca_o) * _x_over_expm1(x)
        )
        VF = V / RTF
        I_NaK = (
            self.P_NaK * self.K_o / (self.K_o + self.K_mK) * Na_i / (Na_i + self.K_mNa)
            / (1.0 + 0.1245 * jnp.exp(-0.1 * VF) + 0.0353 * jnp.exp(-VF))
        )  # fmt: skip
        I_NaCa = (
            self.k_NaCa
            * (jnp.exp(self.gamma * VF) * Na_i**3 * self.Ca_o - jnp.exp((self.gamma - 1.0) * VF) * self.Na_o**3 * Ca_i * self.alpha)
            / ((self.K_mNai**3 + self.Na_o**3) * (self.K_mCa + self.Ca_o) * (1.0 + self.k_sat * jnp.exp((self.gamma - 1.0) * VF)))
        )  # fmt: skip
        I_pCa = self.g_pCa * Ca_i / (Ca_i + self.K_pCa)
        I_pK = self.g_pK * (V - E_K) / (1.0 + jnp.exp((25.0 - V) / 5.98))
        I_bNa = self.g_bNa * (V - E_Na)
        I_bCa = self.g_bCa * (V - E_Ca)

        kcasr = self.max_sr - (self.max_sr - self.min_sr) / (1.0 + jnp.square(self.EC / Ca_SR))
        k1 = self.k1_prime / kcasr
        k2 = self.k2_prime * kcasr
        O = k1 * Ca_ss * Ca_ss * Rbar / (self.k3 + k1 * Ca_ss * Ca_ss)
        I_rel = self.V_rel * O * (Ca_SR - Ca_ss)
        I_up = self.V_maxup / (1.0 + jnp.square(self.K_up / Ca_i))
        I_leak = self.V_leak * (Ca_SR - Ca_i)
        I_xfer = self.V_xfer * (Ca_ss - Ca_i)
        dRbar = -k2 * Ca_ss * Rbar + self.k4 * (1.0 - Rbar)
        return dict(
            I_Na=I_Na, I_K1=I_K1, I_to=I_to, I_Kr=I_Kr, I_Ks=I_Ks, I_CaL=I_CaL, I_NaK=I_NaK, I_NaCa=I_NaCa,
            I_pCa=I_pCa, I_pK=I_pK, I_bNa=I_bNa, I_bCa=I_bCa, I_rel=I_rel, I_up=I_up, I_leak=I_leak, I_xfer=I_xfer,
            dRbar=dRbar,
        )  # fmt: skip

    def derivatives(self, V, s, istim=0.0):
        Iion, ds, _, _ = self.derivatives_and_gates(V, s, istim)
        return Iion, ds

    def derivatives_and_gates(self, V, s, istim=0.0):
        dtype = jnp.result_type(V, s)
        Iion, rest, infs, taus = self.rate_rows(V, s, istim)
        shape = jnp.shape(Iion)
        inf = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in infs])
        tau = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in taus])
        d_gates = (inf - s[:12]) / tau
        rest = jnp.stack([jnp.broadcast_to(x, shape).astype(dtype) for x in rest])
        return Iion, jnp.concatenate([d_gates, rest], axis=0), inf, tau

    def rate_rows(self, V, s, istim=0.0):
        dtype = jnp.result_type(V, s)
        V = jnp.asarray(V, dtype)
        c = self.currents(V, s)
        Rbar, Ca_i, Ca_SR, Ca_ss, Na_i, K_i = (s[i] for i in range(12, 18))
        Iion = (
            c["I_Na"] + c["I_K1"] + c["I_to"] + c["I_Kr"] + c["I_Ks"] + c["I_CaL"] + c["I_NaCa"] + c["I_NaK"]
            + c["I_pCa"] + c["I_pK"] + c["I_bCa"] + c["I_bNa"]
        )  # fmt: skip
        inv_VcF = self.Cm / (self.V_c * self.F)
        buf_c = 1.0 / (1.0 + self.Buf_c * self.K_buf_c / jnp.square(Ca_i + self.K_buf_c))
        buf_sr = 1.0 / (1.0 + self.Buf_sr * self.K_buf_sr / jnp.square(Ca_SR + self.K_buf_sr))
        buf_ss = 1.0 / (1.0 + self.Buf_ss * self.K_buf_ss / jnp.square(Ca_ss + self.K_buf_ss))
        dCa_i = buf_c * (
            (c["I_leak"] - c["I_up"]) * self.V_sr / self.V_c
            + c["I_xfer"]
            - (c["I_bCa"] + c["I_pCa"] - 2.0 * c["I_NaCa"]) * inv_VcF / 2.0
        )
        dCa_SR = buf_sr * (c["I_up"] - (c["I_rel"] + c["I_leak"]))
        dCa_ss = buf_ss * (
            -c["I_CaL"] * self.Cm / (2.0 * self.V_ss * self.F)
            + c["I_rel"] * self.V_sr / self.V_ss
            - c["I_xfer"] * self.V_c / self.V_ss
        )
        dNa_i = -(c["I_Na"] + c["I_bNa"] + 3.0 * c["I_NaK"] + 3.0 * c["I_NaCa"]) * inv_VcF
        # The stimulus is carried by K+ (authors' code / CellML: the -I_stim of their sign convention enters dK_i/dt).
        dK_i = -(c["I_K1"] + c["I_to"] + c["I_Kr"] + c["I_Ks"] + c["I_pK"] - 2.0 * c["I_NaK"] - istim) * inv_VcF
        infs, taus = self._gate_rows(V, Ca_ss)
        return Iion.astype(dtype), (c["dRbar"], dCa_i, dCa_SR, dCa_ss, dNa_i, dK_i), infs, taus

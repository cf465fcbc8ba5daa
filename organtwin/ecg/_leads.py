"""The standard 12-lead ECG from the potentials at the nine electrodes RA, LA, LL, V1–V6 (limb leads, augmented leads,
precordial leads against Wilson's central terminal)."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._errors import InputError

__all__ = ["ELECTRODE_NAMES", "LEAD_NAMES", "twelve_leads"]

ELECTRODE_NAMES = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def twelve_leads(phi: Float[Array, "... 9"]) -> Float[Array, "... 12"]:
    """The 12 leads (order `LEAD_NAMES`) from electrode potentials in the order `ELECTRODE_NAMES` (last axis), mV.

    I = LA − RA, II = LL − RA, III = LL − LA; aVR = RA − (LA + LL)/2, aVL = LA − (RA + LL)/2, aVF = LL − (RA + LA)/2;
    Vi = φ(Vi) − WCT with Wilson's central terminal WCT = (RA + LA + LL)/3. Linear, so it commutes with everything
    upstream (and Einthoven's law I + III = II holds to round-off).
    """
    phi = jnp.asarray(phi)
    if phi.shape[-1] != 9:
        raise InputError(f"twelve_leads: the last axis must hold the 9 electrodes {ELECTRODE_NAMES}, got {phi.shape}")
    ra, la, ll = phi[..., 0], phi[..., 1], phi[..., 2]
    wct = (ra + la + ll) / 3.0
    limb = [la - ra, ll - ra, ll - la, ra - 0.5 * (la + ll), la - 0.5 * (ra + ll), ll - 0.5 * (ra + la)]
    return jnp.stack(limb + [phi[..., 3 + i] - wct for i in range(6)], axis=-1)

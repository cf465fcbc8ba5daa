"""The 12-lead ECG of one simulated beat: from Vm snapshots (`ecg_from_vm`, e.g. an `organtwin ep run`'s) or from
activation times turned into Vm by the action-potential template (`ecg_from_activation`), with its features and the
comparison of its QRS amplitudes with published adult limits. Nothing is read or written here: the files are
`organtwin.io`'s (`write_ecg_folder`), the picture `organtwin.viz.plot_12lead`.

Electrodes: the standard ones on the skin of a chest generated around the heart (`chest_for_heart`; a `ChestPlacement`
computed earlier may be passed) or ``{name: (3,) mm}`` for RA, LA, LL, V1..V6. The potentials are the pseudo-ECG of an
infinite homogeneous medium times `SKIN_FACTOR` (electrodes on the insulating skin), or with ``torso=True`` the
lead-field ECG of that chest meshed as a homogeneous torso (`torso_for_heart`). The leads are checked to be finite
before they are returned: a NaN or inf raises `organtwin.InputError` naming the lead, the time and the cause.

Units: times ms, leads mV, electrodes mm, conductivities S/m.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike, Float

from .._errors import InputError, MeshError
from ._leads import ELECTRODE_NAMES, LEAD_NAMES

__all__ = ["ECGResult", "activation_times", "ecg_from_vm", "ecg_from_activation"]


class ECGResult(eqx.Module):
    """The 12-lead ECG of one beat (final).

    Attributes:
        times: sample times (k,), ms.
        leads: the 12 leads (k, 12), mV, in ``lead_names`` order (`LEAD_NAMES`).
        electrodes: ``{name: (3,) position}``, mm, where the potentials were taken (RA, LA, LL, V1..V6).
        method: how the potentials were computed (pseudo-ECG or the torso lead field), one line.
        placement: where the electrodes are (the generated chest, or the file's positions), one line.
        sigma_i, sigma_b: intracellular and volume-conductor conductivities, S/m.
        features: `ecg_features` of the leads (QRS onset / offset / duration, axis, per-lead amplitudes).
        amplitude_check: `qrs_amplitude_check` of the features; None for a flat ECG.
    """

    times: Float[np.ndarray, " times"]
    leads: Float[np.ndarray, "times 12"]
    electrodes: dict
    method: str
    placement: str
    sigma_i: float
    sigma_b: float
    features: dict
    amplitude_check: dict | None
    lead_names: tuple[str, ...] = LEAD_NAMES
    units: ClassVar[dict[str, str]] = {
        "times": "ms",
        "leads": "mV",
        "electrodes": "mm",
        "sigma_i": "S/m",
        "sigma_b": "S/m",
    }

    @property
    def amplitudes(self) -> str:
        """One line: the QRS amplitudes against the published adult limits (and their source)."""
        amp = self.amplitude_check
        if amp is None:
            return "QRS amplitudes: none (a flat ECG)"
        verdict = (
            "within the normal adult limits"
            if amp["normal"]
            else "outside the normal adult limits: " + "; ".join(amp["findings"])
        )
        return (
            f"QRS amplitudes: largest limb lead {amp['limb_peak_to_peak_mV']:.2f} mV, precordial "
            f"{amp['precordial_peak_to_peak_mV']:.2f} mV peak to peak; {verdict} ({amp['source']})"
        )

    @property
    def subtitle(self) -> str:
        """One line for a picture: method, conductivities, and a note when the QRS runs past the record."""
        trunc = "; the QRS had not ended by the end of the record" if self.features.get("qrs_truncated") else ""
        return f"{self.method}; sigma_i {self.sigma_i:g} S/m, sigma_b {self.sigma_b:g} S/m{trunc}"

    def to_json(self, source: str = "") -> dict:
        """What ``features.json`` holds: the source, method, conductivities, electrodes, amplitude check and
        features."""
        return {
            "source": source,
            "method": self.method,
            "sigma_i_S_per_m": self.sigma_i,
            "sigma_b_S_per_m": self.sigma_b,
            "electrode_placement": self.placement,
            "amplitude_check": self.amplitude_check,
            "electrodes_mm": {k: np.asarray(v).tolist() for k, v in self.electrodes.items()},
            **self.features,
        }

    def describe(self, what: str, n_nodes: int) -> list[str]:
        """Lines saying what the ECG is from, where the electrodes are, the QRS and its amplitudes."""
        f = self.features
        lines = [f"ECG from {what}: {n_nodes} nodes; {self.method}", f"electrodes: {self.placement}"]
        if f["qrs_duration_ms"] is not None:
            lines.append(
                f"QRS {f['qrs_onset_ms']:.4g} .. {f['qrs_offset_ms']:.4g} ms (duration "
                f"{f['qrs_duration_ms']:.4g} ms), axis {f['axis_deg']:.0f} deg"
            )
        elif f.get("qrs_truncated"):
            lines.append(
                f"QRS from {f['qrs_onset_ms']:.4g} ms, duration >= {f['qrs_duration_min_ms']:.4g} ms "
                f"(truncated: the record ends before the QRS does), axis {f['axis_deg']:.0f} deg"
            )
        lines.append(self.amplitudes)
        return lines


def _nonfinite_cause(vm: np.ndarray, L: np.ndarray, i: int, method: str) -> str:
    """Why the leads are not finite at sample ``i``: Vm, the lead matrix, or their product."""
    bad = np.flatnonzero(~np.isfinite(vm[i]))
    if bad.size:
        what = "NaN" if np.isnan(vm[i, bad[0]]) else "inf"
        return (
            f"Vm is {what} at node {int(bad[0])} ({bad.size} node{'s' if bad.size > 1 else ''} at that time): the "
            "Vm it was computed from is not finite there (a diverged run, or a damaged snapshot)"
        )
    rows = [n for n, row in zip(ELECTRODE_NAMES, L) if not np.all(np.isfinite(row))]
    if rows:
        where = (
            "lead field" if method.startswith("lead field") else "pseudo-ECG matrix (an electrode at a cell's centre)"
        )
        return (
            f"the {where} of electrode {', '.join(rows)} is not finite: an electrode inside the heart mesh; "
            "electrodes belong on the skin, outside the heart"
        )
    return "the potentials overflow (a Vm or lead matrix of extreme size: check the units, mV and mm)"


def _check_finite(times: np.ndarray, leads: np.ndarray, vm: np.ndarray, L: np.ndarray, method: str) -> None:
    bad = ~np.isfinite(leads)
    if not bad.any():
        return
    i, j = (int(v) for v in np.argwhere(bad)[0])
    what = "NaN" if np.isnan(leads[i, j]) else "inf"
    raise InputError(
        f"the ECG is not finite: lead {LEAD_NAMES[j]} is {what} at t = {times[i]:.4g} ms "
        f"({int(bad.any(axis=1).sum())} of {times.size} samples); cause: {_nonfinite_cause(vm, L, i, method)}"
    )


def ecg_from_vm(
    mesh,
    times: Float[ArrayLike, " times"],
    vm: Float[ArrayLike, "times nodes"],
    *,
    electrodes: dict | None = None,
    placement=None,
    sigma_i: float = 0.1,
    sigma_b: float = 0.2,
    torso: bool = False,
    lv=None,
    rv=None,
) -> ECGResult:
    """The 12-lead ECG of Vm snapshots ``vm`` (times, nodes), mV, at ``times`` (ms) on ``mesh`` (mm).

    Args:
        electrodes: ``{name: (3,) mm}`` for RA, LA, LL, V1..V6; default: the standard positions on the skin of the
            chest generated around the heart (``placement``, else `chest_for_heart` of the LV/RV regions).
        placement: a `ChestPlacement` computed earlier (`chest_for_heart`), for the standard electrodes.
        sigma_i: intracellular conductivity, S/m (a scalar: fibres play no part).
        sigma_b: volume-conductor (torso) conductivity, S/m.
        torso: the lead-field ECG in a torso meshed from the generated chest (`torso_for_heart`) instead of the
            infinite-medium pseudo-ECG times `SKIN_FACTOR` (the insulating skin, by the method of images).
        lv, rv: LV / RV region ids for the chest's placement (default: the regions named LV / RV).

    Raises:
        InputError: the leads are not finite (the message names the lead, the time and the cause).
    """
    import jax.numpy as jnp

    from ._electrodes import chest_for_heart
    from ._features import ecg_features, qrs_amplitude_check
    from ._leads import twelve_leads
    from ._pseudo_ecg import SKIN_FACTOR, pseudo_ecg, pseudo_ecg_matrix

    el = electrodes
    if el is None:
        placement = placement if placement is not None else chest_for_heart(mesh, lv=lv, rv=rv)
        el = placement.electrodes
        where = "standard positions on the skin of a " + placement.summary()
    else:
        from scipy.spatial import KDTree

        placement = None
        pos = np.stack([np.asarray(el[n], float) for n in ELECTRODE_NAMES])
        d, _ = KDTree(np.asarray(mesh.points, float)).query(pos)
        where = "electrodes from the file; distance to the heart (mm): " + ", ".join(
            f"{n} {v:.3g}" for n, v in zip(ELECTRODE_NAMES, d)
        )
    if torso:
        from ._electrodes import torso_for_heart
        from ._lead_field import lead_field_matrix, torso_lead_fields

        torso_mesh, standard = torso_for_heart(mesh, lv=lv, rv=rv, placement=placement)
        el = standard if placement is not None else el
        fields = torso_lead_fields(torso_mesh, np.stack([el[n] for n in ELECTRODE_NAMES]), sigma_b=sigma_b)
        el = {n: np.asarray(torso_mesh.points)[k] for n, k in zip(ELECTRODE_NAMES, fields.electrode_nodes)}
        L = lead_field_matrix(mesh.points, mesh.tets, sigma_i, fields)
        method = f"lead field in a generated torso ({torso_mesh.n_nodes} nodes), electrodes on its skin"
    else:
        pos = np.stack([el[n] for n in ELECTRODE_NAMES])
        L = SKIN_FACTOR * pseudo_ecg_matrix(
            jnp.asarray(mesh.points), jnp.asarray(mesh.tets), sigma_i, jnp.asarray(pos), sigma_b=sigma_b
        )
        method = f"pseudo-ECG (infinite homogeneous medium, x{SKIN_FACTOR:g} for electrodes on the skin)"
    leads = np.asarray(twelve_leads(pseudo_ecg(L, jnp.asarray(vm))), float)
    times = np.asarray(times, float)
    _check_finite(times, leads, np.asarray(vm), np.asarray(L), method)
    feats = ecg_features(times, leads)
    amp = qrs_amplitude_check(feats) if feats.get("leads") else None
    return ECGResult(
        times=times,
        leads=leads,
        electrodes={k: np.asarray(v, float) for k, v in el.items()},
        method=method,
        placement=where,
        sigma_i=float(sigma_i),
        sigma_b=float(sigma_b),
        features=feats,
        amplitude_check=amp,
    )


def activation_times(
    mesh, activation: Float[ArrayLike, " nodes"] | None = None, *, source: str = ""
) -> Float[np.ndarray, " nodes"]:
    """Activation times (nodes,), ms, for `ecg_from_activation`: ``activation`` or the mesh's point data
    ``activation_time``, checked to have a finite value; NaN (a node never reached) becomes inf (stays at rest).
    ``source``: the file the mesh came from, for the messages.

    Raises:
        MeshError: no activation times, or none finite (no node activated: the ECG would be flat).
    """
    at = f"{source}: " if source else ""
    if activation is None:
        if "activation_time" not in mesh.point_data:
            raise MeshError(f"{at}no point data 'activation_time' (write one with `organtwin activate`)")
        activation = mesh.point_data["activation_time"]
    act = np.asarray(activation, float).reshape(-1)
    if not np.isfinite(act).any():
        raise MeshError(
            f"{at}point data 'activation_time' has no finite value ({act.size} nodes, all NaN or "
            "inf: no node activated); check the activation run (its sites and velocities)"
        )
    return np.where(np.isfinite(act), act, np.inf)


def ecg_from_activation(
    mesh,
    activation: Float[ArrayLike, " nodes"],
    times: Float[ArrayLike, " times"],
    *,
    apd: float = 280.0,
    electrodes: dict | None = None,
    placement=None,
    sigma_i: float = 0.1,
    sigma_b: float = 0.2,
    torso: bool = False,
    lv=None,
    rv=None,
) -> ECGResult:
    """The 12-lead ECG of one beat from activation times (nodes,), ms (`activation_times`: inf where a node never
    activated), turned into Vm at ``times`` (ms; e.g. `ecg_times`) by the action-potential template
    (`organtwin.ep.APTemplate`, APD ``apd`` ms). The other arguments: as `ecg_from_vm`.

    Raises:
        MeshError: no activation time is finite; InputError: the leads are not finite (`ecg_from_vm`).
    """
    import jax.numpy as jnp

    from ..ep import APTemplate

    act = activation_times(mesh, activation)
    times = np.asarray(times, float)
    vm = np.asarray(APTemplate()(jnp.asarray(act), jnp.asarray(times), apd))
    return ecg_from_vm(
        mesh, times, vm, electrodes=electrodes, placement=placement, sigma_i=sigma_i, sigma_b=sigma_b, torso=torso,
        lv=lv, rv=rv,
    )  # fmt: skip

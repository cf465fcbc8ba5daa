"""The ECG from tissue electrophysiology: pseudo-ECG in an infinite medium and lead-field ECG in a torso, the 12
standard leads, standard electrode positions on a chest generated around a heart mesh, QRS features and their
comparison with published adult limits."""

from ._leads import ELECTRODE_NAMES as ELECTRODE_NAMES, LEAD_NAMES as LEAD_NAMES, twelve_leads as twelve_leads
from ._pseudo_ecg import (
    SKIN_FACTOR as SKIN_FACTOR,
    ecg_times as ecg_times,
    lead_matrix as lead_matrix,
    pseudo_ecg as pseudo_ecg,
    pseudo_ecg_matrix as pseudo_ecg_matrix,
)
from ._lead_field import (
    TorsoLeadFields as TorsoLeadFields,
    lead_field_matrix as lead_field_matrix,
    torso_lead_fields as torso_lead_fields,
)
from ._electrodes import (
    CANONICAL_ELECTRODES as CANONICAL_ELECTRODES,
    CANONICAL_TORSO as CANONICAL_TORSO,
    ChestPlacement as ChestPlacement,
    chest_for_heart as chest_for_heart,
    chest_geometry as chest_geometry,
    electrodes_for_mesh as electrodes_for_mesh,
    heart_frame as heart_frame,
    standard_electrodes as standard_electrodes,
    torso_for_heart as torso_for_heart,
)
from ._features import (
    NORMAL_QRS_AMPLITUDE as NORMAL_QRS_AMPLITUDE,
    ecg_features as ecg_features,
    qrs_amplitude_check as qrs_amplitude_check,
)

"""The ECG from tissue electrophysiology: pseudo-ECG in an infinite medium and lead-field ECG in a torso, the 12
standard leads, standard electrode positions on a chest generated around a heart mesh, QRS features and their
comparison with published adult limits; `ecg_from_vm` / `ecg_from_activation`: the
whole pipeline of one beat, returning an `ECGResult`."""

from ._electrodes import (
    CANONICAL_ELECTRODES as CANONICAL_ELECTRODES,
)
from ._electrodes import (
    CANONICAL_TORSO as CANONICAL_TORSO,
)
from ._electrodes import (
    ChestPlacement as ChestPlacement,
)
from ._electrodes import (
    chest_for_heart as chest_for_heart,
)
from ._electrodes import (
    chest_geometry as chest_geometry,
)
from ._electrodes import (
    electrodes_for_mesh as electrodes_for_mesh,
)
from ._electrodes import (
    heart_frame as heart_frame,
)
from ._electrodes import (
    standard_electrodes as standard_electrodes,
)
from ._electrodes import (
    torso_for_heart as torso_for_heart,
)
from ._features import (
    NORMAL_QRS_AMPLITUDE as NORMAL_QRS_AMPLITUDE,
)
from ._features import (
    ecg_features as ecg_features,
)
from ._features import (
    qrs_amplitude_check as qrs_amplitude_check,
)
from ._from_run import ECGResult as ECGResult
from ._from_run import activation_times as activation_times
from ._from_run import ecg_from_activation as ecg_from_activation
from ._from_run import ecg_from_vm as ecg_from_vm
from ._lead_field import (
    TorsoLeadFields as TorsoLeadFields,
)
from ._lead_field import (
    lead_field_matrix as lead_field_matrix,
)
from ._lead_field import (
    torso_lead_fields as torso_lead_fields,
)
from ._leads import ELECTRODE_NAMES as ELECTRODE_NAMES
from ._leads import LEAD_NAMES as LEAD_NAMES
from ._leads import twelve_leads as twelve_leads
from ._pseudo_ecg import (
    SKIN_FACTOR as SKIN_FACTOR,
)
from ._pseudo_ecg import (
    ecg_times as ecg_times,
)
from ._pseudo_ecg import (
    lead_matrix as lead_matrix,
)
from ._pseudo_ecg import (
    pseudo_ecg as pseudo_ecg,
)
from ._pseudo_ecg import (
    pseudo_ecg_matrix as pseudo_ecg_matrix,
)

"""The ECG from tissue electrophysiology: pseudo-ECG in an infinite medium, the 12 standard leads."""

from ._leads import ELECTRODE_NAMES as ELECTRODE_NAMES, LEAD_NAMES as LEAD_NAMES, twelve_leads as twelve_leads
from ._pseudo_ecg import pseudo_ecg as pseudo_ecg, pseudo_ecg_matrix as pseudo_ecg_matrix

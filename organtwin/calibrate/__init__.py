"""Calibration of a twin to patient data. Data import: measured ECGs (WFDB, CSV), activation maps (CSV, VTK point
clouds), volume curves, pressure traces and cuff pressures, as host-side numpy containers in organtwin units."""

from ._data import (
    ActivationMap as ActivationMap,
    CuffPressure as CuffPressure,
    DataError as DataError,
    MeasuredECG as MeasuredECG,
    PressureTrace as PressureTrace,
    STANDARD_LEADS as STANDARD_LEADS,
    VolumeCurve as VolumeCurve,
    normalise_lead_name as normalise_lead_name,
    read_activation_map as read_activation_map,
    read_cuff_pressure as read_cuff_pressure,
    read_ecg as read_ecg,
    read_pressure_trace as read_pressure_trace,
    read_volume_curve as read_volume_curve,
)

"""Calibration of a twin to patient data. Free parameters by name with smooth bounds and priors; data import: measured ECGs (WFDB, CSV), activation maps (CSV, VTK point
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
    synthetic_volume_and_cuff as synthetic_volume_and_cuff,
    write_activation_map_csv as write_activation_map_csv,
    write_cuff_json as write_cuff_json,
    write_ecg_csv as write_ecg_csv,
    write_volume_curve_csv as write_volume_curve_csv,
)
from ._params import (
    AbstractPrior as AbstractPrior,
    AbstractTransform as AbstractTransform,
    Bounded as Bounded,
    CalibrationError as CalibrationError,
    FreeParameter as FreeParameter,
    FreeParameters as FreeParameters,
    LogNormal as LogNormal,
    Normal as Normal,
    Positive as Positive,
    Unbounded as Unbounded,
)
from ._fit import (
    AbstractLoss as AbstractLoss,
    ActivationTimeLoss as ActivationTimeLoss,
    FitResult as FitResult,
    dense_forward_jacobian as dense_forward_jacobian,
    fit_least_squares as fit_least_squares,
    least_squares_residuals as least_squares_residuals,
    MeasurementLoss as MeasurementLoss,
    fit_adam as fit_adam,
    project_onto_surface as project_onto_surface,
)
from ._ecg_loss import ECGLoss as ECGLoss, EikonalECG as EikonalECG, add_noise as add_noise
from ._haemo import (
    CirculationCurves as CirculationCurves,
    CuffPressureLoss as CuffPressureLoss,
    PressureTraceLoss as PressureTraceLoss,
    VolumeCurveLoss as VolumeCurveLoss,
    circulation_curves as circulation_curves,
)
from ._case import (
    CalibrationCase as CalibrationCase,
    build_problem as build_problem,
    load_calibration_case as load_calibration_case,
    read_fit as read_fit,
    rerun_fit as rerun_fit,
    run_calibration as run_calibration,
    write_calibration as write_calibration,
)
from ._report import FitReport as FitReport, Term as Term, fit_report as fit_report, joint_residuals as joint_residuals

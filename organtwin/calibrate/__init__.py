"""Calibration of a twin to patient data: free parameters by name with smooth bounds and priors, the data's host
containers in organtwin units (measured ECGs, activation maps, volume curves, pressure traces, cuff pressures), losses,
fits and their report (with the fitted model's outputs, `FitReport.observables`). No file I/O and no pictures: the
readers and writers of the data files and of calibration cases and results are `organtwin.io`'s (`read_ecg`, ...,
`load_calibration_case`, `run_calibration`, `write_calibration`), the pictures `organtwin.viz.calibration_pictures`."""

from ._data import (
    STANDARD_LEADS as STANDARD_LEADS,
)
from ._data import (
    ActivationMap as ActivationMap,
)
from ._data import (
    CuffPressure as CuffPressure,
)
from ._data import (
    DataError as DataError,
)
from ._data import (
    MeasuredECG as MeasuredECG,
)
from ._data import (
    PressureTrace as PressureTrace,
)
from ._data import (
    VolumeCurve as VolumeCurve,
)
from ._data import (
    normalise_lead_name as normalise_lead_name,
)
from ._data import (
    synthetic_volume_and_cuff as synthetic_volume_and_cuff,
)
from ._discretisation import DiscretisationCheck as DiscretisationCheck
from ._discretisation import combine_sd as combine_sd
from ._discretisation import discretisation_check as discretisation_check
from ._discretisation import refine_mesh as refine_mesh
from ._discretisation import richardson_factor as richardson_factor
from ._ecg_loss import ECGLoss as ECGLoss
from ._ecg_loss import EikonalECG as EikonalECG
from ._ecg_loss import add_noise as add_noise
from ._fit import (
    AbstractLoss as AbstractLoss,
)
from ._fit import (
    ActivationTimeLoss as ActivationTimeLoss,
)
from ._fit import (
    FitResult as FitResult,
)
from ._fit import (
    MeasurementLoss as MeasurementLoss,
)
from ._fit import (
    dense_forward_jacobian as dense_forward_jacobian,
)
from ._fit import (
    fit_adam as fit_adam,
)
from ._fit import (
    fit_least_squares as fit_least_squares,
)
from ._fit import (
    least_squares_residuals as least_squares_residuals,
)
from ._fit import (
    project_onto_surface as project_onto_surface,
)
from ._haemo import (
    CirculationCurves as CirculationCurves,
)
from ._haemo import (
    CuffPressureLoss as CuffPressureLoss,
)
from ._haemo import (
    PressureTraceLoss as PressureTraceLoss,
)
from ._haemo import (
    VolumeCurveLoss as VolumeCurveLoss,
)
from ._haemo import (
    circulation_curves as circulation_curves,
)
from ._observables import AbstractObservables as AbstractObservables
from ._observables import ActivationObservables as ActivationObservables
from ._observables import ECGObservables as ECGObservables
from ._observables import TraceObservables as TraceObservables
from ._params import (
    AbstractPrior as AbstractPrior,
)
from ._params import (
    AbstractTransform as AbstractTransform,
)
from ._params import (
    Bounded as Bounded,
)
from ._params import (
    CalibrationError as CalibrationError,
)
from ._params import (
    FreeParameter as FreeParameter,
)
from ._params import (
    FreeParameters as FreeParameters,
)
from ._params import (
    LogNormal as LogNormal,
)
from ._params import (
    Normal as Normal,
)
from ._params import (
    Positive as Positive,
)
from ._params import (
    Unbounded as Unbounded,
)
from ._report import IDENTIFIED as IDENTIFIED
from ._report import NOT_IDENTIFIABLE as NOT_IDENTIFIABLE
from ._report import VERDICT_RULE as VERDICT_RULE
from ._report import VERDICTS as VERDICTS
from ._report import WITHIN_MESH_ERROR as WITHIN_MESH_ERROR
from ._report import FitReport as FitReport
from ._report import Term as Term
from ._report import fit_report as fit_report
from ._report import joint_residuals as joint_residuals
from ._report import verdict as verdict
from ._sample import PosteriorSamples as PosteriorSamples
from ._sample import ProfileLikelihood as ProfileLikelihood
from ._sample import log_posterior as log_posterior
from ._sample import profile_likelihood as profile_likelihood
from ._sample import sample_posterior as sample_posterior

"""What a fitted model predicts for each data term, set beside the data (host arrays): the outputs a report's pictures
draw. A loss says which of these it gives through `AbstractLoss.observables`; `fit_report` stores them in
`FitReport.observables` ({term name: observables}), so that nothing downstream re-runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AbstractObservables", "ActivationObservables", "ECGObservables", "TraceObservables"]


class AbstractObservables:
    """The fitted model's outputs for one data term with the measured data they are compared with (host numpy)."""

    __slots__ = ()


@dataclass(frozen=True)
class ActivationObservables(AbstractObservables):
    """An activation map's fit: ``activation_ms`` (nodes,) the fitted activation on the mesh; ``points_mm`` (m, 3) the
    measured points (None when the loss was built without them); ``measured_ms`` (m,) their times, offset-corrected
    when the loss fits an offset; ``predicted_ms`` (m,) the fitted times at the points."""

    activation_ms: np.ndarray
    points_mm: np.ndarray | None
    measured_ms: np.ndarray
    predicted_ms: np.ndarray


@dataclass(frozen=True)
class ECGObservables(AbstractObservables):
    """A 12-lead ECG's fit over the measured window: ``measured`` and ``fitted`` (samples, leads) mV at ``times_ms``,
    ``correlations`` {lead: r}."""

    times_ms: np.ndarray
    measured: np.ndarray
    fitted: np.ndarray
    leads: list
    correlations: dict | None = None


@dataclass(frozen=True)
class TraceObservables(AbstractObservables):
    """A curve over the fitted beat (``model_t_ms``, ``model_values`` in the unit of ``ylabel``) with the measured
    samples (``data_t_ms``, ``data_values``, or None) and horizontal references ``extra_lines`` {label: value}."""

    model_t_ms: np.ndarray
    model_values: np.ndarray
    ylabel: str
    data_t_ms: np.ndarray | None = None
    data_values: np.ndarray | None = None
    extra_lines: dict = field(default_factory=dict)

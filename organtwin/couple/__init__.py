"""EP → circulation coupling: chamber elastance timing from electrical activation times (ms → s at this edge)."""

from ._timing import (
    ELECTROMECHANICAL_DELAY_MS as ELECTROMECHANICAL_DELAY_MS,
    ElectromechanicalActivation as ElectromechanicalActivation,
    activation_quantiles as activation_quantiles,
    couple_circulation as couple_circulation,
    region_node_volumes as region_node_volumes,
)
from ._read import RunActivation as RunActivation, activation_from_run as activation_from_run

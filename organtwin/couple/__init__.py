"""EP → circulation coupling: chamber elastance timing from electrical activation times (ms → s at this edge). Arrays in: reading an `ep run` folder is `organtwin.io.activation_from_run`."""

from ._timing import (
    ELECTROMECHANICAL_DELAY_MS as ELECTROMECHANICAL_DELAY_MS,
)
from ._timing import (
    ElectromechanicalActivation as ElectromechanicalActivation,
)
from ._timing import (
    activation_quantiles as activation_quantiles,
)
from ._timing import (
    couple_circulation as couple_circulation,
)
from ._timing import (
    region_node_volumes as region_node_volumes,
)
from ._ventricles import RunActivation as RunActivation
from ._ventricles import ventricle_activation as ventricle_activation

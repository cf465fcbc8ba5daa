"""Pictures (pyvista off-screen renders). Imported only at the edge: the core never needs it."""

from ._render import (
    category_colours as category_colours,
    region_colours as region_colours,
    render_mesh as render_mesh,
    to_pyvista as to_pyvista,
)
from ._surfaces_render import render_surfaces as render_surfaces
from ._fibres_render import render_fibres as render_fibres
from ._ecg_plot import plot_12lead as plot_12lead
from ._circulation_plot import (
    plot_circulation_pressures as plot_circulation_pressures,
    plot_circulation_volumes as plot_circulation_volumes,
    plot_pv_loops as plot_pv_loops,
)
from ._calibration_plot import (
    calibration_pictures as calibration_pictures,
    plot_activation_fit as plot_activation_fit,
    plot_ecg_fit as plot_ecg_fit,
    plot_trace_fit as plot_trace_fit,
)

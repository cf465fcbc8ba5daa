"""Pictures (pyvista off-screen renders). Imported only at the edge: the core never needs it."""

from ._calibration_plot import (
    calibration_pictures as calibration_pictures,
)
from ._calibration_plot import (
    plot_activation_fit as plot_activation_fit,
)
from ._calibration_plot import (
    plot_ecg_fit as plot_ecg_fit,
)
from ._calibration_plot import (
    plot_report_table as plot_report_table,
)
from ._calibration_plot import (
    plot_residuals as plot_residuals,
)
from ._calibration_plot import (
    plot_trace_fit as plot_trace_fit,
)
from ._calibration_plot import (
    report_pictures as report_pictures,
)
from ._cell_plot import cell_trace_figure as cell_trace_figure
from ._cell_plot import plot_cell_trace as plot_cell_trace
from ._circulation_plot import circulation_pictures as circulation_pictures
from ._circulation_plot import (
    plot_circulation_pressures as plot_circulation_pressures,
)
from ._circulation_plot import (
    plot_circulation_volumes as plot_circulation_volumes,
)
from ._circulation_plot import (
    plot_pv_loops as plot_pv_loops,
)
from ._ecg_plot import plot_12lead as plot_12lead
from ._fibres_render import render_fibres as render_fibres
from ._posterior_plot import plot_corner as plot_corner
from ._posterior_plot import plot_profiles as plot_profiles
from ._posterior_plot import posterior_pictures as posterior_pictures
from ._render import (
    category_colours as category_colours,
)
from ._render import (
    region_colours as region_colours,
)
from ._render import (
    render_mesh as render_mesh,
)
from ._render import (
    to_pyvista as to_pyvista,
)
from ._surfaces_render import render_surfaces as render_surfaces

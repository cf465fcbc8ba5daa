"""0D (lumped-parameter) blood flow: blocks, networks compiled to ODEs integrated with diffrax, Regazzoni 2022's closed
loop, svZeroDSolver interoperability. Units: the parameters' own (presets: mmHg, mL, s); time in seconds.

Modules: ``_blocks`` (the blocks and how each decomposes), ``_topology`` (`Network`, an immutable description, and its
`Topology`: points, edges and ports as named rows), ``_model`` (`ZeroDModel`: right-hand side, observation, state
helpers), ``_algebraic`` (pressures of points without storage), ``_steady`` (`steady_state`, `periodic_steady_state`),
``_solve`` (integrators, `simulate_zerod`, cohorts), ``_regazzoni`` (`Regazzoni2022`, the typed, cited parameters),
``_closed_loop`` (`Circulation`, `simulate_circulation`, `haemodynamics`), ``_circulation_run`` (`run_circulation`,
what ``organtwin flow circulation`` runs), ``_svzerod_json`` (svZeroDSolver's configurations and CSV). Solves report
`organtwin.RESULTS` (``throw=`` on every entry function).
"""

from ._activation import (
    AbstractActivation as AbstractActivation,
)
from ._activation import (
    DoubleCosine as DoubleCosine,
)
from ._activation import (
    Fourier as Fourier,
)
from ._activation import (
    HalfCosine as HalfCosine,
)
from ._activation import (
    TwoHill as TwoHill,
)
from ._activation import (
    WrappingCosine as WrappingCosine,
)
from ._blocks import (
    AbstractBlock as AbstractBlock,
)
from ._blocks import (
    BloodVessel as BloodVessel,
)
from ._blocks import (
    BloodVesselCRL as BloodVesselCRL,
)
from ._blocks import (
    BloodVesselJunction as BloodVesselJunction,
)
from ._blocks import (
    Chamber as Chamber,
)
from ._blocks import (
    ClosedLoopRCR as ClosedLoopRCR,
)
from ._blocks import (
    FlowBC as FlowBC,
)
from ._blocks import (
    Junction as Junction,
)
from ._blocks import (
    OpenLoopCoronary as OpenLoopCoronary,
)
from ._blocks import (
    PressureBC as PressureBC,
)
from ._blocks import (
    ResistanceBC as ResistanceBC,
)
from ._blocks import (
    ResistiveJunction as ResistiveJunction,
)
from ._blocks import (
    Valve as Valve,
)
from ._blocks import (
    ValveLaw as ValveLaw,
)
from ._blocks import (
    WindkesselRCR as WindkesselRCR,
)
from ._blocks_chambers import BloodVesselRC as BloodVesselRC
from ._blocks_chambers import ChamberSphere as ChamberSphere
from ._blocks_chambers import ExponentialChamber as ExponentialChamber
from ._blocks_chambers import OpenLoopCoronaryVarRes as OpenLoopCoronaryVarRes
from ._blocks_closed_loop import HEART_PARAMETERS as HEART_PARAMETERS
from ._blocks_closed_loop import ClosedLoopCoronary as ClosedLoopCoronary
from ._blocks_closed_loop import ClosedLoopHeartPulmonary as ClosedLoopHeartPulmonary
from ._blocks_closed_loop import CoronarySide as CoronarySide
from ._circulation_run import CirculationRun as CirculationRun
from ._circulation_run import activation_statistics as activation_statistics
from ._circulation_run import cavity_surface as cavity_surface
from ._circulation_run import edv_targets as edv_targets
from ._circulation_run import run_circulation as run_circulation
from ._closed_loop import (
    CHAMBERS as CHAMBERS,
)
from ._closed_loop import (
    Circulation as Circulation,
)
from ._closed_loop import (
    CirculationResult as CirculationResult,
)
from ._closed_loop import (
    haemodynamics as haemodynamics,
)
from ._closed_loop import (
    regazzoni2022 as regazzoni2022,
)
from ._closed_loop import (
    regazzoni2022_for_edv as regazzoni2022_for_edv,
)
from ._closed_loop import (
    simulate_circulation as simulate_circulation,
)
from ._model import ZeroDModel as ZeroDModel
from ._regazzoni import REGAZZONI2022 as REGAZZONI2022
from ._regazzoni import ChamberParameters as ChamberParameters
from ._regazzoni import InitialConditions as InitialConditions
from ._regazzoni import Regazzoni2022 as Regazzoni2022
from ._regazzoni import ValveParameters as ValveParameters
from ._regazzoni import VascularParameters as VascularParameters
from ._solve import (
    Cohort as Cohort,
)
from ._solve import (
    CohortSolution as CohortSolution,
)
from ._solve import (
    Integrator as Integrator,
)
from ._solve import (
    ZeroDSolution as ZeroDSolution,
)
from ._solve import (
    default_integrator as default_integrator,
)
from ._solve import (
    simulate_cohort as simulate_cohort,
)
from ._solve import (
    simulate_zerod as simulate_zerod,
)
from ._steady import PeriodicState as PeriodicState
from ._steady import cycle_change as cycle_change
from ._steady import periodic_steady_state as periodic_steady_state
from ._steady import steady_state as steady_state
from ._svzerod_json import (
    SvZeroDConfig as SvZeroDConfig,
)
from ._svzerod_json import (
    SvZeroDResult as SvZeroDResult,
)
from ._svzerod_json import (
    read_svzerod as read_svzerod,
)
from ._svzerod_json import (
    run_svzerod as run_svzerod,
)
from ._svzerod_json import (
    svzerod_csv as svzerod_csv,
)
from ._topology import Network as Network
from ._topology import Topology as Topology
from ._waveform import Waveform as Waveform

"""0D (lumped-parameter) blood flow: blocks, networks compiled to ODEs integrated with diffrax, Regazzoni 2022's closed
loop, svZeroDSolver interoperability. Units: the parameters' own (presets: mmHg, mL, s); time in seconds."""

from ._activation import (
    AbstractActivation as AbstractActivation,
    DoubleCosine as DoubleCosine,
    HalfCosine as HalfCosine,
    TwoHill as TwoHill,
)
from ._blocks import (
    AbstractBlock as AbstractBlock,
    BloodVessel as BloodVessel,
    BloodVesselCRL as BloodVesselCRL,
    BloodVesselJunction as BloodVesselJunction,
    Chamber as Chamber,
    ClosedLoopRCR as ClosedLoopRCR,
    FlowBC as FlowBC,
    Junction as Junction,
    OpenLoopCoronary as OpenLoopCoronary,
    PressureBC as PressureBC,
    ResistanceBC as ResistanceBC,
    ResistiveJunction as ResistiveJunction,
    Valve as Valve,
    ValveLaw as ValveLaw,
    WindkesselRCR as WindkesselRCR,
)
from ._network import Network as Network, ZeroDModel as ZeroDModel
from ._solve import (
    Cohort as Cohort,
    CohortSolution as CohortSolution,
    Integrator as Integrator,
    PeriodicState as PeriodicState,
    ZeroDSolution as ZeroDSolution,
    cycle_change as cycle_change,
    default_integrator as default_integrator,
    periodic_steady_state as periodic_steady_state,
    simulate_cohort as simulate_cohort,
    simulate_zerod as simulate_zerod,
)
from ._waveform import Waveform as Waveform
from ._svzerod_json import (
    SvZeroDConfig as SvZeroDConfig,
    SvZeroDResult as SvZeroDResult,
    read_svzerod as read_svzerod,
    run_svzerod as run_svzerod,
    svzerod_csv as svzerod_csv,
)
from ._closed_loop import (
    CHAMBERS as CHAMBERS,
    REGAZZONI2022 as REGAZZONI2022,
    Circulation as Circulation,
    CirculationResult as CirculationResult,
    haemodynamics as haemodynamics,
    regazzoni2022 as regazzoni2022,
    regazzoni2022_for_edv as regazzoni2022_for_edv,
    simulate_circulation as simulate_circulation,
)

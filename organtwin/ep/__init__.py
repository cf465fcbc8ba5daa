"""Tissue electrophysiology: the monodomain equation on P1 tets (operator splitting, explicit or theta-scheme diffusion),
stimuli, activation / repolarisation detection, probes; differentiable end to end."""

from .._compile import HOT_LOOP_OPTIONS as HOT_LOOP_OPTIONS
from ._activation import Record as Record, first_crossing as first_crossing
from ._monodomain import (
    Checkpointing as Checkpointing,
    initial_state as initial_state,
    simulate_monodomain as simulate_monodomain,
)
from ._outputs import MonodomainResult as MonodomainResult, MonodomainState as MonodomainState, locate_points as locate_points
from ._splitting import (
    AbstractDiffusion as AbstractDiffusion,
    ExplicitLumped as ExplicitLumped,
    Mass as Mass,
    NoDiffusion as NoDiffusion,
    Splitting as Splitting,
    ThetaScheme as ThetaScheme,
    explicit_stability_limit as explicit_stability_limit,
)
from ._stimulus import (
    AbstractStimulusRegion as AbstractStimulusRegion,
    Box as Box,
    NamedSurface as NamedSurface,
    NodeSet as NodeSet,
    Sphere as Sphere,
    Stimulus as Stimulus,
    StimulusUnits as StimulusUnits,
)
from ..ionic import VoltageLookup as VoltageLookup
from ._ap_template import APTemplate as APTemplate
from ._tissue import Conductivity as Conductivity, Tissue as Tissue
from ._eikonal import (
    ConductionVelocity as ConductionVelocity,
    EikonalProblem as EikonalProblem,
    EikonalResult as EikonalResult,
    EikonalSite as EikonalSite,
    EikonalTissue as EikonalTissue,
    simulate_eikonal as simulate_eikonal,
    solve_eikonal as solve_eikonal,
    velocity_metric as velocity_metric,
)
from ._tune import (
    CVTuning as CVTuning,
    strand_conduction_velocity as strand_conduction_velocity,
    tune_conductivity as tune_conductivity,
)
from ._niederer import (
    NIEDERER_POINTS as NIEDERER_POINTS,
    NIEDERER_REFERENCE_FENICSX_BEAT as NIEDERER_REFERENCE_FENICSX_BEAT,
    NIEDERER_SPEC as NIEDERER_SPEC,
    NiedererResult as NiedererResult,
    niederer_benchmark as niederer_benchmark,
    niederer_stimulus as niederer_stimulus,
    niederer_tissue as niederer_tissue,
)

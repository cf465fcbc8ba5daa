"""Tissue electrophysiology: the monodomain equation on P1 tets (operator splitting, explicit or theta-scheme diffusion),
stimuli, activation / repolarisation detection, probes; differentiable end to end."""

from .._compile import HOT_LOOP_OPTIONS as HOT_LOOP_OPTIONS
from ..ionic import VoltageLookup as VoltageLookup
from ._activation import Record as Record
from ._activation import first_crossing as first_crossing
from ._activation_map import ActivationMap as ActivationMap
from ._activation_map import eikonal_activation_map as eikonal_activation_map
from ._ap_template import APTemplate as APTemplate
from ._eikonal import (
    ConductionVelocity as ConductionVelocity,
)
from ._eikonal import (
    EikonalProblem as EikonalProblem,
)
from ._eikonal import (
    EikonalResult as EikonalResult,
)
from ._eikonal import (
    EikonalSite as EikonalSite,
)
from ._eikonal import (
    EikonalTissue as EikonalTissue,
)
from ._eikonal import (
    simulate_eikonal as simulate_eikonal,
)
from ._eikonal import (
    solve_eikonal as solve_eikonal,
)
from ._eikonal import (
    velocity_metric as velocity_metric,
)
from ._monodomain import (
    Checkpointing as Checkpointing,
)
from ._monodomain import (
    initial_state as initial_state,
)
from ._monodomain import (
    simulate_monodomain as simulate_monodomain,
)
from ._niederer import (
    NIEDERER_POINTS as NIEDERER_POINTS,
)
from ._niederer import (
    NIEDERER_REFERENCE_FENICSX_BEAT as NIEDERER_REFERENCE_FENICSX_BEAT,
)
from ._niederer import (
    NIEDERER_SPEC as NIEDERER_SPEC,
)
from ._niederer import (
    NiedererResult as NiedererResult,
)
from ._niederer import (
    niederer_benchmark as niederer_benchmark,
)
from ._niederer import (
    niederer_stimulus as niederer_stimulus,
)
from ._niederer import (
    niederer_tissue as niederer_tissue,
)
from ._niederer_report import niederer_report as niederer_report
from ._outputs import MonodomainResult as MonodomainResult
from ._outputs import MonodomainState as MonodomainState
from ._outputs import locate_points as locate_points
from ._sites import check_sites as check_sites
from ._sites import default_site_radius as default_site_radius
from ._sites import eikonal_sites as eikonal_sites
from ._splitting import (
    AbstractDiffusion as AbstractDiffusion,
)
from ._splitting import (
    ExplicitLumped as ExplicitLumped,
)
from ._splitting import (
    Mass as Mass,
)
from ._splitting import (
    NoDiffusion as NoDiffusion,
)
from ._splitting import (
    Splitting as Splitting,
)
from ._splitting import (
    ThetaScheme as ThetaScheme,
)
from ._splitting import (
    explicit_stability_limit as explicit_stability_limit,
)
from ._stimulus import (
    AbstractStimulusRegion as AbstractStimulusRegion,
)
from ._stimulus import (
    Box as Box,
)
from ._stimulus import (
    NamedSurface as NamedSurface,
)
from ._stimulus import (
    NodeSet as NodeSet,
)
from ._stimulus import (
    Sphere as Sphere,
)
from ._stimulus import (
    Stimulus as Stimulus,
)
from ._stimulus import (
    StimulusUnits as StimulusUnits,
)
from ._tissue import Conductivity as Conductivity
from ._tissue import Tissue as Tissue
from ._tune import (
    CVTuning as CVTuning,
)
from ._tune import (
    strand_conduction_velocity as strand_conduction_velocity,
)
from ._tune import (
    tune_conductivity as tune_conductivity,
)

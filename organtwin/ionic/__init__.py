"""Ionic (single-cell) models under one interface, the reaction step used by tissue solvers, and single-cell pacing.

Sign convention everywhere: ``dV/dt = -Iion + Istim`` (mV, ms, µA/µF; a positive stimulus depolarises).
"""

from ._base import (
    AbstractIonicModel as AbstractIonicModel,
    GateTable as GateTable,
    VoltageLookup as VoltageLookup,
    gate_table as gate_table,
    forward_euler_step as forward_euler_step,
    reaction_increments as reaction_increments,
    reaction_step as reaction_step,
)
from ._aliev_panfilov import AlievPanfilov1996 as AlievPanfilov1996
from ._mitchell_schaeffer import MitchellSchaeffer2003 as MitchellSchaeffer2003
from ._fenton_karma import FentonKarma1998 as FentonKarma1998
from ._bueno_orovio import BuenoOrovio2008 as BuenoOrovio2008
from ._tentusscher2006 import TenTusscher2006 as TenTusscher2006
from ._cell import (
    CellTrace as CellTrace,
    ap_features as ap_features,
    pace_cell as pace_cell,
    simulate_cell as simulate_cell,
)
from ._registry import MODEL_NAMES as MODEL_NAMES, model_from_name as model_from_name
from ._limits import (
    check_time_step as check_time_step,
    nonfinite_message as nonfinite_message,
    stimulus_advice as stimulus_advice,
    time_step_limits as time_step_limits,
)

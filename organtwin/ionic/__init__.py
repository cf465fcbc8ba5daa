"""Ionic (single-cell) models under one interface, the reaction step used by tissue solvers, and single-cell pacing.

Sign convention everywhere: ``dV/dt = -Iion + Istim`` (mV, ms, µA/µF; a positive stimulus depolarises).
"""

from ._aliev_panfilov import AlievPanfilov1996 as AlievPanfilov1996
from ._base import (
    AbstractIonicModel as AbstractIonicModel,
)
from ._base import (
    GateTable as GateTable,
)
from ._base import (
    VoltageLookup as VoltageLookup,
)
from ._base import (
    forward_euler_step as forward_euler_step,
)
from ._base import (
    gate_table as gate_table,
)
from ._base import (
    reaction_increments as reaction_increments,
)
from ._base import (
    reaction_step as reaction_step,
)
from ._bueno_orovio import BuenoOrovio2008 as BuenoOrovio2008
from ._cell import (
    CellTrace as CellTrace,
)
from ._cell import (
    ap_features as ap_features,
)
from ._cell import (
    pace_cell as pace_cell,
)
from ._cell import (
    simulate_cell as simulate_cell,
)
from ._fenton_karma import FentonKarma1998 as FentonKarma1998
from ._limits import (
    check_time_step as check_time_step,
)
from ._limits import (
    nonfinite_message as nonfinite_message,
)
from ._limits import (
    stimulus_advice as stimulus_advice,
)
from ._limits import (
    time_step_limits as time_step_limits,
)
from ._mitchell_schaeffer import MitchellSchaeffer2003 as MitchellSchaeffer2003
from ._registry import MODEL_NAMES as MODEL_NAMES
from ._registry import model_from_name as model_from_name
from ._tentusscher2006 import TenTusscher2006 as TenTusscher2006

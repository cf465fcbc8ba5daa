"""Shape-annotated array aliases used in public signatures (jaxtyping)."""

from __future__ import annotations

import numpy as np
from jaxtyping import Array, Float, Int

ArrayLike = Array | np.ndarray

Points = Float[ArrayLike, "nodes 3"]
Tets = Int[ArrayLike, "cells 4"]
Triangles = Int[ArrayLike, "faces 3"]
CellScalar = Float[ArrayLike, " cells"]
CellVector = Float[ArrayLike, "cells 3"]
CellTensor = Float[ArrayLike, "cells 3 3"]
NodalField = Float[ArrayLike, " nodes"]
RegionIds = Int[ArrayLike, " cells"]

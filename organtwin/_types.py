"""Shape-annotated array aliases used in public signatures (jaxtyping)."""

from __future__ import annotations

import numpy as np
from jaxtyping import Array, Float, Int

ArrayLike = Array | np.ndarray

#: A Python number where a float is meant: ``int`` included (PEP 484's numeric tower, which beartype checks strictly).
#: For a scalar that may also be a JAX array or a tracer (a calibrated parameter, a time step under jit) use
#: ``float | jax.Array`` (a float annotation admits an int: the tests check with PEP 484's numeric tower).
Number = int | float

Points = Float[ArrayLike, "nodes 3"]
Tets = Int[ArrayLike, "cells 4"]
Triangles = Int[ArrayLike, "faces 3"]
CellScalar = Float[ArrayLike, " cells"]
CellVector = Float[ArrayLike, "cells 3"]
CellTensor = Float[ArrayLike, "cells 3 3"]
NodalField = Float[ArrayLike, " nodes"]
RegionIds = Int[ArrayLike, " cells"]

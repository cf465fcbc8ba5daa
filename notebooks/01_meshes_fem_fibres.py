# %% [markdown]
# # organtwin tutorial 1: meshes, P1 finite elements, fibres, gradients
#
# A notebook in Jupytext "percent" format: open it in Jupyter with jupytext, or run it as a script
# (`python notebooks/01_meshes_fem_fibres.py`). The test suite executes it (tests/test_notebooks.py).
# Set `ORGANTWIN_NOTEBOOK_OUT` to choose where pictures go (default: ./organtwin-notebook-out).

# %%
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # the user's choice, made here and not inside organtwin

from organtwin.mesh import (
    P1Geometry,
    SparsityPattern,
    assemble_stiffness,
    builtin_mesh_path,
    conductivity_tensors,
    format_summary,
    laplace_solve,
    lumped_mass,
    mesh_summary,
    read_mesh,
    rule_based_fibres,
)

out = Path(os.environ.get("ORGANTWIN_NOTEBOOK_OUT", "organtwin-notebook-out"))
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Read a built-in mesh and look at it
# Every read runs the checks (NaN coordinates, missing nodes, zero/inverted tets, unused nodes, components, units).

# %%
mesh = read_mesh(builtin_mesh_path("lv_ellipsoid"))
print(format_summary(mesh_summary(mesh)))

# %% [markdown]
# ## 2. P1 geometry: the lumped mass sums to the volume

# %%
geom = P1Geometry.from_mesh(mesh)
M = lumped_mass(geom)
print(f"sum of lumped mass = {float(M.sum()):.3f} mm^3, sum of tet volumes = {mesh.cell_volumes().sum():.3f} mm^3")
assert np.isclose(float(M.sum()), mesh.cell_volumes().sum(), rtol=1e-12)

# %% [markdown]
# ## 3. Rule-based fibres (Bayer et al. 2012): helix +60 deg at the endocardium to -60 deg at the epicardium

# %%
mesh = rule_based_fibres(mesh)
ha = mesh.cell_data["helix_angle"]
print(f"helix angle range: {ha.min():.1f} .. {ha.max():.1f} deg")

# %% [markdown]
# ## 4. An anisotropic Laplace problem and its gradient with respect to the conductivities
# A potential fixed to 0 on the endocardium and 1 on the base, with conductivity 0.2 S/m along fibres and 0.05 S/m across;
# J = mean potential next to the endocardium. Only the ratio of the conductivities matters (scaling both leaves u unchanged),
# so the gradient is orthogonal to sigma: a check of its own. Gradients flow through assembly and the CG solve (lineax
# implicit differentiation).

# %%
pattern = SparsityPattern.from_mesh(mesh)
fibres = jnp.asarray(mesh.fibres)
probe = np.unique(mesh.tets[np.isin(mesh.tets, mesh.surface_nodes("endo_lv")).any(axis=1)])


def objective(sig):
    D = conductivity_tensors(sig[0], sig[1], fibres)
    K = assemble_stiffness(geom, D, pattern)
    u = laplace_solve(mesh, {"endo_lv": 0.0, "base": 1.0}, stiffness=K, rtol=1e-10)
    return u[probe].mean()


sig = jnp.array([0.2, 0.05])
J, dJ = jax.value_and_grad(objective)(sig)
h = 1e-6
fd = [(objective(sig.at[i].add(h)) - objective(sig.at[i].add(-h))) / (2 * h) for i in range(2)]
print(f"J = {float(J):.6f}; dJ/dsigma = {np.asarray(dJ)}; finite differences = {np.asarray(fd)}")
assert np.allclose(np.asarray(dJ), np.asarray(fd), rtol=1e-4)
assert abs(float(dJ @ sig)) < 1e-6 * float(jnp.abs(dJ).max() * jnp.abs(sig).max())  # scale invariance

# %% [markdown]
# ## 5. Pictures (off-screen)

# %%
from organtwin.viz import render_fibres, render_mesh

print(render_mesh(mesh, out / "lv_transmural.png", field="transmural"))
print(render_fibres(mesh, out / "lv_fibres.png"))

"""calibrate is core: it imports neither io nor viz, changes no process-wide state, and its fit outcomes carry the
fitted model's outputs, which the pictures draw (chosen by the loss's `observables`, not by class names)."""

import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from organtwin.calibrate import (
    AbstractLoss,
    ActivationObservables,
    ActivationTimeLoss,
    MeasurementLoss,
    TraceObservables,
)

ROOT = Path(__file__).resolve().parent.parent / "organtwin"


def test_import_calibrate_imports_neither_io_nor_viz():
    code = (
        "import sys, organtwin.calibrate\n"
        "bad = sorted(m for m in sys.modules if m in ('organtwin.io', 'organtwin.viz') or "
        "m.startswith(('organtwin.io.', 'organtwin.viz.')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_library_changes_no_process_wide_state():
    """x64, the environment and matplotlib's backend are the application's (cli/) to set, never the library's."""
    found = []
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT).as_posix()
        if rel.startswith("cli/"):
            continue
        for k, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if (
                "jax.config.update(" in code
                and "jax_enable_x64" in code
                and not code.strip().startswith(("raise", '"', "'", "f'", 'f"'))
                and "call jax.config" not in line
            ):
                found.append(f"{rel}:{k}: {line.strip()}")
            if "os.environ.setdefault(" in code or "matplotlib.use(" in code or "os.putenv(" in code:
                found.append(f"{rel}:{k}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_loss_says_which_pictures_it_gets():
    with pytest.raises(TypeError):

        class NoPicture(AbstractLoss):
            noise_sd: float = 1.0

            def residuals(self, prediction):
                return prediction

        NoPicture()
    assert MeasurementLoss(jnp.asarray([1.0])).observables(jnp.asarray([2.0])) is None


def test_activation_observables_carry_the_points_and_the_offset_corrected_times(biv_small=None):
    from organtwin.calibrate import ActivationMap
    from organtwin.mesh import builtin_mesh_path, read_mesh

    mesh = read_mesh(builtin_mesh_path("lv_ellipsoid"))
    act = np.asarray(mesh.points[:, 2] - mesh.points[:, 2].min())
    amap = ActivationMap.synthetic(mesh, act, 30, offset_ms=7.0, seed=3)
    loss = ActivationTimeLoss.from_map(mesh, amap)
    obs = loss.observables(jnp.asarray(act))
    assert isinstance(obs, ActivationObservables)
    np.testing.assert_allclose(obs.points_mm, amap.points_mm)
    np.testing.assert_allclose(obs.predicted_ms, amap.times_ms - 7.0, atol=1e-9)
    np.testing.assert_allclose(obs.measured_ms, obs.predicted_ms, atol=1e-9)  # the 7 ms offset is removed


def test_the_pictures_are_drawn_from_the_observables_given(tmp_path):
    from organtwin.viz import calibration_pictures

    t = np.linspace(0.0, 800.0, 50)
    obs = {
        "lv_volume": TraceObservables(
            t, 120 + 40 * np.cos(t / 800 * 2 * np.pi), "LV volume (mL)", t[::5], 121 + t[::5] * 0
        ),
        "map": ActivationObservables(np.zeros(4), None, np.arange(5.0), np.arange(5.0) + 0.5),
        "scalar": None,
    }
    paths = calibration_pictures(obs, tmp_path)
    assert [p.name for p in paths] == ["lv_volume.png", "map_scatter.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

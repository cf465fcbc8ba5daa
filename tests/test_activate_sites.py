"""Earliest-activation sites on a mesh (organtwin.ep.eikonal_sites / check_sites, used by `organtwin activate`): each
site must select a node; an off-mesh site is refused with one line naming the nearest node and its distance."""

from __future__ import annotations

import numpy as np
import pytest

from organtwin import InputError
from organtwin.ep import EikonalSite, check_sites, default_site_radius, eikonal_sites
from organtwin.mesh import mean_edge_length, slab_mesh


@pytest.fixture(scope="module")
def slab():
    return slab_mesh((4.0, 2.0, 1.0), 0.5)


def test_default_radius_and_sites(slab):
    r = default_site_radius(slab)
    assert r == pytest.approx(1.5 * mean_edge_length(slab))
    sites = eikonal_sites(slab, [((0.0, 0.0, 0.0), 0.0), ((4.0, 2.0, 1.0), 5.0)])
    assert len(sites) == 2 and all(isinstance(s, EikonalSite) and s.radius == r for s in sites)
    assert float(sites[1].onset) == 5.0 and np.allclose(np.asarray(sites[1].position), (4.0, 2.0, 1.0))
    (s,) = eikonal_sites(slab, [((1.0, 1.0, 0.5), 0.0)], radius=0.0)  # the nearest node alone
    assert s.radius == 0.0


def test_a_site_off_the_mesh_names_the_nearest_node(slab):
    with pytest.raises(InputError) as e:
        eikonal_sites(slab, [((0.0, 0.0, 0.0), 0.0), ((10.0, 0.0, 0.0), 0.0)], radius=1.0)
    msg = str(e.value)
    assert msg.startswith("site 1: no mesh node within 1 mm of it; the nearest mesh node is ") and "\n" not in msg
    assert (
        "at (4, 0, 0) mm, 6 mm away (check the units, move the site onto the mesh, or raise the site's radius)" in msg
    )
    with pytest.raises(InputError, match=r"^--site 9,0,0: .* or raise --site-radius\)$"):
        eikonal_sites(slab, [((9.0, 0.0, 0.0), 0.0)], names=["--site 9,0,0"], radius_hint="--site-radius")


def test_a_nearest_node_site_far_off_the_mesh(slab):
    eikonal_sites(slab, [((5.0, 0.0, 0.0), 0.0)], radius=0.0)  # 1 mm off: within 3 mean edges
    with pytest.raises(InputError, match=r"site 0: the site is 6 mm from the mesh \(more than 3 mean edges\)"):
        eikonal_sites(slab, [((10.0, 0.0, 0.0), 0.0)], radius=0.0)


def test_check_sites_takes_site_objects_and_a_tissue(slab):
    from organtwin.ep import ConductionVelocity, EikonalTissue

    tissue = EikonalTissue.from_mesh(slab, ConductionVelocity(0.6))
    check_sites(tissue, [EikonalSite((0.0, 0.0, 0.0), radius=0.6)])
    with pytest.raises(InputError, match="site 0: no mesh node within 0.6 mm"):
        check_sites(tissue, [EikonalSite((0.0, 0.0, 5.0), radius=0.6)])


def test_radius_must_be_a_length(slab):
    with pytest.raises(InputError, match="site radius must be a length >= 0"):
        eikonal_sites(slab, [((0.0, 0.0, 0.0), 0.0)], radius=-1.0)

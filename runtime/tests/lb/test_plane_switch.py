"""Which plane a reloaded ``tandem_lb_plane`` opens (tandem.lb.planes.switch_plane), with the planes faked:
this kernel has no IP_VS, so the IPVS plane's opening succeeds or fails as told."""

from __future__ import annotations

import pytest
from tandem.lb import planes
from tandem.lb.plane import PlaneError


class Fake:
    def __init__(self, name: str):
        self.name = name


@pytest.fixture
def kernel(monkeypatch):
    """Set ``kernel["ipvs"]`` to say whether the IPVS plane opens."""
    import tandem.lb.ipvs
    import tandem.lb.nftables

    state = {"ipvs": True}

    def ipvs():
        if not state["ipvs"]:
            raise PlaneError("IPVS: no ip_vs module")
        return Fake("ipvs")

    monkeypatch.setattr(tandem.lb.ipvs, "IpvsPlane", ipvs)
    monkeypatch.setattr(tandem.lb.nftables, "NftablesPlane", lambda: Fake("nftables"))
    return state


def test_the_same_plane_carries_on(kernel):
    assert planes.switch_plane(Fake("nftables"), "nftables") is None
    assert planes.switch_plane(Fake("ipvs"), "ipvs") is None
    assert planes.switch_plane(Fake("ipvs"), "auto") is None


def test_auto_moves_to_ipvs_only_where_it_runs(kernel):
    assert planes.switch_plane(Fake("nftables"), "auto").name == "ipvs"
    kernel["ipvs"] = False
    assert planes.switch_plane(Fake("nftables"), "auto") is None


def test_an_explicit_other_plane_opens_or_is_refused(kernel):
    assert planes.switch_plane(Fake("ipvs"), "nftables").name == "nftables"
    assert planes.switch_plane(Fake("nftables"), "ipvs").name == "ipvs"
    kernel["ipvs"] = False
    with pytest.raises(PlaneError, match="no ip_vs module"):
        planes.switch_plane(Fake("nftables"), "ipvs")
    with pytest.raises(PlaneError, match="unknown data plane"):
        planes.switch_plane(Fake("nftables"), "xdp")

"""pytest fixtures for lab tests: ``make_lab(hosts=N)`` builds a lab that is always torn down."""

from __future__ import annotations

import os

import pytest

from tandemlab.topology import Lab


@pytest.fixture
def make_lab():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    labs: list[Lab] = []

    def make(hosts: int = 2) -> Lab:
        lab = Lab(hosts)
        labs.append(lab)
        return lab.start()

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab2(make_lab) -> Lab:
    """Two hosts, h1 and h2."""
    return make_lab(2)

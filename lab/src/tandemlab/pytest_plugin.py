"""pytest fixtures for lab tests: ``make_lab(hosts=N)`` builds a lab that is always torn down."""

from __future__ import annotations

import os

import pytest

from tandemlab import cleanup, naming
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


def pytest_sessionfinish(session, exitstatus):
    """The suite must leave no lab behind: a namespace this run made and did not remove fails the run."""
    if os.geteuid() != 0:
        return
    mine = [name for name in cleanup.lab_namespaces() if naming.owner_pid(name) == os.getpid()]
    if mine:
        cleanup.remove_namespaces(mine)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\ntandemlab: the run left {len(mine)} lab namespaces behind (now removed): {', '.join(mine)}")

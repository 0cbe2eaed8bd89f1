"""tandem.rtnetlink: tandemd's start path imports pyroute2's rtnetlink API without pyroute2's package
``__init__`` (every other protocol it speaks), and the package still works whole for anyone else."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing of pyroute2 imported yet); its stdout."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_daemon_start_path_skips_pyroute2_package_init():
    out = run_fresh(
        """
        import asyncio, sys
        import tandem.daemon.service
        from tandem.rtnetlink import AsyncIPRoute

        async def loopback():
            ipr = AsyncIPRoute()
            try:
                return await ipr.link_lookup(ifname="lo")
            finally:
                ipr.close()

        print(asyncio.run(loopback()), "pyroute2.ndb.main" in sys.modules)
        """
    )
    assert out.split() == ["[1]", "False"]


def test_pyroute2_names_still_import_after_it():
    out = run_fresh(
        """
        import tandem.rtnetlink
        from pyroute2 import config
        print(config.__name__)
        from pyroute2 import NDB, IPRoute
        import pyroute2
        print(NDB.__name__, IPRoute is pyroute2.IPRoute, pyroute2.__version__ != "unknown")
        """
    )
    assert out.split() == ["pyroute2.config", "NDB", "True", "True"]

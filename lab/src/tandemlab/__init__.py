"""Test hosts for Tandem: network namespaces on a bridge, with processes, faults and captures.

Used by the test suites, the benchmarks and the demo; never shipped to targets.
"""

from tandemlab.capture import Capture
from tandemlab.process import LabProcess
from tandemlab.topology import Host, Lab

__all__ = ["Capture", "Host", "Lab", "LabProcess"]

"""Offline stand-in for the get-pip.py bootstrap that ansible-test downloads (it cannot here).

ansible-test runs it as ``python get_pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]`` in a
fresh venv: we install pip from the interpreter's own ensurepip, then let that pip install what was asked
from the package index this machine can reach.
"""

import os
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
env = {name: value for name, value in os.environ.items() if name != "PIP_CONFIG_FILE"}
options = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", *options], env=env)

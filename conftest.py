"""Shared pytest set-up: the lab fixtures, and the checkout visible to ansible as collection tandem.ha."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".venv" / "collections"))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

pytest_plugins = ["tandemlab.pytest_plugin"]

"""Shared pytest set-up: the lab fixtures, and the checkout visible to ansible as collection tandem.ha."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".venv" / "collections"))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

pytest_plugins = ["tandemlab.pytest_plugin"]

# Property tests are bounded by their example counts, not by time: Hypothesis's per-example deadline
# (200 ms) is a timed assertion, and fails on a loaded machine (tests/ never time their assertions).
from hypothesis import settings  # noqa: E402

settings.register_profile("tandem", deadline=None)
settings.load_profile("tandem")

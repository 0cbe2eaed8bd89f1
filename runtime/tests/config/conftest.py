"""Fixtures of the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import ConfigFiles


@pytest.fixture
def files(tmp_path: Path) -> ConfigFiles:
    return ConfigFiles(tmp_path)

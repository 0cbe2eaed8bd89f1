"""``tandemd -t`` / ``tandemctl config check``: print findings, exit 0 when the config is valid.

Text output goes to stderr as ``FILE:LINE: error|warning: message`` (like keepalived); ``--json``
prints one JSON document on stdout. Exit status: 0 valid (warnings allowed), 1 errors. A missing or
unreadable file is an error (keepalived exits 0 there).
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from tandem.config import ConfigSource


def run_config_test(source: ConfigSource, as_json: bool = False, report: TextIO | None = None) -> int:
    """``report``: where the text findings go (stderr by default; tandemd's ``-t LOG_FILE``)."""
    result = source.load()
    path = source.path
    report = report or sys.stderr
    errors = len(result.errors)
    if as_json:
        document = {
            "file": path,
            "valid": errors == 0,
            "errors": errors,
            "warnings": len(result.findings) - errors,
            "findings": [finding.as_dict() for finding in result.findings],
        }
        print(json.dumps(document, indent=2))
    else:
        for finding in result.findings:
            print(finding, file=report)
        verdict = "is valid" if errors == 0 else f"has {errors} error{'s' * (errors != 1)}"
        print(f"{path}: configuration {verdict}", file=report)
    return 0 if errors == 0 else 1

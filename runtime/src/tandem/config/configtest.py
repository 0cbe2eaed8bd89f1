"""``tandemd -t`` / ``tandemctl config check``: print findings, exit 0 when the config is valid.

Text output goes to stderr as ``FILE:LINE: error|warning: message`` (like keepalived); ``--json``
prints one JSON document on stdout. Exit status: 0 valid (warnings allowed), 1 errors. A missing or
unreadable file is an error (keepalived exits 0 there).
"""

from __future__ import annotations

import json
import sys

from tandem.config import load_config


def run_config_test(path: str, as_json: bool = False) -> int:
    result = load_config(path)
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
            print(finding, file=sys.stderr)
        verdict = "is valid" if errors == 0 else f"has {errors} error{'s' * (errors != 1)}"
        print(f"{path}: configuration {verdict}", file=sys.stderr)
    return 0 if errors == 0 else 1

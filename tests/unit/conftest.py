"""Unit tests import the plugins as ``ansible_collections.tandem.ha.plugins...``, as ansible does.

``.venv/collections/ansible_collections/tandem/ha`` links to this checkout (scripts/setup.sh); putting
``.venv/collections`` first on sys.path lets plain pytest import it. The PyPI ``ansible`` package's own
``ansible_collections`` (community collections) is a namespace package too, so both stay importable.
"""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[2] / ".venv" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

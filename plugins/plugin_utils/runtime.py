# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tandem runtime for controller-side plugins, imported from this collection's own ``runtime/src``.

The planner and the config writer run the very code the tandemd role installs on the hosts, so the
controller never plans with another version than the hosts run, nothing is installed into or built
inside the installed collection (``ansible-galaxy collection verify`` stays clean), and a controller needs
no build tools for planning. The runtime's one third-party dependency on the controller is voluptuous
(the collection's requirements.txt). Without ``runtime/src`` (a stripped copy), an installed ``tandem``
package is used.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

RUNTIME_SRC = Path(__file__).resolve().parents[2] / "runtime" / "src"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def import_runtime(name: str):
    """Import ``tandem.<name>``; an ImportError says what the controller's Python lacks."""
    if RUNTIME_SRC.is_dir() and "tandem" not in sys.modules and str(RUNTIME_SRC) not in sys.path:
        sys.path.insert(0, str(RUNTIME_SRC))
    # No bytecode inside the installed collection: `ansible-galaxy collection verify` would report the
    # __pycache__ directories as modified content.
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        return importlib.import_module(f"tandem.{name}")
    except ImportError as exc:
        raise ImportError(
            f"the tandem.ha controller plugins run the collection's runtime ({RUNTIME_SRC}) in the Python "
            f"that runs Ansible ({sys.executable}), which cannot import it ({exc}); install its requirements "
            f"there: {sys.executable} -m pip install -r {REQUIREMENTS}"
        ) from exc
    finally:
        sys.dont_write_bytecode = writes

import sys
from pathlib import Path

# the VRRP lab helpers (how tandemd is started on lab hosts, holders) are shared
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vrrp"))

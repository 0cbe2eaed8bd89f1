import sys
from pathlib import Path

# the VRRP lab helpers (how tandemd and keepalived are configured on lab hosts) are shared
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vrrp"))
# tandemd with its control socket on a lab host (the daemon tests' helper)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
# the control socket's hostile-client helpers
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "control"))

"""``tandemd -t`` and ``tandemctl config check|dump`` as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import MINIMAL_INSTANCE, SAMPLES

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flags", [("-t", "-f"), ("--config-test", "--use-file")])
def test_valid_config_exits_0(files, flags):
    path = files.write("keepalived.conf", MINIMAL_INSTANCE)
    done = run("tandemd", flags[0], flags[1], str(path))
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"{path}: configuration is valid\n"


def test_errors_print_file_line_and_did_you_mean_and_exit_1(files):
    path = files.write(
        "keepalived.conf", MINIMAL_INSTANCE.replace("interface eth0", "interface eth0\n    prority 5")
    )
    done = run("tandemd", "-t", "-f", str(path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{path}:4: error: unknown keyword 'prority' in vrrp_instance; did you mean 'priority'?",
        f"{path}: configuration has 1 error",
    ]


def test_missing_file_is_an_error_unlike_keepalived(tmp_path):
    done = run("tandemd", "-t", "-f", str(tmp_path / "nope.conf"))
    assert done.returncode == 1
    assert f"{tmp_path}/nope.conf:1: error: cannot read" in done.stderr
    keepalived = subprocess.run(
        ["keepalived", "-t", "-f", str(tmp_path / "nope.conf")], capture_output=True, timeout=60
    )
    assert keepalived.returncode == 0  # the deliberate difference


def test_json_output_for_tools(files):
    path = files.write("keepalived.conf", "global_defs {\n    enable_traps\n}\nbogus {\n}\n")
    done = run("tandemd", "-t", "--json", "-f", str(path))
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert (document["valid"], document["errors"], document["warnings"]) == (False, 1, 1)
    assert document["findings"] == [
        {
            "file": str(path),
            "line": 2,
            "severity": "warning",
            "message": "'enable_traps' in global_defs is not supported yet; ignored",
        },
        {
            "file": str(path),
            "line": 4,
            "severity": "error",
            "message": "unknown keyword 'bogus' in the top level",
        },
    ]


def test_tandemctl_config_check_matches_tandemd(files):
    path = files.write("keepalived.conf", MINIMAL_INSTANCE)
    assert run("tandemctl", "config", "check", "-f", str(path)).returncode == 0
    done = run("tandemctl", "--json", "config", "check", "-f", str(path))
    assert json.loads(done.stdout)["valid"] is True


def test_tandemctl_config_dump_expands_includes_and_parameters(files):
    files.write("vips.conf", "198.51.100.${N}/24\n")
    path = files.write(
        "keepalived.conf",
        """
        $N=42
        vrrp_instance VI_1 {
            interface eth0   ! comment
            virtual_router_id $N
            virtual_ipaddress {
                include vips.conf
            }
        }
        virtual_server 203.0.113.1 80 {
            lb_algo rr
            lb_kind DR
            real_server 198.51.100.1 80 {
            }
        }
        """,
    )
    done = run("tandemctl", "config", "dump", "-f", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 42\n    priority 100\n"
        "    virtual_ipaddress {\n        198.51.100.42/24\n    }\n}\n"
        "virtual_server 203.0.113.1 80 {\n    lvs_sched rr\n    lvs_method DR\n"
        "    real_server 198.51.100.1 80 {\n    }\n}\n"
    )
    with_defaults = run("tandemctl", "config", "dump", "--defaults", "-f", str(path)).stdout
    for default in (
        "    priority 100\n",
        "    advert_int 1\n",
        "    vrrp_garp_master_delay 5\n",
        "    state BACKUP\n",
    ):
        assert default in with_defaults


def test_dump_of_an_invalid_config_reports_and_fails(files):
    path = files.write("keepalived.conf", "vrrp_instance {\n}\n")
    done = run("tandemctl", "config", "dump", "-f", str(path))
    assert (done.returncode, done.stdout) == (1, "")
    assert f"{path}:1: error:" in done.stderr


def test_sample_through_the_real_cli():
    done = run("tandemd", "-t", "-f", str(SAMPLES / "keepalived.conf.vrrp.lvs_syncd"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert ":4: error: unknown keyword 'VI_2' in vrrp_sync_group" in done.stderr

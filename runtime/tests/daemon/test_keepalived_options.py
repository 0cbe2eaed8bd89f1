"""tandemd's command line against keepalived 2.2.7's: every option keepalived has is known to tandemd, and
each does what keepalived's does or says at start that it does not.

The options that need no daemon are run as commands; the rest on a real tandemd in a lab namespace:
``-R`` (a dead child stops tandemd), ``-d`` (the config in the log, secrets masked), ``-s`` (tandemd
started outside the namespace runs inside it), ``--all``, ``-u``, and the state signals (SIGUSR2,
SIGRTMAX-1, SIGRTMIN+2 write their files, the daemon keeps running).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandem.cli.tandemd import UNSUPPORTED_OPTIONS, build_parser, parse_args, parse_umask
from tandem.control.client import ControlError, request
from tandem.daemon import signal_of
from tandem.daemon.spawn import child_argv, child_options
from tandemlab.polling import wait_for
from vrrp_lab import TANDEMD

VIP = "198.51.100.173/24"
KEEPALIVED = shutil.which("keepalived")
needs_keepalived = pytest.mark.skipif(KEEPALIVED is None, reason="keepalived (Debian's 2.2.7) not installed")


def tandemd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TANDEMD, *args], capture_output=True, text=True, timeout=60)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


LOOPBACK_INSTANCE = """\
vrrp_instance VI_1 {
    interface lo
    virtual_router_id 5
    priority 100
    virtual_ipaddress {
        203.0.113.9
    }
}
"""


@needs_keepalived
def test_every_keepalived_option_is_known_to_tandemd():
    """keepalived --help's options, short and long: each is one of tandemd's (done or said unsupported)."""
    text = subprocess.run([KEEPALIVED, "--help"], capture_output=True, text=True).stderr
    theirs = set(re.findall(r"(?<![\w-])(-\w|--[\w-]+)", text)) - {"-h", "--help"}
    ours = set(build_parser()._option_string_actions)
    assert theirs and theirs <= ours, sorted(theirs - ours)


@needs_keepalived
def test_signal_numbers_are_keepalived_s():
    for function in ("STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON"):
        theirs = subprocess.run([KEEPALIVED, f"--signum={function}"], capture_output=True, text=True)
        ours = tandemd(f"--signum={function}")
        assert (ours.returncode, ours.stdout) == (0, theirs.stdout) == (0, f"{int(signal_of(function))}\n")
    unknown = tandemd("--signum=THREAD")
    assert unknown.returncode == 1 and "Unknown sigfunc THREAD" in unknown.stderr


def test_config_test_takes_its_log_file_only_attached(tmp_path):
    config = write(tmp_path / "tandemd.conf", LOOPBACK_INSTANCE + "include missing-*.conf\n")
    assert parse_args(["-t", "-f", str(config)]).config_test == "-"
    assert parse_args([f"-t{tmp_path / 'x.log'}"]).config_test == str(tmp_path / "x.log")
    # `tandemd -t FILE` must not write the findings over FILE: FILE is not taken as the log file
    with pytest.raises(SystemExit):
        parse_args(["-t", str(config)])
    assert config.read_text().startswith("vrrp_instance")
    log = tmp_path / "test.log"
    done = tandemd("-f", str(config), f"--config-test={log}")
    assert done.returncode == 0 and done.stderr == ""
    assert f"{config}:9: warning: include missing-*.conf: no file matches" in log.read_text()
    assert log.read_text().endswith(f"{config}: configuration is valid\n")


def test_all_config_makes_an_include_matching_no_file_an_error(tmp_path):
    config = write(tmp_path / "tandemd.conf", LOOPBACK_INSTANCE + "include missing-*.conf\n")
    assert tandemd("-t", "-f", str(config)).returncode == 0
    strict = tandemd("-t", "-e", "-f", str(config))
    assert strict.returncode == 1
    assert f"{config}:9: error: include missing-*.conf: no file matches" in strict.stderr


def test_config_id_selects_the_conditional_lines(tmp_path):
    text = "@lb1 " + LOOPBACK_INSTANCE.replace("\n", "\n@lb1 ", 7) + "@^lb1 vrrp_instance BROKEN {\n@^lb1 }\n"
    config = write(tmp_path / "tandemd.conf", text)
    assert tandemd("-t", "-i", "lb1", "-f", str(config)).returncode == 0
    other = tandemd("-t", "--config-id=lb2", "-f", str(config))  # no VI_1; BROKEN kept and refused
    assert other.returncode == 1 and "vrrp_instance BROKEN" in other.stderr


def test_unsupported_options_say_so_and_genhash_stops(tmp_path):
    config = write(tmp_path / "tandemd.conf", LOOPBACK_INSTANCE)
    done = tandemd("-t", "-f", str(config), "-X", "-V", "-I", "-a", "-x", "-A", "/run/agentx", "-b", "b.pid")
    assert done.returncode == 0
    said = [line for line in done.stderr.splitlines() if "is not supported" in line]
    assert len(said) == 7 and all(line.endswith("; ignored") for line in said)
    assert "tandemd: -V/--dont-release-vrrp is not supported: virtual addresses" in done.stderr
    assert len(UNSUPPORTED_OPTIONS) == 8
    genhash = tandemd("-T")
    assert genhash.returncode == 1 and "no genhash mode" in genhash.stderr


def test_umask_and_facility_are_read_as_keepalived_reads_them():
    assert [parse_umask(text) for text in ("022", "0x12", "18", "0")] == [0o22, 0x12, 18, 0]
    for bad in ("0999", "abc", "01000"):
        with pytest.raises(Exception, match="not a umask"):
            parse_umask(bad)
    assert [parse_args(["-S", word]).log_facility for word in ("3", "local5", "user", "daemon")] == [
        "local3",
        "local5",
        "user",
        "daemon",
    ]
    assert tandemd("-S", "9", "-t").returncode == 2


def test_the_children_get_the_options_that_concern_them():
    args = parse_args(
        ["-f", "/x.conf", "-l", "-G", "-S", "local2", "-i", "lb1", "-e", "--control-socket", "/s"]
    )
    options = child_options(child_argv(args, "vrrp"))
    assert options.source == args.source == ("/x.conf", "lb1", True)
    assert (options.log_console, options.no_syslog, options.log_facility, options.log_detail) == (
        True,
        True,
        "local2",
        False,
    )
    assert options.control_socket == "/s-vrrp.sock"


@pytest.mark.lab
def test_state_signals_write_their_files_and_the_daemon_keeps_running(lab2, tmp_path):
    h1 = lab2.hosts[0]
    daemon = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 73, VIP, 150))
    try:
        assert wait_for(lambda: daemon.state() == "MASTER", 5)
        where = Path(daemon.socket).parent
        for signum, name, part in (
            (signal.SIGUSR2, "tandemd.stats", "stats"),
            (signal.SIGRTMIN + 2, "tandemd.json", "status"),
        ):
            daemon.signal(signum)
            assert wait_for(lambda name=name: f"written to {where / name}" in daemon.log_text(), 5)
            written = json.loads((where / name).read_text())
            assert [s["name"] for s in written[part]] == ["VI_1"]
        (where / "tandemd.stats").unlink()
        daemon.signal(signal.SIGRTMAX - 1)
        assert wait_for(lambda: "counters not cleared" in daemon.log_text(), 5)
        assert json.loads((where / "tandemd.stats").read_text())["stats"][0]["adverts_sent"] > 0
        assert daemon.process.alive and daemon.state() == "MASTER"
    finally:
        daemon.stop()


@pytest.mark.lab
def test_dont_respawn_stops_tandemd_when_a_child_ends_and_dump_conf_masks_secrets(lab2, tmp_path):
    h1 = lab2.hosts[0]
    body = "authentication {\n    auth_type PASS\n    auth_pass s3cret\n}"
    config = "global_defs {\n    vrrp_version 2\n}\n" + instance(h1, "VI_1", 74, VIP, 150, body)
    vrrp = tmp_path / "vrrp.pid"
    daemon = Daemon(h1, tmp_path).start(
        config.replace("advert_int 0.1", "advert_int 1"), ("-R", "-d", "-r", str(vrrp))
    )
    log = daemon.log_text()
    assert "config: vrrp_instance VI_1 {" in log and "auth_pass ********" in log and "s3cret" not in log
    os.kill(int(vrrp.read_text()), signal.SIGKILL)
    assert daemon.process.wait(15) == 1
    assert "VRRP process ended (signal SIGKILL), not restarted (-R): tandemd stops" in daemon.log_text()
    daemon.stop()


@pytest.mark.lab
def test_namespace_option_runs_tandemd_in_that_namespace_with_its_umask(lab2, tmp_path):
    """Started in the root namespace with ``-s``, tandemd's VRRP runs in the lab host's namespace; files it
    creates (its pid file) follow ``-u``; ``--all`` runs the checker child without virtual servers."""
    h1 = lab2.hosts[0]
    conf = write(tmp_path / "tandemd.conf", GLOBAL + instance(h1, "VI_1", 75, VIP, 150))
    sockdir = Path(tempfile.mkdtemp(prefix="tandemd-", dir="/tmp"))
    socket, pidfile = str(sockdir / "ctl.sock"), tmp_path / "main.pid"
    argv = [*TANDEMD, "-f", str(conf), "-l", "-s", h1.netns, "-u", "077", "--all", "-p", str(pidfile)]
    with open(tmp_path / "log", "wb") as log:
        process = subprocess.Popen([*argv, "--control-socket", socket], stdout=log, stderr=subprocess.STDOUT)
    try:

        def state():
            try:
                return request(socket, "status", timeout=2)[0]["state"]
            except ControlError:
                return None

        assert wait_for(lambda: state() == "MASTER", 15), (tmp_path / "log").read_text()
        assert h1.has_address(VIP.split("/")[0])
        assert oct(pidfile.stat().st_mode & 0o777) == oct(0o600)
        roles = {p["role"]: p["state"] for p in request(socket, "processes")}
        assert roles == {"vrrp": "running", "check": "running"}
    finally:
        process.terminate()
        process.wait(15)
        shutil.rmtree(sockdir, ignore_errors=True)
    assert not h1.has_address(VIP.split("/")[0])
    bad = tandemd("-s", "tandem-no-such-namespace", "-f", str(conf))
    assert bad.returncode == 1 and "network namespace tandem-no-such-namespace" in bad.stderr

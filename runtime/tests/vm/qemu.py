"""The VM lane: run a command on a real Debian kernel (one with IP_VS) under qemu, and get its result.

This machine's kernel has no IP_VS, so tests of the IPVS plane run in a virtual machine: Debian's
generic kernel (``linux-image-amd64``; the ``-cloud-`` flavour has no 9p) booted by
``qemu-system-x86_64`` with TCG (KVM is not usable here), with a tiny initramfs (busybox-static and the
virtio/9p modules) that mounts the host's root read-only over 9p and chroots into it. Scratch space
(/tmp, /run) is a tmpfs; the command, its output and its exit status pass through a second,
writable 9p share (the job directory, at /mnt inside). No network card: tests make their hosts as
network namespaces inside the VM.

Idempotent and cached: the Debian packages are installed when missing, the initramfs is rebuilt only
when its inputs (kernel version, busybox, modules, init script) change. Every boot is bounded by a
timeout and its qemu is killed by PID when it overruns.

    python runtime/tests/vm/qemu.py [--timeout S] -- COMMAND...   (prints the output, exits with its status)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tandemlab.process import die_with_parent

PACKAGES = ("qemu-system-x86", "linux-image-amd64", "busybox-static", "ipvsadm", "keepalived", "curl")
CACHE = Path(os.environ.get("TANDEM_VM_CACHE", "/var/cache/tandem-vm"))
BUSYBOX = Path("/bin/busybox")
# the 9p root and the job share, and what loading them needs (dependencies come from modprobe)
MODULES = ("virtio_pci", "9pnet_virtio", "9p")
MOUNT_9P = "trans=virtio,version=9p2000.L,msize=524288"
MEMORY_MB = 2048
VM_SCRATCH = ("/tmp", "/run", "/var/tmp")  # a tmpfs each inside the VM (STAGE2), over the host's
STAGE2 = """cd {cwd}
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 TANDEM_IN_VM=1 \\
    /bin/sh /mnt/command >/mnt/output 2>&1 </dev/null
echo $? >/mnt/status
sync
echo o >/proc/sysrq-trigger
"""

# the initramfs's /init: modules, mounts, then the host's root becomes the VM's (so the kernel finds
# /sbin/modprobe and /lib/modules there) and /mnt/init, written for each run, takes over as PID 1
INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules); do insmod "$module"; done
mkdir -p /root
mount -t 9p -o {mount_9p},ro,cache=loose root /root
mount -t 9p -o {mount_9p},cache=none job /root/mnt
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mount -t tmpfs -o mode=1777 tmp /root/tmp
mount -t tmpfs -o mode=755 run /root/run
mount -t tmpfs -o mode=1777 vartmp /root/var/tmp
exec switch_root /root /bin/sh /mnt/init
"""


class VmError(Exception):
    """The VM could not be set up, or did not finish the command (timeout, no status)."""


@dataclass(frozen=True)
class Result:
    status: int
    output: str
    console: str  # the kernel's serial console, for diagnosing a failed boot
    seconds: float


def missing_packages() -> list[str]:
    """The Debian packages the lane needs that are not installed (scripts/setup.sh installs them)."""
    return [p for p in PACKAGES if not _installed(p)]


def ensure_packages() -> None:
    """Install the Debian packages the lane needs, once per machine."""
    missing = missing_packages()
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    subprocess.run([*apt, "update", "-qq"], check=True, env=env)
    install = [*apt, "install", "-y", "-qq", "--no-install-recommends", *missing]
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise VmError(f"apt-get install {' '.join(missing)} failed: {done.stderr.strip()[-2000:]}")


def _installed(package: str) -> bool:
    query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return query.stdout.endswith("ok installed")


def kernel_version() -> str:
    """The newest generic (not -cloud-) kernel in /boot."""
    versions = [p.name.removeprefix("vmlinuz-") for p in Path("/boot").glob("vmlinuz-*-amd64")]
    versions = [v for v in versions if "cloud" not in v and Path("/lib/modules", v).is_dir()]
    if not versions:
        raise VmError("no generic amd64 kernel in /boot (linux-image-amd64)")
    return max(versions, key=lambda v: [int(p) if p.isdigit() else 0 for p in v.replace("-", ".").split(".")])


def _module_files(version: str) -> list[str]:
    """The .ko files to load, dependencies first, each once."""
    files: list[str] = []
    for module in MODULES:
        shown = subprocess.run(
            ["modprobe", "--show-depends", "-S", version, module], capture_output=True, text=True, check=True
        ).stdout
        for line in shown.splitlines():
            words = line.split()
            if words[:1] == ["insmod"] and words[1] not in files:
                files.append(words[1])
    return files


def initramfs(version: str) -> Path:
    """The cached initramfs for ``version``, built when its inputs changed."""
    modules = _module_files(version)
    init = INIT.format(mount_9p=MOUNT_9P)
    digest = hashlib.sha256(init.encode())
    for path in (BUSYBOX, *map(Path, modules)):
        digest.update(str(path).encode() + path.read_bytes())
    target = CACHE / f"initramfs-{version}-{digest.hexdigest()[:16]}.cpio"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob("initramfs-*.cpio"):
        old.unlink()
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o40755, b"") for d in ("bin", "dev", "proc", "sys", "root", "lib", "lib/modules")
    ]
    entries.append(("bin/busybox", 0o100755, BUSYBOX.read_bytes()))
    entries.append(("init", 0o100755, init.encode()))
    names = []
    for index, module in enumerate(modules):
        name = f"lib/modules/{index:02d}-{Path(module).name}"
        entries.append((name, 0o100644, Path(module).read_bytes()))
        names.append("/" + name)
    entries.append(("modules", 0o100644, "\n".join(names).encode() + b"\n"))
    partial = target.with_suffix(".partial")
    partial.write_bytes(_newc(entries))
    partial.rename(target)
    return target


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's 'newc' format."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for inode, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        raw = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(raw)
        pad()
        out.extend(data)
        pad()
    return bytes(out)


def run(command: str, timeout: float = 600.0, cpus: int = 2) -> Result:
    """Boot the VM, run ``command`` (a shell command line, the host's root read-only) and power off."""
    cwd = Path.cwd()
    if hidden := next((d for d in VM_SCRATCH if cwd.is_relative_to(d)), None):
        raise VmError(f"the VM cannot see {cwd}: {hidden} is a tmpfs inside it; put the project elsewhere")
    ensure_packages()
    version = kernel_version()
    initrd = initramfs(version)
    with tempfile.TemporaryDirectory(prefix="tandem-vm-") as job_dir:
        job = Path(job_dir)
        (job / "init").write_text(STAGE2.format(cwd=shlex.quote(os.getcwd())))
        (job / "command").write_text(command + "\n")
        console = job / "console.log"
        argv = [
            "qemu-system-x86_64",
            *("-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max"),
            *("-smp", str(cpus), "-m", str(MEMORY_MB)),
            *("-kernel", f"/boot/vmlinuz-{version}", "-initrd", str(initrd)),
            *("-append", "console=ttyS0 quiet panic=-1 rdinit=/init"),
            *("-display", "none", "-monitor", "none", "-serial", f"file:{console}", "-no-reboot"),
            *("-nic", "none"),
            "-virtfs",
            "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
            "-virtfs",
            f"local,path={job},mount_tag=job,security_model=none",
        ]
        started = time.monotonic()
        qemu = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # a killed test run leaves no VM behind
        )
        try:
            qemu_output, _ = qemu.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            qemu_output = b""
        finally:
            if qemu.poll() is None:
                os.kill(qemu.pid, signal.SIGKILL)
                qemu.wait()
        seconds = time.monotonic() - started
        boot_log = console.read_text(errors="replace") if console.exists() else ""
        output = (job / "output").read_text(errors="replace") if (job / "output").exists() else ""
        status = job / "status"
        if not status.exists():
            raise VmError(
                f"the VM gave no exit status after {seconds:.0f} s (timeout {timeout:.0f} s)\n"
                f"qemu: {qemu_output.decode(errors='replace')[-2000:]}\n"
                f"console: {boot_log[-3000:]}\noutput: {output[-3000:]}"
            )
        return Result(int(status.read_text().strip() or 255), output, boot_log, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before qemu is killed")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run inside")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    try:
        result = run(shlex.join(command), timeout=args.timeout)
    except (VmError, subprocess.CalledProcessError) as error:
        print(f"qemu.py: {error}", file=sys.stderr)
        return 125
    sys.stdout.write(result.output)
    print(f"qemu.py: exit status {result.status} after {result.seconds:.1f} s", file=sys.stderr)
    return result.status


if __name__ == "__main__":
    sys.exit(main())

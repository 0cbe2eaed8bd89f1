#!/usr/bin/env bash
# Idempotent set-up of a Debian machine (run as root) for the lab demo and the test suite:
# Debian packages, then the project venv (.venv) with the runtime and the lab harness installed editable.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc make git
  iproute2 nftables iputils-ping procps psmisc tcpdump
  keepalived bind9 bind9-utils
  frr  # vrrpd: an independent VRRP peer in runtime/tests/vrrp/test_interop_frr.py
  podman runc debootstrap
  nginx haproxy
  strace
  shellcheck  # ansible-test sanity's shellcheck test (skipped, with a warning, without it)
)
# the VM lane (runtime/tests/vm/qemu.py: IPVS on Debian's generic kernel under qemu), without
# recommends (qemu's would pull a desktop's worth of GUI libraries, the kernel's the dynamic busybox)
VM_PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static ipvsadm)

# install_missing WHAT APT-OPTIONS... -- PACKAGES...: those not installed yet, in one apt-get call
install_missing() {
  local what=$1 options=() missing=() pkg
  shift
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "setup: installing Debian packages$what: ${missing[*]}"
    apt-get update -qq -o DPkg::Lock::Timeout=600
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${options[@]}" "${missing[@]}" >/dev/null
  fi
}
install_missing "" -- "${APT_PACKAGES[@]}"
install_missing " for the VM lane" --no-install-recommends -- "${VM_PACKAGES[@]}"

# Debian starts the daemons it installs where systemd runs; the lab starts its own copies
# inside network namespaces, so the host-wide ones must not run.
if [ -d /run/systemd/system ]; then
  systemctl disable --now keepalived.service named.service >/dev/null 2>&1 || true
  systemctl disable --now nginx.service haproxy.service >/dev/null 2>&1 || true
  systemctl disable --now frr.service >/dev/null 2>&1 || true
fi

VENV=.venv
stamp="$VENV/.setup-stamp"
want=$(cat requirements-dev.txt runtime/pyproject.toml lab/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: building $VENV"
  /usr/bin/python3 -m venv "$VENV"
  # pip warns about every index mirror of this machine that is absent; the warnings are noise.
  "$VENV/bin/pip" install -q --upgrade pip 2> >(grep -v "is ignored" >&2)
  "$VENV/bin/pip" install -q -r requirements-dev.txt 2> >(grep -v "is ignored" >&2)
  "$VENV/bin/pip" install -q --no-build-isolation --no-deps -e runtime -e lab
  echo "$want" >"$stamp"
fi

# Plays run from the tests and the demo find this checkout as the collection tandem.ha.
mkdir -p "$VENV/collections/ansible_collections/tandem"
ln -sfn "$PWD" "$VENV/collections/ansible_collections/tandem/ha"

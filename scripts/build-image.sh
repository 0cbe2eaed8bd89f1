#!/usr/bin/env bash
# Build, once per machine, the local Debian bookworm image the molecule scenarios and system tests run
# as "real systemd hosts": systemd as PID 1, python3 (+ venv, for the tandemd role's offline install),
# iproute2, procps, ping, keepalived (for mixed keepalived/tandemd groups), and for the demo's hosts
# nginx, bind9 and nftables (the load balancer's data plane). Nothing can be pulled from
# a registry here, so the root filesystem comes from debootstrap and is imported with `podman import`.
#
# Idempotent: if the image exists with the same recipe label it exits at once. Rebuild with --force.
# Usage: scripts/build-image.sh [--force]      (as root)
# Env:   TANDEM_IMAGE (default localhost/tandem-host:bookworm), TANDEM_DEBIAN_MIRROR (default: the mirror
#        this machine's apt uses).
set -euo pipefail
cd "$(dirname "$0")/.."

export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/containers.conf}"
IMAGE="${TANDEM_IMAGE:-localhost/tandem-host:bookworm}"
SUITE=bookworm
PACKAGES=python3,python3-venv,iproute2,systemd,systemd-sysv,dbus,procps,iputils-ping,keepalived,ca-certificates,nginx,bind9,nftables
# The recipe label changes whenever this list changes, so an outdated image is rebuilt.
RECIPE="v1:$SUITE:$PACKAGES"

force=0
[ "${1:-}" = "--force" ] && force=1

exists_with_recipe() {
  podman image exists "$IMAGE" &&
    [ "$(podman image inspect --format '{{index .Labels "org.tandem.recipe"}}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]
}

# One build at a time per machine (parallel test sessions may call this together).
exec 9>/run/lock/tandem-build-image.lock
if ! flock --nonblock 9; then
  echo "build-image: another build of the image is running; waiting for it"
  flock 9
fi

if [ "$force" = 0 ] && exists_with_recipe; then
  echo "build-image: $IMAGE is present"
  exit 0
fi

mirror="${TANDEM_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # First "debian" (not -security) URI of apt's sources: deb822 files, then one-line lists.
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -v security | head -n1 || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

rootfs=$(mktemp -d /var/tmp/tandem-rootfs.XXXXXX)
trap 'rm -rf --one-file-system "$rootfs"' EXIT

echo "build-image: debootstrap $SUITE from $mirror (2-5 minutes)"
start=$SECONDS
# Progress: debootstrap's stages (downloading, extracting, installing, unpacking, configuring) and every
# 50 packages; its whole output goes to a log, shown if it fails.
progress() {
  awk '/^I: Base system installed/ { print "build-image: base system installed"; fflush(); next }
       /^I: (Installing|Unpacking|Configuring) (core packages|required packages|the base system)/ {
         sub(/^I: /, ""); sub(/\.\.\.$/, ""); print "build-image: " tolower(substr($0, 1, 1)) substr($0, 2)
         n = 0; fflush(); next }
       /^I: (Retrieving|Extracting|Unpacking|Configuring) / {
         if ($2 != last) { last = $2; n = 0; if ($2 == "Retrieving") print "build-image: downloading packages"
                                              if ($2 == "Extracting") print "build-image: extracting packages" }
         if (++n % 50 == 0) printf "build-image: %d packages\n", n
         fflush() }'
}
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" 2>&1 | tee "$rootfs.log" | progress || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"

# Trim what a test host does not need and what would misbehave inside a container.
chroot "$rootfs" /bin/sh -ec '
  apt-get clean
  rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
  # The image has no network configuration of its own: addresses come from our namespaces.
  systemctl mask systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
    getty@tty1.service console-getty.service systemd-logind.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_reap.service 2>/dev/null || true
  # keepalived, nginx and named are installed for the scenarios and the demo, which enable what they use.
  systemctl disable keepalived.service nginx.service named.service nftables.service 2>/dev/null || true
  : >/etc/machine-id
  echo tandem-host >/etc/hostname
'

echo "build-image: importing the root filesystem into podman"
tar -C "$rootfs" --numeric-owner -c . |
  podman import --quiet \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'STOPSIGNAL=SIGRTMIN+3' \
    --change "LABEL org.tandem.recipe=$RECIPE" \
    - "$IMAGE" >/dev/null
echo "build-image: built $IMAGE in $((SECONDS - start)) s"

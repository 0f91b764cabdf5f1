#!/usr/bin/env bash
# Idempotent engine setup for a Debian machine where the user is root:
#   1. docker.io and debootstrap installed,
#   2. a Docker daemon answering (started in the background if none does),
#   3. the local base image envtrack/base:bookworm (no registry is reachable, so we make it).
# A second run finds everything in place and does nothing.
set -euo pipefail

BASE_IMAGE="${ENVTRACK_BASE_IMAGE:-envtrack/base:bookworm}"
RECIPE="3"   # bump when the base image recipe below changes: the image is then rebuilt
DOCKERD_LOG="${ENVTRACK_DOCKERD_LOG:-/var/log/envtrack-dockerd.log}"
SOCKET="/var/run/docker.sock"
HOST_CA="${ENVTRACK_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
DOCKER=/usr/bin/docker

say() { printf 'envtrack setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"

need_packages=()
command -v dockerd >/dev/null 2>&1 && [ -x "$DOCKER" ] || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
if [ ${#need_packages[@]} -gt 0 ]; then
    say "installing ${need_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${need_packages[@]}" >&2
    # Debian 13's docker.io no longer builds with BuildKit on its own: the peer `docker build` needs buildx.
    if apt-cache show docker-buildx >/dev/null 2>&1; then
        apt-get install -y -q --no-install-recommends docker-buildx >&2 || true
    fi
fi

daemon_answers() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! daemon_answers; then
    say "starting dockerd (log: $DOCKERD_LOG)"
    rm -f /var/run/docker.pid
    nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        daemon_answers && break
        sleep 1
    done
    daemon_answers || { tail -n 20 "$DOCKERD_LOG" >&2 || true; die "dockerd did not answer on $SOCKET within 60 s"; }
fi

current_recipe=$("$DOCKER" image inspect --format '{{index .Config.Labels "envtrack.base.recipe"}}' "$BASE_IMAGE" 2>/dev/null || true)
if [ "$current_recipe" = "$RECIPE" ]; then
    exit 0
fi

mirror() {
    # The first Debian mirror the host itself uses (one-line or deb822 sources).
    local m
    m=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | grep -v -e security -e '\[.*\]' | awk '{print $2}' | grep -i debian | head -n1 || true)
    if [ -z "$m" ]; then
        m=$(grep -hE "^URIs:" /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
            | grep -i debian | grep -v security | head -n1 || true)
    fi
    printf '%s' "${m:-http://deb.debian.org/debian}"
}

MIRROR=$(mirror)
ROOTFS=$(mktemp -d /var/tmp/envtrack-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
say "creating $BASE_IMAGE with debootstrap from $MIRROR (about 30 s)"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -n 20 "$ROOTFS.log" >&2; die "debootstrap failed"; }
rm -f "$ROOTFS.log"
# Containers see the host's sources, so apt inside reaches the same mirror.
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" >"$ROOTFS/etc/apt/sources.list"
# Trust the host's CA bundle (an intercepting proxy's root included) at a path of its own:
# reinstalling Debian's ca-certificates regenerates the default bundle but leaves this file alone.
mkdir -p "$ROOTFS/etc/envtrack"
if [ -f "$HOST_CA" ]; then cp "$HOST_CA" "$ROOTFS/etc/envtrack/host-ca.pem"; fi
apt-get clean >/dev/null 2>&1 || true
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
         --change "LABEL envtrack.base.recipe=$RECIPE"
         --change 'CMD ["/bin/bash"]')
if [ -f "$HOST_CA" ]; then
    changes+=(--change 'ENV SSL_CERT_FILE=/etc/envtrack/host-ca.pem PIP_CERT=/etc/envtrack/host-ca.pem REQUESTS_CA_BUNDLE=/etc/envtrack/host-ca.pem CURL_CA_BUNDLE=/etc/envtrack/host-ca.pem')
fi
tar -C "$ROOTFS" -c . | "$DOCKER" import "${changes[@]}" - "$BASE_IMAGE" >/dev/null
say "created $BASE_IMAGE"

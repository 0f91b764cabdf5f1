#!/usr/bin/env bash
# Idempotent engine setup for a Debian machine (12 or 13) where the user is root:
#   1. docker.io and debootstrap installed (and docker-buildx on Debian 13, for `docker build` peers),
#   2. a Docker daemon answering (started in the background if none does),
#   3. the local base images, envtrack/base:SUITE (made here from Debian's archive with debootstrap):
#      bullseye (Python 3.9), bookworm (3.11, the default) and trixie (3.13) with debootstrap,
#      and bookworm-nopython, derived from bookworm without any python3 (environments the
#      agent must record from a companion container).
# A second run finds everything in place, says so in one line and changes nothing.
#
# Environment (all optional):
#   DOCKER_HOST=unix:///path       the Engine socket to use, and to start dockerd on
#   ENVTRACK_DOCKERD_ARGS="..."    extra dockerd flags when starting one (--data-root, --pidfile, ...)
#   ENVTRACK_DOCKERD_LOG=FILE      where a started dockerd logs (default /var/log/envtrack-dockerd.log)
#   ENVTRACK_DOCKERD_TIMEOUT=SEC   how long to wait for a started dockerd (default 60)
#   ENVTRACK_CA_BUNDLE=FILE        the host CA bundle the base image trusts
#   ENVTRACK_BASE_IMAGE=NAME       the bookworm base image's name (default envtrack/base:bookworm)
#   ENVTRACK_APT_ETC=DIR           where apt's sources live (default /etc/apt; for tests)
# Options:
#   --engine-only    install the packages and start the daemon, but leave base images alone
#   --base SUITE     make this base (repeatable; bullseye, bookworm, trixie, bookworm-nopython;
#                    default bookworm)
#   --print-mirror   print the Debian mirror the base image would use and exit
set -euo pipefail

BASE_REPO=envtrack/base
BOOKWORM_IMAGE="${ENVTRACK_BASE_IMAGE:-$BASE_REPO:bookworm}"
SUITES="bullseye bookworm trixie bookworm-nopython"
# Bump when the base image recipe below changes: images with another recipe label are rebuilt.
# `envtrack doctor` reads this line to tell whether the base image is current.
RECIPE="5"
RECIPE_LABEL="envtrack.base.recipe"
PARENT_LABEL="envtrack.base.parent"
DOCKERD_LOG="${ENVTRACK_DOCKERD_LOG:-/var/log/envtrack-dockerd.log}"
DOCKERD_TIMEOUT="${ENVTRACK_DOCKERD_TIMEOUT:-60}"
HOST_CA="${ENVTRACK_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
APT_ETC="${ENVTRACK_APT_ETC:-/etc/apt}"
IMAGE_CA=/etc/envtrack/host-ca.pem

case "${DOCKER_HOST:-}" in
    "") SOCKET=/var/run/docker.sock ;;
    unix://*) SOCKET="${DOCKER_HOST#unix://}" ;;
    *) printf 'envtrack setup: error: DOCKER_HOST=%s: only unix:// sockets are supported\n' "$DOCKER_HOST" >&2; exit 2 ;;
esac
export DOCKER_HOST="unix://$SOCKET"

say() { printf 'envtrack setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The first Debian mirror the host itself uses, from one-line (.list) or deb822 (.sources) files.
# Security and updates archives are skipped: debootstrap needs the main archive.
debian_mirror() {
    local files=() file m
    for file in "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list "$APT_ETC"/sources.list.d/*.sources; do
        [ -f "$file" ] && files+=("$file")
    done
    [ ${#files[@]} -gt 0 ] && m=$(awk '
        # A Debian archive (not security, not a third-party repository): its suite is a Debian codename.
        function keep(uris, suites,    n, u, s, i) {
            if (done) return
            n = split(uris, u, /[ \t]+/); split(suites, s, /[ \t]+/)
            if (s[1] !~ /^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldstable|stable|testing|unstable)(-updates|-backports)?$/) return
            for (i = 1; i <= n; i++)
                if (u[i] ~ /^(https?|file):\/\// && u[i] !~ /security/) { print u[i]; done = 1; exit }
        }
        FNR == 1    { stanza() }  # a new file ends the last stanza of the previous one
        # One-line format: deb [options] URI SUITE COMPONENTS...
        /^[ \t]*deb[ \t]/ {
            line = $0; sub(/^[ \t]*deb[ \t]+/, "", line)
            if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
            split(line, w, /[ \t]+/); keep(w[1], w[2]); next
        }
        # deb822 format: stanzas of Field: value lines, separated by blank lines.
        function stanza() { if (types ~ /(^|[ \t])deb([ \t]|$)/) keep(uris, suites); types = uris = suites = "" }
        /^[ \t]*$/ { stanza(); next }
        /^Types:/   { types = $0;  sub(/^Types:[ \t]*/, "", types) }
        /^URIs:/    { uris = $0;   sub(/^URIs:[ \t]*/, "", uris) }
        /^Suites:/  { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
        END { stanza() }
    ' "${files[@]}")
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

engine_only=0
bases=()
while [ $# -gt 0 ]; do
    case "$1" in
        --print-mirror) debian_mirror; exit 0 ;;
        --engine-only) engine_only=1 ;;
        --base=*) bases+=("${1#--base=}") ;;
        --base) [ $# -ge 2 ] || { printf 'envtrack setup: error: --base needs a suite (%s)\n' "$SUITES" >&2; exit 2; }
                bases+=("$2"); shift ;;
        *) printf 'envtrack setup: error: unknown option %s (options: --engine-only, --base SUITE, --print-mirror)\n' "$1" >&2; exit 2 ;;
    esac
    shift
done
[ ${#bases[@]} -gt 0 ] || bases=(bookworm)
for base in "${bases[@]}"; do
    case " $SUITES " in
        *" $base "*) ;;
        *) printf 'envtrack setup: error: --base %s: not one of %s\n' "$base" "$SUITES" >&2; exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"

debian_major() { . /etc/os-release 2>/dev/null && printf '%s' "${VERSION_ID%%.*}"; }

install_packages() {
    local need=()
    command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] || need+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
    # Debian 13's docker CLI builds with BuildKit only through the buildx plugin. Asked for only when
    # apt knows it (or apt runs anyway), so a mirror without it cannot make every rerun slow.
    if [ "$(debian_major)" -ge 13 ] 2>/dev/null && ! /usr/bin/docker buildx version >/dev/null 2>&1 \
        && { [ ${#need[@]} -gt 0 ] || apt-cache show docker-buildx >/dev/null 2>&1; }; then
        need+=(docker-buildx)
    fi
    [ ${#need[@]} -gt 0 ] || return 0
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    local available=()
    for package in "${need[@]}"; do
        if apt-cache show "$package" >/dev/null 2>&1; then available+=("$package")
        elif [ "$package" = docker-buildx ]; then say "docker-buildx is not available; skipping it"
        else die "package $package is not available from this machine's apt sources"; fi
    done
    [ ${#available[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${available[@]}" >&2
    did_something=1
}

DOCKER=/usr/bin/docker
# A hung daemon accepts connections and never answers: bound every probe.
daemon_answers() { timeout 5 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# A pid file whose process is alive means a dockerd is still starting (or hung): never start a second.
dockerd_pidfile() {
    local args=(${ENVTRACK_DOCKERD_ARGS:-}) i
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[$i]}" in
            --pidfile=*|-p=*) printf '%s' "${args[$i]#*=}"; return ;;
            --pidfile|-p) printf '%s' "${args[$((i + 1))]:-}"; return ;;
        esac
    done
    printf '/var/run/docker.pid'
}

# Alive and not a zombie: a killed dockerd can linger unreaped where PID 1 is not an init.
process_alive() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

launch_dockerd() {
    # The pid file's process is gone (or a zombie, or another program now): dockerd would refuse
    # to start while that pid exists.
    rm -f "$(dockerd_pidfile)"
    # A containerd socket left behind by a machine whose processes are gone would make dockerd
    # wait on it instead of starting its own containerd.
    if [ -S /run/containerd/containerd.sock ] && ! grep -qsx containerd /proc/[0-9]*/comm; then
        rm -f /run/containerd/containerd.sock
    fi
    say "starting dockerd on $SOCKET (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    local host_args=()
    [ "$SOCKET" = /var/run/docker.sock ] || host_args=(-H "unix://$SOCKET")
    # shellcheck disable=SC2086 # the extra flags are meant to split into words
    setsid nohup dockerd "${host_args[@]}" ${ENVTRACK_DOCKERD_ARGS:-} >>"$DOCKERD_LOG" 2>&1 </dev/null &
    dockerd_pid=$!
}

# Wait for the daemon with pid $dockerd_pid to answer. Fails when it exits or the time is up.
await_dockerd() {
    local started=$SECONDS
    until daemon_answers; do
        process_alive "$dockerd_pid" || return 1
        if [ $((SECONDS - started)) -ge "$DOCKERD_TIMEOUT" ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "dockerd did not answer on $SOCKET within $DOCKERD_TIMEOUT s (log: $DOCKERD_LOG)"
        fi
        sleep 1
    done
    say "dockerd answers on $SOCKET after $((SECONDS - started)) s"
}

start_dockerd() {
    daemon_answers && return 0
    dockerd_pid=$(cat "$(dockerd_pidfile)" 2>/dev/null || true)
    if [ -n "$dockerd_pid" ] && process_alive "$dockerd_pid" && grep -qs dockerd "/proc/$dockerd_pid/comm"; then
        say "dockerd (pid $dockerd_pid) is running but not answering yet; waiting"
        await_dockerd || launch_dockerd
    else
        launch_dockerd
    fi
    # A dockerd that exits at once (its previous containerd was still shutting down, say) gets one retry.
    await_dockerd || { sleep 2; launch_dockerd; await_dockerd; } || {
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "dockerd exited instead of answering on $SOCKET (log: $DOCKERD_LOG)"
    }
    did_something=1
}

image_label() {  # image label
    "$DOCKER" image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}

image_of() {  # suite -> image name
    if [ "$1" = bookworm ]; then printf '%s' "$BOOKWORM_IMAGE"; else printf '%s:%s' "$BASE_REPO" "$1"; fi
}

create_base_image() {  # suite
    local suite=$1 image mirror rootfs
    image=$(image_of "$suite")
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d /var/tmp/envtrack-rootfs.XXXXXX)
    # shellcheck disable=SC2064 # expand now: the variable is local
    trap "rm -rf '$rootfs' '$rootfs.log'" EXIT
    say "creating $image (recipe $RECIPE) with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase --include=python3,ca-certificates "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log" >&2; die "debootstrap of $suite failed (full log above)"; }
    # apt inside containers uses the same mirror as the host.
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
    # A proxy that stalls a connection must not hang apt for minutes: bounded waits, then retries.
    printf 'Acquire::Retries "5";\nAcquire::http::Timeout "30";\nAcquire::https::Timeout "30";\n' \
        >"$rootfs/etc/apt/apt.conf.d/80envtrack-network"
    # Trust the host's CA bundle (an intercepting proxy's root included) at a path of its own,
    # which reinstalling Debian's ca-certificates leaves alone, and also through
    # update-ca-certificates, so the default bundle (apt, curl, git) keeps it after such a reinstall.
    local env_ca=()
    if [ -f "$HOST_CA" ]; then
        mkdir -p "$rootfs$(dirname "$IMAGE_CA")" "$rootfs/usr/local/share/ca-certificates"
        cp "$HOST_CA" "$rootfs$IMAGE_CA"
        cp "$HOST_CA" "$rootfs/usr/local/share/ca-certificates/envtrack-host.crt"
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the base image"
        env_ca=(--change "ENV SSL_CERT_FILE=$IMAGE_CA PIP_CERT=$IMAGE_CA REQUESTS_CA_BUNDLE=$IMAGE_CA CURL_CA_BUNDLE=$IMAGE_CA GIT_SSL_CAINFO=$IMAGE_CA")
    else
        say "warning: no host CA bundle at $HOST_CA; HTTPS behind an intercepting proxy will fail in containers"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*

    # Importing under the same tag replaces it in place: users of the old image keep their layers.
    tar -C "$rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        "${env_ca[@]}" \
        --change "LABEL $RECIPE_LABEL=$RECIPE" \
        --change 'CMD ["/bin/bash"]' \
        - "$image" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    trap - EXIT
    say "created $image"
    did_something=1
}


# bookworm without python3: what an environment with no interpreter looks like, made in seconds
# from the bookworm base (purging python3 and its libraries) rather than by a second debootstrap.
# Labelled with its parent's id, so a rebuilt bookworm base makes it be derived again.
create_nopython_image() {
    local image parent cid
    image=$(image_of bookworm-nopython)
    parent=$("$DOCKER" image inspect --format '{{.Id}}' "$BOOKWORM_IMAGE")
    say "deriving $image from $BOOKWORM_IMAGE without python3"
    cid=$("$DOCKER" create "$BOOKWORM_IMAGE" sh -c \
        'apt-get purge -y -q $(dpkg-query -W -f "\${Package}\n" "python3*" "libpython3*") >/dev/null && rm -rf /usr/lib/python3*')
    "$DOCKER" start -a "$cid" >&2 || { "$DOCKER" rm -f "$cid" >/dev/null; die "purging python3 from $BOOKWORM_IMAGE failed"; }
    "$DOCKER" commit --change "LABEL $RECIPE_LABEL=$RECIPE" --change "LABEL $PARENT_LABEL=$parent" \
        --change 'CMD ["/bin/bash"]' "$cid" "$image" >/dev/null
    "$DOCKER" rm "$cid" >/dev/null
    say "created $image"
    did_something=1
}

ensure_base() {  # suite
    local suite=$1 image current
    image=$(image_of "$suite")
    if [ "$suite" = bookworm-nopython ]; then
        ensure_base bookworm
        current=$(image_label "$image" "$RECIPE_LABEL")/$(image_label "$image" "$PARENT_LABEL")
        [ "$current" = "$RECIPE/$("$DOCKER" image inspect --format '{{.Id}}' "$BOOKWORM_IMAGE")" ] || create_nopython_image
        return
    fi
    current=$(image_label "$image" "$RECIPE_LABEL")
    if [ "$current" != "$RECIPE" ]; then
        [ -z "$current" ] || say "$image has recipe '$current', not $RECIPE: rebuilding it"
        create_base_image "$suite"
    fi
}

did_something=0
install_packages
start_dockerd
if [ "$engine_only" = 1 ]; then
    [ "$did_something" = 1 ] || say "nothing to do: engine answers on $SOCKET"
    exit 0
fi
for base in "${bases[@]}"; do ensure_base "$base"; done
[ "$did_something" = 1 ] || say "nothing to do: engine answers on $SOCKET, base images current (recipe $RECIPE): ${bases[*]}"

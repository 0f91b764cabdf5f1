#!/usr/bin/env bash
# A second, newer Docker Engine beside the system one, for tests that need BuildKit's
# MergeOp/DiffOp (Engine 26, BuildKit v0.13) or a "remote" engine (tcp+TLS, ssh://).
#
#   bash scripts/setup-peer-engine.sh              start (or find running) and print its env
#   bash scripts/setup-peer-engine.sh --print-env  print the env of a running instance only
#   bash scripts/setup-peer-engine.sh --stop       stop it; remove its bridge and iptables rules
#
# Debian 13's dockerd is downloaded with a private apt configuration and unpacked with
# `dpkg -x` into the state directory: nothing is installed, the system apt config is never
# touched. It runs on Debian 12's own containerd and runc. Safe to rerun: each step checks
# before it acts, so a rerun against a running instance changes nothing.
# Parameters (environment):
#   ENVTRACK_PEER_INSTANCE  instance name                  (peer)
#   ENVTRACK_PEER_TCP_PORT  loopback TCP+TLS port          (23760)
#   ENVTRACK_PEER_SSH_PORT  loopback sshd port             (23722)
#   ENVTRACK_PEER_SUBNET    the peer's bridge subnet, /24  (10.213.0.0/24)
#   ENVTRACK_PEER_SSH_CONFIG  ssh client config that gets an Include line ($HOME/.ssh/config)
#   ENVTRACK_PEER_CONTAINERD_STORE  1: use the containerd image store (0). Only with it does the
#                           Engine's BuildKit enable the "mergeop"/"diffop" caps; without it, a
#                           definition that declares them is refused ("only enabled with
#                           containerd image store backend")
#   ENVTRACK_PEER_REGISTRY_MIRROR  a registry URL passed as --registry-mirror (none): pulls of Docker
#                           Hub images (`ubuntu:22.04`) go there first, as on a machine behind a mirror
set -euo pipefail

INSTANCE=${ENVTRACK_PEER_INSTANCE:-peer}
TCP_PORT=${ENVTRACK_PEER_TCP_PORT:-23760}
SSH_PORT=${ENVTRACK_PEER_SSH_PORT:-23722}
SUBNET=${ENVTRACK_PEER_SUBNET:-10.213.0.0/24}
SSH_USER_CONFIG=${ENVTRACK_PEER_SSH_CONFIG:-$HOME/.ssh/config}
CONTAINERD_STORE=${ENVTRACK_PEER_CONTAINERD_STORE:-0}
REGISTRY_MIRROR=${ENVTRACK_PEER_REGISTRY_MIRROR:-}
SYSTEM_HOST=unix:///var/run/docker.sock   # the system Engine, source of the base images
SUITE=trixie                              # Debian 13: docker.io 26.1 with BuildKit v0.13

[[ $INSTANCE =~ ^[a-z0-9][a-z0-9-]{0,10}$ ]] || { echo "ENVTRACK_PEER_INSTANCE: 1-11 of a-z 0-9 -" >&2; exit 2; }
[[ $SUBNET =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || { echo "ENVTRACK_PEER_SUBNET: want A.B.C.0/24" >&2; exit 2; }
GATEWAY=${BASH_REMATCH[1]}.1
BRIDGE=etk-$INSTANCE                       # interface names are at most 15 characters
STATE=/var/lib/envtrack-peer/$INSTANCE     # survives reboots: package, data, certificates, keys
RUN=/run/envtrack-peer/$INSTANCE           # sockets and pid files of the running instance
ROOTFS=$STATE/root                         # the unpacked docker.io package
CERTS=$STATE/tls                           # CA and server certificate (CA key stays here)
CLIENT=$STATE/client                       # DOCKER_CERT_PATH: ca.pem cert.pem key.pem
SSH=$STATE/ssh
SOCKET=$RUN/docker.sock
RULE_TAG="envtrack-peer:$INSTANCE"         # comment on every iptables rule this script adds

say() { printf 'envtrack peer %s: %s\n' "$INSTANCE" "$*" >&2; }
die() { say "error: $*"; exit 1; }
peer() { DOCKER_HOST=unix://$SOCKET DOCKER_CONTEXT= docker "$@"; }
system_docker() { DOCKER_HOST=$SYSTEM_HOST DOCKER_CONTEXT= docker "$@"; }
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

print_env() {
    cat <<EOF
# unix socket
ENVTRACK_PEER_UNIX=unix://$SOCKET
# tcp + TLS: export these three together
ENVTRACK_PEER_TCP=tcp://127.0.0.1:$TCP_PORT
DOCKER_CERT_PATH=$CLIENT
DOCKER_TLS_VERIFY=1
# ssh (needs the Include line this script adds to $SSH_USER_CONFIG, or ssh -F $SSH/client_config)
ENVTRACK_PEER_SSH=ssh://root@127.0.0.1:$SSH_PORT
EOF
}

# --- iptables: the peer runs with --iptables=false, so its bridge's NAT/FORWARD rules are ours --
rules() {  # one rule per line: TABLE CHAIN SPEC...
    echo "nat POSTROUTING -s $SUBNET ! -o $BRIDGE -j MASQUERADE"
    echo "filter FORWARD -i $BRIDGE -j ACCEPT"
    echo "filter FORWARD -o $BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
}
add_rules() {
    local table chain spec
    while read -r table chain spec; do
        # shellcheck disable=SC2086  # SPEC is a list of words by design
        iptables -t "$table" -C "$chain" $spec -m comment --comment "$RULE_TAG" 2>/dev/null \
            || iptables -t "$table" -I "$chain" $spec -m comment --comment "$RULE_TAG"
    done < <(rules)
}
delete_rules() {
    local table chain spec
    while read -r table chain spec; do
        # shellcheck disable=SC2086
        while iptables -t "$table" -D "$chain" $spec -m comment --comment "$RULE_TAG" 2>/dev/null; do :; done
    done < <(rules)
}

stop() {
    local pidfile pid
    for pidfile in "$RUN/sshd.pid" "$RUN/dockerd.pid"; do
        alive "$pidfile" || continue
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && die "process $pid ($pidfile) did not stop"
    done
    delete_rules
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    rm -f "$SOCKET" "$RUN"/*.pid
    say "stopped (state kept in $STATE)"
}

# --- the Engine binaries: docker.io from $SUITE of the machine's own Debian mirror -------------
debian_mirror() {  # the first Debian (non-security) URI of the system's apt sources
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -nE -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' \
        | tr ' ' '\n' | grep -E '^https?://' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1) || true
    [[ -n $uri ]] || die "no Debian mirror found in /etc/apt/sources.list*"
    echo "${uri%/}"
}
fetch_engine() {
    [[ -x $ROOTFS/usr/sbin/dockerd ]] && return
    local apt=$STATE/apt
    mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$STATE/pkg"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $SUITE main" \
        >"$apt/sources.list"
    # Every path apt writes or reads sources from is private; the system's apt is never changed.
    local opts=(-q -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Acquire::Languages=none
                -o APT::Sandbox::User=root)
    say "downloading docker.io from Debian $SUITE"
    apt-get "${opts[@]}" update >&2
    rm -f "$STATE"/pkg/*.deb
    (cd "$STATE/pkg" && apt-get "${opts[@]}" download "docker.io/$SUITE" >&2)
    rm -rf "$ROOTFS.new" && dpkg -x "$STATE"/pkg/docker.io_*.deb "$ROOTFS.new"
    rm -rf "$ROOTFS" && mv "$ROOTFS.new" "$ROOTFS"
}

# --- TLS: a private CA, a server certificate for 127.0.0.1, a client certificate --------------
issue() {  # NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA
    local name=$1 subject=$2 ext=$3
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
        -keyout "$CERTS/$name-key.pem" -out "$CERTS/$name.csr" 2>/dev/null
    openssl x509 -req -in "$CERTS/$name.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca-key.pem" \
        -CAcreateserial -days 3650 -extfile <(printf '%s\n' "$ext") -out "$CERTS/$name.pem" 2>/dev/null
    rm -f "$CERTS/$name.csr"
}
make_certs() {
    [[ -s $CLIENT/key.pem && -s $CERTS/server.pem ]] && return
    say "making a CA and TLS certificates in $CERTS"
    rm -rf "$CERTS" "$CLIENT" && mkdir -p -m 700 "$CERTS" "$CLIENT"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=envtrack peer $INSTANCE CA" -keyout "$CERTS/ca-key.pem" -out "$CERTS/ca.pem" 2>/dev/null
    issue server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
    issue client "/CN=envtrack peer client" "extendedKeyUsage=clientAuth"
    cp "$CERTS/ca.pem" "$CLIENT/ca.pem"
    mv "$CERTS/client.pem" "$CLIENT/cert.pem" && mv "$CERTS/client-key.pem" "$CLIENT/key.pem"
    chmod 600 "$CERTS"/*-key.pem "$CLIENT/key.pem"
}

# --- network: a bridge of its own --------------------------------------------------------------
# Two dockerd settings delete the host's docker0, the system Engine's bridge, which silently cuts
# the network of every system container: --bridge none, and --default-address-pool(s) on any
# start after the first (dockerd then clears its stale default network together with "docker0",
# a name it hard-codes). This script uses neither, and start_engine checks docker0 survived.
make_bridge() {
    ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
    ip -4 addr show dev "$BRIDGE" | grep -qF " $GATEWAY/24 " || ip addr add "$GATEWAY/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    add_rules
}

# --- the Engine ----------------------------------------------------------------------------------
answers() { peer version --format '{{.Server.Version}}' >/dev/null 2>&1; }
start_engine() {
    answers && return
    alive "$RUN/dockerd.pid" && die "dockerd $(cat "$RUN/dockerd.pid") runs but does not answer on $SOCKET; see $STATE/dockerd.log"
    say "starting dockerd $("$ROOTFS/usr/sbin/dockerd" --version | cut -d' ' -f3 | tr -d ,)"
    local had_docker0=0
    ip link show docker0 >/dev/null 2>&1 && had_docker0=1
    rm -f "$SOCKET"
    local config=()
    if [[ $CONTAINERD_STORE == 1 ]]; then
        write_if_changed "$STATE/daemon.json" '{"features": {"containerd-snapshotter": true}}'
        config=(--config-file "$STATE/daemon.json")
    fi
    [[ -n $REGISTRY_MIRROR ]] && config+=(--registry-mirror "$REGISTRY_MIRROR")
    # Its own containerd namespaces keep it apart from the system Engine even when both end up on
    # one containerd (dockerd uses a running /run/containerd/containerd.sock, else starts its own).
    # PATH: the package's docker-proxy and docker-init first, then Debian 12's containerd and runc.
    PATH=$ROOTFS/usr/sbin:$ROOTFS/usr/bin:$PATH setsid "$ROOTFS/usr/sbin/dockerd" "${config[@]}" \
        --data-root "$STATE/data" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
        --containerd-namespace "envtrack-$INSTANCE" --containerd-plugins-namespace "envtrack-$INSTANCE-plugins" \
        -H "unix://$SOCKET" -H "tcp://127.0.0.1:$TCP_PORT" \
        --tlsverify --tlscacert "$CERTS/ca.pem" --tlscert "$CERTS/server.pem" --tlskey "$CERTS/server-key.pem" \
        --bridge "$BRIDGE" --iptables=false --ip6tables=false \
        </dev/null >>"$STATE/dockerd.log" 2>&1 9>&- &
    local pid=$!
    for _ in $(seq 150); do
        answers && { host_bridge_kept "$had_docker0"; return; }
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$STATE/dockerd.log" >&2; die "dockerd exited; log: $STATE/dockerd.log"; }
        sleep 0.2
    done
    tail -n 20 "$STATE/dockerd.log" >&2
    die "dockerd did not answer on $SOCKET within 30 s; log: $STATE/dockerd.log"
}

host_bridge_kept() {  # HAD_DOCKER0: fail loudly if starting the peer took the system's bridge
    [[ $1 == 0 ]] || ip link show docker0 >/dev/null 2>&1 \
        || die "starting dockerd deleted the host's docker0 bridge; restart the system dockerd to recreate it"
}

load_base_images() {  # every envtrack/base:* of the system Engine, when the peer lacks that image
    local ref want
    system_docker image inspect envtrack/base:bookworm >/dev/null 2>&1 \
        || die "envtrack/base:bookworm is missing in the system Engine; run scripts/setup-engine.sh first"
    while read -r ref want; do
        [[ $(peer image inspect -f '{{.Id}}' "$ref" 2>/dev/null) == "$want" ]] && continue
        say "loading $ref from the system Engine"
        system_docker save "$ref" | peer load -q >&2
    done < <(system_docker images envtrack/base --format '{{.Repository}}:{{.Tag}} {{.ID}}' --no-trunc | grep -v '<none>')
}

# --- sshd for DOCKER_HOST=ssh://: a private daemon with its own keys and config -----------------
# docker's ssh transport runs `docker system dial-stdio` on the remote. The authorised key
# carries environment="DOCKER_HOST=unix://$SOCKET" (allowed by PermitUserEnvironment in this
# sshd's own config only), so that remote CLI talks to the peer, whatever the login shell is.
install_ssh() {
    [[ -x /usr/sbin/sshd && -x /usr/bin/ssh ]] && return
    say "installing openssh-server and openssh-client"
    local guard=/usr/sbin/policy-rc.d
    if [[ ! -e $guard ]]; then  # the package would start the system sshd on port 22: forbid that
        printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server openssh-client >&2
}
ssh_files() {
    mkdir -p -m 700 "$SSH"
    [[ -s $SSH/host_key ]] || ssh-keygen -q -t ed25519 -N '' -C "envtrack-peer-$INSTANCE-host" -f "$SSH/host_key"
    [[ -s $SSH/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C "envtrack-peer-$INSTANCE" -f "$SSH/id_ed25519"
    write_if_changed "$SSH/authorized_keys" \
        "environment=\"DOCKER_HOST=unix://$SOCKET\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty $(cat "$SSH/id_ed25519.pub")"
    write_if_changed "$SSH/known_hosts" "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1-2 "$SSH/host_key.pub")"
    write_if_changed "$SSH/sshd_config" "Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH/host_key
PidFile $RUN/sshd.pid
AuthorizedKeysFile $SSH/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitUserEnvironment DOCKER_HOST
AllowTcpForwarding no
X11Forwarding no
PrintMotd no"
    # Only ssh to root@127.0.0.1 on this port picks up the key and the known_hosts file.
    write_if_changed "$SSH/client_config" "Match host 127.0.0.1 user root exec \"test %p = $SSH_PORT\"
    IdentityFile $SSH/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $SSH/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes"
    include_client_config
}
write_if_changed() {  # FILE CONTENT: rewrite only when the content differs (rerun changes nothing)
    [[ -f $1 && $(cat "$1") == "$2" ]] && return
    printf '%s\n' "$2" >"$1.tmp" && chmod 600 "$1.tmp" && mv "$1.tmp" "$1"
}
include_client_config() {
    # An Include before any Host/Match block applies everywhere; the user's own lines stay as they are.
    local line="Include $SSH/client_config"
    [[ -f $SSH_USER_CONFIG ]] && grep -qxF "$line" "$SSH_USER_CONFIG" && return
    mkdir -p -m 700 "$(dirname "$SSH_USER_CONFIG")"
    { echo "$line"; [[ -f $SSH_USER_CONFIG ]] && cat "$SSH_USER_CONFIG"; } >"$SSH_USER_CONFIG.envtrack.tmp"
    chmod 600 "$SSH_USER_CONFIG.envtrack.tmp" && mv "$SSH_USER_CONFIG.envtrack.tmp" "$SSH_USER_CONFIG"
    say "added '$line' to $SSH_USER_CONFIG"
}
start_sshd() {
    if alive "$RUN/sshd.pid"; then
        # A changed config (another port) needs a restart; an unchanged one is left alone.
        [[ $RUN/sshd.pid -nt $SSH/sshd_config ]] && return
        kill "$(cat "$RUN/sshd.pid")" && sleep 0.3
    fi
    mkdir -p -m 755 /run/sshd  # sshd's privilege-separation directory
    /usr/sbin/sshd -f "$SSH/sshd_config" -E "$STATE/sshd.log" </dev/null >/dev/null 2>&1 9>&- \
        || die "sshd did not start; log: $STATE/sshd.log"
    for _ in $(seq 50); do alive "$RUN/sshd.pid" && return; sleep 0.1; done
    die "sshd wrote no pid file; log: $STATE/sshd.log"
}

main() {
    case ${1:-} in
        "") ;;
        --print-env) answers || die "not running; start it with $0"; print_env; return ;;
        --stop) stop; return ;;
        *) echo "usage: $0 [--print-env | --stop]" >&2; exit 2 ;;
    esac
    [[ $(id -u) == 0 ]] || die "run as root (it starts dockerd and sshd and adds a bridge)"
    command -v docker >/dev/null || die "no docker CLI; run scripts/setup-engine.sh first"
    fetch_engine
    make_certs
    make_bridge
    start_engine
    load_base_images
    install_ssh
    ssh_files
    start_sshd
    print_env
}

mkdir -p -m 755 "$RUN"
# One run at a time per instance: parallel test sessions would otherwise race to start it.
# The daemons are started with fd 9 closed, or they would hold the lock for their lifetime.
exec 9>"/run/envtrack-peer/$INSTANCE.lock"
flock 9
main "$@"

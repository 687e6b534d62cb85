#!/usr/bin/env bash
# The container image, built from the repository's Dockerfile and run as its own configuration
# says, on a machine that can reach no image registry.
#
# 1. Stand-ins for the two base images the Dockerfile names are built here and tagged with those
#    names, so nothing is pulled: the Debian one from `debootstrap --variant=minbase` trimmed as
#    Debian's official slim images are, the Rust one from it plus gcc, libc6-dev and the machine's
#    own Rust toolchain of the version the Dockerfile asks for, laid out as the official image
#    has it (rustup in /usr/local/cargo/bin, toolchains under /usr/local/rustup).
# 2. `buildah bud --isolation chroot --layers` builds the Dockerfile as users build it; only the
#    CARGO_PROFILE build argument differs (CI builds `release`, the image's default is
#    `production`, whose fat LTO takes several times longer).
# 3. `podman run` cannot work here (crun may not raise RLIMIT_NPROC), so the image's root file
#    system is mounted and its entrypoint and command run under `chroot --userspec` with the
#    image's user, environment and working directory, read from the image's configuration. Each
#    run has a network namespace of its own joined to the host by a veth pair (what a bridge
#    network gives a container): the image's listen addresses are used as they are, and the
#    checks reach them from outside the namespace. A fresh host folder is bind-mounted on every
#    VOLUME, owned as the image's folder is (what a new named volume gets).
#
# Checks: SQLite start with the bootstrap key handed over in a file (JSON logs, standard output
# not a terminal), /readyz, the README's walk-through, /metrics on the advertised management
# port, the image's HEALTHCHECK command, a PostgreSQL start (a fresh database on the machine's
# server), SIGTERM exits 0, every file written belongs to the image's user, nothing outside the
# data volume (and the world-writable temporary folders) is writable by that user. Prints the
# build time, the image's size and contents, and the time from start to ready.
#
#   CARGO_PROFILE            Cargo profile built in the image (default: release)
#   ACCOUNTD_CONTAINER_IMAGE run the checks on this image, already in containers storage,
#                            instead of building one
#   ACCOUNTD_CI_CACHE        cache folder (default: ~/.cache/accountd-ci); stand-in root file
#                            systems are kept there, images and the layer cache in containers
#                            storage (pruned when it passes ACCOUNTD_CONTAINER_STORAGE_LIMIT_GB, 8)
#   PGHOST PGPORT PGUSER     the machine's PostgreSQL (default 127.0.0.1, 5432, postgres)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cd "$repo"

CARGO_PROFILE=${CARGO_PROFILE:-release}
CACHE=${ACCOUNTD_CI_CACHE:-"$HOME/.cache/accountd-ci"}/container
STORAGE_LIMIT_GB=${ACCOUNTD_CONTAINER_STORAGE_LIMIT_GB:-8}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
IMAGE=localhost/accountd:ci
DEBIAN_MIRROR=http://deb.debian.org/debian
# A stand-in root file system older than this is built anew, as a pulled tag would move with
# Debian's point releases and security updates.
BASE_MAX_AGE_DAYS=7

log() { printf '    %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
millis() { date +%s%3N; }

# --- tools -------------------------------------------------------------------------------------

missing=()
for tool in debootstrap:debootstrap buildah:buildah podman:podman socat:socat jq:jq curl:curl ip:iproute2; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
mkdir -p "$CACHE"

# --- clean-up of everything a run creates -------------------------------------------------------

work=$(mktemp -d /var/tmp/accountd-container.XXXXXX)
pids=()
mounts=()
containers=()
netns=()
databases=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  local i
  for (( i = ${#mounts[@]} - 1; i >= 0; i-- )); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || true; done
  for ctr in "${containers[@]}"; do buildah rm "$ctr" >/dev/null 2>&1 || true; done
  for ns in "${netns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for db in "${databases[@]}"; do dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$db" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- stand-in base images -----------------------------------------------------------------------

# The base images the Dockerfile names, fully qualified as a pull would name them.
mapfile -t bases < <(sed -nE 's/^FROM[[:space:]]+([^[:space:]]+).*/\1/p' Dockerfile | grep -E '^(rust|debian):' | sort -u)
rust_base="" debian_base=""
for base in "${bases[@]}"; do
  case "$base" in
    rust:*) rust_base=docker.io/library/$base ;;
    debian:*) debian_base=docker.io/library/$base ;;
  esac
done
{ [ -n "$rust_base" ] && [ -n "$debian_base" ]; } || fail "the Dockerfile no longer names a rust: and a debian: base image (${bases[*]})"
suite=${debian_base#*:}
suite=${suite%-slim}
rust_suite=${rust_base##*-}
[ "$suite" = "$rust_suite" ] || fail "the Rust image ($rust_base) and the runtime image ($debian_base) name different Debian releases"
rust_version=${rust_base#*:}
rust_version=${rust_version%%-*}

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# An image is reused when the key it was built for (recorded beside the cache) still holds and
# containers storage still has it.
cached_image() { # name key-file key
  local id
  id=$(image_id "$1")
  [ -n "$id" ] && [ -f "$2" ] && [ "$(cat "$2")" = "$3 $id" ]
}

debian_rootfs() { # prints the path of a gzipped root file system tarball of Debian $suite, slim
  local tarball=$CACHE/debian-$suite-slim.tar.gz
  if [ -f "$tarball" ] && [ -z "$(find "$tarball" -mtime +$BASE_MAX_AGE_DAYS)" ]; then
    echo "$tarball"
    return
  fi
  local root=$work/debian-rootfs started
  started=$(date +%s)
  log "debootstrap --variant=minbase $suite ($DEBIAN_MIRROR)" >&2
  debootstrap --variant=minbase "$suite" "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # What Debian's official slim images carry (debuerreotype): no documentation, manual pages
  # or translations, now or from later installs; apt keeps no package files or caches.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get upgrade -y -q && apt-get clean' \
    >>"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; fail "upgrading the $suite root file system failed"; }
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{info,linda,locale,man}/* "$root"/usr/share/lintian/overrides/*
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/etc/resolv.conf
  : >"$root/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$root" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
  log "debian $suite root file system: $(( $(date +%s) - started )) s, $(du -h "$tarball" | cut -f1) gzipped" >&2
  echo "$tarball"
}

standin_debian() {
  local tarball key
  tarball=$(debian_rootfs)
  key="$(stat -c %Y "$tarball") $(sha256sum <"$tarball" | cut -c1-16)"
  if cached_image "$debian_base" "$CACHE/debian.key" "$key"; then
    log "$debian_base: stand-in reused ($(image_id "$debian_base" | cut -c1-12))"
    return
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$tarball" "$debian_base" >/dev/null
  echo "$key $(image_id "$debian_base")" >"$CACHE/debian.key"
  log "$debian_base: stand-in imported from $tarball ($(image_id "$debian_base" | cut -c1-12))"
}

# The machine's toolchain of the Dockerfile's Rust version (no other can be downloaded here).
host_toolchain() {
  local toolchain
  while read -r toolchain _; do
    if rustup run "$toolchain" rustc -V 2>/dev/null | grep -qE "^rustc ${rust_version//./\\.}(\.| )"; then
      echo "$toolchain"
      return
    fi
  done < <(rustup toolchain list)
  fail "no Rust $rust_version toolchain on this machine (rustup toolchain list: $(rustup toolchain list | tr '\n' ' '))"
}

standin_rust() {
  local toolchain toolchain_dir full_version name key ctr root
  toolchain=$(host_toolchain)
  toolchain_dir=$(dirname "$(dirname "$(readlink -f "$(rustup run "$toolchain" rustup which rustc)")")")
  full_version=$(rustup run "$toolchain" rustc -V | cut -d' ' -f2)
  name=$full_version-$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')
  key="$(image_id "$debian_base") $(rustup run "$toolchain" rustc -vV | sha256sum | cut -c1-16)"
  key+=" $(sha256sum <"$(readlink -f "$(command -v rustup)")" | cut -c1-16)"
  key+=" $(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)"
  if cached_image "$rust_base" "$CACHE/rust.key" "$key"; then
    log "$rust_base: stand-in reused ($(image_id "$rust_base" | cut -c1-12))"
    return
  fi
  log "$rust_base: stand-in from $debian_base, gcc and libc6-dev, and the machine's toolchain $name"
  ctr=$(buildah from --pull=never "$debian_base")
  containers+=("$ctr")
  buildah run --isolation chroot "$ctr" -- /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive;
    apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*' >"$work/rust-standin.log" 2>&1 \
    || { tail -20 "$work/rust-standin.log" >&2; fail "installing gcc into the Rust stand-in failed"; }
  root=$(buildah mount "$ctr")
  # The build downloads crates (cargo-chef, the dependencies) through this machine's network; a
  # machine whose egress re-signs TLS trusts that proxy's certificate authority, and so must the
  # build stage. The runtime image never sees it.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    buildah run --isolation chroot "$ctr" -- update-ca-certificates >>"$work/rust-standin.log" 2>&1 \
      || fail "update-ca-certificates failed in the Rust stand-in"
  fi
  mkdir -p "$root/usr/local/rustup/toolchains/$name" "$root/usr/local/cargo/bin"
  # The official image installs the minimal profile: no documentation.
  tar -C "$toolchain_dir" --exclude=./share/doc -cf - . | tar -C "$root/usr/local/rustup/toolchains/$name" -xf -
  cp "$(readlink -f "$(command -v rustup)")" "$root/usr/local/cargo/bin/rustup"
  for proxy in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb; do
    ln -s rustup "$root/usr/local/cargo/bin/$proxy"
  done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n' \
    "$name" >"$root/usr/local/rustup/settings.toml"
  chmod -R a+w "$root/usr/local/rustup" "$root/usr/local/cargo"
  buildah umount "$ctr" >/dev/null
  buildah config \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$full_version" "$ctr"
  buildah commit --quiet --rm "$ctr" "$rust_base" >/dev/null
  containers=("${containers[@]/$ctr}")
  ctr=$(buildah from --pull=never "$rust_base")
  containers+=("$ctr")
  buildah run --isolation chroot "$ctr" -- cargo --version >/dev/null || fail "cargo does not run in the Rust stand-in"
  echo "$key $(image_id "$rust_base")" >"$CACHE/rust.key"
  log "$rust_base: stand-in built ($(image_id "$rust_base" | cut -c1-12))"
}

if [ -n "${ACCOUNTD_CONTAINER_IMAGE:-}" ]; then
  IMAGE=$ACCOUNTD_CONTAINER_IMAGE
  build_seconds=0
  log "checking $IMAGE as it is: no stand-ins, no build"
else
printf -- '--- stand-in base images\n'
started=$(date +%s)
standin_debian
standin_rust
log "base images ready in $(( $(date +%s) - started )) s"

# --- the build ----------------------------------------------------------------------------------

printf -- '--- buildah bud (CARGO_PROFILE=%s)\n' "$CARGO_PROFILE"
started=$(date +%s)
# --format docker keeps HEALTHCHECK, which the OCI image format has no field for.
buildah bud --isolation chroot --layers --force-rm --pull=never --format docker \
  --build-arg CARGO_PROFILE="$CARGO_PROFILE" --tag "$IMAGE" --file Dockerfile . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; fail "buildah bud failed (log above)"; }
build_seconds=$(( $(date +%s) - started ))
reused=$(grep -c 'Using cache' "$work/build.log" || true)
log "image built in $build_seconds s ($reused steps from the layer cache)"

# Each changed build leaves its old layers behind (a release build's target folder is a few GB).
# Past the limit, every untagged image this build did not use goes.
storage=$(podman info --format '{{.Store.GraphRoot}}')
storage_gb() { { du -sbx "$storage" 2>/dev/null || true; } | awk '{ print int($1 / 1e9) }'; }
storage_gb=$(storage_gb)
if [ "$storage_gb" -ge "$STORAGE_LIMIT_GB" ]; then
  used=$(sed -nE 's/^--> (Using cache )?([0-9a-f]{11,}).*/\2/p' "$work/build.log" | cut -c1-11 | sort -u)
  while read -r id name; do
    [ "$name" = "<none>" ] || continue
    grep -qx "${id:0:11}" <<<"$used" && continue
    buildah rmi "$id" >/dev/null 2>&1 || true
  done < <(buildah images --all --noheading --format '{{.ID}} {{.Name}}')
  log "containers storage was $storage_gb GB; stale build layers removed, now $(storage_gb) GB"
fi
fi

# --- what the image says about itself -----------------------------------------------------------

config=$(buildah inspect --type image "$IMAGE")
from_config() { jq -r "$1" <<<"$config"; }
user=$(from_config '.OCIv1.config.User // ""')
[[ $user =~ ^[0-9]+:[0-9]+$ ]] || fail "the image's USER is not a numeric uid:gid ($user)"
uid=${user%%:*} gid=${user#*:}
workdir=$(from_config '.OCIv1.config.WorkingDir // "/"')
mapfile -t image_env < <(from_config '.OCIv1.config.Env // [] | .[]')
mapfile -t entrypoint < <(from_config '.OCIv1.config.Entrypoint // [] | .[]')
mapfile -t command < <(from_config '.OCIv1.config.Cmd // [] | .[]')
mapfile -t volumes < <(from_config '.OCIv1.config.Volumes // {} | keys[]')
mapfile -t exposed < <(from_config '.OCIv1.config.ExposedPorts // {} | keys[]')
mapfile -t healthcheck < <(from_config '.Docker.config.Healthcheck.Test // [] | .[]')
case "${healthcheck[0]:-}" in
  CMD) healthcheck=("${healthcheck[@]:1}") ;;
  CMD-SHELL) healthcheck=(/bin/sh -c "${healthcheck[1]}") ;;
  *) fail "the image has no HEALTHCHECK command (${healthcheck[*]:-none})" ;;
esac
image_env_value() {
  local pair
  for pair in "${image_env[@]}"; do
    if [[ $pair == "$1="* ]]; then echo "${pair#*=}"; fi
  done
}
api_listen=$(image_env_value ACCOUNTD_LISTEN)
management_listen=$(image_env_value ACCOUNTD_MANAGEMENT_LISTEN)
api_port=${api_listen##*:}
management_port=${management_listen##*:}
[[ $api_port =~ ^[0-9]+$ ]] || fail "the image sets no ACCOUNTD_LISTEN port ($api_listen)"
[[ " ${exposed[*]} " == *" $api_port/tcp "* ]] || fail "the image does not EXPOSE its API port $api_port (${exposed[*]})"
[[ $management_port =~ ^[0-9]+$ ]] || fail "the image sets no ACCOUNTD_MANAGEMENT_LISTEN port ($management_listen)"
[[ " ${exposed[*]} " == *" $management_port/tcp "* ]] \
  || fail "the image does not EXPOSE its management port $management_port (${exposed[*]})"
[ ${#volumes[@]} -gt 0 ] || fail "the image declares no VOLUME for its data"
printf -- '--- the image: user %s, working directory %s, entrypoint %s, command %s\n' \
  "$user" "$workdir" "${entrypoint[*]}" "${command[*]}"
log "environment: ${image_env[*]}"
log "volumes: ${volumes[*]}; exposed: ${exposed[*]}; healthcheck: ${healthcheck[*]}"

# --- containers without a container runtime ------------------------------------------------------

sandboxes=0
# Prepares a container of the image, as a runtime would: its root file system mounted (overlay,
# so `upper` holds everything the container writes to the image), every VOLUME a fresh host
# folder with the image's content and ownership, /proc and a minimal /dev, and a network
# namespace joined to the host by a veth pair (host_ip on the host, container_ip inside).
new_container() { # name
  local name=$1 volume dir host_if node
  sandboxes=$(( sandboxes + 1 ))
  ctr=$(buildah from --pull=never --name "accountd-ci-$$-$name" "$IMAGE")
  containers+=("$ctr")
  root=$(buildah mount "$ctr")
  upper=$(dirname "$root")/diff
  [ -d "$upper" ] || fail "containers storage does not use overlay here; cannot see what the container writes"
  for volume in "${volumes[@]}"; do
    dir=$work/$name-volume${volume//\//-}
    mkdir -p "$dir"
    cp -a "$root$volume/." "$dir/"
    chown --reference="$root$volume" "$dir"
    chmod --reference="$root$volume" "$dir"
    mount --bind "$dir" "$root$volume"
    mounts+=("$root$volume")
  done
  data_dir=$work/$name-volume${volumes[0]//\//-}
  mount -t proc proc "$root/proc"
  mounts+=("$root/proc")
  mount -t tmpfs -o mode=755,size=1m tmpfs "$root/dev"
  mounts+=("$root/dev")
  for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
    mounts+=("$root/dev/$node")
  done
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  ns=accountd-ci-$$-$name
  ip netns add "$ns"
  netns+=("$ns")
  ip -n "$ns" link set lo up
  host_ip=10.213.$(( ($$ + sandboxes) % 250 )).1
  container_ip=${host_ip%.1}.2
  host_if=acd$(( $$ % 100000 ))n$sandboxes
  ip link add "$host_if" type veth peer name eth0 netns "$ns"
  ip addr add "$host_ip/30" dev "$host_if"
  ip link set "$host_if" up
  ip -n "$ns" addr add "$container_ip/30" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$host_ip"
}

# Runs a command in the current container as the image's user, with the image's environment
# (then the given NAME=value overrides) and working directory.
in_container() { # [NAME=value ...] command ...
  ip netns exec "$ns" chroot --userspec="$uid:$gid" "$root" \
    /usr/bin/env -i -C "$workdir" "${image_env[@]}" "$@"
}

server_pid=""
# Starts the image's entrypoint and command; waits for /readyz 200 from outside the container.
start_server() { # label [NAME=value ...]
  local label=$1 started status=""
  shift
  server_log=$work/$label.log
  started=$(millis)
  # exec: the process signalled and waited for is the server itself.
  (exec ip netns exec "$ns" chroot --userspec="$uid:$gid" "$root" \
    /usr/bin/env -i -C "$workdir" "${image_env[@]}" "$@" "${entrypoint[@]}" "${command[@]}") >"$server_log" 2>&1 </dev/null &
  server_pid=$!
  pids+=("$server_pid")
  base=http://$container_ip:$api_port
  for _ in $(seq 1 3000); do
    status=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$base/readyz" || true)
    [ "$status" = 200 ] && break
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$server_log" >&2; fail "$label: the server exited before it was ready"; }
    sleep 0.02
  done
  [ "$status" = 200 ] || { tail -20 "$server_log" >&2; fail "$label: /readyz never answered 200 (last: $status)"; }
  ready_ms=$(( $(millis) - started ))
  log "$label: started, /readyz 200 after $ready_ms ms (exec to ready, from outside the container)"
}

# SIGTERM, as `docker stop` sends: the server drains and exits 0.
stop_server() { # label
  local status=0
  kill -TERM "$server_pid"
  for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$server_pid" 2>/dev/null && fail "$1: still running 30 s after SIGTERM"
  wait "$server_pid" || status=$?
  [ "$status" = 0 ] || { tail -20 "$server_log" >&2; fail "$1: exited $status after SIGTERM"; }
  log "$1: SIGTERM, exited 0"
}

# A request with its expected status; prints the body.
request() { # expected-status method url [curl arguments ...]
  local expected=$1 method=$2 url=$3 status
  shift 3
  status=$(curl -sS -m 10 -o "$work/body" -w '%{http_code}' -X "$method" "$url" "$@") || fail "$method $url: no answer"
  [ "$status" = "$expected" ] || fail "$method $url answered $status, expected $expected: $(head -c 400 "$work/body")"
  cat "$work/body"
}

# The bootstrap key handed over as the README says for JSON logs: a 0600 file of the image's user
# in the data folder, only its path in the log, every log line JSON.
check_key_handover() { # label folder-inside-the-container
  local label=$1 folder=$2 file line
  file=$data_dir/accountd-bootstrap-key.env
  [ -f "$file" ] || fail "$label: no $folder/accountd-bootstrap-key.env"
  [ "$(stat -c '%a %u:%g' "$file")" = "600 $uid:$gid" ] \
    || fail "$label: the key file is $(stat -c '%a %u:%g' "$file"), expected 600 $uid:$gid"
  client_id=$(sed -n 's/^ACCOUNTD_CLIENT_ID=//p' "$file")
  client_secret=$(sed -n 's/^ACCOUNTD_CLIENT_SECRET=//p' "$file")
  { [ -n "$client_id" ] && [ -n "$client_secret" ]; } || fail "$label: the key file lacks ACCOUNTD_CLIENT_ID or ACCOUNTD_CLIENT_SECRET"
  grep -qF "$folder/accountd-bootstrap-key.env" "$server_log" || fail "$label: the log does not name the key file's path"
  if grep -qF "$client_secret" "$server_log"; then fail "$label: the client secret is in the log"; fi
  while IFS= read -r line; do
    jq -e . >/dev/null 2>&1 <<<"$line" || fail "$label: a log line is not JSON: $line"
  done <"$server_log"
  log "$label: bootstrap key in $folder/accountd-bootstrap-key.env (0600, uid $uid), only its path logged, JSON logs"
}

# The README's walk-through with curl, each answer checked.
walk_through() { # label
  local admin shop realm profile account member token body
  admin=$(request 200 POST "$base/oauth/access_token" -d grant_type=client_credentials \
    -d client_id="$client_id" -d client_secret="$client_secret" | jq -r .access_token)
  shop=$(request 200 POST "$base/oauth/access_token" -d grant_type=implicit -d client_id="$client_id" | jq -r .access_token)
  realm=$(request 200 GET "$base/v2/settings/account-authentication" -H "Authorization: Bearer $shop" \
    | jq -r .data.relationships.authentication_realm.data.id)
  profile=$(request 201 POST "$base/v2/authentication-realms/$realm/password-profiles" -H "Authorization: Bearer $admin" \
    -d '{"data":{"type":"password_profile","name":"Storefront logins"}}' | jq -r .data.id)
  account=$(request 201 POST "$base/v2/accounts" -H "Authorization: Bearer $admin" \
    -d '{"data":{"type":"account","name":"Acme Procurement"}}' | jq -r .data.id)
  member=$(request 201 POST "$base/v2/authentication-realms/$realm/user-authentication-info" -H "Authorization: Bearer $admin" \
    -d '{"data":{"type":"user_authentication_info","name":"Ron Swanson","email":"ron@example.com"}}' | jq -r .data.id)
  request 201 POST "$base/v2/authentication-realms/$realm/user-authentication-info/$member/user-authentication-password-profile-info" \
    -H "Authorization: Bearer $admin" \
    -d "{\"data\":{\"type\":\"user_authentication_password_profile_info\",\"password_profile_id\":\"$profile\",\"username\":\"ron@example.com\",\"password\":\"mustache-and-bacon\"}}" >/dev/null
  request 201 POST "$base/v2/accounts/$account/account-memberships" -H "Authorization: Bearer $admin" \
    -d "{\"data\":{\"type\":\"account_membership\",\"account_member_id\":\"$member\"}}" >/dev/null
  token=$(request 201 POST "$base/v2/account-members/tokens" -H "Authorization: Bearer $shop" \
    -d "{\"data\":{\"type\":\"account_management_authentication_token\",\"authentication_mechanism\":\"password\",\"password_profile_id\":\"$profile\",\"username\":\"ron@example.com\",\"password\":\"mustache-and-bacon\"}}" \
    | jq -r '.data[0].token')
  body=$(request 200 GET "$base/v2/accounts/$account" -H "Authorization: Bearer $shop" \
    -H "EP-Account-Management-Authentication-Token: $token")
  [ "$(jq -r '.data.id + " " + .data.name' <<<"$body")" = "$account Acme Procurement" ] \
    || fail "$1: the token-checked read returned $body"
  request 401 GET "$base/v2/accounts/$account" -H "Authorization: Bearer $shop" \
    -H "EP-Account-Management-Authentication-Token: ${token%?}x" >/dev/null
  request 400 POST "$base/v2/account-members/tokens" -H "Authorization: Bearer $shop" \
    -d "{\"data\":{\"type\":\"account_management_authentication_token\",\"authentication_mechanism\":\"password\",\"password_profile_id\":\"$profile\",\"username\":\"ron@example.com\",\"password\":\"wrong-password\"}}" >/dev/null
  log "$1: README walk-through passed (password login, token-checked read; a wrong password gets 400, a forged token 401)"
}

# Every file the container wrote, in its image layer or its volumes, belongs to the image's user.
check_written_files() { # label
  local label=$1 foreign written
  written=$(cd "$upper" && find . -mindepth 1 | sed 's/^\.//' | tr '\n' ' ')
  foreign=$( (cd "$upper" && find . -mindepth 1 \( ! -uid "$uid" -o ! -gid "$gid" \) -printf '%p %u:%g\n';
    cd "$data_dir" && find . \( ! -uid "$uid" -o ! -gid "$gid" \) -printf '%p %u:%g\n') )
  [ -z "$foreign" ] || fail "$label: files written by the container that are not $uid:$gid: $foreign"
  log "$label: every file written belongs to $uid:$gid (data volume: $(cd "$data_dir" && find . -mindepth 1 | sed 's|^\./||' | tr '\n' ' '); image layer: ${written:-nothing})"
}

# --- SQLite: the image's defaults -----------------------------------------------------------------

printf -- '--- SQLite (the image as configured)\n'
new_container sqlite
start_server sqlite
sqlite_ready_ms=$ready_ms
data_folder=$(image_env_value DATABASE_URL | sed -E 's|^sqlite://||; s|\?.*$||; s|/[^/]*$||')
[ "$data_folder" = "${volumes[0]}" ] || fail "the image's SQLite database ($data_folder) is not on its volume (${volumes[0]})"
check_key_handover sqlite "$data_folder"
walk_through sqlite
in_container "${healthcheck[@]}" >/dev/null 2>&1 || fail "sqlite: the HEALTHCHECK command (${healthcheck[*]}) failed against a running server"
log "sqlite: HEALTHCHECK command exits 0"
metrics=$(request 200 GET "http://$container_ip:$management_port/metrics")
grep -q '^accountd_' <<<"$metrics" || fail "sqlite: /metrics on the management port has no accountd_ series"
request 404 GET "$base/metrics" >/dev/null
log "sqlite: /metrics answers on $container_ip:$management_port from outside the container (404 on the API port)"

# Nothing outside the data volume is writable by the image's user, but the sticky world-writable
# temporary folders every Debian system has.
temporary=()
writable=$(in_container /usr/bin/find / -xdev \( -path /proc -o -path /dev -o -path /sys \) -prune -o -writable -print 2>/dev/null || true)
while IFS= read -r path; do
  [ -z "$path" ] && continue
  for volume in "${volumes[@]}"; do [ "$path" = "$volume" ] && continue 2; done
  if [ "$(in_container stat -L -c %a "$path")" = 1777 ]; then temporary+=("$path"); continue; fi
  fail "sqlite: $path is writable by uid $uid outside the data volume"
done <<<"$writable"
for target in "$workdir/probe" /usr/local/bin/accountd /etc/passwd /probe; do
  # Opening for appending is the attempt; nothing is written even if it succeeds.
  if in_container /bin/sh -c ": >> '$target'" 2>/dev/null; then fail "sqlite: uid $uid could write $target"; fi
done
in_container /bin/sh -c "echo probe > '${volumes[0]}/probe' && rm '${volumes[0]}/probe'" || fail "sqlite: uid $uid cannot write its data volume"
log "sqlite: writes to $workdir, /usr/local/bin/accountd, /etc/passwd and / fail; writable: the data volume and ${temporary[*]} (sticky, world-writable)"

stop_server sqlite
if in_container "${healthcheck[@]}" >/dev/null 2>&1; then fail "sqlite: the HEALTHCHECK command passes with no server running"; fi
check_written_files sqlite

# The restart keeps everything: the same key still works and no new key file appears.
rm "$data_dir/accountd-bootstrap-key.env"
start_server sqlite-restart
[ ! -e "$data_dir/accountd-bootstrap-key.env" ] || fail "sqlite-restart: a second bootstrap key was generated"
request 200 POST "$base/oauth/access_token" -d grant_type=client_credentials \
  -d client_id="$client_id" -d client_secret="$client_secret" >/dev/null
log "sqlite-restart: the data volume kept the database and the key"
stop_server sqlite-restart

# --- PostgreSQL: the machine's server, a fresh database ------------------------------------------

printf -- '--- PostgreSQL (DATABASE_URL to the machine'"'"'s server, a fresh database)\n'
new_container postgres
database=accountd_container_$$
createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$database"
databases+=("$database")
# The server listens on loopback only; a forwarder on the host's side of the veth pair stands in
# for a database host on the container's network.
socat "TCP-LISTEN:$PGPORT,bind=$host_ip,reuseaddr,fork" "TCP:$PGHOST:$PGPORT" &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$host_ip/$PGPORT") 2>/dev/null && break; sleep 0.05; done
start_server postgres DATABASE_URL="postgres://$PGUSER@$host_ip:$PGPORT/$database"
postgres_ready_ms=$ready_ms
check_key_handover postgres "$workdir/data"
walk_through postgres
in_container DATABASE_URL="postgres://$PGUSER@$host_ip:$PGPORT/$database" "${healthcheck[@]}" >/dev/null 2>&1 \
  || fail "postgres: the HEALTHCHECK command failed"
[ "$(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$database" -Atc 'SELECT count(*) FROM accounts')" = 1 ] \
  || fail "postgres: the account is not in the PostgreSQL database"
log "postgres: HEALTHCHECK command exits 0; the walk-through's account is in $database"
stop_server postgres
check_written_files postgres

# --- what was built -------------------------------------------------------------------------------

printf -- '--- the image\n'
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
compressed=$(podman save --format docker-archive "$IMAGE" 2>/dev/null | gzip -c | wc -c)
base_compressed=$(podman save --format docker-archive "$debian_base" 2>/dev/null | gzip -c | wc -c)
mb() { awk -v bytes="$1" 'BEGIN { printf "%.1f MB", bytes / 1e6 }'; }
base_ctr=$(buildah from --pull=never "$debian_base")
containers+=("$base_ctr")
base_root=$(buildah mount "$base_ctr")
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
added_packages=$(comm -13 <(dpkg-query --admindir="$base_root/var/lib/dpkg" -W -f '${Package}\n' | sort) \
  <(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package}\n' | sort) \
  | xargs -r dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}, ' | sed 's/, $//')
added_files=$(comm -13 <(cd "$base_root" && find . -xdev ! -type d | sort) <(cd "$root" && find . -xdev ! -type d | sort) \
  | while read -r file; do printf '%s (%s), ' "${file#.}" "$(mb "$(stat -c %s "$root/$file")")"; done | sed 's/, $//')
log "size: $(mb "$size") uncompressed, $(mb "$compressed") compressed (podman save | gzip; the base alone: $(mb "$base_compressed"))"
log "beyond $debian_base: packages ${added_packages:-none}; new files $added_files"
certificates=$(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt" || true)
[ "$certificates" -ge 100 ] || fail "the image's CA bundle holds $certificates certificates"
log "CA bundle: $certificates certificates"
log "layers:"
# awk, not head: it reads to the end, so podman never writes into a closed pipe and dies of
# SIGPIPE, which pipefail would make this script's exit status.
podman history --format '{{.Size}}	{{.CreatedBy}}' "$IMAGE" | awk 'NR <= 12' | cut -c1-110 | sed 's/^/      /'
log "build $build_seconds s; start to ready: SQLite $sqlite_ready_ms ms, PostgreSQL $postgres_ready_ms ms"
[ "$compressed" -lt 40000000 ] || fail "the image is $(mb "$compressed") compressed, over the 40 MB goal"

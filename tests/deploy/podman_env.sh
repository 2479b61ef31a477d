# Sourced by the container tests (after lib.sh): makes podman usable here or
# says why not (skip), and makes sure debian:bookworm-slim exists locally.
#
# Rootful podman on this kind of machine needs (measured): the runc runtime
# (crun refuses the hybrid cgroup setup), the cgroupfs manager (systemd is not
# PID 1), and default nofile/nproc ulimits at or below the caller's hard
# limits. A private containers.conf passed through CONTAINERS_CONF does all
# three without touching /etc/containers. Containers run with --network=host
# (build: the apt mirror) or --network=none (the daemon under test), so no
# bridge, CNI or netavark setup is needed.

podman_env() {
  command -v podman >/dev/null || skip "podman is not installed (scripts/deps.sh installs it)"
  [[ $(id -u) -eq 0 ]] || skip "the container tests need root (rootful podman); running as uid $(id -u)"
  [[ -r /proc/self/uid_map ]] || skip "no user namespaces here (/proc/self/uid_map)"
  local conf_dir=${SOCKWIRE_TEST_TMP:?}/containers
  mkdir -p "$conf_dir"
  # Both at the caller's hard open-files limit (capped by its process limit):
  # runc fails with EPERM when asked for more (seen here even for an nproc
  # equal to `ulimit -Hu`).
  local lim nproc
  lim=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [[ $lim == unlimited ]] && lim=65536
  [[ $nproc != unlimited ]] && ((nproc < lim)) && lim=$nproc
  ((lim > 65536)) && lim=65536
  local nofile=$lim
  nproc=$lim
  local runtime=runc
  command -v runc >/dev/null || runtime=crun
  cat >"$conf_dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "$runtime"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF=$conf_dir/containers.conf
  local err
  err=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1) || skip "podman cannot run here: ${err##*$'\n'}"
}

# Where the debootstrap'd base survives between runs: $SOCKWIRE_TEST_CACHE,
# else /var/cache/sockwire-test (root) or $XDG_CACHE_HOME/sockwire-test.
cache_dir() {
  if [[ -n ${SOCKWIRE_TEST_CACHE:-} ]]; then
    echo "$SOCKWIRE_TEST_CACHE"
  elif [[ $(id -u) -eq 0 ]]; then
    echo /var/cache/sockwire-test
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/sockwire-test"
  fi
}

# The Debian mirror this machine's apt uses, from its sources (one-line and
# deb822 formats): the URI of the first "deb" entry for suite bookworm.
apt_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == "bookworm") { print $i; exit } }' "$f")
    [[ -n $uri ]] && break
  done
  if [[ -z $uri ]]; then
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -r $f ]] || continue
      uri=$(awk -v RS= '/(^|\n)Suites:[^\n]*(^| )bookworm( |\n|$)/ && /(^|\n)Types:[^\n]*deb( |\n|$)/ {
              if (match($0, /(^|\n)URIs: *[^ \n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.*URIs: */, "", s); print s; exit } }' "$f")
      [[ -n $uri ]] && break
    done
  fi
  echo "${uri%/}"
}

# debian:bookworm-slim in podman's store. Uses an image of that name when
# there is one (pulled from a registry, or imported by an earlier run);
# otherwise imports the cached root filesystem, making it first with
# `debootstrap --variant=minbase` from the machine's mirror when the cache is
# cold (25-70 s). Slimmed as Docker's -slim images are (no docs, man pages or
# locales; dpkg excludes them from later installs too).
ensure_base_image() {
  if podman image exists docker.io/library/debian:bookworm-slim || podman image exists localhost/debian:bookworm-slim ||
    podman image exists debian:bookworm-slim; then
    step "base image debian:bookworm-slim present"
    return
  fi
  command -v debootstrap >/dev/null || skip "no debian:bookworm-slim image and no debootstrap to make one"
  local mirror cache key tarball
  mirror=$(apt_mirror)
  [[ -n $mirror ]] || skip "no bookworm entry in this machine's apt sources to debootstrap from"
  cache=$(cache_dir)
  key=$(printf '%s' "$mirror" | sha256sum | cut -c1-12)
  tarball=$cache/bookworm-minbase-$key.tar
  if [[ ! -s $tarball ]]; then
    step "debootstrap --variant=minbase bookworm from $mirror (cold cache: $tarball)"
    mkdir -p "$cache"
    local root=$cache/rootfs.tmp.$$
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -5 "$cache/debootstrap.log")"
    # The same suites the machine uses, from the same mirror (for apt inside
    # the image); security updates when the machine has them.
    local security
    security=$(grep -rhoE 'https?://[^ ]+debian-security' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 || true)
    {
      echo "deb $mirror bookworm main"
      echo "deb $mirror bookworm-updates main"
      [[ -n $security ]] && echo "deb $security bookworm-security main"
    } >"$root/etc/apt/sources.list"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* "$root"/var/cache/apt/archives/*.deb \
      "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/var/cache/debconf/*-old
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  step "podman import $tarball as debian:bookworm-slim"
  podman import --quiet --change 'CMD ["bash"]' --change 'LABEL org.sockwire.base=debootstrap' \
    "$tarball" localhost/debian:bookworm-slim >/dev/null
}

# Builds the images from the Dockerfile at the repository root ($SRC):
# localhost/sockwire:latest (the daemon) and localhost/sockwire-examples:latest
# (the daemon image plus the seed's echo programs, the sidecar demo's app).
# --network=host: the build stage's apt reaches the machine's mirror as the
# host does (no bridge network is set up here); --pull=never: the base is
# the local debian:bookworm-slim.
build_images() {
  local log=${SOCKWIRE_TEST_TMP:?}/build.log
  step "podman build --pull=never -t localhost/sockwire:latest $SRC"
  podman build --pull=never --network=host --format docker -t localhost/sockwire:latest "$SRC" >"$log" 2>&1 ||
    fail "podman build failed: $(tail -20 "$log")"
  step "podman build --pull=never --target examples -t localhost/sockwire-examples:latest"
  podman build --pull=never --network=host --format docker --target examples \
    -t localhost/sockwire-examples:latest "$SRC" >>"$log" 2>&1 || fail "podman build failed: $(tail -20 "$log")"
}


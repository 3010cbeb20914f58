#!/usr/bin/env bash
# Installs and starts what the test suite needs: build tools, PostgreSQL, a Docker engine,
# nginx, wrk, busybox-static, Chromium + ChromeDriver, and node/python3 for the base-image stand-ins. Sourced by scripts/test; safe to run again.
set -euo pipefail

vg_need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test: missing system packages: $*" >&2
    echo "run as root, or install them first: sudo apt-get install -y $*" >&2
    exit 1
  fi
}

vg_install_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v wrk >/dev/null || missing+=(wrk)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v dockerd >/dev/null || missing+=(docker.io)
  # Swarm images pushed to a registry every node pulls from (tests/it/swarm.rs runs one on loopback).
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  # The host's node and python3 become stand-ins for the official base images (tests/it/harness/standin.rs).
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  command -v git >/dev/null || missing+=(git)
  # HTTPS tests: Debian's pebble (ACME test CA, with pebble-challtestsrv) and real HTTP/2 clients.
  command -v pebble >/dev/null || missing+=(pebble)
  command -v h2load >/dev/null || missing+=(nghttp2-client)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # The dashboard's end-to-end tests drive Debian's Chromium through ChromeDriver (tests/it/browser.rs).
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  # The Debian package: cargo-deb needs dpkg-shlibdeps; its test installs it into a debootstrap tree.
  command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  # scripts/api-contract runs the gateway and schemathesis in a network namespace of their own.
  command -v unshare >/dev/null || missing+=(util-linux)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    vg_need_root "${missing[@]}"
    echo "scripts/test: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# PostgreSQL: the distribution's cluster, started with pg_ctlcluster, and a test superuser.
vg_start_postgres() {
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >/dev/null
  fi
  if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
    pg_ctlcluster "$version" main start
  fi
  for _ in $(seq 1 30); do
    su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'versiongate'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE versiongate LOGIN SUPERUSER PASSWORD 'versiongate'\""
  export VERSIONGATE_TEST_PG_URL="postgres://versiongate:versiongate@127.0.0.1:5432/postgres"
}

# Docker: use the running engine, else start Debian's dockerd in the background.
vg_start_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p /var/log
  nohup dockerd >/var/log/versiongate-dockerd.log 2>&1 &
  echo $! >/run/versiongate-dockerd.pid
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "scripts/test: dockerd did not start; see /var/log/versiongate-dockerd.log" >&2
  tail -n 20 /var/log/versiongate-dockerd.log >&2 || true
  return 1
}

#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine, as root. Idempotent: when everything
# is already there it only checks and prints, in about a second.
#   - real registry clients for test/e2e: skopeo, docker.io (dockerd + CLI), containerd (+ ctr, runc)
#   - the CNCF registry (docker-registry) as reference / temporary target
#   - busybox-static: the runnable e2e image copies /bin/busybox into its layer
#   - postgresql: server binaries for the integration tests
#   - podman: a third real client for the auth e2e tests (login/pull/push, storage in a temp dir)
#   - openssl: certificates for the TLS tests
#   - chromium: the headless browser the web UI's end-to-end tests drive (through playwright-core), and
#     fonts-wqy-microhei so its screenshots of the Chinese UI show characters rather than empty boxes
# Tests start private daemons on random 127.0.0.1 ports. No package service is started by the
# install (temporary policy-rc.d), and docker-registry's own service, which listens on :5000 with
# the package's config, is stopped and disabled if an earlier install started it.
set -euo pipefail

log() { printf '[test-setup] %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "[test-setup] must run as root (apt-get install)" >&2
  exit 1
fi

cd "$(dirname "$0")/.."

PACKAGES=(skopeo docker.io containerd runc docker-registry busybox-static postgresql podman openssl chromium fonts-wqy-microhei)
# System services to stop/disable. (A system dockerd/containerd/postgresql does not disturb the
# tests, which run private instances, so those are left as the machine's owner set them up.)
SERVICES=(docker-registry)

missing=()
for p in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  log "apt packages already installed: ${PACKAGES[*]}"
else
  log "missing apt packages: ${missing[*]}"
  # Forbid service starts during the install (invoke-rc.d and deb-systemd-invoke honour
  # policy-rc.d exit code 101). Only our own temporary policy file is removed afterwards.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    log "installing a temporary /usr/sbin/policy-rc.d (no service starts during install)"
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=yes
  fi
  cleanup_policy() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  log "apt-get update"
  apt-get update -q
  log "apt-get install -y --no-install-recommends ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  cleanup_policy
  trap - EXIT
fi

# Stop and disable the packages' system services, whichever init this machine has.
for svc in "${SERVICES[@]}"; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for unit in "$svc.service" "$svc.socket"; do
      if systemctl is-active --quiet "$unit" 2>/dev/null || systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        log "systemctl disable --now $unit"
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
      fi
    done
  elif [ -x "/etc/init.d/$svc" ]; then
    # SysV: stop it if its init script says it runs; drop its rc.d start links.
    if "/etc/init.d/$svc" status >/dev/null 2>&1; then
      log "/etc/init.d/$svc stop"
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
    if ls /etc/rc[2-5].d/S*"$svc" >/dev/null 2>&1; then
      log "update-rc.d $svc disable"
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  fi
  # The postinst enables the systemd unit even where systemd is not running (containers); drop
  # that too so the machine does not start it on a later boot. Works offline.
  if [ -e "/etc/systemd/system/multi-user.target.wants/$svc.service" ] && command -v systemctl >/dev/null 2>&1; then
    log "systemctl disable $svc.service"
    systemctl disable "$svc.service" >/dev/null 2>&1 || true
  fi
done

if command -v ss >/dev/null 2>&1 && ss -Hltn 'sport = :5000' | grep -q .; then
  log "WARNING: something still listens on port 5000 (not started by the tests):"
  ss -Hltnp 'sport = :5000' || true
fi

# Fail here, not in the middle of a test run, if a package did not deliver what the suite runs.
for bin in skopeo docker-registry dockerd docker containerd ctr containerd-shim-runc-v2 runc busybox podman chromium; do
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$bin" >/dev/null 2>&1; then
    echo "[test-setup] $bin not found after install" >&2
    exit 1
  fi
done
if [ "$(head -c 4 /bin/busybox | tail -c 3)" != ELF ]; then
  echo "[test-setup] /bin/busybox is not an ELF binary (busybox-static expected)" >&2
  exit 1
fi
log "clients: $(skopeo --version); $(dockerd --version); $(containerd --version | cut -d' ' -f1,3)"

# `npm install`, not `npm ci`: npm 11 here leaves other platforms' optional binaries (swc, unrs) out of
# package-lock.json, and `npm ci` then refuses the lock as out of sync. The lock still pins every version.
if [ -d node_modules ]; then
  log "node_modules present: skipping npm install"
else
  log "npm install"
  npm install --no-audit --no-fund
fi
log "done"

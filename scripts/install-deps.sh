#!/usr/bin/env bash
# Installs the Debian 12 packages kmsd builds, runs and tests with.
# Idempotent; needs root (or sudo). Skips apt entirely when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang-format
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev openssl libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev sqlite3
  libp11-kit-dev softhsm2 opensc
  libsystemd-dev systemd
  libcli11-dev libtomlplusplus-dev libhowardhinnant-date-dev tzdata
  curl jq python3 sound-theme-freedesktop gnuplot-nox
  uuid-runtime faketime  # XKS: the AWS test client needs uuidgen; clock-skew e2e test
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

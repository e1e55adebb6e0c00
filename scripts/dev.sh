#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the product's
# main job on its embedded default (SoftHSM2 token under a local folder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=build scripts/build.sh
DATA_DIR=${KMSD_DATA_DIR:-$PWD/.dev}
exec build/hsm/kmsd-token-demo --data-dir "$DATA_DIR"

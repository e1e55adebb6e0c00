#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test
# against a real SoftHSM2 token, a real SQLite store and a real HTTP server.
# Exits non-zero when any test fails. It sets CI=true after installing the
# packages, so token tests that cannot find SoftHSM2 fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The packages above include SoftHSM2 and the test tools: from here on a test
# that cannot find them fails instead of skipping, in CI or not.
export CI=true

echo "== build (warnings are errors)"
BUILD_DIR=build scripts/build.sh -DKMSD_WERROR=ON

echo "== layering: the transport stays out of the core"
if grep -rnE '#include <boost/(beast|asio)' common policy hsm broker; then
  echo "layering violation: Beast/Asio included below daemon/" >&2
  exit 1
fi
if grep -rnE '#include [<"](boost/json|common/json)' hsm; then
  echo "layering violation: hsm/ must not know JSON" >&2
  exit 1
fi

echo "== format"
files=$(git ls-files '*.cpp' '*.h' 2>/dev/null || true)
if [[ -n "$files" ]]; then
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $files
fi

echo "== tests"
(cd build && ctest --output-on-failure -j "${TEST_JOBS:-2}" --timeout 900)

echo "== systemd unit and Debian package (installs kmsd on this machine)"
scripts/test-packaging.sh build

#!/usr/bin/env bash
# Runs the whole test suite. On a fresh machine it first installs, from Debian's packages, the
# programs the tests drive: xmllint (validates CAP output against the OASIS schema), the
# Mosquitto command-line clients (real MQTT 3.1.1 and 5 clients against the hub's endpoint),
# Chromium (the console's browser tests drive it headless over the DevTools protocol) and, when
# SCAAN_TEST_MOSQUITTO is set, the Mosquitto broker itself (the external-broker tests start their
# own on a free port; its dynamic-security plugin and mosquitto_ctrl come with it), and when
# SCAAN_TEST_NATS is set, nats-server (the NATS tests start their own likewise), and when
# SCAAN_TEST_KANNEL is set, the Kannel SMS gateway with its fake SMSC (kannel, kannel-extras),
# and when SCAAN_TEST_HAPROXY is set, HAProxy (the several-nodes test puts it in front of them).
# PostgreSQL tests run when SCAAN_TEST_POSTGRES_URL is set, external-broker and gateway tests
# when SCAAN_TEST_MOSQUITTO, SCAAN_TEST_NATS and SCAAN_TEST_KANNEL are (.ci/run sets them);
# without them they print SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v xmllint >/dev/null || missing+=(libxml2-utils)
command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
command -v "${SCAAN_CHROMIUM:-chromium}" >/dev/null || missing+=(chromium)
if [ "${SCAAN_TEST_MOSQUITTO:-}" = 1 ] && ! command -v mosquitto_ctrl >/dev/null; then
  missing+=(mosquitto)
fi
if [ "${SCAAN_TEST_NATS:-}" = 1 ] && ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  missing+=(nats-server)
fi
if [ "${SCAAN_TEST_KANNEL:-}" = 1 ] && { [ ! -x /usr/sbin/bearerbox ] || [ ! -x /usr/lib/kannel/test/fakesmsc ]; }; then
  missing+=(kannel kannel-extras)
fi
if [ "${SCAAN_TEST_HAPROXY:-}" = 1 ] && ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  missing+=(haproxy)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} for the tests" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# From PyPI: Eclipse Paho, the third-party MQTT client the tests drive
# (tests/scripts/paho_phone.py), the validator of the hub's OpenAPI document, and the
# Prometheus project's OpenMetrics parser (tests/scripts/parse_metrics.py).
python_missing=()
python3 -c 'import paho.mqtt' 2>/dev/null || python_missing+=('paho-mqtt==2.2.0')
python3 -c 'import openapi_spec_validator' 2>/dev/null || python_missing+=('openapi-spec-validator==0.9.0')
python3 -c 'import prometheus_client' 2>/dev/null || python_missing+=('prometheus-client==0.26.0')
if [ ${#python_missing[@]} -gt 0 ]; then
  echo "installing ${python_missing[*]} for the tests" >&2
  python3 -m pip install -q "${python_missing[@]}"
fi

# The Debian package, built as an operator builds it (release binary), for the test that
# installs it (server/tests/package.rs; it needs root, and says SKIPPED elsewhere).
command -v cargo-deb >/dev/null || cargo install --quiet --locked cargo-deb@3.8.0
SCAAN_TEST_DEB=$(cargo deb --quiet --locked -p scaan-server -o "$PWD/target/debian/")
export SCAAN_TEST_DEB

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# The map's 20,000-staff test loads both cores for a while (20,000 accounts, a software-rendered
# page): it runs alone after the rest, so that it neither measures nor slows other tests.
scale=console_map::twenty_thousand_staff
# --no-fail-fast: one failing test binary does not hide the results of the ones after it.
cargo test --workspace --locked --no-fail-fast "$@" -- --skip "$scale" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
cargo test -p scaan-tests --test e2e --locked -- "$scale" 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
set -e
# One closing line for the whole suite (cargo prints one per test binary, the last often empty).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"

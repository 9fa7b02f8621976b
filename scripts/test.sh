#!/usr/bin/env bash
# The test suite with its real servers: a throwaway PostgreSQL (when its
# binaries are installed) so that every database test also runs on
# PostgreSQL, and versitygw / kinesis-local when present.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}

tmp=$(mktemp -d)
chmod 755 "$tmp" # the postgres user must reach its data directory
cleanup() {
  [ -n "${pg_started:-}" ] && scripts/postgres.sh stop "$tmp/pg"
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${VMX_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  VMX_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$tmp/pg")
  pg_started=1
  export VMX_TEST_POSTGRES_URL
  echo "test.sh: PostgreSQL at $VMX_TEST_POSTGRES_URL"
elif [ -z "${VMX_TEST_POSTGRES_URL:-}" ]; then
  echo "test.sh: no PostgreSQL server binaries; database tests run on SQLite only" >&2
  [ -n "${CI:-}" ] && { echo "test.sh: CI must test PostgreSQL" >&2; exit 1; }
fi

tags=${GOTAGS:-}
if [ -n "${CI:-}" ] && [[ " $tags " != *" pocketsphinx "* ]]; then
  echo "test.sh: CI must build the PocketSphinx engine (libpocketsphinx-dev missing?)" >&2
  exit 1
fi
# With the sherpa tag (Silero VAD and the sherpa-onnx engine), the Silero
# model is fetched from npm once and its tests must run.
if [[ " $tags " == *" sherpa "* ]]; then
  VMX_SILERO_MODEL=${VMX_SILERO_MODEL:-$(internal/audio/vad/scripts/fetch-silero.sh)}
  export VMX_SILERO_MODEL VMX_REQUIRE_SILERO=1
  echo "test.sh: Silero VAD model at $VMX_SILERO_MODEL"
fi
"$go" vet ./...
"$go" vet -tags "$tags" ./...
"$go" test -race -count=1 -timeout 20m -tags "$tags" ./...

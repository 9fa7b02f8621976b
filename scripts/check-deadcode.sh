#!/usr/bin/env bash
# Fails when the linker cannot drop unused methods from vmx: a reachable call
# of reflect's Method/MethodByName with a name it cannot see (text/template's
# method calls, net/rpc) makes it keep every exported method of every type,
# which doubles the binary and the memory each start of it touches
# (docs/PERFORMANCE.md, KVS extraction).
set -euo pipefail
go=${GO:-go}
tags=${GOTAGS:-lambda.norpc}
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
"$go" build -tags "$tags" -ldflags=-dumpdep -o /dev/null ./cmd/vmx 2>"$deps"
if culprits=$(grep -o '^[^ ]* <ReflectMethod>' "$deps" | sort -u) && [ -n "$culprits" ]; then
  echo "check-deadcode: these reachable functions turn off the linker's method elimination:" >&2
  echo "$culprits" >&2
  echo "(find who reaches them: grep -- '-> NAME' in the output of go build -ldflags=-dumpdep ./cmd/vmx)" >&2
  exit 1
fi

#!/usr/bin/env bash
# make demo: vmx end to end on this machine. Installs what is missing (on
# Debian, as root; otherwise it prints the command), builds vmx, then runs
# `vmx demo`: the KVS simulator, vmx serve on its embedded defaults, a
# synthesised caller's voicemail, its contact record, delivery, the
# transcript and the inbox address. It keeps serving until Ctrl-C unless
# ONCE=1 (or CI is set), when it exits after delivery and checks the
# transcript.
#
#   scripts/demo.sh [VMX_BINARY [DATA_DIR]]    env: ONCE, LISTEN, GO, MAKE
set -euo pipefail
cd "$(dirname "$0")/.."

vmx=${1:-bin/vmx}
dir=${2:-out/demo}
once=${ONCE:-}
# CI has no one to press Ctrl-C.
[ -n "${CI:-}" ] && once=1
listen=${LISTEN:-127.0.0.1:8080}
[ -n "$once" ] && listen=${LISTEN:-127.0.0.1:0}

# What the demo needs from Debian: a C compiler and PocketSphinx for the
# speech-to-text engine (cgo), its English model, and flite for the
# caller's voice.
need=()
command -v gcc >/dev/null && [ -e /usr/include/stdio.h ] || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkgconf)
for p in libpocketsphinx-dev pocketsphinx-en-us; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v flite >/dev/null || need+=(flite)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "==> missing: ${need[*]}; the demo runs without them (no transcript or no real voice). To install:"
    echo "    sudo apt-get install ${need[*]}"
  fi
fi

go=${GO:-go}
command -v "$go" >/dev/null || { echo "demo: Go is needed to build vmx (see go.mod for the version)" >&2; exit 1; }

# Built here rather than as a prerequisite of make's demo target, so that
# the PocketSphinx tag follows what was just installed.
tags=${GOTAGS:-$(pkg-config --exists pocketsphinx sphinxbase 2>/dev/null && echo pocketsphinx || true)}
echo "==> building $vmx"
"${MAKE:-make}" --no-print-directory build GO="$go" GOTAGS="$tags" VMX="$vmx"

args=(demo --dir "$dir" --listen "$listen")
if [ -z "$once" ]; then
  exec "$vmx" "${args[@]}"
fi

mkdir -p "$dir"
log="$dir/demo.log"
"$vmx" "${args[@]}" --once | tee "$log"

# With PocketSphinx built in, the caller's words must come back as text.
transcript=$(sed -n 's/^    transcript: //p' "$log")
if pkg-config --exists pocketsphinx sphinxbase 2>/dev/null && dpkg -s pocketsphinx-en-us >/dev/null 2>&1; then
  case "$transcript" in
  "" | "(none"*) echo "demo: the transcript is empty, but PocketSphinx is installed" >&2; exit 1 ;;
  esac
fi
echo "==> demo passed"

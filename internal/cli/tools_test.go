package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	bad := map[string]string{"VMX_RETENTION_DAYS": "-1", "VMX_DB": "mysql://x"}
	r := run(t, bad, "config", "check")
	for _, want := range []string{"api_key: required", "retention.days: must be >= 0", `db: unsupported scheme "mysql"`, "webhook.url: required"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config check does not explain %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 1 {
		t.Fatalf("exit %d with problems", r.code)
	}
	good := map[string]string{"VMX_API_KEY": "0123456789abcdef", "VMX_WEBHOOK_URL": "https://hooks.example/vm", "VMX_WEBHOOK_SECRET": "0123456789abcdef"}
	r = run(t, good, "config", "check", "--data-dir", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, "configuration OK") || strings.Contains(r.stdout, "0123456789abcdef") {
		t.Fatalf("good config: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, nil, "config", "reference"); r.code != 0 || !strings.Contains(r.stdout, "`webhook.url`") {
		t.Fatalf("reference: %d", r.code)
	}
}

// ctr replay feeds files into the pipeline's database; repeats are
// recognised; voicemail show and retry read and act on what is stored.
func TestReplayShowRetry(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VMX_DATA_DIR": dir, "VMX_API_KEY": "0123456789abcdef", "VMX_WEBHOOK_URL": "https://hooks.example/vm",
		"VMX_WEBHOOK_SECRET": "0123456789abcdef", "VMX_LOG_LEVEL": "error"}
	rec := `{"ContactId":"ff000000-0000-4000-8000-000000000001","Channel":"VOICE","InitiationTimestamp":"2026-01-05T10:00:00Z",
"InstanceARN":"arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
"Attributes":{"vm_flag":"1","vm_from":"+15555550142","vm_lang":"en-US"},
"Recordings":[{"Location":"arn:aws:kinesisvideo:us-east-1:111122223333:stream/s/1","StorageType":"KINESIS_VIDEO_STREAM",
"FragmentStartNumber":"1","FragmentStopNumber":"9","StartTimestamp":"2026-01-05T10:00:00Z","StopTimestamp":"2026-01-05T10:01:00Z"}]}`
	bad := strings.Replace(rec, `"vm_lang":"en-US"`, `"vm_lang":"english"`, 1)
	bad = strings.Replace(bad, "000000000001", "000000000002", 1)
	file := filepath.Join(dir, "records.ndjson")
	os.WriteFile(file, []byte(strings.ReplaceAll(rec, "\n", "")+"\n"+strings.ReplaceAll(bad, "\n", "")+"\nnot json\n"), 0o644)

	r := run(t, env, "ctr", "replay", file)
	if r.code != 0 || !strings.Contains(r.stdout, "3 records: 1 accepted, 0 duplicates, 0 ignored, 1 invalid, 1 unreadable") ||
		!strings.Contains(r.stderr, `vm_lang "english" is not a Transcribe language code`) {
		t.Fatalf("replay: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, env, "ctr", "replay", file); !strings.Contains(r.stdout, "0 accepted, 2 duplicates") {
		t.Fatalf("second replay: %s", r.stdout)
	}
	r = run(t, env, "voicemail", "show", "ff000000-0000-4000-8000-000000000001")
	var v struct {
		Status, Prefix, Caller string
	}
	json.Unmarshal([]byte(r.stdout), &v)
	if r.code != 0 || v.Status != "queued" || v.Prefix != "vm_" || v.Caller != "+15555550142" {
		t.Fatalf("show: exit %d %+v %s", r.code, v, r.stderr)
	}
	if r := run(t, env, "voicemail", "retry", "ff000000-0000-4000-8000-000000000001"); r.code != 1 || !strings.Contains(r.stderr, "has not failed") {
		t.Fatalf("retry of a queued voicemail: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, env, "voicemail", "retry", "ff000000-0000-4000-8000-000000000002"); r.code != 1 || !strings.Contains(r.stderr, "invalid") {
		t.Fatalf("retry of an invalid voicemail: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, env, "voicemail", "show", "nope"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("show of an unknown voicemail: exit %d %s", r.code, r.stderr)
	}
}

// The sherpa engine with a model that is not there fails at once with a
// line that names what is wrong (in builds without the sherpa tag: that
// the engine is not built in).
func TestTranscribeSherpaMissingModel(t *testing.T) {
	wavPath := filepath.Join(t.TempDir(), "vm.wav")
	if r := run(t, nil, "synth", "-o", wavPath); r.code != 0 {
		t.Fatalf("synth: %d %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	env := map[string]string{"VMX_TRANSCRIBER": "sherpa", "VMX_SHERPA_MODEL": "whisper",
		"VMX_SHERPA_ENCODER": filepath.Join(dir, "encoder.onnx"), "VMX_SHERPA_DECODER": filepath.Join(dir, "decoder.onnx"),
		"VMX_SHERPA_TOKENS": filepath.Join(dir, "tokens.txt")}
	r := run(t, env, "transcribe", wavPath)
	if r.code != 1 || !strings.Contains(r.stderr, "sherpa") ||
		!(strings.Contains(r.stderr, "encoder.onnx") || strings.Contains(r.stderr, "not in this build")) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	t.Log(strings.TrimSpace(r.stderr))
}

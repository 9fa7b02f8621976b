package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

const contactA = kvstest.ContactA

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runEnv(t, &Env{Getenv: func(k string) string { return env[k] }}, args...)
}

func runEnv(t *testing.T, e *Env, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e.Stdout, e.Stderr = &stdout, &stderr
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	code := Main(context.Background(), args, e)
	return result{code, stdout.String(), stderr.String()}
}

func fixture(t *testing.T, name string) string { return kvstest.Path(t, name) }

// wavPCM returns the data chunk of a WAV file and its format.
func wavPCM(t *testing.T, path string) ([]byte, wav.Format) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := wav.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var pcm bytes.Buffer
	if _, err := pcm.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return pcm.Bytes(), r.Format()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type extractReport struct {
	FragmentsKept int `json:"fragments_kept"`
	Tracks        map[string]struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	} `json:"tracks"`
	Paths map[string]string `json:"paths"`
}

func TestExtractFixtures(t *testing.T) {
	for _, tc := range kvstest.Goldens() {
		t.Run(filepath.Base(tc.File), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.wav")
			r := run(t, nil, "extract", fixture(t, tc.File), "--contact-id", contactA, "--track", "both", "-o", out, "--json")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var rep extractReport
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Tracks["from"].SHA256 != tc.FromSHA || rep.Tracks["to"].SHA256 != tc.ToSHA {
				t.Fatalf("report hashes %s %s", rep.Tracks["from"].SHA256, rep.Tracks["to"].SHA256)
			}
			for track, want := range map[string]string{"from": tc.FromSHA, "to": tc.ToSHA} {
				path := filepath.Join(filepath.Dir(out), "x."+track+".wav")
				if rep.Paths[track] != path {
					t.Fatalf("report path %q, want %q", rep.Paths[track], path)
				}
				pcm, format := wavPCM(t, path)
				if sha(pcm) != want || format != wav.Telephone {
					t.Fatalf("%s: file PCM %s format %+v", track, sha(pcm), format)
				}
			}
		})
	}
}

func TestExtractStereoToStdout(t *testing.T) {
	r := run(t, nil, "extract", fixture(t, "synthetic/connect_voicemail_nn_layout.mkv"), "--track", "stereo", "-o", "-")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rd, err := wav.NewReader(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Format().Channels != 2 || rd.DataLen() != wav.UnknownLength {
		t.Fatalf("format %+v, data length %d: want stereo with a streaming header", rd.Format(), rd.DataLen())
	}
	var pcm bytes.Buffer
	pcm.ReadFrom(rd)
	if pcm.Len() != 2*327680 {
		t.Fatalf("%d PCM bytes, want %d", pcm.Len(), 2*327680)
	}
}

func TestExtractFailures(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "keep.wav")
	os.WriteFile(existing, []byte("precious"), 0o644)
	corrupt := filepath.Join(dir, "corrupt.mkv")
	data, _ := os.ReadFile(fixture(t, "synthetic/connect_voicemail_ca_layout.mkv"))
	data = bytes.Clone(data[:40000])
	copy(data[34768+40:], []byte{0x18, 0x53, 0x80, 0x67, 0x00}) // second fragment's Segment size byte 0
	os.WriteFile(corrupt, data, 0o644)

	tests := map[string]struct {
		args     []string
		code     int
		inStderr string
	}{
		"other contact":      {[]string{"extract", fixture(t, "synthetic/connect_stream_reuse.mkv"), "--contact-id", "00000000-0000-4000-8000-000000000000", "-o", existing}, 1, "no fragment matched"},
		"corrupt input":      {[]string{"extract", corrupt, "-o", existing}, 1, "offset 34808"},
		"video only":         {[]string{"extract", fixture(t, "real/test_mixed_tags.mkv"), "-o", existing}, 1, "V_MS/VFW/FOURCC"},
		"missing input":      {[]string{"extract", filepath.Join(dir, "nope.mkv"), "-o", existing}, 1, "no such file"},
		"bad track":          {[]string{"extract", corrupt, "--track", "left"}, 2, "--track"},
		"bad time":           {[]string{"extract", corrupt, "--start-time", "yesterday"}, 2, "RFC 3339"},
		"bad fragment":       {[]string{"extract", filepath.Join(dir, "nope.mkv"), "--start-fragment", "12a", "-o", existing}, 2, `fragment number "12a" is not 1 to 128 decimal digits`},
		"fragments reversed": {[]string{"extract", filepath.Join(dir, "nope.mkv"), "--start-fragment", "20", "--stop-fragment", "3"}, 2, "start fragment 20 is after stop fragment 3"},
		"times reversed": {[]string{"extract", "--stream-arn", "arn:aws:kinesisvideo:us-east-1:111122223333:stream/x/1", "--start-time", "2026-01-01T00:00:30Z", "--stop-time", "2026-01-01T00:00:00Z"},
			2, "start time 2026-01-01T00:00:30Z is after stop time 2026-01-01T00:00:00Z"},
		"two inputs":       {[]string{"extract", corrupt, corrupt}, 2, "exactly one INPUT"},
		"input and stream": {[]string{"extract", corrupt, "--stream-arn", "arn:x"}, 2, "not both"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := run(t, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.inStderr) {
				t.Fatalf("exit %d stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.inStderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if last := lines[len(lines)-1]; tc.code == 1 && (!strings.HasPrefix(last, "vmx extract: ") || !strings.Contains(last, tc.inStderr)) {
				t.Fatalf("last line of stderr is not the reason: %q", last)
			}
			if b, _ := os.ReadFile(existing); string(b) != "precious" {
				t.Fatal("a failed extraction overwrote the existing output")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
				t.Fatalf("temporary files left behind: %v", left)
			}
		})
	}
}

// A call goes WAV → kvs-sim → KVS client → extract through real HTTP with
// verified SigV4 signatures, and comes back byte for byte: by a bounded read
// and by a live read whose GetMedia sessions are cut every 50 kB.
func TestRoundTripThroughSimulator(t *testing.T) {
	dir := t.TempDir()
	call := filepath.Join(dir, "call.wav")
	if r := run(t, nil, "synth", "--seconds", "9.9995", "--contact-id", contactA, "--layout", "nn", "-o", call); r.code != 0 {
		t.Fatalf("synth: %s", r.stderr)
	}
	stereo, _ := wavPCM(t, call)
	var from, to []byte
	for i := 0; i+4 <= len(stereo); i += 4 {
		from = append(from, stereo[i:i+2]...)
		to = append(to, stereo[i+2:i+4]...)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDVMXTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "vmx-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sim := kvssim.New(kvssim.Options{
		Credentials:       &kvssim.Credentials{AccessKeyID: "AKIDVMXTEST", SecretAccessKey: "vmx-test-secret"},
		SessionLimitBytes: 50_000,
	})
	if err := sim.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	arn, err := sim.StreamARN("call")
	if err != nil {
		t.Fatal(err)
	}
	frags, _ := sim.Fragments("call")
	env := map[string]string{"VMX_KVS_ENDPOINT": srv.URL, "AWS_REGION": "us-east-1"}

	for name, args := range map[string][]string{
		"bounded": {"--start-time", "2026-01-01T00:00:00Z", "--stop-time", "2026-01-01T00:00:10Z"},
		"live":    {"--live", "--start-fragment", frags[0].Number},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.wav")
			args := append([]string{"extract", "--stream-arn", arn, "--contact-id", contactA, "--track", "both", "-o", out, "--json"}, args...)
			r := run(t, env, args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			gotFrom, _ := wavPCM(t, filepath.Join(filepath.Dir(out), "x.from.wav"))
			gotTo, _ := wavPCM(t, filepath.Join(filepath.Dir(out), "x.to.wav"))
			if !bytes.Equal(gotFrom, from) || !bytes.Equal(gotTo, to) {
				t.Fatalf("round trip differs: from %d/%d bytes, to %d/%d", len(gotFrom), len(from), len(gotTo), len(to))
			}
		})
	}

	// A wrong secret is refused by the simulator, and the refusal reaches
	// the user as one line.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	r := run(t, env, "extract", "--stream-arn", arn, "--start-time", "2026-01-01T00:00:00Z", "-o", filepath.Join(dir, "y.wav"))
	if r.code != 1 || !strings.Contains(r.stderr, "NotAuthorized") {
		t.Fatalf("wrong key: exit %d %q", r.code, r.stderr)
	}
}

func TestSynthCapture(t *testing.T) {
	out := filepath.Join(t.TempDir(), "call.mkv")
	if r := run(t, nil, "synth", "--seconds", "3.5", "--prompt", "1", "--contact-id", contactA, "-o", out); r.code != 0 {
		t.Fatalf("synth: %s", r.stderr)
	}
	b, _ := os.ReadFile(out)
	fr := mkv.NewFragmentReader(bytes.NewReader(b))
	var n int
	for {
		f, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := f.Tag(mkv.TagContactID); c != contactA || !f.Complete() {
			t.Fatalf("fragment %d: contact %q complete %v", n, c, f.Complete())
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d fragments for 3.5 s, want 4", n)
	}
	r := run(t, nil, "extract", out, "--contact-id", contactA, "-o", filepath.Join(t.TempDir(), "x.wav"), "--json")
	var rep extractReport
	json.Unmarshal([]byte(r.stdout), &rep)
	if r.code != 0 || rep.Tracks["from"].Bytes != 3500*16 {
		t.Fatalf("extract of the capture: exit %d, %d bytes: %s", r.code, rep.Tracks["from"].Bytes, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	if r := run(t, nil); r.code != 2 || !strings.Contains(r.stdout, "extract") {
		t.Fatalf("no args: %+v", r)
	}
	if r := run(t, nil, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, "unknown command") {
		t.Fatalf("unknown command: %+v", r)
	}
	if r := run(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "vmx ") {
		t.Fatalf("version: %+v", r)
	}
	if r := run(t, nil, "kvs-sim"); r.code != 2 || !strings.Contains(r.stderr, "--dir") {
		t.Fatalf("kvs-sim without --dir: %+v", r)
	}
}

// Long inputs show progress on a terminal's stderr, and only there.
func TestExtractProgress(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "long.mkv")
	if r := run(t, nil, "synth", "--seconds", "300", "-o", capture); r.code != 0 {
		t.Fatalf("synth: %s", r.stderr)
	}
	data, _ := os.ReadFile(capture)
	for name, tc := range map[string]struct {
		env  *Env
		args []string
		want bool
	}{
		"file on a terminal":  {&Env{StderrIsTerminal: true}, []string{capture}, true},
		"stdin on a terminal": {&Env{StderrIsTerminal: true, Stdin: bytes.NewReader(data)}, []string{"-"}, true},
		"file, no terminal":   {&Env{}, []string{capture}, false},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"extract", "-o", filepath.Join(dir, "x.wav")}, tc.args...)
			r := runEnv(t, tc.env, args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := strings.Contains(r.stderr, "extracting"); got != tc.want {
				t.Fatalf("progress shown %v, want %v (stderr %q)", got, tc.want, r.stderr)
			}
		})
	}
}

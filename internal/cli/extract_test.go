package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/kvstest"
	"github.com/vmx-dev/vmx/internal/wav"
)

// goldenOf returns the golden audio of a synthetic fixture.
func goldenOf(t *testing.T, file string) kvstest.Golden {
	t.Helper()
	for _, g := range kvstest.Goldens() {
		if g.File == file {
			return g
		}
	}
	t.Fatalf("no golden for %s", file)
	return kvstest.Golden{}
}

// -o naming a FIFO writes into it, with a streaming WAV header, and leaves
// it a FIFO.
func TestExtractOutputToFIFO(t *testing.T) {
	const file = "synthetic/gmffl_with_error_chunk.mkv"
	golden := goldenOf(t, file)
	fifo := filepath.Join(t.TempDir(), "p.wav")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	type read struct {
		data []byte
		err  error
	}
	got := make(chan read, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- read{err: err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		got <- read{b, err}
	}()
	r := run(t, nil, "extract", fixture(t, file), "-o", fifo)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Checked first: a reader that opened a FIFO replaced after would wait forever.
	st, err := os.Lstat(fifo)
	if err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("after extract the output is %v (%v), want a FIFO", st.Mode(), err)
	}
	rd := <-got
	if rd.err != nil {
		t.Fatal(rd.err)
	}
	wr, err := wav.NewReader(bytes.NewReader(rd.data))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := io.ReadAll(wr)
	if err != nil {
		t.Fatal(err)
	}
	if wr.DataLen() != wav.UnknownLength || sha(pcm) != golden.FromSHA {
		t.Fatalf("FIFO got data length %d, PCM %s; want a streaming header and %s", wr.DataLen(), sha(pcm), golden.FromSHA)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(fifo), ".*.tmp")); len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// -o naming a symlink replaces the file it points to, even a target not
// created yet, and keeps the link.
func TestExtractOutputThroughSymlink(t *testing.T) {
	const file = "synthetic/gmffl_with_error_chunk.mkv"
	golden := goldenOf(t, file)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(sub, "existing.wav")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// In order: the chain goes through the first link.
	for _, tc := range []struct{ link, dest, target string }{
		{"relative.wav", "sub/existing.wav", existing},
		{"absolute.wav", filepath.Join(sub, "new.wav"), filepath.Join(sub, "new.wav")},
		{"chain.wav", "relative.wav", existing},
	} {
		t.Run(tc.link, func(t *testing.T) {
			link := filepath.Join(dir, tc.link)
			if err := os.Symlink(tc.dest, link); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, "extract", fixture(t, file), "-o", link)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			st, err := os.Lstat(link)
			if err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the link became %v (%v)", st.Mode(), err)
			}
			if dest, _ := os.Readlink(link); dest != tc.dest {
				t.Fatalf("the link points to %q, want %q", dest, tc.dest)
			}
			if pcm, _ := wavPCM(t, tc.target); sha(pcm) != golden.FromSHA {
				t.Fatalf("target PCM %s, want %s", sha(pcm), golden.FromSHA)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(sub, ".*.tmp")); len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// simStreams serves copies of fixtures as kvs-sim streams (name → fixture)
// and returns the environment that points extract at it and each stream's
// ARN.
func simStreams(t *testing.T, fixtures map[string]string) (env map[string]string, arns map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, file := range fixtures {
		data, err := os.ReadFile(fixture(t, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".mkv"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDVMXTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "vmx-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sim := kvssim.New(kvssim.Options{})
	if err := sim.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	arns = map[string]string{}
	for name := range fixtures {
		arn, err := sim.StreamARN(name)
		if err != nil {
			t.Fatal(err)
		}
		arns[name] = arn
	}
	return map[string]string{"VMX_KVS_ENDPOINT": srv.URL, "AWS_REGION": "us-east-1"}, arns
}

// A bounded read of a stream whose last fragment KVS stores cut keeps that
// fragment's complete blocks, as a file or a live read does, and says so.
func TestExtractBoundedReadKeepsTruncatedFragment(t *testing.T) {
	const file = "synthetic/connect_gap_truncated_tail.mkv"
	golden := goldenOf(t, file)
	env, arns := simStreams(t, map[string]string{"gap": file})
	out := filepath.Join(t.TempDir(), "x.wav")
	r := run(t, env, "extract", "--stream-arn", arns["gap"], "--start-time", "2026-01-01T00:00:00Z", "--stop-time", "2026-01-01T00:00:30Z",
		"--track", "both", "-o", out, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		extractReport
		Truncated []string `json:"truncated_fragments"`
		Warnings  []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Tracks["from"].SHA256 != golden.FromSHA || rep.Tracks["to"].SHA256 != golden.ToSHA || rep.FragmentsKept != golden.Kept {
		t.Fatalf("kept %d, hashes %s %s; want %d, %s %s", rep.FragmentsKept, rep.Tracks["from"].SHA256, rep.Tracks["to"].SHA256, golden.Kept, golden.FromSHA, golden.ToSHA)
	}
	const cut = "91343852333181553735538879356468155603100391038"
	if !slices.Equal(rep.Truncated, []string{cut}) || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], cut+" is truncated") {
		t.Fatalf("truncated %v, warnings %q: want fragment %s reported", rep.Truncated, rep.Warnings, cut)
	}
	if !strings.Contains(r.stderr, "level=WARN msg=\"fragment "+cut+" is truncated") {
		t.Fatalf("no warning on stderr: %s", r.stderr)
	}
	if strings.Contains(r.stderr, "component=kvs component=kvs") || !strings.Contains(r.stderr, "component=kvs") {
		t.Fatalf("the KVS client's retries should name their component once: %s", r.stderr)
	}
	for track, want := range map[string]string{"from": golden.FromSHA, "to": golden.ToSHA} {
		if pcm, _ := wavPCM(t, filepath.Join(filepath.Dir(out), "x."+track+".wav")); sha(pcm) != want {
			t.Fatalf("%s file PCM %s, want %s", track, sha(pcm), want)
		}
	}
}

// --stop-time alone reads a stream from its creation, as it reads a file
// from its start.
func TestExtractStreamStopTimeOnly(t *testing.T) {
	const file = "synthetic/connect_voicemail_ca_layout.mkv"
	golden := goldenOf(t, file)
	env, arns := simStreams(t, map[string]string{"ca": file})
	for stop, kept := range map[string]int{"2026-01-01T00:00:30Z": 20, "2026-01-01T00:00:04.5Z": 5} {
		r := run(t, env, "extract", "--stream-arn", arns["ca"], "--stop-time", stop, "-o", filepath.Join(t.TempDir(), "x.wav"), "--json")
		if r.code != 0 {
			t.Fatalf("--stop-time %s: exit %d: %s", stop, r.code, r.stderr)
		}
		var rep extractReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.FragmentsKept != kept || (kept == golden.Kept && rep.Tracks["from"].SHA256 != golden.FromSHA) || rep.Tracks["from"].Bytes != int64(kept)*16384 {
			t.Fatalf("--stop-time %s: kept %d, %d bytes, hash %s; want %d fragments", stop, rep.FragmentsKept, rep.Tracks["from"].Bytes, rep.Tracks["from"].SHA256, kept)
		}
	}
}

func TestBenchExtract(t *testing.T) {
	if r := run(t, nil, "bench", "extract", "--help"); r.code != 0 || !strings.HasPrefix(r.stderr, "usage: vmx bench extract [--minutes") {
		t.Fatalf("--help: exit %d, %q", r.code, r.stderr)
	}
	// The bench runs vmx, here the test binary standing in for it.
	t.Setenv("VMX_TEST_MAIN", "1")
	dir := filepath.Join(t.TempDir(), "not", "yet")
	r := run(t, nil, "bench", "extract", "--minutes", "0.1", "--runs", "1", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "\n| 0.1 min | ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	pcm, _ := wavPCM(t, filepath.Join(dir, "vmx.wav"))
	if len(pcm) != 6000*16 {
		t.Fatalf("the bench extracted %d bytes, want 6 s of audio", len(pcm))
	}
}

// The bench reports a command's own peak RSS, not this process's: a child
// started directly would report at least the peak of the process that
// started it.
func TestBenchMeasuresTheCommandAlone(t *testing.T) {
	m, err := measure(context.Background(), 1, "sleep", "0.05")
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	var self int64 // kB
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			self, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
		}
	}
	if m.maxRSS <= 0 || m.maxRSS > 8<<20 || m.maxRSS >= self*1024/2 {
		t.Fatalf("sleep: peak RSS %d kB, this process %d kB: want the few hundred kB of sleep", m.maxRSS/1024, self)
	}
}

package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/web"
)

// needDemoSpeech fails a test of a PocketSphinx build on a machine without
// flite: CI must run the demo with real speech.
func needDemoSpeech(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("flite"); builtWithPocketSphinx && err != nil {
		t.Fatal("flite is needed for the demo's caller (apt-get install flite)")
	}
}

// callerSHA is the SHA-256 of the caller's (left) channel of a stereo WAV.
func callerSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := wav.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := io.ReadAll(r)
	if err != nil || r.Format().Channels != 2 {
		t.Fatalf("%s: %v, %d channels", path, err, r.Format().Channels)
	}
	h := sha256.New()
	for i := 0; i+4 <= len(frames); i += 4 {
		h.Write(frames[i : i+2])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// samplesSHA is the SHA-256 of a WAV's samples.
func samplesSHA(t *testing.T, data []byte) string {
	t.Helper()
	r, err := wav.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Format(); f != wav.Telephone {
		t.Fatalf("recording format %+v, want 8 kHz mono 16-bit", f)
	}
	samples, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(samples)
	return hex.EncodeToString(sum[:])
}

func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^    ` + name + `: +(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in:\n%s", name, out)
	}
	return m[1]
}

// checkDemoOutput checks what the demo says it delivered against the call
// it wrote and returns the recording's link.
func checkDemoOutput(t *testing.T, dir, out string) string {
	t.Helper()
	// The inbox and the demo's webhook receiver.
	if !regexp.MustCompile(`(?m)^==> delivered to inbox \(new in the inbox\), webhook \(204 No Content\) in `).MatchString(out) {
		t.Errorf("no delivery in:\n%s", out)
	}
	if got := field(t, out, "caller"); got != demoCaller {
		t.Errorf("caller %q, want %q", got, demoCaller)
	}
	transcript := field(t, out, "transcript")
	if builtWithPocketSphinx {
		// PocketSphinx on flite's voice over a phone line: the words that
		// matter come through.
		if !strings.Contains(transcript, "call me back") {
			t.Errorf("transcript %q, want the caller's words", transcript)
		}
		if got := field(t, out, "callback"); !strings.HasPrefix(got, "5551234 ") {
			t.Errorf("callback %q, want the number the caller said", got)
		}
	} else if !strings.HasPrefix(transcript, "(none") {
		t.Errorf("transcript %q from a build without a transcriber", transcript)
	}
	if inbox := field(t, out, "inbox"); !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/ \(sign in as demo, password [0-9a-f]{12}\)$`).MatchString(inbox) {
		t.Errorf("inbox %q: want its address and sign-in", inbox)
	}
	want := callerSHA(t, filepath.Join(dir, "demo-call.wav"))
	if !strings.Contains(out, "sha256 "+want+")") {
		t.Errorf("the demo's recording is not the caller's track %s:\n%s", want, out)
	}
	// vmx stored the caller's track, byte for byte.
	var stored []string
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".wav") && !strings.Contains(path, "/.") {
			stored = append(stored, path)
		}
		return nil
	})
	if len(stored) != 1 {
		t.Fatalf("stored recordings %v, want one", stored)
	}
	data, err := os.ReadFile(stored[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := samplesSHA(t, data); got != want {
		t.Errorf("stored recording %s has samples %s, want the caller's %s", stored[0], got, want)
	}
	return field(t, out, "recording")
}

func TestDemoOnce(t *testing.T) {
	needDemoSpeech(t)
	dir := t.TempDir()
	start := time.Now()
	r := run(t, nil, "demo", "--once", "--dir", dir, "--listen", "127.0.0.1:0")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkDemoOutput(t, dir, r.stdout)
	if strings.Contains(r.stdout, "until interrupted") {
		t.Error("--once says it keeps serving")
	}
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Without --once the demo keeps serving: the recording's link plays the
// caller's track until the demo is interrupted.
func TestDemoServesUntilInterrupted(t *testing.T) {
	needDemoSpeech(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--dir", dir, "--listen", "127.0.0.1:0"},
			&Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(stdout.String(), "until interrupted") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving\n%s%s", code, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("demo not serving after 2 minutes\n%s%s", stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	link := checkDemoOutput(t, dir, stdout.String())
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("GET %s: %s %s", link, resp.Status, resp.Header.Get("Content-Type"))
	}
	if got, want := samplesSHA(t, body), callerSHA(t, filepath.Join(dir, "demo-call.wav")); got != want {
		t.Errorf("the link plays samples %s, want the caller's %s", got, want)
	}
	// A tampered link is refused.
	if resp, err := http.Get(strings.Replace(link, "sig=", "sig=0", 1)); err != nil || resp.StatusCode == http.StatusOK {
		t.Errorf("tampered link: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("interrupted demo exited %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo still running 30 s after the interrupt")
	}
	if _, err := http.Get(link); err == nil {
		t.Error("vmx still serves after the demo ended")
	}
}

// The demo's inbox user is an administrator whose password is new at every
// run: the last one no longer signs in.
func TestDemoUser(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "vmx.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var passwords []string
	for range 2 {
		user, pass, err := ensureDemoUser(ctx, st, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if user != "demo" || len(pass) < web.MinPasswordLen {
			t.Fatalf("user %q password %q", user, pass)
		}
		passwords = append(passwords, pass)
	}
	u, err := st.GetUser(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleAdmin {
		t.Errorf("role %q, want admin", u.Role)
	}
	if passwords[0] == passwords[1] {
		t.Fatal("the same password twice")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(passwords[1])); err != nil {
		t.Errorf("the latest password does not sign in: %v", err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(passwords[0])); err == nil {
		t.Error("the previous run's password still signs in")
	}
}

// Package sestest runs aws-ses-v2-local, an npm emulator of Amazon SES v2,
// for tests. The emulator keeps what it receives in memory: Store returns
// each message as parsed (subject, text, HTML, attachments).
//
// The package is installed with npm on first use into a cache directory
// shared by all test runs: $VMX_SES_LOCAL_DIR, or vmx-ses-local beside
// the Go build cache. Each server listens on a free loopback port.
package sestest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// Version is the aws-ses-v2-local version installed and run.
const Version = "2.10.2"

// Region is the region Config uses.
const Region = "us-east-1"

// packageJSON pins mailparser to 3.7.2: the mailparser 3.9 that
// aws-ses-v2-local 2.10.2 asks for depends on a @zone-eu/mailsplit
// version the registry does not have.
const packageJSON = `{
  "name": "vmx-ses-local",
  "private": true,
  "dependencies": {"aws-ses-v2-local": "` + Version + `"},
  "overrides": {"mailparser": "3.7.2"}
}
`

// ErrUnavailable is returned, wrapped, when node or npm is missing.
var ErrUnavailable = errors.New("sestest: node and npm are needed to run aws-ses-v2-local")

// Server is a running aws-ses-v2-local.
type Server struct {
	// Endpoint is the server's URL, e.g. http://127.0.0.1:40123: the SES
	// endpoint and the base of its /store.
	Endpoint string

	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	once   sync.Once
}

// Start starts a server that stops when tb's test ends. It skips the test
// when node or npm is missing, unless the environment variable CI is set,
// where it fails it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := New(ctx)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// New installs aws-ses-v2-local if needed and starts it. The caller must
// Close the server.
func New(ctx context.Context) (*Server, error) {
	cli, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port may be taken before the server binds it
		s, err := start(ctx, cli)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// Dir returns the directory aws-ses-v2-local is installed into.
func Dir() (string, error) {
	if d := os.Getenv("VMX_SES_LOCAL_DIR"); d != "" {
		return d, nil
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" || cache == "off" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache != "" && cache != "off" {
		return filepath.Join(filepath.Dir(cache), "vmx-ses-local"), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("sestest: no cache directory: %w", err)
	}
	return filepath.Join(user, "vmx-ses-local"), nil
}

// Install installs aws-ses-v2-local into Dir unless it is there, and
// returns the path of its command-line script.
func Install(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	root, err := Dir()
	if err != nil {
		return "", err
	}
	pkg := filepath.Join("node_modules", "aws-ses-v2-local")
	cli := filepath.Join(root, pkg, "dist", "cli.js")
	if installed(filepath.Join(root, pkg)) {
		return cli, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("sestest: install: %w", err)
	}
	// Install beside the target and rename, so that concurrent test
	// binaries never see half an installation.
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".vmx-ses-local-")
	if err != nil {
		return "", fmt.Errorf("sestest: install: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(packageJSON), 0o644); err != nil {
		return "", fmt.Errorf("sestest: install: %w", err)
	}
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("sestest: npm install aws-ses-v2-local@%s: %w\n%s", Version, err, out)
	}
	if err := os.Rename(tmp, root); err != nil && !installed(filepath.Join(root, pkg)) {
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("sestest: install: %w", err)
		}
		if err := os.Rename(tmp, root); err != nil {
			return "", fmt.Errorf("sestest: install: %w", err)
		}
	}
	if !installed(filepath.Join(root, pkg)) {
		return "", fmt.Errorf("sestest: aws-ses-v2-local %s missing from %s after npm install", Version, root)
	}
	return cli, nil
}

func installed(pkg string) bool {
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return false
	}
	var p struct{ Version string }
	if json.Unmarshal(b, &p) != nil || p.Version != Version {
		return false
	}
	_, err = os.Stat(filepath.Join(pkg, "dist", "cli.js"))
	return err == nil
}

func start(ctx context.Context, cli string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		out:      &lockedBuffer{},
		exited:   make(chan struct{}),
	}
	s.cmd = exec.Command("node", cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	s.cmd.Env = append(os.Environ(), "SMTP_TRANSPORT=") // never relay mail on
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("sestest: start aws-ses-v2-local: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.wait(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// wait polls the server until its health check answers.
func (s *Server) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := s.get(ctx, "/health-check", nil)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("sestest: aws-ses-v2-local exited at start: %s", s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("sestest: aws-ses-v2-local did not answer: %w (last: %v)\n%s", ctx.Err(), err, s.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the server.
func (s *Server) Close() error {
	s.once.Do(func() {
		if s.cmd.Process != nil {
			_ = s.cmd.Process.Kill()
		}
		<-s.exited
	})
	return nil
}

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.out.String() }

// Config returns an AWS configuration for the server: its region and
// static credentials (the emulator wants a signature, not a valid one).
// The endpoint is not in it: set it on the client, see Client.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region: Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "vmxtest", SecretAccessKey: "vmxtest", Source: "sestest"}, nil
		}),
	}
}

// Client returns an SES v2 client of the server.
func (s *Server) Client() *sesv2.Client {
	return sesv2.NewFromConfig(s.Config(), func(o *sesv2.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// Email is a message as the emulator stored it.
type Email struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	Attachments []Attachment `json:"attachments"`
	// At is when it arrived, Unix seconds.
	At int64 `json:"at"`
}

// Attachment is an attachment of a stored message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Content     []byte `json:"content"` // decoded
	Size        int    `json:"size"`
}

// Store returns the messages the server received, oldest first.
func (s *Server) Store(ctx context.Context) ([]Email, error) {
	var store struct {
		Emails []Email `json:"emails"`
	}
	if err := s.get(ctx, "/store", &store); err != nil {
		return nil, err
	}
	return store.Emails, nil
}

// Clear empties the store.
func (s *Server) Clear(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/clear-store", nil)
	if err != nil {
		return fmt.Errorf("sestest: clear store: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sestest: clear store: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sestest: clear store: %s", resp.Status)
	}
	return nil
}

func (s *Server) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+path, nil)
	if err != nil {
		return fmt.Errorf("sestest: get %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sestest: get %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sestest: get %s: %s", path, resp.Status)
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("sestest: get %s: %w", path, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("sestest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

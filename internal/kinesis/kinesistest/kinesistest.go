// Package kinesistest runs kinesis-local, the npm build of kinesis-mock, as
// a Kinesis Data Streams server for tests.
//
// The package is installed with npm on first use into a cache directory
// shared by all test runs: $VMX_KINESIS_LOCAL_DIR, or vmx-kinesis-local
// beside the Go build cache. Each server listens on free loopback ports and
// keeps its streams in memory.
package kinesistest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Version is the kinesis-local version installed and run.
const Version = "0.6.2"

// Region is the region the server and Client use.
const Region = "us-east-1"

// ErrUnavailable is returned, wrapped, when node or npm is missing.
var ErrUnavailable = errors.New("kinesistest: node and npm are needed to run kinesis-local")

// Server is a running kinesis-local.
type Server struct {
	// Endpoint is the server's plain-HTTP URL, e.g. http://127.0.0.1:40123.
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

// New installs kinesis-local if needed and starts it. The caller must Close
// the server.
func New(ctx context.Context) (*Server, error) {
	dir, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port may be taken before the server binds it
		s, err := start(ctx, dir)
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

// Dir returns the directory kinesis-local is installed into.
func Dir() (string, error) {
	if d := os.Getenv("VMX_KINESIS_LOCAL_DIR"); d != "" {
		return d, nil
	}
	cache := os.Getenv("GOCACHE")
	if cache == "" || cache == "off" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache != "" && cache != "off" {
		return filepath.Join(filepath.Dir(cache), "vmx-kinesis-local"), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kinesistest: no cache directory: %w", err)
	}
	return filepath.Join(user, "vmx-kinesis-local"), nil
}

// Install installs kinesis-local into Dir unless it is there, and returns
// the package directory, which holds main.js.
func Install(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	root, err := Dir()
	if err != nil {
		return "", err
	}
	pkg := filepath.Join(root, "node_modules", "kinesis-local")
	if installed(pkg) {
		return pkg, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("kinesistest: install: %w", err)
	}
	// Install beside the target and rename, so that concurrent test
	// binaries never see half an installation.
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".vmx-kinesis-local-")
	if err != nil {
		return "", fmt.Errorf("kinesistest: install: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", tmp,
		"--no-audit", "--no-fund", "--no-save", "--loglevel=error", "kinesis-local@"+Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kinesistest: npm install kinesis-local@%s: %w\n%s", Version, err, out)
	}
	if err := os.Rename(tmp, root); err != nil && !installed(pkg) {
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("kinesistest: install: %w", err)
		}
		if err := os.Rename(tmp, root); err != nil {
			return "", fmt.Errorf("kinesistest: install: %w", err)
		}
	}
	if !installed(pkg) {
		return "", fmt.Errorf("kinesistest: kinesis-local %s missing from %s after npm install", Version, pkg)
	}
	return pkg, nil
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
	_, err = os.Stat(filepath.Join(pkg, "main.js"))
	return err == nil
}

func start(ctx context.Context, pkg string) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		out:      &lockedBuffer{},
		exited:   make(chan struct{}),
	}
	// kinesis-local reads server.json (its TLS certificate) relative to the
	// working directory.
	s.cmd = exec.Command("node", "main.js")
	s.cmd.Dir = pkg
	s.cmd.Env = append(os.Environ(),
		"KINESIS_MOCK_PLAIN_PORT="+strconv.Itoa(ports[0]),
		"KINESIS_MOCK_TLS_PORT="+strconv.Itoa(ports[1]),
		"CREATE_STREAM_DURATION=0ms",
		"DELETE_STREAM_DURATION=0ms",
		"SPLIT_SHARD_DURATION=0ms",
		"MERGE_SHARDS_DURATION=0ms",
		"UPDATE_SHARD_COUNT_DURATION=0ms",
		"SHARD_LIMIT=1000",
		"LOG_LEVEL=ERROR",
		"AWS_REGION="+Region,
		"SHOULD_PERSIST_DATA=false",
	)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("kinesistest: start kinesis-local: %w", err)
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

// wait polls the server until it answers ListStreams.
func (s *Server) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c := s.Client()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.ListStreams(cctx, &kinesis.ListStreamsInput{}, func(o *kinesis.Options) {
			o.RetryMaxAttempts = 1
		})
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("kinesistest: kinesis-local exited at start: %s", s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("kinesistest: kinesis-local did not answer: %w (last: %v)\n%s", ctx.Err(), err, s.out.String())
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

// Client returns a Kinesis client of the server, with static credentials.
func (s *Server) Client() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "vmxtest", SecretAccessKey: "vmxtest", Source: "kinesistest"}, nil
		}),
	})
}

// CreateStream creates a provisioned stream with n shards, waits until it is
// active and returns its ARN.
func (s *Server) CreateStream(ctx context.Context, name string, shards int32) (string, error) {
	c := s.Client()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: &name, ShardCount: &shards}); err != nil {
		return "", fmt.Errorf("kinesistest: create stream %s: %w", name, err)
	}
	return WaitActive(ctx, c, name)
}

// WaitActive waits until the named stream is active, e.g. after a
// resharding, and returns its ARN.
func WaitActive(ctx context.Context, c *kinesis.Client, name string) (string, error) {
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: &name})
		if err != nil {
			return "", fmt.Errorf("kinesistest: describe stream %s: %w", name, err)
		}
		if d := out.StreamDescriptionSummary; d.StreamStatus == types.StreamStatusActive {
			return aws.ToString(d.StreamARN), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("kinesistest: stream %s not active: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kinesistest: free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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

package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/vmx-dev/vmx/internal/blob"
)

// S3Server is an S3 endpoint a test talks to.
type S3Server struct {
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// ChecksSignatures is true for servers that verify SigV4, so that a
	// tampered presigned URL is refused.
	ChecksSignatures bool
}

// Gofakes3 starts an in-memory gofakes3 server behind httptest for the
// test's lifetime. It accepts any credentials and signature. Each wrap
// function wraps the server's handler, innermost first: a test can count
// or inspect requests.
func Gofakes3(t testing.TB, wrap ...func(http.Handler) http.Handler) *S3Server {
	t.Helper()
	h := gofakes3.New(s3mem.New()).Server()
	for _, w := range wrap {
		h = w(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &S3Server{Endpoint: srv.URL, Region: "us-east-1", AccessKey: "test", SecretKey: "test"}
}

// Environment variables that decide what Versitygw does when no versitygw
// binary is found: it fails when both are set, and skips otherwise.
const (
	envCI              = "CI"
	envRequireVersitgw = "VMX_REQUIRE_VERSITYGW"
)

// Versitygw starts a versitygw S3 gateway with a posix backend in a
// temporary directory, on a free port of 127.0.0.1, for the test's lifetime.
// It looks for the binary on PATH and in $GOPATH/bin (install it with `go
// install github.com/versity/versitygw/cmd/versitygw@v1.8.0`) and skips the
// test when there is none, unless CI is set and VMX_REQUIRE_VERSITYGW=1.
// versitygw checks SigV4 signatures and presigned URLs.
func Versitygw(t testing.TB) *S3Server {
	t.Helper()
	bin := findVersitygw()
	if bin == "" {
		if os.Getenv(envCI) != "" && os.Getenv(envRequireVersitgw) == "1" {
			t.Fatalf("versitygw not found on PATH or in $GOPATH/bin, and %s=1", envRequireVersitgw)
		}
		t.Skip("versitygw not found on PATH or in $GOPATH/bin; go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	}
	var lastErr error
	for range 3 { // the free port may be taken before versitygw binds it
		srv, err := startVersitygw(t, bin)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func findVersitygw() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// syncBuffer collects a process's output for the failure message.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startVersitygw(t testing.TB, bin string) (*S3Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	addr := "127.0.0.1:" + port
	srv := &S3Server{
		Endpoint:         "http://" + addr,
		Region:           "us-east-1",
		AccessKey:        "vmxtestaccess",
		SecretKey:        "vmxtestsecret" + strings.ToLower(rand.Text()),
		ChecksSignatures: true,
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-a", srv.AccessKey, "-s", srv.SecretKey, "-p", addr, "posix", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("versitygw exited: %v\n%s", err, out.String())
		default:
		}
		if up(srv.Endpoint) {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("versitygw output:\n%s", out.String())
				}
			})
			return srv, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw not answering on %s after 20 s\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, errors.Join(err, l.Close())
}

// up reports whether an HTTP server answers at endpoint, with any status.
func up(endpoint string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(endpoint + "/")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

// Client returns an SDK client with the settings that work against local
// S3 servers: static credentials, path-style addressing and checksums only
// where required.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// NewBucket creates a bucket with a fresh random name.
func (s *S3Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "vmx-test-" + strings.ToLower(rand.Text()[:16])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s at %s: %v", name, s.Endpoint, err)
	}
	return name
}

// NewStore creates a bucket and returns a store for it.
func (s *S3Server) NewStore(t testing.TB) *blob.S3 {
	t.Helper()
	st, err := blob.NewS3(s.Client(), s.NewBucket(t), blob.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// NewLocal returns a Local store in a temporary directory, closed when the
// test ends.
func NewLocal(t testing.TB) *blob.Local {
	t.Helper()
	st, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

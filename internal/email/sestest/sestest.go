// Package sestest runs aws-ses-v2-local, an npm emulator of Amazon SES v2,
// for tests. The emulator keeps what it receives in memory: Store returns
// each message as parsed (subject, text, HTML, attachments).
//
// The package is installed with npm on first use into a cache directory
// shared by all test runs: $VMX_SES_LOCAL_DIR, or vmx-ses-local beside
// the Go build cache. Each server listens on a free loopback port.
package sestest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/vmx-dev/vmx/internal/npmtest"
)

// Version is the aws-ses-v2-local version installed and run.
const Version = "2.10.2"

// Region is the region Config uses.
const Region = "us-east-1"

// ErrUnavailable is returned, wrapped, when node or npm is missing.
var ErrUnavailable = npmtest.ErrUnavailable

// Server is a running aws-ses-v2-local.
type Server struct {
	// Endpoint is the server's URL, e.g. http://127.0.0.1:40123: the SES
	// endpoint and the base of its /store.
	Endpoint string

	proc *npmtest.Process
}

// Start starts a server that stops when tb's test ends. It skips the test
// when node or npm is missing, unless the environment variable CI is set,
// where it fails it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := npmtest.Require(tb, New)
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
	proc, err := npmtest.Start(ctx, 1, func(ports []int) npmtest.Command {
		s := &Server{Endpoint: endpoint(ports[0])}
		return npmtest.Command{
			Args:  []string{cli, "--host", "127.0.0.1", "--port", strconv.Itoa(ports[0])},
			Env:   []string{"SMTP_TRANSPORT="}, // never relay mail on
			Ready: func(ctx context.Context) error { return s.get(ctx, "/health-check", nil) },
		}
	})
	if err != nil {
		return nil, fmt.Errorf("sestest: aws-ses-v2-local: %w", err)
	}
	return &Server{Endpoint: endpoint(proc.Ports[0]), proc: proc}, nil
}

func endpoint(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// npmPackage is aws-ses-v2-local as npmtest installs it. It pins
// mailparser to 3.7.2: the mailparser 3.9 that aws-ses-v2-local 2.10.2
// asks for depends on a @zone-eu/mailsplit version the registry does not
// have.
func npmPackage() npmtest.Package {
	return npmtest.Package{
		Name:      "aws-ses-v2-local",
		Version:   Version,
		Overrides: map[string]string{"mailparser": "3.7.2"},
		DirEnv:    "VMX_SES_LOCAL_DIR",
		DirName:   "vmx-ses-local",
		Files:     []string{cliScript},
	}
}

// cliScript is the package's command-line script.
const cliScript = "dist/cli.js"

// Dir returns the directory aws-ses-v2-local is installed into.
func Dir() (string, error) { return npmPackage().Dir() }

// Install installs aws-ses-v2-local into Dir unless it is there, and
// returns the path of its command-line script.
func Install(ctx context.Context) (string, error) {
	pkg, err := npmtest.Install(ctx, npmPackage())
	if err != nil {
		return "", fmt.Errorf("sestest: %w", err)
	}
	return filepath.Join(pkg, cliScript), nil
}

// Close stops the server.
func (s *Server) Close() error { return s.proc.Close() }

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.proc.Output() }

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

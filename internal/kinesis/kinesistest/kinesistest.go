// Package kinesistest runs kinesis-local, the npm build of kinesis-mock, as
// a Kinesis Data Streams server for tests.
//
// The package is installed with npm on first use into a cache directory
// shared by all test runs: $VMX_KINESIS_LOCAL_DIR, or vmx-kinesis-local
// beside the Go build cache. Each server listens on free loopback ports and
// keeps its streams in memory.
package kinesistest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vmx-dev/vmx/internal/npmtest"
)

// Version is the kinesis-local version installed and run.
const Version = "0.6.2"

// Region is the region the server and Client use.
const Region = "us-east-1"

// ErrUnavailable is returned, wrapped, when node or npm is missing.
var ErrUnavailable = npmtest.ErrUnavailable

// Server is a running kinesis-local.
type Server struct {
	// Endpoint is the server's plain-HTTP URL, e.g. http://127.0.0.1:40123.
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

// New installs kinesis-local if needed and starts it. The caller must Close
// the server.
func New(ctx context.Context) (*Server, error) {
	dir, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	proc, err := npmtest.Start(ctx, 2, func(ports []int) npmtest.Command {
		c := client(endpoint(ports[0]))
		return npmtest.Command{
			Args: []string{"main.js"},
			// kinesis-local reads server.json (its TLS certificate)
			// relative to the working directory.
			Dir: dir,
			Env: []string{
				"KINESIS_MOCK_PLAIN_PORT=" + strconv.Itoa(ports[0]),
				"KINESIS_MOCK_TLS_PORT=" + strconv.Itoa(ports[1]),
				"CREATE_STREAM_DURATION=0ms",
				"DELETE_STREAM_DURATION=0ms",
				"SPLIT_SHARD_DURATION=0ms",
				"MERGE_SHARDS_DURATION=0ms",
				"UPDATE_SHARD_COUNT_DURATION=0ms",
				"SHARD_LIMIT=1000",
				"LOG_LEVEL=ERROR",
				"AWS_REGION=" + Region,
				"SHOULD_PERSIST_DATA=false",
			},
			Ready: func(ctx context.Context) error {
				_, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}, func(o *kinesis.Options) {
					o.RetryMaxAttempts = 1
				})
				return err
			},
		}
	})
	if err != nil {
		return nil, fmt.Errorf("kinesistest: kinesis-local: %w", err)
	}
	return &Server{Endpoint: endpoint(proc.Ports[0]), proc: proc}, nil
}

func endpoint(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// npmPackage is kinesis-local as npmtest installs it.
func npmPackage() npmtest.Package {
	return npmtest.Package{
		Name:    "kinesis-local",
		Version: Version,
		DirEnv:  "VMX_KINESIS_LOCAL_DIR",
		DirName: "vmx-kinesis-local",
		Files:   []string{"main.js"},
	}
}

// Dir returns the directory kinesis-local is installed into.
func Dir() (string, error) { return npmPackage().Dir() }

// Install installs kinesis-local into Dir unless it is there, and returns
// the package directory, which holds main.js.
func Install(ctx context.Context) (string, error) {
	dir, err := npmtest.Install(ctx, npmPackage())
	if err != nil {
		return "", fmt.Errorf("kinesistest: %w", err)
	}
	return dir, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.proc.Close() }

// Output returns what the server printed so far.
func (s *Server) Output() string { return s.proc.Output() }

// Client returns a Kinesis client of the server, with static credentials.
func (s *Server) Client() *kinesis.Client { return client(s.Endpoint) }

func client(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
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

//go:build linux

package lambdatest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/vmx-dev/vmx/internal/lambdatest"
)

// helperEnv makes the test binary, run as a function's bootstrap, a
// Lambda function written with aws-lambda-go (see runHelper).
const helperEnv = "LAMBDATEST_HELPER"

// vmxEnv names a vmx binary built for Lambda to test instead of building
// one.
const vmxEnv = "VMX_TEST_BINARY"

// build holds the vmx binary built once for this test binary.
var build struct {
	dir  string
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// vmxBinary returns VMX_TEST_BINARY, or vmx built as `make lambda` builds
// it for this machine's architecture.
func vmxBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(vmxEnv); p != "" {
		return p
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "lambdatest-vmx-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "vmx")
		build.err = lambdatest.Build(context.Background(), "github.com/vmx-dev/vmx/cmd/vmx", build.path)
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// helperEvent drives the helper function.
type helperEvent struct {
	AllocMB  int    `json:"alloc_mb"` // map this much resident memory, then unmap it
	Fail     string `json:"fail"`     // return this error
	Panic    string `json:"panic"`    // panic with this value
	Exit     int    `json:"exit"`     // exit with this status mid-invocation
	Sleep    bool   `json:"sleep"`    // sleep for an hour
	Response int    `json:"response"` // answer with this many bytes of padding
	Log      string `json:"log"`      // write this line to stderr
}

// helperAnswer is what the helper function sees of its invocation.
type helperAnswer struct {
	RequestID   string   `json:"request_id"`
	FunctionARN string   `json:"function_arn"`
	DeadlineMS  int64    `json:"deadline_ms"`
	PID         int      `json:"pid"`
	Argv0       string   `json:"argv0"`
	Args        []string `json:"args"`
	Cwd         string   `json:"cwd"`
	Env         []string `json:"env"`
	Padding     string   `json:"padding,omitempty"`
}

// runHelper runs the test binary as a Lambda function: "serve" serves
// helperEvents, "init-error" reports an init error as a custom runtime
// would, "exit" exits before asking for an event.
func runHelper(mode string) int {
	switch mode {
	case "serve":
		lambda.Start(helperHandler)
		return 0 // lambda.Start does not return
	case "init-error":
		api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		body := `{"errorMessage":"settings missing","errorType":"Helper.ConfigError","stackTrace":[]}`
		req, _ := http.NewRequest(http.MethodPost, api, strings.NewReader(body))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Helper.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		return 1
	case "exit":
		fmt.Fprintln(os.Stderr, "helper: cannot start")
		return 2
	}
	fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
	return 3
}

func helperHandler(ctx context.Context, ev helperEvent) (helperAnswer, error) {
	if ev.Log != "" {
		fmt.Fprintln(os.Stderr, ev.Log)
	}
	switch {
	case ev.Fail != "":
		return helperAnswer{}, errors.New(ev.Fail)
	case ev.Panic != "":
		panic(ev.Panic)
	case ev.Exit != 0:
		os.Exit(ev.Exit)
	case ev.Sleep:
		time.Sleep(time.Hour)
	}
	if ev.AllocMB > 0 {
		// MAP_POPULATE makes the pages resident without writing them
		// from Go, so the race detector's shadow memory stays out of it;
		// unmapping gives them back at once.
		b, err := syscall.Mmap(-1, 0, ev.AllocMB<<20, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
		if err != nil {
			return helperAnswer{}, err
		}
		if err := syscall.Munmap(b); err != nil {
			return helperAnswer{}, err
		}
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	cwd, _ := os.Getwd()
	env := os.Environ()
	slices.Sort(env)
	return helperAnswer{
		RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, DeadlineMS: deadline.UnixMilli(),
		PID: os.Getpid(), Argv0: filepath.Base(os.Args[0]), Args: os.Args[1:], Cwd: cwd, Env: env,
		Padding: string(bytes.Repeat([]byte("x"), ev.Response)),
	}, nil
}

// helper starts the test binary as a function, in mode "serve" unless
// cfg.Env says otherwise.
func helper(t *testing.T, cfg lambdatest.Config) *lambdatest.Function {
	t.Helper()
	f, err := startHelper(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func startHelper(t *testing.T, cfg lambdatest.Config) (*lambdatest.Function, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Binary = exe
	env := map[string]string{helperEnv: "serve"}
	maps.Copy(env, cfg.Env)
	cfg.Env = env
	return start(t, cfg)
}

// start starts a function for the test's lifetime; its output is logged
// if the test fails.
func start(t testing.TB, cfg lambdatest.Config) (*lambdatest.Function, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := lambdatest.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		f.Stop()
		if t.Failed() {
			t.Logf("function output:\n%s", f.Logs())
		}
	})
	return f, nil
}

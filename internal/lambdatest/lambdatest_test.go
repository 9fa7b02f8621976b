//go:build linux

package lambdatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/lambdatest"
)

func invoke(t *testing.T, f *lambdatest.Function, ev string) lambdatest.Invocation {
	t.Helper()
	inv, err := f.Do(context.Background(), []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func answer(t *testing.T, inv lambdatest.Invocation) helperAnswer {
	t.Helper()
	if inv.Err != nil {
		t.Fatalf("invocation failed: %v", inv.Err)
	}
	var a helperAnswer
	if err := json.Unmarshal(inv.Response, &a); err != nil {
		t.Fatalf("response %q: %v", inv.Response, err)
	}
	return a
}

// The function runs as bootstrap in its task directory with Lambda's
// environment and nothing of the caller's, and aws-lambda-go sees the
// invocation's request ID, function ARN and deadline.
func TestEnvironment(t *testing.T) {
	t.Setenv("LAMBDATEST_LEAK", "1")
	f := helper(t, lambdatest.Config{Handler: "step", Args: []string{"lambda", "step"}, FunctionName: "vmx-step",
		MemoryMB: 256, Timeout: 30 * time.Second, Region: "eu-west-2", Env: map[string]string{"VMX_LOG_LEVEL": "debug", "AWS_REGION": "eu-west-1"}})
	if f.InitDuration() <= 0 {
		t.Errorf("init duration %v", f.InitDuration())
	}
	before := time.Now()
	inv := invoke(t, f, `{}`)
	a := answer(t, inv)
	if a.RequestID != inv.RequestID || len(a.RequestID) != 36 {
		t.Errorf("request ID %q, harness %q", a.RequestID, inv.RequestID)
	}
	if a.FunctionARN != "arn:aws:lambda:eu-west-2:123456789012:function:vmx-step" {
		t.Errorf("function ARN %q", a.FunctionARN)
	}
	if d := time.UnixMilli(a.DeadlineMS).Sub(before); d <= 0 || d > 31*time.Second {
		t.Errorf("deadline %v after the invocation began, want the 30 s timeout", d)
	}
	if a.Argv0 != "bootstrap" || !slices.Equal(a.Args, []string{"lambda", "step"}) {
		t.Errorf("ran as %q %q", a.Argv0, a.Args)
	}
	env := map[string]string{}
	for _, kv := range a.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if a.Cwd != env["LAMBDA_TASK_ROOT"] || a.Cwd == "" {
		t.Errorf("cwd %q, LAMBDA_TASK_ROOT %q", a.Cwd, env["LAMBDA_TASK_ROOT"])
	}
	want := map[string]string{
		"_HANDLER": "step", "AWS_LAMBDA_FUNCTION_NAME": "vmx-step", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2",
		"VMX_LOG_LEVEL": "debug", "TZ": ":UTC", helperEnv: "serve",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if env[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	for _, k := range []string{"LAMBDATEST_LEAK", "HOME"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s leaked into the function's environment", k)
		}
	}
}

// A function error answers that invocation only: the same process serves
// the next one. A panic is reported, then the process is gone.
func TestErrors(t *testing.T) {
	f := helper(t, lambdatest.Config{})
	first := answer(t, invoke(t, f, `{}`))

	_, err := f.Invoke(context.Background(), []byte(`{"fail":"no voicemail for contact c-1"}`))
	var fe *lambdatest.FunctionError
	if !errors.As(err, &fe) || fe.Type != "errorString" || fe.Message != "no voicemail for contact c-1" {
		t.Fatalf("function error: %v", err)
	}
	if again := answer(t, invoke(t, f, `{}`)); again.PID != first.PID || again.RequestID == first.RequestID {
		t.Fatalf("after an error: pid %d, request %s; before: pid %d, request %s", again.PID, again.RequestID, first.PID, first.RequestID)
	}

	inv := invoke(t, f, `{"panic":"index out of range"}`)
	if inv.Err == nil || inv.Err.Type != "string" || inv.Err.Message != "index out of range" || len(inv.Err.StackTrace) == 0 {
		t.Fatalf("panic: %+v", inv.Err)
	}
	if _, err := f.Do(context.Background(), []byte(`{}`)); !errors.Is(err, lambdatest.ErrNotRunning) {
		t.Fatalf("invoking after the panic: %v", err)
	}
}

// A process that exits mid-invocation fails it with Runtime.ExitError,
// one that runs past the timeout with Sandbox.Timedout.
func TestCrashAndTimeout(t *testing.T) {
	f := helper(t, lambdatest.Config{})
	inv := invoke(t, f, `{"exit":3,"log":"about to exit"}`)
	if inv.Err == nil || inv.Err.Type != "Runtime.ExitError" || !strings.HasSuffix(inv.Err.Message, "Runtime exited with error: exit status 3") ||
		!strings.Contains(inv.Err.Message, inv.RequestID) {
		t.Fatalf("crash: %+v", inv.Err)
	}
	if !strings.Contains(f.Logs(), "about to exit\n") {
		t.Errorf("logs %q", f.Logs())
	}

	f = helper(t, lambdatest.Config{Timeout: 200 * time.Millisecond})
	inv = invoke(t, f, `{"sleep":true}`)
	if inv.Err == nil || inv.Err.Type != "Sandbox.Timedout" || !strings.HasSuffix(inv.Err.Message, "Task timed out after 0.20 seconds") {
		t.Fatalf("timeout: %+v", inv.Err)
	}
	if _, err := f.Do(context.Background(), []byte(`{}`)); !errors.Is(err, lambdatest.ErrNotRunning) {
		t.Fatalf("invoking after the timeout: %v", err)
	}
}

// A response over 6 MB fails the invocation as Lambda's does.
func TestResponseTooLarge(t *testing.T) {
	f := helper(t, lambdatest.Config{})
	inv := invoke(t, f, `{"response":7000000}`)
	if inv.Err == nil || inv.Err.Type != "Function.ResponseSizeTooLarge" {
		t.Fatalf("7 MB response: %+v", inv.Err)
	}
}

// Init fails when the runtime posts /init/error or exits before asking for
// an event.
func TestInitErrors(t *testing.T) {
	_, err := startHelper(t, lambdatest.Config{Env: map[string]string{helperEnv: "init-error"}})
	var ie *lambdatest.InitError
	if !errors.As(err, &ie) || ie.Type != "Helper.ConfigError" || ie.Message != "settings missing" {
		t.Fatalf("init error: %v", err)
	}
	_, err = startHelper(t, lambdatest.Config{Env: map[string]string{helperEnv: "exit"}})
	if !errors.As(err, &ie) || ie.Type != "Runtime.ExitError" || ie.Message != "Runtime exited with error: exit status 2" ||
		ie.Logs != "helper: cannot start\n" {
		t.Fatalf("exit during init: %v (logs %q)", err, ie.Logs)
	}
}

// Each invocation's peak RSS is its own: the memory a previous invocation
// used and gave back does not count. EnforceMemory fails an invocation
// over MemoryMB without killing the process.
func TestPeakRSS(t *testing.T) {
	const mb = 1 << 20
	f := helper(t, lambdatest.Config{MemoryMB: 96, EnforceMemory: true})
	small := invoke(t, f, `{}`)
	big := invoke(t, f, `{"alloc_mb":160}`)
	after := invoke(t, f, `{}`)
	t.Logf("peaks: %d, %d, %d MB", small.PeakRSS/mb, big.PeakRSS/mb, after.PeakRSS/mb)
	if small.Err != nil || after.Err != nil {
		t.Fatalf("small invocations failed: %v, %v", small.Err, after.Err)
	}
	if big.PeakRSS < 160*mb || small.PeakRSS >= 96*mb || after.PeakRSS >= 96*mb {
		t.Fatalf("peaks %d, %d, %d MB; want >= 160 MB only for the second", small.PeakRSS/mb, big.PeakRSS/mb, after.PeakRSS/mb)
	}
	if big.Err == nil || big.Err.Type != "Runtime.OutOfMemory" || !strings.Contains(big.Err.Message, "memory size 96 MB") {
		t.Fatalf("over the memory size: %+v", big.Err)
	}
	if f.PeakRSS() != big.PeakRSS {
		t.Fatalf("function's peak %d, invocations' %d", f.PeakRSS(), big.PeakRSS)
	}
}

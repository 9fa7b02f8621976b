// Package lambdatest runs a Lambda function's bootstrap binary as AWS
// Lambda does (provided.al2023), against a local Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), and
// measures what Lambda reports: the init duration, each invocation's
// duration and the process's peak memory.
//
// The function runs in a fresh process with Lambda's environment only (no
// variable of the caller's leaks in), from a task directory that holds the
// binary as `bootstrap`. Invocations are sequential, as in one execution
// environment; a function error leaves the process serving, a crash or a
// timeout ends it.
package lambdatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Runtime API limits and names, as Lambda and aws-lambda-go use them.
const (
	apiPrefix = "/2018-06-01/runtime"
	// maxPayload is the largest response a function may post (6 MB plus
	// Lambda's 100 bytes of slack) and the largest synchronous event.
	maxPayload = 6*1024*1024 + 100

	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	// aws-lambda-go reports a response that fails while streaming in
	// these trailers of the response POST.
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// ErrNotRunning reports an invocation of a function whose process has
// ended: it crashed, timed out or was stopped.
var ErrNotRunning = errors.New("lambdatest: the function is not running")

// Config describes the function, as its Lambda configuration would.
type Config struct {
	// Binary is the executable to run as the function's bootstrap.
	Binary string
	// Args are passed to the bootstrap; Lambda passes none.
	Args []string
	// Handler is the function's Handler property (_HANDLER).
	Handler string
	// FunctionName defaults to "vmx-test".
	FunctionName string
	// MemoryMB is the function's memory size; 0 means 128.
	MemoryMB int
	// Timeout is the function's timeout: an invocation still running
	// then is killed, with the process, as Lambda does. 0 means Lambda's
	// maximum, 900 s (Lambda's default is 3 s).
	Timeout time.Duration
	// Region is AWS_REGION and AWS_DEFAULT_REGION; "" means us-east-1.
	Region string
	// Env adds to and overrides Lambda's environment: the function's
	// environment variables, and credentials other than the default fake
	// ones.
	Env map[string]string
	// Logs, if set, receives the process's stdout and stderr as they are
	// written (what Lambda sends to CloudWatch Logs); Function.Logs keeps
	// them too.
	Logs io.Writer
	// EnforceMemory fails an init or invocation whose peak RSS exceeds
	// MemoryMB with Runtime.OutOfMemory. The process is not killed.
	EnforceMemory bool
}

func (c Config) withDefaults() Config {
	if c.FunctionName == "" {
		c.FunctionName = "vmx-test"
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = 128
	}
	if c.Timeout == 0 {
		c.Timeout = 900 * time.Second
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	return c
}

// FunctionError is an error as Lambda returns it to the invoker: one the
// function posted, or one the runtime reports for it (Runtime.ExitError,
// Sandbox.Timedout, Runtime.OutOfMemory, Function.ResponseSizeTooLarge).
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// InitError reports a function that failed to initialise: it posted
// /init/error, or exited before asking for its first event.
type InitError struct {
	FunctionError
	Duration time.Duration // from process start to the failure
	Logs     string        // the process's output
}

func (e *InitError) Error() string {
	return fmt.Sprintf("lambdatest: init failed after %v: %s: %s", e.Duration.Round(time.Millisecond), e.Type, e.Message)
}

// Invocation is one invocation's outcome and measurements.
type Invocation struct {
	RequestID string
	Response  []byte         // the posted response, when there is one
	Err       *FunctionError // the function's error, if it failed
	// Duration runs from the event's delivery to the posted answer
	// (Lambda's "Duration").
	Duration time.Duration
	// PeakRSS is the process's peak resident memory in bytes during
	// this invocation (the kernel's high-water mark is reset before each
	// one), Lambda's "Max Memory Used" for one invocation.
	PeakRSS int64
}

// Function is a running function: one Lambda execution environment.
type Function struct {
	cfg     Config
	dir     string
	arn     string
	srv     *http.Server
	cmd     *exec.Cmd
	logs    *logBuffer
	started time.Time

	invokes   chan *invocation // to the runtime's pending /next
	firstNext chan struct{}    // closed at the first /next
	initErr   chan *FunctionError
	exited    chan struct{} // closed when the process has exited
	exitErr   error         // set before exited closes

	nextOnce     sync.Once
	firstNextAt  time.Time // set before firstNext closes
	initDuration time.Duration

	mu      sync.Mutex // serialises invocations
	stateMu sync.Mutex // guards current and peak
	current *invocation
	peak    int64

	stopOnce sync.Once
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	answered bool      // guarded by Function.stateMu
	start    time.Time // set when the runtime receives the event
	done     chan outcome
}

type outcome struct {
	body []byte
	err  *FunctionError
	at   time.Time
}

// Start starts the Runtime API and the function's process, and returns
// once the function asks for its first event, or an *InitError if it
// fails first. ctx bounds the init phase only.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	cfg = cfg.withDefaults()
	bin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("lambdatest: binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "lambdatest-task-")
	if err != nil {
		return nil, fmt.Errorf("lambdatest: task directory: %w", err)
	}
	// Lambda runs /var/task/bootstrap: the program sees its name so.
	if err := os.Symlink(bin, filepath.Join(dir, "bootstrap")); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambdatest: bootstrap: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambdatest: runtime API: %w", err)
	}
	f := &Function{
		cfg:       cfg,
		dir:       dir,
		arn:       fmt.Sprintf("arn:aws:lambda:%s:123456789012:function:%s", cfg.Region, cfg.FunctionName),
		logs:      &logBuffer{w: cfg.Logs},
		invokes:   make(chan *invocation),
		firstNext: make(chan struct{}),
		initErr:   make(chan *FunctionError, 1),
		exited:    make(chan struct{}),
	}
	f.srv = &http.Server{Handler: f.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }() // ErrServerClosed at Stop

	f.cmd = exec.Command(filepath.Join(dir, "bootstrap"), cfg.Args...)
	f.cmd.Dir = dir
	f.cmd.Env = f.environ(ln.Addr().String())
	f.cmd.Stdout, f.cmd.Stderr = f.logs, f.logs
	// A child that keeps the output pipes open must not hang Wait.
	f.cmd.WaitDelay = time.Second
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		f.srv.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lambdatest: starting %s: %w", bin, err)
	}
	go func() {
		f.exitErr = f.cmd.Wait()
		close(f.exited)
	}()

	fail := func(fe FunctionError) (*Function, error) {
		d := time.Since(f.started)
		f.Stop()
		return nil, &InitError{FunctionError: fe, Duration: d, Logs: f.logs.String()}
	}
	select {
	case <-f.firstNext:
		f.initDuration = f.firstNextAt.Sub(f.started)
	case fe := <-f.initErr:
		return fail(*fe)
	case <-f.exited:
		return fail(FunctionError{Type: "Runtime.ExitError", Message: "Runtime exited with error: " + f.exitReason()})
	case <-ctx.Done():
		f.Stop()
		return nil, fmt.Errorf("lambdatest: init: %w", ctx.Err())
	}
	initPeak := f.sample()
	if f.overLimit(initPeak) {
		return fail(FunctionError{Type: "Runtime.OutOfMemory", Message: f.oomMessage(initPeak)})
	}
	return f, nil
}

// environ is Lambda's environment for a provided.al2023 function, then
// Config.Env.
func (f *Function) environ(api string) []string {
	c := f.cfg
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          api,
		"_HANDLER":                        c.Handler,
		"AWS_LAMBDA_FUNCTION_NAME":        c.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(c.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + c.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      c.Region,
		"AWS_DEFAULT_REGION":              c.Region,
		"AWS_ACCESS_KEY_ID":               "ASIALAMBDATEST000000",
		"AWS_SECRET_ACCESS_KEY":           "lambdatest-secret-access-key",
		"AWS_SESSION_TOKEN":               "lambdatest-session-token",
		"LAMBDA_TASK_ROOT":                f.dir,
		"LAMBDA_RUNTIME_DIR":              f.dir,
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"TZ":                              ":UTC",
	}
	maps.Copy(env, c.Env)
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// Build compiles the Go main package pkg into out as `make lambda` builds
// a function's bootstrap (CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -ldflags "-s -w"), for this machine's architecture, with the go command
// on PATH.
func Build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lambdatest: go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// InitDuration is the time from the process's start to its first request
// for an event (Lambda's "Init Duration").
func (f *Function) InitDuration() time.Duration { return f.initDuration }

// PeakRSS is the process's peak resident memory in bytes over its life so
// far (init and every invocation).
func (f *Function) PeakRSS() int64 {
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	return f.peak
}

// Logs returns everything the process has written to stdout and stderr.
func (f *Function) Logs() string { return f.logs.String() }

// Invoke invokes the function synchronously with event and returns its
// response, or its *FunctionError.
func (f *Function) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	inv, err := f.Do(ctx, event)
	if err != nil {
		return nil, err
	}
	if inv.Err != nil {
		return nil, inv.Err
	}
	return inv.Response, nil
}

// Do invokes the function with event and reports the outcome and its
// measurements. The error is the harness's: the function is not running,
// or ctx ended (which kills it); the function's own errors are in
// Invocation.Err.
func (f *Function) Do(ctx context.Context, event []byte) (Invocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(event) > maxPayload {
		return Invocation{}, fmt.Errorf("lambdatest: event of %d bytes exceeds Lambda's %d", len(event), maxPayload)
	}
	select {
	case <-f.exited:
		return Invocation{}, fmt.Errorf("%w: %s", ErrNotRunning, f.exitReason())
	default:
	}
	inv := &invocation{id: requestID(), event: event, done: make(chan outcome, 1)}
	res := Invocation{RequestID: inv.id}
	pid := f.cmd.Process.Pid
	// Each invocation's peak: the kernel's high-water mark restarts from
	// the current RSS. Without /proc the peak is 0.
	_ = resetPeakRSS(pid)
	inv.deadline = time.Now().Add(f.cfg.Timeout)
	timeout := time.NewTimer(f.cfg.Timeout)
	defer timeout.Stop()
	select {
	case f.invokes <- inv:
	case <-f.exited:
		return res, fmt.Errorf("%w: %s", ErrNotRunning, f.exitReason())
	case <-ctx.Done():
		f.Stop()
		return res, fmt.Errorf("lambdatest: invoke: %w", ctx.Err())
	}
	select {
	case o := <-inv.done:
		res.Response, res.Err, res.Duration = o.body, o.err, o.at.Sub(inv.start)
	case <-f.exited:
		// A runtime that posts its error and then exits (aws-lambda-go
		// after a panic) has answered.
		select {
		case o := <-inv.done:
			res.Response, res.Err, res.Duration = o.body, o.err, o.at.Sub(inv.start)
		default:
			res.Err = &FunctionError{Type: "Runtime.ExitError",
				Message: fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", inv.id, f.exitReason())}
			res.Duration = f.since(inv)
		}
	case <-timeout.C:
		res.PeakRSS = f.sample()
		f.Stop()
		res.Err = &FunctionError{Type: "Sandbox.Timedout",
			Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, f.cfg.Timeout.Seconds())}
		res.Duration = f.since(inv)
		return res, nil
	case <-ctx.Done():
		f.Stop()
		return res, fmt.Errorf("lambdatest: invoke: %w", ctx.Err())
	}
	res.PeakRSS = f.sample()
	if res.Err == nil && f.overLimit(res.PeakRSS) {
		res.Err = &FunctionError{Type: "Runtime.OutOfMemory", Message: fmt.Sprintf("RequestId: %s Error: %s", inv.id, f.oomMessage(res.PeakRSS))}
	}
	return res, nil
}

// since is the time since the runtime received inv's event.
func (f *Function) since(inv *invocation) time.Duration {
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	if inv.start.IsZero() {
		return 0
	}
	return time.Since(inv.start)
}

// Stop kills the process, as Lambda ends an execution environment (its Go
// runtime registers no extension, so it gets SIGKILL), and shuts the
// Runtime API down. It is safe to call more than once.
func (f *Function) Stop() {
	f.stopOnce.Do(func() {
		select {
		case <-f.exited:
		default:
			f.sample()
			_ = f.cmd.Process.Kill()
			<-f.exited
		}
		f.srv.Close()
		os.RemoveAll(f.dir)
	})
}

// sample records the process's peak RSS since the last reset and returns
// it; 0 if it cannot be read.
func (f *Function) sample() int64 {
	hwm, err := peakRSS(f.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	f.stateMu.Lock()
	f.peak = max(f.peak, hwm)
	f.stateMu.Unlock()
	return hwm
}

func (f *Function) overLimit(peak int64) bool {
	return f.cfg.EnforceMemory && peak > int64(f.cfg.MemoryMB)<<20
}

func (f *Function) oomMessage(peak int64) string {
	return fmt.Sprintf("peak RSS %.1f MB exceeds the function's memory size %d MB (Lambda would have killed it)", float64(peak)/(1<<20), f.cfg.MemoryMB)
}

// exitReason says how the process ended, as Lambda words it ("exit
// status 1", "signal: killed"); only after exited is closed.
func (f *Function) exitReason() string {
	if f.exitErr == nil {
		return "exit status 0"
	}
	return f.exitErr.Error()
}

func (f *Function) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", f.next)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", f.response)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", f.invocationError)
	mux.HandleFunc("POST "+apiPrefix+"/init/error", f.initError)
	return mux
}

// next long-polls for the next event. The first call ends the init phase.
func (f *Function) next(w http.ResponseWriter, r *http.Request) {
	f.nextOnce.Do(func() {
		f.firstNextAt = time.Now()
		close(f.firstNext)
	})
	f.stateMu.Lock()
	cur := f.current
	pending := cur != nil && !cur.answered
	f.stateMu.Unlock()
	if pending {
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+cur.id+" has not been answered")
		return
	}
	select {
	case inv := <-f.invokes:
		f.stateMu.Lock()
		f.current = inv
		inv.start = time.Now()
		f.stateMu.Unlock()
		h := w.Header()
		h.Set(headerRequestID, inv.id)
		h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, f.arn)
		h.Set(headerTraceID, traceID())
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.event)
	case <-r.Context().Done():
	}
}

// claim returns invocation id, marked answered, if it is the current one
// and not answered yet; otherwise it writes Lambda's error and returns nil.
func (f *Function) claim(w http.ResponseWriter, id string) *invocation {
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	inv := f.current
	switch {
	case inv == nil || inv.id != id:
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "invalid request ID "+id)
		return nil
	case inv.answered:
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+id+" has already been answered")
		return nil
	}
	inv.answered = true
	return inv
}

func (f *Function) response(w http.ResponseWriter, r *http.Request) {
	inv := f.claim(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	switch {
	case err != nil:
		inv.done <- outcome{err: &FunctionError{Type: "Runtime.InvalidResponse", Message: "reading the response: " + err.Error()}, at: time.Now()}
	case len(body) > maxPayload:
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)
		inv.done <- outcome{err: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: msg}, at: time.Now()}
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
		return
	case r.Trailer.Get(trailerErrorType) != "":
		// The response stream failed after it began.
		fe := &FunctionError{Type: r.Trailer.Get(trailerErrorType)}
		if b, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody)); err == nil {
			_ = json.Unmarshal(b, fe)
		}
		inv.done <- outcome{err: fe, at: time.Now()}
	default:
		inv.done <- outcome{body: body, at: time.Now()}
	}
	accepted(w)
}

func (f *Function) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := f.claim(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	inv.done <- outcome{err: readError(r), at: time.Now()}
	accepted(w)
}

func (f *Function) initError(w http.ResponseWriter, r *http.Request) {
	select {
	case f.initErr <- readError(r):
		accepted(w)
	default:
		apiError(w, http.StatusForbidden, "InvalidStateTransition", "init error already reported")
	}
}

// readError reads a posted error: JSON {errorMessage, errorType,
// stackTrace}, the type also in a header; any other body is the message.
func readError(r *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxPayload))
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil {
		fe = &FunctionError{Message: string(body)}
	}
	if fe.Type == "" {
		fe.Type = r.Header.Get(headerErrorType)
	}
	if fe.Type == "" {
		fe.Type = "Runtime.Unknown"
	}
	return fe
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(FunctionError{Type: typ, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// requestID is a random UUID, as Lambda's request IDs are.
func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// traceID is an X-Ray trace header for an unsampled trace.
func traceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer keeps the process's output and copies it to w.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.w != nil {
		// A failing copy must not break the function's output.
		_, _ = l.w.Write(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

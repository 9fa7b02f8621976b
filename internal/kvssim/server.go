package kvssim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time and waits; tests inject a fake one to drive paced
// streams without sleeping.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Credentials are the static AWS credentials the server checks SigV4
// signatures against.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Options configure a Server. The zero value serves archived streams and
// accepts any SigV4-shaped request.
type Options struct {
	// Pace plays streams in real time scaled by Pace: fragment i becomes
	// available at Start + (producer_i - producer_0 + duration_i) / Pace,
	// producer_0 being the first fragment of its stream. 0 serves archived
	// streams: every fragment is available at once.
	Pace float64
	// Clock defaults to the system clock.
	Clock Clock
	// Start is when paced streams begin; zero means Clock.Now() at New.
	Start time.Time
	// SessionLimitBytes cuts each GetMedia response after that many bytes,
	// mid-fragment if need be, as KVS ends GetMedia sessions after about 45
	// minutes. 0 means no limit.
	SessionLimitBytes int64
	// FragmentNumberInclusive makes GetMedia's FRAGMENT_NUMBER selector
	// start with the given fragment ("containing", older documentation)
	// instead of after it (current documentation, the default).
	FragmentNumberInclusive bool
	// Credentials, when set, make the server verify SigV4 signatures; a
	// request signed otherwise gets 403. Without them any request with an
	// AWS4-HMAC-SHA256 Authorization header for kinesisvideo is accepted.
	Credentials *Credentials
	// Region signatures and ARNs use; default "us-east-1".
	Region string
	// Account in stream ARNs; default "111122223333".
	Account string
	// DataEndpoint is what GetDataEndpoint answers; empty means the
	// server's own address as the request reached it ("http://host:port").
	DataEndpoint string
	// MaxGetMediaConnections limits concurrent GetMedia sessions per
	// stream (ConnectionLimitExceededException beyond); 0 means no limit.
	MaxGetMediaConnections int
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Server is a KVS simulator; it is an http.Handler. Its methods are safe
// for concurrent use.
type Server struct {
	opts  Options
	clock Clock
	start time.Time
	log   *slog.Logger

	mu      sync.RWMutex
	streams map[string]*stream

	faultMu sync.Mutex
	faults  map[string][]fault

	requests atomic.Uint64
}

// stream is a named stream; its fragment slice only grows, and fragments
// never change once added, so a snapshot taken under the lock stays valid.
type stream struct {
	name     string
	created  time.Time
	frags    []*fragment
	byNumber map[string]int
	parts    int
	active   int // GetMedia sessions in progress
}

type fault struct {
	errType string
	left    int
}

// API names, as used by FailNext and in logs.
const (
	APIGetDataEndpoint         = "GetDataEndpoint"
	APIGetMedia                = "GetMedia"
	APIListFragments           = "ListFragments"
	APIGetMediaForFragmentList = "GetMediaForFragmentList"
)

// New returns a server without streams.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "111122223333"
	}
	if opts.Pace < 0 {
		opts.Pace = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	start := opts.Start
	if start.IsZero() {
		start = opts.Clock.Now()
	}
	return &Server{
		opts:    opts,
		clock:   opts.Clock,
		start:   start,
		log:     opts.Logger.With("component", "kvssim"),
		streams: make(map[string]*stream),
		faults:  make(map[string][]fault),
	}
}

// validStreamName reports whether name is a KVS stream name: 1 to 256 of
// [a-zA-Z0-9_.-].
func validStreamName(name string) bool {
	if len(name) == 0 || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// AddStream creates the stream name from parts, in order: e.g. a capture,
// or one PCM part per contact when a stream is reused. It fails when the
// name is taken or invalid (KVS allows [a-zA-Z0-9_.-], 1 to 256
// characters).
func (s *Server) AddStream(name string, parts ...Source) error {
	if err := s.addStream(name, parts); err != nil {
		return fmt.Errorf("kvssim: %w", err)
	}
	return nil
}

func (s *Server) addStream(name string, parts []Source) error {
	if !validStreamName(name) {
		return fmt.Errorf("invalid stream name %q", name)
	}
	if len(parts) == 0 {
		return fmt.Errorf("stream %s: no parts", name)
	}
	s.mu.RLock()
	_, exists := s.streams[name]
	s.mu.RUnlock()
	if exists {
		return fmt.Errorf("stream %s already exists", name)
	}
	frags, err := buildFragments(name, nil, 0, parts)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	st := &stream{name: name, created: frags[0].producer, byNumber: make(map[string]int), parts: len(parts)}
	st.add(frags)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.streams[name]; exists {
		return fmt.Errorf("stream %s already exists", name)
	}
	s.streams[name] = st
	s.log.Info("stream added", "stream", name, "fragments", len(frags))
	return nil
}

// Append adds parts at the end of an existing stream: the next contact on
// a reused stream, or more audio of a live one. PCM parts without a start
// time follow the last fragment directly.
func (s *Server) Append(name string, parts ...Source) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[name]
	if !ok {
		return fmt.Errorf("kvssim: append to stream %s: no such stream", name)
	}
	frags, err := buildFragments(name, st.frags[len(st.frags)-1], st.parts, parts)
	if err != nil {
		return fmt.Errorf("kvssim: append to stream %s: %w", name, err)
	}
	st.parts += len(parts)
	st.add(frags)
	s.log.Info("stream appended", "stream", name, "fragments", len(frags))
	return nil
}

func (st *stream) add(frags []*fragment) {
	for _, f := range frags {
		if !f.errChunk {
			st.byNumber[f.number] = len(st.frags)
		}
		st.frags = append(st.frags, f)
	}
}

// Streams returns the names of all streams, sorted.
func (s *Server) Streams() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.streams))
	for n := range s.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Fragments describes every fragment of a stream in stream order, whether
// available yet or not.
func (s *Server) Fragments(name string) ([]FragmentInfo, error) {
	frags, ok := s.snapshot(name)
	if !ok {
		return nil, fmt.Errorf("kvssim: no stream %s", name)
	}
	out := make([]FragmentInfo, len(frags))
	for i, f := range frags {
		out[i] = f.info()
	}
	return out, nil
}

// StreamARN returns the ARN of a stream, whose creation time is its first
// fragment's producer time.
func (s *Server) StreamARN(name string) (string, error) {
	s.mu.RLock()
	st, ok := s.streams[name]
	s.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("kvssim: no stream %s", name)
	}
	return ARN(s.opts.Region, s.opts.Account, name, st.created), nil
}

// ARN formats a stream ARN as Amazon Connect hands it out:
// arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-ms>.
func ARN(region, account, name string, created time.Time) string {
	return fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/%d", region, account, name, created.UnixMilli())
}

// StreamNameFromARN returns the stream name in a stream ARN: the text
// between "stream/" and the last "/".
func StreamNameFromARN(arn string) (string, error) {
	if !strings.HasPrefix(arn, "arn:") {
		return "", fmt.Errorf("kvssim: %q is not an ARN", arn)
	}
	_, rest, ok := strings.Cut(arn, ":stream/")
	if !ok {
		return "", fmt.Errorf("kvssim: ARN %q names no stream", arn)
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", fmt.Errorf("kvssim: stream ARN %q lacks the creation time", arn)
	}
	return rest[:i], nil
}

// FailNext makes the next n calls of api (APIGetMedia, …) fail with the
// KVS error errorType, e.g. "ClientLimitExceededException" or
// "ConnectionLimitExceededException", before any other check but the
// signature. Faults queue up in call order. An unknown api panics.
func (s *Server) FailNext(api, errorType string, n int) {
	switch api {
	case APIGetDataEndpoint, APIGetMedia, APIListFragments, APIGetMediaForFragmentList:
	default:
		panic(fmt.Sprintf("kvssim: FailNext: unknown API %q", api))
	}
	if n <= 0 {
		return
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults[api] = append(s.faults[api], fault{errType: errorType, left: n})
}

// takeFault consumes one injected fault of api.
func (s *Server) takeFault(api string) (string, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	q := s.faults[api]
	if len(q) == 0 {
		return "", false
	}
	t := q[0].errType
	q[0].left--
	if q[0].left == 0 {
		q = q[1:]
	}
	s.faults[api] = q
	return t, true
}

// snapshot returns the fragments of a stream as they are now.
func (s *Server) snapshot(name string) ([]*fragment, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.streams[name]
	if !ok {
		return nil, false
	}
	return st.frags[:len(st.frags):len(st.frags)], true
}

// availableAt returns when frags[i] becomes available; the zero time for
// archived streams.
func (s *Server) availableAt(frags []*fragment, i int) time.Time {
	if s.opts.Pace == 0 {
		return time.Time{}
	}
	off := frags[i].end().Sub(frags[0].producer)
	return s.start.Add(time.Duration(float64(off) / s.opts.Pace))
}

func (s *Server) available(frags []*fragment, i int, now time.Time) bool {
	return !s.availableAt(frags, i).After(now)
}

// tip returns the producer time up to which a stream has been ingested.
func (s *Server) tip(frags []*fragment, now time.Time) time.Time {
	last := frags[len(frags)-1].end()
	if s.opts.Pace == 0 {
		return last
	}
	t := frags[0].producer.Add(time.Duration(float64(now.Sub(s.start)) * s.opts.Pace))
	if t.After(last) {
		return last
	}
	return t
}

// waitAvailable blocks until frags[i] is available or ctx is done.
func (s *Server) waitAvailable(ctx context.Context, frags []*fragment, i int) error {
	at := s.availableAt(frags, i)
	for {
		d := at.Sub(s.clock.Now())
		if d <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.clock.After(d):
		}
	}
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves s in
// the background. It returns the base URL clients use as endpoint
// ("http://127.0.0.1:port") and stop, which closes the listener and every
// connection and waits for the server to end. The server also stops when
// ctx is done.
func (s *Server) Start(ctx context.Context, addr string) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("kvssim: listen: %w", err)
	}
	base, cancel := context.WithCancel(ctx)
	hs := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	go func() {
		<-base.Done()
		hs.Close()
	}()
	url = "http://" + clientAddr(ln.Addr())
	s.log.Info("listening", "url", url)
	return url, sync.OnceFunc(func() {
		cancel()
		<-done
	}), nil
}

// clientAddr turns a listener address into one a client can dial.
func clientAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := "127.0.0.1"
	if !tcp.IP.IsUnspecified() && tcp.IP != nil {
		host = tcp.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// maxRequestBody bounds request bodies: 1,000 fragment numbers of 128
// digits fit easily.
const maxRequestBody = 1 << 20

// ServeHTTP routes a KVS API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := s.clock.Now()
	id := s.requests.Add(1)
	reqID := fmt.Sprintf("00000000-0000-4000-8000-%012d", id)
	w.Header().Set("x-amzn-RequestId", reqID)
	cw := &countingWriter{ResponseWriter: w}
	api, err := s.serve(cw, r)
	attrs := []any{"api", api, "status", cw.status(), "bytes", cw.n, "request_id", reqID, "took", s.clock.Now().Sub(began)}
	if err != nil {
		if cw.wrote {
			// The media response has begun: the error can only be logged.
			s.log.Warn("response cut", append(attrs, "err", err)...)
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("request failed", append(attrs, "err", err)...)
			writeError(cw, &apiError{typ: "InternalFailure", status: http.StatusInternalServerError, msg: "internal error, request id " + reqID})
			return
		}
		writeError(cw, ae)
		s.log.Info("request", append(attrs[:2:2], "status", ae.status, "error", ae.typ, "message", ae.msg, "request_id", reqID)...)
		return
	}
	s.log.Info("request", attrs...)
}

// route returns the API served at a path.
func route(path string) (string, bool) {
	switch path {
	case "/getDataEndpoint":
		return APIGetDataEndpoint, true
	case "/getMedia":
		return APIGetMedia, true
	case "/listFragments":
		return APIListFragments, true
	case "/getMediaForFragmentList":
		return APIGetMediaForFragmentList, true
	}
	return "", false
}

func (s *Server) serve(w *countingWriter, r *http.Request) (string, error) {
	api, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodPost {
		return r.Method + " " + r.URL.Path, &apiError{typ: "UnknownOperationException", status: http.StatusNotFound, msg: fmt.Sprintf("no operation at %s %s", r.Method, r.URL.Path)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return api, invalidArgument("request body exceeds %d bytes", maxRequestBody)
		}
		return api, fmt.Errorf("read request body: %w", err)
	}
	if err := s.verify(r, body); err != nil {
		return api, err
	}
	if typ, ok := s.takeFault(api); ok {
		return api, &apiError{typ: typ, status: errorStatus(typ), msg: "injected fault"}
	}
	switch api {
	case APIGetDataEndpoint:
		return api, s.getDataEndpoint(w, r, body)
	case APIGetMedia:
		return api, s.getMedia(w, r, body)
	case APIListFragments:
		return api, s.listFragments(w, body)
	default:
		return api, s.getMediaForFragmentList(w, r, body)
	}
}

// countingWriter remembers whether a response has begun and its size.
type countingWriter struct {
	http.ResponseWriter
	wrote bool
	code  int
	n     int64
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.wrote {
		c.wrote, c.code = true, code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if !c.wrote {
		c.wrote, c.code = true, http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the Flusher.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) status() int {
	if !c.wrote {
		return 0
	}
	return c.code
}

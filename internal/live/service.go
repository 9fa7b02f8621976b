package live

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/textutil"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/store"
)

// Streams follows Kinesis video streams live; *kvs.Client implements it.
type Streams interface {
	ReadLive(ctx context.Context, in kvs.Live) (*kvs.LiveReader, error)
}

// Store keeps conversations and their messages; *store.Store implements
// it. Replicas sharing it coordinate through the conversations' rows.
type Store interface {
	InsertLiveConversation(ctx context.Context, c *store.LiveConversation) (bool, error)
	ReplaceLiveConversation(ctx context.Context, c *store.LiveConversation, version time.Time) (bool, error)
	BeatLiveConversation(ctx context.Context, guid string, version, at time.Time, summary string) (bool, error)
	RequestLiveStop(ctx context.Context, guid string) (bool, error)
	StoppingLiveConversations(ctx context.Context) ([]string, error)
	LiveConversation(ctx context.Context, guid string) (*store.LiveConversation, error)
	AddLiveMessage(ctx context.Context, m *store.LiveMessage) error
	LastLiveSeq(ctx context.Context, guid string) (int64, error)
	LiveMessages(ctx context.Context, guid string, limit int) ([]store.LiveMessage, error)
	LiveMessagesBetween(ctx context.Context, from, to time.Time, after store.LiveCursor, limit int) ([]store.LiveMessage, error)
}

// Deps are what a Service works with.
type Deps struct {
	Streams Streams
	Engine  asr.Engine
	Store   Store
	// Blob receives the daily feed; it may be nil when the feed is off.
	Blob    blob.Store
	Metrics *Metrics // nil: unregistered collectors
	Logger  *slog.Logger
}

// Service runs live transcription. It is safe for concurrent use.
type Service struct {
	cfg    Config
	kvs    Streams
	engine asr.Engine
	db     Store
	blob   blob.Store
	masker *textutil.Masker
	pubs   []*publisher
	m      *Metrics
	log    *slog.Logger
	now    func() time.Time

	base context.Context // ends at Close: stops every session
	halt context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New validates cfg (defaults applied) and returns a Service whose
// targets' senders are running. Close stops it.
func New(cfg Config, d Deps) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Streams == nil:
		return nil, errors.New("live: no Kinesis video streams client")
	case d.Engine == nil:
		return nil, errors.New("live: no speech engine")
	case d.Store == nil:
		return nil, errors.New("live: no store")
	case cfg.Feed.Enabled && d.Blob == nil:
		return nil, errors.New("live: feed.enabled needs a blob store")
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	masker, err := textutil.NewMasker(textutil.MaskOptions{MinRun: cfg.Redaction.MinRun, Keep: cfg.Redaction.Keep})
	if err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	s := &Service{
		cfg:      cfg,
		kvs:      d.Streams,
		engine:   d.Engine,
		db:       d.Store,
		blob:     d.Blob,
		masker:   masker,
		m:        d.Metrics,
		log:      d.Logger.With("component", "live"),
		now:      time.Now,
		sessions: map[string]*session{},
	}
	for _, t := range cfg.Targets {
		p, err := newPublisher(t, s.m, s.log)
		if err != nil {
			for _, p := range s.pubs {
				p.close(context.Background())
			}
			return nil, err
		}
		s.pubs = append(s.pubs, p)
	}
	s.base, s.halt = context.WithCancel(context.Background())
	go s.watchStops()
	return s, nil
}

// Status codes of the start and stop responses.
const (
	CodeOK          = 1000
	CodeInvalid     = 4000
	CodeUnknown     = 4004
	CodeUnavailable = 5003
	CodeInternal    = 5000
)

// Error is a failed request: the HTTP status and the body's status.
type Error struct {
	HTTPStatus  int
	Code        int
	Description string
}

func (e *Error) Error() string { return fmt.Sprintf("live: %s", e.Description) }

func invalid(format string, args ...any) *Error {
	return &Error{HTTPStatus: http.StatusBadRequest, Code: CodeInvalid, Description: fmt.Sprintf(format, args...)}
}

func internal(err error) *Error {
	return &Error{HTTPStatus: http.StatusInternalServerError, Code: CodeInternal, Description: err.Error()}
}

// StartRequest is the body of start-streaming.
type StartRequest struct {
	Namespace  string `json:"namespace"`
	GUID       string `json:"guid"`
	CustomerID string `json:"customerId"`
	AgentID    string `json:"agentId"`
	Params     struct {
		Language string `json:"language"`
		// Redaction, when false, turns digit masking off for this call.
		Redaction *bool `json:"redaction"`
	} `json:"autotranscribeParams"`
	Connect struct {
		StreamARN           string `json:"streamArn"`
		StartSelectorType   string `json:"startSelectorType"`
		AfterFragmentNumber string `json:"afterFragmentNumber"`
	} `json:"amazonConnectParams"`
}

// StopRequest is the body of stop-streaming.
type StopRequest struct {
	Namespace string `json:"namespace"`
	GUID      string `json:"guid"`
}

// Response is the body of the start and stop responses.
type Response struct {
	IsOK     bool          `json:"isOk"`
	Response *Participants `json:"autotranscribeResponse,omitempty"`
	Error    *Status       `json:"error,omitempty"`
}

// Participants are the two streams of a conversation.
type Participants struct {
	Customer Participant `json:"customer"`
	Agent    Participant `json:"agent"`
}

// Participant is one participant's stream.
type Participant struct {
	StreamID string   `json:"streamId"`
	Status   Status   `json:"status"`
	Summary  *Summary `json:"summary,omitempty"`
}

// Status is the outcome of a request for one stream.
type Status struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// Summary is what a participant's stream carried, returned by stop.
type Summary struct {
	TotalAudioBytes  int64 `json:"totalAudioBytes"`
	AudioDurationMS  int64 `json:"audioDurationMs"`
	StreamingSeconds int64 `json:"streamingSeconds"`
	Transcripts      int64 `json:"transcripts"`
}

// namespace is the only namespace served.
const namespace = "amazonconnect"

func checkGUID(ns, guid string) *Error {
	if ns != namespace {
		return invalid("namespace %q is not supported (want %q)", ns, namespace)
	}
	if guid == "" {
		return invalid("guid is required: the Amazon Connect contact ID")
	}
	if len(guid) > 256 || strings.ContainsFunc(guid, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return invalid("guid must be 1 to 256 printable characters without spaces")
	}
	return nil
}

func (r *StartRequest) check() (kvs.Live, *Error) {
	if err := checkGUID(r.Namespace, r.GUID); err != nil {
		return kvs.Live{}, err
	}
	for _, f := range []struct{ name, v string }{{"customerId", r.CustomerID}, {"agentId", r.AgentID}} {
		if len(f.v) > 256 {
			return kvs.Live{}, invalid("%s must be at most 256 characters", f.name)
		}
	}
	if l := r.Params.Language; l != "" && (len(l) > 35 || strings.ContainsAny(l, " \t/")) {
		return kvs.Live{}, invalid("autotranscribeParams.language %q is not a language tag such as en-US", l)
	}
	c := r.Connect
	arn := c.StreamARN
	if arn == "" {
		return kvs.Live{}, invalid("amazonConnectParams.streamArn is required: $.MediaStreams.Customer.Audio.StreamARN of the contact")
	}
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":kinesisvideo:") || !strings.Contains(arn, ":stream/") {
		return kvs.Live{}, invalid("amazonConnectParams.streamArn %q is not a Kinesis video stream ARN", arn)
	}
	live := kvs.Live{Stream: kvs.Stream{ARN: arn}}
	switch c.StartSelectorType {
	case "NOW", "":
		if c.AfterFragmentNumber != "" {
			return kvs.Live{}, invalid("amazonConnectParams.afterFragmentNumber needs startSelectorType FRAGMENT_NUMBER")
		}
		live.Start = kvs.StartSelector{Type: kvs.StartNow}
	case "FRAGMENT_NUMBER":
		if !mkv.ValidFragmentNumber(c.AfterFragmentNumber) {
			return kvs.Live{}, invalid("amazonConnectParams.afterFragmentNumber %q must be a fragment number (1 to 128 digits) with startSelectorType FRAGMENT_NUMBER", c.AfterFragmentNumber)
		}
		// Connect's StartFragmentNumber is where the contact's audio
		// begins: transcribe that fragment too.
		live.Start = kvs.StartSelector{Type: kvs.StartFragmentNumber, FragmentNumber: c.AfterFragmentNumber}
		live.IncludeStartFragment = true
	default:
		return kvs.Live{}, invalid("amazonConnectParams.startSelectorType %q must be NOW or FRAGMENT_NUMBER", c.StartSelectorType)
	}
	return live, nil
}

// Start starts transcribing a conversation, or returns its streams when it
// is being transcribed already, by this replica or another. A stopped
// conversation, or one whose replica went quiet, resumes with the same
// streams.
func (s *Service) Start(ctx context.Context, req *StartRequest) (*Response, error) {
	live, rerr := req.check()
	if rerr != nil {
		s.m.starts.WithLabelValues("invalid").Inc()
		return nil, rerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &Error{HTTPStatus: http.StatusServiceUnavailable, Code: CodeUnavailable, Description: "shutting down"}
	}
	if cur := s.sessions[req.GUID]; cur != nil {
		if !cur.finished() {
			s.m.starts.WithLabelValues("already_streaming").Inc()
			return startResponse(&cur.conv, "OK: already streaming"), nil
		}
		// The stream ended by itself; a new start reads on.
		if err := s.finalize(ctx, cur); err != nil {
			return nil, internal(err)
		}
	}
	conv, outcome, err := s.claim(ctx, req, live)
	if outcome != "" {
		s.m.starts.WithLabelValues(outcome).Inc()
	}
	if err != nil {
		return nil, err
	}
	if outcome == "already_streaming" {
		return startResponse(conv, "OK: already streaming"), nil
	}
	last, err := s.db.LastLiveSeq(ctx, conv.GUID)
	if err != nil {
		return nil, internal(err)
	}
	sess := s.newSession(conv, live)
	sess.seq.Store(last)
	s.sessions[conv.GUID] = sess
	s.m.active.Inc()
	read, cancel := context.WithCancel(s.base)
	beat, release := context.WithCancel(s.base)
	sess.cancel, sess.release = cancel, release
	go func() {
		sess.run(read, s.base)
		s.m.active.Dec()
	}()
	go s.keep(beat, sess)
	sess.log.Info("live transcription "+outcome, "stream_arn", conv.StreamARN, "start", string(live.Start.Type), "language", conv.Language)
	return startResponse(conv, "OK"), nil
}

// claim makes this replica the one transcribing the conversation req
// names: a new one (outcome started), a stopped one (resumed) or one whose
// replica went quiet (taken_over). When another replica transcribes it,
// claim returns its row and already_streaming. s.mu is held.
func (s *Service) claim(ctx context.Context, req *StartRequest, live kvs.Live) (*store.LiveConversation, string, error) {
	for range 3 {
		seen, err := s.db.LiveConversation(ctx, req.GUID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, "", internal(err)
		}
		now := s.now()
		if seen != nil && s.held(seen, now) {
			return seen, "already_streaming", nil
		}
		if s.running() >= s.cfg.MaxConversations {
			return nil, "rejected", &Error{HTTPStatus: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Description: fmt.Sprintf("at capacity: %d conversations are being transcribed", s.cfg.MaxConversations)}
		}
		var conv store.LiveConversation
		if seen != nil {
			conv = *seen
		} else {
			conv = store.LiveConversation{
				GUID:             req.GUID,
				Namespace:        req.Namespace,
				CustomerStreamID: newStreamID(),
				AgentStreamID:    newStreamID(),
				StartedAt:        now.UTC(),
			}
		}
		conv.CustomerID, conv.AgentID = req.CustomerID, req.AgentID
		conv.Language = req.Params.Language
		if conv.Language == "" {
			conv.Language = s.cfg.Language
		}
		conv.Redact = !s.cfg.Redaction.Disabled
		if req.Params.Redaction != nil {
			conv.Redact = *req.Params.Redaction
		}
		conv.StreamARN = live.Stream.ARN
		conv.State = store.LiveActive
		conv.StoppedAt = time.Time{}
		var won bool
		if seen == nil {
			conv.UpdatedAt = nextVersion(now, time.Time{})
			won, err = s.db.InsertLiveConversation(ctx, &conv)
		} else {
			conv.UpdatedAt = nextVersion(now, seen.UpdatedAt)
			won, err = s.db.ReplaceLiveConversation(ctx, &conv, seen.UpdatedAt)
		}
		switch {
		case err != nil:
			return nil, "", internal(err)
		case !won:
			continue // another replica wrote it first: look again
		case seen == nil:
			return &conv, "started", nil
		case seen.State == store.LiveStopped:
			return &conv, "resumed", nil
		}
		s.log.Warn("live transcription taken over: the replica transcribing it went quiet", "contact_id", conv.GUID, "last_heartbeat", seen.UpdatedAt)
		return &conv, "taken_over", nil
	}
	return nil, "", &Error{HTTPStatus: http.StatusServiceUnavailable, Code: CodeUnavailable,
		Description: "other replicas changed the conversation while it was being started; start again"}
}

// held reports whether a replica transcribes conv: it is not stopped and
// its heartbeat is fresh.
func (s *Service) held(conv *store.LiveConversation, now time.Time) bool {
	return conv.State != store.LiveStopped && now.Sub(conv.UpdatedAt) < s.cfg.StaleAfter
}

// nextVersion is the version a write at now gives a row at version v: now
// in the database's milliseconds, or a millisecond after v when now is not
// later (clocks differ between replicas).
func nextVersion(now, v time.Time) time.Time {
	now = now.UTC().Truncate(time.Millisecond)
	if now.After(v) {
		return now
	}
	return v.UTC().Truncate(time.Millisecond).Add(time.Millisecond)
}

func (s *Service) newSession(conv *store.LiveConversation, live kvs.Live) *session {
	prior := parseSummary(conv.Summary)
	sess := &session{
		svc:     s,
		conv:    *conv,
		live:    live,
		prior:   prior,
		origin:  prior.Origin,
		started: s.now(),
		log:     s.log.With("contact_id", conv.GUID),
		done:    make(chan struct{}),
		version: conv.UpdatedAt,
	}
	sess.roles[0] = &role{name: RoleCustomer, streamID: conv.CustomerStreamID, externalID: conv.CustomerID, utts: make(chan heard, 64)}
	sess.roles[1] = &role{name: RoleAgent, streamID: conv.AgentStreamID, externalID: conv.AgentID, utts: make(chan heard, 64)}
	return sess
}

func (sess *session) finished() bool {
	select {
	case <-sess.done:
		return true
	default:
		return false
	}
}

// running counts the sessions still reading; s.mu is held.
func (s *Service) running() int {
	n := 0
	for _, sess := range s.sessions {
		if !sess.finished() {
			n++
		}
	}
	return n
}

func startResponse(c *store.LiveConversation, desc string) *Response {
	return &Response{IsOK: true, Response: &Participants{
		Customer: Participant{StreamID: c.CustomerStreamID, Status: Status{CodeOK, desc}},
		Agent:    Participant{StreamID: c.AgentStreamID, Status: Status{CodeOK, desc}},
	}}
}

// Stop stops transcribing a conversation and returns what each stream
// carried. It waits for the utterances already heard to be transcribed.
// Stopping a stopped conversation returns its summary again. When another
// replica transcribes the conversation, Stop asks it through the database
// and answers with the summary it stores; a conversation whose replica went
// quiet is marked stopped with the counts of its last heartbeat.
func (s *Service) Stop(ctx context.Context, req *StopRequest) (*Response, error) {
	if err := checkGUID(req.Namespace, req.GUID); err != nil {
		return nil, err
	}
	var deadline time.Time // of the wait for another replica, once asked
	for {
		s.mu.Lock()
		sess := s.sessions[req.GUID]
		s.mu.Unlock()
		if sess != nil {
			return s.stopSession(ctx, sess)
		}
		conv, err := s.db.LiveConversation(ctx, req.GUID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{HTTPStatus: http.StatusNotFound, Code: CodeUnknown,
				Description: fmt.Sprintf("no conversation %q was started: call start-streaming first", req.GUID)}
		}
		if err != nil {
			return nil, internal(err)
		}
		now := s.now()
		switch {
		case conv.State == store.LiveStopped:
			desc := "OK: already stopped"
			if !deadline.IsZero() {
				desc = "OK" // by the replica that transcribed it
			}
			return stopResponse(conv, parseSummary(conv.Summary), desc), nil
		case !s.held(conv, now):
			// Its transcription ended with the replica that ran it.
			stopped := *conv
			stopped.State, stopped.StoppedAt = store.LiveStopped, now.UTC()
			stopped.UpdatedAt = nextVersion(now, conv.UpdatedAt)
			won, err := s.db.ReplaceLiveConversation(ctx, &stopped, conv.UpdatedAt)
			if err != nil {
				return nil, internal(err)
			}
			if won {
				return stopResponse(&stopped, parseSummary(stopped.Summary), "OK: stopped (its transcription had ended)"), nil
			}
			continue // it changed meanwhile: look again
		case deadline.IsZero():
			if _, err := s.db.RequestLiveStop(ctx, req.GUID); err != nil {
				return nil, internal(err)
			}
			s.log.Info("stop requested from the replica transcribing the conversation", "contact_id", req.GUID)
			// That replica sees the request within StopPoll, then stops
			// as a stop-streaming it received would.
			deadline = now.Add(s.cfg.StopGrace + s.cfg.DrainTimeout + 2*s.cfg.StopPoll)
		case now.After(deadline):
			return nil, &Error{HTTPStatus: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Description: fmt.Sprintf("stop requested, but the replica transcribing %q has not stopped it yet: stop again for the summary", req.GUID)}
		}
		select {
		case <-time.After(s.cfg.StopPoll):
		case <-ctx.Done():
			return nil, internal(ctx.Err())
		}
	}
}

// stopSession stops a session of this replica and stores its summary.
func (s *Service) stopSession(ctx context.Context, sess *session) (*Response, error) {
	sess.stop(s.cfg.StopGrace)
	select {
	case <-sess.done:
	case <-time.After(s.cfg.StopGrace + s.cfg.DrainTimeout):
		// Give up waiting; the summary counts what is done so far.
		sess.log.Warn("stop: transcription still draining; answering with the counts so far")
	case <-ctx.Done():
		return nil, internal(ctx.Err())
	}
	s.mu.Lock()
	if s.sessions[sess.conv.GUID] != sess {
		s.mu.Unlock()
		// A concurrent stop answered first, or another replica took the
		// conversation over: the database says which.
		return s.Stop(ctx, &StopRequest{Namespace: sess.conv.Namespace, GUID: sess.conv.GUID})
	}
	defer s.mu.Unlock()
	if err := s.finalize(ctx, sess); err != nil {
		return nil, internal(err)
	}
	return stopResponse(&sess.conv, sess.totals(), "OK"), nil
}

// finalize stores a session's totals, marks its conversation stopped and
// forgets the session; s.mu is held. A conversation another replica took
// over meanwhile (taking this one for dead) is left as it is.
func (s *Service) finalize(ctx context.Context, sess *session) error {
	sess.release()
	delete(s.sessions, sess.conv.GUID)
	summary, err := sess.summary()
	if err != nil {
		return err
	}
	sess.dbMu.Lock()
	defer sess.dbMu.Unlock()
	now := s.now()
	sess.conv.Summary, sess.conv.State, sess.conv.StoppedAt = summary, store.LiveStopped, now.UTC()
	sess.conv.UpdatedAt = nextVersion(now, sess.version)
	// The summary is stored even when the caller has gone.
	won, err := s.db.ReplaceLiveConversation(context.WithoutCancel(ctx), &sess.conv, sess.version)
	if err != nil {
		return err
	}
	if !won {
		sess.log.Warn("another replica took the conversation over; this replica's counts are not stored")
	}
	return nil
}

// keep is a session's heartbeat: every Heartbeat it moves its row's
// version on with the counts so far, until the session is finalized. When
// the row moved on without it, another replica took this one for dead and
// the conversation over: the session ends without storing anything.
func (s *Service) keep(ctx context.Context, sess *session) {
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := sess.beat(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			sess.log.Warn("live heartbeat not recorded", "error", err)
		case !held:
			s.abandon(sess)
			return
		}
	}
}

// beat records one heartbeat unless ctx has ended (the session was
// finalized).
func (sess *session) beat(ctx context.Context) (bool, error) {
	summary, err := sess.summary()
	if err != nil {
		return false, err
	}
	sess.dbMu.Lock()
	defer sess.dbMu.Unlock()
	if ctx.Err() != nil {
		return true, nil
	}
	at := nextVersion(sess.svc.now(), sess.version)
	// Not cancelled by finalize: a heartbeat stored but not seen to be
	// would leave finalize at an old version.
	held, err := sess.svc.db.BeatLiveConversation(context.WithoutCancel(ctx), sess.conv.GUID, sess.version, at, summary)
	if held {
		sess.version = at
	}
	return held, err
}

// abandon ends a session whose conversation another replica took over.
func (s *Service) abandon(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.conv.GUID] != sess {
		return
	}
	delete(s.sessions, sess.conv.GUID)
	sess.release()
	sess.cancel()
	sess.log.Warn("live transcription given up: another replica took this one for dead and the conversation over")
}

// watchStops stops, every StopPoll, this replica's sessions whose
// stop-streaming reached another replica.
func (s *Service) watchStops() {
	t := time.NewTicker(s.cfg.StopPoll)
	defer t.Stop()
	for {
		select {
		case <-s.base.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := len(s.sessions) == 0
		s.mu.Unlock()
		if idle {
			continue
		}
		guids, err := s.db.StoppingLiveConversations(s.base)
		if err != nil {
			if s.base.Err() == nil {
				s.log.Warn("looking for stop requests", "error", err)
			}
			continue
		}
		for _, g := range guids {
			s.mu.Lock()
			sess := s.sessions[g]
			s.mu.Unlock()
			if sess == nil || !sess.stopping.CompareAndSwap(false, true) {
				continue // another replica's, or being stopped
			}
			sess.log.Info("stop-streaming reached another replica; stopping")
			go func() {
				if _, err := s.stopSession(s.base, sess); err != nil && s.base.Err() == nil {
					sess.log.Error("stop requested through another replica", "error", err)
				}
			}()
		}
	}
}

func stopResponse(c *store.LiveConversation, d summaryDoc, desc string) *Response {
	secs := (d.StreamingMS + 999) / 1000
	part := func(id, name string) Participant {
		n := d.Roles[name]
		return Participant{StreamID: id, Status: Status{CodeOK, desc}, Summary: &Summary{
			TotalAudioBytes:  n.Bytes,
			AudioDurationMS:  n.Bytes / bytesPerMS,
			StreamingSeconds: secs,
			Transcripts:      n.Messages,
		}}
	}
	return &Response{IsOK: true, Response: &Participants{
		Customer: part(c.CustomerStreamID, RoleCustomer),
		Agent:    part(c.AgentStreamID, RoleAgent),
	}}
}

// Close stops every conversation as stop-streaming would, then gives the
// targets until ctx ends to receive what is queued.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	var all []*session
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	var errs []error
	for _, sess := range all {
		if _, err := s.Stop(ctx, &StopRequest{Namespace: namespace, GUID: sess.conv.GUID}); err != nil {
			errs = append(errs, err)
		}
	}
	s.halt()
	for _, p := range s.pubs {
		p.close(ctx)
	}
	return errors.Join(errs...)
}

// newStreamID returns a random UUID (version 4).
func newStreamID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

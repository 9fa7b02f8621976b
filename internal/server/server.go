// Package server is vmx's HTTP API: contact-record intake, the voicemail
// listing and replay, recording links, health and metrics.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vmx-dev/vmx/internal/ctr"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// ErrUnreadable is wrapped by Intake's error for input that holds no
// contact record at all: retrying it cannot help.
var ErrUnreadable = errors.New("no contact record could be read")

// MaxIntakeBytes bounds one POST /v1/ctr body.
const MaxIntakeBytes = 64 << 20

// Config is what the server needs.
type Config struct {
	Pipeline *pipeline.Pipeline
	Store    *store.Store
	Intake   ctr.Config
	// APIKey guards every endpoint but health and media links (which carry
	// their own signature).
	APIKey string
	// NoAuth serves the API without a key; it must be chosen explicitly.
	NoAuth bool
	// Media serves /v1/media/<contactId> links.
	Media http.Handler
	// Presigner, when set, serves POST /v1/connect/presign: the link to a
	// voicemail's recording for a guided task. It needs the API key: the
	// link opens the recording.
	Presigner http.Handler
	// Recordings, when set, serves /v1/recordings: call recording.
	Recordings http.Handler
	// Live, when set, serves the live transcription API under
	// /mg-autotranscribe/ and /conversation/.
	Live http.Handler
	// Inbox, when set, serves everything else: vmx's web inbox at "/".
	Inbox    http.Handler
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Server is the API.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New returns the API handler.
func New(cfg Config) (*Server, error) {
	if cfg.APIKey == "" && !cfg.NoAuth {
		return nil, errors.New("server: an API key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.Handle("GET /readyz", s.handle(s.ready))
	s.mux.Handle("POST /v1/ctr", s.auth(s.handle(s.intake)))
	s.mux.Handle("GET /v1/voicemails", s.auth(s.handle(s.list)))
	s.mux.Handle("GET /v1/voicemails/{id}", s.auth(s.handle(s.get)))
	s.mux.Handle("POST /v1/voicemails/{id}/retry", s.auth(s.handle(s.retry)))
	if cfg.Recordings != nil {
		s.mux.Handle("/v1/recordings", s.auth(cfg.Recordings))
		s.mux.Handle("/v1/recordings/", s.auth(cfg.Recordings))
	}
	if cfg.Live != nil {
		s.mux.Handle("/mg-autotranscribe/", s.auth(cfg.Live))
		s.mux.Handle("/conversation/", s.auth(cfg.Live))
	}
	if cfg.Inbox != nil {
		s.mux.Handle("/", cfg.Inbox)
	}
	if cfg.Presigner != nil {
		s.mux.Handle("POST /v1/connect/presign", s.auth(cfg.Presigner))
	}
	if cfg.Media != nil {
		s.mux.Handle("GET /v1/media/{id}", cfg.Media)
		s.mux.Handle("HEAD /v1/media/{id}", cfg.Media)
	}
	if cfg.Registry != nil {
		s.mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))
	}
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// httpError is an error with the status it answers.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func errorf(status int, format string, args ...any) error {
	return &httpError{status, fmt.Errorf(format, args...)}
}

// handle turns a handler that returns an error into an http.Handler that
// answers it as JSON, logging server errors once with an id the client sees.
func (s *Server) handle(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status := http.StatusInternalServerError
		var he *httpError
		if errors.As(err, &he) {
			status = he.status
		}
		body := map[string]string{"error": err.Error()}
		if status >= 500 {
			id := newID()
			body["error_id"] = id
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "err_id", id)
		}
		writeJSON(w, status, body)
	})
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// auth requires the API key as a bearer token or in X-API-Key.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.NoAuth {
		return next
	}
	want := []byte(s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-API-Key")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = b
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vmx"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong API key"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		return errorf(http.StatusServiceUnavailable, "database: %v", err)
	}
	io.WriteString(w, "ready\n")
	return nil
}

// IntakeResult says what became of one contact record.
type IntakeResult struct {
	Position  string `json:"position,omitempty"`
	ContactID string `json:"contact_id,omitempty"`
	// Outcome is accepted, duplicate, ignored, invalid or error.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// IntakeSummary answers POST /v1/ctr.
type IntakeSummary struct {
	Records    int            `json:"records"`
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Ignored    int            `json:"ignored"`
	Invalid    int            `json:"invalid"`
	Errors     int            `json:"errors"`
	Results    []IntakeResult `json:"results"`
}

// Intake interprets and stores every contact record in r. It is shared by
// the HTTP endpoint, `vmx ctr replay` and the Kinesis consumer. A storage
// failure is returned as an error: nothing after it was taken, and the
// sender must retry (records are idempotent).
func Intake(ctx context.Context, p *pipeline.Pipeline, cfg ctr.Config, r io.Reader) (*IntakeSummary, error) {
	sum := &IntakeSummary{Results: []IntakeResult{}}
	rd := ctr.NewReader(r)
	for {
		item, err := rd.Next()
		if err == io.EOF {
			return sum, nil
		}
		if err != nil {
			return sum, &httpError{http.StatusBadRequest, fmt.Errorf("%w: %v", ErrUnreadable, err)}
		}
		sum.Records++
		res, err := intakeItem(ctx, p, cfg, item)
		if err != nil {
			return sum, err
		}
		switch res.Outcome {
		case "accepted":
			sum.Accepted++
		case "duplicate":
			sum.Duplicates++
		case "ignored":
			sum.Ignored++
		case "invalid":
			sum.Invalid++
		case "error":
			sum.Errors++
		}
		sum.Results = append(sum.Results, res)
	}
}

func intakeItem(ctx context.Context, p *pipeline.Pipeline, cfg ctr.Config, item ctr.Item) (IntakeResult, error) {
	res := IntakeResult{Position: item.Pos.String()}
	if item.Err != nil {
		res.Outcome, res.Reason = "error", item.Err.Error()
		return res, nil
	}
	out := ctr.Interpret(item.CTR, cfg)
	res.ContactID = out.Request.ContactID
	switch out.Kind {
	case ctr.Ignored:
		p.Metrics.Ignored(out.Cause)
		res.Outcome, res.Reason = "ignored", out.Reason
		return res, nil
	case ctr.Invalid:
		res.Outcome, res.Reason = "invalid", out.Reason
		if out.Request.ContactID == "" {
			return res, nil // nothing to store it under
		}
	default:
		res.Outcome = "accepted"
	}
	inserted, err := p.Accept(ctx, &out.Request, out.Reason)
	if err != nil {
		return res, err
	}
	if !inserted {
		res.Outcome = "duplicate"
	}
	return res, nil
}

func (s *Server) intake(w http.ResponseWriter, r *http.Request) error {
	sum, err := Intake(r.Context(), s.cfg.Pipeline, s.cfg.Intake, http.MaxBytesReader(w, r.Body, MaxIntakeBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", MaxIntakeBytes)
		}
		return err
	}
	status := http.StatusOK
	if sum.Accepted > 0 {
		status = http.StatusAccepted
	}
	writeJSON(w, status, sum)
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.Filter{Status: voicemail.Status(q.Get("status")), QueueARN: q.Get("queue"), After: q.Get("cursor")}
	switch f.Status {
	case "", voicemail.StatusQueued, voicemail.StatusDelivered, voicemail.StatusFailed, voicemail.StatusEmpty:
	default:
		return errorf(http.StatusBadRequest, "status %q: want queued, delivered, failed or empty", f.Status)
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errorf(http.StatusBadRequest, "since %q: want RFC 3339", v)
		}
		f.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return errorf(http.StatusBadRequest, "limit %q: want 1 to 500", v)
		}
		f.Limit = n
	}
	page, err := s.cfg.Store.List(r.Context(), f)
	if err != nil {
		if strings.Contains(err.Error(), "invalid cursor") {
			return errorf(http.StatusBadRequest, "%v", err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no voicemail for contact %q", r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.cfg.Pipeline.Retry(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "no voicemail for contact %q", r.PathValue("id"))
	case errors.Is(err, pipeline.ErrNotFailed), errors.Is(err, pipeline.ErrInvalid):
		return errorf(http.StatusConflict, "%v", err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusAccepted, rec)
	return nil
}

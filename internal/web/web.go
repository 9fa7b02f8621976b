// Package web is vmx's inbox: a small web application, served at "/" by
// vmx serve, where agents and supervisors sign in, list the voicemails they
// may see, play them, read their transcripts and mark them handled.
//
// Users are local (vmx user add), with bcrypt password hashes and a role:
// an admin sees every voicemail, assigns and deletes them; an agent sees the
// voicemails routed to their Amazon Connect agent, those of their queues and
// those assigned to them. Sessions are kept in the database, by the SHA-256
// of a random 256-bit cookie, so that any replica serves any user; live
// updates come from polling the database for the same reason.
//
// Pages are server-rendered html/template with a little CSS and vanilla JS,
// all embedded: no build step. The Sink delivers voicemails into the inbox
// (delivery mode "inbox").
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	template "github.com/DataDog/datadog-agent/pkg/template/html"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/store"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Defaults of Config.
const (
	DefaultSessionLifetime = 12 * time.Hour
	DefaultPageSize        = 25
	DefaultPollInterval    = time.Second
	DefaultLoginFailures   = 5
	DefaultLoginLockout    = 15 * time.Minute
)

// Config configures the inbox.
type Config struct {
	// PublicURL is where users reach vmx, as "https://vmx.example.com".
	// Cookies are Secure (and named with the __Host- prefix) when it is
	// https. Required.
	PublicURL string
	// SessionLifetime is how long a sign-in lasts. Default 12 h.
	SessionLifetime time.Duration
	// Location is the contact centre's time zone, in which times are
	// shown and date filters are read. Default UTC.
	Location *time.Location
	// PageSize is the number of voicemails per page. Default 25, at most
	// 200.
	PageSize int
	// PollInterval is how often the database is asked for changed
	// voicemails while someone watches the list. Default 1 s.
	PollInterval time.Duration
	// LoginFailures wrong passwords for one username within LoginLockout
	// lock that username out until LoginLockout has passed since the
	// first. Defaults 5 and 15 min.
	LoginFailures int
	LoginLockout  time.Duration
	// PasswordCost is the bcrypt cost sign-ins of unknown usernames are
	// checked at, so that they take as long as those of real users; set it
	// to the cost user hashes were made with. Default DefaultPasswordCost.
	PasswordCost int
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.PublicURL); c.PublicURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("web: public URL %q: want http(s)://host", c.PublicURL))
	}
	if c.SessionLifetime < 0 || c.SessionLifetime > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("web: session lifetime %s outside [0, 720h]", c.SessionLifetime))
	}
	if c.SessionLifetime > 0 && c.SessionLifetime < time.Minute {
		errs = append(errs, fmt.Errorf("web: session lifetime %s is under a minute", c.SessionLifetime))
	}
	if c.PageSize < 0 || c.PageSize > 200 {
		errs = append(errs, fmt.Errorf("web: page size %d outside [1, 200]", c.PageSize))
	}
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < 100*time.Millisecond) || c.PollInterval > time.Minute {
		errs = append(errs, fmt.Errorf("web: poll interval %s outside [100ms, 1m]", c.PollInterval))
	}
	if c.LoginFailures < 0 {
		errs = append(errs, fmt.Errorf("web: login failures %d is negative", c.LoginFailures))
	}
	if c.LoginLockout < 0 {
		errs = append(errs, fmt.Errorf("web: login lockout %s is negative", c.LoginLockout))
	}
	if c.PasswordCost != 0 && (c.PasswordCost < minPasswordCost || c.PasswordCost > maxPasswordCost) {
		errs = append(errs, fmt.Errorf("web: password cost %d outside [%d, %d]", c.PasswordCost, minPasswordCost, maxPasswordCost))
	}
	return errors.Join(errs...)
}

// Blobs reads stored transcripts, for their segment times.
type Blobs interface {
	Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// Deps are what the inbox works with.
type Deps struct {
	// Store holds voicemails, users and sessions. Required.
	Store *store.Store
	// MediaURL returns a fresh signed link to a contact's recording
	// (media.Signer). Required.
	MediaURL func(contactID string) string
	// Transcripts, when set, holds the Transcribe-shaped transcript
	// documents whose vmx.segments give the transcript's times.
	Transcripts Blobs
	// Delete, when set, deletes a voicemail: its files and its row.
	Delete func(ctx context.Context, contactID string) error
	// Retry, when set, replays a failed voicemail.
	Retry func(ctx context.Context, contactID string) error
	// Redact, when set, masks what agents must not read (card numbers) in
	// the transcripts shown.
	Redact func(string) string
	// Logger receives request failures. Default: none.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Handler serves the inbox. Mount it at "/".
type Handler struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	pages   map[string]*template.Template
	assets  map[string]string // name -> version, for cache busting
	secure  bool
	cookie  string // session cookie name
	csp     string
	limiter *limiter
	hub     *hub
	dummy   struct {
		once sync.Once
		hash []byte
	}
	queues struct {
		mu   sync.Mutex
		list []store.Queue
		at   time.Time
	}
	closing   chan struct{}
	closeOnce sync.Once
}

// New checks cfg and deps and returns the inbox handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("web: Store is required")
	}
	if deps.MediaURL == nil {
		return nil, errors.New("web: MediaURL is required")
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.LoginFailures == 0 {
		cfg.LoginFailures = DefaultLoginFailures
	}
	if cfg.LoginLockout == 0 {
		cfg.LoginLockout = DefaultLoginLockout
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = DefaultPasswordCost
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	pub, _ := url.Parse(cfg.PublicURL)
	h := &Handler{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Logger.With("component", "web"),
		mux:     http.NewServeMux(),
		secure:  pub.Scheme == "https",
		limiter: newLimiter(cfg.LoginFailures, cfg.LoginLockout),
		closing: make(chan struct{}),
	}
	h.cookie = "vmx_session"
	if h.secure {
		// __Host- cookies must be Secure, for "/" and without a Domain:
		// no other host or path can set or shadow them.
		h.cookie = "__Host-vmx_session"
	}
	// Recordings may be redirected to presigned S3 URLs: any https origin.
	h.csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"media-src 'self' " + pub.Scheme + "://" + pub.Host + " https:; connect-src 'self'; " +
		"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
	h.hub = newHub(deps.Store, cfg.PollInterval, deps.Now, h.log)
	if err := h.loadAssets(); err != nil {
		return nil, err
	}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	h.mux.Handle("GET /{$}", h.authed(h.list))
	h.mux.Handle("GET /list", h.authed(h.listFragment))
	h.mux.Handle("GET /login", h.handle(h.loginForm))
	h.mux.Handle("POST /login", h.handle(h.login))
	h.mux.Handle("POST /logout", h.authed(h.logout))
	h.mux.Handle("GET /voicemails/{id}", h.authed(h.detail))
	h.mux.Handle("POST /voicemails/{id}/state", h.authed(h.setState))
	h.mux.Handle("POST /voicemails/{id}/assign", h.authed(h.assign))
	h.mux.Handle("GET /voicemails/{id}/delete", h.authed(h.confirmDelete))
	h.mux.Handle("POST /voicemails/{id}/delete", h.authed(h.delete))
	h.mux.Handle("POST /voicemails/{id}/retry", h.authed(h.retry))
	h.mux.Handle("GET /events", h.authed(h.events))
	h.mux.Handle("GET /assets/{name}", http.HandlerFunc(h.asset))
	h.mux.Handle("/", h.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound
	}))
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// Close ends the live-update streams, which would otherwise keep
// http.Server.Shutdown waiting: register it with RegisterOnShutdown.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closing) })
	h.hub.close()
}

// httpError is an error with the status and the message the user sees.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

var errNotFound = errorf(http.StatusNotFound, "There is nothing here, or you may not see it.")

// handle turns a handler that returns an error into an http.Handler that
// answers it with an error page; server errors are logged once with an ID
// the page shows.
func (h *Handler) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			h.fail(w, r, nil, err)
		}
	})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status, msg, errID := http.StatusInternalServerError, "Something went wrong.", ""
	var he *httpError
	if errors.As(err, &he) {
		status, msg = he.status, he.msg
	}
	if status >= 500 {
		b := make([]byte, 6)
		rand.Read(b)
		errID = hex.EncodeToString(b)
		h.log.LogAttrs(r.Context(), slog.LevelError, "inbox request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("contact_id", r.PathValue("id")), slog.String("err_id", errID), slog.Any("err", err))
	}
	data := errorPage{base: h.base(r, s, http.StatusText(status)), Status: status, Detail: msg, ErrID: errID}
	h.render(w, status, "error", data)
}

// render writes a page; a template failure after the header went out can
// only be logged.
func (h *Handler) render(w http.ResponseWriter, status int, page string, data any) {
	h.execute(w, status, page, "page", data)
}

// execute renders template name of page in full before answering, so that
// a template that fails answers 500 rather than a truncated page.
func (h *Handler) execute(w http.ResponseWriter, status int, page, name string, data any) {
	var b bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		h.log.Error("render page", "page", page, "template", name, "err", err)
		http.Error(w, "This page could not be shown; the error is in vmx's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w)
}

func (h *Handler) loadAssets() error {
	h.assets = map[string]string{}
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		return fmt.Errorf("web: assets: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(files, "assets/"+e.Name())
		if err != nil {
			return fmt.Errorf("web: assets: %w", err)
		}
		sum := sha256.Sum256(b)
		h.assets[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return nil
}

// asset serves an embedded asset; a versioned URL is cached for a year.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == v {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, files, "assets/"+name)
}

func (h *Handler) assetURL(name string) string {
	return "/assets/" + name + "?v=" + h.assets[name]
}

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"asset":    h.assetURL,
		"time":     h.formatTime,
		"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"duration": formatDuration,
		"clock":    formatClock,
		"seconds":  formatSeconds,
		"tel":      telURL,
		"queue":    queueLabel,
		"agent":    agentLabel,
		"status":   statusLabel,
		"snippet":  snippet,
		"redact":   h.redact,
		"lower":    strings.ToLower,
		"queueID":  queueID,
	}
	h.pages = map[string]*template.Template{}
	for _, page := range []string{"login", "list", "detail", "delete", "error"} {
		t, err := template.New(page).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return fmt.Errorf("web: templates: %w", err)
		}
		h.pages[page] = t
	}
	return nil
}

func (h *Handler) redact(s string) string {
	if h.deps.Redact == nil {
		return s
	}
	return h.deps.Redact(s)
}

func (h *Handler) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(h.cfg.Location).Format("Mon 2 Jan 2006 15:04 MST")
}

// base is what every page shows: the title and the signed-in user.
type base struct {
	Title string
	User  *store.User
	CSRF  string
	// Message is a notice after an action ("Marked handled").
	Message string
}

func (h *Handler) base(r *http.Request, s *session, title string) base {
	b := base{Title: title, Message: message(r.URL.Query().Get("done"))}
	if s != nil {
		b.User, b.CSRF = s.user, s.csrf
	}
	return b
}

// message is the notice an action's redirect asks for: from a fixed set,
// so that no link can put words on the page.
func message(key string) string {
	switch key {
	case "handled":
		return "Marked handled."
	case "new":
		return "Marked new."
	case "assigned":
		return "Assignment saved."
	case "unassigned":
		return "Assignment removed."
	case "deleted":
		return "Voicemail deleted."
	case "retried":
		return "Voicemail queued for another try."
	case "signedout":
		return "You are signed out."
	}
	return ""
}

type errorPage struct {
	base
	Status int
	Detail string
	ErrID  string
}

// localRedirect reports whether next is a path on this site, safe to
// redirect to after sign-in.
func localRedirect(next string) bool {
	return strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.HasPrefix(next, "/\\") &&
		!strings.ContainsAny(next, "\r\n")
}

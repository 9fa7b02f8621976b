package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/clocktest"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/web"
)

const (
	queueA   = "arn:aws:connect:us-east-1:111122223333:instance/inst-1/queue/qa"
	queueB   = "arn:aws:connect:us-east-1:111122223333:instance/inst-1/queue/qb"
	password = "correct horse battery"
)

// env is an inbox on a real store, blob directory and media handler,
// served by an httptest server.
type env struct {
	t     *testing.T
	store *store.Store
	blobs *blob.Local
	srv   *httptest.Server
	mux   *http.ServeMux
	h     *web.Handler
	clock *clocktest.Clock
	mu    sync.Mutex
	// deleted and retried record what the actions asked for.
	deleted, retried []string
}

type envOptions struct {
	publicURL string // default: the test server's URL
	pageSize  int
	location  *time.Location
	redact    func(string) string
}

func newEnv(t *testing.T, dsn string, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, blobs: blobs, mux: http.NewServeMux(), clock: &clocktest.Clock{}}
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	signer := media.Signer{Secret: []byte("0123456789abcdef0123456789abcdef"), BaseURL: e.srv.URL}
	mh, err := media.NewHandler(media.Config{Signer: signer, Blobs: blobs,
		Contacts: media.ResolverFunc(func(ctx context.Context, id string) (string, error) {
			rec, err := st.Get(ctx, id)
			if err != nil || rec.AudioKey == "" {
				return "", media.ErrUnknownContact
			}
			return rec.AudioKey, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	if o.publicURL == "" {
		o.publicURL = e.srv.URL
	}
	e.h, err = web.New(web.Config{PublicURL: o.publicURL, PageSize: o.pageSize, Location: o.location,
		PollInterval: 100 * time.Millisecond, PasswordCost: bcrypt.MinCost},
		web.Deps{
			Store: st,
			MediaURL: func(id string) string {
				u, err := signer.URL(id, time.Now().Add(time.Hour))
				if err != nil {
					t.Errorf("media link: %v", err)
				}
				return u
			},
			Transcripts: blobs,
			Delete: func(ctx context.Context, id string) error {
				e.mu.Lock()
				e.deleted = append(e.deleted, id)
				e.mu.Unlock()
				return st.Delete(ctx, id)
			},
			Retry: func(ctx context.Context, id string) error {
				e.mu.Lock()
				defer e.mu.Unlock()
				e.retried = append(e.retried, id)
				return nil
			},
			Redact: o.redact,
			Now:    e.clock.Now,
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.h.Close)
	e.mux.Handle(media.PathPrefix, mh)
	e.mux.Handle("/", e.h)
	return e
}

// addUser stores a user with the test password.
func (e *env) addUser(spec web.UserSpec) *store.User {
	e.t.Helper()
	if spec.Password == "" {
		spec.Password = password
	}
	u, err := web.NewUser(spec, bcrypt.MinCost, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// users adds root (admin), amy (agent of queue A) and bob (agent of
// queue B, Connect agent agent-b).
func (e *env) users() {
	e.addUser(web.UserSpec{Username: "root", Role: store.RoleAdmin})
	e.addUser(web.UserSpec{Username: "amy", Role: store.RoleAgent, Queues: []string{queueA}})
	e.addUser(web.UserSpec{Username: "bob", Role: store.RoleAgent, AgentID: "agent-b", AgentUsername: "Bob.B", Queues: []string{queueB}})
}

// put stores a voicemail as the pipeline leaves it.
func (e *env) put(rec *voicemail.Record) *voicemail.Record {
	e.t.Helper()
	ctx := context.Background()
	if rec.Status == "" {
		rec.Status = voicemail.StatusDelivered
	}
	if rec.CallTime.IsZero() {
		rec.CallTime = time.Now().UTC().Truncate(time.Millisecond)
	}
	if rec.Caller == "" {
		rec.Caller = "+15555550100"
	}
	rec.Run, rec.Steps, rec.CreatedAt = 1, map[string]time.Time{}, rec.CallTime
	if err := e.store.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.InsertVoicemail(ctx, rec); err != nil {
			return err
		}
		return tx.Update(ctx, rec, time.Now().UTC())
	}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// putAudio stores a WAV tone of the given length and a transcript document
// with segs for rec, as the pipeline does.
func (e *env) putAudio(rec *voicemail.Record, length time.Duration, segs []asr.Segment) {
	e.t.Helper()
	ctx := context.Background()
	if rec.CallTime.IsZero() {
		rec.CallTime = time.Now().UTC().Truncate(time.Millisecond)
	}
	n := int(length.Seconds() * 8000)
	var buf bytes.Buffer
	w, err := wav.NewWriter(&buf, wav.Telephone, int64(n*2))
	if err != nil {
		e.t.Fatal(err)
	}
	pcm := make([]byte, n*2)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	if _, err := w.Write(pcm); err != nil {
		e.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		e.t.Fatal(err)
	}
	rec.AudioKey = blob.RecordingKey(rec.CallTime, rec.ContactID)
	if err := e.blobs.Put(ctx, rec.AudioKey, &buf, blob.Attrs{ContentType: "audio/wav"}); err != nil {
		e.t.Fatal(err)
	}
	rec.DurationMS = length.Milliseconds()
	var text []string
	for _, s := range segs {
		text = append(text, s.Text)
	}
	rec.Transcript = strings.Join(text, " ")
	doc, err := (&asr.Result{Text: rec.Transcript, Segments: segs, Engine: "test", AudioMS: rec.DurationMS}).TranscribeJSON("vmx_" + rec.ContactID)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.blobs.Put(ctx, blob.TranscriptKey(rec.CallTime, rec.ContactID), bytes.NewReader(doc), blob.Attrs{}); err != nil {
		e.t.Fatal(err)
	}
}

// client is a browser: a cookie jar, no redirects followed.
type client struct {
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, jar: jar, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(req *http.Request) response {
	c.e.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return response{resp.StatusCode, string(b), resp.Header}
}

func (c *client) get(path string) response {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values) response {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the token of the first form in body.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%s", body)
	}
	return m[1]
}

// signIn signs in through the form and returns the signed-in client.
func (e *env) signIn(username string) *client {
	e.t.Helper()
	c := e.client()
	if r := c.login(username, password); r.status != http.StatusSeeOther {
		e.t.Fatalf("sign in %s: %d\n%s", username, r.status, r.body)
	}
	return c
}

func (c *client) login(username, pw string) response {
	c.e.t.Helper()
	form := c.get("/login")
	if form.status != http.StatusOK {
		c.e.t.Fatalf("login form: %d", form.status)
	}
	return c.post("/login", url.Values{"_csrf": {csrf(c.e.t, form.body)}, "username": {username}, "password": {pw}})
}

// token returns the CSRF token of the signed-in client's pages.
func (c *client) token() string {
	c.e.t.Helper()
	return csrf(c.e.t, c.get("/").body)
}

// sessionCookie returns the client's session cookie value.
func (c *client) sessionCookie(name string) string {
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// hashOf is the session ID hash the store keeps for a cookie value.
func hashOf(t *testing.T, cookie string) string {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// state returns the inbox item of a voicemail as an admin sees it.
func (e *env) state(id string) *store.InboxItem {
	e.t.Helper()
	it, err := e.store.InboxGet(context.Background(), id, store.Scope{All: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

// rowIDs returns the contact IDs of the list rows in a page, in order.
func rowIDs(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

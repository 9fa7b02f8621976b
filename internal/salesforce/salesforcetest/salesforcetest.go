// Package salesforcetest is a Salesforce org for tests: an httptest TLS
// server that speaks the OAuth 2.0 token endpoint and the REST API calls
// vmx makes (sObject create, SOQL query), keeps the records it creates,
// and records every token request, query and create it receives.
//
// Queries are answered from the records: the fake understands
// "SELECT Id FROM <Object> WHERE <Field> = '<value>' [AND <Field> = true|false]
// LIMIT <n>", with SOQL's backslash escapes, and refuses anything else
// with MALFORMED_QUERY. A field named in Options.UniqueFields behaves as an
// External ID marked Unique: a create that repeats a value fails with
// DUPLICATE_VALUE, as Salesforce does.
package salesforcetest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Options configure a Server.
type Options struct {
	// ClientID and ClientSecret, when set, are the only credentials the
	// client credentials flow accepts.
	ClientID, ClientSecret string
	// UniqueFields are fields whose values are unique per object, like a
	// dedupe field made an External ID marked Unique.
	UniqueFields []string
}

// Reply is a canned HTTP answer. The zero Reply, returned by a hook, means
// "answer as the fake would".
type Reply struct {
	Status int
	Header map[string]string
	Body   string
}

// Create is one create request the server received.
type Create struct {
	Object string
	Path   string
	Fields map[string]any
	// ID is the created record's; empty when the create was refused.
	ID string
}

// User is a Salesforce user, found by owner queries.
type User struct {
	ID       string
	Alias    string
	Username string
	Inactive bool
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	// URL is the login URL and the instance URL: https://127.0.0.1:port.
	URL string

	tb   testing.TB
	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	tokenForms []url.Values
	tokenReply Reply
	issued     int
	valid      string // the access token the REST API accepts
	refuseAll  bool
	queries    []string
	creates    []Create
	records    map[string][]map[string]any // object → records, each with its Id
	counts     map[string]int              // object → records created
	onQuery    func(q string) Reply
	onCreate   func(object string, fields map[string]any) Reply
	caFile     string
}

// Start starts a server that stops when tb's test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: opts, records: map[string][]map[string]any{}, counts: map[string]int{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CAFile returns a PEM file of the server's certificate, for clients that
// take a CA bundle (e.g. SSL_CERT_FILE).
func (s *Server) CAFile() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caFile == "" {
		file := filepath.Join(s.tb.TempDir(), "salesforcetest-ca.pem")
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		if err := os.WriteFile(file, data, 0o600); err != nil {
			s.tb.Fatalf("salesforcetest: %v", err)
		}
		s.caFile = file
	}
	return s.caFile
}

// AddUser adds a user that owner queries find.
func (s *Server) AddUser(u User) {
	s.AddRecord("User", map[string]any{"Id": u.ID, "Alias": u.Alias, "Username": u.Username, "IsActive": !u.Inactive})
}

// AddRecord stores a record of object, as if created earlier, and returns
// its Id (fields["Id"] when set).
func (s *Server) AddRecord(object string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := map[string]any{}
	for k, v := range fields {
		rec[k] = v
	}
	if _, ok := rec["Id"].(string); !ok {
		s.counts[object]++
		rec["Id"] = fmt.Sprintf("%s%012dAAA", idPrefix(object), s.counts[object])
	}
	s.records[object] = append(s.records[object], rec)
	return rec["Id"].(string)
}

// OnQuery answers queries with hook; a zero Reply falls back to the
// records.
func (s *Server) OnQuery(hook func(q string) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onQuery = hook
}

// OnCreate answers creates with hook; a zero Reply creates the record.
func (s *Server) OnCreate(hook func(object string, fields map[string]any) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onCreate = hook
}

// SetTokenReply answers token requests with r; the zero Reply issues
// tokens again.
func (s *Server) SetTokenReply(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenReply = r
}

// ExpireSession makes the REST API refuse the access token issued last,
// as when a session times out.
func (s *Server) ExpireSession() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.valid = ""
}

// RefuseAllTokens makes the REST API refuse every access token, even
// fresh ones.
func (s *Server) RefuseAllTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseAll = true
}

// AccessToken returns the access token the REST API accepts now.
func (s *Server) AccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid
}

// TokenForms returns the forms posted to the token endpoint.
func (s *Server) TokenForms() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.tokenForms...)
}

// Queries returns the SOQL queries received, decoded.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// Creates returns the create requests received, refused ones included.
func (s *Server) Creates() []Create {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Create(nil), s.creates...)
}

// Records returns a query result holding records of these ids.
func Records(ids ...string) Reply {
	recs := []any{}
	for _, id := range ids {
		recs = append(recs, map[string]any{"attributes": map[string]any{"type": "sObject", "url": "/services/data/v62.0/sobjects/sObject/" + id}, "Id": id})
	}
	b, _ := json.Marshal(map[string]any{"totalSize": len(ids), "done": true, "records": recs})
	return Reply{Status: http.StatusOK, Body: string(b)}
}

func restError(status int, code, msg string) Reply {
	b, _ := json.Marshal([]map[string]any{{"message": msg, "errorCode": code, "fields": []string{}}})
	return Reply{Status: status, Body: string(b)}
}

var (
	queryPath  = regexp.MustCompile(`^/services/data/v[0-9]+\.[0-9]/query/?$`)
	createPath = regexp.MustCompile(`^/services/data/v[0-9]+\.[0-9]/sobjects/([A-Za-z][A-Za-z0-9_]*)/?$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rp := s.answer(r)
	for k, v := range rp.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rp.Status)
	_, _ = io.WriteString(w, rp.Body)
}

func (s *Server) answer(r *http.Request) Reply {
	if r.URL.Path == "/services/oauth2/token" {
		return s.token(r)
	}
	s.mu.Lock()
	authorized := !s.refuseAll && s.valid != "" && r.Header.Get("Authorization") == "Bearer "+s.valid
	s.mu.Unlock()
	if !authorized {
		return restError(http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
	}
	switch {
	case r.Method == http.MethodGet && queryPath.MatchString(r.URL.Path):
		return s.query(r.URL.Query().Get("q"))
	case r.Method == http.MethodPost && createPath.MatchString(r.URL.Path):
		return s.create(createPath.FindStringSubmatch(r.URL.Path)[1], r)
	}
	return restError(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

func (s *Server) token(r *http.Request) Reply {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return Reply{Status: http.StatusBadRequest, Body: `{"error":"invalid_request","error_description":"bad method or content type"}`}
	}
	if err := r.ParseForm(); err != nil {
		return Reply{Status: http.StatusBadRequest, Body: `{"error":"invalid_request","error_description":"bad form"}`}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenForms = append(s.tokenForms, r.PostForm)
	if s.tokenReply.Status != 0 {
		return s.tokenReply
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "client_credentials":
		if s.opts.ClientID != "" && (f.Get("client_id") != s.opts.ClientID || f.Get("client_secret") != s.opts.ClientSecret) {
			return Reply{Status: http.StatusBadRequest, Body: `{"error":"invalid_client","error_description":"invalid client credentials"}`}
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if f.Get("assertion") == "" {
			return Reply{Status: http.StatusBadRequest, Body: `{"error":"invalid_grant","error_description":"no assertion"}`}
		}
	default:
		return Reply{Status: http.StatusBadRequest, Body: `{"error":"unsupported_grant_type","error_description":"grant type not supported"}`}
	}
	s.issued++
	s.valid = fmt.Sprintf("tok-%d", s.issued)
	b, _ := json.Marshal(map[string]string{"access_token": s.valid, "instance_url": s.URL, "token_type": "Bearer", "issued_at": "1767225600000"})
	return Reply{Status: http.StatusOK, Body: string(b)}
}

func (s *Server) query(q string) Reply {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	hook := s.onQuery
	s.mu.Unlock()
	if hook != nil {
		if rp := hook(q); rp.Status != 0 {
			return rp
		}
	}
	object, conds, limit, err := parseQuery(q)
	if err != nil {
		return restError(http.StatusBadRequest, "MALFORMED_QUERY", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, rec := range s.records[object] {
		if matches(rec, conds) && len(ids) < limit {
			ids = append(ids, rec["Id"].(string))
		}
	}
	return Records(ids...)
}

func matches(rec map[string]any, conds map[string]any) bool {
	for k, v := range conds {
		if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

var (
	queryShape = regexp.MustCompile(`^SELECT Id FROM ([A-Za-z][A-Za-z0-9_]*) WHERE (.+) LIMIT ([0-9]+)$`)
	condShape  = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*) = (true|false|'(?:[^'\\]|\\.)*')(?: AND |$)`)
)

// parseQuery reads the queries vmx makes: SELECT Id … WHERE with
// equalities joined by AND, and LIMIT.
func parseQuery(q string) (object string, conds map[string]any, limit int, err error) {
	m := queryShape.FindStringSubmatch(q)
	if m == nil {
		return "", nil, 0, fmt.Errorf("salesforcetest: query %q is not SELECT Id FROM … WHERE … LIMIT n", q)
	}
	object, where := m[1], m[2]
	limit, _ = strconv.Atoi(m[3])
	conds = map[string]any{}
	for where != "" {
		c := condShape.FindStringSubmatch(where)
		if c == nil {
			return "", nil, 0, fmt.Errorf("salesforcetest: cannot read condition %q", where)
		}
		switch v := c[2]; v {
		case "true", "false":
			conds[c[1]] = v == "true"
		default:
			conds[c[1]] = unescape(v[1 : len(v)-1])
		}
		where = where[len(c[0]):]
	}
	return object, conds, limit, nil
}

// unescape undoes SOQL's backslash escapes in a string literal.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// idPrefix is an object's key prefix: the first three characters of its
// record IDs.
func idPrefix(object string) string {
	switch object {
	case "Case":
		return "500"
	case "User":
		return "005"
	}
	return "a00"
}

func (s *Server) create(object string, r *http.Request) Reply {
	var fields map[string]any
	if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
		return restError(http.StatusBadRequest, "JSON_PARSER_ERROR", "bad JSON: "+err.Error())
	}
	s.mu.Lock()
	c := Create{Object: object, Path: r.URL.Path, Fields: fields}
	s.creates = append(s.creates, c)
	i := len(s.creates) - 1
	hook := s.onCreate
	s.mu.Unlock()
	if hook != nil {
		if rp := hook(object, fields); rp.Status != 0 {
			return rp
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.opts.UniqueFields {
		v, ok := fields[f]
		if !ok {
			continue
		}
		for _, rec := range s.records[object] {
			if rec[f] == v {
				return restError(http.StatusBadRequest, "DUPLICATE_VALUE",
					fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f, rec["Id"]))
			}
		}
	}
	s.counts[object]++
	id := fmt.Sprintf("%s%012dAAA", idPrefix(object), s.counts[object])
	rec := map[string]any{"Id": id}
	for k, v := range fields {
		rec[k] = v
	}
	s.records[object] = append(s.records[object], rec)
	s.creates[i].ID = id
	b, _ := json.Marshal(map[string]any{"id": id, "success": true, "errors": []any{}})
	return Reply{Status: http.StatusCreated, Body: string(b)}
}

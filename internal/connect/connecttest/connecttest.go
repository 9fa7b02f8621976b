// Package connecttest is an Amazon Connect API for tests: an httptest
// server that speaks Connect's REST-JSON protocol for the operations vmx
// uses (StartTaskContact, UpdateContactAttributes, DescribeQueue,
// DescribeUser, SearchUsers), from in-memory queues and users, and
// records every request it receives with its decoded body.
//
// As Connect does, StartTaskContact is idempotent by ClientToken: a
// request with a token seen before returns the first task's ContactId and
// creates nothing, so Tasks counts the distinct tasks an agent would see.
// Failures can be injected per operation (FailNext) to force retries.
package connecttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkconnect "github.com/aws/aws-sdk-go-v2/service/connect"
)

// Operation names, as Request.Op and FailNext take them.
const (
	OpStartTaskContact        = "StartTaskContact"
	OpUpdateContactAttributes = "UpdateContactAttributes"
	OpDescribeQueue           = "DescribeQueue"
	OpDescribeUser            = "DescribeUser"
	OpSearchUsers             = "SearchUsers"
)

// Defaults of Options.
const (
	DefaultInstanceID = "11111111-2222-3333-4444-555555555555"
	DefaultAccount    = "123456789012"
	DefaultRegion     = "us-east-1"
)

// Options configure a Server.
type Options struct {
	InstanceID string // the one instance the server knows; default DefaultInstanceID
	Account    string // AWS account in ARNs; default DefaultAccount
	Region     string // region in ARNs and of AWSConfig; default DefaultRegion
}

// Queue is a queue the server knows.
type Queue struct {
	ID          string
	Name        string
	Description string // may hold Voicemail Express 2's "QVMB::address"
	Tags        map[string]string
}

// User is an agent the server knows.
type User struct {
	ID             string
	Username       string
	FirstName      string
	LastName       string
	Email          string
	SecondaryEmail string
}

// Failure is an error answer sent instead of the operation's.
type Failure struct {
	Status int    // HTTP status, e.g. 500
	Code   string // error type, e.g. "InternalServiceException"
	// Path, when set, limits the failure to requests for that URL path,
	// e.g. "/users/<instance>/<user>" for one user's DescribeUser.
	Path string
	// Applied makes the operation take effect before the error is sent,
	// as when Connect did the work and the answer was lost: a
	// StartTaskContact creates its task.
	Applied bool
}

// Request is one request the server received.
type Request struct {
	Op     string
	Method string
	Path   string
	Auth   string         // the Authorization header
	Body   map[string]any // the decoded JSON body; nil without one
	Raw    []byte
	At     time.Time
	// Status is the HTTP status the server answered.
	Status int
}

// Task is one task StartTaskContact created.
type Task struct {
	ContactID   string
	ClientToken string
	// Body is the request that created the task.
	Body map[string]any
	// Requests counts the StartTaskContact requests that reached the
	// task: the one that created it and the retries answered from it (a
	// retry failed by FailNext before taking effect does not count).
	Requests int
	// Mismatches counts requests that reused the token with a body that
	// differs from the first: a retry that did not repeat the request.
	Mismatches int
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:40123: connect.endpoint.
	URL string

	opts Options
	tb   testing.TB
	srv  *httptest.Server

	mu       sync.Mutex
	queues   map[string]Queue
	users    map[string]User
	requests []Request
	fail     map[string][]Failure
	tasks    []*Task
	byToken  map[string]*Task
	attrs    map[string]map[string]string // contact ID → attributes set by UpdateContactAttributes
}

// Start starts a server that stops when tb's test ends. A request for an
// operation the server does not speak fails tb.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.InstanceID == "" {
		opts.InstanceID = DefaultInstanceID
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	s := &Server{
		opts: opts, tb: tb,
		queues: map[string]Queue{}, users: map[string]User{}, fail: map[string][]Failure{},
		byToken: map[string]*Task{}, attrs: map[string]map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /queues/{inst}/{queue}", s.handle(OpDescribeQueue, s.describeQueue))
	mux.HandleFunc("GET /users/{inst}/{user}", s.handle(OpDescribeUser, s.describeUser))
	mux.HandleFunc("POST /search-users", s.handle(OpSearchUsers, s.searchUsers))
	mux.HandleFunc("PUT /contact/task", s.handle(OpStartTaskContact, s.startTask))
	mux.HandleFunc("POST /contact/attributes", s.handle(OpUpdateContactAttributes, s.updateAttributes))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		tb.Errorf("connecttest: unexpected request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, "UnknownOperationException")
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// InstanceID returns the instance the server knows.
func (s *Server) InstanceID() string { return s.opts.InstanceID }

// InstanceARN returns the instance's ARN.
func (s *Server) InstanceARN() string {
	return fmt.Sprintf("arn:aws:connect:%s:%s:instance/%s", s.opts.Region, s.opts.Account, s.opts.InstanceID)
}

// QueueARN returns the ARN of queue id.
func (s *Server) QueueARN(id string) string { return s.InstanceARN() + "/queue/" + id }

// AgentQueueARN returns the ARN of an agent's personal queue.
func (s *Server) AgentQueueARN(agentID string) string {
	return s.InstanceARN() + "/queue/agent/" + agentID
}

// AWSConfig returns an AWS configuration for the server: region and static
// credentials, without SDK retries so that each call is one request. The
// endpoint is not in it; see Client.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:           s.opts.Region,
		RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "connecttest"}, nil
		}),
	}
}

// Client returns an SDK client of the server (see AWSConfig).
func (s *Server) Client() *sdkconnect.Client {
	return sdkconnect.NewFromConfig(s.AWSConfig(), func(o *sdkconnect.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// AddQueue adds or replaces a queue.
func (s *Server) AddQueue(q Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q.ID] = q
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// FailNext makes the next requests of op that match each failure's Path
// fail, in order: one request per failure.
func (s *Server) FailNext(op string, failures ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = append(s.fail[op], failures...)
}

// Requests returns the requests of op, oldest first; all when op is "".
func (s *Server) Requests(op string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if op == "" || r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// Last returns the body of the last request of op; it fails the test that
// started the server when there is none.
func (s *Server) Last(op string) map[string]any {
	s.tb.Helper()
	rs := s.Requests(op)
	if len(rs) == 0 {
		s.tb.Fatalf("connecttest: no %s request", op)
	}
	return rs[len(rs)-1].Body
}

// Tasks returns the tasks created, oldest first.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Task, len(s.tasks))
	for i, t := range s.tasks {
		out[i] = *t
	}
	return out
}

// ContactAttributes returns the attributes UpdateContactAttributes set on
// a contact.
func (s *Server) ContactAttributes(contactID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.attrs[contactID] {
		out[k] = v
	}
	return out
}

type answer func(r *http.Request, body map[string]any) (int, any)

func (s *Server) handle(op string, answer answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				s.record(Request{Op: op, Method: r.Method, Path: r.URL.Path, Raw: raw, Status: http.StatusBadRequest})
				writeError(w, http.StatusBadRequest, "SerializationException")
				return
			}
		}
		req := Request{Op: op, Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body, Raw: raw, At: time.Now()}
		var (
			status int
			v      any
			fail   *Failure
		)
		if req.Auth != "" {
			fail = s.takeFailure(op, r.URL.Path)
		}
		switch {
		case req.Auth == "":
			status, v = http.StatusForbidden, "MissingAuthenticationTokenException"
		case fail != nil && !fail.Applied:
			status, v = fail.Status, fail.Code
		default:
			status, v = answer(r, body)
			if fail != nil {
				status, v = fail.Status, fail.Code
			}
		}
		req.Status = status
		s.record(req)
		if status != http.StatusOK {
			writeError(w, status, v.(string))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) takeFailure(op, path string) *Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.fail[op]
	for i, f := range q {
		if f.Path == "" || f.Path == path {
			s.fail[op] = append(q[:i:i], q[i+1:]...)
			return &f
		}
	}
	return nil
}

// writeError answers as Connect does: the error type in X-Amzn-ErrorType
// and a JSON message.
func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":"connecttest: %s"}`, code)
}

func (s *Server) describeQueue(r *http.Request, _ map[string]any) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[r.PathValue("queue")]
	if !ok || r.PathValue("inst") != s.opts.InstanceID {
		return http.StatusNotFound, "ResourceNotFoundException"
	}
	return http.StatusOK, map[string]any{"Queue": map[string]any{
		"QueueId": q.ID, "QueueArn": s.QueueARN(q.ID), "Name": q.Name, "Description": q.Description,
		"Status": "ENABLED", "Tags": q.Tags,
	}}
}

func (s *Server) describeUser(r *http.Request, _ map[string]any) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.PathValue("user")]
	if !ok || r.PathValue("inst") != s.opts.InstanceID {
		return http.StatusNotFound, "ResourceNotFoundException"
	}
	return http.StatusOK, map[string]any{"User": map[string]any{
		"Id": u.ID, "Arn": s.InstanceARN() + "/agent/" + u.ID, "Username": u.Username,
		"IdentityInfo": map[string]any{"FirstName": u.FirstName, "LastName": u.LastName, "Email": u.Email, "SecondaryEmail": u.SecondaryEmail},
	}}
}

// searchUsers answers the one search vmx makes: a username, exactly.
func (s *Server) searchUsers(_ *http.Request, body map[string]any) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body["InstanceId"] != s.opts.InstanceID {
		return http.StatusNotFound, "ResourceNotFoundException"
	}
	criteria, _ := body["SearchCriteria"].(map[string]any)
	cond, _ := criteria["StringCondition"].(map[string]any)
	if cond["FieldName"] != "Username" || cond["ComparisonType"] != "EXACT" {
		return http.StatusBadRequest, "InvalidParameterException"
	}
	found := []any{}
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if u := s.users[id]; u.Username == cond["Value"] {
			found = append(found, map[string]any{"Id": u.ID, "Username": u.Username})
		}
	}
	return http.StatusOK, map[string]any{"Users": found, "ApproximateTotalCount": len(found)}
}

func (s *Server) startTask(_ *http.Request, body map[string]any) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token, _ := body["ClientToken"].(string)
	if t, ok := s.byToken[token]; ok && token != "" {
		t.Requests++
		if !sameJSON(t.Body, body) {
			t.Mismatches++
		}
		return http.StatusOK, map[string]any{"ContactId": t.ContactID}
	}
	if body["InstanceId"] != s.opts.InstanceID {
		return http.StatusNotFound, "ResourceNotFoundException"
	}
	name, _ := body["Name"].(string)
	_, flow := body["ContactFlowId"].(string)
	_, template := body["TaskTemplateId"].(string)
	if name == "" || !flow && !template {
		return http.StatusBadRequest, "InvalidParameterException"
	}
	t := &Task{ContactID: fmt.Sprintf("task-%d", len(s.tasks)+1), ClientToken: token, Body: body, Requests: 1}
	s.tasks = append(s.tasks, t)
	if token != "" {
		s.byToken[token] = t
	}
	return http.StatusOK, map[string]any{"ContactId": t.ContactID}
}

func (s *Server) updateAttributes(_ *http.Request, body map[string]any) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body["InstanceId"] != s.opts.InstanceID {
		return http.StatusNotFound, "ResourceNotFoundException"
	}
	contact, _ := body["InitialContactId"].(string)
	attrs, ok := body["Attributes"].(map[string]any)
	if contact == "" || !ok {
		return http.StatusBadRequest, "InvalidParameterException"
	}
	if s.attrs[contact] == nil {
		s.attrs[contact] = map[string]string{}
	}
	for k, v := range attrs {
		s.attrs[contact][k] = fmt.Sprint(v)
	}
	return http.StatusOK, map[string]any{}
}

func sameJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Strings converts a decoded JSON object whose values are all strings, such
// as a task's or a contact's Attributes.
func Strings(tb testing.TB, v any) map[string]string {
	tb.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		tb.Fatalf("%v is not a JSON object", v)
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			tb.Fatalf("%s: %v is not a string", k, x)
		}
		out[k] = s
	}
	return out
}

// References converts a task's References to name → "TYPE:value".
func References(tb testing.TB, v any) map[string]string {
	tb.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		tb.Fatalf("References %v is not a JSON object", v)
	}
	out := map[string]string{}
	for k, x := range m {
		r, ok := x.(map[string]any)
		if !ok {
			tb.Fatalf("reference %s: %v is not a JSON object", k, x)
		}
		out[k] = fmt.Sprint(r["Type"]) + ":" + fmt.Sprint(r["Value"])
	}
	return out
}

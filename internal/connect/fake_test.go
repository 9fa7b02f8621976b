package connect_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkconnect "github.com/aws/aws-sdk-go-v2/service/connect"

	"github.com/vmx-dev/vmx/internal/connect"
)

const (
	instanceID = "11111111-2222-3333-4444-555555555555"
	queueID    = "66666666-7777-8888-9999-000000000000"
	agentID    = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	contactID  = "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42"
	arnPrefix  = "arn:aws:connect:us-east-1:123456789012:instance/" + instanceID
	queueARN   = arnPrefix + "/queue/" + queueID
	agentQARN  = arnPrefix + "/queue/agent/" + agentID
)

// request is one request the fake received.
type request struct {
	Op     string
	Method string
	Path   string
	Auth   string
	Body   map[string]any
}

// apiFailure is an error response the fake sends instead of an answer.
type apiFailure struct {
	Status int
	Code   string
}

// fakeConnect speaks Amazon Connect's REST-JSON protocol for the five
// operations vmx uses, from in-memory queues and users.
type fakeConnect struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	queues   map[string]map[string]any // queue ID → Queue JSON
	users    map[string]map[string]any // user ID → User JSON
	requests []request
	fail     map[string][]apiFailure // op → failures to send first, in order
	tasks    int
}

func newFake(t *testing.T) *fakeConnect {
	t.Helper()
	f := &fakeConnect{t: t, queues: map[string]map[string]any{}, users: map[string]map[string]any{}, fail: map[string][]apiFailure{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /queues/{inst}/{queue}", f.handle("DescribeQueue", f.describeQueue))
	mux.HandleFunc("GET /users/{inst}/{user}", f.handle("DescribeUser", f.describeUser))
	mux.HandleFunc("POST /search-users", f.handle("SearchUsers", f.searchUsers))
	mux.HandleFunc("PUT /contact/task", f.handle("StartTaskContact", f.startTask))
	mux.HandleFunc("POST /contact/attributes", f.handle("UpdateContactAttributes", func(*http.Request, map[string]any) (int, any) {
		return 200, map[string]any{}
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.Error(w, "no such route", 404)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// client returns the real SDK client pointed at the fake, without SDK
// retries so that each call is one request.
func (f *fakeConnect) client() *sdkconnect.Client {
	return connect.NewClient(aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	}, f.srv.URL)
}

func (f *fakeConnect) handle(op string, answer func(*http.Request, map[string]any) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &body); err != nil {
				f.t.Errorf("%s: body is not JSON: %v: %s", op, err, raw)
			}
		}
		f.mu.Lock()
		f.requests = append(f.requests, request{Op: op, Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
		var fail *apiFailure
		if q := f.fail[op]; len(q) > 0 {
			fail, f.fail[op] = &q[0], q[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail != nil {
			writeError(w, fail.Status, fail.Code)
			return
		}
		status, v := answer(r, body)
		if status != 200 {
			writeError(w, status, v.(string))
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":"fake %s"}`, code)
}

func (f *fakeConnect) describeQueue(r *http.Request, _ map[string]any) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.queues[r.PathValue("queue")]
	if !ok || r.PathValue("inst") != instanceID {
		return 404, "ResourceNotFoundException"
	}
	return 200, map[string]any{"Queue": q}
}

func (f *fakeConnect) describeUser(r *http.Request, _ map[string]any) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[r.PathValue("user")]
	if !ok || r.PathValue("inst") != instanceID {
		return 404, "ResourceNotFoundException"
	}
	return 200, map[string]any{"User": u}
}

func (f *fakeConnect) searchUsers(_ *http.Request, body map[string]any) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cond, _ := body["SearchCriteria"].(map[string]any)["StringCondition"].(map[string]any)
	var found []any
	for _, u := range f.users {
		if cond["FieldName"] == "Username" && cond["ComparisonType"] == "EXACT" && u["Username"] == cond["Value"] {
			found = append(found, map[string]any{"Id": u["Id"], "Username": u["Username"]})
		}
	}
	return 200, map[string]any{"Users": found, "ApproximateTotalCount": len(found)}
}

func (f *fakeConnect) startTask(*http.Request, map[string]any) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks++
	return 200, map[string]any{"ContactId": fmt.Sprintf("task-%d", f.tasks)}
}

func (f *fakeConnect) addQueue(id, name, desc string, tags map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queues[id] = map[string]any{"QueueId": id, "QueueArn": arnPrefix + "/queue/" + id, "Name": name, "Description": desc, "Tags": tags}
}

func (f *fakeConnect) addUser(id, username, first, last, email, secondary string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = map[string]any{"Id": id, "Username": username,
		"IdentityInfo": map[string]any{"FirstName": first, "LastName": last, "Email": email, "SecondaryEmail": secondary}}
}

func (f *fakeConnect) failNext(op string, failures ...apiFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], failures...)
}

// received returns the requests of op (all when op is "").
func (f *fakeConnect) received(op string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if op == "" || r.Op == op {
			out = append(out, r)
		}
	}
	return out
}

// last returns the body of the last request of op.
func (f *fakeConnect) last(op string) map[string]any {
	f.t.Helper()
	rs := f.received(op)
	if len(rs) == 0 {
		f.t.Fatalf("no %s request", op)
	}
	return rs[len(rs)-1].Body
}

// clock is a settable clock for the caches.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// strs converts a JSON object of strings.
func strs(t *testing.T, v any) map[string]string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a JSON object", v)
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%s: %v is not a string", k, x)
		}
		out[k] = s
	}
	return out
}

// refs converts a References object to name → "TYPE:value".
func refs(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, x := range v.(map[string]any) {
		r := x.(map[string]any)
		out[k] = fmt.Sprint(r["Type"]) + ":" + fmt.Sprint(r["Value"])
	}
	return out
}

func hasPrefixAuth(r request) bool {
	return strings.HasPrefix(r.Auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") && strings.Contains(r.Auth, "/us-east-1/connect/aws4_request")
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

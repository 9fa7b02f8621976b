// Package awsstatetest runs fake DynamoDB and SQS endpoints for tests, as
// no emulator of either can be installed here: httptest servers speaking
// the AWS JSON 1.0 protocol that the SDK v2 clients send (POST / with
// X-Amz-Target), implementing the operations and expressions awsstate
// uses and refusing the rest, with what they store open to assertions.
package awsstatetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and AccessKeyID are what the clients of the fakes sign with.
const (
	Region      = "us-east-1"
	AccessKeyID = "AKIDAWSSTATETEST"
)

// config is a client configuration aimed at a fake: static credentials,
// and the SDK's own retries off so that each call is one request.
func config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, "awsstatetest-secret", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// apiError is an error reply: its HTTP status, the __type the service
// sends and the message.
type apiError struct {
	status     int
	typ, msg   string
	queryError string // SQS's x-amzn-query-error header
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// readRequest checks that r is an AWS JSON 1.0 call of service (the
// SigV4 signing name) with a target prefixed by prefix, and returns the
// operation and its body.
func readRequest(r *http.Request, prefix, service string) (string, []byte, *apiError) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", nil, &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: err.Error()}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return "", nil, &apiError{status: http.StatusBadRequest, typ: "com.amazon.coral.service#UnknownOperationException",
			msg: fmt.Sprintf("%s %s: the fake answers POST / only", r.Method, r.URL.Path)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		return "", nil, &apiError{status: http.StatusBadRequest, typ: "com.amazon.coral.service#UnknownOperationException",
			msg: fmt.Sprintf("Content-Type %q, want application/x-amz-json-1.0", ct)}
	}
	scope := "AWS4-HMAC-SHA256 Credential=" + AccessKeyID + "/"
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, scope) || !strings.Contains(auth, "/"+Region+"/"+service+"/aws4_request") {
		return "", nil, &apiError{status: http.StatusBadRequest, typ: "com.amazon.coral.service#MissingAuthenticationTokenException",
			msg: fmt.Sprintf("Authorization %q is not SigV4 for %s in %s", auth, service, Region)}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix)
	if !ok {
		return "", nil, &apiError{status: http.StatusBadRequest, typ: "com.amazon.coral.service#UnknownOperationException",
			msg: fmt.Sprintf("X-Amz-Target %q", r.Header.Get("X-Amz-Target"))}
	}
	return op, body, nil
}

// decodeInput decodes body into v, refusing parameters outside allowed:
// a parameter the fake would ignore must fail loudly instead.
func decodeInput(body []byte, v any, allowed ...string) *apiError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: err.Error()}
	}
	for name := range fields {
		if !contains(allowed, name) {
			return validation("awsstatetest: parameter %s is not implemented by the fake", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: err.Error()}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeReply sends out as a 200 reply, or e, as request number id; crc
// adds DynamoDB's X-Amz-Crc32 header, which the SDK checks.
func writeReply(w http.ResponseWriter, id int64, out any, e *apiError, crc func([]byte) uint32) {
	status := http.StatusOK
	if e != nil {
		status, out = e.status, map[string]string{"__type": e.typ, "message": e.msg}
		if e.queryError != "" {
			w.Header().Set("x-amzn-query-error", e.queryError)
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"__type":"InternalServerError","message":"encode reply"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", "awsstatetest-"+strconv.FormatInt(id, 10))
	if crc != nil {
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc(body)), 10))
	}
	w.WriteHeader(status)
	w.Write(body)
}

// hooks run a function once before the next request of an operation.
type hooks struct {
	mu   sync.Mutex
	next map[string][]func()
}

func (h *hooks) add(op string, fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next == nil {
		h.next = map[string][]func(){}
	}
	h.next[op] = append(h.next[op], fn)
}

// run runs and forgets the hooks of op, outside any lock so that a hook
// may call the fake itself.
func (h *hooks) run(op string) {
	h.mu.Lock()
	fns := h.next[op]
	delete(h.next, op)
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

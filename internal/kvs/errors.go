package kvs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// KVS error types a caller or the retry policy branches on.
const (
	ErrTypeClientLimitExceeded     = "ClientLimitExceededException"
	ErrTypeConnectionLimitExceeded = "ConnectionLimitExceededException"
	ErrTypeInvalidEndpoint         = "InvalidEndpointException"
	ErrTypeNotAuthorized           = "NotAuthorizedException"
	ErrTypeResourceNotFound        = "ResourceNotFoundException"
	ErrTypeInvalidArgument         = "InvalidArgumentException"
)

// APIError is an error response of a KVS media API.
type APIError struct {
	Op         string // API operation: GetMedia, ListFragments, GetMediaForFragmentList
	StatusCode int
	Type       string // e.g. ClientLimitExceededException; HTTP status text when the service sent none
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.Type, e.StatusCode)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// maxErrorBody bounds what is read of an error response; KVS error bodies
// are a few hundred bytes.
const maxErrorBody = 64 << 10

// readAPIError builds an APIError from a non-2xx response. It does not close
// the body.
func readAPIError(op string, resp *http.Response) *APIError {
	e := &APIError{
		Op:         op,
		StatusCode: resp.StatusCode,
		RequestID:  firstHeader(resp.Header, "X-Amzn-Requestid", "X-Amz-Requestid"),
	}
	var body struct {
		Message  string `json:"message"`
		MessageU string `json:"Message"`
		Type     string `json:"__type"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if json.Unmarshal(raw, &body) == nil {
		e.Message = body.Message
		if e.Message == "" {
			e.Message = body.MessageU
		}
	}
	// The header is authoritative; it may carry extra detail after a colon
	// ("InvalidArgumentException:http://internal.amazon.com/...").
	e.Type = firstHeader(resp.Header, "X-Amzn-Errortype", "X-Amz-Errortype")
	if e.Type == "" {
		e.Type = body.Type
	}
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 { // "namespace#Type"
		e.Type = e.Type[i+1:]
	}
	if i := strings.IndexByte(e.Type, ':'); i >= 0 {
		e.Type = e.Type[:i]
	}
	if e.Type == "" {
		e.Type = http.StatusText(resp.StatusCode)
	}
	return e
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// connError is a failure to exchange a request with a data endpoint
// (refused, reset, DNS): a sign that the endpoint may be stale.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// retryable reports whether another attempt may succeed: throttling, server
// errors and connection failures, from our own requests or from the SDK's
// GetDataEndpoint.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return throttled(ae.Type) || ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests
	}
	var ce *connError
	if errors.As(err, &ce) {
		return true
	}
	var se smithy.APIError
	if errors.As(err, &se) && throttled(se.ErrorCode()) {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests
	}
	var rse *smithyhttp.RequestSendError
	return errors.As(err, &rse)
}

func throttled(errType string) bool {
	return errType == ErrTypeClientLimitExceeded || errType == ErrTypeConnectionLimitExceeded
}

// staleEndpoint reports whether a data-plane failure may be cured by asking
// GetDataEndpoint again. KVS documents that cached endpoints are safe only
// if they are reloaded on failure.
func staleEndpoint(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Type == ErrTypeInvalidEndpoint || ae.Type == ErrTypeNotAuthorized
	}
	var ce *connError
	return errors.As(err, &ce)
}

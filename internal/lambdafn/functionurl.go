package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// FunctionURL serves Lambda Function URL requests with h as net/http
// would serve them: the request's method, raw path and query, headers,
// cookies and body, and h's status, headers and body back. Lambda buffers
// a response whole (at most 6 MB), which suits redirects and short bodies:
// the media function redirects to S3 rather than sending recordings.
func FunctionURL(h http.Handler) func(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	return func(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		r, err := newRequest(ctx, req)
		if err != nil {
			return events.LambdaFunctionURLResponse{StatusCode: http.StatusBadRequest, Body: "bad request\n",
				Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, nil
		}
		w := &responseWriter{header: http.Header{}}
		h.ServeHTTP(w, r)
		return w.response(), nil
	}
}

// newRequest builds the server-side request of a Function URL event.
func newRequest(ctx context.Context, req events.LambdaFunctionURLRequest) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, fmt.Errorf("lambdafn: body: %w", err)
		}
	}
	target := req.RawPath
	if target == "" {
		target = "/"
	}
	if req.RawQueryString != "" {
		target += "?" + req.RawQueryString
	}
	host := req.RequestContext.DomainName
	if h, ok := req.Headers["host"]; ok {
		host = h
	}
	r, err := http.NewRequestWithContext(ctx, req.RequestContext.HTTP.Method, "https://"+host+target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambdafn: request: %w", err)
	}
	// Function URLs join a header's values with commas, as HTTP allows.
	for k, v := range req.Headers {
		if !strings.EqualFold(k, "host") { // r.Host, as net/http has it
			r.Header.Set(k, v)
		}
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.RequestURI = target
	r.Host = host
	r.RemoteAddr = net.JoinHostPort(req.RequestContext.HTTP.SourceIP, "0")
	r.Proto = req.RequestContext.HTTP.Protocol
	if major, minor, ok := http.ParseHTTPVersion(r.Proto); ok {
		r.ProtoMajor, r.ProtoMinor = major, minor
	}
	return r, nil
}

// responseWriter keeps a handler's response for the Function URL answer.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// response is the Function URL answer: Set-Cookie values go to Cookies,
// other headers' values are joined with commas, and a body that is not
// text is base64-encoded.
func (w *responseWriter) response() events.LambdaFunctionURLResponse {
	resp := events.LambdaFunctionURLResponse{StatusCode: w.status, Headers: map[string]string{}}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	switch {
	case w.body.Len() == 0:
	case isText(w.header.Get("Content-Type")):
		resp.Body = w.body.String()
	default:
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(w.body.Bytes()), true
	}
	return resp
}

// isText reports whether a body of content type ct is UTF-8 text that
// Lambda can carry as it is.
func isText(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || mt == "application/xml" ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}

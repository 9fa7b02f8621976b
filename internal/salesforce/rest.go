package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
)

// maxBody bounds the responses read: a query for one Id or a create
// result is a few hundred bytes.
const maxBody = 1 << 20

// Delays asked for when Salesforce gives no Retry-After.
const (
	defaultUnavailableDelay = 30 * time.Second // 503: maintenance, instance busy
	defaultLimitDelay       = 5 * time.Minute  // REQUEST_LIMIT_EXCEEDED: the org's API quota
)

// APIError is an error response of the REST API: the first entry of the
// error list Salesforce returns.
type APIError struct {
	Status  int      // HTTP status
	Code    string   // errorCode, e.g. REQUIRED_FIELD_MISSING
	Message string   // Salesforce's message
	Fields  []string // the fields concerned, when Salesforce names them
}

func (e *APIError) Error() string {
	s := strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	s += ": " + e.Message
	if len(e.Fields) > 0 {
		s += " (fields " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

// rest calls the REST API of one org with the tokens auth gives.
type rest struct {
	auth    *auth
	client  *http.Client
	version string
}

// do sends one request and decodes a 2xx answer into out. A 401 refreshes
// the token once and repeats the request; a second 401 is permanent.
func (c *rest) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return retry.Permanent(fmt.Errorf("encode: %w", err))
		}
	}
	s, err := c.auth.session(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		status, hdr, resp, err := c.send(ctx, s, method, path, query, body)
		if err != nil {
			return err
		}
		if status == http.StatusUnauthorized {
			if attempt > 0 {
				return retry.Permanent(fmt.Errorf("authentication failed: the refreshed token was refused too: %w", parseError(status, resp)))
			}
			if s, err = c.auth.refresh(ctx, s); err != nil {
				return err
			}
			continue
		}
		if status < 200 || status > 299 {
			return classify(status, hdr, parseError(status, resp))
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(resp, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
		return nil
	}
}

func (c *rest) send(ctx context.Context, s *session, method, path string, query url.Values, body []byte) (int, http.Header, []byte, error) {
	u := s.instanceURL + "/services/data/" + c.version + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, retry.Permanent(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.accessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// parseError reads Salesforce's error list, [{"message","errorCode","fields"}].
func parseError(status int, body []byte) *APIError {
	var list []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		return &APIError{Status: status, Code: list[0].ErrorCode, Message: list[0].Message, Fields: list[0].Fields}
	}
	return &APIError{Status: status, Message: snippet(body)}
}

// classify says what the pipeline should do about a failed call.
func classify(status int, hdr http.Header, e *APIError) error {
	switch {
	case e.Code == "REQUEST_LIMIT_EXCEEDED":
		return retry.After(retryAfter(hdr, defaultLimitDelay), e)
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		return retry.After(retryAfter(hdr, defaultUnavailableDelay), e)
	case status == http.StatusRequestTimeout || status >= 500:
		return e
	}
	// REQUIRED_FIELD_MISSING, INVALID_FIELD, INVALID_TYPE,
	// INSUFFICIENT_ACCESS_OR_READONLY, FIELD_CUSTOM_VALIDATION_EXCEPTION…:
	// the configuration or the org must change first.
	return retry.Permanent(e)
}

func retryAfter(h http.Header, def time.Duration) time.Duration {
	if secs, err := strconv.Atoi(h.Get("Retry-After")); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return def
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// queryIDs runs a SOQL query selecting Id and returns the Ids found.
func (c *rest) queryIDs(ctx context.Context, soql string) ([]string, error) {
	var res struct {
		Records []struct {
			ID string `json:"Id"`
		} `json:"records"`
	}
	if err := c.do(ctx, http.MethodGet, "/query", url.Values{"q": {soql}}, nil, &res); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Records))
	for _, r := range res.Records {
		if r.ID != "" {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// create inserts one record and returns its Id.
func (c *rest) create(ctx context.Context, object string, fields map[string]any) (string, error) {
	var res struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
	}
	if err := c.do(ctx, http.MethodPost, "/sobjects/"+object+"/", nil, fields, &res); err != nil {
		return "", err
	}
	if !res.Success || res.ID == "" {
		return "", errors.New("create answered without an id")
	}
	return res.ID, nil
}

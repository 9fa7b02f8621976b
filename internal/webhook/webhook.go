// Package webhook delivers voicemails as signed JSON POSTs.
//
// Every request carries three headers: X-VMX-Delivery, an idempotency key
// that stays the same on every retry of the same delivery; X-VMX-Timestamp,
// Unix seconds; and X-VMX-Signature, "v1=" and the hex HMAC-SHA256 of
// "<timestamp>.<body>" under the shared secret. Receivers check the
// signature with Verify, reject stale timestamps and drop deliveries whose
// key they have seen. The body follows the versioned schema in
// docs/webhook.md.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Header names.
const (
	HeaderDelivery  = "X-VMX-Delivery"
	HeaderTimestamp = "X-VMX-Timestamp"
	HeaderSignature = "X-VMX-Signature"
)

// SchemaVersion is the version of the body; it changes only when a field
// changes meaning or goes away.
const SchemaVersion = "vmx.voicemail.v1"

// Config is a webhook destination. Destinations come only from
// configuration, never from contact attributes.
type Config struct {
	URL     string
	Secret  string
	Timeout time.Duration // per request; default 10 s
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("webhook: url %q must be an http or https URL", c.URL)
	}
	if c.Secret == "" {
		return errors.New("webhook: secret must be set: receivers verify every request with it")
	}
	return nil
}

// Sink posts voicemails to one URL.
type Sink struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
}

// New returns a sink for cfg; client nil means a client with cfg.Timeout.
func New(cfg Config, client *http.Client) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Sink{cfg: cfg, client: client, now: time.Now}, nil
}

// Body is the JSON a webhook receives.
type Body struct {
	Schema     string    `json:"schema"`
	DeliveryID string    `json:"delivery_id"`
	ContactID  string    `json:"contact_id"`
	InstanceID string    `json:"instance_id"`
	QueueARN   string    `json:"queue_arn"`
	AgentID    string    `json:"agent_id,omitempty"`
	Caller     string    `json:"caller"`
	Language   string    `json:"language"`
	CallTime   time.Time `json:"call_time"`
	// ReceivedAt is CallTime in the contact centre's time zone.
	ReceivedAt time.Time `json:"received_at"`
	DurationMS int64     `json:"duration_ms"`
	Transcript string    `json:"transcript"`
	// Empty is true when the recording holds no speech.
	Empty bool `json:"empty"`
	// SpokenNumber is a callback number the caller said, as digits.
	SpokenNumber string `json:"spoken_number,omitempty"`
	// Summary is a generated summary of the transcript, when enabled.
	Summary string `json:"summary,omitempty"`
	// Route is the queue and agent the voicemail is for.
	Route voicemail.Route `json:"route"`
	// Warnings are problems delivery worked around (an agent not found…).
	Warnings   []string          `json:"warnings,omitempty"`
	MediaURL   string            `json:"media_url"`
	Attributes map[string]string `json:"attributes"`
}

// Deliver posts the voicemail. Client errors (4xx other than 408 and 429)
// are permanent; everything else is retried by the caller. It returns the
// HTTP status as the receipt's detail.
func (s *Sink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	r := d.Record
	body, err := json.Marshal(Body{
		Schema:       SchemaVersion,
		DeliveryID:   key,
		ContactID:    r.ContactID,
		InstanceID:   r.InstanceID,
		QueueARN:     r.QueueARN,
		AgentID:      r.AgentID,
		Caller:       r.Caller,
		Language:     r.Language,
		CallTime:     r.CallTime.UTC(),
		ReceivedAt:   d.ReceivedAt,
		DurationMS:   r.DurationMS,
		Transcript:   r.Transcript,
		Empty:        r.Empty,
		SpokenNumber: r.SpokenNumber,
		Summary:      r.Summary,
		Route:        r.Route,
		Warnings:     r.Warnings,
		MediaURL:     d.MediaURL,
		Attributes:   r.Attributes,
	})
	if err != nil {
		return "", retry.Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "", retry.Permanent(fmt.Errorf("webhook: %w", err))
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vmx-webhook/1")
	req.Header.Set(HeaderDelivery, key)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(s.cfg.Secret), ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.Status, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		err := fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return "", retry.After(time.Duration(secs)*time.Second, err)
		}
		return "", err
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return "", retry.Permanent(fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(snippet))))
	}
	return "", fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
}

// Sign returns the X-VMX-Signature value for a body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a received request's signature and that its timestamp lies
// within tolerance of now, in constant time.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad %s %q", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %s is %s away from now", ts, d.Round(time.Second))
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(header.Get(HeaderSignature))) {
		return errors.New("webhook: signature does not match")
	}
	return nil
}

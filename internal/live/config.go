package live

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/asr/textutil"
	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// Config configures live transcription. Every field but Targets is
// optional; WithDefaults fills in the documented defaults.
type Config struct {
	// Targets receive every transcript message as an HTTPS POST. None is
	// allowed: messages are then only stored.
	Targets []TargetConfig
	// Language is used when a start request names none. Default en-US.
	Language string
	// Redaction masks digit runs (card numbers, PINs) in utterances before
	// they are sent or stored. On by default.
	Redaction RedactionConfig
	// MaxConversations bounds the calls transcribed at once; more start
	// requests are refused with 503. Default 100.
	MaxConversations int
	// StopGrace is how long stop-streaming keeps reading the stream for
	// audio spoken before the request but not yet delivered by Kinesis
	// (fragments are about a second long). Default 1.5 s.
	StopGrace time.Duration
	// DrainTimeout bounds how long stop-streaming waits for the last
	// utterances to be transcribed. Default 15 s.
	DrainTimeout time.Duration
	// Heartbeat is how often the replica transcribing a call records in
	// the database that it still does, with the counts so far. Default 2 s.
	Heartbeat time.Duration
	// StopPoll is how often a replica looks in the database for the stop
	// requests of its calls that reached another replica. Default 500 ms,
	// at most 1 s.
	StopPoll time.Duration
	// StaleAfter is how long a call's heartbeat may be silent before the
	// other replicas take its replica for dead: a stop-streaming then
	// marks it stopped, a start-streaming takes it over. Replicas' clocks
	// must agree to well within it. Default 10 s, at least 3 heartbeats.
	StaleAfter time.Duration
	// MaxMessages bounds the messages GET …/conversation/messages returns
	// for one conversation. Default 1000.
	MaxMessages int
	// VAD picks the voice-activity detector that finds utterances (the
	// energy detector unless Silero is configured).
	VAD vad.Config
	// Pause is the silence that ends an utterance. Shorter means faster
	// messages and shorter utterances. Default 600 ms, from 200 ms to 3 s.
	Pause time.Duration
	// MaxUtterance cuts longer utterances at their longest pause. Default
	// 15 s, from 2 s to 60 s.
	MaxUtterance time.Duration
	// Feed writes the daily utterance file into the blob store.
	Feed FeedConfig
}

// RedactionConfig steers digit-run masking.
type RedactionConfig struct {
	// Disabled turns masking off for every call; a start request may also
	// turn it off for its call with autotranscribeParams.redaction false.
	Disabled bool
	// MinRun is the number of digits from which a run is masked. Default 4.
	MinRun int
	// Keep is how many trailing digits of a masked run stay visible.
	// Default 0.
	Keep int
}

// FeedConfig configures the daily file feed.
type FeedConfig struct {
	// Enabled writes, once a day, the previous UTC day's utterances to
	// Prefix + "YYYY/MM/DD.jsonl" in the blob store.
	Enabled bool
	// Prefix of the feed's keys. Default "transcripts/utterances/".
	Prefix string
	// At is the UTC time of day ("HH:MM") the feed is written. Default
	// "02:00", as the seed's File Exporter.
	At string
}

// Secret placements.
const (
	SecretInHeader = "header"
	SecretInQuery  = "query"
)

// TargetConfig is one receiver of transcript messages.
type TargetConfig struct {
	// Name labels the target in metrics and logs. Default "target<i>".
	Name string
	// URL receives the POSTs; https, or http for local receivers.
	URL string
	// Timeout bounds one POST. Default 5 s.
	Timeout time.Duration
	// QueueSize bounds the messages waiting for the target; when it is
	// full the oldest waiting message is dropped. Default 1000.
	QueueSize int
	// MaxAge drops a waiting message older than this: a late transcript is
	// worth less than a current one. Default 30 s.
	MaxAge time.Duration
	// Concurrency is the number of POSTs in flight. Default 4.
	Concurrency int
	// Secret, when Value is set, is sent with every POST.
	Secret SecretConfig
	// CAFile is a PEM bundle of CAs trusted for the target's (and the
	// token server's) certificate, besides the system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS.
	CertFile string
	KeyFile  string
	// OAuth2, when TokenURL is set, authenticates with a bearer token from
	// the OAuth 2.0 client credentials grant.
	OAuth2 OAuth2Config
}

// SecretConfig is a shared secret sent with every POST.
type SecretConfig struct {
	// Name of the header or URL parameter. Default "X-Api-Key" in a
	// header, "api_key" in the query.
	Name string
	// Value is the secret.
	Value string
	// In is SecretInHeader (default) or SecretInQuery.
	In string
}

// OAuth2Config is an OAuth 2.0 client credentials grant (RFC 6749 §4.4).
type OAuth2Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Audience is sent as the audience parameter when set (Auth0, Okta).
	Audience string
	// InBody sends the client credentials in the form body instead of
	// HTTP Basic authentication.
	InBody bool
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Language == "" {
		c.Language = "en-US"
	}
	if c.Redaction.MinRun == 0 {
		c.Redaction.MinRun = textutil.DefaultMinRun
	}
	if c.MaxConversations == 0 {
		c.MaxConversations = 100
	}
	if c.StopGrace == 0 {
		c.StopGrace = 1500 * time.Millisecond
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 15 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.StopPoll == 0 {
		c.StopPoll = 500 * time.Millisecond
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 10 * time.Second
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = 1000
	}
	if c.Pause == 0 {
		c.Pause = 600 * time.Millisecond
	}
	if c.MaxUtterance == 0 {
		c.MaxUtterance = 15 * time.Second
	}
	if c.Feed.Prefix == "" {
		c.Feed.Prefix = "transcripts/utterances/"
	}
	if c.Feed.At == "" {
		c.Feed.At = "02:00"
	}
	c.Targets = append([]TargetConfig(nil), c.Targets...)
	for i := range c.Targets {
		c.Targets[i] = c.Targets[i].withDefaults(i)
	}
	return c
}

func (t TargetConfig) withDefaults(i int) TargetConfig {
	if t.Name == "" {
		t.Name = fmt.Sprintf("target%d", i+1)
	}
	if t.Timeout == 0 {
		t.Timeout = 5 * time.Second
	}
	if t.QueueSize == 0 {
		t.QueueSize = 1000
	}
	if t.MaxAge == 0 {
		t.MaxAge = 30 * time.Second
	}
	if t.Concurrency == 0 {
		t.Concurrency = 4
	}
	if t.Secret.In == "" {
		t.Secret.In = SecretInHeader
	}
	if t.Secret.Name == "" {
		t.Secret.Name = "X-Api-Key"
		if t.Secret.In == SecretInQuery {
			t.Secret.Name = "api_key"
		}
	}
	return t
}

var (
	targetName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`) // at most 64, checked apart
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	timeOfDay  = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// Validate checks a defaulted Config and returns every problem found.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxConversations < 1 {
		bad("max_conversations: %d must be at least 1", c.MaxConversations)
	}
	if c.StopGrace < 0 || c.StopGrace > 30*time.Second {
		bad("stop_grace: %s must be between 0 and 30s", c.StopGrace)
	}
	if c.DrainTimeout < time.Second {
		bad("drain_timeout: %s must be at least 1s", c.DrainTimeout)
	}
	if c.Heartbeat < 10*time.Millisecond || c.Heartbeat > time.Minute {
		bad("heartbeat: %s must be between 10ms and 1m", c.Heartbeat)
	}
	if c.StopPoll < 10*time.Millisecond || c.StopPoll > time.Second {
		bad("stop_poll: %s must be between 10ms and 1s", c.StopPoll)
	}
	if c.StaleAfter < 3*c.Heartbeat {
		bad("stale_after: %s must be at least 3 heartbeats (%s)", c.StaleAfter, 3*c.Heartbeat)
	}
	if c.MaxMessages < 1 || c.MaxMessages > 100000 {
		bad("max_messages: %d must be between 1 and 100000", c.MaxMessages)
	}
	if c.Pause < 200*time.Millisecond || c.Pause > 3*time.Second {
		bad("pause: %s must be between 200ms and 3s", c.Pause)
	}
	if c.MaxUtterance < 2*time.Second || c.MaxUtterance > time.Minute {
		bad("max_utterance: %s must be between 2s and 1m", c.MaxUtterance)
	}
	if _, err := textutil.NewMasker(textutil.MaskOptions{MinRun: c.Redaction.MinRun, Keep: c.Redaction.Keep}); err != nil {
		bad("redaction: %w", err)
	}
	if c.Feed.Enabled && !timeOfDay.MatchString(c.Feed.At) {
		bad("feed.at: %q must be a UTC time of day HH:MM", c.Feed.At)
	}
	if c.Feed.Enabled && (strings.HasPrefix(c.Feed.Prefix, "/") || strings.Contains(c.Feed.Prefix, "..")) {
		bad("feed.prefix: %q must be a relative key prefix", c.Feed.Prefix)
	}
	names := map[string]bool{}
	for i, t := range c.Targets {
		if names[t.Name] {
			bad("targets[%d].name: %q is used twice", i, t.Name)
		}
		names[t.Name] = true
		for _, err := range t.problems() {
			bad("targets[%d] (%s).%w", i, t.Name, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("live: %w", err)
	}
	return nil
}

func (t TargetConfig) problems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(t.Name) > 64 || !targetName.MatchString(t.Name) {
		bad("name: %q must be 1 to 64 of A-Z a-z 0-9 _ . -", t.Name)
	}
	u, err := url.Parse(t.URL)
	switch {
	case err != nil:
		bad("url: %w", err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		bad("url: %q must be an https (or http) URL", t.URL)
	case u.User != nil:
		bad("url: must not carry credentials; use secret or oauth2")
	}
	if t.Timeout <= 0 || t.Timeout > time.Minute {
		bad("timeout: %s must be between 0 and 1m", t.Timeout)
	}
	if t.QueueSize < 1 || t.QueueSize > 1_000_000 {
		bad("queue_size: %d must be between 1 and 1000000", t.QueueSize)
	}
	if t.MaxAge < t.Timeout {
		bad("max_age: %s must be at least the timeout (%s)", t.MaxAge, t.Timeout)
	}
	if t.Concurrency < 1 || t.Concurrency > 256 {
		bad("concurrency: %d must be between 1 and 256", t.Concurrency)
	}
	switch t.Secret.In {
	case SecretInHeader:
		if !headerName.MatchString(t.Secret.Name) {
			bad("secret.name: %q is not a valid header name", t.Secret.Name)
		}
	case SecretInQuery:
	default:
		bad("secret.in: %q must be %q or %q", t.Secret.In, SecretInHeader, SecretInQuery)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("cert_file and key_file: set both for mutual TLS, or neither")
	}
	o := t.OAuth2
	if o.TokenURL != "" {
		if tu, err := url.Parse(o.TokenURL); err != nil || (tu.Scheme != "https" && tu.Scheme != "http") || tu.Host == "" {
			bad("oauth2.token_url: %q must be an https (or http) URL", o.TokenURL)
		}
		if o.ClientID == "" || o.ClientSecret == "" {
			bad("oauth2: client_id and client_secret are required with token_url")
		}
	} else if o.ClientID != "" || o.ClientSecret != "" {
		bad("oauth2.token_url: required with client_id and client_secret")
	}
	return errs
}

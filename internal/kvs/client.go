package kvs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// signingName is the SigV4 service name of every KVS API.
const signingName = "kinesisvideo"

// Options configures a Client. Every field is optional; zero values take
// the documented defaults.
type Options struct {
	// Endpoint overrides the control-plane endpoint that GetDataEndpoint is
	// sent to, e.g. a local simulator (VMX_KVS_ENDPOINT). Data-plane calls go
	// wherever GetDataEndpoint points.
	Endpoint string
	// HTTPClient sends the data-plane requests and, when set, the SDK's. It
	// must not set Timeout: a GetMedia body streams for up to 45 minutes.
	// Default: a client on http.DefaultTransport for the data plane and the
	// aws.Config's client for the SDK.
	HTTPClient *http.Client
	// Logger receives retries, reconnects and endpoint refreshes.
	// Default: discard.
	Logger *slog.Logger

	// MaxAttempts bounds the attempts of one request that is throttled,
	// answered with a 5xx or not answered at all. Default 5.
	MaxAttempts int
	// BaseDelay is the back-off before the second attempt; it doubles per
	// attempt up to MaxDelay, with jitter. Defaults 100 ms and 5 s.
	BaseDelay time.Duration
	MaxDelay  time.Duration

	// ListPadding widens the time range of ReadRange's ListFragments on both
	// sides: ListFragments selects fragments by start time, so a fragment
	// that began just before the contact's start time would otherwise be
	// missed. Default 5 s.
	ListPadding time.Duration

	// EmptyReconnects ends a live read after that many consecutive GetMedia
	// reconnects brought nothing new. Default 3.
	EmptyReconnects int
	// ReconnectDelay is the pause before reconnecting after a GetMedia
	// session that brought nothing new. Default 1 s.
	ReconnectDelay time.Duration
	// IdleTimeout ends a GetMedia session that delivers no byte for this
	// long; the read then reconnects as after any other break. KVS does not
	// document when it closes an idle GetMedia, so without it a read of a
	// finished stream could wait for the end of the session (about 45 min).
	// Default 15 s; negative disables it.
	IdleTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 100 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Second
	}
	if o.ListPadding <= 0 {
		o.ListPadding = 5 * time.Second
	}
	if o.EmptyReconnects <= 0 {
		o.EmptyReconnects = 3
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 15 * time.Second
	}
	return o
}

// Stream names a Kinesis video stream by ARN or by name. The ARN wins when
// both are set.
type Stream struct {
	ARN  string
	Name string
}

func (s Stream) String() string {
	if s.ARN != "" {
		return s.ARN
	}
	return s.Name
}

func (s Stream) validate() error {
	if s.ARN == "" && s.Name == "" {
		return errors.New("stream ARN or name required")
	}
	return nil
}

// created returns when the stream was created: the last part of a KVS
// stream ARN is its creation time in Unix milliseconds
// (arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/1736282293468). Without
// an ARN it returns the Unix epoch, which KVS engineers suggest as the
// start of a ListFragments range for "everything".
func (s Stream) created() time.Time {
	resource := s.ARN[strings.LastIndexByte(s.ARN, ':')+1:]
	if rest, ok := strings.CutPrefix(resource, "stream/"); ok {
		_, ms, _ := strings.Cut(rest, "/")
		if v, err := strconv.ParseInt(ms, 10, 64); err == nil && v > 0 {
			return time.UnixMilli(v)
		}
	}
	return time.Unix(0, 0)
}

// streamRef is the stream part of every request body; KVS takes either
// field, never both.
type streamRef struct {
	StreamARN  string `json:",omitempty"`
	StreamName string `json:",omitempty"`
}

func (s Stream) ref() streamRef {
	if s.ARN != "" {
		return streamRef{StreamARN: s.ARN}
	}
	return streamRef{StreamName: s.Name}
}

// Client calls the KVS media APIs. It is safe for concurrent use.
type Client struct {
	cp     *kinesisvideo.Client
	hc     *http.Client
	creds  aws.CredentialsProvider
	region string
	signer *v4.Signer
	log    *slog.Logger
	opts   Options

	mu        sync.Mutex
	endpoints map[endpointKey]string
}

type endpointKey struct {
	stream string
	api    types.APIName
}

// New returns a Client for the region and credentials of cfg.
func New(cfg aws.Config, opts Options) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("kvs: region required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("kvs: credentials required")
	}
	opts = opts.withDefaults()
	creds := cfg.Credentials
	if _, ok := creds.(*aws.CredentialsCache); !ok {
		// Every data-plane request is signed; do not hit a credential
		// source (IMDS, STS) each time.
		creds = aws.NewCredentialsCache(creds)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	cp := kinesisvideo.NewFromConfig(cfg, func(o *kinesisvideo.Options) {
		// Retries are ours, so that one policy covers both planes.
		o.Retryer = aws.NopRetryer{}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	return &Client{
		cp:        cp,
		hc:        hc,
		creds:     creds,
		region:    cfg.Region,
		signer:    v4.NewSigner(),
		log:       opts.Logger.With("component", "kvs"),
		opts:      opts,
		endpoints: make(map[endpointKey]string),
	}, nil
}

// dataEndpoint returns the cached data endpoint of (s, api) or asks
// GetDataEndpoint once; the caller's retry loop handles failures.
func (c *Client) dataEndpoint(ctx context.Context, s Stream, api types.APIName) (string, error) {
	key := endpointKey{s.String(), api}
	c.mu.Lock()
	ep, ok := c.endpoints[key]
	c.mu.Unlock()
	if ok {
		return ep, nil
	}
	in := &kinesisvideo.GetDataEndpointInput{APIName: api}
	if s.ARN != "" {
		in.StreamARN = aws.String(s.ARN)
	} else {
		in.StreamName = aws.String(s.Name)
	}
	out, err := c.cp.GetDataEndpoint(ctx, in)
	if err != nil {
		return "", fmt.Errorf("get data endpoint: %w", err)
	}
	ep = strings.TrimRight(aws.ToString(out.DataEndpoint), "/")
	if ep == "" {
		return "", errors.New("get data endpoint: empty DataEndpoint")
	}
	c.mu.Lock()
	c.endpoints[key] = ep
	c.mu.Unlock()
	return ep, nil
}

func (c *Client) forgetEndpoint(s Stream, api types.APIName) {
	c.mu.Lock()
	delete(c.endpoints, endpointKey{s.String(), api})
	c.mu.Unlock()
}

// post sends a signed JSON request to the data endpoint of (s, api) and
// returns the open 2xx response. It retries with back-off, and refreshes
// the data endpoint once when the failure suggests it went stale.
func (c *Client) post(ctx context.Context, op string, api types.APIName, s Stream, path string, body any) (*http.Response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	refreshed := false
	var resp *http.Response
	err = c.retry(ctx, op, func() error {
		ep, err := c.dataEndpoint(ctx, s, api)
		if err != nil {
			return err
		}
		resp, err = c.send(ctx, op, ep+path, payload)
		if err == nil || refreshed || !staleEndpoint(err) {
			return err
		}
		refreshed = true
		c.log.LogAttrs(ctx, slog.LevelInfo, "refreshing data endpoint",
			slog.String("op", op), slog.String("stream", s.String()), slog.Any("error", err))
		c.forgetEndpoint(s, api)
		if ep, err = c.dataEndpoint(ctx, s, api); err != nil {
			return err
		}
		resp, err = c.send(ctx, op, ep+path, payload)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// send signs and sends one request. A non-2xx response is returned as an
// *APIError with its body closed.
func (c *Client) send(ctx context.Context, op, url string, payload []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName, c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readAPIError(op, resp)
	}
	return resp, nil
}

// retry runs fn until it succeeds, fails for good, runs out of attempts or
// ctx ends.
func (c *Client) retry(ctx context.Context, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || ctx.Err() != nil || !retryable(err) || attempt >= c.opts.MaxAttempts {
			return err
		}
		d := c.backoff(attempt)
		c.log.LogAttrs(ctx, slog.LevelDebug, "retrying",
			slog.String("op", op), slog.Int("attempt", attempt), slog.Duration("delay", d), slog.Any("error", err))
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// backoff returns the delay after the given failed attempt: exponential,
// capped, with "equal jitter" (half fixed, half random) so that clients
// throttled together do not come back together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BaseDelay
	for i := 1; i < attempt && d < c.opts.MaxDelay; i++ {
		d *= 2
	}
	half := min(d, c.opts.MaxDelay) / 2
	return half + rand.N(half+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

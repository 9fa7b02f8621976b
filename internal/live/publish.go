package live

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/certpool"
)

// pending is a message waiting for one target.
type pending struct {
	guid     string
	seq      int64
	body     []byte
	queued   time.Time
	audioEnd time.Time // when the audio that completed the utterance arrived
}

// publisher sends messages to one target: a bounded FIFO queue worked by
// Concurrency senders. It never retries: a failed POST is logged and
// counted, and when the target falls behind the oldest waiting messages
// are dropped first (queue full, or older than MaxAge).
type publisher struct {
	cfg    TargetConfig
	client *http.Client
	tokens *tokenSource // nil without OAuth2
	m      *Metrics
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	queue  []*pending
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed when the senders must stop
	wg     sync.WaitGroup
}

// newPublisher returns a started publisher for a defaulted, valid target.
func newPublisher(cfg TargetConfig, m *Metrics, log *slog.Logger) (*publisher, error) {
	tr, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	p := &publisher{
		cfg:    cfg,
		client: client,
		m:      m,
		log:    log.With("target", cfg.Name),
		now:    time.Now,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if cfg.OAuth2.TokenURL != "" {
		p.tokens = newTokenSource(cfg.OAuth2, client)
	}
	m.queue.WithLabelValues(cfg.Name).Set(0)
	for range cfg.Concurrency {
		p.wg.Add(1)
		go p.send()
	}
	return p, nil
}

// transport makes the target's TLS settings: TLS 1.2 or later, the
// system's CAs plus CAFile, and the client certificate for mutual TLS.
func transport(cfg TargetConfig) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := certpool.WithFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("live: target %s: ca_file: %w", cfg.Name, err)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("live: target %s: client certificate: %w", cfg.Name, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = max(cfg.Concurrency, 2)
	return tr, nil
}

// enqueue adds a message, dropping the oldest waiting one when the queue
// is full.
func (p *publisher) enqueue(m *pending) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.drop(m, "shutdown")
		return
	}
	var dropped *pending
	if len(p.queue) >= p.cfg.QueueSize {
		dropped = p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
	}
	m.queued = p.now()
	p.queue = append(p.queue, m)
	depth := len(p.queue)
	p.mu.Unlock()
	p.m.queue.WithLabelValues(p.cfg.Name).Set(float64(depth))
	if dropped != nil {
		p.drop(dropped, "queue_full")
	}
	p.signal()
}

func (p *publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns the oldest waiting message, or nil.
func (p *publisher) take() *pending {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	m := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) > 0 {
		p.signal() // another sender may take the next one
	}
	p.m.queue.WithLabelValues(p.cfg.Name).Set(float64(len(p.queue)))
	return m
}

func (p *publisher) send() {
	defer p.wg.Done()
	for {
		m := p.take()
		if m == nil {
			select {
			case <-p.wake:
				continue
			case <-p.done:
				return
			}
		}
		if age := p.now().Sub(m.queued); age > p.cfg.MaxAge {
			p.drop(m, "expired")
			continue
		}
		p.post(m)
	}
}

func (p *publisher) drop(m *pending, reason string) {
	p.m.drops.WithLabelValues(p.cfg.Name, reason).Inc()
	p.m.messages.WithLabelValues(p.cfg.Name, "dropped").Inc()
	p.log.Warn("transcript message dropped", "contact_id", m.guid, "seq", m.seq, "reason", reason)
}

// post sends one message once.
func (p *publisher) post(m *pending) {
	reason, err := p.do(m)
	if err == nil {
		p.m.messages.WithLabelValues(p.cfg.Name, "delivered").Inc()
		if !m.audioEnd.IsZero() {
			p.m.latency.WithLabelValues(p.cfg.Name).Observe(p.now().Sub(m.audioEnd).Seconds())
		}
		return
	}
	p.m.messages.WithLabelValues(p.cfg.Name, "failed").Inc()
	p.m.failures.WithLabelValues(p.cfg.Name, reason).Inc()
	p.log.Warn("transcript message not delivered; not retried", "contact_id", m.guid, "seq", m.seq, "reason", reason, "error", err)
}

// do POSTs m and classifies a failure: timeout, network, auth or status.
func (p *publisher) do(m *pending) (reason string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	target := p.cfg.URL
	if s := p.cfg.Secret; s.Value != "" && s.In == SecretInQuery {
		u, _ := url.Parse(target) // validated
		q := u.Query()
		q.Set(s.Name, s.Value)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(m.body))
	if err != nil {
		return "network", fmt.Errorf("live: target %s: %w", p.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vmx-live")
	if s := p.cfg.Secret; s.Value != "" && s.In == SecretInHeader {
		req.Header.Set(s.Name, s.Value)
	}
	if p.tokens != nil {
		tok, err := p.tokens.token(ctx)
		if err != nil {
			return "auth", fmt.Errorf("live: target %s: %w", p.cfg.Name, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return "timeout", fmt.Errorf("live: target %s: %w", p.cfg.Name, err)
		}
		return "network", fmt.Errorf("live: target %s: %w", p.cfg.Name, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "", nil
	case resp.StatusCode == http.StatusUnauthorized && p.tokens != nil:
		// The token may have been revoked: fetch a new one for the next.
		p.tokens.invalidate()
		return "auth", fmt.Errorf("live: target %s: status %d: %s", p.cfg.Name, resp.StatusCode, bytes.TrimSpace(snippet))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "auth", fmt.Errorf("live: target %s: status %d: %s", p.cfg.Name, resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return "status", fmt.Errorf("live: target %s: status %d: %s", p.cfg.Name, resp.StatusCode, bytes.TrimSpace(snippet))
}

// close stops accepting messages and gives the waiting ones until ctx ends
// to go out; what is left then is dropped.
func (p *publisher) close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		p.mu.Lock()
		n := len(p.queue)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	close(p.done)
	p.wg.Wait()
	for m := p.take(); m != nil; m = p.take() {
		p.drop(m, "shutdown")
	}
}

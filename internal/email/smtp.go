package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/vmx-dev/vmx/internal/certpool"
	"github.com/vmx-dev/vmx/internal/retry"
)

// TLS modes of [SMTPConfig].TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which the server must offer
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // no encryption: for a relay on the same host or network only
)

// Authentication mechanisms of [SMTPConfig].Auth.
const (
	AuthPlain = "plain"
	AuthLogin = "login"
)

// DefaultSMTPTimeout bounds each step of a conversation with the server.
const DefaultSMTPTimeout = 60 * time.Second

// SMTPConfig is an SMTP relay.
type SMTPConfig struct {
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// Username and Password, when Username is set, authenticate with
	// Auth: AuthPlain (default) or AuthLogin. Credentials are only sent
	// over TLS or to a loopback host.
	Username string
	Password string
	Auth     string
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's, for a relay with a private CA.
	CAFile string
	// Timeout is how long each step (connect, a command, writing a chunk
	// of the message) may take. 0 means DefaultSMTPTimeout.
	Timeout time.Duration
	// HELO is the name vmx gives in EHLO. Empty means the host name.
	HELO string
}

// Validate checks the configuration and returns every problem found.
func (c SMTPConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("email: smtp: "+format, args...))
	}
	if c.Host == "" {
		bad("host must be set")
	} else if strings.ContainsAny(c.Host, " /:[]") {
		bad("host %q must be a host name or IPv4 address, without port", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port %d must be between 1 and 65535", c.Port)
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		bad("tls %q must be %q, %q or %q", c.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	switch c.Auth {
	case "", AuthPlain, AuthLogin:
	default:
		bad("auth %q must be %q or %q", c.Auth, AuthPlain, AuthLogin)
	}
	if c.Username == "" && c.Password != "" {
		bad("password is set but username is not")
	}
	if c.Username != "" && c.TLS == TLSNone && !loopback(c.Host) {
		bad("username is set with tls %q: credentials would cross the network unencrypted; use %q or %q", TLSNone, TLSStartTLS, TLSImplicit)
	}
	if c.CAFile != "" {
		if c.TLS == TLSNone {
			bad("ca_file is set with tls %q", TLSNone)
		}
		if _, err := certpool.WithFile(c.CAFile); err != nil {
			bad("ca_file: %v", err)
		}
	}
	if c.Timeout < 0 {
		bad("timeout %s must not be negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// loopback reports whether host is one go-mail sends credentials to
// without TLS.
func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1"
}

// SMTP sends messages through an SMTP relay, one connection per message.
type SMTP struct {
	host   string
	opts   []mail.Option
	dialer interface {
		DialContext(context.Context, string, string) (net.Conn, error)
	}
	timeout time.Duration
}

// NewSMTP returns a sender for cfg.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[cfg.TLS]
	}
	tlsCfg := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := certpool.WithFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email: smtp: ca_file: %w", err)
		}
		tlsCfg.RootCAs = pool
	}
	opts := []mail.Option{
		mail.WithPort(cfg.Port),
		mail.WithTimeout(cfg.Timeout),
		mail.WithTLSConfig(tlsCfg),
	}
	switch cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if cfg.Username != "" {
		auth := mail.SMTPAuthPlain
		if cfg.Auth == AuthLogin {
			auth = mail.SMTPAuthLogin
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	if _, err := mail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("email: smtp: %w", err)
	}
	s := &SMTP{host: cfg.Host, opts: opts, dialer: &net.Dialer{}, timeout: cfg.Timeout}
	if cfg.TLS == TLSImplicit {
		s.dialer = &tls.Dialer{NetDialer: &net.Dialer{}, Config: tlsCfg}
	}
	return s, nil
}

// Send sends msg in one SMTP transaction and returns the server's reply
// to it, which often names its queue ID: `smtp-reply="2.0.0 Ok: queued
// as 4XyZ"`. Replies 5xx are permanent errors; 4xx replies and connection
// failures may be retried.
func (s *SMTP) Send(ctx context.Context, from string, to []string, msg io.WriterTo) (string, error) {
	// The SMTP client does not watch the context after dialling, and holds
	// a lock while it waits for a reply: closing the connection itself
	// interrupts whatever it is doing. go-mail's own dialler would hide
	// the connection, so each send dials through one of its own.
	var conn net.Conn
	client, err := mail.NewClient(s.host, append(slices.Clip(s.opts), mail.WithDialContextFunc(
		func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := s.dialer.DialContext(ctx, network, addr)
			conn = c
			return c, err
		}))...)
	if err != nil {
		return "", fmt.Errorf("smtp: %w", err)
	}
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return "", smtpError("connect", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		if stop() {
			_ = client.CloseWithSMTPClient(c) // QUIT
		}
		_ = conn.Close()
	}()
	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("smtp %s: %w", what, ctx.Err())
		}
		return smtpError(what, err)
	}
	if err := step("MAIL FROM", c.Mail("<"+from+">")); err != nil {
		return "", err
	}
	for _, rcpt := range to {
		if err := c.UpdateDeadline(s.timeout); err != nil {
			return "", step("RCPT TO", err)
		}
		if err := step("RCPT TO "+rcpt, c.Rcpt("<"+rcpt+">")); err != nil {
			return "", err
		}
	}
	if err := c.UpdateDeadline(s.timeout); err != nil {
		return "", step("DATA", err)
	}
	w, err := c.Data()
	if err := step("DATA", err); err != nil {
		return "", err
	}
	if _, err := msg.WriteTo(&deadlineWriter{w: w, c: c, timeout: s.timeout}); err != nil {
		// Ending DATA would send half a message: drop the connection, and
		// the server the transaction, instead.
		_ = conn.Close()
		return "", step("DATA", err)
	}
	if err := step("end of DATA", w.Close()); err != nil {
		return "", err
	}
	if dc, ok := w.(*smtp.DataCloser); ok && dc.ServerResponse() != "" {
		return "smtp-reply=" + strconv.Quote(dc.ServerResponse()), nil
	}
	return "", nil
}

// smtpError wraps err of an SMTP step, marking 5xx replies permanent.
func smtpError(step string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("smtp %s: %w", step, err)
	}
	err = &ReplyError{Step: step, Code: te.Code, Msg: te.Msg, err: err}
	if te.Code >= 500 && te.Code < 600 {
		return retry.Permanent(err)
	}
	return err
}

// ReplyError is an SMTP server's negative reply to a step of sending.
type ReplyError struct {
	Step string // "MAIL FROM", "RCPT TO <address>", "end of DATA"…
	Code int    // 4xx: try again later; 5xx: refused for good
	Msg  string // the reply text, with its enhanced status code
	err  error
}

func (e *ReplyError) Error() string { return fmt.Sprintf("smtp %s: %d %s", e.Step, e.Code, e.Msg) }

// Unwrap returns the error the SMTP client returned.
func (e *ReplyError) Unwrap() error { return e.err }

// deadlineWriter extends the connection's deadline before each write, so
// that Timeout bounds a stall rather than the whole message.
type deadlineWriter struct {
	w       io.Writer
	c       *smtp.Client
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.c.UpdateDeadline(d.timeout); err != nil {
		return 0, err
	}
	return d.w.Write(p)
}

var _ Sender = (*SMTP)(nil)

// Package smtptest is an SMTP server for tests: emersion/go-smtp in
// process, on a free loopback port, recording each message it accepts
// with its envelope. It speaks plain SMTP, STARTTLS or implicit TLS with a
// self-signed certificate (CAFile), optionally requires AUTH PLAIN or
// LOGIN, and can refuse recipients or messages to exercise error paths.
// Parse reads a recorded message back into its MIME parts.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of Options, named as vmx's smtp.tls setting names them.
const (
	TLSNone     = "none"     // plain SMTP
	TLSStartTLS = "starttls" // plain, offering STARTTLS
	TLSImplicit = "tls"      // TLS from the first byte
)

// Options configure a Server.
type Options struct {
	// TLS is TLSNone (default), TLSStartTLS or TLSImplicit.
	TLS string
	// Username and Password, when Username is set, are required with
	// AUTH PLAIN or LOGIN before MAIL FROM.
	Username, Password string
	// RejectRcpt answers RCPT TO of these addresses with the error.
	RejectRcpt map[string]*smtp.SMTPError
	// RejectData answers the end of DATA with the error.
	RejectData *smtp.SMTPError
	// Stall waits before answering the end of DATA.
	Stall time.Duration
}

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	Data []byte   // the message as received (headers and body)
	User string   // the authenticated user, if any
	TLS  bool     // whether the connection was encrypted
	At   time.Time
}

// Server is a running SMTP server. It is safe for concurrent use.
type Server struct {
	Host   string // 127.0.0.1
	Port   int
	CAFile string // PEM of the certificate it presents; empty with TLSNone

	opts Options
	mu   sync.Mutex
	msgs []Message
}

// Start starts a server that stops when tb's test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.TLS == "" {
		opts.TLS = TLSNone
	}
	s := &Server{Host: "127.0.0.1", opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = opts.TLS == TLSNone
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	switch opts.TLS {
	case TLSNone:
	case TLSStartTLS, TLSImplicit:
		cert, caFile := selfSigned(tb)
		s.CAFile = caFile
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if opts.TLS == TLSImplicit {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	default:
		l.Close()
		tb.Fatalf("smtptest: TLS %q is not %q, %q or %q", opts.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Options returns the server's options, with the default TLS mode filled in.
func (s *Server) Options() Options { return s.opts }

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		o := s.srv.opts
		if o.Username == "" || user != o.Username || pass != o.Password {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := s.srv.opts.RejectRcpt[to]; e != nil {
		return e
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(s.srv.opts.Stall)
	if e := s.srv.opts.RejectData; e != nil {
		return e
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, Message{From: s.from, To: s.to, Data: b, User: s.user, TLS: isTLS, At: time.Now()})
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil { // initial response: the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, errors.New("unexpected response")
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes it
// to a PEM file, the CA file of clients.
func selfSigned(tb testing.TB) (tls.Certificate, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vmx test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	file := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

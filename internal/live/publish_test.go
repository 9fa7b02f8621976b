package live

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	dir  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vmx live test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), dir: t.TempDir()}
	return ca
}

// issue makes a leaf certificate: a server's for 127.0.0.1 or a client's.
func (ca *testCA) issue(t *testing.T, cn string, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// files writes a certificate and its key as PEM files.
func (ca *testCA) files(t *testing.T, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(ca.dir, name+".crt")
	keyFile = filepath.Join(ca.dir, name+".key")
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
	write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return certFile, keyFile
}

func (ca *testCA) file(t *testing.T) string {
	p := filepath.Join(ca.dir, "ca.pem")
	write(t, p, ca.pem)
	return p
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsServer starts an HTTPS server with a certificate from ca; with
// clientCA it requires a client certificate from it.
func tlsServer(t *testing.T, ca *testCA, h http.Handler, clientCA bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "127.0.0.1", false)}, MinVersion: tls.VersionTLS12}
	if clientCA {
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		srv.TLS.ClientCAs = pool
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func testPublisher(t *testing.T, cfg TargetConfig) (*publisher, *Metrics) {
	t.Helper()
	m := NewMetrics()
	p, err := newPublisher(cfg.withDefaults(0), m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close(t.Context()) })
	return p, m
}

func msg(seq int64) *pending {
	b, _ := json.Marshal(Message{Type: "transcript", ExternalConversationID: "c-1", Response: Transcript{Utterance: []Text{{fmt.Sprint(seq)}}}})
	return &pending{guid: "c-1", seq: seq, body: b}
}

// seqOf reads back the sequence number msg put in a body.
func seqOf(t *testing.T, r *http.Request) string {
	var m Message
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil || len(m.Response.Utterance) != 1 {
		t.Errorf("body %q: %v", b, err)
		return ""
	}
	return m.Response.Utterance[0].Text
}

// TestMutualTLS posts to a server that requires a client certificate from
// a private CA, and checks that a target without one fails and is counted.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	var mu sync.Mutex
	var peers []string
	srv := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers = append(peers, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		seqOf(t, r)
	}), true)
	certFile, keyFile := ca.files(t, "client", ca.issue(t, "vmx-live-client", true))

	p, m := testPublisher(t, TargetConfig{URL: srv.URL, CAFile: ca.file(t), CertFile: certFile, KeyFile: keyFile})
	p.enqueue(msg(1))
	waitFor(t, 5*time.Second, "delivery", func() bool { return counter(t, m.messages, "target1", "delivered") == 1 })
	mu.Lock()
	if len(peers) != 1 || peers[0] != "vmx-live-client" {
		t.Errorf("server saw client certificates %v", peers)
	}
	mu.Unlock()

	// Without the client certificate the handshake fails; without the CA
	// the server is not trusted. Both are failures, not retried.
	noCert, m2 := testPublisher(t, TargetConfig{URL: srv.URL, CAFile: ca.file(t)})
	noCert.enqueue(msg(2))
	noCA, m3 := testPublisher(t, TargetConfig{URL: srv.URL, CertFile: certFile, KeyFile: keyFile})
	noCA.enqueue(msg(3))
	waitFor(t, 5*time.Second, "failures", func() bool {
		return counter(t, m2.messages, "target1", "failed") == 1 && counter(t, m3.messages, "target1", "failed") == 1
	})
	if n := counter(t, m2.failures, "target1", "network"); n != 1 {
		t.Errorf("missing client certificate counted %v network failures", n)
	}
	mu.Lock()
	if len(peers) != 1 {
		t.Errorf("server accepted %d requests, want 1", len(peers))
	}
	mu.Unlock()
}

// TestOAuth2 gets a token with the client credentials grant from a token
// server behind a private CA, caches it, and fetches a new one when it
// expires or the target rejects it.
func TestOAuth2(t *testing.T) {
	ca := newTestCA(t)
	var mu sync.Mutex
	issued := 0
	tokens := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: both parts are form-encoded.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if err := r.ParseForm(); err != nil || !ok || id != "vmx client" || secret != "s&cret" ||
			r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "transcripts.write other" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client","error_description":"bad credentials"}`))
			return
		}
		mu.Lock()
		issued++
		n := issued
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
	}), false)
	var seen []string
	reject := ""
	target := tlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth := r.Header.Get("Authorization")
		seen = append(seen, auth)
		if auth == "Bearer "+reject {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}), false)

	// Credentials with characters that Basic needs form-encoded.
	p, m := testPublisher(t, TargetConfig{URL: target.URL, CAFile: ca.file(t), Concurrency: 1, OAuth2: OAuth2Config{
		TokenURL: tokens.URL, ClientID: "vmx client", ClientSecret: "s&cret", Scopes: []string{"transcripts.write", "other"},
	}})
	for i := range 3 {
		p.enqueue(msg(int64(i)))
	}
	waitFor(t, 5*time.Second, "three deliveries", func() bool { return counter(t, m.messages, "target1", "delivered") == 3 })
	mu.Lock()
	if issued != 1 || strings.Join(seen, ",") != "Bearer tok-1,Bearer tok-1,Bearer tok-1" {
		t.Errorf("issued %d tokens, target saw %v; want one cached token", issued, seen)
	}
	reject = "tok-1"
	mu.Unlock()

	// A rejected token fails its message (no retry) and is replaced.
	p.enqueue(msg(4))
	waitFor(t, 5*time.Second, "auth failure", func() bool { return counter(t, m.failures, "target1", "auth") == 1 })
	p.enqueue(msg(5))
	waitFor(t, 5*time.Second, "delivery with a new token", func() bool { return counter(t, m.messages, "target1", "delivered") == 4 })

	// An expiring token is refreshed before it runs out.
	p.tokens.mu.Lock()
	p.tokens.now = func() time.Time { return time.Now().Add(time.Hour) }
	p.tokens.mu.Unlock()
	p.enqueue(msg(6))
	waitFor(t, 5*time.Second, "delivery after expiry", func() bool { return counter(t, m.messages, "target1", "delivered") == 5 })
	mu.Lock()
	defer mu.Unlock()
	if issued != 3 || seen[len(seen)-1] != "Bearer tok-3" || seen[len(seen)-2] != "Bearer tok-2" {
		t.Errorf("issued %d tokens, target saw %v", issued, seen)
	}
}

// TestOAuth2BadCredentials fails messages with the server's reason.
func TestOAuth2BadCredentials(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_client","error_description":"unknown client"}`))
	}))
	defer tokens.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the target was called without a token")
	}))
	defer target.Close()
	p, m := testPublisher(t, TargetConfig{URL: target.URL, OAuth2: OAuth2Config{TokenURL: tokens.URL, ClientID: "a", ClientSecret: "b", InBody: true}})
	src := newTokenSource(p.cfg.OAuth2, p.client)
	if _, err := src.token(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_client: unknown client") {
		t.Errorf("token error %v", err)
	}
	p.enqueue(msg(1))
	waitFor(t, 5*time.Second, "auth failure", func() bool { return counter(t, m.failures, "target1", "auth") == 1 })
}

// TestSlowTarget: a target that does not answer in time loses the oldest
// waiting messages first; drops and the timeout are counted, nothing is
// retried.
func TestSlowTarget(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq := seqOf(t, r)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
	}))
	defer srv.Close()
	p, m := testPublisher(t, TargetConfig{URL: srv.URL, Concurrency: 1, QueueSize: 2, Timeout: 300 * time.Millisecond})
	p.enqueue(msg(1))
	waitFor(t, 2*time.Second, "the first POST in flight", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue) == 0
	})
	for i := int64(2); i <= 6; i++ {
		p.enqueue(msg(i))
	}
	if n := counter(t, m.drops, "target1", "queue_full"); n != 3 {
		t.Errorf("dropped %v messages for a full queue, want 3 (2, 3 and 4)", n)
	}
	waitFor(t, 3*time.Second, "the timeout", func() bool { return counter(t, m.failures, "target1", "timeout") == 1 })
	close(release)
	waitFor(t, 3*time.Second, "the newest two", func() bool { return counter(t, m.messages, "target1", "delivered") == 2 })
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "5,6" {
		t.Errorf("target received %v, want the newest two: 5,6", got)
	}
	if n := counter(t, m.messages, "target1", "dropped"); n != 3 {
		t.Errorf("dropped %v", n)
	}
}

// TestExpired drops a message that waited longer than MaxAge.
func TestExpired(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	p, m := testPublisher(t, TargetConfig{URL: srv.URL, Concurrency: 1})
	var skew atomic.Int64
	p.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	p.enqueue(msg(1))
	waitFor(t, 2*time.Second, "the first POST in flight", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.queue) == 0
	})
	p.enqueue(msg(2))
	skew.Store(int64(time.Minute)) // msg 2 has now waited a minute
	close(release)
	waitFor(t, 2*time.Second, "the drop", func() bool { return counter(t, m.drops, "target1", "expired") == 1 })
	if n := counter(t, m.messages, "target1", "delivered"); n != 1 {
		t.Errorf("delivered %v, want only the first", n)
	}
}

package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/vmx-dev/vmx/internal/email/smtptest"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

const hostile = `Hi, it's Jane <script>alert("x")</script> & "friends"`

// testWAV returns a mono 8 kHz 16-bit WAV of n samples of noise.
func testWAV(n int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	b.Write(le.AppendUint32(nil, uint32(36+2*n)))
	b.WriteString("WAVEfmt ")
	b.Write(le.AppendUint32(nil, 16))
	b.Write(le.AppendUint16(nil, 1))
	b.Write(le.AppendUint16(nil, 1))
	b.Write(le.AppendUint32(nil, 8000))
	b.Write(le.AppendUint32(nil, 16000))
	b.Write(le.AppendUint16(nil, 2))
	b.Write(le.AppendUint16(nil, 16))
	b.WriteString("data")
	b.Write(le.AppendUint32(nil, uint32(2*n)))
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		b.Write(le.AppendUint16(nil, uint16(r.Uint32())))
	}
	return b.Bytes()
}

func delivery(audio []byte) *voicemail.Delivery {
	ny, _ := time.LoadLocation("America/New_York")
	return &voicemail.Delivery{
		Record: voicemail.Record{
			Request: voicemail.Request{
				ContactID: "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42", InstanceID: "inst-1", Prefix: "vmx3_",
				QueueARN: "arn:aws:connect:us-east-1:1:instance/inst-1/queue/q-1", Caller: "+15555550100",
				Language: "en-US", CallTime: time.Date(2025, 9, 12, 15, 7, 0, 0, time.UTC),
				Attributes: map[string]string{"vmx3_flag": "1"},
			},
			DurationMS: 4200, Transcript: hostile, SpokenNumber: "5555550101",
			Summary:  "Jane asks for a call back.",
			Route:    voicemail.Route{QueueARN: "arn:aws:connect:us-east-1:1:instance/inst-1/queue/q-1", QueueName: "Support", QueueEmail: "support@example.com"},
			Warnings: []string{"agent jdoe not found; routed to the queue"},
		},
		MediaURL:   "https://vmx.example.com/v1/media/8f0c?sig=abc&exp=1",
		ReceivedAt: time.Date(2025, 9, 12, 15, 7, 0, 0, time.UTC).In(ny),
		OpenAudio: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(audio)), nil
		},
	}
}

func baseConfig() Config {
	return Config{From: "Voicemail <voicemail@example.com>", To: []string{"fallback@example.com"}}
}

func newSink(t *testing.T, cfg Config, sender Sender) *Sink {
	t.Helper()
	s, err := New(cfg, sender, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2025, 9, 12, 15, 9, 0, 0, time.UTC) }
	return s
}

// parseMessage parses a message back into its MIME parts.
func parseMessage(t *testing.T, raw []byte) *smtptest.Mail {
	t.Helper()
	m, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return m
}

// smtpConfig is the SMTPConfig that reaches srv.
func smtpConfig(srv *smtptest.Server) SMTPConfig {
	opts := srv.Options()
	return SMTPConfig{
		Host: srv.Host, Port: srv.Port, TLS: opts.TLS, CAFile: srv.CAFile,
		Username: opts.Username, Password: opts.Password, Timeout: 5 * time.Second,
	}
}

func onlyMessage(t *testing.T, srv *smtptest.Server) smtptest.Message {
	t.Helper()
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	return got[0]
}

func TestDeliverSTARTTLSWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSStartTLS, Username: "vmx", Password: "secret"})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, baseConfig(), sender)
	audio := testWAV(24000)
	d := delivery(audio)
	detail, err := s.Deliver(context.Background(), d, d.Record.ContactID+":email")
	if err != nil {
		t.Fatal(err)
	}
	wantID := MessageID(d.Record.ContactID+":email", "vmx.example.com")
	if !strings.HasPrefix(detail, wantID+` smtp-reply="`) {
		t.Errorf("detail %q does not start with %s and the server's reply", detail, wantID)
	}
	got := onlyMessage(t, srv)
	if got.User != "vmx" || !got.TLS {
		t.Errorf("server saw user %q tls %v, want vmx over TLS", got.User, got.TLS)
	}
	if got.From != "voicemail@example.com" || strings.Join(got.To, ",") != "support@example.com" {
		t.Errorf("envelope %s → %v, want voicemail@example.com → the queue's address", got.From, got.To)
	}
	m := parseMessage(t, got.Data)
	if want := "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]"; m.Structure != want {
		t.Fatalf("structure %s, want %s", m.Structure, want)
	}
	for h, want := range map[string]string{
		"Message-Id":     wantID,
		"From":           `"Voicemail" <voicemail@example.com>`,
		"To":             "<support@example.com>",
		HeaderContactID:  d.Record.ContactID,
		HeaderDelivery:   d.Record.ContactID + ":email",
		"Auto-Submitted": "auto-generated",
		"Date":           "Fri, 12 Sep 2025 15:09:00 +0000",
		"Mime-Version":   "1.0",
		"Content-Type":   "multipart/mixed",
	} {
		v := m.Header.Get(h)
		if h == "Content-Type" {
			v, _, _ = mime.ParseMediaType(v)
		}
		if v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	if want := "Voicemail from +15555550100 in Support (4 s)"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	// The HTML escapes the hostile transcript; the text shows it as said.
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;") {
		t.Errorf("HTML does not escape the transcript:\n%s", m.HTML)
	}
	for _, want := range []string{hostile, "+15555550100", "5555550101", "Support", "Jane asks for a call back.",
		"Fri, Sep 12, 2025 at 11:07 AM EDT", "4 s", d.MediaURL, "voicemail-" + d.Record.ContactID + ".wav",
		"agent jdoe not found; routed to the queue"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `href="https://vmx.example.com/v1/media/8f0c?sig=abc&amp;exp=1"`) {
		t.Errorf("HTML lacks the playback link:\n%s", m.HTML)
	}
	if len(m.Files) != 1 {
		t.Fatalf("%d attachments", len(m.Files))
	}
	f := m.Files[0]
	if f.Name != "voicemail-"+d.Record.ContactID+".wav" || f.ContentType != "audio/wav" || f.Disposition != "attachment" {
		t.Errorf("attachment %s %s %s", f.Name, f.ContentType, f.Disposition)
	}
	if sha256.Sum256(f.Data) != sha256.Sum256(audio) {
		t.Errorf("attachment of %d bytes differs from the %d-byte WAV", len(f.Data), len(audio))
	}
	// Lines stay within the SMTP limit.
	for i, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d is %d characters long", i, len(line))
		}
	}
}

func TestMessageIDFollowsTheKey(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, baseConfig(), sender)
	d := delivery(testWAV(100))
	for _, key := range []string{"c-1:email", "c-1:email", "c-2:email"} {
		if _, err := s.Deliver(context.Background(), d, key); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Messages()
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = parseMessage(t, r.Data).Header.Get("Message-ID")
	}
	if ids[0] != ids[1] || ids[0] == ids[2] || ids[0] != MessageID("c-1:email", "vmx.example.com") {
		t.Errorf("Message-IDs %v: a retry must repeat the first, another key must differ", ids)
	}
	if _, err := mail.ParseAddress(strings.Trim(ids[0], "<>")); err != nil {
		t.Errorf("Message-ID %s is not addr-spec shaped: %v", ids[0], err)
	}
}

func TestAddresses(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, baseConfig(), sender)
	agent := voicemail.Route{QueueEmail: "support@example.com", AgentID: "a-1", AgentName: "Jane Roe", AgentEmail: "jane@example.com"}
	for _, tc := range []struct {
		name     string
		prefix   string
		attrs    map[string]string
		route    voicemail.Route
		from, to string // envelope
		header   string // To header
	}{
		{"queue address", "vmx3_", nil, voicemail.Route{QueueEmail: "support@example.com"},
			"voicemail@example.com", "support@example.com", "<support@example.com>"},
		{"agent before queue", "vmx3_", nil, agent, "voicemail@example.com", "jane@example.com", "<jane@example.com>"},
		{"configured fallback", "vmx3_", nil, voicemail.Route{}, "voicemail@example.com", "fallback@example.com", "<fallback@example.com>"},
		{"attributes override agent and queue", "vmx3_",
			map[string]string{"vmx3_email_to": "Team A <a@example.com>, b@example.com, A@example.com", "vmx3_email_from": "Desk <desk@example.com>"},
			agent, "desk@example.com", "a@example.com,b@example.com", `"Team A" <a@example.com>, <b@example.com>`},
		{"empty attribute is absent", "vmx3_", map[string]string{"vmx3_email_to": "  "}, agent,
			"voicemail@example.com", "jane@example.com", "<jane@example.com>"},
		{"VMX2 names", "vmx_", map[string]string{"email_to": "old@example.com", "email_from": "vm2@example.com"},
			agent, "vm2@example.com", "old@example.com", "<old@example.com>"},
		{"prefixed name wins", "vmx3_", map[string]string{"email_to": "old@example.com", "vmx3_email_to": "new@example.com"},
			agent, "voicemail@example.com", "new@example.com", "<new@example.com>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Messages())
			d := delivery(testWAV(10))
			d.Record.Prefix, d.Record.Route = tc.prefix, tc.route
			for k, v := range tc.attrs {
				d.Record.Attributes[k] = v
			}
			if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()[before]
			if got.From != tc.from || strings.Join(got.To, ",") != tc.to {
				t.Errorf("envelope %s → %v, want %s → %s", got.From, got.To, tc.from, tc.to)
			}
			if h := parseMessage(t, got.Data).Header.Get("To"); h != tc.header {
				t.Errorf("To %q, want %q", h, tc.header)
			}
		})
	}
}

func TestAddressErrorsArePermanent(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.AllowedDomains = []string{"example.com", "*.corp.example"}
	s := newSink(t, cfg, sender)
	noFallback := baseConfig()
	noFallback.To = nil
	bare := newSink(t, noFallback, sender)
	for _, tc := range []struct {
		name  string
		sink  *Sink
		attrs map[string]string
		route voicemail.Route
		want  string
	}{
		{"bad to", s, map[string]string{"vmx3_email_to": "not an address"}, voicemail.Route{}, `attribute vmx3_email_to "not an address" is not an e-mail address list`},
		{"bad from", s, map[string]string{"vmx3_email_from": "desk@"}, voicemail.Route{}, `attribute vmx3_email_from "desk@" is not an e-mail address`},
		{"outside allow-list", s, map[string]string{"vmx3_email_to": "ok@example.com, eve@evil.test"}, voicemail.Route{}, `recipient "eve@evil.test" (from attribute vmx3_email_to) is outside the allowed domains`},
		{"suffix is not a subdomain", s, nil, voicemail.Route{QueueEmail: "q@badexample.com"}, `recipient "q@badexample.com" (from queue e-mail)`},
		{"bad queue address", s, nil, voicemail.Route{QueueEmail: "QVMB::"}, `queue e-mail "QVMB::" is not an e-mail address list`},
		{"no recipient", bare, nil, voicemail.Route{}, "no recipient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := delivery(testWAV(10))
			d.Record.Route = tc.route
			for k, v := range tc.attrs {
				d.Record.Attributes[k] = v
			}
			_, err := tc.sink.Deliver(context.Background(), d, "k")
			if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (permanent %v), want a permanent one containing %q", err, retry.IsPermanent(err), tc.want)
			}
		})
	}
	// Subdomains match a "*." entry.
	d := delivery(testWAV(10))
	d.Record.Attributes["vmx3_email_to"] = "x@eu.corp.example"
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server received %d messages, want only the allowed one", n)
	}
}

func TestAttachmentPolicy(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	audio := testWAV(2000) // 4044 bytes
	for _, tc := range []struct {
		attach    string
		max       int64
		structure string
		link      bool
		note      string
		opened    int
	}{
		{AttachBoth, 0, "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]", true, "", 1},
		{AttachFile, 0, "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]", false, "", 1},
		{AttachLink, 0, "multipart/alternative[text/plain text/html]", true, "", 0},
		{AttachBoth, 4043, "multipart/alternative[text/plain text/html]", true, "larger than the 3.9 KB attachment limit", 1},
		{AttachFile, 1000, "multipart/alternative[text/plain text/html]", true, "larger than the 1000 bytes attachment limit", 1},
		{AttachFile, 4044, "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]", false, "", 1},
	} {
		t.Run(tc.attach, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Attach, cfg.MaxAttachmentBytes = tc.attach, tc.max
			s := newSink(t, cfg, sender)
			d := delivery(audio)
			opened := 0
			open := d.OpenAudio
			d.OpenAudio = func(ctx context.Context) (io.ReadCloser, error) { opened++; return open(ctx) }
			before := len(srv.Messages())
			if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
				t.Fatal(err)
			}
			m := parseMessage(t, srv.Messages()[before].Data)
			if m.Structure != tc.structure {
				t.Errorf("structure %s, want %s", m.Structure, tc.structure)
			}
			if opened != tc.opened {
				t.Errorf("recording opened %d times, want %d", opened, tc.opened)
			}
			for _, body := range []string{m.Text, m.HTML} {
				if strings.Contains(body, "https://vmx.example.com/v1/media/") != tc.link {
					t.Errorf("link shown: %v, want %v:\n%s", !tc.link, tc.link, body)
				}
				if tc.note != "" && !strings.Contains(body, tc.note) {
					t.Errorf("body does not say %q:\n%s", tc.note, body)
				}
			}
			if len(m.Files) == 1 && !bytes.Equal(m.Files[0].Data, audio) {
				t.Error("attachment differs from the WAV")
			}
		})
	}
}

func TestRecordingErrors(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // only this test's temporary files are looked at
	var sent int
	s := newSink(t, baseConfig(), senderFunc(func(context.Context, string, []string, io.WriterTo) (string, error) {
		sent++
		return "", nil
	}))
	d := delivery(nil)
	boom := errors.New("blob store down")
	d.OpenAudio = func(context.Context) (io.ReadCloser, error) { return nil, boom }
	if _, err := s.Deliver(context.Background(), d, "k"); !errors.Is(err, boom) || retry.IsPermanent(err) {
		t.Errorf("open failure: %v, want the retryable cause", err)
	}
	d.OpenAudio = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("RIFF"), errReader{boom})), nil
	}
	if _, err := s.Deliver(context.Background(), d, "k"); !errors.Is(err, boom) || retry.IsPermanent(err) {
		t.Errorf("read failure: %v, want the retryable cause", err)
	}
	if sent != 0 {
		t.Errorf("%d messages sent without their recording", sent)
	}
	if _, err := s.Deliver(context.Background(), d, ""); !retry.IsPermanent(err) {
		t.Errorf("empty key: %v", err)
	}
	// No temporary file is left behind.
	if left, _ := filepath.Glob(filepath.Join(tmp, "vmx-email-*.wav")); len(left) != 0 {
		t.Errorf("temporary files %v left behind", left)
	}
}

type senderFunc func(ctx context.Context, from string, to []string, msg io.WriterTo) (string, error)

func (f senderFunc) Send(ctx context.Context, from string, to []string, msg io.WriterTo) (string, error) {
	return f(ctx, from, to, msg)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestEmptyVoicemail(t *testing.T) {
	var raw bytes.Buffer
	s := newSink(t, baseConfig(), senderFunc(func(_ context.Context, _ string, _ []string, msg io.WriterTo) (string, error) {
		_, err := msg.WriteTo(&raw)
		return "", err
	}))
	d := delivery(testWAV(10))
	d.Record.Empty, d.Record.Transcript, d.Record.Summary, d.Record.Warnings = true, "", "", nil
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	m := parseMessage(t, raw.Bytes())
	if !strings.HasPrefix(m.Subject, "[Empty] ") {
		t.Errorf("subject %q lacks the empty mark", m.Subject)
	}
	if !strings.Contains(m.Text, "EMPTY VOICEMAIL") || !strings.Contains(m.HTML, "Empty voicemail:") {
		t.Errorf("body lacks the empty mark:\n%s\n%s", m.Text, m.HTML)
	}
	if strings.Contains(m.Text, "Summary") || strings.Contains(m.Text, "Notes") {
		t.Errorf("empty sections shown:\n%s", m.Text)
	}
}

func TestNonASCIIAndAgent(t *testing.T) {
	var raw bytes.Buffer
	s := newSink(t, baseConfig(), senderFunc(func(_ context.Context, _ string, _ []string, msg io.WriterTo) (string, error) {
		_, err := msg.WriteTo(&raw)
		return "", err
	}))
	d := delivery(testWAV(10))
	d.Record.Route = voicemail.Route{AgentID: "a-1", AgentName: "Zoë Ångström", AgentEmail: "zoe@example.com", QueueName: "Support"}
	d.Record.Transcript = "Grüße aus Köln — bitte zurückrufen. =?utf-8?q?not-a-word?="
	d.Record.Attributes["vmx3_email_from"] = "Zoë's Voicemail <vm@example.com>"
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	m := parseMessage(t, raw.Bytes())
	if want := "Voicemail from +15555550100 for Zoë Ångström (4 s)"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || from.Name != "Zoë's Voicemail" {
		t.Errorf("From %q: %v", m.Header.Get("From"), err)
	}
	if !strings.Contains(m.Text, d.Record.Transcript) || !strings.Contains(m.Text, "Agent:      Zoë Ångström") {
		t.Errorf("text:\n%s", m.Text)
	}
}

func TestTemplates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("voicemail.subject.tmpl", "Office voicemail: {{.Caller}}")
	write("spanish.subject.tmpl", "Buzón de voz de {{.Caller}}")
	write("spanish.txt.tmpl", "Mensaje de {{.Caller}} ({{format .ReceivedAt \"2006-01-02 15:04\"}}): {{.Transcript}}")
	write("spanish.html.tmpl", "<p>Mensaje de {{.Caller}}: {{.Transcript}}</p>")
	write("README.md", "not a template")

	var raw bytes.Buffer
	cfg := baseConfig()
	cfg.TemplateDir = dir
	s := newSink(t, cfg, senderFunc(func(_ context.Context, _ string, _ []string, msg io.WriterTo) (string, error) {
		raw.Reset()
		_, err := msg.WriteTo(&raw)
		return "", err
	}))
	deliver := func(tpl string) (*smtptest.Mail, error) {
		d := delivery(testWAV(10))
		if tpl != "" {
			d.Record.Attributes["vmx3_email_template"] = tpl
		}
		if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
			return nil, err
		}
		return parseMessage(t, raw.Bytes()), nil
	}
	// The directory's voicemail.subject.tmpl overrides the built-in
	// subject; the built-in bodies fill in.
	m, err := deliver("")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Office voicemail: +15555550100" || !strings.Contains(m.Text, "Transcript\n----------") {
		t.Errorf("default template: %q\n%s", m.Subject, m.Text)
	}
	m, err = deliver("spanish")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Buzón de voz de +15555550100" || m.Text != "Mensaje de +15555550100 (2025-09-12 11:07): "+hostile ||
		!strings.Contains(m.HTML, "<p>Mensaje de &#43;15555550100: Hi, it&#39;s Jane &lt;script&gt;") {
		t.Errorf("per-contact template: %q\n%s\n%s", m.Subject, m.Text, m.HTML)
	}
	for tpl, want := range map[string]string{
		"../../etc/passwd":      `attribute vmx3_email_template "../../etc/passwd" is not a template name`,
		"spanish.html":          `is not a template name`,
		"/etc/passwd":           `is not a template name`,
		"french":                `names template "french": no such template in ` + dir + ` (templates: spanish, voicemail)`,
		strings.Repeat("a", 65): `is not a template name`,
	} {
		if _, err := deliver(tpl); !retry.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("template %q: %v, want a permanent error containing %q", tpl, err, want)
		}
	}
	// Without a directory only the built-in template exists.
	plain := newSink(t, baseConfig(), s.sender)
	d := delivery(testWAV(10))
	d.Record.Attributes["vmx3_email_template"] = "spanish"
	if _, err := plain.Deliver(context.Background(), d, "k"); !retry.IsPermanent(err) || !strings.Contains(err.Error(), "no template directory is configured") {
		t.Errorf("no directory: %v", err)
	}
}

func TestTemplateDirErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		files    map[string]string
		template string
		want     string
	}{
		"unknown field":     {map[string]string{"a.txt.tmpl": "{{.Nope}}"}, "", `a.txt.tmpl:1:2: executing "a.txt.tmpl" at <.Nope>: can't evaluate field Nope`},
		"syntax":            {map[string]string{"a.html.tmpl": "{{if}}"}, "", "a.html.tmpl:1: missing value for if"},
		"method call":       {map[string]string{"a.txt.tmpl": "{{.ReceivedAt.Unix}}"}, "", `a.txt.tmpl:1:13: executing "a.txt.tmpl" at <.ReceivedAt.Unix>: can't evaluate field Unix in type time.Time`},
		"misnamed file":     {map[string]string{"a.text.tmpl": "x"}, "", "a.text.tmpl: want <name>.subject.tmpl, <name>.txt.tmpl or <name>.html.tmpl"},
		"bad name":          {map[string]string{"a b.txt.tmpl": "x"}, "", `"a b" is not a template name`},
		"missing default":   {map[string]string{"a.txt.tmpl": "x"}, "b", `template "b": no such template in`},
		"every problem":     {map[string]string{"a.txt.tmpl": "{{.Nope}}", "b.html.tmpl": "{{if}}"}, "", "in type email.Data\ntemplate: b.html.tmpl:1: missing value for if"},
		"no such directory": {nil, "", "no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.files == nil {
				dir = filepath.Join(dir, "missing")
			}
			for f, src := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := baseConfig()
			cfg.TemplateDir, cfg.Template = dir, tc.template
			_, err := New(cfg, senderFunc(nil), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSMTPModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts smtptest.Options
		auth string
	}{
		{"implicit TLS", smtptest.Options{TLS: TLSImplicit, Username: "u", Password: "p"}, AuthPlain},
		{"STARTTLS with LOGIN", smtptest.Options{TLS: TLSStartTLS, Username: "u", Password: "p"}, AuthLogin},
		{"plain local relay", smtptest.Options{TLS: TLSNone}, ""},
		{"plain local relay with auth", smtptest.Options{TLS: TLSNone, Username: "u", Password: "p"}, AuthPlain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.opts)
			cfg := smtpConfig(srv)
			cfg.Auth = tc.auth
			sender, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := sender.Send(context.Background(), "a@example.com", []string{"b@example.com"}, &message{
				header: []field{{"From", "<a@example.com>"}, {"To", "<b@example.com>"}, {"Subject", "hi"}},
				text:   "hello", html: "<p>hello</p>",
			})
			if err != nil {
				t.Fatal(err)
			}
			got := onlyMessage(t, srv)
			if got.TLS != (tc.opts.TLS != TLSNone) || got.User != tc.opts.Username || got.From != "a@example.com" {
				t.Errorf("server saw tls %v user %q from %q", got.TLS, got.User, got.From)
			}
			if !strings.HasPrefix(reply, `smtp-reply="`) || !strings.Contains(reply, "OK") {
				t.Errorf("reply %q", reply)
			}
			if m := parseMessage(t, got.Data); m.Text != "hello" || m.HTML != "<p>hello</p>" {
				t.Errorf("parts %q %q", m.Text, m.HTML)
			}
		})
	}
}

func TestSMTPErrors(t *testing.T) {
	rejected := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	busy := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	spam := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "looks like spam"}
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSStartTLS, Username: "u", Password: "p",
		RejectRcpt: map[string]*smtp.SMTPError{"gone@example.com": rejected, "busy@example.com": busy}})
	spamSrv := smtptest.Start(t, smtptest.Options{TLS: TLSNone, RejectData: spam})
	wrongPass := smtpConfig(srv)
	wrongPass.Password = "nope"
	untrusted := smtpConfig(srv)
	untrusted.CAFile = ""
	for _, tc := range []struct {
		name      string
		cfg       SMTPConfig
		to        string
		permanent bool
		want      string
	}{
		{"5xx recipient", smtpConfig(srv), "gone@example.com", true, "smtp RCPT TO gone@example.com: 550 5.1.1 no such user"},
		{"4xx recipient", smtpConfig(srv), "busy@example.com", false, "451 4.3.0 try later"},
		{"5xx data", smtpConfig(spamSrv), "b@example.com", true, "smtp end of DATA: 554 5.7.1 looks like spam"},
		{"bad password", wrongPass, "b@example.com", true, "535"},
		{"untrusted certificate", untrusted, "b@example.com", false, "certificate"},
		{"nobody listening", SMTPConfig{Host: "127.0.0.1", Port: 1, TLS: TLSNone, Timeout: time.Second}, "b@example.com", false, "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender, err := NewSMTP(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = sender.Send(context.Background(), "a@example.com", []string{tc.to}, &message{text: "x", html: "x"})
			if err == nil || retry.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (permanent %v), want permanent=%v containing %q", err, retry.IsPermanent(err), tc.permanent, tc.want)
			}
		})
	}
	if n := len(srv.Messages()) + len(spamSrv.Messages()); n != 0 {
		t.Errorf("%d messages accepted", n)
	}
}

func TestSMTPContextCancel(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	msg := writerToFunc(func(w io.Writer) (int64, error) {
		if _, err := io.WriteString(w, "Subject: x\r\n\r\n"); err != nil {
			return 0, err
		}
		cancel() // the deadline is far: only the cancellation can stop the send
		for {
			if _, err := w.Write(bytes.Repeat([]byte("x"), 1000)); err != nil {
				return 0, err
			}
			time.Sleep(time.Millisecond)
		}
	})
	start := time.Now()
	_, err = sender.Send(ctx, "a@example.com", []string{"b@example.com"}, msg)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Fatalf("cancelled send returned %v after %s", err, time.Since(start))
	}
}

func TestSMTPContextCancelWhileWaiting(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSImplicit, Stall: 3 * time.Second})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = sender.Send(ctx, "a@example.com", []string{"b@example.com"}, &message{text: "x", html: "x"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("send to a stalled server returned %v after %s", err, time.Since(start))
	}
}

type writerToFunc func(io.Writer) (int64, error)

func (f writerToFunc) WriteTo(w io.Writer) (int64, error) { return f(w) }

func TestConfigValidate(t *testing.T) {
	if err := baseConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	err := Config{
		From: "nobody", To: []string{"ok@example.com", "x@", "eve@evil.test"}, AllowedDomains: []string{"example.com", "exa mple"},
		MessageIDDomain: "bad domain", Template: "../x", Attach: "inline", MaxAttachmentBytes: MaxAttachmentBytesLimit + 1,
	}.Validate()
	for _, want := range []string{
		`from "nobody" is not an e-mail address`,
		`to[1] "x@" is not an e-mail address list`,
		`to[2] "eve@evil.test" is outside allowed_domains`,
		`allowed_domains[1] "exa mple" is not a domain name`,
		`message_id_domain "bad domain"`,
		`template "../x" is not a template name`,
		`attach "inline" must be`,
		`max_attachment_bytes 29360129`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant it to contain %q", err, want)
		}
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "from must be set") {
		t.Errorf("empty config: %v", err)
	}

	if err := (SMTPConfig{Host: "smtp.example.com"}).Validate(); err != nil {
		t.Fatalf("valid SMTP config: %v", err)
	}
	err = SMTPConfig{Host: "smtp.example.com:25", Port: 70000, TLS: "ssl", Auth: "cram", Password: "p", CAFile: "/nonexistent.pem", Timeout: -1}.Validate()
	for _, want := range []string{
		`host "smtp.example.com:25" must be a host name`, "port 70000", `tls "ssl"`, `auth "cram"`,
		"password is set but username is not", "ca_file", "timeout -1ns",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SMTP Validate: %v\nwant it to contain %q", err, want)
		}
	}
	err = SMTPConfig{Host: "relay.example.com", TLS: TLSNone, Username: "u"}.Validate()
	if err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Errorf("credentials in clear text accepted: %v", err)
	}
	if err := (SMTPConfig{Host: "localhost", TLS: TLSNone, Username: "u"}).Validate(); err != nil {
		t.Errorf("local relay with credentials: %v", err)
	}
	if err := (SESConfig{Endpoint: "localhost:8005"}).Validate(); err == nil {
		t.Error("SES endpoint without scheme accepted")
	}
}

func TestHumanFormats(t *testing.T) {
	for ms, want := range map[int64]string{0: "0 s", 4200: "4 s", 59600: "1 min 00 s", 65000: "1 min 05 s", 3723000: "1 h 02 min 03 s"} {
		if got := humanDuration(ms); got != want {
			t.Errorf("humanDuration(%d) = %q, want %q", ms, got, want)
		}
	}
	for n, want := range map[int64]string{512: "512 bytes", 1536: "1.5 KB", 10 << 20: "10 MB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSMTPAbortsHalfWrittenMessage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: TLSNone})
	sender, err := NewSMTP(smtpConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("attachment vanished")
	msg := writerToFunc(func(w io.Writer) (int64, error) {
		n, _ := io.WriteString(w, "Subject: half\r\n\r\nthe first half")
		return int64(n), boom
	})
	if _, err := sender.Send(context.Background(), "a@example.com", []string{"b@example.com"}, msg); !errors.Is(err, boom) {
		t.Fatalf("send: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the server finish with the connection
	if got := srv.Messages(); len(got) != 0 {
		t.Fatalf("server accepted %d half-written messages: %q", len(got), got[0].Data)
	}
}

func TestValidDomain(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	for d, want := range map[string]bool{
		"example.com": true, "mail-1.Example.COM": true, "x": true, label63 + ".com": true,
		strings.Repeat("a", 64) + ".com": false, "-a.com": false, "a-.com": false, "a..com": false,
		".com": false, "a.com.": false, "exa_mple.com": false, "exämple.com": false, "": false,
	} {
		if got := validDomain(d); got != want {
			t.Errorf("validDomain(%q) = %v, want %v", d, got, want)
		}
	}
	if !validTemplateName(strings.Repeat("t", 64)) || validTemplateName(strings.Repeat("t", 65)) || validTemplateName("_t") {
		t.Error("template names: want 1 to 64 characters starting with a letter or digit")
	}
}

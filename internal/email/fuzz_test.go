package email

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
)

// header writes one header field and parses it back as a reader would.
func header(t *testing.T, name, value string) (string, *mail.Message) {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeField(w, name, value)
	w.WriteString("\r\nbody")
	w.Flush()
	for _, line := range strings.Split(b.String(), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d characters", len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("%q does not parse: %v", b.String(), err)
	}
	return b.String(), msg
}

// FuzzSubject checks that any rendered subject reaches the reader as it
// was rendered: one header line, decoded to the same text.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{
		"Voicemail from +15555550100 in Support (4 s)",
		"Grüße aus Köln — bitte zurückrufen",
		"=?utf-8?q?not-a-word?=",
		"line\r\nBcc: eve@evil.test",
		strings.Repeat("x", 300),
		strings.Repeat("語", 250),
		"\xff\xfeinvalid",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := subjectLine(s)
		raw, msg := header(t, "Subject", encodeHeader(want))
		if len(msg.Header) != 1 {
			t.Fatalf("%q made headers %v", raw, msg.Header)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || got != want {
			t.Fatalf("subject %q came back as %q (%v) from %q", want, got, err, raw)
		}
	})
}

// FuzzRecipients checks that any address list vmx accepts from a contact
// attribute gives a To header that parses back to the same addresses, and
// envelope addresses an SMTP server takes.
func FuzzRecipients(f *testing.F) {
	for _, s := range []string{
		"a@example.com",
		"Team A <a@example.com>, b@example.com, A@EXAMPLE.com",
		`"Roe, Jane  (Support)" <jane.roe+vm@example.com>`,
		"=?utf-8?q?Zo=C3=AB?= <zoe@example.com>",
		`"a b"@example.com`,
		"a@[127.0.0.1]",
		"Zoë <zoë@example.com>",
		"a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := parseList(s)
		if err != nil {
			return
		}
		for _, a := range addrs {
			if strings.ContainsAny(a.Address, " \t\r\n<>\"") || strings.Count(a.Address, "@") != 1 {
				t.Fatalf("accepted envelope address %q", a.Address)
			}
			for _, r := range a.Address {
				if r > '~' {
					t.Fatalf("accepted non-ASCII address %q", a.Address)
				}
			}
		}
		raw, msg := header(t, "To", joinAddrs(addrs))
		got, err := msg.Header.AddressList("To")
		if err != nil || len(got) != len(addrs) {
			t.Fatalf("%q parsed back as %v (%v)", raw, got, err)
		}
		for i := range got {
			if got[i].Address != addrs[i].Address || strings.Join(strings.Fields(got[i].Name), " ") != strings.Join(strings.Fields(addrs[i].Name), " ") {
				t.Fatalf("%v came back as %v from %q", addrs[i], got[i], raw)
			}
		}
	})
}

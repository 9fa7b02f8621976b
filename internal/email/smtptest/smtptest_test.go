package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const raw = "From: <a@example.com>\r\nTo: <b@example.com>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n" +
	"--X\r\nContent-Type: multipart/alternative; boundary=Y\r\n\r\n" +
	"--Y\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhi=20there\r\n" +
	"--Y\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n--Y--\r\n" +
	"--X\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=\"a.wav\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUklGRg==\r\n--X--\r\n"

func send(c *smtp.Client, to string) error {
	if err := c.Mail("a@example.com", nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		return err
	}
	return w.Close()
}

func TestPlain(t *testing.T) {
	s := Start(t, Options{RejectRcpt: map[string]*smtp.SMTPError{"gone@example.com": {Code: 550, Message: "no such user"}}})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *smtp.SMTPError
	if err := send(c, "gone@example.com"); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("refused recipient: %v", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 || got[0].From != "a@example.com" || strings.Join(got[0].To, ",") != "b@example.com" || got[0].TLS || got[0].MessageID() != "<1@example.com>" {
		t.Fatalf("messages %+v", got)
	}
	m, err := Parse(got[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Structure != "multipart/mixed[multipart/alternative[text/plain text/html] audio/wav]" || m.Subject != "Grüße" ||
		m.Text != "hi there" || m.HTML != "<p>hi</p>" || len(m.Files) != 1 || m.Files[0].Name != "a.wav" ||
		string(m.Files[0].Data) != "RIFF" || m.Files[0].Disposition != "attachment" {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := Parse([]byte("Subject: x\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx")); err == nil {
		t.Error("two Content-Types parsed")
	}
}

func TestStartTLSWithAuth(t *testing.T) {
	s := Start(t, Options{TLS: TLSStartTLS, Username: "u", Password: "p"})
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "b@example.com"); err == nil {
		t.Fatal("accepted mail without AUTH")
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "wrong")); err == nil {
		t.Fatal("accepted a wrong password")
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.Messages(); len(got) != 1 || !got[0].TLS || got[0].User != "u" {
		t.Fatalf("messages %+v", got)
	}
}

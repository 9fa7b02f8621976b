package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Mail is a message parsed back with net/mail and mime/multipart.
type Mail struct {
	Header  mail.Header
	Subject string // decoded
	// Structure is the tree of content types, e.g.
	// multipart/mixed[multipart/alternative[text/plain text/html] audio/wav].
	Structure string
	// Text and HTML are the UTF-8 text/plain and text/html parts, decoded,
	// with CRLF turned into LF.
	Text, HTML string
	// Files are the other leaf parts, decoded.
	Files []File
}

// File is a leaf part that is not the text or the HTML.
type File struct {
	Name        string // the Content-Disposition filename
	ContentType string
	Disposition string // attachment, inline…
	Data        []byte
}

// MessageID returns the message's Message-ID header.
func (m Message) MessageID() string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	return msg.Header.Get("Message-Id")
}

// Parse parses a message. Every part must have exactly one Content-Type.
func Parse(raw []byte) (*Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("smtptest: read message: %w", err)
	}
	m := &Mail{Header: msg.Header}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("smtptest: subject: %w", err)
	}
	if m.Structure, err = m.walk(map[string][]string(msg.Header), msg.Body); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mail) walk(h map[string][]string, body io.Reader) (string, error) {
	if n := len(h["Content-Type"]); n != 1 {
		return "", fmt.Errorf("smtptest: part has %d Content-Type headers: %v", n, h)
	}
	mt, params, err := mime.ParseMediaType(h["Content-Type"][0])
	if err != nil {
		return "", fmt.Errorf("smtptest: content type: %w", err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("smtptest: %s: %w", mt, err)
			}
			kid, err := m.walk(part.Header, part)
			if err != nil {
				return "", err
			}
			kids = append(kids, kid)
		}
		return mt + "[" + strings.Join(kids, " ") + "]", nil
	}
	r := body
	switch strings.ToLower(strings.Join(h["Content-Transfer-Encoding"], "")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable": // only at the top: multipart.Reader decodes its parts
		r = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("smtptest: %s body: %w", mt, err)
	}
	switch {
	case mt == "text/plain" && strings.EqualFold(params["charset"], "utf-8"):
		m.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case mt == "text/html" && strings.EqualFold(params["charset"], "utf-8"):
		m.HTML = strings.ReplaceAll(string(b), "\r\n", "\n")
	default:
		disp, dparams, _ := mime.ParseMediaType(strings.Join(h["Content-Disposition"], ""))
		m.Files = append(m.Files, File{Name: dparams["filename"], ContentType: mt, Disposition: disp, Data: b})
	}
	return mt, nil
}

package email

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"unicode/utf8"
)

// field is one message header, its value already encoded.
type field struct{ name, value string }

// attachment is a file attached to a message, read when the message is
// written.
type attachment struct {
	name string
	path string
}

// message is a voicemail e-mail: multipart/alternative text and HTML,
// inside multipart/mixed with the WAV when one is attached. Each part has
// exactly one Content-Type. It is written as it is sent: the attachment
// streams from its file through a base64 encoder.
type message struct {
	header     []field
	text, html string
	attachment *attachment
}

// WriteTo writes the message with CRLF line ends.
func (m *message) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	err := m.write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return cw.n, err
}

func (m *message) write(w *bufio.Writer) error {
	for _, f := range m.header {
		writeField(w, f.name, f.value)
	}
	if m.attachment == nil {
		alt := multipart.NewWriter(w)
		writeField(w, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()}))
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		return m.writeAlternatives(alt)
	}
	mixed := multipart.NewWriter(w)
	writeField(w, "Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed.Boundary()}))
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	boundary := multipart.NewWriter(io.Discard).Boundary() // a fresh random one
	altPart, err := mixed.CreatePart(textproto.MIMEHeader{
		"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary})},
	})
	if err != nil {
		return err
	}
	alt := multipart.NewWriter(altPart)
	if err := alt.SetBoundary(boundary); err != nil {
		return err
	}
	if err := m.writeAlternatives(alt); err != nil {
		return err
	}
	if err := m.writeAttachment(mixed); err != nil {
		return err
	}
	return mixed.Close()
}

func (m *message) writeAlternatives(alt *multipart.Writer) error {
	for _, p := range []struct{ typ, body string }{{"text/plain", m.text}, {"text/html", m.html}} {
		pw, err := alt.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(p.typ, map[string]string{"charset": "utf-8"})},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := io.WriteString(qp, p.body); err != nil {
			return err
		}
		if err := qp.Close(); err != nil {
			return err
		}
	}
	return alt.Close()
}

func (m *message) writeAttachment(mixed *multipart.Writer) error {
	f, err := os.Open(m.attachment.path)
	if err != nil {
		return fmt.Errorf("open attachment: %w", err)
	}
	defer f.Close()
	pw, err := mixed.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType("audio/wav", map[string]string{"name": m.attachment.name})},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": m.attachment.name})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	lw := &lineWriter{w: pw}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	if _, err := io.Copy(enc, f); err != nil {
		return fmt.Errorf("write attachment: %w", err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return lw.end()
}

// maxLine is the length header lines are folded to and base64 lines have
// (RFC 5322 recommends at most 78 characters, RFC 2045 at most 76).
const maxLine = 76

// writeField writes "name: value", folding the value at its spaces outside
// quoted strings. Write errors are left to the buffer's Flush.
func writeField(w *bufio.Writer, name, value string) {
	w.WriteString(name)
	w.WriteString(":")
	n := len(name) + 1
	for i, word := range splitSpaces(value) {
		switch {
		case i > 0 && n+1+len(word) > maxLine:
			w.WriteString("\r\n ")
			n = 1
		default:
			w.WriteString(" ")
			n++
		}
		w.WriteString(word)
		n += len(word)
	}
	w.WriteString("\r\n")
}

// splitSpaces splits s at the spaces that are not inside a quoted string:
// unfolding may collapse the whitespace it folds at.
func splitSpaces(s string) []string {
	var words []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			words = append(words, s[start:i])
			start = i + 1
		}
	}
	return append(words, s[start:])
}

// encodeHeader returns s as an unstructured header value: as is when it is
// printable ASCII, else as RFC 2047 encoded words of whole characters.
// Text that merely looks like an encoded word ("=?") is encoded too, so
// that readers show it as written.
func encodeHeader(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= ' ' && s[i] <= '~'
	}
	if plain {
		return s
	}
	const prefix, suffix = "=?utf-8?b?", "?="
	// An encoded word is at most 75 characters: 45 bytes of text in
	// base64 fit.
	const chunk = 45
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > chunk && n > 0 {
				break
			}
			n += size
		}
		words = append(words, prefix+base64.StdEncoding.EncodeToString([]byte(s[:n]))+suffix)
		s = s[n:]
	}
	return strings.Join(words, " ")
}

func joinAddrs(addrs []*mail.Address) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// lineWriter breaks base64 text into CRLF-terminated lines.
type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(maxLine-l.col, len(p))
		if _, err := l.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		l.col += n
		p = p[n:]
		if l.col == maxLine {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.col = 0
		}
	}
	return written, nil
}

// end terminates the last line.
func (l *lineWriter) end() error {
	if l.col == 0 {
		return nil
	}
	_, err := io.WriteString(l.w, "\r\n")
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

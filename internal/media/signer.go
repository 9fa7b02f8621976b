// Package media gives agents links to voicemail recordings that do not go
// stale.
//
// Voicemail Express put presigned S3 URLs into tasks and e-mails; SigV4
// caps them at 7 days, after which the agent is left with an "AccessDenied"
// page. Here a link points at vmx itself:
//
//	https://vmx.example.com/v1/media/<contactId>?exp=<unix>&sig=<hex>
//
// where sig is an HMAC-SHA256 of "<contactId>\n<exp>" under a secret only
// vmx knows, and exp may lie as far ahead as the recording is kept. Handler
// checks the link on every request and then either redirects to a fresh
// presigned URL that lives a few minutes (S3) or serves the file itself
// with Range and conditional request support (a local directory).
package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors Verify reports; test for them with errors.Is.
var (
	// ErrBadSignature reports a link whose signature does not match its
	// contact ID and expiry, or that lacks either.
	ErrBadSignature = errors.New("media: bad link signature")
	// ErrExpired reports a correctly signed link past its expiry.
	ErrExpired = errors.New("media: link expired")
)

// PathPrefix is the path under which links point, and Handler serves.
const PathPrefix = "/v1/media/"

// MinSecretLen is the shortest secret a Signer accepts.
const MinSecretLen = 16

// Signer makes and checks links. The zero value is not usable: Secret must
// hold at least MinSecretLen random bytes, and BaseURL the scheme and host
// (and any path prefix) agents reach vmx at, as "https://vmx.example.com".
type Signer struct {
	Secret  []byte
	BaseURL string
}

func (s Signer) checkSecret() error {
	if len(s.Secret) < MinSecretLen {
		return fmt.Errorf("media: signing secret of %d bytes, need at least %d", len(s.Secret), MinSecretLen)
	}
	return nil
}

// URL returns the link to contactID's recording valid until exp (to the
// second).
func (s Signer) URL(contactID string, exp time.Time) (string, error) {
	if err := s.checkSecret(); err != nil {
		return "", err
	}
	if !ValidContactID(contactID) {
		return "", fmt.Errorf("media: link for contact ID %q: not a valid contact ID", contactID)
	}
	base, err := url.Parse(s.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return "", fmt.Errorf("media: base URL %q: want http(s)://host[/path]", s.BaseURL)
	}
	e := exp.Unix()
	q := url.Values{"exp": {strconv.FormatInt(e, 10)}, "sig": {s.sign(contactID, e)}}
	return strings.TrimSuffix(base.String(), "/") + PathPrefix + url.PathEscape(contactID) + "?" + q.Encode(), nil
}

// sign returns the hex HMAC-SHA256 of "contactID\nexp".
func (s Signer) sign(contactID string, exp int64) string {
	return hex.EncodeToString(s.mac(contactID, exp))
}

func (s Signer) mac(contactID string, exp int64) []byte {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(contactID))
	m.Write([]byte{'\n'})
	m.Write(strconv.AppendInt(nil, exp, 10))
	return m.Sum(nil)
}

// Verify checks that sig signs contactID and exp, and that now is before
// exp. It returns ErrBadSignature or ErrExpired, in that order of checks, or
// an error about the Signer itself.
func (s Signer) Verify(contactID string, exp int64, sig string, now time.Time) error {
	if err := s.checkSecret(); err != nil {
		return err
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrBadSignature
	}
	if !hmac.Equal(got, s.mac(contactID, exp)) {
		return ErrBadSignature
	}
	if now.Unix() >= exp {
		return fmt.Errorf("%w at %s", ErrExpired, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// ValidContactID reports whether id can appear in a link: 1 to 128 ASCII
// letters, digits, '-', '_' or '.', not "." or "..". Amazon Connect contact
// IDs are UUIDs.
func ValidContactID(id string) bool {
	if id == "" || len(id) > 128 || id == "." || id == ".." {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

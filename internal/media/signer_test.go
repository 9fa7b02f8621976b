package media_test

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/media"
)

const contact = "5b2f4c1e-0f7a-4d55-9e3c-0a1b2c3d4e5f"

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Date(2025, 9, 13, 12, 0, 0, 0, time.UTC)
)

func signer() media.Signer {
	return media.Signer{Secret: secret, BaseURL: "https://vmx.example.com"}
}

// link makes a link and returns its contact ID, exp and sig.
func link(t *testing.T, s media.Signer, id string, exp time.Time) (string, int64, string) {
	t.Helper()
	raw, err := s.URL(id, exp)
	if err != nil {
		t.Fatalf("URL(%q): %v", id, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	e, err := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("exp in %s: %v", raw, err)
	}
	return strings.TrimPrefix(u.Path, media.PathPrefix), e, u.Query().Get("sig")
}

func TestSignerURL(t *testing.T) {
	exp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for base, prefix := range map[string]string{
		"https://vmx.example.com":       "https://vmx.example.com/v1/media/",
		"https://vmx.example.com/":      "https://vmx.example.com/v1/media/",
		"http://127.0.0.1:8080/vmx":     "http://127.0.0.1:8080/vmx/v1/media/",
		"https://example.com/a/b/":      "https://example.com/a/b/v1/media/",
		"https://vmx.example.com:8443/": "https://vmx.example.com:8443/v1/media/",
	} {
		s := media.Signer{Secret: secret, BaseURL: base}
		got, err := s.URL(contact, exp)
		if err != nil {
			t.Fatalf("BaseURL %q: %v", base, err)
		}
		want := prefix + contact + "?exp=" + strconv.FormatInt(exp.Unix(), 10) + "&sig="
		if !strings.HasPrefix(got, want) || len(got) != len(want)+64 {
			t.Errorf("BaseURL %q: URL = %s, want %s<64 hex>", base, got, want)
		}
		if u, err := url.Parse(got); err != nil || u.String() != got {
			t.Errorf("URL %s does not survive parsing: %v", got, err)
		}
	}
}

func TestSignerURLRefuses(t *testing.T) {
	exp := now.Add(time.Hour)
	cases := map[string]media.Signer{
		"short secret": {Secret: []byte("short"), BaseURL: "https://x"},
		"no secret":    {BaseURL: "https://x"},
		"no scheme":    {Secret: secret, BaseURL: "vmx.example.com"},
		"ftp":          {Secret: secret, BaseURL: "ftp://vmx.example.com"},
		"query":        {Secret: secret, BaseURL: "https://vmx.example.com/?a=b"},
	}
	for name, s := range cases {
		if _, err := s.URL(contact, exp); err == nil {
			t.Errorf("%s: URL succeeded", name)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "a b", "a\nb", "ä", strings.Repeat("a", 129)} {
		if _, err := signer().URL(id, exp); err == nil {
			t.Errorf("URL(%q) succeeded", id)
		}
	}
}

func TestVerify(t *testing.T) {
	s := signer()
	id, exp, sig := link(t, s, contact, now.Add(24*time.Hour))
	other, _, otherSig := link(t, s, "6c3a5d2f-1a8b-4e66-af4d-1b2c3d4e5f60", now.Add(24*time.Hour))
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b[i])+1)%16]
		return string(b)
	}
	cases := []struct {
		name    string
		id      string
		exp     int64
		sig     string
		now     time.Time
		wantErr error
	}{
		{"valid", id, exp, sig, now, nil},
		{"valid until the last second", id, exp, sig, time.Unix(exp-1, 0), nil},
		{"expired at exp", id, exp, sig, time.Unix(exp, 0), media.ErrExpired},
		{"expired later", id, exp, sig, now.Add(48 * time.Hour), media.ErrExpired},
		{"other contact's sig", id, exp, otherSig, now, media.ErrBadSignature},
		{"sig moved to other contact", other, exp, sig, now, media.ErrBadSignature},
		{"exp extended", id, exp + 86400, sig, now, media.ErrBadSignature},
		{"exp shortened", id, exp - 1, sig, now, media.ErrBadSignature},
		{"first hex digit changed", id, exp, flip(sig, 0), now, media.ErrBadSignature},
		{"last hex digit changed", id, exp, flip(sig, 63), now, media.ErrBadSignature},
		{"upper-case hex", id, exp, strings.ToUpper(sig), now, nil},
		{"truncated", id, exp, sig[:62], now, media.ErrBadSignature},
		{"extended", id, exp, sig + "00", now, media.ErrBadSignature},
		{"not hex", id, exp, strings.Repeat("zz", 32), now, media.ErrBadSignature},
		{"empty", id, exp, "", now, media.ErrBadSignature},
		{"expired and tampered", id, exp, flip(sig, 5), now.Add(48 * time.Hour), media.ErrBadSignature},
	}
	for _, c := range cases {
		err := s.Verify(c.id, c.exp, c.sig, c.now)
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.wantErr)
		}
	}
	wrongKey := media.Signer{Secret: []byte("another secret of enough length"), BaseURL: s.BaseURL}
	if err := wrongKey.Verify(id, exp, sig, now); !errors.Is(err, media.ErrBadSignature) {
		t.Errorf("Verify under another secret = %v, want ErrBadSignature", err)
	}
	if err := (media.Signer{}).Verify(id, exp, sig, now); err == nil || errors.Is(err, media.ErrBadSignature) {
		t.Errorf("Verify without a secret = %v, want a configuration error", err)
	}
}

func TestVerifyFarFuture(t *testing.T) {
	// A link may live as long as retention keeps the recording: years.
	s := signer()
	id, exp, sig := link(t, s, contact, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Verify(id, exp, sig, now); err != nil {
		t.Fatalf("far-future link: %v", err)
	}
	if err := s.Verify(id, exp, sig, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, media.ErrExpired) {
		t.Fatalf("far-future link at its expiry: %v", err)
	}
}

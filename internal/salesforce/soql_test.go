package salesforce

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// unquoteSOQL reads the SOQL string literal at the start of s, as
// Salesforce's parser does, and returns its value and the text after it.
func unquoteSOQL(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		return "", "", errors.New("literal does not start with a quote")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", "", errors.New("escape at end of input")
			}
			switch e := s[i]; e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n', 'N':
				b.WriteByte('\n')
			case 'r', 'R':
				b.WriteByte('\r')
			case 't', 'T':
				b.WriteByte('\t')
			case 'b', 'B':
				b.WriteByte('\b')
			case 'f', 'F':
				b.WriteByte('\f')
			default:
				return "", "", fmt.Errorf("invalid escape \\%c", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated literal")
}

func TestQuoteString(t *testing.T) {
	for in, want := range map[string]string{
		"jdoe":          `'jdoe'`,
		`o'brien\`:      `'o\'brien\\'`,
		`x' OR Id != '`: `'x\' OR Id != \''`,
		`say "hi"`:      `'say \"hi\"'`,
		"50%_off":       `'50%_off'`, // literal for =; only LIKE treats them as wildcards
		"Zoë 日本":        `'Zoë 日本'`,
		"":              `''`,
	} {
		got, err := QuoteString(in)
		if err != nil || got != want {
			t.Errorf("QuoteString(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"a\nb", "tab\there", "nul\x00", "bad\xffutf8", "del\x7f", "ls\u2028"} {
		if got, err := QuoteString(bad); err == nil {
			t.Errorf("QuoteString(%q) = %s, want an error", bad, got)
		}
	}
}

func FuzzQuoteString(f *testing.F) {
	for _, s := range []string{"jdoe", `o'brien\`, `\'`, `'; DELETE`, `"`, "a\nb", "\xff", "\\\\'", "é'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := QuoteString(s)
		hasControl := strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' })
		if !utf8.ValidString(s) || hasControl {
			if err == nil {
				t.Fatalf("QuoteString(%q) = %s, want an error", s, q)
			}
			return
		}
		if err != nil {
			t.Fatalf("QuoteString(%q): %v", s, err)
		}
		v, rest, err := unquoteSOQL(q)
		if err != nil || v != s || rest != "" {
			t.Fatalf("QuoteString(%q) = %s parses back as %q, rest %q, %v", s, q, v, rest, err)
		}
	})
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"Case", "SuppliedPhone", "VMX_Delivery_Key__c", "ns__Voicemail__c"} {
		if !validName(ok) {
			t.Errorf("validName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "1Case", "Case WHERE", "Subject,Id", "x__", "Id;", "a___b", strings.Repeat("a", 121)} {
		if validName(bad) {
			t.Errorf("validName(%q) = true", bad)
		}
	}
}

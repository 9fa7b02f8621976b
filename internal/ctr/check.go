package ctr

import (
	"strings"
)

// Hand-written checks of the shapes of attribute values and ARNs.

// isE164 reports whether s is a phone number in E.164 form:
// ^\+[1-9][0-9]{6,14}$. It checks the shape only, so fictional numbers such
// as +15555551212 pass.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	return allDigits(s[2:])
}

// normLanguage checks the shape of an Amazon Transcribe language code, two or
// three letters, '-', two letters (en-US, es-US, zh-CN, en-AB, haw-US), and
// returns it in canonical case.
func normLanguage(s string) (string, bool) {
	lang, region, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok || len(lang) < 2 || len(lang) > 3 || len(region) != 2 || !allLetters(lang) || !allLetters(region) {
		return "", false
	}
	return strings.ToLower(lang) + "-" + strings.ToUpper(region), true
}

// normMode checks a delivery mode, or a comma-separated list of them, and
// returns it with the space around each entry removed. Mode names are for
// the delivery layer to check.
func normMode(s string) (string, string, bool) {
	if strings.TrimSpace(s) == "" {
		return "", "is empty", false
	}
	entries := strings.Split(s, ",")
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return "", "has an empty entry", false
		}
		entries[i] = e
	}
	return strings.Join(entries, ","), "", true
}

// isFragmentNumber reports whether s is a KVS fragment number: 1 to 128
// decimal digits.
func isFragmentNumber(s string) bool {
	return s != "" && len(s) <= 128 && allDigits(s)
}

// compareFragments compares two fragment numbers as integers.
func compareFragments(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

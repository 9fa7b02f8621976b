package connect

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of StartTaskContact. Connect counts lengths in characters (Unicode
// code points) and sizes in UTF-8 bytes.
const (
	maxNameRunes        = 512
	maxDescriptionRunes = 4096
	// "You can have up to 4,096 UTF-8 bytes across all references for a
	// contact." Names are counted too, to be safe.
	maxReferenceBytes = 4096
	// "There can be up to 32,768 UTF-8 bytes across all key-value pairs per
	// contact", and a task linked with PreviousContactId shares the voice
	// contact's attributes.
	maxAttributeBytes = 32768
)

// truncMarker ends a text that was cut to fit.
const truncMarker = "… [truncated]"

// cleanText makes s valid UTF-8: JSON would otherwise turn each bad byte
// into a three-byte U+FFFD after the size was checked.
func cleanText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// cutRunes returns s if it has at most max characters, else its beginning
// followed by truncMarker, max characters in all.
func cutRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(truncMarker)
	if keep <= 0 {
		return string([]rune(s)[:max])
	}
	i, n := 0, 0
	for i = range s {
		if n == keep {
			break
		}
		n++
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + truncMarker
}

// cutBytes returns s if it has at most max bytes, else its beginning (cut
// between characters) followed by truncMarker, at most max bytes in all,
// or "" when not even the marker fits.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(truncMarker)
	if keep < 0 {
		return ""
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return strings.TrimRightFunc(s[:keep], unicode.IsSpace) + truncMarker
}

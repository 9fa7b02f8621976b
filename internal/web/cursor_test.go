package web

import (
	"strings"
	"testing"
)

func TestValidCursor(t *testing.T) {
	for c, want := range map[string]bool{
		"1700000000000.c-1":             true,
		strings.Repeat("9", 19) + ".c":  true,
		strings.Repeat("9", 20) + ".c":  false,
		"1." + strings.Repeat("a", 128): true,
		"1." + strings.Repeat("a", 129): false,
		"1.a.b":                         true, // contact IDs may hold dots
		"1..":                           false,
		".c":                            false, "1.": false, "1": false, "x.c": false, "1.a/b": false, "": false,
	} {
		if got := validCursor(c); got != want {
			t.Errorf("validCursor(%q) = %v, want %v", c, got, want)
		}
	}
}

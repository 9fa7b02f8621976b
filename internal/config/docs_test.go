package config

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// docs/configuration.md carries the reference table; it must not drift
// from the code (regenerate with `vmx config reference`).
func TestDocsCarryReference(t *testing.T) {
	var ref bytes.Buffer
	if err := Reference(&ref); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), ref.String()) {
		t.Fatal("docs/configuration.md is out of date: replace its table with the output of `vmx config reference`")
	}
}

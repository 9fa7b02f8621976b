package lm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	var a, b bytes.Buffer
	if err := Build(&a, DefaultSeed, 500); err != nil {
		t.Fatal(err)
	}
	if err := Build(&b, DefaultSeed, 500); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed built different models")
	}
	m := readARPA(t, &a)
	if len(m.counts) != 3 {
		t.Errorf("%d orders, want 3", len(m.counts))
	}
	for _, w := range []string{SentenceStart, SentenceEnd, "call", "five", "appointment"} {
		if _, ok := m.logProb[w]; !ok {
			t.Errorf("no unigram %q", w)
		}
	}
	for _, n := range []int{0, -1} {
		if err := Build(io.Discard, DefaultSeed, n); err == nil {
			t.Errorf("Build with %d sentences succeeded", n)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestBuildWriteError(t *testing.T) {
	if err := Build(failWriter{}, DefaultSeed, 50); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Build into a failing writer: %v", err)
	}
}

func ExampleSentences() {
	for _, s := range Sentences(DefaultSeed, 3) {
		fmt.Println(s)
	}
	// Output:
	// i'd like to speak with someone about it thank you
	// i'm trying to reach jessica king this is carol i'm a patient of doctor lee i would like to cancel my order
	// please call me back on the fourteenth
}

package lm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// arpaModel is an ARPA file read back: log10 probabilities and back-off
// weights by n-gram (words joined by spaces), and the declared counts.
type arpaModel struct {
	counts  []int
	logProb map[string]float64
	backoff map[string]float64
	grams   [][][]string             // n-grams by order-1, in file order
	byKey   map[[3]string][2]float64 // probability and back-off weight, not logs
}

func readARPA(t *testing.T, r io.Reader) *arpaModel {
	t.Helper()
	m := &arpaModel{logProb: map[string]float64{}, backoff: map[string]float64{}}
	sc := bufio.NewScanner(r)
	section := ""
	order := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == `\data\`:
			section = "data"
			continue
		case line == `\end\`:
			section = "end"
			continue
		case strings.HasPrefix(line, `\`) && strings.HasSuffix(line, "-grams:"):
			o, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, `\`), "-grams:"))
			if err != nil || o != order+1 {
				t.Fatalf("line %d: section %q after order %d", n, line, order)
			}
			order = o
			m.grams = append(m.grams, nil)
			section = "grams"
			continue
		}
		switch section {
		case "":
			// Text before \data\ is a comment.
		case "data":
			var o, c int
			if _, err := fmt.Sscanf(line, "ngram %d=%d", &o, &c); err != nil || o != len(m.counts)+1 {
				t.Fatalf("line %d: %q in \\data\\", n, line)
			}
			m.counts = append(m.counts, c)
		case "grams":
			f := strings.Fields(line)
			if len(f) != order+1 && len(f) != order+2 {
				t.Fatalf("line %d: %q has %d fields in the %d-grams", n, line, len(f), order)
			}
			p, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			key := strings.Join(f[1:order+1], " ")
			if _, dup := m.logProb[key]; dup {
				t.Fatalf("line %d: %q twice", n, key)
			}
			m.logProb[key] = p
			if len(f) == order+2 {
				if m.backoff[key], err = strconv.ParseFloat(f[order+1], 64); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
			}
			m.grams[order-1] = append(m.grams[order-1], f[1:order+1])
		default:
			t.Fatalf("line %d: %q outside any section", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if section != "end" {
		t.Fatal(`no \end\`)
	}
	if len(m.counts) != len(m.grams) {
		t.Fatalf("\\data\\ declares %d orders, the file has %d", len(m.counts), len(m.grams))
	}
	for i, c := range m.counts {
		if len(m.grams[i]) != c {
			t.Errorf("\\data\\ declares %d %d-grams, the file has %d", c, i+1, len(m.grams[i]))
		}
	}
	return m
}

// prob is P(w | history) by the back-off rule: the n-gram's own
// probability if listed, else the history's back-off weight (1 when not
// listed) times P(w | shorter history). It looks n-grams up by
// fixed-size keys, as checkNormalised asks millions of times.
func (m *arpaModel) prob(history []string, w string) float64 {
	if m.byKey == nil {
		m.byKey = map[[3]string][2]float64{}
		for k, p := range m.logProb {
			m.byKey[key(strings.Fields(k))] = [2]float64{math.Pow(10, p), math.Pow(10, m.backoff[k])}
		}
	}
	p := 1.0
	for i := 0; ; i++ {
		g := append(history[i:len(history):len(history)], w)
		if e, ok := m.byKey[key(g)]; ok {
			return p * e[0]
		}
		if i == len(history) {
			return 0
		}
		if e, ok := m.byKey[key(history[i:])]; ok && e[1] > 0 {
			p *= e[1]
		}
	}
}

func key(words []string) (k [3]string) {
	copy(k[:], words)
	return k
}

// checkNormalised sums P(w | h) over the vocabulary for one in every
// `every` of the histories the model lists (the empty one, each unigram
// but </s>, each bigram not ending in </s>) and fails on sums that are
// not 1.
func checkNormalised(t *testing.T, m *arpaModel, every int) {
	t.Helper()
	var vocab []string
	for _, g := range m.grams[0] {
		if g[0] != SentenceStart {
			vocab = append(vocab, g[0])
		}
	}
	histories := [][]string{nil}
	for _, order := range m.grams[:len(m.grams)-1] {
		for _, g := range order {
			if g[len(g)-1] != SentenceEnd {
				histories = append(histories, g)
			}
		}
	}
	worst := 0.0
	checked := 0
	for i, h := range histories {
		if i%every != 0 {
			continue
		}
		checked++
		var sum float64
		for _, w := range vocab {
			sum += m.prob(h, w)
		}
		if d := math.Abs(sum - 1); d > worst {
			worst = d
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("P(· | %q) sums to %.6f", strings.Join(h, " "), sum)
		}
	}
	t.Logf("%d of %d histories over %d words: largest |sum-1| %.2g", checked, len(histories), len(vocab), worst)
}

func writeARPA(t *testing.T, sentences ...string) *arpaModel {
	t.Helper()
	tg := NewTrigrams()
	for _, s := range sentences {
		tg.Add(strings.Fields(s))
	}
	var b bytes.Buffer
	if err := tg.WriteARPA(&b); err != nil {
		t.Fatal(err)
	}
	return readARPA(t, &b)
}

func TestWriteARPAByHand(t *testing.T) {
	m := writeARPA(t, "a b", "a c")
	// Unigrams: a 2, b 1, c 1, </s> 2 of 6. Bigrams: <s> a 2, a b 1, a c 1,
	// b </s> 1, c </s> 1, so D2 = n1/(n1+2·n2) = 4/6. Trigrams: <s> a b,
	// <s> a c, a b </s>, a c </s> once each: D3 = 1, kept at 0.9.
	d2, d3 := 4.0/6, 0.9
	bo := map[string]float64{
		"<s>": d2 * 1 / 2, "a": d2 * 2 / 2, "b": d2, "c": d2,
		"<s> a": d3 * 2 / 2, "a b": d3, "a c": d3,
	}
	pab := (1-d2)/2 + bo["a"]*1.0/6
	pbEnd := (1-d2)/1 + bo["b"]*2.0/6
	want := map[string]float64{
		"a": 2.0 / 6, "</s>": 2.0 / 6, "<s>": math.Pow(10, -99),
		"a b":      pab,
		"b </s>":   pbEnd,
		"<s> a":    (2-d2)/2 + bo["<s>"]*2.0/6,
		"<s> a b":  (1-d3)/2 + bo["<s> a"]*pab,
		"a b </s>": (1-d3)/1 + bo["a b"]*pbEnd,
	}
	for k, p := range want {
		if got := math.Pow(10, m.logProb[k]); math.Abs(got-p) > 1e-5 {
			t.Errorf("P(%s) = %.6f, want %.6f", k, got, p)
		}
	}
	for k, b := range bo {
		if got := math.Pow(10, m.backoff[k]); math.Abs(got-b) > 1e-5 {
			t.Errorf("back-off(%s) = %.6f, want %.6f", k, got, b)
		}
	}
	if _, ok := m.backoff[SentenceEnd]; ok {
		t.Error("</s> has a back-off weight")
	}
	if _, ok := m.backoff["b </s>"]; ok {
		t.Error("b </s> has a back-off weight")
	}
	if want := []int{5, 5, 4}; fmt.Sprint(m.counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", m.counts, want)
	}
	checkNormalised(t, m, 1)
}

func TestWriteARPANormalised(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sentences []string
		every     int
	}{
		{"one word", []string{"hello"}, 1},
		{"repeats", []string{"a a a a", "a a", "a b a b a"}, 1},
		{"empty too", []string{"", "call me", "call me back", "please call me back at five"}, 1},
		// A sample of the histories: all of them take seconds with -race.
		{"voicemail", Sentences(11, 2000), 7},
	} {
		t.Run(tc.name, func(t *testing.T) { checkNormalised(t, writeARPA(t, tc.sentences...), tc.every) })
	}
}

func TestWriteARPANothing(t *testing.T) {
	if err := NewTrigrams().WriteARPA(io.Discard); err == nil {
		t.Error("an empty model was written")
	}
}

// TestSphinxLMConvert converts a model to PocketSphinx's binary format and
// back with Debian's sphinx_lm_convert: the library that reads it is the
// one PocketSphinx loads models with.
func TestSphinxLMConvert(t *testing.T) {
	tool, err := exec.LookPath("sphinx_lm_convert")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI must check the model format: apt-get install sphinxbase-utils)", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	arpa := filepath.Join(dir, "voicemail.arpa")
	var b bytes.Buffer
	if err := Build(&b, DefaultSeed, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(arpa, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := readARPA(t, bytes.NewReader(b.Bytes()))
	bin := filepath.Join(dir, "voicemail.lm.bin")
	back := filepath.Join(dir, "back.arpa")
	for _, args := range [][]string{{"-i", arpa, "-o", bin}, {"-i", bin, "-o", back}} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("sphinx_lm_convert %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		// sphinxbase reports some problems only in its log.
		if bytes.Contains(out, []byte("ERROR")) {
			t.Errorf("sphinx_lm_convert %s:\n%s", strings.Join(args, " "), out)
		}
	}
	f, err := os.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := readARPA(t, f)
	if fmt.Sprint(got.counts) != fmt.Sprint(want.counts) {
		t.Fatalf("round trip through .lm.bin: counts %v, want %v", got.counts, want.counts)
	}
	// The binary format stores probabilities with less precision.
	for k, p := range want.logProb {
		if p > -90 && math.Abs(got.logProb[k]-p) > 0.01 {
			t.Errorf("round trip through .lm.bin: log10 P(%s) %.4f, want %.4f", k, got.logProb[k], p)
		}
	}
}

package lm

import (
	"bufio"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"
)

// Sentence markers, as PocketSphinx's models spell them.
const (
	SentenceStart = "<s>"
	SentenceEnd   = "</s>"
)

// Trigrams counts the unigrams, bigrams and trigrams of sentences and
// writes them as a back-off trigram model. The zero value is not ready:
// use NewTrigrams.
type Trigrams struct {
	uni map[string]int
	bi  map[[2]string]int
	tri map[[3]string]int
}

// NewTrigrams returns an empty counter.
func NewTrigrams() *Trigrams {
	return &Trigrams{uni: map[string]int{}, bi: map[[2]string]int{}, tri: map[[3]string]int{}}
}

// Add counts one sentence, given as its words without sentence markers.
// An empty sentence counts as <s> </s>.
func (t *Trigrams) Add(words []string) {
	s := make([]string, 0, len(words)+2)
	s = append(s, SentenceStart)
	s = append(s, words...)
	s = append(s, SentenceEnd)
	for i := 1; i < len(s); i++ {
		t.uni[s[i]]++
		t.bi[[2]string{s[i-1], s[i]}]++
		if i >= 2 {
			t.tri[[3]string{s[i-2], s[i-1], s[i]}]++
		}
	}
}

// history is what the model keeps of a context (the words before the one
// predicted): how often it was followed by anything, by how many different
// words, and so its back-off weight.
type history struct {
	count, types int
	backoff      float64 // probability, not its log
}

// discount returns the absolute discount for counts of one order,
// n1/(n1+2·n2) from the number of n-grams seen once and twice (Ney, Essen
// and Kneser), kept within [0.1, 0.9] so that every seen n-gram keeps some
// of its count and every context passes some probability on.
func discount(counts iter.Seq[int]) float64 {
	var n1, n2 float64
	for c := range counts {
		switch c {
		case 1:
			n1++
		case 2:
			n2++
		}
	}
	if n1+2*n2 == 0 {
		return 0.5
	}
	return min(0.9, max(0.1, n1/(n1+2*n2)))
}

// WriteARPA writes the model in the ARPA text format that sphinx_lm_convert
// and PocketSphinx read. It is an interpolated absolute-discounting
// trigram model: a seen n-gram gets its discounted relative frequency plus
// the context's freed mass times the next lower order's probability, and
// that freed mass, D·N1+(h·)/c(h), is exactly the context's back-off
// weight, so the file's back-off arithmetic gives back the interpolated
// distribution and every context's probabilities sum to one. Unigrams are
// relative frequencies over the words and </s>; <s> is never predicted
// and gets log10 probability -99. The vocabulary is closed: the model has
// no <unk>.
func (t *Trigrams) WriteARPA(w io.Writer) error {
	if len(t.uni) == 0 {
		return fmt.Errorf("lm: no sentences to model")
	}
	d2, d3 := discount(maps.Values(t.bi)), discount(maps.Values(t.tri))

	var total int
	for _, c := range t.uni {
		total += c
	}
	p1 := func(w string) float64 { return float64(t.uni[w]) / float64(total) }

	ctx1 := map[string]*history{}
	for k, c := range t.bi {
		x := ctx1[k[0]]
		if x == nil {
			x = &history{}
			ctx1[k[0]] = x
		}
		x.count += c
		x.types++
	}
	for _, x := range ctx1 {
		x.backoff = d2 * float64(x.types) / float64(x.count)
	}
	// p2 and p3 are the probabilities of seen n-grams, whose contexts are
	// therefore seen too.
	p2 := func(k [2]string) float64 {
		x := ctx1[k[0]]
		return (float64(t.bi[k])-d2)/float64(x.count) + x.backoff*p1(k[1])
	}

	ctx2 := map[[2]string]*history{}
	for k, c := range t.tri {
		h := [2]string{k[0], k[1]}
		x := ctx2[h]
		if x == nil {
			x = &history{}
			ctx2[h] = x
		}
		x.count += c
		x.types++
	}
	for _, x := range ctx2 {
		x.backoff = d3 * float64(x.types) / float64(x.count)
	}
	p3 := func(k [3]string) float64 {
		x := ctx2[[2]string{k[0], k[1]}]
		return (float64(t.tri[k])-d3)/float64(x.count) + x.backoff*p2([2]string{k[1], k[2]})
	}

	words := make([]string, 0, len(t.uni)+1)
	for w := range t.uni {
		words = append(words, w)
	}
	if t.uni[SentenceStart] == 0 {
		words = append(words, SentenceStart)
	}
	slices.Sort(words)
	bigrams := sortedKeys(t.bi, func(a, b [2]string) int { return slices.Compare(a[:], b[:]) })
	trigrams := sortedKeys(t.tri, func(a, b [3]string) int { return slices.Compare(a[:], b[:]) })

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "\\data\\\nngram 1=%d\nngram 2=%d\nngram 3=%d\n", len(words), len(bigrams), len(trigrams))
	fmt.Fprintf(bw, "\n\\1-grams:\n")
	for _, w := range words {
		lp := -99.0
		if w != SentenceStart {
			lp = math.Log10(p1(w))
		}
		writeLine(bw, lp, w, ctx1[w])
	}
	fmt.Fprintf(bw, "\n\\2-grams:\n")
	for _, k := range bigrams {
		writeLine(bw, math.Log10(p2(k)), k[0]+" "+k[1], ctx2[k])
	}
	fmt.Fprintf(bw, "\n\\3-grams:\n")
	for _, k := range trigrams {
		writeLine(bw, math.Log10(p3(k)), strings.Join(k[:], " "), nil)
	}
	fmt.Fprintf(bw, "\n\\end\\\n")
	return bw.Flush()
}

// writeLine writes one n-gram: log10 probability, words and, when the
// n-gram is a context, its log10 back-off weight.
func writeLine(w *bufio.Writer, logProb float64, ngram string, h *history) {
	if h == nil {
		fmt.Fprintf(w, "%.6f\t%s\n", logProb, ngram)
		return
	}
	fmt.Fprintf(w, "%.6f\t%s\t%.6f\n", logProb, ngram, math.Log10(h.backoff))
}

func sortedKeys[K comparable](m map[K]int, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}

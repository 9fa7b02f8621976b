package lm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// maxDepth bounds rule nesting, so that a recursive grammar fails loudly
// instead of running away.
const maxDepth = 16

// Sentences generates n voicemail sentences from seed: lower-case words
// separated by single spaces, no punctuation, the same for the same seed.
// A voicemail is generated whole and cut at some of its pauses, so the
// sentences are a mixture of whole messages and the parts a decoder that
// splits at pauses sees.
func Sentences(seed int64, n int) []string {
	g := voicemailGrammar()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x766d78)) // "vmx"
	out := make([]string, 0, n)
	for len(out) < n {
		var cur []string
		flush := func() {
			if len(cur) > 0 && len(out) < n {
				out = append(out, strings.Join(cur, " "))
			}
			cur = cur[:0]
		}
		for _, tok := range g.expand(rng, "message", nil, 0) {
			if tok != pause {
				cur = append(cur, tok)
			} else if rng.IntN(2) == 0 {
				flush()
			}
		}
		flush()
	}
	return out
}

// Vocabulary returns, sorted, every word Sentences can produce.
func Vocabulary() []string {
	seen := map[string]bool{}
	for _, alts := range voicemailGrammar() {
		for _, alt := range alts {
			for _, tok := range strings.Fields(alt) {
				if _, ok := ruleRef(tok); !ok && tok != pause {
					seen[tok] = true
				}
			}
		}
	}
	words := make([]string, 0, len(seen))
	for w := range seen {
		words = append(words, w)
	}
	slices.Sort(words)
	return words
}

// pause is the grammar's token for a place a message may be cut.
const pause = "|"

// ruleRef reports whether tok refers to a rule, {name} or [name], and
// returns the name.
func ruleRef(tok string) (string, bool) {
	if len(tok) > 2 && (tok[0] == '{' && tok[len(tok)-1] == '}' || tok[0] == '[' && tok[len(tok)-1] == ']') {
		return tok[1 : len(tok)-1], true
	}
	return "", false
}

// expand appends a random expansion of rule to out. The grammar is the
// package's own and its test checks every reference, so an unknown rule
// or runaway recursion is a programming error and panics.
func (g grammar) expand(rng *rand.Rand, rule string, out []string, depth int) []string {
	alts, ok := g[rule]
	if !ok || len(alts) == 0 {
		panic(fmt.Sprintf("lm: grammar has no rule %q", rule))
	}
	if depth > maxDepth {
		panic(fmt.Sprintf("lm: grammar nests deeper than %d at %q", maxDepth, rule))
	}
	for _, tok := range strings.Fields(alts[rng.IntN(len(alts))]) {
		name, ok := ruleRef(tok)
		switch {
		case !ok:
			out = append(out, tok)
		case tok[0] == '[' && rng.IntN(2) == 0:
			// An optional rule left out.
		default:
			out = g.expand(rng, name, out, depth+1)
		}
	}
	return out
}

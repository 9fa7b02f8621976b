// Package wer scores transcripts: word error rate by word-level edit
// distance, after a normalisation that makes "Five-five-five, one two!"
// and "five five five one two" the same words.
package wer

import (
	"strings"
	"unicode"
)

// Normalize lower-cases s, turns punctuation (except apostrophes inside
// words) into spaces and splits it into words.
func Normalize(s string) []string {
	s = strings.ToLower(s)
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'')
	})
}

// Counts are the edit operations that turn a reference into a hypothesis.
type Counts struct {
	Substitutions, Deletions, Insertions int
	RefWords                             int
}

// Errors is the number of word errors.
func (c Counts) Errors() int { return c.Substitutions + c.Deletions + c.Insertions }

// Rate is the word error rate: errors per reference word. An empty
// reference scores 0 against an empty hypothesis and 1 per inserted word.
func (c Counts) Rate() float64 {
	if c.RefWords == 0 {
		return float64(c.Insertions)
	}
	return float64(c.Errors()) / float64(c.RefWords)
}

// Add sums counts, for a corpus rate (errors over all reference words,
// not a mean of per-file rates).
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Substitutions + o.Substitutions, c.Deletions + o.Deletions, c.Insertions + o.Insertions, c.RefWords + o.RefWords}
}

// Compare aligns hyp against ref after normalising both.
func Compare(ref, hyp string) Counts {
	return Align(Normalize(ref), Normalize(hyp))
}

// Align counts the minimum edits from ref to hyp (Levenshtein over words,
// preferring substitutions, then deletions, on ties).
func Align(ref, hyp []string) Counts {
	type cell struct {
		cost, sub, del, ins int
	}
	prev := make([]cell, len(hyp)+1)
	cur := make([]cell, len(hyp)+1)
	for j := range prev {
		prev[j] = cell{cost: j, ins: j}
	}
	for i := 1; i <= len(ref); i++ {
		cur[0] = cell{cost: i, del: i}
		for j := 1; j <= len(hyp); j++ {
			if ref[i-1] == hyp[j-1] {
				cur[j] = prev[j-1]
				continue
			}
			best := prev[j-1]
			best.cost++
			best.sub++
			if d := prev[j]; d.cost+1 < best.cost {
				best = d
				best.cost++
				best.del++
			}
			if n := cur[j-1]; n.cost+1 < best.cost {
				best = n
				best.cost++
				best.ins++
			}
			cur[j] = best
		}
		prev, cur = cur, prev
	}
	last := prev[len(hyp)]
	return Counts{Substitutions: last.sub, Deletions: last.del, Insertions: last.ins, RefWords: len(ref)}
}

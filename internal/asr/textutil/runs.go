package textutil

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// itemKind sorts the pieces of a text for the run reader.
type itemKind uint8

const (
	itemNumber itemKind = iota // ASCII digits
	itemWord                   // letters, with inner apostrophes
	itemSep                    // spaces and punctuation a number may hold
	itemStop                   // anything else: ends a run
)

// item is a lexed piece of text: text[start:end].
type item struct {
	kind       itemKind
	start, end int
	word       string // lower-case, for itemWord
	comma      bool   // for itemSep: holds a comma
}

// lex splits text into items. Every byte of text belongs to exactly one
// item; invalid UTF-8 bytes are stop items of one byte.
func lex(text string) []item {
	var items []item
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		start := i
		switch {
		case r >= '0' && r <= '9':
			for i < len(text) && text[i] >= '0' && text[i] <= '9' {
				i++
			}
			items = append(items, item{kind: itemNumber, start: start, end: i})
		case unicode.IsLetter(r):
			i = wordEnd(text, i)
			items = append(items, item{kind: itemWord, start: start, end: i, word: strings.ToLower(text[start:i])})
		case isSep(text, i, r, size):
			it := item{kind: itemSep, start: start}
			for i < len(text) {
				r, size := utf8.DecodeRuneInString(text[i:])
				if !isSep(text, i, r, size) {
					break
				}
				it.comma = it.comma || r == ','
				i += size
			}
			it.end = i
			items = append(items, it)
		default:
			i += size
			items = append(items, item{kind: itemStop, start: start, end: i})
		}
	}
	return items
}

// wordEnd returns the end of the word starting at i: letters, and
// apostrophes between letters ("number's", "O'Brien").
func wordEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsLetter(r) {
			i += size
			continue
		}
		if r == '\'' || r == '’' {
			next, _ := utf8.DecodeRuneInString(text[i+size:])
			if i+size < len(text) && unicode.IsLetter(next) {
				i += size
				continue
			}
		}
		break
	}
	return i
}

// isSep reports whether the rune r of size bytes at text[i] may sit inside
// a number: white space, comma, hyphens and dashes, parentheses, slash,
// plus, and a period that does not end a sentence (one followed by a
// non-space, as in 555.123.4567).
func isSep(text string, i int, r rune, size int) bool {
	switch r {
	case ',', '-', '(', ')', '/', '+', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014':
		return true
	case '.':
		if i+size >= len(text) {
			return false
		}
		next, _ := utf8.DecodeRuneInString(text[i+size:])
		return !unicode.IsSpace(next)
	}
	return unicode.IsSpace(r)
}

// piece is one contribution to a run: text[start:end] stands for digits.
type piece struct {
	start, end int
	digits     string
	spoken     bool // words, not numerals
}

// run is a maximal sequence of pieces the text reads as one number.
type run struct {
	pieces []piece
	first  int // index of the first piece's item
	n      int // number of digits
}

func (r *run) add(p piece, idx int) {
	if len(r.pieces) == 0 {
		r.first = idx
	}
	r.pieces = append(r.pieces, p)
	r.n += len(p.digits)
}

func (r *run) digits() string {
	var b strings.Builder
	b.Grow(r.n)
	for _, p := range r.pieces {
		b.WriteString(p.digits)
	}
	return b.String()
}

// findRuns reads the digit runs of text, whose items are items.
func findRuns(text string, items []item) []run {
	var (
		runs []run
		cur  run
	)
	flush := func() {
		if len(cur.pieces) > 0 {
			runs = append(runs, cur)
		}
		cur = run{}
	}
	for i := 0; i < len(items); i++ {
		it := items[i]
		switch it.kind {
		case itemSep:
			continue
		case itemStop:
			flush()
			continue
		case itemNumber:
			cur.add(piece{start: it.start, end: it.end, digits: text[it.start:it.end]}, i)
			continue
		}
		w := it.word
		if d, ok := digitWord(w); ok {
			if (w == "oh" || w == "o") && commaFollows(items, i) {
				// "Oh, hi": an interjection, not a zero.
				flush()
				continue
			}
			cur.add(piece{start: it.start, end: it.end, digits: d, spoken: true}, i)
			continue
		}
		if times := repeatWord(w); times > 0 {
			j := nextNonSep(items, i+1)
			if d, ok := singleDigits(text, items, j); ok {
				cur.add(piece{start: it.start, end: items[j].end, digits: strings.Repeat(d, times), spoken: true}, i)
				i = j
				continue
			}
			flush()
			continue
		}
		if d, j, ok := tens(items, i); ok {
			cur.add(piece{start: it.start, end: items[j].end, digits: d, spoken: true}, i)
			i = j
			continue
		}
		if d, ok := teenWord(w); ok {
			cur.add(piece{start: it.start, end: it.end, digits: d, spoken: true}, i)
			continue
		}
		if len(cur.pieces) > 0 {
			switch w {
			case "hundred":
				// "eight hundred" is 800; "five hundred fifty five" is 555.
				j := nextNonSep(items, i+1)
				if d, k, ok := tens(items, j); ok {
					cur.add(piece{start: it.start, end: items[k].end, digits: d, spoken: true}, i)
					i = k
					continue
				}
				if j < len(items) && items[j].kind == itemWord {
					if d, ok := teenWord(items[j].word); ok {
						cur.add(piece{start: it.start, end: items[j].end, digits: d, spoken: true}, i)
						i = j
						continue
					}
				}
				cur.add(piece{start: it.start, end: it.end, digits: "00", spoken: true}, i)
				continue
			case "thousand":
				cur.add(piece{start: it.start, end: it.end, digits: "000", spoken: true}, i)
				continue
			case "dash", "hyphen":
				continue
			}
		}
		flush()
	}
	flush()
	return runs
}

// nextNonSep returns the index of the first item from i on that is not a
// separator, or len(items).
func nextNonSep(items []item, i int) int {
	for i < len(items) && items[i].kind == itemSep {
		i++
	}
	return i
}

// commaFollows reports whether a comma comes right after item i.
func commaFollows(items []item, i int) bool {
	return i+1 < len(items) && items[i+1].kind == itemSep && items[i+1].comma
}

// singleDigits returns what item j says when "double" or "triple" comes
// before it: a numeral or a spoken digit.
func singleDigits(text string, items []item, j int) (string, bool) {
	if j >= len(items) {
		return "", false
	}
	switch it := items[j]; it.kind {
	case itemNumber:
		return text[it.start:it.end], true
	case itemWord:
		return digitWord(it.word)
	}
	return "", false
}

// tens reads a tens word at item i with the unit word that may follow it:
// "twenty three" is 23 and ends at the unit, "twenty" alone is 20. It
// returns the digits and the index of the last item read.
func tens(items []item, i int) (string, int, bool) {
	if i >= len(items) || items[i].kind != itemWord {
		return "", 0, false
	}
	t, ok := tensWord(items[i].word)
	if !ok {
		return "", 0, false
	}
	j := nextNonSep(items, i+1)
	if j < len(items) && items[j].kind == itemWord {
		if u, ok := digitWord(items[j].word); ok && u != "0" {
			return t + u, j, true
		}
	}
	return t + "0", i, true
}

// digitWord returns the digit a spoken word stands for.
func digitWord(w string) (string, bool) {
	switch w {
	case "zero", "oh", "o":
		return "0", true
	case "one":
		return "1", true
	case "two":
		return "2", true
	case "three":
		return "3", true
	case "four":
		return "4", true
	case "five":
		return "5", true
	case "six":
		return "6", true
	case "seven":
		return "7", true
	case "eight":
		return "8", true
	case "nine":
		return "9", true
	}
	return "", false
}

// repeatWord returns how often "double" or "triple" repeats the next digit.
func repeatWord(w string) int {
	switch w {
	case "double":
		return 2
	case "triple":
		return 3
	}
	return 0
}

// tensWord returns the tens digit of "twenty" … "ninety".
func tensWord(w string) (string, bool) {
	switch w {
	case "twenty":
		return "2", true
	case "thirty":
		return "3", true
	case "forty":
		return "4", true
	case "fifty":
		return "5", true
	case "sixty":
		return "6", true
	case "seventy":
		return "7", true
	case "eighty":
		return "8", true
	case "ninety":
		return "9", true
	}
	return "", false
}

// teenWord returns the two digits of "ten" … "nineteen".
func teenWord(w string) (string, bool) {
	switch w {
	case "ten":
		return "10", true
	case "eleven":
		return "11", true
	case "twelve":
		return "12", true
	case "thirteen":
		return "13", true
	case "fourteen":
		return "14", true
	case "fifteen":
		return "15", true
	case "sixteen":
		return "16", true
	case "seventeen":
		return "17", true
	case "eighteen":
		return "18", true
	case "nineteen":
		return "19", true
	}
	return "", false
}

package textutil

import "slices"

const (
	// MinCallbackDigits and MaxCallbackDigits bound a callback number: a
	// local number without area code has 7 digits, E.164 allows 15.
	MinCallbackDigits = 7
	MaxCallbackDigits = 15

	// cueReach is how many words may sit between a cue ("call me back",
	// "my number") and the number it announces: "call me back at area
	// code …".
	cueReach = 5
)

// CallbackNumbers returns the digit strings of 7 to 15 digits written or
// spoken in text, best first and without repeats: numbers announced by a
// cue ("call me back at", "my number is", "reach me on", "my cell") come
// before the others, each group in the order spoken. A number said twice
// in a row ("555 1234, 555 1234") counts once. "Account number" and its
// kind (card, policy, order, case, reference…) is not a cue.
//
// "five five five one two three four", "555-1234" and "five five five
// dash one two three four" all give "5551234"; "oh" and "o" are zero
// (except before a comma: "oh, hi"), "double five" is "55", "eight
// hundred" is "800".
func CallbackNumbers(text string) []string {
	items := lex(text)
	cues, words := cueEnds(items), wordCounts(items)
	var cued, other []string
	seen := map[string]bool{}
	for _, r := range findRuns(text, items) {
		d := r.digits()
		if half := len(d) / 2; len(d)%2 == 0 && half >= MinCallbackDigits && d[:half] == d[half:] {
			d = d[:half]
		}
		if len(d) < MinCallbackDigits || len(d) > MaxCallbackDigits || seen[d] {
			continue
		}
		seen[d] = true
		if announced(words, cues, r.first) {
			cued = append(cued, d)
		} else {
			other = append(other, d)
		}
	}
	return append(cued, other...)
}

// CallbackNumber returns the best of CallbackNumbers, if any.
func CallbackNumber(text string) (string, bool) {
	c := CallbackNumbers(text)
	if len(c) == 0 {
		return "", false
	}
	return c[0], true
}

// cueEnds returns the item index of the last word of each cue in items.
func cueEnds(items []item) []int {
	var (
		ends   []int
		before string
	)
	for i, it := range items {
		if it.kind != itemWord {
			continue
		}
		if isCue(before, it.word) {
			ends = append(ends, i)
		}
		before = it.word
	}
	return ends
}

// isCue reports whether the word w, after the word before, ends a phrase
// that announces a phone number.
func isCue(before, w string) bool {
	switch w {
	case "callback", "cell", "mobile", "phone":
		return true
	case "me":
		switch before {
		case "call", "reach", "text", "contact", "ring":
			return true
		}
	case "back":
		return before == "call"
	case "number", "number's", "numbers":
		switch before {
		case "account", "card", "policy", "order", "case", "reference", "confirmation",
			"tracking", "routing", "member", "claim", "invoice", "ticket", "serial",
			"security", "id", "pin", "credit", "debit":
			return false
		}
		return true
	}
	return false
}

// announced reports whether a cue ends at most cueReach words before the
// item first. cues is ascending; words[i] counts the words among items[:i].
func announced(words, cues []int, first int) bool {
	// The last cue before first is the nearest.
	k, _ := slices.BinarySearch(cues, first)
	return k > 0 && words[first]-words[cues[k-1]+1] <= cueReach
}

// wordCounts returns, for each i in 0..len(items), the number of words
// among items[:i].
func wordCounts(items []item) []int {
	words := make([]int, len(items)+1)
	for i, it := range items {
		words[i+1] = words[i]
		if it.kind == itemWord {
			words[i+1]++
		}
	}
	return words
}

package textutil

import (
	"testing"
	"unicode/utf8"
)

func TestMask(t *testing.T) {
	tests := map[string]struct {
		opts       MaskOptions
		text, want string
	}{
		"card":             {MaskOptions{}, "my card is 4111 1111 1111 1111 thanks", "my card is **** **** **** **** thanks"},
		"card keep 4":      {MaskOptions{Keep: 4}, "card 4111 1111 1111 1111.", "card **** **** **** 1111."},
		"card dashes":      {MaskOptions{Keep: 4}, "card 4111-1111-1111-1234", "card ****-****-****-1234"},
		"pin keep 4":       {MaskOptions{Keep: 4}, "my PIN is 1234.", "my PIN is ****."},
		"six keep 4":       {MaskOptions{Keep: 4}, "code 123456 ok", "code ****56 ok"},
		"short":            {MaskOptions{}, "call in 5 minutes, room 123", "call in 5 minutes, room 123"},
		"spoken":           {MaskOptions{}, "PIN one two three four please", "PIN * * * * please"},
		"spoken keep":      {MaskOptions{Keep: 2}, "one two three four five six", "* * * * five six"},
		"spoken double":    {MaskOptions{}, "pin double five double six", "pin ** **"},
		"double partly":    {MaskOptions{Keep: 1}, "one two three double five", "* * * *5"},
		"spoken tens":      {MaskOptions{}, "it is twenty three forty five", "it is ** **"},
		"mixed":            {MaskOptions{}, "code 12 three four", "code ** * *"},
		"min run 6":        {MaskOptions{MinRun: 6}, "pin 1234, card 4111111111111111", "pin 1234, card ****************"},
		"char":             {MaskOptions{Char: '#'}, "pin 1234", "pin ####"},
		"multibyte char":   {MaskOptions{Char: '•', Keep: 4}, "card 4111 1111 1111 1111", "card •••• •••• •••• 1111"},
		"two runs":         {MaskOptions{}, "pin 1234 and card 9876543210", "pin **** and card **********"},
		"sentence end":     {MaskOptions{}, "pin 12. 34 people", "pin 12. 34 people"},
		"min run 1":        {MaskOptions{MinRun: 1}, "room 5", "room *"},
		"no digits":        {MaskOptions{}, "hello there", "hello there"},
		"oh interjection":  {MaskOptions{}, "Oh, 1234", "Oh, ****"},
		"unicode context":  {MaskOptions{}, "Grüße 1234 ☎", "Grüße **** ☎"},
		"invalid utf8":     {MaskOptions{}, "\xff1234\xfe", "\xff****\xfe"},
		"empty":            {MaskOptions{}, "", ""},
		"keep exceeds run": {MaskOptions{Keep: 10}, "12345", "****5"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := NewMasker(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Mask(tt.text); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestNewMaskerRejects(t *testing.T) {
	for name, opts := range map[string]MaskOptions{
		"negative min run": {MinRun: -1},
		"negative keep":    {Keep: -1},
		"digit char":       {Char: '7'},
		"letter char":      {Char: 'x'},
		"o char":           {Char: 'o'},
		"space char":       {Char: ' '},
		"dash char":        {Char: '-'},
		"period char":      {Char: '.'},
		"comma char":       {Char: ','},
		"invalid char":     {Char: utf8.RuneError},
		"surrogate":        {Char: 0xD800},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewMasker(opts); err == nil {
				t.Errorf("NewMasker(%+v) succeeded", opts)
			}
		})
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{
		"my card is 4111 1111 1111 1111",
		"PIN one two three four",
		"double five triple oh, eight hundred twenty three",
		"1.2.3.4 (555) 123-4567 +44",
		"Oh, 1234. o o o o",
		"\xff1234\xfe",
	} {
		f.Add(s, 4, 4)
		f.Add(s, 1, 0)
	}
	f.Fuzz(func(t *testing.T, text string, minRun, keep int) {
		minRun, keep = 1+abs(minRun)%20, abs(keep)%20
		m, err := NewMasker(MaskOptions{MinRun: minRun, Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		out := m.Mask(text)
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("Mask(%q) = %q: not UTF-8", text, out)
		}
		// No run of the output shows more digits than the masker lets
		// through: fewer than MinRun, or the visible tail of a masked run.
		limit := max(minRun-1, min(keep, maxRun(text)-minRun))
		for _, r := range findRuns(out, lex(out)) {
			if r.n > limit {
				t.Fatalf("Mask(%q) with MinRun %d Keep %d = %q: run %q shows %d digits, limit %d",
					text, minRun, keep, out, r.digits(), r.n, limit)
			}
		}
		// The masked digits are gone: with Keep 0 the output holds only the
		// numerals of the runs too short to mask.
		m0, err := NewMasker(MaskOptions{MinRun: minRun})
		if err != nil {
			t.Fatal(err)
		}
		out0, short := m0.Mask(text), 0
		for _, r := range findRuns(text, lex(text)) {
			for _, p := range r.pieces {
				if r.n < minRun {
					short += numerals(text[p.start:p.end])
				}
			}
		}
		if got := numerals(out0); got != short {
			t.Fatalf("Mask(%q) with MinRun %d = %q: %d numerals, want %d", text, minRun, out0, got, short)
		}
	})
}

// numerals counts the ASCII digits of s.
func numerals(s string) int {
	n := 0
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// maxRun returns the longest run of text, in digits.
func maxRun(text string) int {
	n := 0
	for _, r := range findRuns(text, lex(text)) {
		n = max(n, r.n)
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

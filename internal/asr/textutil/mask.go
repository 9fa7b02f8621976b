package textutil

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMinRun is the shortest run a Masker masks unless told otherwise:
// four digits, the length of a PIN.
const DefaultMinRun = 4

// MaskOptions configure a Masker. The zero value masks every run of four
// digits or more entirely with '*'.
type MaskOptions struct {
	// MinRun is the number of digits from which a run is masked. Default
	// DefaultMinRun; 1 masks every digit.
	MinRun int
	// Keep is how many trailing digits of a masked run stay visible, as on
	// a receipt ("**** **** **** 1111"). At least MinRun digits of every run
	// are masked whatever Keep says, so a PIN of MinRun digits is masked
	// whole. Default 0.
	Keep int
	// Char replaces each masked digit. It must not be a letter, a digit, a
	// space or a character that may sit inside a number (,-.()/+ and
	// dashes), so that masked text reads as no number. Default '*'.
	Char rune
}

// Masker hides digit runs (card numbers, PINs, account numbers) in text,
// whether written as numerals ("4111 1111 1111 1111") or spoken ("one two
// three four"). A Masker is safe for concurrent use.
type Masker struct {
	minRun, keep int
	char         string
}

// NewMasker returns a Masker for opts.
func NewMasker(opts MaskOptions) (*Masker, error) {
	if opts.MinRun == 0 {
		opts.MinRun = DefaultMinRun
	}
	if opts.Char == 0 {
		opts.Char = '*'
	}
	switch {
	case opts.MinRun < 0:
		return nil, fmt.Errorf("textutil: masker: MinRun %d must not be negative", opts.MinRun)
	case opts.Keep < 0:
		return nil, fmt.Errorf("textutil: masker: Keep %d must not be negative", opts.Keep)
	}
	if err := checkMaskChar(opts.Char); err != nil {
		return nil, fmt.Errorf("textutil: masker: Char %q: %w", opts.Char, err)
	}
	return &Masker{minRun: opts.MinRun, keep: opts.Keep, char: string(opts.Char)}, nil
}

func checkMaskChar(c rune) error {
	switch {
	case c == utf8.RuneError || !utf8.ValidRune(c):
		return errors.New("not a valid character")
	case unicode.IsLetter(c) || unicode.IsDigit(c):
		return errors.New("must not be a letter or digit")
	case unicode.IsSpace(c) || c == '.':
		return errors.New("must not be a space or period")
	}
	if isSep(string(c), 0, c, utf8.RuneLen(c)) {
		return errors.New("must not be a character that may sit inside a number")
	}
	return nil
}

// Mask returns text with every run of at least MinRun digits masked: each
// masked numeral becomes Char, each masked spoken digit becomes Char
// ("one two three four" → "* * * *", "double five" → "**"), and the
// separators between them stay. Of the digits Keep leaves visible, a
// spoken word that is only partly visible is written as numerals ("double
// five" keeping 1 → "*5"). Text without such runs comes back unchanged.
func (m *Masker) Mask(text string) string {
	runs := findRuns(text, lex(text))
	var (
		b       strings.Builder
		last    int
		changed bool
	)
	for _, r := range runs {
		if r.n < m.minRun {
			continue
		}
		if !changed {
			b.Grow(len(text))
			changed = true
		}
		masked := r.n - min(m.keep, r.n-m.minRun)
		for _, p := range r.pieces {
			b.WriteString(text[last:p.start])
			last = p.end
			hide := min(masked, len(p.digits))
			masked -= hide
			switch {
			case hide == 0:
				b.WriteString(text[p.start:p.end])
			case !p.spoken:
				// A numeral piece is its digits: mask them in place.
				b.WriteString(strings.Repeat(m.char, hide))
				b.WriteString(text[p.start+hide : p.end])
			default:
				b.WriteString(strings.Repeat(m.char, hide))
				b.WriteString(p.digits[hide:])
			}
		}
	}
	if !changed {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

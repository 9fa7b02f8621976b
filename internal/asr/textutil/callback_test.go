package textutil

import (
	"slices"
	"strings"
	"testing"
)

func TestCallbackNumbers(t *testing.T) {
	tests := map[string]struct {
		text string
		want []string
	}{
		"spoken":               {"call me back at five five five one two three four", []string{"5551234"}},
		"oh as zero":           {"my number is five five five oh one oh two", []string{"5550102"}},
		"o as zero":            {"my number is five five five o one o two", []string{"5550102"}},
		"zero":                 {"it's two zero six five five five zero one nine nine", []string{"2065550199"}},
		"double":               {"call me at double five five one two three four", []string{"5551234"}},
		"triple":               {"my cell is triple five one two three four", []string{"5551234"}},
		"double numeral":       {"reach me on double 5 5 1234", []string{"5551234"}},
		"numeric dashes":       {"Hi, this is Ann. My number is 206-555-0199. Thanks.", []string{"2065550199"}},
		"numeric dots":         {"call me back at 206.555.0199", []string{"2065550199"}},
		"numeric parens":       {"call me back at (206) 555-0199, thanks", []string{"2065550199"}},
		"plus":                 {"my mobile is +44 20 7946 0958", []string{"442079460958"}},
		"dash words":           {"five five five dash one two three four", []string{"5551234"}},
		"hyphen words":         {"five five five hyphen one two three four", []string{"5551234"}},
		"commas":               {"My number is 5 5 5, 1 2 3, 4 5 6 7.", []string{"5551234567"}},
		"mixed":                {"call me at 555 one two three four", []string{"5551234"}},
		"upper case":           {"CALL ME AT FIVE FIVE FIVE ONE TWO THREE FOUR", []string{"5551234"}},
		"tens":                 {"call me at five fifty five twelve thirty four", []string{"5551234"}},
		"tens alone":           {"call me at five five five twenty twenty", []string{"5552020"}},
		"hundred":              {"call me at one eight hundred five five five one two one two", []string{"18005551212"}},
		"hundred fold":         {"call me at five hundred fifty five one two three four", []string{"5551234"}},
		"thousand":             {"call me at five five five two thousand", []string{"5552000"}},
		"said twice":           {"call me at 555 1234, 555 1234", []string{"5551234"}},
		"interjection":         {"Oh, hi, my number is 555 1234. Oh, and call soon.", []string{"5551234"}},
		"too short":            {"call me at 555 12", nil},
		"too long":             {"my card is 4111 1111 1111 1111", nil},
		"none":                 {"hello, it's me, call me back", nil},
		"empty":                {"", nil},
		"sentence ends run":    {"call me at 555 1234. 5 things to say", []string{"5551234"}},
		"word ends run":        {"call me at 555 1234 after 5 pm", []string{"5551234"}},
		"cue preferred":        {"my account number is 12345678, please call me back at 206 555 0199", []string{"2065550199", "12345678"}},
		"cue after number":     {"order 98765432 arrived, you can reach me at 555 0000", []string{"5550000", "98765432"}},
		"uncued in order":      {"12345678 and 87654321", []string{"12345678", "87654321"}},
		"dedupe":               {"555 1234 or 555 1234 again", []string{"5551234"}},
		"two cued":             {"call me at 555 1234 or my cell 555 9876", []string{"5551234", "5559876"}},
		"cue too far":          {"call me back when you have a moment to talk about 12345678. Reach me at 5551234", []string{"5551234", "12345678"}},
		"numbers cue":          {"my number's 555 1234", []string{"5551234"}},
		"fifteen digits":       {"call 123456789012345", []string{"123456789012345"}},
		"sixteen digits":       {"call 1234567890123456", nil},
		"apostrophe word":      {"O'Brien here, 555 1234", []string{"5551234"}},
		"unicode":              {"Grüße, ruf mich an: 555 1234 ☎", []string{"5551234"}},
		"double without digit": {"double check 555 1234", []string{"5551234"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := CallbackNumbers(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("CallbackNumbers(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestCallbackNumber(t *testing.T) {
	if n, ok := CallbackNumber("nothing here"); ok || n != "" {
		t.Errorf("CallbackNumber(no number) = %q, %v", n, ok)
	}
	const text = "my PIN is 12345678 but call me back at five five five one two three four"
	if n, ok := CallbackNumber(text); !ok || n != "5551234" {
		t.Errorf("CallbackNumber(%q) = %q, %v, want 5551234", text, n, ok)
	}
}

func FuzzCallbackNumbers(f *testing.F) {
	for _, s := range []string{
		"call me back at five five five one two three four",
		"my number is 206-555-0199",
		"double five triple oh, one eight hundred",
		"twenty hundred thousand dash hyphen",
		"call me at 555 1234, 555 1234",
		"\xff\xfe 5 5 5 1 2 3 4",
		"O'Brien ’ 1.2.3.4.5.6.7.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := CallbackNumbers(text)
		seen := map[string]bool{}
		for _, n := range got {
			if len(n) < MinCallbackDigits || len(n) > MaxCallbackDigits {
				t.Fatalf("CallbackNumbers(%q): %q has %d digits", text, n, len(n))
			}
			if strings.Trim(n, "0123456789") != "" {
				t.Fatalf("CallbackNumbers(%q): %q is not all digits", text, n)
			}
			if seen[n] {
				t.Fatalf("CallbackNumbers(%q): %q twice", text, n)
			}
			seen[n] = true
		}
		if n, ok := CallbackNumber(text); ok != (len(got) > 0) || ok && n != got[0] {
			t.Fatalf("CallbackNumber(%q) = %q, %v; CallbackNumbers = %q", text, n, ok, got)
		}
		// Every item covers its bytes exactly once.
		end := 0
		for _, it := range lex(text) {
			if it.start != end || it.end <= it.start {
				t.Fatalf("lex(%q): item %+v after %d", text, it, end)
			}
			end = it.end
		}
		if end != len(text) {
			t.Fatalf("lex(%q) ends at %d", text, end)
		}
	})
}

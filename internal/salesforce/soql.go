package salesforce

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// QuoteString returns s as a quoted SOQL string literal, for comparisons
// with = (not LIKE, where _ and % would also need escaping). Voicemail
// Express 2 concatenated the agent alias into its query unescaped (spec §12
// item 18), so a quote in an attribute value could rewrite the query.
// Backslash and both quote characters are escaped; control characters and
// invalid UTF-8 are refused, since no user alias or delivery key holds them
// and SOQL's own escapes for them differ from Go's.
func QuoteString(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("salesforce: soql literal %q is not valid UTF-8", s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return "", fmt.Errorf("salesforce: soql literal %q contains control character %U", s, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// apiName matches Salesforce API names of objects and fields: Case,
// SuppliedPhone, VMX_Delivery_Key__c, ns__Voicemail__c. Names go into SOQL
// and URL paths unquoted (SOQL has no identifier quoting), so this check is
// what keeps configuration from injecting into either. The length (at most
// 120) is checked apart: a counted repetition compiles to that many copies
// of its class at every start of the binary.
var apiName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func validName(s string) bool {
	return len(s) <= 120 && apiName.MatchString(s) && !strings.HasSuffix(s, "_") && !strings.Contains(s, "___")
}

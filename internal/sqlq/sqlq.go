// Package sqlq holds what vmx's SQL needs on both of its databases.
package sqlq

import (
	"strconv"
	"strings"
)

// Postgres turns ? placeholders into PostgreSQL's $1, $2…. vmx's
// statements hold no literal question marks.
func Postgres(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

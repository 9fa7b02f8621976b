package sqlq

import "testing"

func TestPostgres(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                       "SELECT 1",
		"a = ? AND (b < ? OR c = ?)":     "a = $1 AND (b < $2 OR c = $3)",
		"INSERT INTO t VALUES (?, ?, ?)": "INSERT INTO t VALUES ($1, $2, $3)",
	} {
		if got := Postgres(in); got != want {
			t.Errorf("Postgres(%q) = %q, want %q", in, got, want)
		}
	}
}

// Package storetest gives tests the databases vmx runs on: SQLite always,
// and PostgreSQL when VMX_TEST_POSTGRES_URL names a server (make test
// starts one), each test on a fresh database.
package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSNs maps a database name ("sqlite", "postgres") to a function that
// creates a fresh, empty database for one test and returns its DSN.
func DSNs(tb testing.TB) map[string]func(testing.TB) string {
	dbs := map[string]func(testing.TB) string{"sqlite": SQLite}
	if base := os.Getenv("VMX_TEST_POSTGRES_URL"); base != "" {
		dbs["postgres"] = func(tb testing.TB) string { return Postgres(tb, base) }
	}
	return dbs
}

// SQLite returns the DSN of a new SQLite file in the test's directory.
func SQLite(tb testing.TB) string {
	return "sqlite://" + filepath.Join(tb.TempDir(), "vmx.db")
}

var counter atomic.Int64

// Postgres creates a database on the server at base, drops it when the
// test ends, and returns its URL.
func Postgres(tb testing.TB, base string) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("storetest: postgres: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("vmx_test_%d_%d", time.Now().UnixNano(), counter.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("storetest: postgres: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

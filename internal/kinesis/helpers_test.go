package kinesis

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/vmx-dev/vmx/internal/kinesis/kinesistest"
)

// testServer is the kinesis-local shared by the package's tests, started
// by TestMain; testServerErr says why there is none.
var (
	testServer    *kinesistest.Server
	testServerErr error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	testServer, testServerErr = kinesistest.New(ctx)
	cancel()
	code := m.Run()
	if testServer != nil {
		_ = testServer.Close()
	}
	os.Exit(code)
}

// server returns the shared kinesis-local, skipping the test without one
// (failing it under CI).
func server(t *testing.T) *kinesistest.Server {
	t.Helper()
	if testServer == nil {
		if errors.Is(testServerErr, kinesistest.ErrUnavailable) && os.Getenv("CI") == "" {
			t.Skip(testServerErr)
		}
		t.Fatal(testServerErr)
	}
	return testServer
}

// testDB opens connections to one database holding the lease tables.
type testDB struct {
	name    string
	dialect Dialect
	open    func(t *testing.T) *sql.DB // a new pool, closed when t ends
	table   string
}

// forEachDB runs f against SQLite and, when VMX_TEST_POSTGRES_URL is set,
// PostgreSQL, each with fresh lease tables.
func forEachDB(t *testing.T, f func(t *testing.T, db testDB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "leases.db")
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
		f(t, testDB{name: "sqlite", dialect: SQLite, table: "leases", open: func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("VMX_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("VMX_TEST_POSTGRES_URL not set")
		}
		table := "kinesis_test_" + randomHex(6)
		open := func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
		admin := open(t)
		t.Cleanup(func() {
			for _, tbl := range []string{table, table + "_workers"} {
				if _, err := admin.Exec("DROP TABLE IF EXISTS " + tbl); err != nil {
					t.Errorf("drop %s: %v", tbl, err)
				}
			}
		})
		f(t, testDB{name: "postgres", dialect: Postgres, table: table, open: open})
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newStream creates a stream with n shards and returns its name and ARN.
func newStream(t *testing.T, n int32) (name, arn string) {
	t.Helper()
	name = "vmx-" + strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()) + "-" + randomHex(3)
	if len(name) > 128 {
		name = name[len(name)-128:]
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	arn, err := server(t).CreateStream(ctx, name, n)
	if err != nil {
		t.Fatal(err)
	}
	return name, arn
}

// hashKey returns the explicit hash key of the middle of slot i of n equal
// slices of the hash key space, so that a record lands on a chosen shard of
// a stream with n uniformly split shards.
func hashKey(i, n int) string {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	slot := new(big.Int).Div(space, big.NewInt(int64(n)))
	k := new(big.Int).Mul(slot, big.NewInt(int64(i)))
	k.Add(k, new(big.Int).Div(slot, big.NewInt(2)))
	return k.String()
}

// put writes count records spread over n hash-key slots and returns their
// data, which is unique: tag/slot/index.
func put(t *testing.T, arn, tag string, count, slots int) []string {
	t.Helper()
	c := server(t).Client()
	var entries []types.PutRecordsRequestEntry
	var data []string
	for i := range count {
		d := fmt.Sprintf("%s/%d/%03d", tag, i%slots, i)
		data = append(data, d)
		entries = append(entries, types.PutRecordsRequestEntry{
			Data:            []byte(d),
			PartitionKey:    aws.String(fmt.Sprint(i % slots)),
			ExplicitHashKey: aws.String(hashKey(i%slots, slots)),
		})
	}
	for len(entries) > 0 {
		n := min(len(entries), 500)
		out, err := c.PutRecords(t.Context(), &awskinesis.PutRecordsInput{StreamARN: &arn, Records: entries[:n]})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("put records: %d failed", aws.ToInt32(out.FailedRecordCount))
		}
		entries = entries[n:]
	}
	return data
}

// batch is one handler call.
type batch struct {
	worker string
	shard  string
	seqs   []string
	data   []string
	err    error // what the handler returned
}

// collector records handler calls and fails when two workers handle a shard
// at once.
type collector struct {
	t      *testing.T
	mu     sync.Mutex
	calls  []batch
	active map[string]string // shard -> worker inside the handler
	// fail decides a call's result; nil accepts everything.
	fail func(b batch, prior []batch) error
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, active: make(map[string]string)}
}

func (c *collector) handler(worker string) Handler {
	return HandlerFunc(func(ctx context.Context, shardID string, records []types.Record) error {
		b := batch{worker: worker, shard: shardID}
		for _, r := range records {
			b.seqs = append(b.seqs, aws.ToString(r.SequenceNumber))
			b.data = append(b.data, string(r.Data))
		}
		c.mu.Lock()
		if other, busy := c.active[shardID]; busy {
			c.t.Errorf("shard %s handled by %s and %s at once", shardID, other, worker)
		}
		c.active[shardID] = worker
		if c.fail != nil {
			b.err = c.fail(b, c.calls)
		}
		c.calls = append(c.calls, b)
		c.mu.Unlock()

		time.Sleep(time.Millisecond) // widen the window for overlaps

		c.mu.Lock()
		delete(c.active, shardID)
		c.mu.Unlock()
		return b.err
	})
}

// accepted returns the batches the handler accepted, in delivery order.
func (c *collector) accepted() []batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []batch
	for _, b := range c.calls {
		if b.err == nil {
			out = append(out, b)
		}
	}
	return out
}

func (c *collector) all() []batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]batch(nil), c.calls...)
}

// seen counts accepted deliveries per record.
func (c *collector) seen() map[string]int {
	m := make(map[string]int)
	for _, b := range c.accepted() {
		for _, d := range b.data {
			m[d]++
		}
	}
	return m
}

// hasAll reports whether every record of want was accepted.
func (c *collector) hasAll(want []string) bool {
	seen := c.seen()
	for _, d := range want {
		if seen[d] == 0 {
			return false
		}
	}
	return true
}

// checkOrder fails t unless, on each shard, batches are in increasing
// sequence-number order and no record is delivered for the first time after
// a later record of its shard: repeats of earlier records are allowed.
func checkOrder(t *testing.T, batches []batch) {
	t.Helper()
	top := make(map[string]*big.Int)
	seen := make(map[string]bool)
	for _, b := range batches {
		var prev *big.Int
		for _, s := range b.seqs {
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				t.Fatalf("sequence number %q", s)
			}
			if prev != nil && n.Cmp(prev) <= 0 {
				t.Errorf("shard %s: sequence %s after %s within a batch", b.shard, s, prev)
			}
			prev = n
			if seen[s] {
				continue
			}
			seen[s] = true
			if m := top[b.shard]; m != nil && n.Cmp(m) <= 0 {
				t.Errorf("shard %s: sequence %s first delivered after %s", b.shard, s, m)
			}
			top[b.shard] = n
		}
	}
}

// testConfig is a Config with short intervals for tests.
func testConfig(t *testing.T, db testDB, worker, arn string) Config {
	return Config{
		StreamARN:         arn,
		WorkerID:          worker,
		Table:             db.table,
		PollInterval:      20 * time.Millisecond,
		LeaseDuration:     3 * time.Second,
		ShardSyncInterval: 300 * time.Millisecond,
		RetryBaseDelay:    10 * time.Millisecond,
		RetryMaxDelay:     100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs c until the returned stop is called or t ends.
func start(t *testing.T, c *Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaseRows reads the lease table of a stream; it is empty until the
// table exists.
func leaseRows(t *testing.T, db *sql.DB, tdb testDB, arn string) map[string]leaseRow {
	t.Helper()
	st := &store{db: db, stream: arn, leases: tdb.table, workers: tdb.table + "_workers", dialect: tdb.dialect}
	rows, err := st.all(t.Context())
	if err != nil {
		t.Logf("reading leases: %v", err)
		return nil
	}
	m := make(map[string]leaseRow, len(rows))
	for _, r := range rows {
		m[r.shardID] = r
	}
	return m
}

// countingMetrics sums what the Metrics hooks receive.
type countingMetrics struct {
	mu        sync.Mutex
	delivered int
	lagCalls  int
}

func (m *countingMetrics) Delivered(_ string, n int) {
	m.mu.Lock()
	m.delivered += n
	m.mu.Unlock()
}

func (m *countingMetrics) Behind(string, int64) {
	m.mu.Lock()
	m.lagCalls++
	m.mu.Unlock()
}

func (m *countingMetrics) get() (delivered, lagCalls int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delivered, m.lagCalls
}

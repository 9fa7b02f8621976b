package kinesis

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// InitialPosition is where a consumer starts reading a shard that has no
// checkpoint yet.
type InitialPosition string

// Initial positions.
const (
	// TrimHorizon starts at the oldest record the stream still holds.
	TrimHorizon InitialPosition = "TRIM_HORIZON"
	// Latest starts with the records written after the consumers first
	// listed the stream's shards, i.e. when the stream's lease rows were
	// created: the shards open then are read from that time on
	// (AT_TIMESTAMP, so a replica taking a shard over before its first
	// record starts at the same point) and the closed ones are skipped.
	// Shards created by a later resharding are read from their start, so
	// that nothing written to them is missed. The time is the consumer's
	// clock, which must agree with Kinesis's.
	Latest InitialPosition = "LATEST"
)

// Dialect is the SQL dialect of the lease database.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"   // modernc.org/sqlite, registered as "sqlite"
	Postgres Dialect = "postgres" // github.com/jackc/pgx/v5/stdlib, registered as "pgx"
)

// Config configures a Consumer. Only the stream is required; every other
// field has a documented default that a zero value selects.
type Config struct {
	// StreamARN or StreamName names the stream; the ARN wins when both are
	// set. The name is resolved to the ARN at start, and leases are kept
	// per ARN, so replicas configured either way share their work.
	StreamARN  string
	StreamName string

	// WorkerID identifies this replica in the lease table. It must be unique
	// among the replicas running at once; a replica restarted with the same
	// ID takes its unexpired leases back at once. Default: the host name
	// and a random suffix.
	WorkerID string

	// Table is the name of the lease table; the worker table is named
	// Table + "_workers". Letters, digits and underscores, optionally
	// prefixed by a schema and a dot. Default "vmx_kinesis_leases".
	Table string
	// Dialect is the SQL dialect of the database. Default: detected from
	// the package of the database/sql driver (SQLite for a path holding
	// "sqlite", PostgreSQL for pgx or lib/pq).
	Dialect Dialect

	// PollInterval is the pause between two GetRecords calls on a shard
	// when the last call returned fewer than MaxRecords records. Kinesis
	// allows five GetRecords calls per second and shard, shared by all
	// consumers of the stream. Default 1 s.
	PollInterval time.Duration
	// MaxRecords is the most records one GetRecords call, and so one
	// Handler call, returns (1 to 10000). Default 1000.
	MaxRecords int32
	// InitialPosition is where a shard without a checkpoint is first read.
	// Default TrimHorizon.
	InitialPosition InitialPosition

	// LeaseDuration is how long a lease lasts without renewal; leases are
	// renewed every LeaseDuration/3. A crashed replica's shards are taken
	// over after about this long. A replica that cannot renew a lease
	// stops reading the shard when the lease runs out and cancels the
	// context of a handler call still running, which should therefore
	// return well within it. Default 30 s.
	LeaseDuration time.Duration
	// ShardSyncInterval is the pause between two ListShards listings.
	// Children of shards this replica reads to their end are found without
	// waiting for it. Default 1 min.
	ShardSyncInterval time.Duration

	// RetryBaseDelay is the first back-off after a failed handler call, a
	// throttled or failed Kinesis call or a failed checkpoint write; it
	// doubles per failure in a row up to RetryMaxDelay, with jitter.
	// Defaults 250 ms and 30 s.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration

	// Logger receives lease changes, retries and failures, with the shard
	// ID as attribute "shard". Default: discard.
	Logger *slog.Logger
	// Metrics, when set, receives record counts and lag per shard.
	Metrics Metrics
}

// Metrics receives per-shard measurements. Its methods are called from the
// shard readers concurrently and must not block.
type Metrics interface {
	// Delivered counts records the handler accepted.
	Delivered(shardID string, records int)
	// Behind reports GetRecords' MillisBehindLatest: how far the reader of
	// the shard is behind the tip of the stream.
	Behind(shardID string, millisBehindLatest int64)
}

// Default values of Config fields.
const (
	DefaultTable             = "vmx_kinesis_leases"
	DefaultPollInterval      = time.Second
	DefaultMaxRecords        = 1000
	DefaultLeaseDuration     = 30 * time.Second
	DefaultShardSyncInterval = time.Minute
	DefaultRetryBaseDelay    = 250 * time.Millisecond
	DefaultRetryMaxDelay     = 30 * time.Second
)

// validTable accepts a plain or schema-qualified SQL identifier, which is
// spliced into statements.
func validTable(s string) bool {
	schema, name, qualified := strings.Cut(s, ".")
	if !qualified {
		return validIdent(s)
	}
	return validIdent(schema) && validIdent(name)
}

func validIdent(s string) bool {
	if s == "" || len(s) > 55 { // 63, PostgreSQL's limit, less "_workers"
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && '0' <= r && r <= '9':
		default:
			return false
		}
	}
	return true
}

// withDefaults fills in the zero fields; the dialect is left to New.
func (c Config) withDefaults() Config {
	if c.WorkerID == "" {
		c.WorkerID = defaultWorkerID()
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.InitialPosition == "" {
		c.InitialPosition = TrimHorizon
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.ShardSyncInterval <= 0 {
		c.ShardSyncInterval = DefaultShardSyncInterval
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if c.RetryMaxDelay < c.RetryBaseDelay {
		c.RetryMaxDelay = c.RetryBaseDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config that went through withDefaults.
func (c Config) validate() error {
	switch {
	case c.StreamARN == "" && c.StreamName == "":
		return fmt.Errorf("kinesis: config: %w", errNoStream)
	case !validTable(c.Table):
		return fmt.Errorf("kinesis: config: table %q: not an SQL identifier", c.Table)
	case c.MaxRecords < 1 || c.MaxRecords > 10000:
		return fmt.Errorf("kinesis: config: max records %d: must be 1 to 10000", c.MaxRecords)
	case c.InitialPosition != TrimHorizon && c.InitialPosition != Latest:
		return fmt.Errorf("kinesis: config: initial position %q: must be %s or %s", c.InitialPosition, TrimHorizon, Latest)
	case c.Dialect != "" && c.Dialect != SQLite && c.Dialect != Postgres:
		return fmt.Errorf("kinesis: config: dialect %q: must be %s or %s", c.Dialect, SQLite, Postgres)
	case len(c.WorkerID) > 200:
		return fmt.Errorf("kinesis: config: worker ID longer than 200 bytes")
	}
	return nil
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "vmx"
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails
	return host + "-" + hex.EncodeToString(b[:])
}

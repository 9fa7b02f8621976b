package kinesis

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// API is the part of the Kinesis Data Streams client that a Consumer uses.
// *kinesis.Client of the AWS SDK implements it.
type API interface {
	DescribeStreamSummary(ctx context.Context, in *awskinesis.DescribeStreamSummaryInput, optFns ...func(*awskinesis.Options)) (*awskinesis.DescribeStreamSummaryOutput, error)
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error)
}

// Handler processes the records of a stream.
//
// HandleRecords is called with the records of one GetRecords call on one
// shard, never empty, in sequence-number order. Calls for one shard never
// overlap, and a shard's next batch comes only after HandleRecords returned
// nil for the previous one; calls for different shards run concurrently.
// When it returns an error the same batch is delivered again after a
// back-off. A batch may also come again after a crash or a lost lease, so
// HandleRecords must be idempotent. ctx is cancelled when the consumer stops
// or loses the shard's lease. HandleRecords may keep records.
type Handler interface {
	HandleRecords(ctx context.Context, shardID string, records []types.Record) error
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, shardID string, records []types.Record) error

// HandleRecords calls f.
func (f HandlerFunc) HandleRecords(ctx context.Context, shardID string, records []types.Record) error {
	return f(ctx, shardID, records)
}

// Consumer reads all shards of one stream that it holds leases for and hands
// their records to a Handler. Several Consumers, in one process or in many,
// share a stream's shards through the lease table of one database.
type Consumer struct {
	cfg     Config
	api     API
	db      *sql.DB
	handler Handler
	running atomic.Bool
}

// New returns a Consumer of the stream cfg names. db holds the lease table;
// it is not closed by the Consumer.
func New(api API, db *sql.DB, h Handler, cfg Config) (*Consumer, error) {
	switch {
	case api == nil:
		return nil, errors.New("kinesis: nil Kinesis client")
	case db == nil:
		return nil, errors.New("kinesis: nil database")
	case h == nil:
		return nil, errors.New("kinesis: nil handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Dialect == "" {
		d, err := detectDialect(db)
		if err != nil {
			return nil, err
		}
		cfg.Dialect = d
	}
	return &Consumer{cfg: cfg, api: api, db: db, handler: h}, nil
}

// WorkerID returns the ID this Consumer holds leases under.
func (c *Consumer) WorkerID() string { return c.cfg.WorkerID }

// Run consumes the stream until ctx is cancelled, then stops the shard
// readers (cancelling the handlers' contexts), releases the leases so that
// other replicas take the shards over at once, and returns nil. It returns
// an error only when it cannot start: the lease tables cannot be created,
// the stream does not exist or may not be read, or ctx ends first. Failures
// after the start are logged and retried. A Consumer runs once at a time.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("kinesis: consumer already running")
	}
	defer c.running.Store(false)

	arn, err := c.streamARN(ctx)
	if err != nil {
		return err
	}
	st := &store{
		db:      c.db,
		stream:  arn,
		leases:  c.cfg.Table,
		workers: c.cfg.Table + "_workers",
		dialect: c.cfg.Dialect,
	}
	if err := st.init(ctx); err != nil {
		return err
	}
	r := &run{
		Consumer: c,
		st:       st,
		arn:      arn,
		log:      c.cfg.Logger.With("component", "kinesis", "stream", arn, "worker", c.cfg.WorkerID),
		leaseMs:  c.cfg.LeaseDuration.Milliseconds(),
		leases:   make(map[string]*lease),
		exits:    make(chan *lease),
	}
	// A first listing that cannot work as configured ends Run; one that
	// fails otherwise is retried.
	synced := true
	if err := r.syncShards(ctx); err != nil {
		if permanent(err) || ctx.Err() != nil {
			return err
		}
		r.log.Warn("shard sync failed", "err", err)
		synced = false
	}
	return r.coordinate(ctx, synced)
}

// streamARN returns the configured ARN, or looks the name up.
func (c *Consumer) streamARN(ctx context.Context) (string, error) {
	if c.cfg.StreamARN != "" {
		return c.cfg.StreamARN, nil
	}
	out, err := c.api.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: &c.cfg.StreamName})
	if err != nil {
		return "", fmt.Errorf("kinesis: describe stream %s: %w", c.cfg.StreamName, err)
	}
	if out.StreamDescriptionSummary == nil || aws.ToString(out.StreamDescriptionSummary.StreamARN) == "" {
		return "", fmt.Errorf("kinesis: describe stream %s: no ARN in the answer", c.cfg.StreamName)
	}
	return *out.StreamDescriptionSummary.StreamARN, nil
}

// run is the state of one Run: the coordinator goroutine owns the leases
// map; each lease's reader goroutine owns its checkpoint.
type run struct {
	*Consumer
	st      *store
	arn     string
	log     *slog.Logger
	leaseMs int64
	leases  map[string]*lease // held leases by shard ID, with a running reader each
	exits   chan *lease       // readers report their end here
}

// lease is a shard this worker holds and reads.
type lease struct {
	shardID    string
	parents    []string
	checkpoint string       // last handled sequence number; reader-owned
	startAt    int64        // Unix ms: where to start without a checkpoint; 0: TRIM_HORIZON
	until      atomic.Int64 // Unix ms; the reader stops reading past it
	stop       atomic.Bool  // hand the lease back after the current batch
	ending     atomic.Bool  // the reader is finishing or releasing the lease
	finished   bool         // set by the reader before it reports its end
	cancel     context.CancelFunc
	log        *slog.Logger
}

func (l *lease) valid() bool { return time.Now().UnixMilli() < l.until.Load() }

// coordinate keeps the leases up to date until ctx ends, while syncShards
// keeps the shard list up to date in a goroutine of its own, so that slow
// or throttled ListShards calls never delay a lease renewal.
// synced tells whether the shards were just listed.
func (r *run) coordinate(ctx context.Context, synced bool) error {
	r.log.Info("consumer started", "lease_duration", r.cfg.LeaseDuration, "poll_interval", r.cfg.PollInterval)
	syncSignal := make(chan struct{}, 1)
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		r.syncLoop(ctx, syncSignal, synced)
	}()
	tick := time.NewTicker(r.cfg.LeaseDuration / 3)
	defer tick.Stop()
	if synced {
		r.balance(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			<-syncDone
			return r.shutdown(ctx)
		case l := <-r.exits:
			delete(r.leases, l.shardID)
			if l.finished {
				r.balance(ctx) // its children may be readable now
			}
		case <-syncSignal:
			r.balance(ctx)
		case <-tick.C:
			r.renew(ctx)
			r.balance(ctx)
		}
	}
}

// syncLoop lists the shards every ShardSyncInterval, sooner again after a
// failure, and signals synced after each listing. skipFirst says that the
// shards were just listed.
func (r *run) syncLoop(ctx context.Context, synced chan<- struct{}, skipFirst bool) {
	bo := r.backoff()
	if skipFirst && !sleep(ctx, r.cfg.ShardSyncInterval) {
		return
	}
	for {
		wait := r.cfg.ShardSyncInterval
		if err := r.syncShards(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("shard sync failed", "err", err)
			wait = min(bo.next(), wait)
		} else {
			bo.reset()
			select {
			case synced <- struct{}{}:
			default: // a signal is pending already
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (r *run) shutdown(ctx context.Context) error {
	for _, l := range r.leases {
		l.cancel()
	}
	for len(r.leases) > 0 {
		l := <-r.exits
		delete(r.leases, l.shardID)
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := r.st.leave(bg, r.cfg.WorkerID); err != nil {
		r.log.Warn("leaving the worker table failed", "err", err)
	}
	r.log.Info("consumer stopped")
	return nil
}

// syncShards adds a lease row for every shard ListShards reports that has
// none, and retires the rows of shards past the stream's retention.
func (r *run) syncShards(ctx context.Context) error {
	began := time.Now()
	shards, err := r.listShards(ctx)
	if err != nil {
		return err
	}
	r.log.Debug("shards listed", "shards", len(shards), "took", time.Since(began))
	rows, err := r.st.all(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(rows))
	for _, row := range rows {
		known[row.shardID] = true
	}
	// With Latest, the stream's first listing starts the open shards at
	// the time of the listing, without waiting for their closed ancestors,
	// which are skipped. The time is kept in the row, so that whoever reads
	// the shard first starts there.
	now := time.Now().UnixMilli()
	var startAt int64
	if len(rows) == 0 && r.cfg.InitialPosition == Latest {
		startAt = now
	}
	listed := make(map[string]bool, len(shards))
	oldest := ""
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if id == "" {
			continue
		}
		listed[id] = true
		if oldest == "" || id < oldest {
			oldest = id
		}
		if known[id] {
			continue
		}
		var parents []string
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if aws.ToString(p) != "" {
				parents = append(parents, *p)
			}
		}
		if startAt != 0 {
			if sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil {
				continue
			}
			parents = nil
		}
		if err := r.st.add(ctx, id, parents, startAt, now); err != nil {
			return err
		}
		r.log.Info("shard found", "shard", id, "parents", parents)
	}
	// A row missing from the listing is a shard past retention if it is
	// older than every listed shard (shard IDs grow); a newer one may be a
	// child that the listing does not show yet.
	for _, row := range rows {
		if listed[row.shardID] || oldest == "" || row.shardID >= oldest {
			continue
		}
		if !row.finished {
			r.log.Warn("shard is past retention before it was read to its end", "shard", row.shardID, "checkpoint", row.checkpoint)
		}
		if err := r.st.markGone(ctx, row, now); err != nil {
			return err
		}
	}
	return nil
}

// listShards returns every shard of the stream, following NextToken.
func (r *run) listShards(ctx context.Context) ([]types.Shard, error) {
	var shards []types.Shard
	in := &awskinesis.ListShardsInput{StreamARN: &r.arn}
	for {
		out, err := r.api.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("kinesis: list shards: %w", err)
		}
		shards = append(shards, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			return shards, nil
		}
		// A request with NextToken must not name the stream.
		in = &awskinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// renew extends every lease held; a reader whose lease was taken over is
// stopped.
func (r *run) renew(ctx context.Context) {
	for _, l := range r.leases {
		if l.ending.Load() {
			continue
		}
		until := time.Now().UnixMilli() + r.leaseMs
		ok, err := r.st.renew(ctx, l.shardID, r.cfg.WorkerID, until)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				continue
			}
			l.log.Warn("lease renewal failed", "err", err)
			if !l.valid() {
				l.log.Warn("lease expired before it could be renewed; stopping")
				l.cancel()
			}
		case !ok && !l.ending.Load():
			l.log.Warn("lease lost to another worker")
			l.cancel()
		case ok:
			l.until.Store(until)
		}
	}
}

// balance takes leases up to this worker's share, ceil(readable shards /
// live workers), and hands back what exceeds it.
func (r *run) balance(ctx context.Context) {
	now := time.Now().UnixMilli()
	workers, err := r.st.heartbeat(ctx, r.cfg.WorkerID, now, now+r.leaseMs, 10*r.leaseMs)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("worker heartbeat failed", "err", err)
		}
		return
	}
	rows, err := r.st.all(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("reading leases failed", "err", err)
		}
		return
	}
	finished := make(map[string]bool, len(rows))
	for _, row := range rows {
		finished[row.shardID] = row.finished
	}
	var readable []leaseRow
	for _, row := range rows {
		if !row.finished && parentsDone(row.parents, finished) {
			readable = append(readable, row)
		}
	}
	target := (len(readable) + workers - 1) / workers

	var active []*lease
	for _, l := range r.leases {
		if !l.stop.Load() {
			active = append(active, l)
		}
	}
	if len(active) > target {
		slices.SortFunc(active, func(a, b *lease) int { return cmp.Compare(b.shardID, a.shardID) })
		for _, l := range active[:len(active)-target] {
			l.log.Info("handing lease back to balance the load", "workers", workers, "target", target)
			l.stop.Store(true)
		}
		return
	}
	held := len(active)
	for _, row := range readable {
		if held >= target || ctx.Err() != nil {
			return
		}
		if _, ok := r.leases[row.shardID]; ok {
			continue
		}
		if row.owner != "" && row.owner != r.cfg.WorkerID && row.leaseUntil >= now {
			continue
		}
		until := now + r.leaseMs
		taken, ok, err := r.st.take(ctx, row.shardID, r.cfg.WorkerID, now, until)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("taking lease failed", "shard", row.shardID, "err", err)
			}
			return
		}
		if !ok {
			continue // another worker was faster
		}
		if row.owner != "" && row.owner != r.cfg.WorkerID {
			r.log.Info("took expired lease", "shard", row.shardID, "from", row.owner)
		}
		r.start(ctx, taken)
		held++
	}
}

// parentsDone reports whether every parent is finished; a parent without a
// row is past retention or before the stream's first listing.
func parentsDone(parents []string, finished map[string]bool) bool {
	for _, p := range parents {
		if done, known := finished[p]; known && !done {
			return false
		}
	}
	return true
}

// start runs a reader for a lease just taken.
func (r *run) start(ctx context.Context, row leaseRow) {
	lctx, cancel := context.WithCancel(ctx)
	l := &lease{
		shardID:    row.shardID,
		parents:    row.parents,
		checkpoint: row.checkpoint,
		startAt:    row.startAt,
		cancel:     cancel,
		log:        r.log.With("shard", row.shardID),
	}
	l.until.Store(row.leaseUntil)
	r.leases[row.shardID] = l
	go func() {
		defer cancel()
		l.finished = r.read(lctx, l)
		r.exits <- l
	}()
}

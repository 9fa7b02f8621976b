package kinesis

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vmx-dev/vmx/internal/kinesis/kinesistest"
)

// pagedAPI lists one shard per ListShards page and counts the pages.
type pagedAPI struct {
	API
	mu    sync.Mutex
	pages int
}

func (p *pagedAPI) ListShards(ctx context.Context, in *awskinesis.ListShardsInput, opts ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error) {
	p.mu.Lock()
	p.pages++
	p.mu.Unlock()
	in.MaxResults = aws.Int32(1)
	return p.API.ListShards(ctx, in, opts...)
}

func TestConsumerDeliversEveryRecordInOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		name, arn := newStream(t, 3)
		want := put(t, arn, "before", 60, 3)

		col := newCollector(t)
		api := &pagedAPI{API: server(t).Client()}
		metrics := &countingMetrics{}
		cfg := testConfig(t, tdb, "w1", "")
		cfg.StreamName = name // resolved to the ARN
		cfg.MaxRecords = 7
		cfg.Metrics = metrics
		db := tdb.open(t)
		c, err := New(api, db, col.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
		want = append(want, put(t, arn, "during", 30, 3)...)
		waitFor(t, "all records", func() bool { return col.hasAll(want) })

		accepted := col.accepted()
		checkOrder(t, accepted)
		shards := make(map[string]bool)
		last := make(map[string]string)
		for _, b := range accepted {
			shards[b.shard] = true
			last[b.shard] = b.seqs[len(b.seqs)-1]
		}
		if len(shards) != 3 {
			t.Errorf("records came from %d shards, want 3", len(shards))
		}
		waitFor(t, "checkpoints at the last records", func() bool {
			rows := leaseRows(t, db, tdb, arn)
			for shard, seq := range last {
				if rows[shard].checkpoint != seq || rows[shard].owner != "w1" {
					return false
				}
			}
			return len(rows) == 3
		})
		api.mu.Lock()
		pages := api.pages
		api.mu.Unlock()
		if pages < 3 {
			t.Errorf("ListShards called %d times, want pages of one shard", pages)
		}
		if delivered, lag := metrics.get(); delivered < len(want) || lag == 0 {
			t.Errorf("metrics: %d delivered, %d lag reports; want >= %d and > 0", delivered, lag, len(want))
		}
	})
}

func TestHandlerErrorRedeliversBatch(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		_, arn := newStream(t, 1)
		want := put(t, arn, "r", 10, 1)

		db := tdb.open(t)
		col := newCollector(t)
		var checkpointsWhileFailing []string
		col.fail = func(b batch, prior []batch) error {
			if len(prior) >= 3 {
				return nil
			}
			rows := leaseRows(t, db, tdb, arn)
			for _, r := range rows {
				checkpointsWhileFailing = append(checkpointsWhileFailing, r.checkpoint)
			}
			return errors.New("database down")
		}
		cfg := testConfig(t, tdb, "w1", arn)
		cfg.MaxRecords = 4
		c, err := New(server(t).Client(), db, col.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
		waitFor(t, "all records", func() bool { return col.hasAll(want) })

		calls := col.all()
		for i := 1; i <= 3; i++ {
			if !slices.Equal(calls[i].seqs, calls[0].seqs) {
				t.Errorf("call %d got %v, want the failed batch %v again", i, calls[i].seqs, calls[0].seqs)
			}
		}
		if calls[3].err != nil || len(calls[0].seqs) != 4 {
			t.Errorf("fourth call: err %v, batch of %d", calls[3].err, len(calls[0].seqs))
		}
		for _, cp := range checkpointsWhileFailing {
			if cp != "" {
				t.Errorf("checkpoint %q moved while the handler failed", cp)
			}
		}
		for d, n := range col.seen() {
			if n != 1 {
				t.Errorf("record %s accepted %d times", d, n)
			}
		}
		checkOrder(t, col.accepted())
		lastSeq := calls[len(calls)-1].seqs
		waitFor(t, "checkpoint at the last record", func() bool {
			return leaseRows(t, db, tdb, arn)[calls[0].shard].checkpoint == lastSeq[len(lastSeq)-1]
		})
	})
}

func TestRestartContinuesFromCheckpoint(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		_, arn := newStream(t, 2)
		want := put(t, arn, "first", 40, 2)
		db := tdb.open(t)

		// Run 1 accepts two batches per shard, then fails every batch.
		col1 := newCollector(t)
		col1.fail = func(b batch, prior []batch) error {
			ok := 0
			for _, p := range prior {
				if p.shard == b.shard && p.err == nil {
					ok++
				}
			}
			if ok < 2 {
				return nil
			}
			return errors.New("handler broken")
		}
		cfg := testConfig(t, tdb, "w1", arn)
		cfg.MaxRecords = 5
		c1, err := New(server(t).Client(), db, col1.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop1 := start(t, c1)
		waitFor(t, "failed batches on both shards", func() bool {
			failed := make(map[string]bool)
			for _, b := range col1.all() {
				if b.err != nil {
					failed[b.shard] = true
				}
			}
			return len(failed) == 2
		})
		stop1()

		accepted1 := col1.accepted()
		if len(accepted1) != 4 {
			t.Fatalf("run 1 accepted %d batches, want 2 per shard", len(accepted1))
		}
		lastOK := make(map[string]string)
		for _, b := range accepted1 {
			lastOK[b.shard] = b.seqs[len(b.seqs)-1]
		}
		rows := leaseRows(t, db, tdb, arn)
		for shard, seq := range lastOK {
			if r := rows[shard]; r.checkpoint != seq || r.owner != "" {
				t.Errorf("after stop, shard %s: checkpoint %q owner %q; want %q and released", shard, r.checkpoint, r.owner, seq)
			}
		}

		// Run 2, another worker, continues after the checkpoints.
		want = append(want, put(t, arn, "second", 10, 2)...)
		col2 := newCollector(t)
		cfg.WorkerID = "w2"
		c2, err := New(server(t).Client(), db, col2.handler("w2"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c2)
		waitFor(t, "the remaining records", func() bool {
			seen := col2.seen()
			for d := range col1.seen() {
				seen[d]++
			}
			for _, d := range want {
				if seen[d] == 0 {
					return false
				}
			}
			return true
		})
		// Run 2 starts each shard with the batch that run 1 failed on.
		for shard := range lastOK {
			var failed, first []string
			for _, b := range col1.all() {
				if b.shard == shard && b.err != nil {
					failed = b.seqs
				}
			}
			for _, b := range col2.all() {
				if b.shard == shard {
					first = b.seqs
					break
				}
			}
			if !slices.Equal(first, failed) {
				t.Errorf("shard %s: run 2 began with %v, want the failed batch %v", shard, first, failed)
			}
		}
		seen1 := col1.seen()
		for d := range col2.seen() {
			if seen1[d] > 0 {
				t.Errorf("record %s, checkpointed in run 1, delivered again in run 2", d)
			}
		}
		checkOrder(t, append(accepted1, col2.accepted()...))
	})
}

func TestTwoConsumersShareShardsAndStealExpiredLeases(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		_, arn := newStream(t, 4)
		col := newCollector(t)

		dbA, dbB := tdb.open(t), tdb.open(t)
		cA, err := New(server(t).Client(), dbA, col.handler("A"), testConfig(t, tdb, "A", arn))
		if err != nil {
			t.Fatal(err)
		}
		cB, err := New(server(t).Client(), dbB, col.handler("B"), testConfig(t, tdb, "B", arn))
		if err != nil {
			t.Fatal(err)
		}
		stopA := start(t, cA)
		start(t, cB)

		owners := func() map[string]int {
			m := make(map[string]int)
			for _, r := range leaseRows(t, dbB, tdb, arn) {
				m[r.owner]++
			}
			return m
		}
		waitFor(t, "two leases each", func() bool {
			o := owners()
			return o["A"] == 2 && o["B"] == 2
		})
		want := put(t, arn, "first", 40, 4)
		waitFor(t, "the first records", func() bool { return col.hasAll(want) })
		byWorker := make(map[string]map[string]bool)
		for _, b := range col.accepted() {
			if byWorker[b.worker] == nil {
				byWorker[b.worker] = make(map[string]bool)
			}
			byWorker[b.worker][b.shard] = true
		}
		if len(byWorker["A"]) == 0 || len(byWorker["B"]) == 0 {
			t.Errorf("shards read: A %v, B %v; want both to read", byWorker["A"], byWorker["B"])
		}

		// A crashes: its database goes away first, so it cannot release
		// its leases, and B must wait for them to expire.
		dbA.Close()
		stopA()
		want = append(want, put(t, arn, "second", 40, 4)...)
		waitFor(t, "B holding all leases", func() bool { return owners()["B"] == 4 })
		waitFor(t, "all records", func() bool { return col.hasAll(want) })
		checkOrder(t, col.accepted())
	})
}

func TestReshardingDeliversParentsFirst(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		name, arn := newStream(t, 1)
		kc := server(t).Client()
		ctx := t.Context()
		parent := put(t, arn, "parent", 20, 2)

		// Split the one shard in half, then merge the halves again.
		if _, err := kc.SplitShard(ctx, &awskinesis.SplitShardInput{
			StreamARN:          &arn,
			ShardToSplit:       aws.String("shardId-000000000000"),
			NewStartingHashKey: aws.String("170141183460469231731687303715884105728"), // 2^127
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := kinesistest.WaitActive(ctx, kc, name); err != nil {
			t.Fatal(err)
		}
		children := put(t, arn, "child", 20, 2)
		if _, err := kc.MergeShards(ctx, &awskinesis.MergeShardsInput{
			StreamARN:            &arn,
			ShardToMerge:         aws.String("shardId-000000000001"),
			AdjacentShardToMerge: aws.String("shardId-000000000002"),
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := kinesistest.WaitActive(ctx, kc, name); err != nil {
			t.Fatal(err)
		}
		grandchild := put(t, arn, "grandchild", 10, 2)
		all := slices.Concat(parent, children, grandchild)

		db := tdb.open(t)
		col := newCollector(t)
		cfg := testConfig(t, tdb, "w1", arn)
		cfg.MaxRecords = 6
		c, err := New(kc, db, col.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
		waitFor(t, "all records", func() bool { return col.hasAll(all) })

		// Position of each record's first delivery.
		pos := make(map[string]int)
		shardOf := make(map[string]string)
		n := 0
		for _, b := range col.accepted() {
			for _, d := range b.data {
				if _, ok := pos[d]; !ok {
					pos[d] = n
					shardOf[d] = b.shard
					n++
				}
			}
		}
		lastOf := func(data []string) int {
			m := -1
			for _, d := range data {
				m = max(m, pos[d])
			}
			return m
		}
		firstOf := func(data []string) int {
			m := n
			for _, d := range data {
				m = min(m, pos[d])
			}
			return m
		}
		if lastOf(parent) > firstOf(children) {
			t.Errorf("a child record came before the last parent record")
		}
		if lastOf(children) > firstOf(grandchild) {
			t.Errorf("a grandchild record came before the last child record")
		}
		for _, d := range children {
			if s := shardOf[d]; s != "shardId-000000000001" && s != "shardId-000000000002" {
				t.Errorf("child record %s read from %s", d, s)
			}
		}
		checkOrder(t, col.accepted())
		waitFor(t, "closed shards finished", func() bool {
			rows := leaseRows(t, db, tdb, arn)
			return len(rows) == 4 && rows["shardId-000000000000"].finished &&
				rows["shardId-000000000001"].finished && rows["shardId-000000000002"].finished &&
				!rows["shardId-000000000003"].finished &&
				slices.Equal(rows["shardId-000000000003"].parents, []string{"shardId-000000000001", "shardId-000000000002"})
		})
	})
}

// flakyAPI fails chosen GetRecords calls (counted from 1) and records the
// iterator requests with the number of GetRecords calls made before each.
type flakyAPI struct {
	API
	fail map[int]error

	mu        sync.Mutex
	calls     int
	iterators []iteratorCall
}

type iteratorCall struct {
	after int // GetRecords calls before this one
	typ   types.ShardIteratorType
	seq   string
}

func (f *flakyAPI) GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	f.mu.Lock()
	f.calls++
	err := f.fail[f.calls]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.API.GetRecords(ctx, in, opts...)
}

func (f *flakyAPI) GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	f.iterators = append(f.iterators, iteratorCall{f.calls, in.ShardIteratorType, aws.ToString(in.StartingSequenceNumber)})
	f.mu.Unlock()
	return f.API.GetShardIterator(ctx, in, opts...)
}

func TestExpiredIteratorAndThrottling(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		_, arn := newStream(t, 1)
		want := put(t, arn, "r", 12, 1)
		api := &flakyAPI{API: server(t).Client(), fail: map[int]error{
			3: &types.ExpiredIteratorException{Message: aws.String("The shard iterator has expired")},
			5: &types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded")},
			6: &types.LimitExceededException{Message: aws.String("Rate exceeded")},
		}}
		col := newCollector(t)
		cfg := testConfig(t, tdb, "w1", arn)
		cfg.MaxRecords = 3
		c, err := New(api, tdb.open(t), col.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
		waitFor(t, "all records", func() bool { return col.hasAll(want) })
		for d, n := range col.seen() {
			if n != 1 {
				t.Errorf("record %s delivered %d times", d, n)
			}
		}
		checkOrder(t, col.accepted())

		// Calls 1 and 2 brought records 0-5; call 3 failed with an expired
		// iterator, so the next iterator starts after record 5.
		seqOf := make(map[string]string)
		for _, b := range col.accepted() {
			for i, d := range b.data {
				seqOf[d] = b.seqs[i]
			}
		}
		api.mu.Lock()
		defer api.mu.Unlock()
		if first := api.iterators[0]; first.typ != types.ShardIteratorTypeTrimHorizon {
			t.Errorf("first iterator %s, want TRIM_HORIZON", first.typ)
		}
		i := slices.IndexFunc(api.iterators, func(c iteratorCall) bool { return c.after >= 3 })
		if i < 0 {
			t.Fatalf("no iterator requested after the expired one: %+v", api.iterators)
		}
		if got := api.iterators[i]; got.typ != types.ShardIteratorTypeAfterSequenceNumber || got.seq != seqOf[want[5]] {
			t.Errorf("iterator after expiry: %s %s; want AFTER_SEQUENCE_NUMBER %s", got.typ, got.seq, seqOf[want[5]])
		}
	})
}

// iteratorSignal closes got after the first GetShardIterator call returned.
type iteratorSignal struct {
	API
	once sync.Once
	got  chan struct{}
}

func (s *iteratorSignal) GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error) {
	out, err := s.API.GetShardIterator(ctx, in, opts...)
	if err == nil {
		s.once.Do(func() { close(s.got) })
	}
	return out, err
}

func TestLatestSkipsOlderRecordsAndSurvivesHandOver(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		_, arn := newStream(t, 1)
		old := put(t, arn, "old", 5, 1)
		col := newCollector(t)
		cfg := testConfig(t, tdb, "w1", arn)
		cfg.InitialPosition = Latest
		db := tdb.open(t)

		// w1 starts reading at the tip and stops before any new record.
		api := &iteratorSignal{API: server(t).Client(), got: make(chan struct{})}
		c1, err := New(api, db, col.handler("w1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop1 := start(t, c1)
		waitFor(t, "the first iterator", func() bool {
			select {
			case <-api.got:
				return true
			default:
				return false
			}
		})
		stop1()

		// What arrives before w2 takes over is not skipped.
		want := put(t, arn, "new", 5, 1)
		cfg.WorkerID = "w2"
		c2, err := New(server(t).Client(), db, col.handler("w2"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start(t, c2)
		waitFor(t, "the new records", func() bool { return col.hasAll(want) })
		seen := col.seen()
		for _, d := range old {
			if seen[d] > 0 {
				t.Errorf("record %s, older than the consumer, delivered", d)
			}
		}
		checkOrder(t, col.accepted())
	})
}

func TestRunFailsOnUnknownStream(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		kc := server(t).Client()
		for name, cfg := range map[string]Config{
			"name": {StreamName: "vmx-no-such-stream"},
			"arn":  {StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/vmx-no-such-stream"},
		} {
			t.Run(name, func(t *testing.T) {
				cfg.Table = tdb.table
				c, err := New(kc, tdb.open(t), newCollector(t).handler("w"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				var nf *types.ResourceNotFoundException
				if err := c.Run(ctx); !errors.As(err, &nf) {
					t.Errorf("Run = %v, want ResourceNotFoundException", err)
				}
			})
		}
	})
}

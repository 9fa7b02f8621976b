package kinesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// storeTimeout bounds the lease writes made after ctx ended: the checkpoint
// of a batch already handled, the release of a lease.
const storeTimeout = 5 * time.Second

// read consumes one shard while this worker holds its lease, and reports
// whether the shard was read to its end. A lease not read to its end is
// released on return.
func (r *run) read(ctx context.Context, l *lease) (finished bool) {
	l.log.Info("lease taken", "checkpoint", l.checkpoint, "parents", l.parents)
	defer func() {
		if finished {
			return
		}
		l.ending.Store(true)
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if _, err := r.st.release(bg, l.shardID, r.cfg.WorkerID, time.Now().UnixMilli()); err != nil {
			l.log.Warn("releasing lease failed", "err", err)
			return
		}
		l.log.Info("lease released", "checkpoint", l.checkpoint)
	}()

	bo := r.backoff()
	iterator := ""
	for {
		switch {
		case ctx.Err() != nil:
			return false
		case l.stop.Load():
			return false
		case !l.valid():
			l.log.Warn("lease expired before it could be renewed; stopping")
			return false
		}
		if iterator == "" {
			it, err := r.iterator(ctx, l)
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				l.log.Warn("getting a shard iterator failed", "err", err)
				if !sleep(ctx, bo.next()) {
					return false
				}
				continue
			}
			iterator = it
		}
		out, err := r.api.GetRecords(ctx, &awskinesis.GetRecordsInput{
			ShardIterator: &iterator,
			Limit:         &r.cfg.MaxRecords,
			StreamARN:     &r.arn,
		})
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			err = fmt.Errorf("kinesis: get records: %w", err)
			switch {
			case expiredIterator(err):
				// Only the checkpoint moves the iterator on, so a
				// new one from the checkpoint loses nothing.
				l.log.Info("shard iterator expired; starting again after the checkpoint", "checkpoint", l.checkpoint)
				iterator = ""
				if bo.n == 0 {
					bo.n++ // back off if it happens again at once
					continue
				}
			case throttled(err):
				l.log.Warn("throttled; backing off", "err", err)
			default:
				l.log.Warn("reading the shard failed; starting again after the checkpoint", "err", err)
				iterator = ""
			}
			if !sleep(ctx, bo.next()) {
				return false
			}
			continue
		}
		bo.reset()
		if out.MillisBehindLatest != nil && r.cfg.Metrics != nil {
			r.cfg.Metrics.Behind(l.shardID, *out.MillisBehindLatest)
		}
		if len(out.Records) > 0 {
			if !r.deliver(ctx, l, out.Records) {
				return false
			}
			if !r.commit(ctx, l, aws.ToString(out.Records[len(out.Records)-1].SequenceNumber)) {
				return false
			}
		}
		if out.NextShardIterator == nil {
			return r.finish(ctx, l, out.ChildShards)
		}
		iterator = *out.NextShardIterator
		if len(out.Records) < int(r.cfg.MaxRecords) && !sleep(ctx, r.cfg.PollInterval) {
			return false
		}
	}
}

// iterator returns a shard iterator after the lease's checkpoint or, for a
// shard not read yet, at its start time (Latest) or its start.
func (r *run) iterator(ctx context.Context, l *lease) (string, error) {
	in := &awskinesis.GetShardIteratorInput{StreamARN: &r.arn, ShardId: &l.shardID}
	switch {
	case l.checkpoint != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(l.checkpoint)
	case l.startAt != 0:
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(time.UnixMilli(l.startAt))
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	out, err := r.api.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("kinesis: get shard iterator %s %s: %w", in.ShardIteratorType, l.shardID, err)
	}
	if aws.ToString(out.ShardIterator) == "" {
		return "", fmt.Errorf("kinesis: get shard iterator %s %s: no iterator in the answer", in.ShardIteratorType, l.shardID)
	}
	return *out.ShardIterator, nil
}

// deliver hands a batch to the handler until it accepts it, and reports
// whether it did. It gives up when ctx ends, the lease runs out or is to be
// handed back: the next holder of the lease delivers the batch again.
func (r *run) deliver(ctx context.Context, l *lease, records []types.Record) bool {
	bo := r.backoff()
	for attempt := 1; ; attempt++ {
		if !l.valid() {
			l.log.Warn("lease expired before it could be renewed; stopping")
			return false
		}
		err := r.handler.HandleRecords(ctx, l.shardID, records)
		if err == nil {
			if r.cfg.Metrics != nil {
				r.cfg.Metrics.Delivered(l.shardID, len(records))
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		l.log.Warn("handler failed; the batch will be delivered again",
			"attempt", attempt, "records", len(records),
			"first_sequence", aws.ToString(records[0].SequenceNumber), "err", err)
		if l.stop.Load() || !sleep(ctx, bo.next()) {
			return false
		}
	}
}

// commit moves the lease's checkpoint to seq, retrying failed writes while
// the lease lasts. It reports whether the checkpoint moved. The first write
// is made even if ctx just ended, so that a stop right after a handled batch
// does not deliver it again.
func (r *run) commit(ctx context.Context, l *lease, seq string) bool {
	bo := r.backoff()
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		ok, err := r.st.checkpoint(wctx, l.shardID, r.cfg.WorkerID, seq, time.Now().UnixMilli())
		cancel()
		switch {
		case err == nil && ok:
			l.checkpoint = seq
			return true
		case err == nil:
			l.log.Warn("lease lost to another worker; checkpoint not written", "sequence", seq)
			return false
		case ctx.Err() != nil || !l.valid():
			l.log.Warn("checkpoint not written", "sequence", seq, "err", err)
			return false
		}
		l.log.Warn("writing checkpoint failed; retrying", "sequence", seq, "err", err)
		if !sleep(ctx, bo.next()) {
			return false
		}
	}
}

// finish records that a closed shard was read to its end, adds its
// children, and reports whether it could.
func (r *run) finish(ctx context.Context, l *lease, children []types.ChildShard) bool {
	now := time.Now().UnixMilli()
	for _, c := range children {
		id := aws.ToString(c.ShardId)
		if id == "" {
			continue
		}
		if err := r.st.add(ctx, id, c.ParentShards, 0, now); err != nil {
			// The next shard sync adds it.
			l.log.Warn("adding child shard failed", "child", id, "err", err)
		}
	}
	l.ending.Store(true)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	ok, err := r.st.finish(wctx, l.shardID, r.cfg.WorkerID, now)
	switch {
	case err != nil:
		l.log.Warn("marking the shard finished failed", "err", err)
		return false
	case !ok:
		l.log.Warn("lease lost to another worker before the shard was marked finished")
		return false
	}
	l.log.Info("shard read to its end", "checkpoint", l.checkpoint, "children", len(children))
	return true
}

// backoff is exponential back-off with jitter: each delay is drawn from
// [d/2, d], where d doubles from base to max.
type backoff struct {
	base, max time.Duration
	n         int
}

func (r *run) backoff() *backoff {
	return &backoff{base: r.cfg.RetryBaseDelay, max: r.cfg.RetryMaxDelay}
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 32 {
		if e := b.base << b.n; e > 0 && e < b.max {
			d = e
		}
	}
	b.n++
	half := d / 2
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

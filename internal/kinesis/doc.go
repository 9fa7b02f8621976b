// Package kinesis consumes a Kinesis Data Stream, such as the one Amazon
// Connect writes its contact trace records to, from several vmx replicas at
// once.
//
// The AWS consumer libraries (KCL and its Go ports) are not available to
// vmx, so [Consumer] does their job with the plain Kinesis API and a table in
// vmx's own database instead of DynamoDB:
//
//   - Shards are listed with ListShards when [Consumer.Run] starts and every
//     [Config.ShardSyncInterval] after, and each shard gets a row in the lease
//     table. Children that GetRecords reports at the end of a closed shard
//     are added at once.
//   - A replica reads a shard only while it holds that shard's lease. Leases
//     are taken, renewed, stolen once expired and released with conditional
//     UPDATEs, so two replicas never read one shard at the same time. Each
//     replica announces itself in a second table and takes at most
//     ceil(readable shards / live replicas) leases; one that holds more hands
//     the surplus back between two batches.
//   - A child shard is read only after all its parents are finished: parent
//     records always reach the handler before child records.
//   - Records reach the [Handler] in order, one GetRecords batch per call. The
//     checkpoint (the last sequence number of the batch) is written only after
//     the handler returned nil; a failed batch is delivered again after a
//     back-off. Delivery is therefore at least once: after a crash, a lost
//     lease or a failed checkpoint write the last batch of a shard may come
//     again, so the handler must be idempotent.
//
// The lease table (default name vmx_kinesis_leases) holds one row per shard:
//
//	CREATE TABLE IF NOT EXISTS vmx_kinesis_leases (
//	    stream           TEXT    NOT NULL,            -- stream ARN
//	    shard_id         TEXT    NOT NULL,
//	    parent_shard_ids TEXT    NOT NULL DEFAULT '', -- comma-separated
//	    owner            TEXT    NOT NULL DEFAULT '', -- worker ID, '' when free
//	    lease_until      BIGINT  NOT NULL DEFAULT 0,  -- Unix ms
//	    checkpoint       TEXT    NOT NULL DEFAULT '', -- last handled sequence number
//	    start_at         BIGINT  NOT NULL DEFAULT 0,  -- Unix ms, AT_TIMESTAMP without a checkpoint (Latest)
//	    finished         INTEGER NOT NULL DEFAULT 0,  -- 1 once a closed shard is read to its end
//	    updated_at       BIGINT  NOT NULL DEFAULT 0,  -- Unix ms
//	    PRIMARY KEY (stream, shard_id)
//	)
//
// and the worker table (the lease table's name with the suffix _workers) one
// row per live replica:
//
//	CREATE TABLE IF NOT EXISTS vmx_kinesis_leases_workers (
//	    stream      TEXT   NOT NULL,
//	    worker_id   TEXT   NOT NULL,
//	    alive_until BIGINT NOT NULL, -- Unix ms
//	    PRIMARY KEY (stream, worker_id)
//	)
//
// Both are created when missing, in SQLite (modernc.org/sqlite) or PostgreSQL
// (pgx's database/sql driver). Lease expiry compares the replicas' clocks,
// which must agree to well within [Config.LeaseDuration]. A SQLite database
// shared by several connections needs a busy timeout, e.g. the DSN parameter
// _pragma=busy_timeout(5000).
//
// The IAM principal needs kinesis:DescribeStreamSummary, kinesis:ListShards,
// kinesis:GetShardIterator and kinesis:GetRecords on the stream.
package kinesis

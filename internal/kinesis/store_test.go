package kinesis

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func newTestStore(t *testing.T, tdb testDB) *store {
	t.Helper()
	db := tdb.open(t)
	d, err := detectDialect(db)
	if err != nil || d != tdb.dialect {
		t.Fatalf("detectDialect = %q, %v; want %q", d, err, tdb.dialect)
	}
	st := &store{db: db, stream: "arn:test:" + randomHex(4), leases: tdb.table, workers: tdb.table + "_workers", dialect: d}
	for range 2 { // creating twice is harmless
		if err := st.init(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestStoreLeaseTransitions(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		st := newTestStore(t, tdb)
		ctx := t.Context()
		must := func(ok bool, err error) bool {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if err := st.add(ctx, "s0", nil, 0, 1); err != nil {
			t.Fatal(err)
		}
		if err := st.add(ctx, "s1", []string{"s0", "sx"}, 700, 1); err != nil {
			t.Fatal(err)
		}
		if err := st.add(ctx, "s1", nil, 0, 1); err != nil { // exists: unchanged
			t.Fatal(err)
		}

		r, ok, err := st.take(ctx, "s1", "A", 1000, 2000)
		if err != nil || !ok || r.checkpoint != "" || r.startAt != 700 || !slices.Equal(r.parents, []string{"s0", "sx"}) ||
			r.owner != "A" || r.leaseUntil != 2000 {
			t.Fatalf("A takes free s1: %+v %v %v", r, ok, err)
		}
		if _, ok, _ := st.take(ctx, "s1", "B", 1500, 2500); ok {
			t.Error("B took A's unexpired lease")
		}
		if _, ok, _ := st.take(ctx, "s1", "A", 1500, 2500); !ok {
			t.Error("A could not take back its own lease")
		}
		if must(st.renew(ctx, "s1", "B", 3000)) {
			t.Error("B renewed A's lease")
		}
		if !must(st.renew(ctx, "s1", "A", 3000)) {
			t.Error("A could not renew its lease")
		}
		if !must(st.checkpoint(ctx, "s1", "A", "100", 1600)) {
			t.Error("A could not checkpoint")
		}
		if must(st.checkpoint(ctx, "s1", "B", "999", 1600)) {
			t.Error("B wrote A's checkpoint")
		}
		if _, ok, _ := st.take(ctx, "s1", "B", 2999, 4000); ok {
			t.Error("B stole a lease before it expired")
		}

		// The lease runs out at 3000: B steals it with the checkpoint.
		r, ok, err = st.take(ctx, "s1", "B", 3001, 4000)
		if err != nil || !ok || r.checkpoint != "100" {
			t.Fatalf("B steals expired s1: %+v %v %v", r, ok, err)
		}
		for name, ok := range map[string]bool{
			"renew":      must(st.renew(ctx, "s1", "A", 5000)),
			"checkpoint": must(st.checkpoint(ctx, "s1", "A", "200", 3002)),
			"release":    must(st.release(ctx, "s1", "A", 3002)),
			"finish":     must(st.finish(ctx, "s1", "A", 3002)),
		} {
			if ok {
				t.Errorf("A could %s after its lease was stolen", name)
			}
		}
		if !must(st.release(ctx, "s1", "B", 3003)) {
			t.Error("B could not release")
		}
		if _, ok, _ := st.take(ctx, "s1", "C", 3004, 5000); !ok {
			t.Error("C could not take a released lease")
		}
		if !must(st.finish(ctx, "s1", "C", 3005)) {
			t.Error("C could not finish s1")
		}
		if _, ok, _ := st.take(ctx, "s1", "C", 9000, 10000); ok {
			t.Error("a finished shard was leased")
		}

		rows, err := st.all(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []leaseRow{
			{shardID: "s0"},
			{shardID: "s1", parents: []string{"s0", "sx"}, checkpoint: "100", startAt: 700, finished: true},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows %+v", rows)
		}
		for i := range want {
			g, w := rows[i], want[i]
			if g.shardID != w.shardID || !slices.Equal(g.parents, w.parents) || g.owner != "" ||
				g.leaseUntil != 0 || g.checkpoint != w.checkpoint || g.startAt != w.startAt || g.finished != w.finished {
				t.Errorf("row %d = %+v, want %+v", i, g, w)
			}
		}
		if err := st.markGone(ctx, rows[0], 11000); err != nil { // unfinished: finished
			t.Fatal(err)
		}
		if err := st.markGone(ctx, rows[1], 11000); err != nil { // finished: deleted
			t.Fatal(err)
		}
		rows, _ = st.all(ctx)
		if len(rows) != 1 || rows[0].shardID != "s0" || !rows[0].finished {
			t.Errorf("after markGone: %+v", rows)
		}
	})
}

func TestStoreOneWinnerPerLease(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		st := newTestStore(t, tdb)
		ctx := t.Context()
		const shards, workers = 3, 6
		for i := range shards {
			if err := st.add(ctx, fmt.Sprintf("s%d", i), nil, 0, 1); err != nil {
				t.Fatal(err)
			}
		}
		// Round 1: all free. Round 2: all expired at now 5000.
		for round, now := range []int64{1000, 5000} {
			var (
				mu   sync.Mutex
				wins = make(map[string][]string)
				wg   sync.WaitGroup
			)
			for w := range workers {
				wg.Go(func() {
					worker := fmt.Sprintf("r%dw%d", round, w)
					for i := range shards {
						shard := fmt.Sprintf("s%d", i)
						_, ok, err := st.take(ctx, shard, worker, now, now+1000)
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							mu.Lock()
							wins[shard] = append(wins[shard], worker)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			for i := range shards {
				if w := wins[fmt.Sprintf("s%d", i)]; len(w) != 1 {
					t.Errorf("round %d: s%d taken by %v, want one worker", round, i, w)
				}
			}
		}
	})
}

func TestStoreWorkers(t *testing.T) {
	forEachDB(t, func(t *testing.T, tdb testDB) {
		st := newTestStore(t, tdb)
		ctx := t.Context()
		beat := func(worker string, now, until int64) int {
			t.Helper()
			n, err := st.heartbeat(ctx, worker, now, until, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := beat("A", 100, 200); n != 1 {
			t.Errorf("A alone: %d workers", n)
		}
		if n := beat("B", 150, 250); n != 2 {
			t.Errorf("A and B: %d workers", n)
		}
		if n := beat("B", 201, 300); n != 1 { // A expired at 200
			t.Errorf("after A expired: %d workers", n)
		}
		if n := beat("A", 210, 310); n != 2 {
			t.Errorf("A back: %d workers", n)
		}
		if err := st.leave(ctx, "A"); err != nil {
			t.Fatal(err)
		}
		if n := beat("B", 220, 320); n != 1 {
			t.Errorf("after A left: %d workers", n)
		}
		if n := beat("C", 5000, 6000); n != 1 { // B forgotten
			t.Errorf("C alone: %d workers", n)
		}
		var rows int
		if err := st.db.QueryRowContext(ctx, st.q(`SELECT COUNT(*) FROM `+st.workers+` WHERE stream = ?`), st.stream).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Errorf("%d worker rows after B was forgotten, want 1", rows)
		}
	})
}

func TestRebind(t *testing.T) {
	in := `UPDATE t SET a = ? WHERE b = ? AND c = '' AND d < ?`
	for _, tc := range []struct {
		d    Dialect
		want string
	}{
		{SQLite, in},
		{Postgres, `UPDATE t SET a = $1 WHERE b = $2 AND c = '' AND d < $3`},
	} {
		if got := (&store{dialect: tc.d}).q(in); got != tc.want {
			t.Errorf("%s: q = %q, want %q", tc.d, got, tc.want)
		}
	}
}

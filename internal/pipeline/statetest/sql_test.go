package statetest_test

import (
	"context"
	"testing"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/pipeline/statetest"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
)

// SQLState keeps its jobs in River's river_job table, read back here.
func TestSQLState(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			statetest.Run(t, func(t *testing.T) statetest.Harness {
				st, err := store.Open(context.Background(), dsn(t), store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				db := st.SQL()
				return statetest.Harness{
					State: &pipeline.SQLState{Store: st},
					Jobs: func(t *testing.T) []pipeline.Job {
						t.Helper()
						rows, err := db.QueryContext(context.Background(), `SELECT kind, args FROM river_job ORDER BY id`)
						if err != nil {
							t.Fatal(err)
						}
						defer rows.Close()
						var jobs []pipeline.Job
						for rows.Next() {
							var kind string
							var args []byte
							if err := rows.Scan(&kind, &args); err != nil {
								t.Fatal(err)
							}
							job, err := pipeline.DecodeJob(kind, args)
							if err != nil {
								t.Fatalf("river_job %s %s: %v", kind, args, err)
							}
							jobs = append(jobs, job)
						}
						if err := rows.Err(); err != nil {
							t.Fatal(err)
						}
						return jobs
					},
				}
			})
		})
	}
}

package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkPipeline measures voicemails through vmx on SQLite with the
// "none" transcriber: contact records posted to /v1/ctr, audio read from the
// KVS simulator over HTTP, WAVs stored, signed webhooks delivered.
//
//   - burst: each iteration posts 100 records back to back and waits for
//     their webhooks: sustained voicemails per second, and the time from
//     each record's POST to its webhook, queueing included;
//   - single: one voicemail at a time on an idle pipeline: the latency of
//     the pipeline itself.
func BenchmarkPipeline(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
	}{{"burst", 100}, {"single", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			const rounds = 30 // contacts prepared: enough for -benchtime up to 30x
			var contacts []string
			for i := range bc.batch * min(rounds, 30/bc.batch+3) {
				contacts = append(contacts, fmt.Sprintf("be000000-0000-4000-8000-%012d", i))
			}
			f := newFixture(b, contacts...)
			var lat []time.Duration
			var total time.Duration
			n := 0
			for i := 0; b.Loop(); i++ {
				if (i+1)*bc.batch > len(contacts) {
					b.Fatalf("only %d contacts prepared; lower -benchtime", len(contacts))
				}
				chunk := contacts[i*bc.batch : (i+1)*bc.batch]
				posted := map[string]time.Time{}
				start := time.Now()
				for _, c := range chunk {
					body, _ := json.Marshal(f.record(c, "1"))
					posted[c] = time.Now()
					req, _ := http.NewRequest(http.MethodPost, f.api.URL+"/v1/ctr", bytes.NewReader(body))
					req.Header.Set("X-API-Key", apiKey)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
				f.waitDelivered(b, chunk...)
				total += time.Since(start)
				n += len(chunk)
				f.hook.mu.Lock()
				for _, c := range chunk {
					lat = append(lat, f.hook.arrived[c].Sub(posted[c]))
				}
				f.hook.mu.Unlock()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(n)/total.Seconds(), "voicemails/s")
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "p95_ms")
		})
	}
}

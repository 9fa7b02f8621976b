package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
)

// replicaConfig beats fast, so that a replica gone quiet is taken for dead
// within a second.
func replicaConfig(target string) Config {
	return Config{
		Targets:    []TargetConfig{{URL: target}},
		StopGrace:  50 * time.Millisecond,
		Heartbeat:  100 * time.Millisecond,
		StopPoll:   50 * time.Millisecond,
		StaleAfter: time.Second,
	}
}

// twoReplicas are replicas a and b of vmx serve on one KVS simulator and
// one database, their webhook target, and a's call on guid.
func twoReplicas(t *testing.T, dsn, guid string, c *call) (a, b *rig, rc *receiver, arn string) {
	t.Helper()
	rc = &receiver{}
	target := httptest.NewServer(rc)
	t.Cleanup(target.Close)
	simSrv := httptest.NewUnstartedServer(nil)
	t.Cleanup(simSrv.Close)
	simURL := "http://" + simSrv.Listener.Addr().String()
	a = newReplica(t, simURL, dsn, replicaConfig(target.URL), durationEngine{})
	b = newReplica(t, simURL, dsn, replicaConfig(target.URL), durationEngine{})
	// The call is paced from now, once both replicas are up: a start with
	// NOW reads it from its first fragment.
	sim := kvssim.New(kvssim.Options{Pace: 4, Start: time.Now()})
	simSrv.Config.Handler = sim
	simSrv.Start()
	a.sim, b.sim = sim, sim
	return a, b, rc, a.addCall(t, "connect-"+guid, guid, c)
}

// sessions lists the conversations a replica transcribes.
func (r *rig) sessions() []string {
	r.svc.mu.Lock()
	defer r.svc.mu.Unlock()
	var out []string
	for g := range r.svc.sessions {
		out = append(out, g)
	}
	return out
}

func stopBody(guid string) map[string]any {
	return map[string]any{"namespace": "amazonconnect", "guid": guid}
}

// TestReplicasShareConversation starts a call on replica a, starts it
// again and stops it on replica b: b returns a's streams without a second
// session, a stops when b is asked to, and b answers with a's summary.
func TestReplicasShareConversation(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			c := buildCall(t, callLines, 1500, 2000)
			const guid = "replicas-share-1"
			a, b, rc, arn := twoReplicas(t, dsnOf(t), guid, c)

			var first, again Response
			if code := a.post(t, PathStart, startBody(guid, arn), &first); code != http.StatusOK || !first.IsOK {
				t.Fatalf("start on a: %d %+v", code, first)
			}
			if code := b.post(t, PathStart, startBody(guid, arn), &again); code != http.StatusOK || !again.IsOK ||
				again.Response.Customer.StreamID != first.Response.Customer.StreamID || again.Response.Agent.StreamID != first.Response.Agent.StreamID ||
				again.Response.Customer.Status.Description != "OK: already streaming" {
				t.Fatalf("start on b: %d %+v, a gave %+v", code, again.Response, first.Response)
			}
			if got := b.sessions(); len(got) != 0 || counter(t, b.svc.m.starts, "already_streaming") != 1 {
				t.Fatalf("b transcribes %v", got)
			}

			waitFor(t, 30*time.Second, "four messages", func() bool { return len(rc.got()) >= len(c.turns) })
			waitFor(t, 10*time.Second, "a to read the whole call", func() bool {
				return counter(t, a.svc.m.audio, RoleCustomer) == float64(len(c.from)) && counter(t, a.svc.m.audio, RoleAgent) == float64(len(c.to))
			})
			var stop Response
			if code := b.post(t, PathStop, stopBody(guid), &stop); code != http.StatusOK || !stop.IsOK || stop.Response.Customer.Status.Description != "OK" {
				t.Fatalf("stop on b: %d %+v", code, stop)
			}
			if got := a.sessions(); len(got) != 0 {
				t.Errorf("a still transcribes %v", got)
			}
			for name, p := range map[string]Participant{"customer": stop.Response.Customer, "agent": stop.Response.Agent} {
				s := p.Summary
				if s == nil || s.TotalAudioBytes != int64(len(c.from)) || s.AudioDurationMS != int64(len(c.from)/16) || s.Transcripts != 2 || s.StreamingSeconds < 1 {
					t.Errorf("%s summary %+v, want %d bytes, %d ms, 2 transcripts", name, s, len(c.from), len(c.from)/16)
				}
			}
			if stop.Response.Customer.StreamID != first.Response.Customer.StreamID {
				t.Errorf("stop names stream %s, want %s", stop.Response.Customer.StreamID, first.Response.Customer.StreamID)
			}

			// One session sent each utterance once; b serves them all.
			got := rc.got()
			if len(got) != len(c.turns) {
				t.Fatalf("webhook got %d messages, want %d", len(got), len(c.turns))
			}
			code, body := b.get(t, PathMessages+"?externalConversationId="+guid)
			var conv Conversation
			if err := json.Unmarshal(body, &conv); err != nil || code != http.StatusOK {
				t.Fatalf("messages on b: %d %s", code, body)
			}
			if conv.Status != store.LiveStopped || len(conv.Messages) != len(got) {
				t.Fatalf("messages on b: status %s, %d messages", conv.Status, len(conv.Messages))
			}
			for i, m := range conv.Messages {
				if m.Sender.Role != c.turns[i].role || !sameMessage(m, got[i].Message) {
					t.Errorf("message %d = %+v, webhook got %+v", i, m, got[i].Message)
				}
			}

			// Stopping again, on either replica, repeats the summary.
			for _, r := range []*rig{a, b} {
				var again Response
				if code := r.post(t, PathStop, stopBody(guid), &again); code != http.StatusOK ||
					again.Response.Customer.Summary.TotalAudioBytes != int64(len(c.from)) || again.Response.Customer.Status.Description != "OK: already stopped" {
					t.Errorf("second stop: %d %+v", code, again.Response)
				}
			}
		})
	}
}

// startThenHalt starts the conversation on a, waits until b sees a
// heartbeat counting the caller's first message and until ready holds, then
// halts a as if it died: its sessions stop reading and beating, unfinalized.
// It returns a's answer to the start.
func startThenHalt(t *testing.T, a, b *rig, guid, arn string, ready func() bool) Response {
	t.Helper()
	var start Response
	if code := a.post(t, PathStart, startBody(guid, arn), &start); code != http.StatusOK {
		t.Fatalf("start on a: %d %+v", code, start)
	}
	waitFor(t, 30*time.Second, "a heartbeat counting the first message", func() bool {
		row, err := b.db.LiveConversation(t.Context(), guid)
		return err == nil && parseSummary(row.Summary).Roles[RoleCustomer].Messages >= 1 && ready()
	})
	a.svc.halt()
	return start
}

// TestReplicaDiesStopElsewhere: replica a dies while transcribing a call
// (no stop, no heartbeat); a stop on replica b, asked at once, waits for
// a, finds it gone quiet and marks the conversation stopped with the counts
// of a's last heartbeat, which a cannot overwrite when it comes back.
func TestReplicaDiesStopElsewhere(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			c := buildCall(t, callLines, 1500, 2000)
			const guid = "replicas-dies-1"
			a, b, rc, arn := twoReplicas(t, dsnOf(t), guid, c)
			ctx := t.Context()
			startThenHalt(t, a, b, guid, arn, func() bool { return len(rc.got()) >= 1 })

			var stop Response
			if code := b.post(t, PathStop, stopBody(guid), &stop); code != http.StatusOK || !stop.IsOK ||
				stop.Response.Customer.Status.Description != "OK: stopped (its transcription had ended)" {
				t.Fatalf("stop on b: %d %+v", code, stop)
			}
			row, err := b.db.LiveConversation(ctx, guid)
			if err != nil {
				t.Fatal(err)
			}
			last := parseSummary(row.Summary)
			for role, p := range map[string]Participant{RoleCustomer: stop.Response.Customer, RoleAgent: stop.Response.Agent} {
				n := last.Roles[role]
				if s := p.Summary; s == nil || s.TotalAudioBytes != n.Bytes || s.Transcripts != n.Messages || s.TotalAudioBytes <= 0 ||
					s.TotalAudioBytes > int64(len(c.from)) {
					t.Errorf("%s summary %+v, stored %+v", role, p.Summary, n)
				}
			}
			if row.State != store.LiveStopped || row.StoppedAt.IsZero() {
				t.Fatalf("row after the stop: %+v", row)
			}

			// a comes back only to shut down: the row stays as b left it.
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := a.svc.Close(cctx); err != nil {
				t.Fatal(err)
			}
			after, err := b.db.LiveConversation(ctx, guid)
			if err != nil || *after != *row {
				t.Errorf("row after a's shutdown: %+v %v, want %+v", after, err, row)
			}
		})
	}
}

// TestReplicaDiesTakeover: replica a dies while transcribing a call; once
// its heartbeat is stale a start on replica b takes the conversation over
// with the same streams, transcribes the rest and adds its counts to those
// of a's last heartbeat.
func TestReplicaDiesTakeover(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			c := buildCall(t, callLines, 1500, 2000)
			const guid = "replicas-takeover-1"
			a, b, rc, arn := twoReplicas(t, dsnOf(t), guid, c)
			ctx := t.Context()
			first := startThenHalt(t, a, b, guid, arn, func() bool { return true })
			var row *store.LiveConversation
			waitFor(t, 10*time.Second, "a's heartbeat to go stale", func() bool {
				var err error
				row, err = b.db.LiveConversation(ctx, guid)
				return err == nil && time.Since(row.UpdatedAt) > b.svc.cfg.StaleAfter
			})
			prior := parseSummary(row.Summary)

			var second Response
			if code := b.post(t, PathStart, startBody(guid, arn), &second); code != http.StatusOK || second.Response.Customer.Status.Description != "OK" ||
				second.Response.Customer.StreamID != first.Response.Customer.StreamID || second.Response.Agent.StreamID != first.Response.Agent.StreamID {
				t.Fatalf("start on b: %d %+v, a gave %+v", code, second.Response, first.Response)
			}
			if got := b.sessions(); fmt.Sprint(got) != "["+guid+"]" || counter(t, b.svc.m.starts, "taken_over") != 1 {
				t.Fatalf("b transcribes %v", got)
			}
			// The last turn is the agent's; wait for it.
			waitFor(t, 30*time.Second, "the last message", func() bool {
				got := rc.got()
				return len(got) > 1 && got[len(got)-1].Sender.Role == RoleAgent && got[len(got)-1].Response.EndMS > c.turns[3].speech.StartMS
			})
			var stop Response
			if code := b.post(t, PathStop, stopBody(guid), &stop); code != http.StatusOK || stop.Response.Customer.Status.Description != "OK" {
				t.Fatalf("stop on b: %d %+v", code, stop)
			}
			for role, p := range map[string]Participant{RoleCustomer: stop.Response.Customer, RoleAgent: stop.Response.Agent} {
				want := prior.Roles[role].Bytes + int64(counter(t, b.svc.m.audio, role))
				if p.Summary.TotalAudioBytes != want || p.Summary.TotalAudioBytes > int64(len(c.from)) || p.Summary.Transcripts < prior.Roles[role].Messages {
					t.Errorf("%s summary %+v, want %d bytes (%d before the takeover)", role, p.Summary, want, prior.Roles[role].Bytes)
				}
			}
			// b numbered its messages on from a's.
			ms, err := b.db.LiveMessages(ctx, guid, 100)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range ms {
				if m.Seq != int64(i+1) {
					t.Fatalf("message %d has seq %d: %+v", i, m.Seq, ms)
				}
			}
			if len(ms) < 2 || ms[len(ms)-1].Role != RoleAgent {
				t.Errorf("stored messages %+v", ms)
			}
		})
	}
}

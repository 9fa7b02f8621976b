package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/web"
)

type sseEvent struct {
	name string
	data map[string]string
}

// events opens the client's event stream; the channel closes when the
// stream ends.
func (c *client) events(t *testing.T) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.e.srv.URL+"/events", nil)
	resp, err := (&http.Client{Jar: c.jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
					t.Errorf("event data %q: %v", line, err)
				}
			}
		}
	}()
	return ch, resp
}

// waitFor returns the first voicemail event for id, failing the test
// after a few seconds; other events are returned too.
func waitFor(t *testing.T, ch <-chan sseEvent, id string) (sseEvent, []sseEvent) {
	t.Helper()
	var others []sseEvent
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %s", id)
			}
			if ev.name == "voicemail" && ev.data["contact_id"] == id {
				return ev, others
			}
			others = append(others, ev)
		case <-deadline:
			t.Fatalf("no event for %s; got %+v", id, others)
		}
	}
}

func TestEventsFollowNewVoicemails(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			e.users()
			amy, root := e.signIn("amy"), e.signIn("root")
			amyEvents, resp := amy.events(t)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			rootEvents, _ := root.events(t)

			// Queue B's voicemail reaches the admin, not queue A's agent.
			b := vm("vb1", queueB)
			b.Caller = "+15555550102"
			e.put(b)
			if ev, _ := waitFor(t, rootEvents, "vb1"); ev.data["caller"] != "+15555550102" || ev.data["url"] != "/voicemails/vb1" {
				t.Fatalf("admin's event: %+v", ev)
			}
			a := vm("va1", queueA)
			a.Caller, a.Route = "+15555550101", voicemail.Route{QueueARN: queueA, QueueName: "Sales"}
			e.put(a)
			ev, others := waitFor(t, amyEvents, "va1")
			if ev.data["caller"] != "+15555550101" || ev.data["queue"] != "Sales" || ev.data["status"] != "Delivered" {
				t.Fatalf("agent's event: %+v", ev)
			}
			// A change to the inbox state is an event too.
			r := root.post("/voicemails/va1/state", url.Values{"_csrf": {root.token()}, "state": {"handled"}})
			if r.status != http.StatusSeeOther {
				t.Fatalf("mark handled: %d", r.status)
			}
			ev, more := waitFor(t, amyEvents, "va1")
			if ev.data["status"] != "Handled" {
				t.Fatalf("event after mark handled: %+v", ev)
			}
			// Give a stray vb1 event time to arrive before checking.
			time.Sleep(300 * time.Millisecond)
		drain:
			for {
				select {
				case ev := <-amyEvents:
					more = append(more, ev)
				default:
					break drain
				}
			}
			for _, ev := range append(others, more...) {
				if ev.data["contact_id"] == "vb1" {
					t.Fatalf("queue A's agent got queue B's voicemail: %+v", ev)
				}
			}
		})
	}
}

func TestEventsNeedSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	if r := e.client().get("/events"); r.status != http.StatusUnauthorized {
		t.Fatalf("events signed out: %d", r.status)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	e.users()
	ch, _ := e.signIn("amy").events(t)
	e.h.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived Close")
	}
	if r := e.signIn("amy").get("/events"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("events after Close: %d", r.status)
	}
}

var _ pipeline.Sink = (*web.Sink)(nil)

// The inbox sink puts a voicemail in the inbox as new, once.
func TestSink(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			rec := e.put(vm("s1", queueA))
			sink := web.NewSink(e.store)
			ctx := context.Background()
			d := &voicemail.Delivery{Record: *rec}
			if detail, err := sink.Deliver(ctx, d, "s1:inbox"); err != nil || detail != "new in the inbox" || e.state("s1").State != "new" {
				t.Fatalf("deliver: %q %v %+v", detail, err, e.state("s1"))
			}
			if err := e.store.SetInboxState(ctx, "s1", "handled", "amy", time.Now()); err != nil {
				t.Fatal(err)
			}
			if detail, err := sink.Deliver(ctx, d, "s1:inbox"); err != nil || detail != "already in the inbox" || e.state("s1").State != "handled" {
				t.Fatalf("redeliver: %q %v %+v", detail, err, e.state("s1"))
			}
			_, err := sink.Deliver(ctx, &voicemail.Delivery{Record: voicemail.Record{Request: voicemail.Request{ContactID: "gone"}}}, "gone:inbox")
			if !retry.IsPermanent(err) {
				t.Fatalf("missing voicemail: %v", err)
			}
		})
	}
}

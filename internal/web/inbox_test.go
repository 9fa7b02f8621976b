package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// vm is a delivered voicemail of a queue.
func vm(id, queue string) *voicemail.Record {
	return &voicemail.Record{Request: voicemail.Request{ContactID: id, QueueARN: queue}}
}

func TestAgentSeesOnlyTheirVoicemails(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			e.users()
			at := time.Now().UTC().Truncate(time.Second)
			a := vm("va1", queueA)
			a.CallTime = at
			e.put(a)
			b := vm("vb1", queueB)
			b.CallTime, b.Status, b.Error, b.FailedStep = at.Add(time.Second), voicemail.StatusFailed, "deliver email: 550", voicemail.StepDeliver
			e.put(b)
			// For bob's Connect agent, left in queue A.
			forBob := vm("vb2", queueA)
			forBob.CallTime, forBob.Route = at.Add(2*time.Second), voicemail.Route{QueueARN: queueA, AgentID: "agent-b"}
			e.put(forBob)

			amy, bob, root := e.signIn("amy"), e.signIn("bob"), e.signIn("root")
			for _, tc := range []struct {
				c    *client
				want []string
			}{{amy, []string{"vb2", "va1"}}, {bob, []string{"vb2", "vb1"}}, {root, []string{"vb2", "vb1", "va1"}}} {
				r := tc.c.get("/")
				if got := rowIDs(r.body); r.status != http.StatusOK || !slices.Equal(got, tc.want) {
					t.Errorf("list: %d %v, want %v", r.status, got, tc.want)
				}
				if got := rowIDs(tc.c.get("/list").body); !slices.Equal(got, tc.want) {
					t.Errorf("list fragment: %v, want %v", got, tc.want)
				}
			}
			// Queue A's agent: vb1 is not found, exactly like a voicemail
			// that does not exist, for every page and action.
			token := amy.token()
			missing := amy.get("/voicemails/nope")
			for _, id := range []string{"vb1", "nope"} {
				for _, r := range []response{
					amy.get("/voicemails/" + id),
					amy.get("/voicemails/" + id + "/delete"),
					amy.post("/voicemails/"+id+"/state", url.Values{"_csrf": {token}, "state": {"handled"}}),
					amy.post("/voicemails/"+id+"/assign", url.Values{"_csrf": {token}, "assignee": {"amy"}}),
					amy.post("/voicemails/"+id+"/retry", url.Values{"_csrf": {token}}),
					amy.post("/voicemails/"+id+"/delete", url.Values{"_csrf": {token}, "confirm": {"yes"}}),
				} {
					if r.status != http.StatusNotFound || r.body != missing.body {
						t.Errorf("%s: %d\n%s", id, r.status, r.body)
					}
				}
			}
			if it := e.state("vb1"); it.State != store.InboxNone || it.Assignee != "" || len(e.retried)+len(e.deleted) != 0 {
				t.Fatalf("vb1 changed by an agent who may not see it: %+v, retried %v, deleted %v", it, e.retried, e.deleted)
			}
			if r := bob.get("/voicemails/vb1"); r.status != http.StatusOK {
				t.Fatalf("bob, vb1: %d", r.status)
			}
			// Filters cannot widen what an agent sees.
			if got := rowIDs(amy.get("/?queue=" + url.QueryEscape(queueB)).body); len(got) != 0 {
				t.Fatalf("amy filtering by queue B: %v", got)
			}
			// Assigned to amy, vb1 becomes hers.
			if err := e.store.AssignInbox(context.Background(), "vb1", "amy", time.Now()); err != nil {
				t.Fatal(err)
			}
			if r := amy.get("/voicemails/vb1"); r.status != http.StatusOK {
				t.Fatalf("amy, assigned vb1: %d", r.status)
			}
		})
	}
}

func TestFiltersAndSearch(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			loc, err := time.LoadLocation("America/New_York")
			if err != nil {
				t.Skip(err)
			}
			e := newEnv(t, dsnOf(t), envOptions{location: loc})
			e.users()
			// 2026-03-02 23:30 in New York is 04:30 UTC on the 3rd.
			day := time.Date(2026, 3, 2, 23, 30, 0, 0, loc)
			for i, r := range []*voicemail.Record{
				{Request: voicemail.Request{ContactID: "f1", QueueARN: queueA, Caller: "+15555550101"}, Transcript: "Please call me back about 100% of my invoice"},
				{Request: voicemail.Request{ContactID: "f2", QueueARN: queueB}, Transcript: "The parcel never arrived",
					Route: voicemail.Route{QueueARN: queueB, QueueName: "Returns", AgentUsername: "Bob.B"}},
				{Request: voicemail.Request{ContactID: "f3", QueueARN: queueB}, Transcript: "order_id 42 is wrong", Status: voicemail.StatusFailed, Error: "boom"},
				{Request: voicemail.Request{ContactID: "f4", QueueARN: queueA}, Empty: true},
			} {
				r.CallTime = day.Add(time.Duration(i) * 24 * time.Hour).UTC()
				e.put(r)
			}
			ctx := context.Background()
			if _, err := e.store.MarkInboxNew(ctx, "f1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := e.store.SetInboxState(ctx, "f2", store.InboxHandled, "bob", time.Now()); err != nil {
				t.Fatal(err)
			}
			root := e.signIn("root")
			for _, tc := range []struct {
				query string
				want  []string
			}{
				{"", []string{"f4", "f3", "f2", "f1"}},
				{"q=invoice", []string{"f1"}},
				{"q=CALL+invoice", []string{"f1"}},
				{"q=" + url.QueryEscape(`"call me back"`), []string{"f1"}},
				{"q=" + url.QueryEscape(`"me call"`), nil},
				{"q=100%25", []string{"f1"}},
				{"q=r_i", []string{"f3"}},
				{"q=550101", []string{"f1"}},
				{"queue=" + url.QueryEscape(queueB), []string{"f3", "f2"}},
				{"agent=bob.b", []string{"f2"}},
				{"status=new", []string{"f1"}},
				{"status=handled", []string{"f2"}},
				{"status=failed", []string{"f3"}},
				{"status=empty", []string{"f4"}},
				// Dates are New York days: f1 is on the 2nd there.
				{"from=2026-03-03&to=2026-03-04", []string{"f3", "f2"}},
				{"to=2026-03-02", []string{"f1"}},
				{"from=2026-03-05", []string{"f4"}},
				{"status=failed&queue=" + url.QueryEscape(queueA), nil},
			} {
				r := root.get("/?" + tc.query)
				if got := rowIDs(r.body); r.status != http.StatusOK || !slices.Equal(got, tc.want) {
					t.Errorf("%q: %d %v, want %v", tc.query, r.status, got, tc.want)
				}
			}
			for query, wants := range map[string][]string{
				// The queue's name as routing found it.
				"status=handled":                   {`<td data-label="Queue">Returns</td>`, `<span class="badge b-handled">Handled</span>`},
				"q=invoice":                        {`Mon 2 Mar 2026 23:30 EST`, "Clear filters", `value="invoice"`},
				"queue=" + url.QueryEscape(queueB): {`<option value="` + queueB + `" selected>Returns</option>`},
			} {
				body := root.get("/?" + query).body
				for _, want := range wants {
					if !strings.Contains(body, want) {
						t.Errorf("%q: page lacks %q", query, want)
					}
				}
			}
			for _, bad := range []string{"status=bogus", "from=yesterday", "after=nope", "after=1.a&before=1.b", "q=" + strings.Repeat("x", 201)} {
				if r := root.get("/?" + bad); r.status != http.StatusBadRequest {
					t.Errorf("%q: %d, want 400", bad, r.status)
				}
			}
		})
	}
}

func TestPaging(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{pageSize: 4})
			e.users()
			start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			var want []string
			for i := range 10 {
				r := vm(fmt.Sprintf("p%02d", i), queueA)
				r.CallTime = start.Add(time.Duration(i) * time.Minute)
				e.put(r)
				want = append([]string{r.ContactID}, want...)
			}
			amy := e.signIn("amy")
			link := regexp.MustCompile(`<a href="([^"]+)" rel="(next|prev)">`)
			links := func(body string) map[string]string {
				m := map[string]string{}
				for _, l := range link.FindAllStringSubmatch(body, -1) {
					m[l[2]] = strings.ReplaceAll(l[1], "&amp;", "&")
				}
				return m
			}
			var got [][]string
			path := "/?status="
			var pages []response
			for path != "" {
				r := amy.get(path)
				if r.status != http.StatusOK {
					t.Fatalf("%s: %d", path, r.status)
				}
				pages = append(pages, r)
				got = append(got, rowIDs(r.body))
				path = links(r.body)["next"]
			}
			if all := slices.Concat(got...); !slices.Equal(all, want) || len(got) != 3 {
				t.Fatalf("pages %v, want %v in 3", got, want)
			}
			if _, ok := links(pages[0].body)["prev"]; ok || !strings.Contains(pages[0].body, `data-live="1"`) {
				t.Fatal("the first page links to newer voicemails, or is not live")
			}
			if !strings.Contains(pages[1].body, `data-live="0"`) {
				t.Fatal("a later page is live")
			}
			back := amy.get(links(pages[2].body)["prev"])
			if !slices.Equal(rowIDs(back.body), got[1]) {
				t.Fatalf("back from the last page: %v, want %v", rowIDs(back.body), got[1])
			}
		})
	}
}

func TestActions(t *testing.T) {
	t.Parallel()
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsnOf(t), envOptions{})
			e.users()
			e.put(vm("va1", queueA))
			failed := vm("va2", queueA)
			failed.Status, failed.Error, failed.FailedStep = voicemail.StatusFailed, "deliver task: throttled", voicemail.StepDeliver
			e.put(failed)
			invalid := vm("va3", queueA)
			invalid.Status, invalid.Error, invalid.FailedStep = voicemail.StatusFailed, "no audio", "intake"
			e.put(invalid)
			amy, root := e.signIn("amy"), e.signIn("root")
			token := amy.token()

			r := amy.post("/voicemails/va1/state", url.Values{"_csrf": {token}, "state": {"handled"}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/voicemails/va1?done=handled" {
				t.Fatalf("mark handled: %d %q", r.status, r.header.Get("Location"))
			}
			if it := e.state("va1"); it.State != store.InboxHandled || it.ChangedBy != "amy" {
				t.Fatalf("after mark handled: %+v", it)
			}
			page := amy.get("/voicemails/va1?done=handled")
			for _, want := range []string{"Marked handled.", `<button type="submit" id="mark">Mark as new</button>`, "Handled by amy"} {
				if !strings.Contains(page.body, want) {
					t.Errorf("detail page lacks %q", want)
				}
			}
			if r := amy.post("/voicemails/va1/state", url.Values{"_csrf": {token}, "state": {"new"}}); r.status != http.StatusSeeOther || e.state("va1").State != store.InboxNew {
				t.Fatalf("mark new: %d %+v", r.status, e.state("va1"))
			}
			if r := amy.post("/voicemails/va1/state", url.Values{"_csrf": {token}, "state": {"done"}}); r.status != http.StatusBadRequest {
				t.Fatalf("unknown state: %d", r.status)
			}

			// Assigning is for admins.
			if r := amy.post("/voicemails/va1/assign", url.Values{"_csrf": {token}, "assignee": {"amy"}}); r.status != http.StatusForbidden {
				t.Fatalf("agent assigns: %d", r.status)
			}
			rootToken := root.token()
			if r := root.post("/voicemails/va1/assign", url.Values{"_csrf": {rootToken}, "assignee": {"nobody"}}); r.status != http.StatusBadRequest {
				t.Fatalf("assign to an unknown user: %d", r.status)
			}
			if r := root.post("/voicemails/va1/assign", url.Values{"_csrf": {rootToken}, "assignee": {"bob"}}); r.status != http.StatusSeeOther || e.state("va1").Assignee != "bob" {
				t.Fatalf("assign: %d %+v", r.status, e.state("va1"))
			}
			if !strings.Contains(root.get("/voicemails/va1").body, `<option value="bob" selected>bob (Bob.B)</option>`) {
				t.Error("the assign form does not show the assignee")
			}
			if r := root.post("/voicemails/va1/assign", url.Values{"_csrf": {rootToken}, "assignee": {""}}); r.status != http.StatusSeeOther || e.state("va1").Assignee != "" {
				t.Fatalf("unassign: %d %+v", r.status, e.state("va1"))
			}

			// Retry: failed voicemails only, not an invalid contact record.
			if !strings.Contains(amy.get("/voicemails/va2").body, "/voicemails/va2/retry") || strings.Contains(amy.get("/voicemails/va1").body, "/retry") {
				t.Error("the retry button is on the wrong voicemails")
			}
			for id, want := range map[string]int{"va1": http.StatusConflict, "va3": http.StatusConflict, "va2": http.StatusSeeOther} {
				if r := amy.post("/voicemails/"+id+"/retry", url.Values{"_csrf": {token}}); r.status != want {
					t.Errorf("retry %s: %d, want %d\n%s", id, r.status, want, r.body)
				}
			}
			if !slices.Equal(e.retried, []string{"va2"}) {
				t.Fatalf("retried %v", e.retried)
			}

			// Delete: admins only, and only once confirmed.
			if r := amy.get("/voicemails/va1/delete"); r.status != http.StatusForbidden {
				t.Fatalf("agent's delete page: %d", r.status)
			}
			if strings.Contains(amy.get("/voicemails/va1").body, "/delete") || !strings.Contains(root.get("/voicemails/va1").body, `href="/voicemails/va1/delete"`) {
				t.Error("the delete link is shown to the wrong user")
			}
			confirm := root.get("/voicemails/va1/delete")
			if confirm.status != http.StatusOK || !strings.Contains(confirm.body, "This cannot be undone.") ||
				!strings.Contains(confirm.body, `<input type="hidden" name="confirm" value="yes">`) {
				t.Fatalf("confirmation page: %d\n%s", confirm.status, confirm.body)
			}
			if r := root.post("/voicemails/va1/delete", url.Values{"_csrf": {rootToken}}); r.status != http.StatusBadRequest || len(e.deleted) != 0 {
				t.Fatalf("unconfirmed delete: %d, deleted %v", r.status, e.deleted)
			}
			if r := amy.post("/voicemails/va1/delete", url.Values{"_csrf": {token}, "confirm": {"yes"}}); r.status != http.StatusForbidden || len(e.deleted) != 0 {
				t.Fatalf("agent deletes: %d, deleted %v", r.status, e.deleted)
			}
			r = root.post("/voicemails/va1/delete", url.Values{"_csrf": {csrf(t, confirm.body)}, "confirm": {"yes"}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/?done=deleted" || !slices.Equal(e.deleted, []string{"va1"}) {
				t.Fatalf("delete: %d %q, deleted %v", r.status, r.header.Get("Location"), e.deleted)
			}
			if r := root.get("/voicemails/va1"); r.status != http.StatusNotFound {
				t.Fatalf("deleted voicemail: %d", r.status)
			}
			if !strings.Contains(root.get("/?done=deleted").body, "Voicemail deleted.") {
				t.Error("no notice after delete")
			}
		})
	}
}

func TestDetailPage(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skip(err)
	}
	e := newEnv(t, storetest.SQLite(t), envOptions{location: loc,
		redact: func(s string) string { return strings.ReplaceAll(s, "4111", "####") }})
	e.users()
	rec := vm("d1", queueA)
	rec.CallTime = time.Date(2026, 7, 1, 14, 5, 0, 0, time.UTC)
	rec.Caller, rec.SpokenNumber, rec.Summary = "+15555550123", "5555550199", "Wants a call back."
	rec.Warnings = []string{"agent jdoe not found; routed to the queue"}
	rec.Route = voicemail.Route{QueueARN: queueA, QueueName: "Sales", AgentName: "Jane Doe"}
	e.putAudio(rec, 3*time.Second, []asr.Segment{
		{StartMS: 250, EndMS: 1200, Text: "hello this is Sam"},
		{StartMS: 1500, EndMS: 2800, Text: "my card is 4111 please call back"},
	})
	e.put(rec)
	if err := e.store.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.AddReceipt(context.Background(), "d1", voicemail.Receipt{Sink: "email", Key: "d1:email", Detail: "<m1@vmx>", DeliveredAt: rec.CallTime.Add(time.Minute)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	amy := e.signIn("amy")
	page := amy.get("/voicemails/d1")
	if page.status != http.StatusOK {
		t.Fatalf("detail: %d", page.status)
	}
	for _, want := range []string{
		`<h1>Voicemail from &#43;15555550123</h1>`, // html/template escapes +
		`<a href="tel:&#43;15555550123">&#43;15555550123</a>`,
		`<a href="tel:5555550199">5555550199</a>`,
		`Wed 1 Jul 2026 15:05 BST`, // London summer time
		`<dt>Queue</dt><dd>Sales</dd>`, `<dt>Agent</dt><dd>Jane Doe</dd>`, `<dt>Length</dt><dd>0:03</dd>`,
		`data-start="0.250" data-end="1.200"><span class="at">0:00</span> <span class="text">hello this is Sam</span>`,
		`data-start="1.500" data-end="2.800"><span class="at">0:01</span> <span class="text">my card is #### please call back</span>`,
		`<li>agent jdoe not found; routed to the queue</li>`,
		`<tr><td>email</td><td>&lt;m1@vmx&gt;</td>`,
		`Wants a call back.`,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("detail page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(page.body)
	}
	if strings.Contains(page.body, "4111") {
		t.Error("the detail page shows what Redact masks")
	}
	// The player's link is a signed media link that serves the WAV,
	// ranges included.
	m := regexp.MustCompile(`<audio id="player" controls preload="metadata" src="([^"]+)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no player in:\n%s", page.body)
	}
	src := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.HasPrefix(src, e.srv.URL+"/v1/media/d1?") {
		t.Fatalf("player source %q", src)
	}
	req, _ := http.NewRequest(http.MethodGet, src, nil)
	req.Header.Set("Range", "bytes=0-43")
	r := e.client().do(req)
	if r.status != http.StatusPartialContent || !strings.HasPrefix(r.body, "RIFF") || r.header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("media link: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// Security headers: no framing, no inline script.
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", page.header.Get("Cache-Control"))
	}

	// Without a transcript document the plain transcript shows.
	plain := vm("d2", queueA)
	plain.Transcript = "just text"
	e.put(plain)
	if body := amy.get("/voicemails/d2").body; !strings.Contains(body, `<p class="transcript">just text</p>`) || strings.Contains(body, "<audio") {
		t.Errorf("plain transcript page:\n%s", body)
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), envOptions{})
	c := e.client()
	page := c.get("/login")
	m := regexp.MustCompile(`<script src="(/assets/app\.js\?v=[0-9a-f]+)" defer>`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no script in:\n%s", page.body)
	}
	r := c.get(m[1])
	if r.status != http.StatusOK || !strings.Contains(r.body, "new EventSource('/events')") || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("app.js: %d %q", r.status, r.header.Get("Cache-Control"))
	}
	if r := c.get("/assets/app.js?v=old"); r.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("stale version cached: %q", r.header.Get("Cache-Control"))
	}
	if r := c.get("/assets/nope.js"); r.status != http.StatusNotFound {
		t.Fatalf("missing asset: %d", r.status)
	}
	if r := c.get("/nowhere"); r.status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", r.status)
	}
}

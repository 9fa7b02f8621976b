package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

const (
	queueA = "arn:aws:connect:us-east-1:111122223333:instance/inst/queue/qa"
	queueB = "arn:aws:connect:us-east-1:111122223333:instance/inst/queue/qb"
)

var day = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// put stores a voicemail with the given fields and pipeline outcome.
func put(t *testing.T, s *store.Store, rec *voicemail.Record) {
	t.Helper()
	ctx := context.Background()
	if rec.Status == "" {
		rec.Status = voicemail.StatusDelivered
	}
	rec.Run, rec.Steps, rec.CreatedAt = 1, map[string]time.Time{}, rec.CallTime
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.InsertVoicemail(ctx, rec); err != nil {
			return err
		}
		return tx.Update(ctx, rec, rec.CallTime)
	}); err != nil {
		t.Fatal(err)
	}
}

func ids(page *store.InboxPage) []string {
	var out []string
	for _, it := range page.Items {
		out = append(out, it.Voicemail.ContactID)
	}
	return out
}

// seedInbox stores five voicemails an hour apart: c1 oldest, c5 newest.
func seedInbox(t *testing.T, s *store.Store) {
	recs := []*voicemail.Record{
		{Request: voicemail.Request{ContactID: "c1", QueueARN: queueA, Caller: "+15555550101"}, Transcript: "Please call me back about 100% of my invoice"},
		{Request: voicemail.Request{ContactID: "c2", QueueARN: queueB, Caller: "+15555550102"}, Transcript: "The parcel never arrived",
			Route: voicemail.Route{QueueARN: queueB, AgentID: "agent-7", AgentUsername: "Jane.Doe"}},
		{Request: voicemail.Request{ContactID: "c3", QueueARN: queueB, AgentID: "agent-9", Caller: "+15555550103"}, Transcript: "order_id 42 is wrong",
			Status: voicemail.StatusFailed, Error: "deliver: boom"},
		{Request: voicemail.Request{ContactID: "c4", QueueARN: queueB, Caller: "+15555550104"}, Empty: true,
			Route: voicemail.Route{QueueARN: queueA, QueueName: "Sales"}},
		{Request: voicemail.Request{ContactID: "c5", QueueARN: queueA, Caller: "+15555550105"}, Transcript: "CALL me at noon",
			Status: voicemail.StatusQueued},
	}
	for i, r := range recs {
		r.CallTime = day.Add(time.Duration(i) * time.Hour)
		put(t, s, r)
	}
}

func TestInboxScopeAndFilters(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dsnOf(t))
			seedInbox(t, s)
			if err := s.AssignInbox(ctx, "c1", "bob", day); err != nil {
				t.Fatal(err)
			}
			if err := s.SetInboxState(ctx, "c2", store.InboxHandled, "admin", day); err != nil {
				t.Fatal(err)
			}
			if _, err := s.MarkInboxNew(ctx, "c5", day); err != nil {
				t.Fatal(err)
			}
			all := store.Scope{All: true}
			for _, tc := range []struct {
				name string
				q    store.InboxQuery
				want []string
			}{
				{"admin sees all, newest first", store.InboxQuery{Scope: all}, []string{"c5", "c4", "c3", "c2", "c1"}},
				{"empty scope sees nothing", store.InboxQuery{}, nil},
				{"queue A by request or route", store.InboxQuery{Scope: store.Scope{Queues: []string{queueA}}}, []string{"c5", "c4", "c1"}},
				{"route agent id", store.InboxQuery{Scope: store.Scope{AgentID: "agent-7"}}, []string{"c2"}},
				{"personal queue agent", store.InboxQuery{Scope: store.Scope{AgentID: "agent-9"}}, []string{"c3"}},
				{"route agent username, any case", store.InboxQuery{Scope: store.Scope{AgentUsername: "jane.doe"}}, []string{"c2"}},
				{"assignee", store.InboxQuery{Scope: store.Scope{Username: "bob"}}, []string{"c1"}},
				{"assignee or queue", store.InboxQuery{Scope: store.Scope{Username: "bob", Queues: []string{queueB}}}, []string{"c4", "c3", "c2", "c1"}},
				{"unknown agent sees nothing", store.InboxQuery{Scope: store.Scope{Username: "eve", AgentID: "x", Queues: []string{"arn:q"}}}, nil},
				{"queue filter", store.InboxQuery{Scope: all, Queue: queueB}, []string{"c4", "c3", "c2"}},
				{"agent filter by username", store.InboxQuery{Scope: all, Agent: "JANE.DOE"}, []string{"c2"}},
				{"agent filter by assignee", store.InboxQuery{Scope: all, Agent: "bob"}, []string{"c1"}},
				{"new", store.InboxQuery{Scope: all, Status: store.FilterNew}, []string{"c5"}},
				{"handled", store.InboxQuery{Scope: all, Status: store.FilterHandled}, []string{"c2"}},
				{"failed", store.InboxQuery{Scope: all, Status: store.FilterFailed}, []string{"c3"}},
				{"empty", store.InboxQuery{Scope: all, Status: store.FilterEmpty}, []string{"c4"}},
				{"processing", store.InboxQuery{Scope: all, Status: store.FilterProcessing}, []string{"c5"}},
				{"date range", store.InboxQuery{Scope: all, From: day.Add(time.Hour), To: day.Add(3 * time.Hour)}, []string{"c3", "c2"}},
				{"search any case", store.InboxQuery{Scope: all, Search: []string{"call"}}, []string{"c5", "c1"}},
				{"search all terms", store.InboxQuery{Scope: all, Search: []string{"call", "invoice"}}, []string{"c1"}},
				{"search percent is literal", store.InboxQuery{Scope: all, Search: []string{"100%"}}, []string{"c1"}},
				{"search percent alone", store.InboxQuery{Scope: all, Search: []string{"%"}}, []string{"c1"}},
				{"search underscore is literal", store.InboxQuery{Scope: all, Search: []string{"r_i"}}, []string{"c3"}},
				{"search caller", store.InboxQuery{Scope: all, Search: []string{"550104"}}, []string{"c4"}},
				{"ids within scope", store.InboxQuery{Scope: store.Scope{Queues: []string{queueA}}, IDs: []string{"c1", "c2"}}, []string{"c1"}},
				{"no ids", store.InboxQuery{Scope: all, IDs: []string{}}, nil},
			} {
				page, err := s.Inbox(ctx, tc.q)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if got := ids(page); !slices.Equal(got, tc.want) {
					t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				}
			}
			if _, err := s.Inbox(ctx, store.InboxQuery{Scope: all, Status: "bogus"}); err == nil {
				t.Error("unknown status filter accepted")
			}
			page, err := s.Inbox(ctx, store.InboxQuery{Scope: all, IDs: []string{"c1", "c2"}})
			if err != nil {
				t.Fatal(err)
			}
			c2, c1 := page.Items[0], page.Items[1]
			if c1.Assignee != "bob" || c1.State != store.InboxNone || c2.State != store.InboxHandled || c2.ChangedBy != "admin" || !c2.ChangedAt.Equal(day) {
				t.Errorf("inbox fields: c1 %+v, c2 %+v", c1, c2)
			}
			if c2.Voicemail.Route.AgentUsername != "Jane.Doe" || c2.Voicemail.Transcript != "The parcel never arrived" {
				t.Errorf("voicemail fields: %+v", c2.Voicemail)
			}
		})
	}
}

func TestInboxPaging(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dsnOf(t))
			for i := range 7 {
				// p2 and p3 share a call time: the contact ID breaks the tie.
				at := day.Add(time.Duration(i) * time.Minute)
				if i == 3 {
					at = day.Add(2 * time.Minute)
				}
				put(t, s, &voicemail.Record{Request: voicemail.Request{ContactID: fmt.Sprintf("p%d", i), CallTime: at}})
			}
			want := []string{"p6", "p5", "p4", "p3", "p2", "p1", "p0"}
			var pages [][]string
			q := store.InboxQuery{Scope: store.Scope{All: true}, Limit: 3}
			var cursors []*store.InboxPage
			for {
				page, err := s.Inbox(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, ids(page))
				cursors = append(cursors, page)
				if page.Older == "" {
					break
				}
				q.After = page.Older
			}
			if got := slices.Concat(pages...); !slices.Equal(got, want) {
				t.Fatalf("pages %v, want %v", pages, want)
			}
			if cursors[0].Newer != "" || cursors[1].Newer == "" {
				t.Fatalf("newer cursors: %q %q", cursors[0].Newer, cursors[1].Newer)
			}
			// Back from the last page.
			back, err := s.Inbox(ctx, store.InboxQuery{Scope: store.Scope{All: true}, Limit: 3, Before: cursors[2].Newer})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(back), pages[1]) || back.Newer == "" || back.Older != cursors[1].Older {
				t.Fatalf("back a page: %v (newer %q older %q), want %v", ids(back), back.Newer, back.Older, pages[1])
			}
			first, err := s.Inbox(ctx, store.InboxQuery{Scope: store.Scope{All: true}, Limit: 3, Before: back.Newer})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(first), pages[0]) || first.Newer != "" {
				t.Fatalf("back to the first page: %v (newer %q), want %v", ids(first), first.Newer, pages[0])
			}
			if _, err := s.Inbox(ctx, store.InboxQuery{Scope: store.Scope{All: true}, After: "nope"}); err == nil {
				t.Fatal("bad cursor accepted")
			}
		})
	}
}

func TestInboxStateAndChanges(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dsnOf(t))
			seedInbox(t, s)
			later := day.Add(10 * time.Hour)
			changed, err := s.MarkInboxNew(ctx, "c1", later)
			if err != nil || !changed {
				t.Fatalf("mark new: %v %v", changed, err)
			}
			if err := s.SetInboxState(ctx, "c1", store.InboxHandled, "amy", later.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			// A repeated delivery leaves a handled voicemail handled.
			if changed, err := s.MarkInboxNew(ctx, "c1", later.Add(2*time.Minute)); err != nil || changed {
				t.Fatalf("mark new again: %v %v", changed, err)
			}
			it, err := s.InboxGet(ctx, "c1", store.Scope{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if it.State != store.InboxHandled || it.ChangedBy != "amy" || it.Voicemail.Receipts == nil {
				t.Fatalf("item %+v", it)
			}
			for _, err := range []error{
				s.SetInboxState(ctx, "nope", store.InboxHandled, "amy", later),
				s.AssignInbox(ctx, "nope", "amy", later),
				func() error { _, err := s.MarkInboxNew(ctx, "nope", later); return err }(),
				func() error { _, err := s.InboxGet(ctx, "c2", store.Scope{Queues: []string{queueA}}); return err }(),
			} {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("got %v, want ErrNotFound", err)
				}
			}
			changes, err := s.InboxChanges(ctx, later, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0].ContactID != "c1" || !changes[0].At.Equal(later.Add(time.Minute)) {
				t.Fatalf("changes since %v: %+v", later, changes)
			}
			changes, err = s.InboxChanges(ctx, day.Add(4*time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 2 || changes[0].ContactID != "c5" || changes[1].ContactID != "c1" {
				t.Fatalf("changes: %+v", changes)
			}
			queues, err := s.InboxQueues(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(queues, []store.Queue{{ARN: queueA}, {ARN: queueB, Name: "Sales"}}) {
				t.Fatalf("queues %+v", queues)
			}
			// Deleting the voicemail deletes its inbox state.
			if err := s.Delete(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			if changes, err := s.InboxChanges(ctx, later, 100); err != nil || len(changes) != 0 {
				t.Fatalf("changes after delete: %+v %v", changes, err)
			}
			put(t, s, &voicemail.Record{Request: voicemail.Request{ContactID: "c1", CallTime: day}})
			if it, err := s.InboxGet(ctx, "c1", store.Scope{All: true}); err != nil || it.State != store.InboxNone || it.Assignee != "" {
				t.Fatalf("recreated voicemail: %+v %v", it, err)
			}
		})
	}
}

func TestUsersAndSessions(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dsnOf(t))
			u := &store.User{Username: "amy", PasswordHash: "h1", Role: store.RoleAgent, AgentID: "a-1", AgentUsername: "Amy.C",
				Queues: []string{queueA, queueB}, CreatedAt: day, UpdatedAt: day}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(ctx, u); !errors.Is(err, store.ErrExists) {
				t.Fatalf("second create: %v", err)
			}
			if err := s.CreateUser(ctx, &store.User{Username: "root", PasswordHash: "h", Role: store.RoleAdmin, CreatedAt: day, UpdatedAt: day}); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetUser(ctx, "amy")
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != store.RoleAgent || got.AgentUsername != "Amy.C" || !slices.Equal(got.Queues, u.Queues) || !got.CreatedAt.Equal(day) {
				t.Fatalf("user %+v", got)
			}
			users, err := s.Users(ctx)
			if err != nil || len(users) != 2 || users[0].Username != "amy" || users[1].Queues == nil {
				t.Fatalf("users %+v %v", users, err)
			}

			if err := s.CreateSession(ctx, "s1", "amy", day, day.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateSession(ctx, "s2", "amy", day, day.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			su, exp, err := s.SessionUser(ctx, "s1", day.Add(time.Minute))
			if err != nil || su.Username != "amy" || !exp.Equal(day.Add(time.Hour)) || len(su.Queues) != 2 {
				t.Fatalf("session user %+v %v %v", su, exp, err)
			}
			if _, _, err := s.SessionUser(ctx, "s1", day.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("expired session: %v", err)
			}
			if n, err := s.DeleteExpiredSessions(ctx, day.Add(90*time.Minute)); err != nil || n != 1 {
				t.Fatalf("expired sessions deleted: %d %v", n, err)
			}
			// The same password hash keeps the sessions, a new one ends them.
			u.Role, u.UpdatedAt = store.RoleAdmin, day.Add(time.Minute)
			if err := s.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if su, _, err := s.SessionUser(ctx, "s2", day); err != nil || su.Role != store.RoleAdmin {
				t.Fatalf("session after role change: %+v %v", su, err)
			}
			u.PasswordHash = "h2"
			if err := s.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.SessionUser(ctx, "s2", day); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session after password change: %v", err)
			}
			if err := s.UpdateUser(ctx, &store.User{Username: "nobody"}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("update of a missing user: %v", err)
			}
			if err := s.CreateSession(ctx, "s3", "amy", day, day.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteSession(ctx, "s3"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.SessionUser(ctx, "s3", day); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted session: %v", err)
			}
			if err := s.CreateSession(ctx, "s4", "amy", day, day.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteUser(ctx, "amy"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.SessionUser(ctx, "s4", day); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session of a deleted user: %v", err)
			}
			if err := s.DeleteUser(ctx, "amy"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
		})
	}
}

// A database at version 1, from before the inbox, keeps its voicemails and
// gains the inbox, user and session tables.
func TestUpgradeAddsInbox(t *testing.T) {
	for name, dsnOf := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := dsnOf(t)
			s, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ResetToVersion(ctx, 1); err != nil {
				t.Fatal(err)
			}
			put(t, s, &voicemail.Record{Request: voicemail.Request{ContactID: "old", QueueARN: queueA, CallTime: day}})
			s.Close()

			s = openStore(t, dsn)
			if err := s.SetInboxState(ctx, "old", store.InboxHandled, "amy", day); err != nil {
				t.Fatal(err)
			}
			it, err := s.InboxGet(ctx, "old", store.Scope{Queues: []string{queueA}})
			if err != nil || it.State != store.InboxHandled {
				t.Fatalf("voicemail after upgrade: %+v %v", it, err)
			}
			if err := s.CreateUser(ctx, &store.User{Username: "amy", PasswordHash: "h", Role: store.RoleAgent, CreatedAt: day, UpdatedAt: day}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

package connect_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/clocktest"
	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

func newDirectory(t *testing.T, f *connecttest.Server, cfg connect.Config) *connect.Directory {
	t.Helper()
	d, err := connect.NewDirectory(client(f), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func route(t *testing.T, d *connect.Directory, req voicemail.Request) (voicemail.Route, []string) {
	t.Helper()
	req.ContactID = contactID
	r, warn, err := d.Route(context.Background(), &req)
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	return r, warn
}

func TestRouteQueue(t *testing.T) {
	f := newFake(t)
	f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales", Description: "Sales team"})
	d := newDirectory(t, f, connect.Config{})
	r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "queue"})
	want := voicemail.Route{QueueARN: queueARN, QueueName: "Sales"}
	if r != want || len(warn) != 0 {
		t.Errorf("Route = %+v, %q; want %+v, no warnings", r, warn, want)
	}
	rs := f.Requests("DescribeQueue")
	if len(rs) != 1 || rs[0].Path != "/queues/"+instanceID+"/"+queueID || !hasPrefixAuth(rs[0]) {
		t.Errorf("DescribeQueue requests = %+v", rs)
	}
}

// A VMX2 / VMX3-2024 voicemail left in an agent's personal queue.
func TestRouteAgentQueueARN(t *testing.T) {
	for _, tc := range []struct {
		field, want string
	}{
		{"", "jane@example.com"},
		{"Email", "jane@example.com"},
		{"secondaryemail", "jane.doe@example.org"},
		{"Username", "jdoe@example.com"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			f := newFake(t)
			f.AddUser(connecttest.User{ID: agentID, Username: "jdoe@example.com", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com", SecondaryEmail: "jane.doe@example.org"})
			d := newDirectory(t, f, connect.Config{AgentEmailField: tc.field})
			// AgentID comes from the ARN when the request leaves it empty.
			r, warn := route(t, d, voicemail.Request{QueueARN: agentQARN, Target: "agent"})
			want := voicemail.Route{QueueARN: agentQARN, AgentID: agentID, AgentUsername: "jdoe@example.com", AgentName: "Jane Doe", AgentEmail: tc.want}
			if r != want || len(warn) != 0 {
				t.Errorf("Route = %+v, %q; want %+v", r, warn, want)
			}
			if rs := f.Requests(""); len(rs) != 1 || rs[0].Path != "/users/"+instanceID+"/"+agentID {
				t.Errorf("requests = %+v, want one DescribeUser (a personal queue has no DescribeQueue)", rs)
			}
		})
	}
}

// VMX3-2025: vmx3_target=agent with vmx3_preferred_agent.
func TestRoutePreferredAgent(t *testing.T) {
	f := newFake(t)
	f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
	f.AddUser(connecttest.User{ID: agentID, Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com"})
	f.AddUser(connecttest.User{ID: "other-agent", Username: "jdoe2", FirstName: "John", LastName: "Doe", Email: "john@example.com"})
	d := newDirectory(t, f, connect.Config{})
	r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"})
	want := voicemail.Route{QueueARN: queueARN, QueueName: "Sales", AgentID: agentID, AgentUsername: "jdoe", AgentName: "Jane Doe", AgentEmail: "jane@example.com"}
	if r != want || len(warn) != 0 {
		t.Errorf("Route = %+v, %q; want %+v", r, warn, want)
	}
	body := f.Last("SearchUsers")
	wantBody := map[string]any{
		"InstanceId": instanceID,
		"MaxResults": float64(1),
		"SearchCriteria": map[string]any{"StringCondition": map[string]any{
			"FieldName": "Username", "Value": "jdoe", "ComparisonType": "EXACT"}},
	}
	if !reflect.DeepEqual(body, wantBody) {
		t.Errorf("SearchUsers body = %v\nwant %v", body, wantBody)
	}
	if rs := f.Requests("DescribeUser"); len(rs) != 1 || rs[0].Path != "/users/"+instanceID+"/"+agentID {
		t.Errorf("DescribeUser requests = %+v", rs)
	}
}

func TestRouteAgentNotFound(t *testing.T) {
	t.Run("preferred", func(t *testing.T) {
		f := newFake(t)
		f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
		d := newDirectory(t, f, connect.Config{})
		r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"})
		if want := (voicemail.Route{QueueARN: queueARN, QueueName: "Sales"}); r != want {
			t.Errorf("Route = %+v, want %+v", r, want)
		}
		if want := []string{`agent "jdoe" not found; routed to queue Sales`}; !reflect.DeepEqual(warn, want) {
			t.Errorf("warnings = %q, want %q", warn, want)
		}
	})
	t.Run("preferred lookup fails", func(t *testing.T) {
		f := newFake(t)
		f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
		f.FailNext("SearchUsers", fail(403, "AccessDeniedException"))
		d := newDirectory(t, f, connect.Config{})
		r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"})
		if r.AgentID != "" || r.QueueName != "Sales" || len(warn) != 1 ||
			!regexpMatch(`^agent "jdoe" could not be looked up \(.*AccessDeniedException.*\); routed to queue Sales$`, warn[0]) {
			t.Errorf("Route = %+v, %q", r, warn)
		}
	})
	t.Run("personal queue without fallback", func(t *testing.T) {
		f := newFake(t)
		d := newDirectory(t, f, connect.Config{})
		r, warn := route(t, d, voicemail.Request{QueueARN: agentQARN, Target: "agent"})
		if want := (voicemail.Route{QueueARN: agentQARN}); r != want {
			t.Errorf("Route = %+v, want %+v", r, want)
		}
		want := []string{"agent " + agentID + " not found; left in the agent's personal queue (no agent fallback queue is configured)"}
		if !reflect.DeepEqual(warn, want) {
			t.Errorf("warnings = %q, want %q", warn, want)
		}
	})
	t.Run("personal queue with fallback", func(t *testing.T) {
		f := newFake(t)
		f.AddQueue(connecttest.Queue{ID: "fallback-q", Name: "Voicemail"})
		fb := arnPrefix + "/queue/fallback-q"
		d := newDirectory(t, f, connect.Config{AgentFallbackQueueARN: fb})
		r, warn := route(t, d, voicemail.Request{QueueARN: agentQARN, Target: "agent"})
		if want := (voicemail.Route{QueueARN: fb, QueueName: "Voicemail"}); r != want {
			t.Errorf("Route = %+v, want %+v", r, want)
		}
		want := []string{"agent " + agentID + " not found; routed to queue Voicemail"}
		if !reflect.DeepEqual(warn, want) {
			t.Errorf("warnings = %q, want %q", warn, want)
		}
	})
	t.Run("no preferred agent named", func(t *testing.T) {
		f := newFake(t)
		f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
		d := newDirectory(t, f, connect.Config{})
		_, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "agent"})
		if want := []string{"target is agent but no preferred agent is named; routed to queue Sales"}; !reflect.DeepEqual(warn, want) {
			t.Errorf("warnings = %q, want %q", warn, want)
		}
	})
}

func TestRouteQueueEmail(t *testing.T) {
	for _, tc := range []struct {
		name, desc string
		tags       map[string]string
		email      string
		warn       []string
	}{
		{name: "tag", tags: map[string]string{"vmx3_queue_email": "sales@example.com"}, email: "sales@example.com"},
		{name: "tag with display name", tags: map[string]string{"vmx3_queue_email": "Sales <sales@example.com>"}, email: "sales@example.com"},
		{name: "QVMB", desc: "Basic queue. QVMB::team@example.com", email: "team@example.com"},
		{name: "QVMB at the end of a sentence", desc: "Mail QVMB::team@example.com. Thanks", email: "team@example.com"},
		{name: "QVMB with a space", desc: "QVMB:: team@example.com", email: "team@example.com"},
		{name: "tag wins over QVMB", desc: "QVMB::old@example.com", tags: map[string]string{"vmx3_queue_email": "new@example.com"}, email: "new@example.com"},
		{name: "empty tag falls back to QVMB", desc: "QVMB::old@example.com", tags: map[string]string{"vmx3_queue_email": " "}, email: "old@example.com"},
		{name: "no address", desc: "Sales team"},
		{name: "bad tag", tags: map[string]string{"vmx3_queue_email": "sales at example"},
			warn: []string{`queue Sales: tag vmx3_queue_email "sales at example" is not an e-mail address`}},
		{name: "bad QVMB", desc: "QVMB::nobody",
			warn: []string{`queue Sales: QVMB::nobody in the description is not an e-mail address`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales", Description: tc.desc, Tags: tc.tags})
			d := newDirectory(t, f, connect.Config{})
			r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN})
			if r.QueueEmail != tc.email || !reflect.DeepEqual(warn, tc.warn) {
				t.Errorf("QueueEmail = %q, warnings %q; want %q, %q", r.QueueEmail, warn, tc.email, tc.warn)
			}
		})
	}
}

func TestRouteQueueLookupFails(t *testing.T) {
	t.Run("server error", func(t *testing.T) {
		f := newFake(t)
		f.FailNext("DescribeQueue", fail(500, "InternalServiceException"))
		d := newDirectory(t, f, connect.Config{})
		r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN})
		if r != (voicemail.Route{QueueARN: queueARN}) || len(warn) != 1 ||
			!regexpMatch(`^queue `+queueID+` could not be looked up \(.*InternalServiceException.*\); routed by ARN without a name$`, warn[0]) {
			t.Errorf("Route = %+v, %q", r, warn)
		}
		// A failure is not cached: the next voicemail looks again.
		f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
		if r, _ := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN}); r.QueueName != "Sales" {
			t.Errorf("after recovery QueueName = %q", r.QueueName)
		}
	})
	t.Run("not found", func(t *testing.T) {
		f := newFake(t)
		d := newDirectory(t, f, connect.Config{})
		r, warn := route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN})
		want := []string{"queue " + queueID + " not found in instance " + instanceID + "; routed by ARN without a name"}
		if r != (voicemail.Route{QueueARN: queueARN}) || !reflect.DeepEqual(warn, want) {
			t.Errorf("Route = %+v, %q", r, warn)
		}
	})
}

func TestRouteThrottled(t *testing.T) {
	for _, op := range []string{"DescribeQueue", "SearchUsers", "DescribeUser"} {
		t.Run(op, func(t *testing.T) {
			f := newFake(t)
			f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
			f.AddUser(connecttest.User{ID: agentID, Username: "jdoe", FirstName: "Jane", LastName: "Doe"})
			f.FailNext(op, fail(429, "ThrottlingException"))
			d := newDirectory(t, f, connect.Config{})
			req := voicemail.Request{ContactID: contactID, InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"}
			_, _, err := d.Route(context.Background(), &req)
			if delay, ok := retry.Delay(err); !ok || delay <= 0 || retry.IsPermanent(err) {
				t.Fatalf("Route error = %v (delay %v, %v); want a retry.After error", err, delay, ok)
			}
			// The retry routes to the agent.
			if r, _ := route(t, d, req); r.AgentID != agentID {
				t.Errorf("retry Route = %+v", r)
			}
		})
	}
}

func TestRouteNoInstance(t *testing.T) {
	d := newDirectory(t, newFake(t), connect.Config{})
	_, _, err := d.Route(context.Background(), &voicemail.Request{ContactID: contactID})
	if !retry.IsPermanent(err) {
		t.Errorf("Route without instance = %v, want a permanent error", err)
	}
}

func TestRouteCache(t *testing.T) {
	f := newFake(t)
	f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
	f.AddUser(connecttest.User{ID: agentID, Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com"})
	clk := clocktest.At(time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC))
	d := newDirectory(t, f, connect.Config{CacheTTL: time.Minute, Now: clk.Now})
	req := voicemail.Request{InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"}

	first, _ := route(t, d, req)
	if n := len(f.Requests("")); n != 3 {
		t.Fatalf("first Route made %d requests, want 3 (SearchUsers, DescribeUser, DescribeQueue)", n)
	}
	// Concurrent lookups within the TTL are served from the cache.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r, _, err := d.Route(context.Background(), &voicemail.Request{ContactID: contactID, InstanceID: instanceID, QueueARN: queueARN, Target: "agent", Preferred: "jdoe"})
			if err != nil || r != first {
				t.Errorf("cached Route = %+v, %v; want %+v", r, err, first)
			}
		})
	}
	wg.Wait()
	clk.Advance(59 * time.Second)
	route(t, d, req)
	if n := len(f.Requests("")); n != 3 {
		t.Fatalf("Routes within the TTL made %d requests in all, want 3", n)
	}
	clk.Advance(time.Second)
	f.AddUser(connecttest.User{ID: agentID, Username: "jdoe", FirstName: "Jane", LastName: "Roe", Email: "jane@example.com"})
	r, _ := route(t, d, req)
	if n := len(f.Requests("")); n != 6 {
		t.Fatalf("Route after the TTL made %d requests in all, want 6", n)
	}
	if r.AgentName != "Jane Roe" {
		t.Errorf("after the TTL AgentName = %q, want the new name", r.AgentName)
	}
}

func TestRouteCacheOff(t *testing.T) {
	f := newFake(t)
	f.AddQueue(connecttest.Queue{ID: queueID, Name: "Sales"})
	d := newDirectory(t, f, connect.Config{CacheTTL: -1})
	for range 2 {
		route(t, d, voicemail.Request{InstanceID: instanceID, QueueARN: queueARN})
	}
	if n := len(f.Requests("DescribeQueue")); n != 2 {
		t.Errorf("with the cache off, 2 Routes made %d requests", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (connect.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	good := connect.Config{
		Endpoint:              "https://connect.us-east-1.amazonaws.com",
		TaskFlowID:            arnPrefix + "/contact-flow/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		GuidedTaskFlowID:      "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee",
		AgentEmailField:       "SecondaryEmail",
		AgentFallbackQueueARN: queueARN,
		CacheTTL:              time.Minute,
		CacheSize:             10,
		GuidedLinkTTL:         5 * time.Minute,
	}
	if err := good.Validate(); err != nil {
		t.Errorf("good Config: %v", err)
	}
	bad := connect.Config{
		Endpoint:              "ftp://x",
		TaskFlowID:            "not a flow",
		TaskTemplateID:        "tmpl",
		GuidedTaskFlowID:      arnPrefix + "/queue/x",
		AgentEmailField:       "Phone",
		AgentFallbackQueueARN: agentQARN,
		CacheSize:             -1,
		GuidedLinkTTL:         time.Second,
	}
	err := bad.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 8 {
		t.Fatalf("bad Config: %v; want 8 problems", err)
	}
	for _, e := range joined.Unwrap() {
		if !regexpMatch(`^connect: config: `, e.Error()) {
			t.Errorf("problem %q lacks the package context", e)
		}
	}
	if _, err := connect.NewDirectory(client(newFake(t)), bad); err == nil {
		t.Error("NewDirectory accepted a bad Config")
	}
}

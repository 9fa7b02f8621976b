package awsstate_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/awsstate/awsstatetest"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/pipeline/statetest"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

type fixture struct {
	state *awsstate.State
	db    *awsstatetest.DynamoDB
	q     *awsstatetest.SQS
}

func newFixture(t *testing.T, ttl time.Duration) *fixture {
	t.Helper()
	f := &fixture{db: awsstatetest.NewDynamoDB(t), q: awsstatetest.NewSQS(t)}
	f.state = f.newState(t, ttl)
	return f
}

// newState returns another State on the same table and queue: another
// Lambda invocation.
func (f *fixture) newState(t *testing.T, ttl time.Duration) *awsstate.State {
	t.Helper()
	s, err := awsstate.New(f.db.Client(), f.q.Client(), awsstate.Config{Table: awsstatetest.Table, QueueURL: f.q.QueueURL(), TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jobs decodes every message sent so far.
func (f *fixture) jobs(t *testing.T) []pipeline.Job {
	t.Helper()
	var out []pipeline.Job
	for _, m := range f.q.Sent() {
		job, err := awsstate.DecodeMessage(m.Body)
		if err != nil {
			t.Fatalf("message %q: %v", m.Body, err)
		}
		out = append(out, job)
	}
	return out
}

func TestContract(t *testing.T) {
	statetest.Run(t, func(t *testing.T) statetest.Harness {
		f := newFixture(t, 0)
		t.Cleanup(func() {
			// Every read was strongly consistent: the fake serves the others
			// stale, which the contract would have caught, but say so.
			for _, r := range f.db.Reads() {
				if !r.Consistent {
					t.Errorf("GetItem of %s without ConsistentRead", r.Key)
				}
			}
		})
		return statetest.Harness{State: f.state, Jobs: f.jobs}
	})
}

func TestNewChecksConfig(t *testing.T) {
	_, err := awsstate.New(nil, nil, awsstate.Config{TTL: -time.Hour})
	want := "awsstate: no DynamoDB client, no SQS client, no table, no queue URL, TTL -1h0m0s is negative"
	if err == nil || err.Error() != want {
		t.Fatalf("New: %v, want %q", err, want)
	}
}

const contact = "2f6d1c3a-8b4e-4f5a-9c7d-0e1f2a3b4c5d"

func newRecord(id string) *voicemail.Record {
	return &voicemail.Record{
		Request:   voicemail.Request{ContactID: id, Caller: "+15555550100", Language: "en-US", Mode: "webhook"},
		Status:    voicemail.StatusQueued,
		Run:       1,
		Steps:     map[string]time.Time{},
		CreatedAt: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC),
	}
}

func attrS(t *testing.T, item map[string]types.AttributeValue, name string) string {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("attribute %s is %T, want S", name, item[name])
	}
	return v.Value
}

func attrN(t *testing.T, item map[string]types.AttributeValue, name string) string {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s is %T, want N", name, item[name])
	}
	return v.Value
}

// The item is laid out as the template's table and TTL expect.
func TestItemLayout(t *testing.T) {
	ctx := context.Background()
	const ttl = 90 * 24 * time.Hour
	f := newFixture(t, ttl)
	rec := newRecord(contact)
	if _, err := f.state.Insert(ctx, rec); err != nil {
		t.Fatal(err)
	}
	delivered := voicemail.Receipt{Sink: "webhook", Key: contact + ":webhook", Detail: "200 OK", DeliveredAt: rec.CreatedAt.Add(time.Minute)}
	if err := f.state.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
		r.Transcript = "hello"
		r.Receipts = append(r.Receipts, delivered)
		return true, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	item := f.db.Item(contact)
	if attrS(t, item, "contact_id") != contact || attrN(t, item, "version") != "2" {
		t.Fatalf("item %v", item)
	}
	if got, want := attrN(t, item, "expires_at"), strconv.FormatInt(rec.CreatedAt.Add(ttl).Unix(), 10); got != want {
		t.Fatalf("expires_at %s, want %s (created + TTL)", got, want)
	}
	var stored map[string]any
	if err := json.Unmarshal([]byte(attrS(t, item, "record")), &stored); err != nil {
		t.Fatal(err)
	}
	if stored["transcript"] != "hello" || stored["contact_id"] != contact || stored["receipts"] != nil {
		t.Fatalf("record %v: want the voicemail without its receipts", stored)
	}
	receipts, ok := item["receipts"].(*types.AttributeValueMemberM)
	if !ok || len(receipts.Value) != 1 {
		t.Fatalf("receipts %#v", item["receipts"])
	}
	var got voicemail.Receipt
	if err := json.Unmarshal([]byte(attrS(t, receipts.Value, "webhook")), &got); err != nil || got != delivered {
		t.Fatalf("webhook receipt %+v (%v), want %+v", got, err, delivered)
	}
	if len(item) != 5 {
		t.Fatalf("item has %d attributes, want 5: %v", len(item), item)
	}

	f = newFixture(t, 0)
	if _, err := f.state.Insert(ctx, newRecord(contact)); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.db.Item(contact)["expires_at"]; ok {
		t.Fatalf("expires_at %v without a TTL", v)
	}
}

// A writer that gets in between the read and the write makes the write
// fail its condition; the change runs again on the newer voicemail and
// both writers' receipts are kept.
func TestVersionConflictRetried(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	other := f.newState(t, 0)
	if _, err := f.state.Insert(ctx, newRecord(contact)); err != nil {
		t.Fatal(err)
	}
	emailed := voicemail.Receipt{Sink: "email", Key: contact + ":email", Detail: "msg-1", DeliveredAt: time.Date(2026, 2, 3, 4, 6, 0, 0, time.UTC)}
	hooked := voicemail.Receipt{Sink: "webhook", Key: contact + ":webhook", Detail: "200 OK", DeliveredAt: time.Date(2026, 2, 3, 4, 7, 0, 0, time.UTC)}
	f.db.BeforeNext("UpdateItem", func() {
		if err := other.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
			r.Receipts = append(r.Receipts, emailed)
			return true, []pipeline.Job{pipeline.DeliverArgs{ContactID: contact, Run: 1, Sink: "email"}}, nil
		}); err != nil {
			t.Error(err)
		}
	})
	var seen []int
	if err := f.state.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
		seen = append(seen, len(r.Receipts))
		r.Receipts = append(r.Receipts, hooked)
		return true, []pipeline.Job{pipeline.FinalizeArgs{ContactID: contact, Run: 1}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{0, 1}) {
		t.Fatalf("change saw %v receipts; want 0, then 1 after the conflict", seen)
	}
	rec, err := f.state.Get(ctx, contact)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Receipts, []voicemail.Receipt{emailed, hooked}) {
		t.Fatalf("receipts %+v", rec.Receipts)
	}
	if v := attrN(t, f.db.Item(contact), "version"); v != "3" {
		t.Fatalf("version %s, want 3", v)
	}
	// The conflicting round sent nothing: each writer's job once.
	want := []pipeline.Job{pipeline.DeliverArgs{ContactID: contact, Run: 1, Sink: "email"}, pipeline.FinalizeArgs{ContactID: contact, Run: 1}}
	if got := f.jobs(t); !slices.Equal(got, want) {
		t.Fatalf("jobs %v, want %v", got, want)
	}
}

// An update that loses every round gives up with an error, having sent
// nothing.
func TestVersionConflictsBounded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	other := f.newState(t, 0)
	if _, err := f.state.Insert(ctx, newRecord(contact)); err != nil {
		t.Fatal(err)
	}
	var interfere func()
	interfere = func() {
		if err := other.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
			r.Warnings = append(r.Warnings, "interference")
			return true, nil, nil
		}); err != nil {
			t.Error(err)
		}
		f.db.BeforeNext("UpdateItem", interfere)
	}
	f.db.BeforeNext("UpdateItem", interfere)
	rounds := 0
	err := f.state.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
		rounds++
		r.Transcript = "never stored"
		return true, []pipeline.Job{pipeline.TranscribeArgs{ContactID: contact, Run: 1}}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "other writers changed it 10 times in a row") {
		t.Fatalf("update: %v", err)
	}
	if rounds != awsstate.MaxAttempts || len(f.q.Sent()) != 0 {
		t.Fatalf("%d rounds, %d messages; want %d and none", rounds, len(f.q.Sent()), awsstate.MaxAttempts)
	}
	rec, err := f.state.Get(ctx, contact)
	if err != nil || rec.Transcript != "" || len(rec.Warnings) != awsstate.MaxAttempts {
		t.Fatalf("voicemail %+v, %v", rec, err)
	}
}

// A step's next job is sent only once its change is stored: the step
// that runs it must find it.
func TestJobsSentAfterChangeStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	if _, err := f.state.Insert(ctx, newRecord(contact)); err != nil {
		t.Fatal(err)
	}
	var atSend string
	f.q.BeforeNext("SendMessage", func() {
		rec, err := f.state.Get(ctx, contact)
		if err != nil {
			t.Error(err)
			return
		}
		atSend = rec.AudioKey
	})
	if err := f.state.Update(ctx, contact, func(r *voicemail.Record) (bool, []pipeline.Job, error) {
		r.AudioKey = "recordings/2026/02/03/" + contact + ".wav"
		return true, []pipeline.Job{pipeline.TranscribeArgs{ContactID: contact, Run: 1}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if atSend != "recordings/2026/02/03/"+contact+".wav" {
		t.Fatalf("when the job was sent the voicemail had audio key %q", atSend)
	}
}

// A repeated contact record is not stored again, but its first step is
// sent again: the first attempt may have stopped between the two. When
// the first send did happen, the FIFO queue's deduplication keeps one.
func TestRepeatedInsertSendsAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, time.Hour)
	job := pipeline.AudioArgs{ContactID: contact, Run: 1}
	for i, want := range []bool{true, false} {
		rec := newRecord(contact)
		rec.Caller = "+1555555010" + strconv.Itoa(i)
		inserted, err := f.state.Insert(ctx, rec, job)
		if err != nil || inserted != want {
			t.Fatalf("insert %d: %v, %v", i, inserted, err)
		}
	}
	if n := f.q.Calls("SendMessage"); n != 2 {
		t.Fatalf("SendMessage called %d times, want 2", n)
	}
	if got := f.jobs(t); !slices.Equal(got, []pipeline.Job{job}) {
		t.Fatalf("queued jobs %v, want the one", got)
	}
	if m := f.q.Sent(); m[0].GroupID != contact {
		t.Fatalf("message group %q, want the contact", m[0].GroupID)
	}
	rec, err := f.state.Get(ctx, contact)
	if err != nil || rec.Caller != "+15555550100" {
		t.Fatalf("voicemail %+v, %v: the repeat must change nothing", rec, err)
	}
}

func TestRetryAfter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	if _, err := f.state.Insert(ctx, newRecord(contact), pipeline.AudioArgs{ContactID: contact, Run: 1}); err != nil {
		t.Fatal(err)
	}
	msgs := f.q.Receive()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	var want []awsstatetest.VisibilityChange
	for _, tc := range []struct {
		d    time.Duration
		secs int
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Millisecond, 1},
		{1500 * time.Millisecond, 2},
		{30 * time.Second, 30},
		{12 * time.Hour, 43200},
		{13 * time.Hour, 43200},
		{math.MaxInt64, 43200},
	} {
		if err := f.state.RetryAfter(ctx, msgs[0].ReceiptHandle, tc.d); err != nil {
			t.Fatalf("retry after %v: %v", tc.d, err)
		}
		want = append(want, awsstatetest.VisibilityChange{MessageID: msgs[0].ID, Seconds: tc.secs})
	}
	if got := f.q.Changes(); !slices.Equal(got, want) {
		t.Fatalf("visibility changes %v, want %v", got, want)
	}
	var invalid *sqstypes.ReceiptHandleIsInvalid
	if err := f.state.RetryAfter(ctx, "not-a-handle", time.Second); !errors.As(err, &invalid) {
		t.Fatalf("retry of an unknown handle: %v", err)
	}
}

// Errors from AWS are reported as such, never as a missing voicemail.
func TestAWSErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	noTable, err := awsstate.New(f.db.Client(), f.q.Client(), awsstate.Config{Table: "other", QueueURL: f.q.QueueURL()})
	if err != nil {
		t.Fatal(err)
	}
	var missing *types.ResourceNotFoundException
	if _, err := noTable.Get(ctx, contact); !errors.As(err, &missing) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get from a missing table: %v", err)
	}
	noQueue, err := awsstate.New(f.db.Client(), f.q.Client(), awsstate.Config{Table: awsstatetest.Table, QueueURL: f.q.QueueURL() + "-gone"})
	if err != nil {
		t.Fatal(err)
	}
	var gone *sqstypes.QueueDoesNotExist
	if _, err := noQueue.Insert(ctx, newRecord(contact), pipeline.AudioArgs{ContactID: contact, Run: 1}); !errors.As(err, &gone) {
		t.Fatalf("insert with a missing queue: %v", err)
	}
	// The voicemail is stored; the CTR retry sends its step.
	if inserted, err := f.state.Insert(ctx, newRecord(contact), pipeline.AudioArgs{ContactID: contact, Run: 1}); err != nil || inserted {
		t.Fatalf("retried insert: %v, %v", inserted, err)
	}
	if got := f.jobs(t); len(got) != 1 {
		t.Fatalf("jobs %v", got)
	}
}

// An item that State did not write is refused with a reason.
func TestForeignItem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	for _, tc := range []struct {
		item map[string]types.AttributeValue
		want string
	}{
		{map[string]types.AttributeValue{}, "item has no record string"},
		{map[string]types.AttributeValue{"record": &types.AttributeValueMemberS{Value: "{"}}, "record: unexpected end of JSON input"},
		{map[string]types.AttributeValue{"record": &types.AttributeValueMemberS{Value: "{}"}}, "item has no version number"},
		{map[string]types.AttributeValue{"record": &types.AttributeValueMemberS{Value: "{}"}, "version": &types.AttributeValueMemberN{Value: "1"}},
			"item has no receipts map"},
		{map[string]types.AttributeValue{"record": &types.AttributeValueMemberS{Value: "{}"}, "version": &types.AttributeValueMemberN{Value: "1"},
			"receipts": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"webhook": &types.AttributeValueMemberN{Value: "1"}}}},
			"receipt webhook is not a string"},
	} {
		tc.item["contact_id"] = &types.AttributeValueMemberS{Value: contact}
		if _, err := f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(awsstatetest.Table), Item: tc.item}); err != nil {
			t.Fatal(err)
		}
		_, err := f.state.Get(ctx, contact)
		if err == nil || err.Error() != "awsstate: get "+contact+": "+tc.want {
			t.Errorf("get of %v: %v, want %q", tc.item, err, tc.want)
		}
	}
}

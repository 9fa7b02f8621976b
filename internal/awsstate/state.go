// Package awsstate keeps vmx's voicemails in DynamoDB and their pending
// steps in SQS: pipeline.State for vmx on AWS Lambda, where nothing lives
// in a function's memory between invocations.
//
// An item is one voicemail: contact_id (the partition key), record (the
// voicemail.Record as JSON, without its receipts), receipts (a map from
// sink to the receipt as JSON), version (a number every write is
// conditional on) and, when a TTL is set, expires_at (epoch seconds, the
// table's TTL attribute). A step is an SQS message {"kind":…,"args":{…}}.
package awsstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// DynamoDB is the part of *dynamodb.Client State uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// SQS is the part of *sqs.Client State uses.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Config names the table and queue.
type Config struct {
	Table    string // DynamoDB table, partition key contact_id (S)
	QueueURL string // SQS queue of steps
	// TTL is how long after its creation an item expires (the table's TTL
	// attribute expires_at); 0 keeps items.
	TTL time.Duration
	Now func() time.Time // default time.Now
}

// State keeps voicemails in a DynamoDB table and their steps in an SQS
// queue.
type State struct {
	db  DynamoDB
	q   SQS
	cfg Config
}

var _ pipeline.State = (*State)(nil)

// Item attributes.
const (
	attrID       = "contact_id"
	attrRecord   = "record"
	attrReceipts = "receipts"
	attrVersion  = "version"
	attrExpires  = "expires_at"
)

// The only expressions State sends.
const (
	// condNew makes Insert a no-op for a stored contact.
	condNew = "attribute_not_exists(#id)"
	// condVersion makes a write fail when another writer got there
	// first. The receipts map is written whole: as the write holds only
	// if nothing changed since the read, it keeps every stored receipt.
	condVersion = "#version = :version"
	setAll      = "SET #record = :record, #receipts = :receipts, #version = :next"
)

// maxAttempts bounds the read-change-write rounds of one Update: each
// lost round means another writer succeeded, and a voicemail has a
// handful of writers at once (one per destination).
const maxAttempts = 10

// maxVisibility is SQS's longest visibility timeout.
const maxVisibility = 12 * time.Hour

// New returns a State on db and q.
func New(db DynamoDB, q SQS, cfg Config) (*State, error) {
	var problems []string
	if db == nil {
		problems = append(problems, "no DynamoDB client")
	}
	if q == nil {
		problems = append(problems, "no SQS client")
	}
	if cfg.Table == "" {
		problems = append(problems, "no table")
	}
	if cfg.QueueURL == "" {
		problems = append(problems, "no queue URL")
	}
	if cfg.TTL < 0 {
		problems = append(problems, fmt.Sprintf("TTL %s is negative", cfg.TTL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("awsstate: %s", strings.Join(problems, ", "))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &State{db: db, q: q, cfg: cfg}, nil
}

// Get implements pipeline.State with a strongly consistent read: a step
// acts on what it reads, so it must see every earlier step's write.
func (s *State) Get(ctx context.Context, contactID string) (*voicemail.Record, error) {
	rec, _, err := s.read(ctx, contactID)
	return rec, err
}

// Insert implements pipeline.State. A contact already stored is left as
// it is, but next is sent again: the put and the sends are not one
// transaction, so a crash between them must be mended by the repeat the
// CTR batch's retry brings. Steps tolerate running twice.
func (s *State) Insert(ctx context.Context, rec *voicemail.Record, next ...pipeline.Job) (bool, error) {
	if rec.ContactID == "" {
		return false, errors.New("awsstate: insert: no contact id")
	}
	stored := *rec
	if stored.CreatedAt.IsZero() {
		stored.CreatedAt = s.now()
	}
	stored.UpdatedAt = stored.CreatedAt
	receipts := map[string]voicemail.Receipt{}
	addReceipts(receipts, rec.Receipts)
	item, err := encodeItem(&stored, receipts)
	if err != nil {
		return false, fmt.Errorf("awsstate: insert %s: %w", rec.ContactID, err)
	}
	item[attrID] = &types.AttributeValueMemberS{Value: rec.ContactID}
	item[attrVersion] = number(1)
	if s.cfg.TTL > 0 {
		item[attrExpires] = number(stored.CreatedAt.Add(s.cfg.TTL).Unix())
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.cfg.Table,
		Item:                     item,
		ConditionExpression:      aws.String(condNew),
		ExpressionAttributeNames: map[string]string{"#id": attrID},
	})
	inserted := err == nil
	if err != nil && !conflict(err) {
		return false, fmt.Errorf("awsstate: insert %s: %w", rec.ContactID, err)
	}
	return inserted, s.send(ctx, next)
}

// Update implements pipeline.State by optimistic concurrency: it reads
// the item, runs change, and writes on condition that the version read is
// still the stored one; when another writer got there first, it reads
// again and runs change on the newer voicemail. Receipts are only ever
// added, one per sink. next is sent once the change is stored, and also
// when change does not save.
func (s *State) Update(ctx context.Context, contactID string, change func(*voicemail.Record) (bool, []pipeline.Job, error)) error {
	for range maxAttempts {
		rec, version, err := s.read(ctx, contactID)
		if err != nil {
			return err
		}
		receipts := map[string]voicemail.Receipt{}
		addReceipts(receipts, rec.Receipts)
		save, next, err := change(rec)
		if err != nil {
			return err
		}
		if save {
			err := s.write(ctx, contactID, rec, receipts, version)
			if conflict(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("awsstate: update %s: %w", contactID, err)
			}
		}
		return s.send(ctx, next)
	}
	return fmt.Errorf("awsstate: update %s: other writers changed it %d times in a row", contactID, maxAttempts)
}

// Delete implements pipeline.State.
func (s *State) Delete(ctx context.Context, contactID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.cfg.Table, Key: key(contactID)})
	if err != nil {
		return fmt.Errorf("awsstate: delete %s: %w", contactID, err)
	}
	return nil
}

// RetryAfter makes the step message with receiptHandle, which failed,
// come back after d (rounded up to whole seconds, at most 12 hours): a
// step that asked to wait (retry.Delay).
func (s *State) RetryAfter(ctx context.Context, receiptHandle string, d time.Duration) error {
	secs := int32(0)
	switch {
	case d >= maxVisibility:
		secs = int32(maxVisibility / time.Second)
	case d > 0:
		secs = int32((d + time.Second - 1) / time.Second)
	}
	_, err := s.q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          &s.cfg.QueueURL,
		ReceiptHandle:     &receiptHandle,
		VisibilityTimeout: secs,
	})
	if err != nil {
		return fmt.Errorf("awsstate: retry after %ds: %w", secs, err)
	}
	return nil
}

func (s *State) now() time.Time { return s.cfg.Now().UTC() }

// read returns the voicemail and its item's version.
func (s *State) read(ctx context.Context, contactID string) (*voicemail.Record, int64, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.cfg.Table,
		Key:            key(contactID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("awsstate: get %s: %w", contactID, err)
	}
	if len(out.Item) == 0 {
		return nil, 0, fmt.Errorf("awsstate: get %s: %w", contactID, store.ErrNotFound)
	}
	rec, version, err := decodeItem(out.Item)
	if err != nil {
		return nil, 0, fmt.Errorf("awsstate: get %s: %w", contactID, err)
	}
	rec.ContactID = contactID
	return rec, version, nil
}

// write stores rec as the version after version, with its new receipts
// added to those read.
func (s *State) write(ctx context.Context, contactID string, rec *voicemail.Record, receipts map[string]voicemail.Receipt, version int64) error {
	addReceipts(receipts, rec.Receipts)
	rec.UpdatedAt = s.now()
	item, err := encodeItem(rec, receipts)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.cfg.Table,
		Key:                 key(contactID),
		UpdateExpression:    aws.String(setAll),
		ConditionExpression: aws.String(condVersion),
		ExpressionAttributeNames: map[string]string{
			"#record": attrRecord, "#receipts": attrReceipts, "#version": attrVersion,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":record":   item[attrRecord],
			":receipts": item[attrReceipts],
			":version":  number(version),
			":next":     number(version + 1),
		},
	})
	return err
}

// send enqueues jobs, one message each, on a FIFO queue: the contact is
// the message group, so that its steps run one at a time, and the job
// the deduplication id, so that a step sent again within five minutes is
// not queued twice. Two copies of a step running at once could both
// deliver before either stored its receipt; on a FIFO queue they cannot.
func (s *State) send(ctx context.Context, jobs []pipeline.Job) error {
	for _, job := range jobs {
		body, err := EncodeJob(job)
		if err != nil {
			return err
		}
		id, _ := job.Contact()
		sum := sha256.Sum256([]byte(body))
		dedup := hex.EncodeToString(sum[:])
		if _, err := s.q.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: &s.cfg.QueueURL, MessageBody: &body,
			MessageGroupId: &id, MessageDeduplicationId: &dedup,
		}); err != nil {
			return fmt.Errorf("awsstate: send %s: %w", body, err)
		}
	}
	return nil
}

// conflict reports a failed condition: the contact exists (Insert) or
// another writer changed it (Update).
func conflict(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// addReceipts adds to m the receipts of sinks it has none for: the first
// receipt of a sink stays.
func addReceipts(m map[string]voicemail.Receipt, rs []voicemail.Receipt) {
	for _, r := range rs {
		if _, ok := m[r.Sink]; !ok {
			m[r.Sink] = r
		}
	}
}

func key(contactID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrID: &types.AttributeValueMemberS{Value: contactID}}
}

func number(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// encodeItem returns the record and receipts attributes.
func encodeItem(rec *voicemail.Record, receipts map[string]voicemail.Receipt) (map[string]types.AttributeValue, error) {
	bare := *rec
	bare.Receipts = nil
	b, err := json.Marshal(&bare)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	m := make(map[string]types.AttributeValue, len(receipts))
	for sink, r := range receipts {
		rb, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("receipt %s: %w", sink, err)
		}
		m[sink] = &types.AttributeValueMemberS{Value: string(rb)}
	}
	return map[string]types.AttributeValue{
		attrRecord:   &types.AttributeValueMemberS{Value: string(b)},
		attrReceipts: &types.AttributeValueMemberM{Value: m},
	}, nil
}

// decodeItem reads an item back, receipts in the order they were
// delivered (as SQLState returns them).
func decodeItem(item map[string]types.AttributeValue) (*voicemail.Record, int64, error) {
	raw, ok := item[attrRecord].(*types.AttributeValueMemberS)
	if !ok {
		return nil, 0, fmt.Errorf("item has no %s string", attrRecord)
	}
	var rec voicemail.Record
	if err := json.Unmarshal([]byte(raw.Value), &rec); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", attrRecord, err)
	}
	n, ok := item[attrVersion].(*types.AttributeValueMemberN)
	if !ok {
		return nil, 0, fmt.Errorf("item has no %s number", attrVersion)
	}
	version, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", attrVersion, err)
	}
	m, ok := item[attrReceipts].(*types.AttributeValueMemberM)
	if !ok {
		return nil, 0, fmt.Errorf("item has no %s map", attrReceipts)
	}
	rec.Receipts = make([]voicemail.Receipt, 0, len(m.Value))
	for sink, v := range m.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return nil, 0, fmt.Errorf("receipt %s is not a string", sink)
		}
		var r voicemail.Receipt
		if err := json.Unmarshal([]byte(s.Value), &r); err != nil {
			return nil, 0, fmt.Errorf("receipt %s: %w", sink, err)
		}
		r.Sink = sink
		rec.Receipts = append(rec.Receipts, r)
	}
	slices.SortFunc(rec.Receipts, func(a, b voicemail.Receipt) int {
		if c := a.DeliveredAt.Compare(b.DeliveredAt); c != 0 {
			return c
		}
		return strings.Compare(a.Sink, b.Sink)
	})
	if rec.Steps == nil {
		rec.Steps = map[string]time.Time{}
	}
	return &rec, version, nil
}

package awsstatetest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/vmx-dev/vmx/internal/awsstate/awsstatetest"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"contact_id": s(id)}
}

// apiError fails unless err is the service error code with status 400 and
// a message containing msg.
func apiError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if ae.ErrorCode() != code || re.HTTPStatusCode() != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("%s: %s %d %q, want %s 400 %q", what, ae.ErrorCode(), re.HTTPStatusCode(), ae.ErrorMessage(), code, msg)
	}
}

// The real client reads the fake's replies: items, the conditional-check
// failure as its typed error, DynamoDB's validation errors.
func TestDynamoDBWire(t *testing.T) {
	ctx := context.Background()
	fake := awsstatetest.NewDynamoDB(t)
	db := fake.Client()
	table := aws.String(awsstatetest.Table)
	put := &dynamodb.PutItemInput{
		TableName: table,
		Item: map[string]types.AttributeValue{"contact_id": s("c-1"), "version": n("1"), "m": &types.AttributeValueMemberM{
			Value: map[string]types.AttributeValue{"a": s("x"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBOOL{Value: true}}}}}},
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": "contact_id"},
	}
	if _, err := db.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutItem(ctx, put)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second conditional put: %v", err)
	}
	apiError(t, "second conditional put", err, "ConditionalCheckFailedException", "The conditional request failed")

	// Numbers compare by value.
	update := &dynamodb.UpdateItemInput{
		TableName: table, Key: key("c-1"),
		UpdateExpression:          aws.String("SET #v = :next, other = #v"),
		ConditionExpression:       aws.String("#v = :v AND attribute_exists(m)"),
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": n("1.0"), ":next": n("2")},
	}
	if _, err := db.UpdateItem(ctx, update); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, update); !errors.As(err, &ccf) {
		t.Fatalf("update of a stale version: %v", err)
	}

	// An eventually consistent read may miss the last write.
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("c-1"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Item["version"].(*types.AttributeValueMemberN).Value; v != "2" || got.Item["other"].(*types.AttributeValueMemberN).Value != "1" {
		t.Fatalf("consistent read: %v", got.Item)
	}
	if m := got.Item["m"].(*types.AttributeValueMemberM).Value; m["a"].(*types.AttributeValueMemberS).Value != "x" {
		t.Fatalf("map attribute %v", m)
	}
	got, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("c-1")})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Item["version"].(*types.AttributeValueMemberN).Value; v != "1" {
		t.Fatalf("eventually consistent read saw version %s; the fake serves the item before its last write", v)
	}
	if reads := fake.Reads(); len(reads) != 2 || !reads[0].Consistent || reads[1].Consistent {
		t.Fatalf("reads %+v", reads)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key("c-1")}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("c-1"), ConsistentRead: aws.Bool(true)}); err != nil || got.Item != nil {
		t.Fatalf("get after delete: %v, %v", got.Item, err)
	}
	if fake.Len() != 0 || fake.Calls("GetItem") != 3 {
		t.Fatalf("%d items, %d reads", fake.Len(), fake.Calls("GetItem"))
	}
}

func TestDynamoDBRefuses(t *testing.T) {
	ctx := context.Background()
	db := awsstatetest.NewDynamoDB(t).Client()
	table := aws.String(awsstatetest.Table)
	item := map[string]types.AttributeValue{"contact_id": s("c-1")}
	for _, tc := range []struct {
		name      string
		call      func() error
		code, msg string
	}{
		{"missing table", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope"), Key: key("c-1")})
			return err
		}, "ResourceNotFoundException", "Requested resource not found"},
		{"wrong key", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"id": s("c-1")}})
			return err
		}, "ValidationException", "The provided key element does not match the schema"},
		{"empty key", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("")})
			return err
		}, "ValidationException", "cannot contain an empty string value"},
		{"item without key", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"x": s("1")}})
			return err
		}, "ValidationException", "Missing the key contact_id in the item"},
		{"bad number", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"contact_id": s("c"), "v": n("one")}})
			return err
		}, "ValidationException", "cannot be converted to a numeric value"},
		{"unused value", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(contact_id)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":x": s("1")}})
			return err
		}, "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"},
		{"undefined name", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item, ConditionExpression: aws.String("attribute_not_exists(#id)")})
			return err
		}, "ValidationException", "An expression attribute name used in the document path is not defined; attribute name: #id"},
		{"empty names", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item, ExpressionAttributeNames: map[string]string{}})
			return err
		}, "ValidationException", "ExpressionAttributeNames must not be empty"},
		{"unimplemented operator", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item,
				ConditionExpression: aws.String("attribute_not_exists(contact_id) OR v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": n("1")}})
			return err
		}, "ValidationException", "not implemented by the fake"},
		{"unimplemented parameter", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("c-1"), ProjectionExpression: aws.String("version")})
			return err
		}, "ValidationException", "parameter ProjectionExpression is not implemented by the fake"},
		{"key update", func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("c-1"), UpdateExpression: aws.String("SET contact_id = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("c-2")}})
			return err
		}, "ValidationException", "Cannot update attribute contact_id. This attribute is part of the key"},
		{"overlapping paths", func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("c-1"), UpdateExpression: aws.String("SET a = :v, a = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("x")}})
			return err
		}, "ValidationException", "Two document paths overlap"},
		{"syntax", func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("c-1"), UpdateExpression: aws.String("SET a = "),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("x")}})
			return err
		}, "ValidationException", `Invalid UpdateExpression: Syntax error; token: "<EOF>"`},
	} {
		apiError(t, tc.name, tc.call(), tc.code, tc.msg)
	}
}

func TestSQSWire(t *testing.T) {
	ctx := context.Background()
	fake := awsstatetest.NewSQS(t)
	q := fake.Client()
	url := aws.String(fake.QueueURL())
	// The client checks the body's MD5 the fake returns.
	send := func(body, group, dedup string) (*sqs.SendMessageOutput, error) {
		return q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(body),
			MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup)})
	}
	out, err := send(`{"kind":"vmx_audio"} ✓`, "c-1", "d-1")
	if err != nil {
		t.Fatal(err)
	}
	// The same deduplication id within five minutes is accepted, not queued.
	again, err := send(`{"kind":"vmx_audio"} ✓`, "c-1", "d-1")
	if err != nil || *again.MessageId != *out.MessageId {
		t.Fatalf("repeat: %v, %v; want the first message's id %s", again, err, *out.MessageId)
	}
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")})
	apiError(t, "no group or deduplication id", err, "MissingParameter", "MessageGroupId")
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].ID != *out.MessageId || sent[0].Body != `{"kind":"vmx_audio"} ✓` {
		t.Fatalf("sent %+v, reply %v", sent, *out.MessageId)
	}
	got := fake.Receive()
	if len(got) != 1 || got[0].ReceiptHandle == "" || len(fake.Receive()) != 0 {
		t.Fatalf("received %+v", got)
	}
	if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: &got[0].ReceiptHandle, VisibilityTimeout: 60}); err != nil {
		t.Fatal(err)
	}
	if ch := fake.Changes(); len(ch) != 1 || ch[0] != (awsstatetest.VisibilityChange{MessageID: got[0].ID, Seconds: 60}) {
		t.Fatalf("changes %+v", ch)
	}

	_, err = send("bell \a", "c-1", "d-2")
	var contents *sqstypes.InvalidMessageContents
	if !errors.As(err, &contents) {
		t.Fatalf("body with a control character: %v", err)
	}
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(fake.QueueURL() + "x"), MessageBody: aws.String("x"),
		MessageGroupId: aws.String("c-1"), MessageDeduplicationId: aws.String("d-3")})
	var gone *sqstypes.QueueDoesNotExist
	if !errors.As(err, &gone) {
		t.Fatalf("send to a missing queue: %v", err)
	}
	_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: &got[0].ReceiptHandle, VisibilityTimeout: 43201})
	apiError(t, "visibility beyond 12 hours", err, "InvalidParameterValue", "Must be between 0 and 43200")
	_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String("forged"), VisibilityTimeout: 1})
	var invalid *sqstypes.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("forged receipt handle: %v", err)
	}
	if len(fake.Sent()) != 1 || len(fake.Changes()) != 1 {
		t.Fatalf("refused calls changed the queue: %+v %+v", fake.Sent(), fake.Changes())
	}
}

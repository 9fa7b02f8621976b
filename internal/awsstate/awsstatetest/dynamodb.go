package awsstatetest

import (
	"encoding/base64"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Table is the fake's one table, partitioned on contact_id (S) like
// vmx's table.
const Table = "vmx-voicemails"

const keyAttr = "contact_id"

// maxItemSize is DynamoDB's limit on an item.
const maxItemSize = 400 * 1024

// DynamoDB is a fake DynamoDB endpoint with one table and the operations
// GetItem, PutItem, UpdateItem and DeleteItem.
//
// Reads follow DynamoDB's consistency model at its least favourable: a
// GetItem without ConsistentRead sees every item as it was before its
// last write, as an eventually consistent read may.
type DynamoDB struct {
	srv   *httptest.Server
	hooks hooks
	ids   atomic.Int64 // request ids

	mu    sync.Mutex
	items map[string]map[string]value
	stale map[string]map[string]value // before the last write; nil when absent then
	reads []Read
	calls map[string]int
}

// Read is one GetItem the fake answered.
type Read struct {
	Key        string
	Consistent bool
}

// NewDynamoDB starts a fake DynamoDB, stopped when tb ends.
func NewDynamoDB(tb testing.TB) *DynamoDB {
	d := &DynamoDB{items: map[string]map[string]value{}, stale: map[string]map[string]value{}, calls: map[string]int{}}
	d.srv = httptest.NewServer(d)
	tb.Cleanup(d.srv.Close)
	return d
}

// URL is the fake's endpoint.
func (d *DynamoDB) URL() string { return d.srv.URL }

// Client returns a real DynamoDB client aimed at the fake.
func (d *DynamoDB) Client() *dynamodb.Client { return dynamodb.NewFromConfig(config(d.srv.URL)) }

// Item returns the stored item with key contact_id, or nil.
func (d *DynamoDB) Item(contactID string) map[string]types.AttributeValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	item, ok := d.items[contactID]
	if !ok {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		out[k] = toSDK(v)
	}
	return out
}

// Len is the number of items stored.
func (d *DynamoDB) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.items)
}

// Reads returns the GetItem calls answered so far.
func (d *DynamoDB) Reads() []Read {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Read(nil), d.reads...)
}

// Calls counts the requests of operation op answered so far, failed ones
// included.
func (d *DynamoDB) Calls(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

// BeforeNext runs fn once, just before the fake handles the next request
// of operation op ("UpdateItem"…): a writer that gets in between a read
// and a write. fn may call the fake.
func (d *DynamoDB) BeforeNext(op string, fn func()) { d.hooks.add(op, fn) }

func (d *DynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, body, aerr := readRequest(r, "DynamoDB_20120810.", "dynamodb")
	var out any
	if aerr == nil {
		d.hooks.run(op)
		d.mu.Lock()
		d.calls[op]++
		switch op {
		case "GetItem":
			out, aerr = d.getItem(body)
		case "PutItem":
			out, aerr = d.putItem(body)
		case "UpdateItem":
			out, aerr = d.updateItem(body)
		case "DeleteItem":
			out, aerr = d.deleteItem(body)
		default:
			aerr = &apiError{status: http.StatusBadRequest, typ: "com.amazon.coral.service#UnknownOperationException",
				msg: "awsstatetest: not implemented by the fake: " + op}
		}
		d.mu.Unlock()
	}
	writeReply(w, d.ids.Add(1), out, aerr, crc32.ChecksumIEEE)
}

func (d *DynamoDB) getItem(body []byte) (any, *apiError) {
	var in struct {
		TableName      string
		Key            map[string]value
		ConsistentRead *bool
	}
	if err := decodeInput(body, &in, "TableName", "Key", "ConsistentRead"); err != nil {
		return nil, err
	}
	key, err := checkKey(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	consistent := in.ConsistentRead != nil && *in.ConsistentRead
	d.reads = append(d.reads, Read{Key: key, Consistent: consistent})
	item := d.items[key]
	if old, ok := d.stale[key]; ok && !consistent {
		item = old
	}
	if item == nil {
		return struct{}{}, nil
	}
	return map[string]any{"Item": item}, nil
}

func (d *DynamoDB) putItem(body []byte) (any, *apiError) {
	var in struct {
		TableName                 string
		Item                      map[string]value
		ConditionExpression       *string
		ExpressionAttributeNames  map[string]string
		ExpressionAttributeValues map[string]value
	}
	if err := decodeInput(body, &in, "TableName", "Item", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"); err != nil {
		return nil, err
	}
	if in.TableName != Table {
		return nil, tableNotFound()
	}
	key, err := checkItem(in.Item)
	if err != nil {
		return nil, err
	}
	cond, err := parseCondition(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, nil)
	if err != nil {
		return nil, err
	}
	if cond != nil && !cond(d.items[key]) {
		return nil, conditionFailed()
	}
	d.write(key, in.Item)
	return struct{}{}, nil
}

func (d *DynamoDB) updateItem(body []byte) (any, *apiError) {
	var in struct {
		TableName                 string
		Key                       map[string]value
		UpdateExpression          *string
		ConditionExpression       *string
		ExpressionAttributeNames  map[string]string
		ExpressionAttributeValues map[string]value
	}
	if err := decodeInput(body, &in, "TableName", "Key", "UpdateExpression", "ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"); err != nil {
		return nil, err
	}
	key, err := checkKey(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	if in.UpdateExpression == nil {
		return nil, notImplemented("UpdateItem without an UpdateExpression")
	}
	var actions []setAction
	cond, err := parseCondition(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, func(x *expressions) *apiError {
		p, err := x.parser("UpdateExpression", *in.UpdateExpression)
		if err == nil {
			actions, err = p.update()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, a := range actions {
		if a.attr == keyAttr {
			return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", keyAttr)
		}
	}
	old := d.items[key]
	if cond != nil && !cond(old) {
		return nil, conditionFailed()
	}
	item := map[string]value{keyAttr: {"S": key}}
	for k, v := range old {
		item[k] = v
	}
	for _, a := range actions {
		v, ok := a.to.eval(old)
		if !ok {
			return nil, validation("The provided expression refers to an attribute that does not exist in the item")
		}
		item[a.attr] = v
	}
	if itemSize(item) > maxItemSize {
		return nil, validation("Item size to update has exceeded the maximum allowed size")
	}
	d.write(key, item)
	return struct{}{}, nil
}

func (d *DynamoDB) deleteItem(body []byte) (any, *apiError) {
	var in struct {
		TableName string
		Key       map[string]value
	}
	if err := decodeInput(body, &in, "TableName", "Key"); err != nil {
		return nil, err
	}
	key, err := checkKey(in.TableName, in.Key)
	if err != nil {
		return nil, err
	}
	if _, ok := d.items[key]; ok {
		d.write(key, nil)
	}
	return struct{}{}, nil
}

// write stores item (nil deletes), keeping the old one for eventually
// consistent reads.
func (d *DynamoDB) write(key string, item map[string]value) {
	d.stale[key] = d.items[key]
	if item == nil {
		delete(d.items, key)
		return
	}
	d.items[key] = item
}

// parseCondition parses a request's condition, and its other expression
// when more is given, then checks that every name and value was used.
func parseCondition(expr *string, names map[string]string, values map[string]value, more func(*expressions) *apiError) (condition, *apiError) {
	x, err := newExpressions(names, values)
	if err != nil {
		return nil, err
	}
	if more != nil {
		if err := more(x); err != nil {
			return nil, err
		}
	}
	var cond condition
	if expr != nil {
		p, err := x.parser("ConditionExpression", *expr)
		if err != nil {
			return nil, err
		}
		if cond, err = p.condition(); err != nil {
			return nil, err
		}
	}
	return cond, x.unused()
}

func checkKey(table string, key map[string]value) (string, *apiError) {
	if table != Table {
		return "", tableNotFound()
	}
	v, ok := key[keyAttr]
	if len(key) != 1 || !ok {
		return "", validation("The provided key element does not match the schema")
	}
	s, ok := v["S"].(string)
	if len(v) != 1 || !ok {
		return "", validation("The provided key element does not match the schema")
	}
	if s == "" {
		return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", keyAttr)
	}
	return s, nil
}

func checkItem(item map[string]value) (string, *apiError) {
	for name, v := range item {
		if name == "" {
			return "", validation("One or more parameter values were invalid: An attribute name may not be empty")
		}
		if err := checkValue(map[string]any(v)); err != nil {
			return "", err
		}
	}
	v, ok := item[keyAttr]
	if !ok {
		return "", validation("One or more parameter values were invalid: Missing the key %s in the item", keyAttr)
	}
	s, ok := v["S"].(string)
	if !ok {
		for typ := range v {
			return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: S actual: %s", keyAttr, typ)
		}
	}
	if s == "" {
		return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", keyAttr)
	}
	if itemSize(item) > maxItemSize {
		return "", validation("Item size has exceeded the maximum allowed size")
	}
	return s, nil
}

func itemSize(item map[string]value) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func tableNotFound() *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", msg: "Requested resource not found"}
}

func conditionFailed() *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", msg: "The conditional request failed"}
}

// toSDK converts a wire value to the SDK's type, for assertions.
func toSDK(v value) types.AttributeValue {
	for typ, x := range v {
		switch typ {
		case "S":
			return &types.AttributeValueMemberS{Value: x.(string)}
		case "N":
			return &types.AttributeValueMemberN{Value: x.(string)}
		case "B":
			b, _ := base64.StdEncoding.DecodeString(x.(string))
			return &types.AttributeValueMemberB{Value: b}
		case "BOOL":
			return &types.AttributeValueMemberBOOL{Value: x.(bool)}
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: x.(bool)}
		case "M":
			m := map[string]types.AttributeValue{}
			for k, e := range x.(map[string]any) {
				m[k] = toSDK(e.(value))
			}
			return &types.AttributeValueMemberM{Value: m}
		case "L":
			var l []types.AttributeValue
			for _, e := range x.([]any) {
				l = append(l, toSDK(e.(value)))
			}
			return &types.AttributeValueMemberL{Value: l}
		case "SS", "NS", "BS":
			var ss []string
			var bs [][]byte
			for _, e := range x.([]any) {
				ss = append(ss, e.(string))
				b, _ := base64.StdEncoding.DecodeString(e.(string))
				bs = append(bs, b)
			}
			switch typ {
			case "SS":
				return &types.AttributeValueMemberSS{Value: ss}
			case "NS":
				return &types.AttributeValueMemberNS{Value: ss}
			}
			return &types.AttributeValueMemberBS{Value: bs}
		}
	}
	return nil
}

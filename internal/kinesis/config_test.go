package kinesis

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{StreamName: "ctr"}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Table != DefaultTable || c.PollInterval != DefaultPollInterval || c.MaxRecords != DefaultMaxRecords ||
		c.InitialPosition != TrimHorizon || c.LeaseDuration != DefaultLeaseDuration ||
		c.ShardSyncInterval != DefaultShardSyncInterval || c.RetryBaseDelay != DefaultRetryBaseDelay ||
		c.RetryMaxDelay != DefaultRetryMaxDelay || c.Logger == nil || c.WorkerID == "" {
		t.Errorf("defaults: %+v", c)
	}
	if other := (Config{}).withDefaults(); other.WorkerID == c.WorkerID {
		t.Errorf("two default worker IDs are both %q", c.WorkerID)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		"name":            {Config{StreamName: "ctr"}, ""},
		"arn":             {Config{StreamARN: "arn:aws:kinesis:us-east-1:1:stream/ctr"}, ""},
		"schema table":    {Config{StreamName: "ctr", Table: "vmx.kinesis_leases"}, ""},
		"latest":          {Config{StreamName: "ctr", InitialPosition: Latest}, ""},
		"no stream":       {Config{}, "stream name or ARN required"},
		"table injection": {Config{StreamName: "ctr", Table: "t; DROP TABLE x"}, "not an SQL identifier"},
		"table digit":     {Config{StreamName: "ctr", Table: "1t"}, "not an SQL identifier"},
		"table too long":  {Config{StreamName: "ctr", Table: strings.Repeat("t", 56)}, "not an SQL identifier"},
		"max records":     {Config{StreamName: "ctr", MaxRecords: 10001}, "max records"},
		"negative max":    {Config{StreamName: "ctr", MaxRecords: -1}, "max records"},
		"position":        {Config{StreamName: "ctr", InitialPosition: "AT_TIMESTAMP"}, "initial position"},
		"dialect":         {Config{StreamName: "ctr", Dialect: "mysql"}, "dialect"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.withDefaults().validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := HandlerFunc(func(context.Context, string, []types.Record) error { return nil })
	api := &flakyAPI{}
	if _, err := New(nil, db, h, Config{StreamName: "s"}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(api, nil, h, Config{StreamName: "s"}); err == nil {
		t.Error("nil database accepted")
	}
	if _, err := New(api, db, nil, Config{StreamName: "s"}); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := New(api, db, h, Config{}); !errors.Is(err, errNoStream) {
		t.Errorf("no stream: %v", err)
	}
	c, err := New(api, db, h, Config{StreamName: "s", WorkerID: "w"})
	if err != nil || c.cfg.Dialect != SQLite || c.WorkerID() != "w" {
		t.Errorf("New = %+v, %v", c, err)
	}
}

func TestBackoff(t *testing.T) {
	b := &backoff{base: 100 * time.Millisecond, max: time.Second}
	for i, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		if d := b.next(); d < ceiling/2 || d > ceiling {
			t.Errorf("delay %d = %v, want in [%v, %v]", i, d, ceiling/2, ceiling)
		}
	}
	b.n = 1000 // no overflow however long it fails
	if d := b.next(); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("delay after many failures = %v", d)
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("delay after reset = %v", d)
	}
}

func TestErrorClasses(t *testing.T) {
	wrap := func(err error) error { return errors.Join(errors.New("kinesis: get records"), err) }
	if !expiredIterator(wrap(&types.ExpiredIteratorException{})) || expiredIterator(wrap(&types.LimitExceededException{})) {
		t.Error("expiredIterator misclassifies")
	}
	for _, err := range []error{
		&types.ProvisionedThroughputExceededException{},
		&types.LimitExceededException{},
		&types.KMSThrottlingException{},
	} {
		if !throttled(wrap(err)) {
			t.Errorf("%T not throttling", err)
		}
	}
	if throttled(wrap(&types.ExpiredIteratorException{})) || throttled(errors.New("boom")) {
		t.Error("throttled misclassifies")
	}
}

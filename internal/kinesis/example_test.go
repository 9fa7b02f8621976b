package kinesis_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/config"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	_ "modernc.org/sqlite"

	"github.com/vmx-dev/vmx/internal/kinesis"
)

// A replica of vmx consuming Amazon Connect's contact trace records. Every
// replica runs the same code against the same database.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	awsCfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_KINESIS
	if err != nil {
		logger.Error("aws config", "err", err)
		return
	}
	db, err := sql.Open("sqlite", "file:vmx.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		logger.Error("database", "err", err)
		return
	}
	defer db.Close()

	handle := kinesis.HandlerFunc(func(ctx context.Context, shardID string, records []types.Record) error {
		for _, r := range records {
			_ = r.Data // one CTR as JSON: store it idempotently, keyed by ContactId
		}
		return nil // the checkpoint moves past these records
	})
	c, err := kinesis.New(awskinesis.NewFromConfig(awsCfg), db, handle, kinesis.Config{
		StreamARN: os.Getenv("VMX_CTR_STREAM_ARN"),
		Logger:    logger,
	})
	if err != nil {
		logger.Error("kinesis consumer", "err", err)
		return
	}
	if err := c.Run(ctx); err != nil { // until Ctrl-C
		logger.Error("kinesis consumer", "err", err)
	}
}

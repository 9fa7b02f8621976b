package kinesis

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

var errNoStream = errors.New("stream name or ARN required")

// expiredIterator reports whether err says that a shard iterator is older
// than its five minutes of validity.
func expiredIterator(err error) bool {
	var e *types.ExpiredIteratorException
	return errors.As(err, &e)
}

// throttled reports whether err is Kinesis asking the caller to slow down.
func throttled(err error) bool {
	var (
		pt *types.ProvisionedThroughputExceededException
		le *types.LimitExceededException
		kt *types.KMSThrottlingException
	)
	if errors.As(err, &pt) || errors.As(err, &le) || errors.As(err, &kt) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "ThrottlingException" || ae.ErrorCode() == "RequestLimitExceeded")
}

// permanent reports whether err says that the request cannot succeed as
// configured: a stream that does not exist, missing permissions.
func permanent(err error) bool {
	var (
		nf *types.ResourceNotFoundException
		ad *types.AccessDeniedException
		ia *types.InvalidArgumentException
		ve *types.ValidationException
	)
	return errors.As(err, &nf) || errors.As(err, &ad) || errors.As(err, &ia) || errors.As(err, &ve)
}

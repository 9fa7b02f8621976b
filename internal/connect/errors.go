package connect

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"

	"github.com/vmx-dev/vmx/internal/retry"
)

// Delays asked of the job runner. The SDK has already retried with backoff
// by the time an error reaches vmx, so the next attempt waits longer.
const (
	throttleDelay = 30 * time.Second
	quotaDelay    = time.Minute // open-task quota: tasks must be closed first
)

// Error codes of the Amazon Connect API that vmx acts on.
const (
	codeNotFound     = "ResourceNotFoundException"
	codeThrottling   = "ThrottlingException"
	codeTooMany      = "TooManyRequestsException"
	codeLimit        = "LimitExceededException"
	codeQuota        = "ServiceQuotaExceededException"
	codeInvalidParam = "InvalidParameterException"
	codeInvalidReq   = "InvalidRequestException"
	codeAccessDenied = "AccessDeniedException"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isThrottle(err error) bool {
	switch apiCode(err) {
	case codeThrottling, codeTooMany, codeLimit:
		return true
	}
	return httpStatus(err) == 429
}

func isNotFound(err error) bool { return apiCode(err) == codeNotFound }

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// mark tells the job runner what to do with a failed API call: throttling
// and the open-task quota are retried after a delay; other client errors
// (validation, not found, access denied) are permanent; the rest (5xx,
// network) are retried with the runner's backoff.
func mark(err error) error {
	switch code := apiCode(err); {
	case isCanceled(err):
		return err
	case isThrottle(err):
		return retry.After(throttleDelay, err)
	case code == codeQuota:
		return retry.After(quotaDelay, err)
	case code == codeInvalidParam || code == codeInvalidReq || code == codeNotFound || code == codeAccessDenied:
		return retry.Permanent(err)
	}
	if s := httpStatus(err); s >= 400 && s < 500 && s != 408 {
		return retry.Permanent(err)
	}
	return err
}

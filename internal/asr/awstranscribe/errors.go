package awstranscribe

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vmx-dev/vmx/internal/retry"
)

// classify marks err for the pipeline's runner: throttling and server
// errors are retried after delay, requests Transcribe refuses as invalid
// are permanent, anything else (network, credentials) is left to the
// runner's default back-off.
func classify(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	var ip *smithy.InvalidParamsError
	if errors.As(err, &ip) {
		return retry.Permanent(err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "BadRequestException", "ValidationException", "SerializationException":
			return retry.Permanent(err)
		case "LimitExceededException", "ThrottlingException", "TooManyRequestsException",
			"RequestLimitExceeded", "InternalFailureException", "ServiceUnavailableException",
			"ServiceUnavailable", "InternalServerError":
			return retry.After(delay, err)
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if code := re.HTTPStatusCode(); code == http.StatusTooManyRequests || code >= 500 {
			return retry.After(delay, err)
		}
	}
	return err
}

// hasCode reports whether err is an API error with the given code.
func hasCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// isNotFound reports whether err says the job does not exist: a
// NotFoundException, or the BadRequestException "The requested job
// couldn't be found" that Transcribe answers to Get and Delete of a job
// that is gone.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NotFoundException":
		return true
	case "BadRequestException":
		m := strings.ToLower(ae.ErrorMessage())
		return strings.Contains(m, "couldn't be found") || strings.Contains(m, "could not be found") ||
			strings.Contains(m, "not found") || strings.Contains(m, "does not exist") ||
			strings.Contains(m, "doesn't exist")
	}
	return false
}

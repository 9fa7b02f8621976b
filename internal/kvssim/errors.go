package kvssim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answered the way KVS answers it: status code,
// x-amzn-ErrorType header and a JSON body with a message.
type apiError struct {
	typ    string
	status int
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// errorStatus returns the status code of a KVS error type (botocore
// service models; NotAuthorizedException is answered 403, as for a
// signature the service rejects). Unknown types are client errors (400).
func errorStatus(typ string) int {
	switch typ {
	case "NotAuthorizedException", "AccessDeniedException":
		return http.StatusForbidden
	case "ResourceNotFoundException", "UnknownOperationException":
		return http.StatusNotFound
	case "InternalFailure":
		return http.StatusInternalServerError
	case "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	}
	// InvalidArgumentException, ClientLimitExceededException,
	// ConnectionLimitExceededException, InvalidEndpointException, …
	return http.StatusBadRequest
}

// errorTypeSuffix follows the type in x-amzn-ErrorType, as KVS sends it.
const errorTypeSuffix = ":http://internal.amazon.com/coral/com.amazonaws.kinesis.video/"

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", e.typ+errorTypeSuffix)
	w.WriteHeader(e.status)
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{e.msg})
	_, _ = w.Write(b)
}

func invalidArgument(format string, args ...any) *apiError {
	return &apiError{typ: "InvalidArgumentException", status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{typ: "ResourceNotFoundException", status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

func notAuthorized(format string, args ...any) *apiError {
	return &apiError{typ: "NotAuthorizedException", status: http.StatusForbidden, msg: fmt.Sprintf(format, args...)}
}

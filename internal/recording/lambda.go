package recording

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// HandleLambda records the call an AWS Lambda event names and returns
// when the recording is stored (see Record): an Amazon Connect flow
// invocation event, the IVR-recording sample's event, or vmx's request
// body (see ParseRequest). Connect's flow block waits at most 8 seconds
// for a synchronous function, so the flow must invoke it asynchronously.
//
// The answer is a flat map of strings, as a flow's STRING_MAP validation
// wants: result (completed or failed), contact_id, ended_by, error, and
// the key of each stored file (from_customer_key, to_customer_key,
// stereo_key). An event that cannot be recorded is an error wrapping
// ErrInvalid; a recording that failed is an answer, so that Lambda does
// not retry it.
func (r *Recorder) HandleLambda(ctx context.Context, event json.RawMessage) (map[string]string, error) {
	req, err := ParseRequest(event, r.cfg, time.Now())
	if err != nil {
		return nil, err
	}
	st, err := r.Record(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[string]string{
		"result":      st.State,
		"contact_id":  st.ContactID,
		"ended_by":    st.EndedBy,
		"duration_ms": strconv.FormatInt(st.DurationMS, 10),
		"segments":    strconv.Itoa(st.Segments),
	}
	if st.Error != "" {
		out["error"] = st.Error
	}
	for _, f := range st.Files {
		out[strings.ToLower(strings.TrimPrefix(f.Track, "AUDIO_"))+"_key"] = f.Key
	}
	return out, nil
}

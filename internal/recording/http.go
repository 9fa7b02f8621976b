package recording

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// maxBodyBytes bounds a request body; Connect's events are a few KB.
const maxBodyBytes = 1 << 20

// stopWait is how long POST …/stop waits for the files to be stored
// before it answers 202.
const stopWait = 20 * time.Second

// Handler serves the recording API; mount it behind vmx's API key at
// /v1/recordings and /v1/recordings/:
//
//	POST /v1/recordings                        start (body: see ParseRequest)
//	GET  /v1/recordings/{contactId}            status
//	POST /v1/recordings/{contactId}/stop       stop and store
//	GET  /v1/recordings/{contactId}/segments   transcript
//
// Start answers 202 with the status of a recording it started, 200 with
// that of one the contact already has, 400 for a request that cannot be
// recorded, 409 when the contact is recorded from another stream and 503
// when MaxConcurrent recordings are running. Stop answers 200 once the
// recording is stored, 202 while another replica or a slow store finishes
// it. Errors are {"error": "…"}.
func (r *Recorder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/recordings", r.handle(r.serveStart))
	mux.Handle("GET /v1/recordings/{contactId}", r.handle(r.serveStatus))
	mux.Handle("POST /v1/recordings/{contactId}/stop", r.handle(r.serveStop))
	mux.Handle("GET /v1/recordings/{contactId}/segments", r.handle(r.serveSegments))
	return mux
}

func (r *Recorder) serveStart(w http.ResponseWriter, req *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("%w: the body exceeds %d bytes", ErrInvalid, maxBodyBytes)
	}
	if err != nil {
		return fmt.Errorf("%w: reading the body: %v", ErrInvalid, err)
	}
	rq, err := ParseRequest(data, r.cfg, time.Now())
	if err != nil {
		return err
	}
	st, created, err := r.Start(req.Context(), rq)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/recordings/"+url.PathEscape(st.ContactID))
	status := http.StatusOK
	if created {
		status = http.StatusAccepted
	}
	writeJSON(w, status, st)
	return nil
}

func (r *Recorder) serveStatus(w http.ResponseWriter, req *http.Request) error {
	id, err := pathContact(req)
	if err != nil {
		return err
	}
	st, err := r.Status(req.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (r *Recorder) serveStop(w http.ResponseWriter, req *http.Request) error {
	id, err := pathContact(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(req.Context(), stopWait)
	defer cancel()
	st, err := r.Stop(ctx, id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if st.State == StateRecording {
		status = http.StatusAccepted
	}
	writeJSON(w, status, st)
	return nil
}

func (r *Recorder) serveSegments(w http.ResponseWriter, req *http.Request) error {
	id, err := pathContact(req)
	if err != nil {
		return err
	}
	segs, err := r.Segments(req.Context(), id)
	if err != nil {
		return err
	}
	type segment struct {
		Track      string  `json:"track"`
		StartMS    int64   `json:"start_ms"`
		EndMS      int64   `json:"end_ms"`
		Text       string  `json:"text"`
		Confidence float64 `json:"confidence"`
		Partial    bool    `json:"partial"`
	}
	out := make([]segment, len(segs))
	for i, g := range segs {
		out[i] = segment{Track: g.Track, StartMS: g.StartMS, EndMS: g.EndMS, Text: g.Text, Confidence: g.Confidence, Partial: g.Partial}
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": id, "segments": out})
	return nil
}

func pathContact(req *http.Request) (string, error) {
	id := req.PathValue("contactId")
	if !validContactID(id) {
		return "", fmt.Errorf("%w: %q is not a contact ID", ErrInvalid, id)
	}
	return id, nil
}

// handle answers a handler's error as JSON with its status, logging
// server errors with an id the client sees.
func (r *Recorder) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		err := h(w, req)
		if err == nil {
			return
		}
		body := map[string]string{"error": err.Error()}
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrInvalid):
			status = http.StatusBadRequest
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, ErrConflict):
			status = http.StatusConflict
		case errors.Is(err, ErrBusy):
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "5")
		default:
			b := make([]byte, 8)
			rand.Read(b)
			body["error_id"] = hex.EncodeToString(b)
			r.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "err", err, "err_id", body["error_id"])
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vmx-dev/vmx/internal/extract"
	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

const extractUsage = "[flags] INPUT | --stream-arn ARN [flags]"

func extractCommand() Command {
	return Command{
		Name:  "extract",
		Usage: extractUsage,
		Short: "extract a contact's audio from a KVS GetMedia stream (file, stdin or KVS) as WAV",
		Run:   runExtract,
	}
}

type extractFlags struct {
	contactID, startFragment, stopFragment string
	startTime, stopTime                    string
	track, output                          string
	json, fillGaps                         bool
	kvs                                    kvsFlags
}

// A track choice names the outputs it produces and their file suffixes.
type trackChoice struct {
	from, to, stereo bool
}

func parseTrack(s string) (trackChoice, error) {
	switch s {
	case "from":
		return trackChoice{from: true}, nil
	case "to":
		return trackChoice{to: true}, nil
	case "stereo":
		return trackChoice{stereo: true}, nil
	case "both":
		return trackChoice{from: true, to: true}, nil
	}
	return trackChoice{}, usagef("--track %q: want from, to, stereo or both", s)
}

func runExtract(ctx context.Context, env *Env, args []string) (int, error) {
	var f extractFlags
	fs := newFlagSet(env, "extract", extractUsage)
	fs.StringVar(&f.contactID, "contact-id", "", "keep only fragments of this contact (fragments without a ContactId tag are kept when in range)")
	fs.StringVar(&f.startFragment, "start-fragment", "", "first fragment number to keep (inclusive)")
	fs.StringVar(&f.stopFragment, "stop-fragment", "", "last fragment number to keep (inclusive)")
	fs.StringVar(&f.startTime, "start-time", "", "keep fragments starting at or after this time (RFC 3339)")
	fs.StringVar(&f.stopTime, "stop-time", "", "keep fragments starting at or before this time (RFC 3339)")
	fs.StringVar(&f.track, "track", "from", "from (caller), to (prompts/agent), stereo (from left, to right) or both (two files)")
	fs.StringVar(&f.output, "o", "", "output WAV path ('-' for stdout); with --track both, x.wav gives x.from.wav and x.to.wav (default <contact-id or input name>.wav)")
	fs.BoolVar(&f.json, "json", false, "print a JSON report on stdout")
	fs.BoolVar(&f.fillGaps, "fill-gaps", false, "fill gaps in producer time with silence so tracks stay aligned")
	f.kvs.register(fs, env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2, err
	}
	tracks, err := parseTrack(f.track)
	if err != nil {
		return 2, err
	}
	opts := extract.Options{
		ContactID:     f.contactID,
		StartFragment: f.startFragment,
		StopFragment:  f.stopFragment,
		FillGaps:      f.fillGaps,
		Hash:          f.json,
		Logger:        env.Logger,
	}
	if opts.StartTime, err = parseTime("--start-time", f.startTime); err != nil {
		return 2, err
	}
	if opts.StopTime, err = parseTime("--stop-time", f.stopTime); err != nil {
		return 2, err
	}
	// A selection that cannot match is refused before any input is opened
	// or request sent.
	if err := opts.Validate(); err != nil {
		return 2, usageError{err.Error()}
	}

	var input string
	switch {
	case f.kvs.streamARN != "" && len(pos) > 0:
		return 2, usagef("give either INPUT or --stream-arn, not both")
	case f.kvs.streamARN == "" && len(pos) != 1:
		return 2, usagef("want exactly one INPUT (a file or - for stdin)")
	case f.kvs.streamARN == "":
		input = pos[0]
	}
	if f.output == "-" && (f.json || tracks.from && tracks.to) {
		return 2, usagef("-o - writes one track to stdout: not with --json or --track both")
	}

	src, closeSrc, err := openExtractSource(ctx, env, input, &f, &opts)
	if err != nil {
		return 1, err
	}
	defer closeSrc()

	outs, err := openOutputs(env, defaultOutput(f.output, f.contactID, input), tracks)
	if err != nil {
		return 1, err
	}
	rep, err := extract.Run(ctx, src, opts, outs.extractOutputs())
	if err != nil {
		outs.abort()
		if rep != nil && f.json {
			writeJSON(env.Stdout, extractJSON{Report: rep, Error: err.Error()})
		}
		return 1, err
	}
	if err := outs.commit(); err != nil {
		return 1, err
	}
	if f.json {
		out := extractJSON{Report: rep, Paths: outs.paths()}
		if err := writeJSON(env.Stdout, out); err != nil {
			return 1, err
		}
	}
	return 0, nil
}

type extractJSON struct {
	*extract.Report
	Paths map[string]string `json:"paths,omitempty"`
	Error string            `json:"error,omitempty"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: want RFC 3339, like 2026-01-01T00:00:00Z", flagName, s)
	}
	return t, nil
}

// openExtractSource opens the input: a file, stdin, or a KVS stream.
func openExtractSource(ctx context.Context, env *Env, input string, f *extractFlags, opts *extract.Options) (extract.Source, func(), error) {
	switch input {
	case "":
		return f.kvs.openSource(ctx, env, opts)
	case "-":
		r, finish := withProgress(env, env.Stdin, -1)
		return mkv.NewFragmentReader(r), finish, nil
	}
	file, err := os.Open(input)
	if err != nil {
		return nil, nil, err
	}
	size := int64(-1)
	if st, err := file.Stat(); err == nil {
		size = st.Size()
	}
	r, finish := withProgress(env, file, size)
	return mkv.NewFragmentReader(r), func() { finish(); file.Close() }, nil
}

// progressMinBytes is the input size from which a progress bar is worth
// drawing.
const progressMinBytes = 8 << 20

// withProgress draws a progress bar on stderr, when it is a terminal, as r
// is read: against size when it is known and large, as a byte count when it
// is not (stdin). finish removes the bar and stops its drawing goroutine;
// call it before the command returns.
func withProgress(env *Env, r io.Reader, size int64) (_ io.Reader, finish func()) {
	return progressReader(env, r, size, "extracting", progressMinBytes)
}

// progressReader is withProgress with a description and a size below
// which no bar is drawn.
func progressReader(env *Env, r io.Reader, size int64, desc string, minBytes int64) (io.Reader, func()) {
	if !env.StderrIsTerminal || (size >= 0 && size < minBytes) {
		return r, func() {}
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(env.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond))
	return io.TeeReader(r, bar), func() { bar.Finish() }
}

func defaultOutput(output, contactID, input string) string {
	switch {
	case output != "":
		return output
	case contactID != "":
		return contactID + ".wav"
	case input != "" && input != "-":
		return strings.TrimSuffix(filepath.Base(input), filepath.Ext(input)) + ".wav"
	}
	return "out.wav"
}

// outputs are the WAV files of one extraction, written under temporary
// names and renamed into place only when the extraction succeeds, so a
// failure never leaves a partial file or clobbers an existing one. Devices
// and FIFOs are written in place, with a streaming WAV header (see
// pendingFile).
type outputs struct {
	from, to, stereo *outputFile
}

type outputFile struct {
	path    string       // final path, "-" for stdout
	pending *pendingFile // nil for stdout
	w       *wav.Writer
}

func openOutputs(env *Env, path string, t trackChoice) (*outputs, error) {
	var o outputs
	var err error
	open := func(p string, channels int) *outputFile {
		if err != nil {
			return nil
		}
		var of *outputFile
		of, err = createOutput(env, p, channels)
		return of
	}
	switch {
	case t.from && t.to:
		base := strings.TrimSuffix(path, filepath.Ext(path))
		o.from = open(base+".from.wav", 1)
		o.to = open(base+".to.wav", 1)
	case t.from:
		o.from = open(path, 1)
	case t.to:
		o.to = open(path, 1)
	case t.stereo:
		o.stereo = open(path, 2)
	}
	if err != nil {
		o.abort()
		return nil, err
	}
	return &o, nil
}

func createOutput(env *Env, path string, channels int) (*outputFile, error) {
	format := wav.Telephone
	format.Channels = channels
	if path == "-" {
		w, err := wav.NewWriter(env.Stdout, format, wav.UnknownLength)
		return &outputFile{path: path, w: w}, err
	}
	p, err := createPending(path)
	if err != nil {
		return nil, err
	}
	w, err := wav.NewWriter(p.W, format, wav.UnknownLength)
	if err != nil {
		p.abort()
		return nil, err
	}
	return &outputFile{path: path, pending: p, w: w}, nil
}

func (o *outputs) files() []*outputFile {
	var fs []*outputFile
	for _, f := range []*outputFile{o.from, o.to, o.stereo} {
		if f != nil {
			fs = append(fs, f)
		}
	}
	return fs
}

func (o *outputs) extractOutputs() extract.Outputs {
	var out extract.Outputs
	if o.from != nil {
		out.From = o.from.w
	}
	if o.to != nil {
		out.To = o.to.w
	}
	if o.stereo != nil {
		out.Stereo = o.stereo.w
	}
	return out
}

func (o *outputs) commit() error {
	var errs []error
	for _, f := range o.files() {
		errs = append(errs, f.commit())
	}
	if err := errors.Join(errs...); err != nil {
		o.abort()
		return err
	}
	return nil
}

func (o *outputs) abort() {
	for _, f := range o.files() {
		if f.pending != nil {
			f.pending.abort()
		}
	}
}

func (o *outputs) paths() map[string]string {
	m := map[string]string{}
	for name, f := range map[string]*outputFile{"from": o.from, "to": o.to, "stereo": o.stereo} {
		if f != nil {
			m[name] = f.path
		}
	}
	return m
}

func (f *outputFile) commit() error {
	if err := f.w.Close(); err != nil {
		return err
	}
	if f.pending == nil {
		return nil
	}
	err := f.pending.commit()
	f.pending = nil
	return err
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

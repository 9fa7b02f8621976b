//go:build cgo && pocketsphinx

package pocketsphinx

/*
#cgo pkg-config: pocketsphinx sphinxbase
#include <stdlib.h>
#include <stdio.h>
#include <pocketsphinx.h>
#include <sphinxbase/ngram_model.h>
#include <sphinxbase/err.h>

// Where vmx_decoder_new failed, for the Go error message.
enum {
	VMX_OK = 0,
	VMX_ERR_ARGS,
	VMX_ERR_INIT,
	VMX_ERR_DOMAIN_READ,
	VMX_ERR_DOMAIN_SET,
	VMX_ERR_DOMAIN_SEARCH,
};

// vmx_quiet turns PocketSphinx's log off. The log is process-wide in
// sphinxbase; setting it to NULL is idempotent, so every engine may do it.
static void vmx_quiet(void) { err_set_logfp(NULL); }

// vmx_decoder_new loads a decoder from command-line style arguments and,
// when domain_lm is set, replaces its language model by the interpolation
// of the default one and domain_lm. cgo cannot call the variadic
// cmd_ln_init, hence the argv form.
static ps_decoder_t *vmx_decoder_new(int argc, char **argv, const char *domain_lm, float domain_weight, int *stage) {
	cmd_ln_t *config = cmd_ln_parse_r(NULL, ps_args(), argc, argv, TRUE);
	if (config == NULL) {
		*stage = VMX_ERR_ARGS;
		return NULL;
	}
	ps_decoder_t *ps = ps_init(config);
	// ps_init holds its own reference to config.
	cmd_ln_free_r(config);
	if (ps == NULL) {
		*stage = VMX_ERR_INIT;
		return NULL;
	}
	if (domain_lm == NULL) {
		*stage = VMX_OK;
		return ps;
	}
	ngram_model_t *dom = ngram_model_read(ps_get_config(ps), domain_lm, NGRAM_AUTO, ps_get_logmath(ps));
	if (dom == NULL) {
		ps_free(ps);
		*stage = VMX_ERR_DOMAIN_READ;
		return NULL;
	}
	// The models must share the decoder's logmath (they do: both were
	// read with it). ngram_model_set_init and ps_set_lm each take their
	// own reference, so ours are dropped right after.
	ngram_model_t *models[2] = {ps_get_lm(ps, "_default"), dom};
	char *names[2] = {"general", "domain"};
	float32 weights[2] = {1 - domain_weight, domain_weight};
	ngram_model_t *set = ngram_model_set_init(ps_get_config(ps), models, names, weights, 2);
	ngram_model_free(dom);
	if (set == NULL) {
		ps_free(ps);
		*stage = VMX_ERR_DOMAIN_SET;
		return NULL;
	}
	int rv = ps_set_lm(ps, "vmx", set);
	ngram_model_free(set);
	if (rv < 0 || ps_set_search(ps, "vmx") < 0) {
		ps_free(ps);
		*stage = VMX_ERR_DOMAIN_SEARCH;
		return NULL;
	}
	// The default search's lexicon tree is no longer needed; its model
	// lives on in the set.
	ps_unset_search(ps, "_default");
	*stage = VMX_OK;
	return ps;
}

// vmx_set_mllr applies mllr to the decoder's acoustic model, from its
// original means and variances (so transforms do not compound). The
// decoder takes over a reference and drops the one of the transform it
// replaces, so ours is added for it.
static int vmx_set_mllr(ps_decoder_t *ps, ps_mllr_t *mllr) {
	return ps_update_mllr(ps, ps_mllr_retain(mllr)) == NULL ? -1 : 0;
}

typedef struct {
	const char *hyp; // owned by the decoder, valid until its next utterance
	double confidence;
	int first_frame, last_frame;
} vmx_result;

// vmx_is_filler reports whether a segment word is a filler (<s>, </s>,
// <sil>, [NOISE], ...) rather than a word of the hypothesis.
static int vmx_is_filler(const char *w) {
	return w == NULL || w[0] == '<' || w[0] == '[' || w[0] == '+';
}

// vmx_decode decodes one whole utterance: full_utt lets PocketSphinx
// normalise the cepstral mean over the whole utterance instead of
// estimating it as it goes, which on short telephone utterances is the
// difference between a usable and a useless transcript.
static int vmx_decode(ps_decoder_t *ps, const int16 *pcm, size_t n, vmx_result *r) {
	if (ps_start_utt(ps) < 0)
		return -1;
	if (ps_process_raw(ps, pcm, n, FALSE, TRUE) < 0) {
		ps_end_utt(ps);
		return -2;
	}
	if (ps_end_utt(ps) < 0)
		return -3;
	int32 score;
	r->hyp = ps_get_hyp(ps, &score);
	r->confidence = -1;
	r->first_frame = r->last_frame = -1;
	if (r->hyp == NULL || r->hyp[0] == '\0')
		return 0;
	// ps_get_prob runs the forward-backward pass over the word lattice,
	// after which each segment of the best path carries its word's
	// posterior probability. Both presets run the best-path pass it needs.
	ps_get_prob(ps);
	logmath_t *lmath = ps_get_logmath(ps);
	double post = 0;
	int words = 0;
	for (ps_seg_t *seg = ps_seg_iter(ps); seg != NULL; seg = ps_seg_next(seg)) {
		if (vmx_is_filler(ps_seg_word(seg)))
			continue;
		int sf, ef;
		ps_seg_frames(seg, &sf, &ef);
		if (r->first_frame < 0)
			r->first_frame = sf;
		r->last_frame = ef;
		int32 ascr, lscr, lback;
		post += logmath_exp(lmath, ps_seg_prob(seg, &ascr, &lscr, &lback));
		words++;
	}
	// The segment's confidence is its words' mean posterior, as Amazon
	// Transcribe gives a confidence per word. The posterior of the whole
	// hypothesis is no use here: it falls towards 0 with every word.
	if (words > 0)
		r->confidence = post / words;
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// New returns a PocketSphinx engine for cfg (defaults applied). It checks
// the model files and loads one decoder, so a broken configuration fails
// here; Close frees the decoders.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Verbose {
		C.vmx_quiet()
	}
	return newEngine(cfg, func() (decoder, error) { return newCDecoder(cfg) })
}

// cDecoder is a ps_decoder_t with the channel transforms it switches
// between.
type cDecoder struct {
	ps *C.ps_decoder_t
	// telephone and identity are MLLR transforms of the model's means:
	// the telephone channel's (telephoneMLLR) and none.
	telephone, identity *C.ps_mllr_t
	// narrowband is whether telephone is applied.
	narrowband bool
}

func newCDecoder(cfg Config) (*cDecoder, error) {
	args := append([]string{"vmx",
		"-hmm", cfg.HMM,
		"-dict", cfg.Dict,
		"-lm", cfg.LM,
		// Connect audio upsampled to 16 kHz; the model's own
		// feat.params supplies the rest of the front end.
		"-samprate", "16000",
	}, speedArgs(cfg.Speed)...)
	argv := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
	}
	defer func() {
		for _, p := range argv {
			C.free(unsafe.Pointer(p))
		}
	}()
	// argv lives in Go memory but holds only C pointers, which cgo
	// allows passing.
	var domain *C.char
	if cfg.DomainLM != "" {
		domain = C.CString(cfg.DomainLM)
		defer C.free(unsafe.Pointer(domain))
	}
	var stage C.int
	ps := C.vmx_decoder_new(C.int(len(argv)), &argv[0], domain, C.float(cfg.DomainWeight), &stage)
	if ps == nil {
		var what string
		switch stage {
		case C.VMX_ERR_ARGS:
			what = "rejected its arguments " + strings.Join(args[1:], " ")
		case C.VMX_ERR_INIT:
			what = fmt.Sprintf("could not load the model (hmm %s, dict %s, lm %s)", cfg.HMM, cfg.Dict, cfg.LM)
		case C.VMX_ERR_DOMAIN_READ:
			what = "could not read domain_lm " + cfg.DomainLM
		default:
			what = "could not interpolate domain_lm " + cfg.DomainLM
		}
		hint := ""
		if !cfg.Verbose {
			hint = " (set verbose for PocketSphinx's log)"
		}
		return nil, fmt.Errorf("pocketsphinx: decoder %s%s", what, hint)
	}
	tel, id, err := readMLLRs()
	if err != nil {
		C.ps_free(ps)
		return nil, err
	}
	return &cDecoder{ps: ps, telephone: tel, identity: id}, nil
}

// readMLLRs reads the telephone and identity transforms. PocketSphinx
// reads transforms only from files, so they pass through a temporary
// directory.
func readMLLRs() (telephone, identity *C.ps_mllr_t, err error) {
	dir, err := os.MkdirTemp("", "vmx-mllr-")
	if err != nil {
		return nil, nil, fmt.Errorf("pocketsphinx: writing the channel transforms: %w", err)
	}
	defer os.RemoveAll(dir)
	read := func(name string, text []byte) (*C.ps_mllr_t, error) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, text, 0o600); err != nil {
			return nil, fmt.Errorf("pocketsphinx: writing the channel transforms: %w", err)
		}
		p := C.CString(path)
		defer C.free(unsafe.Pointer(p))
		m := C.ps_mllr_read(p)
		if m == nil {
			return nil, fmt.Errorf("pocketsphinx: reading the %s channel transform failed", name)
		}
		return m, nil
	}
	if telephone, err = read("telephone", telephoneMLLR); err != nil {
		return nil, nil, err
	}
	if identity, err = read("identity", identityMLLR()); err != nil {
		C.ps_mllr_free(telephone)
		return nil, nil, err
	}
	return telephone, identity, nil
}

func (d *cDecoder) startStream(narrowband bool) error {
	if narrowband != d.narrowband {
		m := d.identity
		if narrowband {
			m = d.telephone
		}
		if C.vmx_set_mllr(d.ps, m) < 0 {
			return fmt.Errorf("pocketsphinx: applying the channel transform failed")
		}
		d.narrowband = narrowband
	}
	if C.ps_start_stream(d.ps) < 0 {
		return fmt.Errorf("pocketsphinx: ps_start_stream failed")
	}
	return nil
}

func (d *cDecoder) decode(pcm []int16) (decoded, error) {
	if len(pcm) == 0 {
		return decoded{Confidence: -1, FirstFrame: -1, LastFrame: -1}, nil
	}
	var r C.vmx_result
	// pcm is Go memory without Go pointers, which C may read during the
	// call; it does not keep it.
	if rv := C.vmx_decode(d.ps, (*C.int16)(unsafe.Pointer(&pcm[0])), C.size_t(len(pcm)), &r); rv < 0 {
		return decoded{}, fmt.Errorf("pocketsphinx: decoding an utterance failed (step %d)", int(rv))
	}
	out := decoded{Confidence: float64(r.confidence), FirstFrame: int(r.first_frame), LastFrame: int(r.last_frame)}
	if r.hyp != nil {
		out.Text = strings.Join(strings.Fields(C.GoString(r.hyp)), " ")
	}
	return out, nil
}

func (d *cDecoder) free() {
	if d.ps != nil {
		C.ps_free(d.ps)
		d.ps = nil
	}
	for _, m := range []**C.ps_mllr_t{&d.telephone, &d.identity} {
		if *m != nil {
			C.ps_mllr_free(*m)
			*m = nil
		}
	}
}

// speedArgs are the PocketSphinx options of a Speed.
func speedArgs(s Speed) []string {
	// Measured on vmx's telephone test set (flite, 796 words) and Debian's
	// human read speech (13 clips, 106 words), CPU real-time factor
	// (docs/PERFORMANCE.md). Skipping fwdflat costs no accuracy on the
	// flite set. The cap on active HMMs per frame (default 30000) is the
	// main lever, but human speech suffers from it below 4000 (45 % WER at
	// 3000 against 40 % at 5000). Pruning word exits (-wbeam 1e-20, default
	// 7e-29) saves most of what 3000 saves without that cost: 4000 with
	// it scored 35.4 % / 38.7 % at a real-time factor of about 0.25,
	// about 15 % less CPU than 5000 alone at 35.8 % / 39.6 %. With the
	// telephone channel transform (telephoneMLLR) on 8 kHz audio the same
	// preset scores 28.6 % / 36.8 % at 0.20–0.29, and the HMM cap matters
	// less (3000 to 8000 within two words on the human set). Fewer
	// Gaussians (-topn 2 or 3), frame downsampling (-ds 2), tighter
	// -beam/-pbeam or -lpbeam and a wider -pl_window each cost human
	// speech 7 points or more, or gain nothing; so did -dither, turning
	// -remove_noise off, and other -lw/-bestpathlw/-wip/-pip/-silprob.
	// (-cmn, -cmninit and the filter bank cannot be set here: the model's
	// feat.params overrides them.) The best-path pass stays on in every
	// preset: it costs little and gives the word posteriors behind
	// Confidence.
	switch s {
	case SpeedAccurate:
		return nil
	case SpeedFastest:
		return []string{"-fwdflat", "no", "-bestpath", "yes", "-maxhmmpf", "3000", "-maxwpf", "10"}
	default:
		return []string{"-fwdflat", "no", "-bestpath", "yes", "-maxhmmpf", "4000", "-wbeam", "1e-20", "-maxwpf", "10"}
	}
}

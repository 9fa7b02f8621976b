// Package lm builds vmx's voicemail language model: a generator of
// voicemail-domain training sentences written by the project, and an ARPA
// trigram model builder. PocketSphinx interpolates the model with its
// general English one (pocketsphinx.Config.DomainLM); alone it is brittle
// on speech that leaves the domain.
//
// The sentences are the project's own, never the ASR test set's, which
// stays held out for measuring the model. Every word they use is in
// Debian's cmudict-en-us.dict, so PocketSphinx can say all of them.
package lm

import (
	"fmt"
	"io"
	"strings"
)

// DefaultSentences is how many sentences Build is given by vmx's model
// build: enough for every phrase and list item to appear many times.
const DefaultSentences = 5000

// DefaultSeed is the seed of vmx's model build.
const DefaultSeed = 1

// Build generates n voicemail sentences from seed and writes their trigram
// model to w in ARPA text format. The output depends only on seed and n.
// sphinx_lm_convert turns it into the binary .lm.bin PocketSphinx loads
// faster; PocketSphinx also reads the ARPA text directly.
func Build(w io.Writer, seed int64, n int) error {
	if n < 1 {
		return fmt.Errorf("lm: %d sentences: want at least 1", n)
	}
	t := NewTrigrams()
	for _, s := range Sentences(seed, n) {
		t.Add(strings.Fields(s))
	}
	return t.WriteARPA(w)
}

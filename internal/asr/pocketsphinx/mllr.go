package pocketsphinx

import (
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
)

// telephoneMLLR maps the wide-band model's Gaussian means to where they
// lie on a telephone channel: 8 kHz audio band-limited to 300–3400 Hz,
// passed through G.711 µ-law and upsampled to 16 kHz by vmx. It is the
// least-squares fit of the cepstra (after cepstral mean normalisation) of
// speech through that channel as a linear function of the cepstra of the
// same speech at 16 kHz, one 13×13 matrix for the static, delta and
// delta-delta streams alike; TestTelephoneMLLRFit makes it. Its training
// speech is flite's awb and rms voices (two of the telephone test set's
// four) saying sentences that are in neither test set.
//
//go:embed telephone.mllr
var telephoneMLLR []byte

// The model's feature streams, as its feat.params splits them
// (-svspec 0-12/13-25/26-38): static cepstra, deltas, delta-deltas.
const (
	mllrStreams = 3
	mllrDim     = 13
)

// identityMLLR is PocketSphinx's MLLR file for no transform. Applying it
// restores the model as loaded.
func identityMLLR() []byte {
	var a [mllrDim][mllrDim]float64
	for i := range mllrDim {
		a[i][i] = 1
	}
	return formatMLLR(&a, &[mllrDim]float64{})
}

// formatMLLR writes PocketSphinx's MLLR file of one class that maps every
// stream's means by a (row-major) and the static stream's also by bias,
// leaving variances as they are: the class count, the stream count, then
// per stream its length, matrix, bias and variance scales.
func formatMLLR(a *[mllrDim][mllrDim]float64, bias *[mllrDim]float64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "1\n%d\n", mllrStreams)
	num := func(v float64) { b.WriteString(strconv.FormatFloat(v, 'g', 6, 64) + " ") }
	for s := range mllrStreams {
		fmt.Fprintf(&b, "%d\n", mllrDim)
		for r := range mllrDim {
			for c := range mllrDim {
				num(a[r][c])
			}
			b.WriteByte('\n')
		}
		for r := range mllrDim {
			if s == 0 {
				num(bias[r])
			} else {
				num(0)
			}
		}
		b.WriteByte('\n')
		for range mllrDim {
			num(1)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Package textutil reads and cleans numbers in transcripts: it finds the
// callback number a caller spoke ("my number is five five five, one two
// three four" → "5551234") and masks digit runs such as card numbers and
// PINs before a transcript is delivered.
//
// Both work on one reading of the text: numerals ("555-1234",
// "4111 1111 1111 1111") and spoken digits ("five", "oh", "double five",
// "twenty three", "eight hundred") join into a run across spaces, commas,
// periods, hyphens, parentheses, slashes and the words "dash" and "hyphen";
// any other word or character ends the run. Only ASCII digits count as
// numerals. Spoken digits are read in English.
//
// Extract the callback number before masking: a masker with the default
// settings masks phone numbers too.
package textutil

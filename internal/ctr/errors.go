package ctr

import (
	"errors"
	"strings"
)

// Errors for input that holds no item at all.
var (
	ErrEmpty   = errors.New("ctr: no input")
	ErrNotJSON = errors.New("ctr: input is not JSON")
)

// Error is why an item could not be decoded.
type Error struct {
	Pos       Pos
	ContactID string // the record's ContactId, when it could be read
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ctr: ")
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.ContactID != "" {
		b.WriteString("contact ")
		b.WriteString(e.ContactID)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

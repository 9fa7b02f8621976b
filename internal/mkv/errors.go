package mkv

import (
	"errors"
	"fmt"
)

// ErrTooLarge is wrapped by a SyntaxError when a declared size exceeds the
// reader's limits; the bytes are never allocated.
var ErrTooLarge = errors.New("declared size exceeds limit")

// SyntaxError reports malformed input: what was wrong and the byte offset of
// the element where it was found.
type SyntaxError struct {
	Offset int64  // byte offset of the element's ID in the stream
	ID     uint32 // element ID, 0 when the ID itself could not be read
	Err    error
}

func (e *SyntaxError) Error() string {
	if e.ID == 0 {
		return fmt.Sprintf("mkv: offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("mkv: offset %d: element 0x%X (%s): %v", e.Offset, e.ID, elementName(e.ID), e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErrorf(off int64, id uint32, format string, args ...any) error {
	return &SyntaxError{Offset: off, ID: id, Err: fmt.Errorf(format, args...)}
}

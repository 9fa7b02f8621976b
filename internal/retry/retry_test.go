package retry

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	p := fmt.Errorf("deliver: %w", Permanent(base))
	if !IsPermanent(p) || !errors.Is(p, base) || p.Error() != "deliver: boom" {
		t.Fatalf("permanent: %v", p)
	}
	if IsPermanent(base) || Permanent(nil) != nil || After(time.Second, nil) != nil {
		t.Fatal("plain or nil errors misclassified")
	}
	a := fmt.Errorf("fetch: %w", After(3*time.Second, base))
	if d, ok := Delay(a); !ok || d != 3*time.Second || !errors.Is(a, base) {
		t.Fatalf("delay %v %v", d, ok)
	}
	if _, ok := Delay(p); ok {
		t.Fatal("permanent error has a delay")
	}
}

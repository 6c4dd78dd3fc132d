package lockclient

import (
	"testing"
	"time"
)

// The service's clock counts whole milliseconds: a lease counted from a send later within the same
// millisecond would end after the service's expiresAt, so the client counts from that millisecond's start.
func TestStartOfMillisecondKeepsTheMonotonicClock(t *testing.T) {
	now := time.Now()
	sent := startOfMillisecond(now)
	if sent.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("%v is not at the start of a millisecond", sent)
	}
	if back := now.Sub(sent); back < 0 || back >= time.Millisecond {
		t.Fatalf("moved back %v, want less than 1 ms", back)
	}
	// A monotonic reading prints as "m=+…"; Truncate and Round would have stripped it.
	if sent.String() == sent.Round(0).String() {
		t.Fatalf("the monotonic clock reading was dropped: %v", sent)
	}
}

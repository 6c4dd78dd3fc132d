package lockclient

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Permit is a permit as the service describes it. FencingToken equals RunID: pass it downstream
// and compare it for equality.
//
// FencingSeq is the fencing number: larger for every later grant of the same slot (of the resource,
// at capacity 1), so a store that refuses writes carrying a number lower than the highest it has
// seen refuses a holder whose lease ran out. The service's numbers are int64 (Temporal's task IDs;
// they fit PostgreSQL's bigint), sent as decimal strings only because JSON numbers lose precision
// past 2^53: an int64 holds each one exactly and compares with < and >. An answer whose number is
// not a decimal int64 is refused as CodeUnexpectedResponse.
//
// In a ResourceView, RunID and FencingToken are "" for permits the client's API key does not hold
// (only the holder's key and admin keys see them).
type Permit struct {
	RunID        string
	FencingToken string
	FencingSeq   int64
	WorkflowID   string
	Resource     string
	Slot         int
	Capacity     int
	Lease        time.Duration // the lease length last granted
	Holder       string        // "" when none was given
	AcquiredAt   time.Time
	ExpiresAt    time.Time // the service's lease end: the slot is never given away before it
	State        string    // "held" from Renew and Status; "" from Acquire
	Waited       time.Duration

	heldUntil time.Time
}

// HeldUntil is this client's own bound for the lease, on the local clock: counted from when the
// request that granted the lease was sent (plus, for an acquire, the time the service says it
// waited before the lease began), never from when the answer arrived, so it is never later than
// ExpiresAt however slowly the answer came. It carries a monotonic reading. Zero for a permit read by
// Status or Holders.
func (p *Permit) HeldUntil() time.Time { return p.heldUntil }

// ResourceView lists the permits held on a resource. Consistency is "strong" (every slot read
// directly) or "eventual" (from Temporal visibility).
type ResourceView struct {
	Resource    string
	Capacity    int
	Held        []Permit
	Consistency string
}

type wirePermit struct {
	RunID        *string `json:"runId"`
	FencingToken *string `json:"fencingToken"`
	FencingSeq   *string `json:"fencingSeq"`
	WorkflowID   *string `json:"workflowId"`
	Resource     *string `json:"resource"`
	Slot         *int    `json:"slot"`
	Capacity     *int    `json:"capacity"`
	LeaseMs      *int64  `json:"leaseMs"`
	Holder       *string `json:"holder"`
	AcquiredAt   *string `json:"acquiredAt"`
	ExpiresAt    *string `json:"expiresAt"`
	State        *string `json:"state"`
	WaitedMs     *int64  `json:"waitedMs"`
}

type wireResourceView struct {
	Resource    *string      `json:"resource"`
	Capacity    *int         `json:"capacity"`
	Held        []wirePermit `json:"held"`
	Consistency *string      `json:"consistency"`
}

// fencingSeqPattern is the wire's fencing number: a decimal without sign or leading zeros.
var fencingSeqPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

// permit checks and converts a permit of an answer; viewed is for a resource view, where the token
// is shown only to its holder's key.
func (w *wirePermit) permit(viewed bool) (*Permit, error) {
	if (!viewed && (w.RunID == nil || w.FencingToken == nil)) || w.FencingSeq == nil || w.WorkflowID == nil ||
		w.Resource == nil || w.Slot == nil || w.Capacity == nil || w.LeaseMs == nil || w.AcquiredAt == nil || w.ExpiresAt == nil {
		return nil, fmt.Errorf("a permit field is missing")
	}
	if !fencingSeqPattern.MatchString(*w.FencingSeq) {
		return nil, fmt.Errorf("fencingSeq: %q is not a decimal integer", *w.FencingSeq)
	}
	fencingSeq, err := strconv.ParseInt(*w.FencingSeq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("fencingSeq: %q is not an int64", *w.FencingSeq)
	}
	acquiredAt, err := time.Parse(time.RFC3339Nano, *w.AcquiredAt)
	if err != nil {
		return nil, fmt.Errorf("acquiredAt: %w", err)
	}
	expiresAt, err := time.Parse(time.RFC3339Nano, *w.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("expiresAt: %w", err)
	}
	p := &Permit{
		FencingSeq: fencingSeq,
		WorkflowID: *w.WorkflowID,
		Resource:   *w.Resource,
		Slot:       *w.Slot,
		Capacity:   *w.Capacity,
		Lease:      time.Duration(*w.LeaseMs) * time.Millisecond,
		AcquiredAt: acquiredAt,
		ExpiresAt:  expiresAt,
	}
	if w.RunID != nil {
		p.RunID = *w.RunID
	}
	if w.FencingToken != nil {
		p.FencingToken = *w.FencingToken
	}
	if w.Holder != nil {
		p.Holder = *w.Holder
	}
	if w.State != nil {
		p.State = *w.State
	}
	if w.WaitedMs != nil {
		p.Waited = time.Duration(*w.WaitedMs) * time.Millisecond
	}
	return p, nil
}

func decodePermit(status int, body []byte) (*Permit, error) {
	var w wirePermit
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, unexpected(status, err.Error())
	}
	p, err := w.permit(false)
	if err != nil {
		return nil, unexpected(status, err.Error())
	}
	return p, nil
}

func decodeResourceView(status int, body []byte) (*ResourceView, error) {
	var w wireResourceView
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, unexpected(status, err.Error())
	}
	if w.Resource == nil || w.Capacity == nil || w.Held == nil || w.Consistency == nil {
		return nil, unexpected(status, "a field of the resource view is missing")
	}
	view := &ResourceView{Resource: *w.Resource, Capacity: *w.Capacity, Consistency: *w.Consistency, Held: []Permit{}}
	for _, held := range w.Held {
		p, err := held.permit(true)
		if err != nil {
			return nil, unexpected(status, err.Error())
		}
		view.Held = append(view.Held, *p)
	}
	return view, nil
}

func unexpected(status int, problem string) *ServiceError {
	return &ServiceError{
		Status:  status,
		Code:    CodeUnexpectedResponse,
		Message: fmt.Sprintf("the answer (HTTP %d) is not what the lock service sends: %s", status, problem),
	}
}

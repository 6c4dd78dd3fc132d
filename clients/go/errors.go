package lockclient

import (
	"fmt"
	"time"
)

// The service's error codes (the "error" field of every error answer), plus CodeUnexpectedResponse
// for an answer that did not come from the lock API (a proxy's 502 page, a gateway's 401).
const (
	CodeInvalidRequest      = "invalid_request"
	CodePermitNotFound      = "permit_not_found"
	CodePermitEnded         = "permit_ended"
	CodeResourceBusy        = "resource_busy"
	CodeCapacityConflict    = "capacity_conflict"
	CodeMaxHoldExceeded     = "max_hold_exceeded"
	CodeRenewalLimit        = "renewal_limit"
	CodeTemporalUnavailable = "temporal_unavailable"
	CodeShuttingDown        = "shutting_down"
	CodeTooManyWaiters      = "too_many_waiters"
	CodeUnexpectedResponse  = "unexpected_response"
)

// ServiceError is an error answer from the service. Match it with errors.As, or compare with
// errors.Is against the sentinels below (ErrResourceBusy, ErrPermitEnded, ...), which match by Code.
type ServiceError struct {
	Status  int    // HTTP status
	Code    string // the API's error code, or CodeUnexpectedResponse
	Message string // what was wrong, naming the field where there is one
	// RetryAfter is the pause the service asked for (Retry-After), 0 when it named none.
	RetryAfter time.Duration
	// HasRetryAfter tells a Retry-After of 0 from none.
	HasRetryAfter bool
	State         string // how the permit ended (permit_ended only): "released" or "expired"
	Capacity      int    // the capacity in force (capacity_conflict only)
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("lock service: %s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// Is matches a sentinel ServiceError by its Code: errors.Is(err, lockclient.ErrResourceBusy).
func (e *ServiceError) Is(target error) bool {
	sentinel, ok := target.(*ServiceError)
	return ok && sentinel.Status == 0 && sentinel.Code == e.Code
}

// Retryable is true for answers that may succeed when asked again later: busy, 5xx, 429.
func (e *ServiceError) Retryable() bool {
	return e.Code == CodeResourceBusy || e.Status >= 500 || e.Status == 429
}

// PermitGone is true when the permit has ended (410) or the service does not know it (404).
func (e *ServiceError) PermitGone() bool {
	return e.Code == CodePermitEnded || e.Code == CodePermitNotFound
}

// Sentinels for errors.Is; they match any ServiceError with the same Code.
var (
	ErrInvalidRequest   = &ServiceError{Code: CodeInvalidRequest}
	ErrPermitNotFound   = &ServiceError{Code: CodePermitNotFound}
	ErrPermitEnded      = &ServiceError{Code: CodePermitEnded}
	ErrResourceBusy     = &ServiceError{Code: CodeResourceBusy}
	ErrCapacityConflict = &ServiceError{Code: CodeCapacityConflict}
	ErrMaxHoldExceeded  = &ServiceError{Code: CodeMaxHoldExceeded}
	ErrRenewalLimit     = &ServiceError{Code: CodeRenewalLimit}
)

// UnreachableError means no answer: the connection failed, or the answer did not come in time.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("lock service unreachable at %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Why a kept permit is lost (PermitLostError.Reason).
const (
	// LostEnded: the service says the permit has ended (released by someone else, expired) or does not know it.
	LostEnded = "ended"
	// LostUnconfirmed: no renewal succeeded before the lease would run out.
	LostUnconfirmed = "unconfirmed"
	// LostMaxHold: the service refuses renewals (maximum hold time) and the lease is running out.
	LostMaxHold = "max_hold"
	// LostRenewalLimit: the service refuses renewals (renewal limit) and the lease is running out.
	LostRenewalLimit = "renewal_limit"
)

// PermitLostError is the cause (context.Cause) of WithPermit's context once the permit is lost.
type PermitLostError struct {
	RunID  string
	Reason string // LostEnded, LostUnconfirmed, LostMaxHold or LostRenewalLimit
	State  string // for LostEnded after a 410: "released" or "expired"
	Detail string
}

func (e *PermitLostError) Error() string {
	return fmt.Sprintf("permit %s is lost: %s", e.RunID, e.Detail)
}

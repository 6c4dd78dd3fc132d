package lockclient

import (
	"fmt"
	"time"
)

// The service's error codes (the "error" field of every error answer, ERROR_CODES of the wire
// contract), plus CodeUnexpectedResponse for an answer that did not come from the lock API (a
// proxy's 502 page, a gateway's 401).
const (
	CodeInvalidRequest       = "invalid_request"        // 400 (408: the request was not received in time)
	CodeUnauthorized         = "unauthorized"           // 401: no API key, or one the service does not know
	CodeForbidden            = "forbidden"              // 403: the key may not do this (its role, its prefixes)
	CodeRateLimited          = "rate_limited"           // 429 + Retry-After: RATE_LIMIT_PER_SECOND for this key
	CodeHeadersTooLarge      = "headers_too_large"      // 431: MAX_HEADER_BYTES
	CodeNotFound             = "not_found"              // 404: no such path (is the base URL right?)
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodePayloadTooLarge      = "payload_too_large"      // 413: BODY_LIMIT_BYTES
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodePermitNotFound       = "permit_not_found"       // 404: unknown runId, or another key's permit
	CodePermitEnded          = "permit_ended"           // 410, with State
	CodeResourceBusy         = "resource_busy"          // 409 + Retry-After
	CodeCapacityConflict     = "capacity_conflict"      // 409, with Capacity
	CodeMaxHoldExceeded      = "max_hold_exceeded"      // 409: MAX_HOLD_MS
	CodeRenewalLimit         = "renewal_limit"          // 409: MAX_RENEWALS
	CodeTemporalUnavailable  = "temporal_unavailable"   // 503 + Retry-After
	CodeShuttingDown         = "shutting_down"          // 503 + Retry-After
	CodeTooManyWaiters       = "too_many_waiters"       // 429 (MAX_WAITERS_PER_KEY) or 503 (MAX_WAITERS_PER_RESOURCE), + Retry-After
	CodeInternalError        = "internal_error"         // 500
	CodeUnexpectedResponse   = "unexpected_response"
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

// KeyRefused is true when the API key was refused: none or an unknown one (401), or one that may
// not do this (403), by the service or by a gateway in front of it (whose Code is CodeUnexpectedResponse).
func (e *ServiceError) KeyRefused() bool {
	return e.Status == 401 || e.Status == 403
}

// PermitGone is true when the permit has ended (410) or the service does not know it (404).
func (e *ServiceError) PermitGone() bool {
	return e.Code == CodePermitEnded || e.Code == CodePermitNotFound
}

// Sentinels for errors.Is, one per error code; each matches any ServiceError with the same Code.
var (
	ErrInvalidRequest       = &ServiceError{Code: CodeInvalidRequest}
	ErrUnauthorized         = &ServiceError{Code: CodeUnauthorized}
	ErrForbidden            = &ServiceError{Code: CodeForbidden}
	ErrRateLimited          = &ServiceError{Code: CodeRateLimited}
	ErrHeadersTooLarge      = &ServiceError{Code: CodeHeadersTooLarge}
	ErrNotFound             = &ServiceError{Code: CodeNotFound}
	ErrMethodNotAllowed     = &ServiceError{Code: CodeMethodNotAllowed}
	ErrPayloadTooLarge      = &ServiceError{Code: CodePayloadTooLarge}
	ErrUnsupportedMediaType = &ServiceError{Code: CodeUnsupportedMediaType}
	ErrPermitNotFound       = &ServiceError{Code: CodePermitNotFound}
	ErrPermitEnded          = &ServiceError{Code: CodePermitEnded}
	ErrResourceBusy         = &ServiceError{Code: CodeResourceBusy}
	ErrCapacityConflict     = &ServiceError{Code: CodeCapacityConflict}
	ErrMaxHoldExceeded      = &ServiceError{Code: CodeMaxHoldExceeded}
	ErrRenewalLimit         = &ServiceError{Code: CodeRenewalLimit}
	ErrTemporalUnavailable  = &ServiceError{Code: CodeTemporalUnavailable}
	ErrShuttingDown         = &ServiceError{Code: CodeShuttingDown}
	ErrTooManyWaiters       = &ServiceError{Code: CodeTooManyWaiters}
	ErrInternalError        = &ServiceError{Code: CodeInternalError}
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
	// LostMaxHold: the service refuses renewals (CodeMaxHoldExceeded: maximum hold time) and the lease is running out.
	LostMaxHold = "max_hold"
	// LostRenewalLimit: the service refuses renewals (renewal limit) and the lease is running out.
	LostRenewalLimit = "renewal_limit"
	// LostKeyRefused: the service refuses renewals because it refuses the API key (401/403: the key was
	// removed from its key file, say) and the lease is running out.
	LostKeyRefused = "key_refused"
	// LostRenewalRefused: the service refuses renewals for another reason asking again cannot change (any
	// other 4xx, such as CodeInvalidRequest for a lease longer than its MAX_LEASE_MS) and the lease is running out.
	LostRenewalRefused = "renewal_refused"
)

// PermitLostError is the cause (context.Cause) of WithPermit's context once the permit is lost.
type PermitLostError struct {
	RunID  string
	Reason string // LostEnded, LostUnconfirmed, LostMaxHold, LostRenewalLimit, LostKeyRefused or LostRenewalRefused
	State  string // for LostEnded after a 410: "released" or "expired"
	Detail string
}

func (e *PermitLostError) Error() string {
	return fmt.Sprintf("permit %s is lost: %s", e.RunID, e.Detail)
}

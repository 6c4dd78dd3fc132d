package lockclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	firstRetry = 250 * time.Millisecond
	maxRetry   = 2 * time.Second
)

// Keeper keeps a permit alive: it renews it every RenewEvery (default a third of the lease), retries
// failed renewals with back-off, and reports the permit lost (Lost, Err) when the service says it
// has ended, or when no renewal has succeeded by the time the lease would end minus a safety margin
// of max(200 ms, lease/10). A renewal the service refuses for good (CodeRenewalLimit,
// CodeMaxHoldExceeded, a refused key: ServiceError.KeyRefused, or any other error that is not
// Retryable) is not asked again: the permit stays held until its lease runs out, and is reported lost
// (LostRenewalLimit, LostMaxHold, LostKeyRefused, LostRenewalRefused) that margin before. Each lease
// is timed on the local clock from when its request was sent, never from when the answer arrived, so
// the keeper never believes it ends later than the service does.
type Keeper struct {
	client     *Client
	lease      time.Duration
	renewEvery time.Duration
	margin     time.Duration

	mu        sync.Mutex
	permit    *Permit
	heldUntil time.Time
	refusal   *ServiceError
	lostErr   *PermitLostError
	lostTimer *time.Timer
	stopped   bool

	lost   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewKeeper prepares a keeper for a permit this client returned from Acquire or Renew; renewEvery 0
// means a third of the lease. It checks that renewEvery leaves room for a renewal to fail and be retried.
func NewKeeper(client *Client, permit *Permit, renewEvery time.Duration) (*Keeper, error) {
	lease := permit.Lease
	margin := max(200*time.Millisecond, lease/10)
	if renewEvery == 0 {
		renewEvery = lease / 3
	}
	if renewEvery <= 0 || renewEvery >= lease-margin {
		return nil, fmt.Errorf("renewEvery: %v must be more than 0 and less than the lease (%v) minus the safety margin (%v)", renewEvery, lease, margin)
	}
	heldUntil := permit.HeldUntil()
	if heldUntil.IsZero() {
		heldUntil = time.Now().Add(lease) // not from Acquire: later than the service counts by the answer's delay
	}
	return &Keeper{
		client: client, lease: lease, renewEvery: renewEvery, margin: margin,
		permit: permit, heldUntil: heldUntil, lost: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start begins renewing in a goroutine; call Stop when done.
func (k *Keeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.mu.Lock()
	k.armLostTimer()
	k.mu.Unlock()
	go k.renewLoop(ctx)
}

// Stop stops renewing and waits for the renewal goroutine to end (a renewal in flight is cancelled).
// It does not release the permit.
func (k *Keeper) Stop() {
	k.mu.Lock()
	k.stopped = true
	if k.lostTimer != nil {
		k.lostTimer.Stop()
	}
	k.mu.Unlock()
	if k.cancel != nil {
		k.cancel()
		<-k.done
	}
}

// Lost is closed when the permit can no longer be counted on; Err then says why.
func (k *Keeper) Lost() <-chan struct{} { return k.lost }

// Err is the *PermitLostError once Lost is closed, else nil.
func (k *Keeper) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lostErr == nil {
		return nil
	}
	return k.lostErr
}

// Permit is the permit as last granted or renewed (its ExpiresAt moves with each renewal).
func (k *Keeper) Permit() Permit {
	k.mu.Lock()
	defer k.mu.Unlock()
	return *k.permit
}

// HeldUntil is the local time by which the lease has surely not ended, as of the last renewal.
func (k *Keeper) HeldUntil() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.heldUntil
}

// armLostTimer is called with mu held.
func (k *Keeper) armLostTimer() {
	if k.lostTimer != nil {
		k.lostTimer.Stop()
	}
	if k.stopped || k.lostErr != nil {
		return
	}
	deadline := k.heldUntil.Add(-k.margin)
	k.lostTimer = time.AfterFunc(time.Until(deadline), func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if time.Now().Before(k.heldUntil.Add(-k.margin)) {
			return // a renewal moved the lease and armed a newer timer
		}
		reason, detail := LostUnconfirmed, "no renewal succeeded before the lease would run out"
		switch {
		case k.refusal == nil:
		case k.refusal.KeyRefused():
			reason, detail = LostKeyRefused, fmt.Sprintf("the service refuses the API key (%s) and the lease is running out", k.refusal.Message)
		case k.refusal.Code == CodeMaxHoldExceeded:
			reason, detail = LostMaxHold, fmt.Sprintf("the service refuses renewals (%s) and the lease is running out", k.refusal.Message)
		case k.refusal.Code == CodeRenewalLimit:
			reason, detail = LostRenewalLimit, fmt.Sprintf("the service refuses renewals (%s) and the lease is running out", k.refusal.Message)
		default:
			// A 400 (a lease this replica will not grant), another 409, a gateway's 4xx: none is the hold time.
			reason, detail = LostRenewalRefused, fmt.Sprintf("the service refuses renewals (%s) and the lease is running out", k.refusal.Message)
		}
		k.declareLost(&PermitLostError{RunID: k.permit.RunID, Reason: reason, Detail: detail})
	})
}

// declareLost is called with mu held.
func (k *Keeper) declareLost(err *PermitLostError) {
	if k.stopped || k.lostErr != nil {
		return
	}
	if k.lostTimer != nil {
		k.lostTimer.Stop()
	}
	k.lostErr = err
	close(k.lost)
}

func (k *Keeper) renewLoop(ctx context.Context) {
	defer close(k.done)
	k.mu.Lock()
	next := k.heldUntil.Add(-k.permit.Lease + k.renewEvery)
	runID := k.permit.RunID
	k.mu.Unlock()
	retry := firstRetry
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-k.lost:
			timer.Stop()
			return
		case <-timer.C:
		}
		sentAt := time.Now()
		// A renewal that hangs must not use up the time for the next attempt.
		renewed, err := k.client.renew(ctx, runID, k.lease, max(time.Second, k.renewEvery))
		if ctx.Err() != nil {
			return
		}
		var refusal *ServiceError
		switch {
		case err == nil:
			k.mu.Lock()
			k.permit = renewed
			k.heldUntil = renewed.HeldUntil()
			k.armLostTimer()
			k.mu.Unlock()
			retry = firstRetry
			next = sentAt.Add(k.renewEvery)
			continue
		case errors.As(err, &refusal) && refusal.PermitGone():
			detail := "the service no longer knows it"
			if refusal.Code == CodePermitEnded {
				detail = fmt.Sprintf("the service says it has ended (%s)", refusal.State)
			}
			k.mu.Lock()
			k.declareLost(&PermitLostError{RunID: runID, Reason: LostEnded, State: refusal.State, Detail: detail})
			k.mu.Unlock()
			return
		case errors.As(err, &refusal) && !refusal.Retryable():
			// max_hold_exceeded, renewal_limit, a refused key, a lease it will not grant: asking again cannot help.
			k.mu.Lock()
			k.refusal = refusal
			k.armLostTimer()
			k.mu.Unlock()
			return
		}
		next = time.Now().Add(retry)
		retry = min(retry*2, maxRetry)
	}
}

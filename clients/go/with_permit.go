package lockclient

import (
	"context"
	"errors"
	"time"
)

const (
	releaseAttempts   = 3
	firstReleasePause = 200 * time.Millisecond
)

type keeperKey struct{}

// KeeperFrom returns the Keeper of the permit WithPermit holds for ctx (its Permit, with its
// FencingSeq for the store; HeldUntil), or nil.
func KeeperFrom(ctx context.Context) *Keeper {
	keeper, _ := ctx.Value(keeperKey{}).(*Keeper)
	return keeper
}

// WithPermit acquires a permit on the resource, runs fn while renewing the permit in the
// background, and releases it when fn returns, errors or panics. fn's ctx is cancelled if the permit
// is lost, with a *PermitLostError as its cause (context.Cause); when fn then returns ctx's error,
// WithPermit returns that *PermitLostError. Otherwise it returns fn's error as is.
func (c *Client) WithPermit(ctx context.Context, resource string, fn func(ctx context.Context) error, options ...AcquireOption) (err error) {
	s := settingsOf(options)
	permit, err := c.Acquire(ctx, resource, options...)
	if err != nil {
		return err
	}
	defer func() {
		if released := c.releaseBestEffort(permit.RunID); released != nil && s.onReleaseFailed != nil {
			s.onReleaseFailed(released)
		}
	}()
	keeper, err := NewKeeper(c, permit, s.renewEvery)
	if err != nil {
		return err
	}
	keeper.Start()
	defer keeper.Stop()

	workCtx, cancel := context.WithCancelCause(context.WithValue(ctx, keeperKey{}, keeper))
	defer cancel(nil)
	go func() {
		select {
		case <-keeper.Lost():
			cancel(keeper.Err())
		case <-workCtx.Done():
		}
	}()
	err = fn(workCtx)
	if err != nil && errors.Is(err, context.Canceled) && keeper.Err() != nil && ctx.Err() == nil {
		return keeper.Err()
	}
	return err
}

// releaseBestEffort releases, retrying a few times when the service is unreachable or unavailable;
// nil when the permit is released or had already ended. Callers release on their way out.
func (c *Client) releaseBestEffort(runID string) error {
	pause := firstReleasePause
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		err := c.Release(ctx, runID)
		cancel()
		var refusal *ServiceError
		var unreachable *UnreachableError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &refusal) && refusal.PermitGone():
			return nil
		case attempt >= releaseAttempts,
			!errors.As(err, &unreachable) && !(errors.As(err, &refusal) && refusal.Retryable()):
			return err
		}
		time.Sleep(pause)
		pause *= 2
	}
}

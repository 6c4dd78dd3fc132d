package lockclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"temporal-lock-service/lockclient"
)

func newClient(t *testing.T) *lockclient.Client {
	client, err := lockclient.New(serviceURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func uniqueResource(t *testing.T) string {
	return "go-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))[:20] + "-" + time.Now().Format("150405.000000")
}

func assertReleased(t *testing.T, client *lockclient.Client, runID string) {
	t.Helper()
	_, err := client.Status(context.Background(), runID)
	var service *lockclient.ServiceError
	if !errors.As(err, &service) || !errors.Is(err, lockclient.ErrPermitEnded) || service.State != "released" {
		t.Fatalf("the permit was not released: %v", err)
	}
}

func TestWithPermitCancelsItsContextWithAPermitLostErrorWhenSomeoneElseReleasesThePermit(t *testing.T) {
	client := newClient(t)
	var runID string
	err := client.WithPermit(context.Background(), uniqueResource(t), func(ctx context.Context) error {
		runID = lockclient.KeeperFrom(ctx).Permit().RunID
		if err := client.Release(context.Background(), runID); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Second):
			return errors.New("the loss was not noticed")
		}
	}, lockclient.Lease(30*time.Second), lockclient.RenewEvery(500*time.Millisecond))
	var lost *lockclient.PermitLostError
	if !errors.As(err, &lost) || lost.Reason != lockclient.LostEnded || lost.State != "released" || lost.RunID != runID {
		t.Fatalf("WithPermit returned %v, not the PermitLostError", err)
	}
}

func TestAPanicInsideWithPermitStillReleases(t *testing.T) {
	client := newClient(t)
	var runID string
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = client.WithPermit(context.Background(), uniqueResource(t), func(ctx context.Context) error {
			runID = lockclient.KeeperFrom(ctx).Permit().RunID
			panic("the work panicked")
		}, lockclient.Lease(30*time.Second))
	}()
	assertReleased(t, client, runID)
}

func TestABusyResourceGivesAServiceErrorWithRetryAfterAndTheWorkNeverRuns(t *testing.T) {
	client := newClient(t)
	resource := uniqueResource(t)
	held, err := client.Acquire(context.Background(), resource, lockclient.Lease(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Release(context.Background(), held.RunID)
	ran := false
	err = client.WithPermit(context.Background(), resource, func(context.Context) error { ran = true; return nil })
	var service *lockclient.ServiceError
	if ran || !errors.As(err, &service) || !errors.Is(err, lockclient.ErrResourceBusy) || service.Status != 409 ||
		!service.HasRetryAfter || service.RetryAfter < time.Second {
		t.Fatalf("ran %v, err %v", ran, err)
	}
}

func TestACancelledWaitingAcquireReturnsTheContextErrorAndLeavesNoPermitBehind(t *testing.T) {
	client := newClient(t)
	resource := uniqueResource(t)
	held, err := client.Acquire(context.Background(), resource, lockclient.Lease(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := client.Acquire(ctx, resource, lockclient.Lease(30*time.Second), lockclient.Wait(20*time.Second))
		done <- err
	}()
	r := &runner{t: t, url: serviceURL(t)}
	for deadline := time.Now().Add(10 * time.Second); r.lockWaiters() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the acquire never waited")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled acquire returned %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.lockWaiters() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the service still has the cancelled acquire waiting")
		}
	}
	if err := client.Release(context.Background(), held.RunID); err != nil {
		t.Fatal(err)
	}
	view, err := client.Holders(context.Background(), resource, 0)
	if err != nil || len(view.Held) != 0 {
		t.Fatalf("holders after the release: %+v %v", view, err)
	}
}

func TestAnHTTPSServiceIsTrustedThroughWithCAFileOrPermitCAFileAndNotWithoutEither(t *testing.T) {
	secure, ok := furtherServices(t)["secure"]
	if !ok {
		t.Skip("LOCK_CONFORMANCE_SERVICES has no secure service: `npm test` starts one")
	}
	key := lockclient.WithAPIKey(secure.Keys["client-a"])
	resource := "conf-" + uniqueResource(t)
	holders := func(options ...lockclient.ClientOption) error {
		client, err := lockclient.New(secure.URL, append(options, key)...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.Holders(context.Background(), resource, 0)
		return err
	}

	t.Setenv("PERMIT_CA_FILE", "")
	var unreachable *lockclient.UnreachableError
	if err := holders(); !errors.As(err, &unreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}
	t.Setenv("PERMIT_CA_FILE", secure.CAFile)
	if err := holders(); err != nil {
		t.Fatalf("with PERMIT_CA_FILE: %v", err)
	}
	// WithCAFile is used instead of the environment's file.
	t.Setenv("PERMIT_CA_FILE", "/nonexistent/ca.pem")
	if err := holders(lockclient.WithCAFile(secure.CAFile)); err != nil {
		t.Fatalf("with WithCAFile: %v", err)
	}
	if _, err := lockclient.New(secure.URL); err == nil || err.Error() != "PERMIT_CA_FILE: /nonexistent/ca.pem does not exist" {
		t.Fatalf("a missing PERMIT_CA_FILE: %v", err)
	}
	if _, err := lockclient.New(secure.URL, lockclient.WithCAFile("/nonexistent/other.pem")); err == nil ||
		err.Error() != "caFile: /nonexistent/other.pem does not exist" {
		t.Fatalf("a missing WithCAFile: %v", err)
	}
}

func TestAURLWithCredentialsIsRefused(t *testing.T) {
	if _, err := lockclient.New("http://user:secret@127.0.0.1:8080"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("New returned %v", err)
	}
}

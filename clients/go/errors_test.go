package lockclient_test

// Every error code the service answers with (../conformance/errors.json) is a *ServiceError that
// errors.Is matches to its own sentinel and no other, carrying Status, Code, RetryAfter, State and
// Capacity; fencing numbers stay exact past 2^53. A stub server gives the answers the real service
// cannot be made to give on demand.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"temporal-lock-service/lockclient"
)

const stubRetryAfter = 7 * time.Second

// stub answers every request with the status, headers and body last set.
type stub struct {
	mu      sync.Mutex
	status  int
	headers map[string]string
	body    string
}

func (s *stub) set(status int, headers map[string]string, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.headers, s.body = status, headers, body
}

func (s *stub) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, value := range s.headers {
		w.Header().Set(name, value)
	}
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func startStub(t *testing.T) (*stub, *lockclient.Client) {
	s := &stub{status: http.StatusNoContent}
	server := httptest.NewServer(s)
	t.Cleanup(server.Close)
	client, err := lockclient.New(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s, client
}

func TestEveryErrorCodeIsAServiceErrorMatchingItsOwnSentinelWithItsFields(t *testing.T) {
	s, client := startStub(t)
	entries := loadErrorEntries(t)
	if len(entries) != len(sentinels) {
		t.Fatalf("errors.json lists %d codes, the client has %d sentinels", len(entries), len(sentinels))
	}
	for _, entry := range entries {
		body := map[string]any{"error": entry.Code, "message": "stub " + entry.Code}
		if entry.State != "" {
			body["state"] = entry.State
		}
		if entry.Capacity != nil {
			body["capacity"] = *entry.Capacity
		}
		encoded, _ := json.Marshal(body)
		headers := map[string]string{"content-type": "application/json"}
		if entry.RetryAfter {
			headers["retry-after"] = fmt.Sprint(stubRetryAfter.Seconds())
		}
		for _, status := range entry.Status {
			where := fmt.Sprintf("%s %d", entry.Code, status)
			s.set(status, headers, string(encoded))
			_, err := client.Status(context.Background(), "a-run-id")
			var service *lockclient.ServiceError
			if !errors.As(err, &service) {
				t.Fatalf("%s: %T %v", where, err, err)
			}
			for name, sentinel := range sentinels {
				if errors.Is(err, sentinel) != (name == entry.Go) {
					t.Fatalf("%s: errors.Is(err, %s) is %v", where, name, !(name == entry.Go))
				}
			}
			capacity := 0
			if entry.Capacity != nil {
				capacity = *entry.Capacity
			}
			retryAfter := time.Duration(0)
			if entry.RetryAfter {
				retryAfter = stubRetryAfter
			}
			if service.Status != status || service.Code != entry.Code || service.Message != "stub "+entry.Code ||
				service.State != entry.State || service.Capacity != capacity ||
				service.RetryAfter != retryAfter || service.HasRetryAfter != entry.RetryAfter {
				t.Fatalf("%s: %+v", where, service)
			}
			if service.Retryable() != entry.Retryable || service.PermitGone() != entry.PermitGone || service.KeyRefused() != entry.KeyRefused {
				t.Fatalf("%s: Retryable %v, PermitGone %v, KeyRefused %v", where, service.Retryable(), service.PermitGone(), service.KeyRefused())
			}
		}
	}
}

func TestAGatewaysRefusalIsAnUnexpectedResponseThatStillSaysTheKeyWasRefused(t *testing.T) {
	s, client := startStub(t)
	s.set(http.StatusUnauthorized, map[string]string{"content-type": "text/html"}, "<h1>Sign in</h1>")
	_, err := client.Status(context.Background(), "a-run-id")
	var service *lockclient.ServiceError
	if !errors.As(err, &service) || service.Code != lockclient.CodeUnexpectedResponse || !service.KeyRefused() ||
		!strings.Contains(service.Message, "Sign in") {
		t.Fatalf("%T %v", err, err)
	}
}

var stubPermit = map[string]any{
	"runId": "0b7c3c1e-6d0e-4c43-9d0c-2f1f8a0a9f10", "fencingToken": "0b7c3c1e-6d0e-4c43-9d0c-2f1f8a0a9f10",
	"workflowId": "permit:db:0", "resource": "db", "slot": 0, "capacity": 1, "leaseMs": 30000, "holder": nil,
	"acquiredAt": "2026-01-01T00:00:00.000Z", "expiresAt": "2026-01-01T00:00:30.000Z", "state": "held",
}

func answer(fields map[string]any, change map[string]any) string {
	merged := map[string]any{}
	for name, value := range fields {
		merged[name] = value
	}
	for name, value := range change {
		if value == nil {
			delete(merged, name)
		} else {
			merged[name] = value
		}
	}
	encoded, _ := json.Marshal(merged)
	return string(encoded)
}

func TestAFencingNumberPast2To53StaysExactAndAMalformedOneIsRefused(t *testing.T) {
	s, client := startStub(t)
	jsonHeaders := map[string]string{"content-type": "application/json"}
	s.set(http.StatusOK, jsonHeaders, answer(stubPermit, map[string]any{"fencingSeq": "9223372036854775807"}))
	permit, err := client.Status(context.Background(), "a-run-id")
	if err != nil || permit.FencingSeq != math.MaxInt64 {
		t.Fatalf("permit %+v, err %v", permit, err)
	}

	// Another key's view of the resource: the fencing number without the token.
	viewed := answer(stubPermit, map[string]any{"fencingSeq": "9007199254740993", "runId": nil, "fencingToken": nil, "state": nil})
	s.set(http.StatusOK, jsonHeaders, `{"resource":"db","capacity":1,"consistency":"strong","held":[`+viewed+`]}`)
	view, err := client.Holders(context.Background(), "db", 0)
	if err != nil || len(view.Held) != 1 || view.Held[0].FencingSeq != 1<<53+1 || view.Held[0].RunID != "" {
		t.Fatalf("view %+v, err %v", view, err)
	}

	for _, malformed := range []any{"01", "-1", "+1", "1e3", "9223372036854775808", 12, nil} {
		s.set(http.StatusOK, jsonHeaders, answer(stubPermit, map[string]any{"fencingSeq": malformed}))
		_, err := client.Status(context.Background(), "a-run-id")
		var service *lockclient.ServiceError
		if !errors.As(err, &service) || service.Code != lockclient.CodeUnexpectedResponse {
			t.Fatalf("fencingSeq %v: %v", malformed, err)
		}
	}
}

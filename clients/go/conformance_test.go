package lockclient_test

// The shared conformance scenarios (../conformance/scenarios.json, defined in its README), run by
// this client against a real service: LOCK_SERVICE_URL, and LOCK_CONFORMANCE_CONTROL_URL for the
// fault proxy's control. `npm test` hands both over.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"temporal-lock-service/lockclient"
)

type scenario struct {
	Name    string           `json:"name"`
	Needs   string           `json:"needs"`
	Service string           `json:"service"`
	Key     string           `json:"key"`
	Steps   []map[string]any `json:"steps"`
}

// service is one of the further services of scenarios.json, as LOCK_CONFORMANCE_SERVICES hands it over.
type service struct {
	URL    string            `json:"url"`
	CAFile string            `json:"caFile"`
	Keys   map[string]string `json:"keys"`
}

// unknownKey is what a step sends for a key name its service does not have.
const unknownKey = "lsk_unknown-to-this-service"

var errWorkFailed = errors.New("the work failed")

// sentinels are the errors.Is targets errors.json names, one per error code.
var sentinels = map[string]error{
	"ErrInvalidRequest": lockclient.ErrInvalidRequest, "ErrUnauthorized": lockclient.ErrUnauthorized,
	"ErrForbidden": lockclient.ErrForbidden, "ErrRateLimited": lockclient.ErrRateLimited,
	"ErrHeadersTooLarge": lockclient.ErrHeadersTooLarge, "ErrNotFound": lockclient.ErrNotFound,
	"ErrMethodNotAllowed": lockclient.ErrMethodNotAllowed, "ErrPayloadTooLarge": lockclient.ErrPayloadTooLarge,
	"ErrUnsupportedMediaType": lockclient.ErrUnsupportedMediaType, "ErrPermitNotFound": lockclient.ErrPermitNotFound,
	"ErrPermitEnded": lockclient.ErrPermitEnded, "ErrResourceBusy": lockclient.ErrResourceBusy,
	"ErrCapacityConflict": lockclient.ErrCapacityConflict, "ErrMaxHoldExceeded": lockclient.ErrMaxHoldExceeded,
	"ErrRenewalLimit": lockclient.ErrRenewalLimit, "ErrTemporalUnavailable": lockclient.ErrTemporalUnavailable,
	"ErrShuttingDown": lockclient.ErrShuttingDown, "ErrTooManyWaiters": lockclient.ErrTooManyWaiters,
	"ErrInternalError": lockclient.ErrInternalError,
}

// errorEntry is one error code of ../conformance/errors.json.
type errorEntry struct {
	Code       string `json:"code"`
	Status     []int  `json:"status"`
	RetryAfter bool   `json:"retryAfter"`
	Retryable  bool   `json:"retryable"`
	PermitGone bool   `json:"permitGone"`
	KeyRefused bool   `json:"keyRefused"`
	State      string `json:"state"`
	Capacity   *int   `json:"capacity"`
	Go         string `json:"go"`
}

func loadErrorEntries(t *testing.T) []errorEntry {
	data, err := os.ReadFile("../conformance/errors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Errors []errorEntry `json:"errors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Errors
}

// sentinelOf is the errors.Is target of an error code, as errors.json names it.
func sentinelOf(t *testing.T, code string) error {
	for _, entry := range loadErrorEntries(t) {
		if entry.Code == code {
			if sentinel, ok := sentinels[entry.Go]; ok {
				return sentinel
			}
			t.Fatalf("errors.json names %s for %s, which this test does not know", entry.Go, code)
		}
	}
	t.Fatalf("errors.json does not list %s", code)
	return nil
}

// furtherServices are the services of LOCK_CONFORMANCE_SERVICES, by name.
func furtherServices(t *testing.T) map[string]service {
	services := map[string]service{}
	if text := os.Getenv("LOCK_CONFORMANCE_SERVICES"); text != "" {
		if err := json.Unmarshal([]byte(text), &services); err != nil {
			t.Fatalf("LOCK_CONFORMANCE_SERVICES: %v", err)
		}
	}
	return services
}

func serviceURL(t *testing.T) string {
	url := os.Getenv("LOCK_SERVICE_URL")
	if url == "" {
		t.Skip("LOCK_SERVICE_URL is not set: `npm test` runs these against a real service")
	}
	return url
}

func loadScenarios(t *testing.T) []scenario {
	data, err := os.ReadFile("../conformance/scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Scenarios []scenario `json:"scenarios"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Scenarios
}

func TestConformance(t *testing.T) {
	url := serviceURL(t)
	control := os.Getenv("LOCK_CONFORMANCE_CONTROL_URL")
	services := furtherServices(t)
	for _, sc := range loadScenarios(t) {
		sc := sc
		t.Run(sc.Name, func(t *testing.T) {
			if sc.Needs != "" && control == "" {
				t.Skipf("needs LOCK_CONFORMANCE_CONTROL_URL (the harness's control of the %s)", sc.Needs)
			}
			target := service{URL: url}
			if sc.Service != "" {
				var ok bool
				if target, ok = services[sc.Service]; !ok {
					t.Skipf("needs the service %q in LOCK_CONFORMANCE_SERVICES", sc.Service)
				}
			}
			r := &runner{t: t, url: url, service: target, scenarioService: sc.Service, key: sc.Key, control: control, resources: map[string]string{},
				saved: map[string]*lockclient.Permit{}, background: map[string]chan acquired{}, holds: map[string]*hold{}}
			r.network(calmNetwork())
			defer r.network(calmNetwork())
			defer r.endAllHolds()
			// A scenario that removes keys puts them back even when it fails, so later scenarios have them.
			for _, step := range sc.Steps {
				if step["do"] == "keys" {
					defer r.keys(sc.Service, []any{})
					break
				}
			}
			for index, step := range sc.Steps {
				r.step(fmt.Sprintf("step %d (%s)", index+1, step["do"]), step)
			}
		})
	}
}

type acquired struct {
	permit *lockclient.Permit
	err    error
}

type hold struct {
	permit   lockclient.Permit
	keeper   *lockclient.Keeper
	lostAt   time.Time
	lostErr  *lockclient.PermitLostError
	lostSeen chan struct{}
	end      chan bool // true: fail
	result   chan error
}

type runner struct {
	t               *testing.T
	url             string  // the service behind the fault proxy, for its metrics
	service         service // the service the scenario runs against
	scenarioService string  // its name in scenarios.json, or "" for the one behind the fault proxy
	key             string  // the scenario's key, unless a step names another
	control         string
	resources       map[string]string
	saved           map[string]*lockclient.Permit
	background      map[string]chan acquired
	holds           map[string]*hold
	stalledAt       time.Time
}

// client is the client a step talks through: its service, key, CA file and timeout.
func (r *runner) client(step map[string]any) *lockclient.Client {
	url := r.service.URL
	if step["via"] == "closedPort" {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.t.Fatal(err)
		}
		url = "http://" + listener.Addr().String()
		listener.Close()
	}
	timeout := 10 * time.Second
	if ms, ok := step["timeoutMs"].(float64); ok {
		timeout = time.Duration(ms) * time.Millisecond
	}
	options := []lockclient.ClientOption{lockclient.WithTimeout(timeout)}
	keyName := r.key
	if name, ok := step["key"]; ok {
		keyName, _ = name.(string) // null: no key
	}
	if keyName != "" {
		key, ok := r.service.Keys[keyName]
		if !ok {
			key = unknownKey
		}
		options = append(options, lockclient.WithAPIKey(key))
	}
	if r.service.CAFile != "" && step["caFile"] != false {
		options = append(options, lockclient.WithCAFile(r.service.CAFile))
	}
	client, err := lockclient.New(url, options...)
	if err != nil {
		r.t.Fatal(err)
	}
	return client
}

func (r *runner) resource(name string) string {
	if literal, ok := strings.CutPrefix(name, "literal:"); ok {
		return literal
	}
	if _, ok := r.resources[name]; !ok {
		random := make([]byte, 4)
		_, _ = rand.Read(random)
		r.resources[name] = "conf-go-" + name + "-" + hex.EncodeToString(random)
	}
	return r.resources[name]
}

// named is a saved permit, or the permit of a hold.
func (r *runner) named(name string) *lockclient.Permit {
	if h, ok := r.holds[name]; ok {
		return &h.permit
	}
	if permit, ok := r.saved[name]; ok {
		return permit
	}
	r.t.Fatalf("no permit saved as %q", name)
	return nil
}

func (r *runner) runID(step map[string]any) string {
	if id, ok := step["runId"].(string); ok {
		return id
	}
	return r.named(step["permit"].(string)).RunID
}

func millis(step map[string]any, key string) time.Duration {
	ms, _ := step[key].(float64)
	return time.Duration(ms) * time.Millisecond
}

func (r *runner) acquireOptions(step map[string]any) []lockclient.AcquireOption {
	options := []lockclient.AcquireOption{lockclient.Lease(millis(step, "leaseMs")), lockclient.Wait(millis(step, "waitMs"))}
	if capacity, ok := step["capacity"].(float64); ok {
		options = append(options, lockclient.Capacity(int(capacity)))
	}
	return options
}

// calmNetwork is how every scenario starts and ends: no delay, no stall, and the proxy relaying to the
// service it started with.
func calmNetwork() map[string]any {
	return map[string]any{"delayMs": 0, "stalled": false, "upstream": nil}
}

func (r *runner) network(change map[string]any) {
	if r.control == "" {
		return
	}
	body, _ := json.Marshal(change)
	response, err := http.Post(r.control+"/network", "application/json", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusNoContent {
		r.t.Fatalf("network control answered %d", response.StatusCode)
	}
}

// keys has the harness rewrite the service's key file without those keys; it answers once the service refuses them.
func (r *runner) keys(service string, without []any) {
	body, _ := json.Marshal(map[string]any{"service": service, "without": without})
	client := http.Client{Timeout: 30 * time.Second}
	response, err := client.Post(r.control+"/keys", "application/json", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusNoContent {
		var text bytes.Buffer
		_, _ = text.ReadFrom(response.Body)
		r.t.Fatalf("keys control answered %d: %s", response.StatusCode, text.String())
	}
}

func (r *runner) lockWaiters() float64 {
	response, err := http.Get(r.url + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer response.Body.Close()
	var text bytes.Buffer
	_, _ = text.ReadFrom(response.Body)
	for _, line := range strings.Split(text.String(), "\n") {
		if value, ok := strings.CutPrefix(line, "lock_waiters "); ok {
			n, _ := strconv.ParseFloat(value, 64)
			return n
		}
	}
	return 0
}

func (r *runner) step(where string, step map[string]any) {
	t := r.t
	ctx := context.Background()
	var result any
	var err error
	switch step["do"] {
	case "acquire":
		client, resource, options := r.client(step), r.resource(step["resource"].(string)), r.acquireOptions(step)
		if name, ok := step["background"].(string); ok {
			done := make(chan acquired, 1)
			r.background[name] = done
			go func() {
				permit, err := client.Acquire(ctx, resource, options...)
				done <- acquired{permit, err}
			}()
			return
		}
		var permit *lockclient.Permit
		permit, err = client.Acquire(ctx, resource, options...)
		result = permit
	case "await":
		select {
		case got := <-r.background[step["background"].(string)]:
			result, err = got.permit, got.err
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: the background acquire did not finish", where)
		}
	case "release":
		err = r.client(step).Release(ctx, r.runID(step))
	case "renew":
		var permit *lockclient.Permit
		permit, err = r.client(step).Renew(ctx, r.runID(step), millis(step, "leaseMs"))
		result = permit
	case "status":
		var permit *lockclient.Permit
		permit, err = r.client(step).Status(ctx, r.runID(step))
		result = permit
	case "holders":
		var view *lockclient.ResourceView
		view, err = r.client(step).Holders(ctx, r.resource(step["resource"].(string)), 0)
		result = view
	case "untilWaiting":
		deadline := time.Now().Add(10 * time.Second)
		for r.lockWaiters() != step["count"].(float64) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v acquire(s) never waited", where, step["count"])
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "network":
		change := map[string]any{}
		for _, key := range []string{"delayMs", "stalled", "upstream"} {
			if value, ok := step[key]; ok {
				change[key] = value
			}
		}
		r.network(change)
		if step["stalled"] == true {
			r.stalledAt = time.Now()
		}
	case "keys":
		if r.scenarioService == "" {
			t.Fatalf("%s: a keys step needs the scenario's service", where)
		}
		without, _ := step["without"].([]any)
		r.keys(r.scenarioService, without)
	case "hold":
		err = r.hold(where, step)
	case "untilLost":
		h := r.holds[step["hold"].(string)]
		select {
		case <-h.lostSeen:
		case <-time.After(millis(step, "withinMs")):
			t.Fatalf("%s: the loss was not noticed within %v", where, millis(step, "withinMs"))
		}
		if h.lostErr == nil || h.lostErr.Reason != step["reason"] {
			t.Fatalf("%s: lost with %v, expected reason %v", where, h.lostErr, step["reason"])
		}
		if _, ok := step["beforeLeaseEndMs"]; ok {
			if late := h.lostAt.Sub(r.stalledAt) - millis(step, "beforeLeaseEndMs"); late > 0 {
				t.Fatalf("%s: the loss was noticed %v after the lease had surely ended", where, late)
			}
		}
	case "endHold":
		h := r.holds[step["hold"].(string)]
		fail := step["fail"] == true
		h.end <- fail
		delete(r.holds, step["hold"].(string))
		r.holds["ended:"+step["hold"].(string)] = h
		var got error
		select {
		case got = <-h.result:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the hold did not end", where)
		}
		if fail {
			if got != errWorkFailed {
				t.Fatalf("%s: WithPermit returned %v, not the work's own error", where, got)
			}
		} else {
			err = got
		}
		// A saved name still resolves to the ended hold's permit.
		permit := h.permit
		r.saved[step["hold"].(string)] = &permit
	default:
		t.Fatalf("%s: unknown step", where)
	}

	if expected, ok := step["expectError"].(map[string]any); ok {
		if err == nil {
			t.Fatalf("%s: expected %v, got %+v", where, expected, result)
		}
		checkError(t, where, err, expected)
		return
	}
	if err != nil {
		t.Fatalf("%s: unexpected %v", where, err)
	}
	name, _ := step["save"].(string)
	if expected, ok := step["expect"].(map[string]any); ok {
		r.checkResult(where, result, expected, r.saved[name])
	}
	if name != "" {
		r.saved[name] = result.(*lockclient.Permit)
	}
}

func (r *runner) hold(where string, step map[string]any) error {
	client := r.client(step)
	h := &hold{lostSeen: make(chan struct{}), end: make(chan bool, 1), result: make(chan error, 1)}
	entered := make(chan struct{})
	options := append(r.acquireOptions(step), lockclient.RenewEvery(millis(step, "renewEveryMs")))
	resource := r.resource(step["resource"].(string))
	go func() {
		h.result <- client.WithPermit(context.Background(), resource, func(ctx context.Context) error {
			h.keeper = lockclient.KeeperFrom(ctx)
			h.permit = h.keeper.Permit()
			go func() {
				<-ctx.Done()
				h.lostAt = time.Now()
				errors.As(context.Cause(ctx), &h.lostErr)
				close(h.lostSeen)
			}()
			close(entered)
			if <-h.end {
				return errWorkFailed
			}
			return nil
		}, options...)
	}()
	select {
	case <-entered:
		r.holds[step["name"].(string)] = h
		return nil
	case err := <-h.result:
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatalf("%s: the hold was not entered", where)
		return nil
	}
}

func (r *runner) endAllHolds() {
	for name, h := range r.holds {
		if !strings.HasPrefix(name, "ended:") {
			h.end <- false
			<-h.result
		}
	}
}

func checkError(t *testing.T, where string, err error, expected map[string]any) {
	if expected["unreachable"] == true {
		var unreachable *lockclient.UnreachableError
		if !errors.As(err, &unreachable) {
			t.Fatalf("%s: expected an *UnreachableError, got %T %v", where, err, err)
		}
		return
	}
	var service *lockclient.ServiceError
	if !errors.As(err, &service) {
		t.Fatalf("%s: expected a *ServiceError, got %T %v", where, err, err)
	}
	if code, ok := expected["code"].(string); ok {
		if service.Code != code || !errors.Is(err, sentinelOf(t, code)) {
			t.Fatalf("%s: code %q, expected %q (%v)", where, service.Code, code, err)
		}
	}
	if refused, ok := expected["keyRefused"].(bool); ok && service.KeyRefused() != refused {
		t.Fatalf("%s: KeyRefused() is %v (%v)", where, service.KeyRefused(), err)
	}
	if status, ok := expected["status"].(float64); ok && service.Status != int(status) {
		t.Fatalf("%s: status %d, expected %v", where, service.Status, status)
	}
	if state, ok := expected["state"].(string); ok && service.State != state {
		t.Fatalf("%s: state %q, expected %q", where, service.State, state)
	}
	if capacity, ok := expected["capacity"].(float64); ok && service.Capacity != int(capacity) {
		t.Fatalf("%s: capacity %d, expected %v", where, service.Capacity, capacity)
	}
	if expected["retryAfter"] == true && !service.HasRetryAfter {
		t.Fatalf("%s: no RetryAfter (%v)", where, err)
	}
	if text, ok := expected["messageIncludes"].(string); ok && !strings.Contains(service.Message, text) {
		t.Fatalf("%s: %q does not name %q", where, service.Message, text)
	}
}

func (r *runner) checkResult(where string, result any, expected map[string]any, previous *lockclient.Permit) {
	t := r.t
	if held, ok := expected["held"].([]any); ok {
		view := result.(*lockclient.ResourceView)
		got, want, hidden := []string{}, []string{}, 0
		for _, p := range view.Held {
			if p.RunID == "" {
				hidden++
			} else {
				got = append(got, p.RunID)
			}
		}
		if wantHidden, _ := expected["hidden"].(float64); hidden != int(wantHidden) {
			t.Fatalf("%s: %d permit(s) shown without their token, expected %v", where, hidden, wantHidden)
		}
		for _, name := range held {
			want = append(want, r.saved[name.(string)].RunID)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: held %v, expected %v", where, got, want)
		}
		return
	}
	permit := result.(*lockclient.Permit)
	if state, ok := expected["state"].(string); ok && permit.State != state {
		t.Fatalf("%s: state %q", where, permit.State)
	}
	if _, ok := expected["extendedByAtLeastMs"]; ok {
		if extended := permit.ExpiresAt.Sub(previous.ExpiresAt); extended < millis(expected, "extendedByAtLeastMs") {
			t.Fatalf("%s: extended by only %v", where, extended)
		}
	}
	if expected["fencingSeq"] == true && permit.FencingSeq < 0 {
		t.Fatalf("%s: FencingSeq %d", where, permit.FencingSeq)
	}
	if name, ok := expected["sameFencingSeq"].(string); ok && permit.FencingSeq != r.named(name).FencingSeq {
		t.Fatalf("%s: FencingSeq %d, expected %d", where, permit.FencingSeq, r.named(name).FencingSeq)
	}
	if name, ok := expected["fencingSeqAbove"].(string); ok && permit.FencingSeq <= r.named(name).FencingSeq {
		t.Fatalf("%s: FencingSeq %d is not above %d", where, permit.FencingSeq, r.named(name).FencingSeq)
	}
	if name, ok := expected["sameExpiresAt"].(string); ok && !permit.ExpiresAt.Equal(r.saved[name].ExpiresAt) {
		t.Fatalf("%s: expiresAt %v, expected %v", where, permit.ExpiresAt, r.saved[name].ExpiresAt)
	}
	if clock, ok := expected["leaseClock"].(map[string]any); ok {
		early := permit.ExpiresAt.Sub(permit.HeldUntil())
		if permit.HeldUntil().IsZero() || early < 0 {
			t.Fatalf("%s: the client counts the lease until %v, after the service's %v", where, permit.HeldUntil(), permit.ExpiresAt)
		}
		if early > millis(clock, "maxEarlyMs") {
			t.Fatalf("%s: the client counts the lease %v short", where, early)
		}
	}
}

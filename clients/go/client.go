// Package lockclient is a client of temporal-lock-service, a lock service over HTTP: permits on
// named resources, at most N holders at once. It uses the standard library only.
//
//	client, _ := lockclient.New("http://127.0.0.1:8080")
//	err := client.WithPermit(ctx, "db", func(ctx context.Context) error {
//		return migrate(ctx) // ctx is cancelled if the permit is lost; context.Cause says why
//	}, lockclient.Lease(30*time.Second))
package lockclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	defaultTimeout           = 10 * time.Second
	defaultMaxWaitPerRequest = 60 * time.Second
	defaultRetryAfter        = time.Second
	userAgent                = "temporal-lock-client-go/0.1.0"
)

// Forever, as Wait(Forever), waits until a slot frees.
const Forever time.Duration = math.MaxInt64

// Client calls the lock service's HTTP API. Every method returns a *ServiceError when the service
// refuses, or an *UnreachableError when it does not answer; a cancelled ctx returns ctx's error.
type Client struct {
	url               string
	apiKey            string
	http              *http.Client
	caFile            *string
	timeout           time.Duration
	maxWaitPerRequest time.Duration
}

// ClientOption configures New.
type ClientOption func(*Client)

// WithAPIKey sends `authorization: Bearer <key>`; a service with API_KEYS_FILE refuses requests
// without a key it knows (CodeUnauthorized) and a key's requests outside its prefixes (CodeForbidden).
func WithAPIKey(key string) ClientOption { return func(c *Client) { c.apiKey = key } }

// WithCAFile trusts the CA certificates in this PEM file, and only them, for an https:// service
// whose certificate the system does not trust. Without it, New uses the file named by the
// environment variable PERMIT_CA_FILE, as the permit command does, when that is set.
func WithCAFile(path string) ClientOption { return func(c *Client) { c.caFile = &path } }

// WithHTTPClient uses this http.Client (a proxy, TLS settings, instrumentation); its Timeout should
// be 0. PERMIT_CA_FILE is then not read; WithCAFile cannot be combined with it.
func WithHTTPClient(client *http.Client) ClientOption { return func(c *Client) { c.http = client } }

// WithTimeout bounds one request, not counting the time an acquire waits on the service; default 10 s.
func WithTimeout(timeout time.Duration) ClientOption { return func(c *Client) { c.timeout = timeout } }

// WithMaxWaitPerRequest is the longest wait one acquire asks the service for (its MAX_WAIT_MS or
// less); longer waits are several requests. Default 60 s.
func WithMaxWaitPerRequest(wait time.Duration) ClientOption {
	return func(c *Client) { c.maxWaitPerRequest = wait }
}

// New makes a client of the service at baseURL, e.g. http://127.0.0.1:8080. It fails when the CA
// file (WithCAFile, or PERMIT_CA_FILE) cannot be read or holds no PEM certificate.
func New(baseURL string, options ...ClientOption) (*Client, error) {
	parsed, err := url.Parse(baseURL)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("url: %q is not an http:// or https:// URL such as http://127.0.0.1:8080", baseURL)
	}
	if parsed.User != nil {
		// Messages quote the URL: a key belongs in WithAPIKey.
		return nil, errors.New("url: must not contain a user name or password; pass a key with WithAPIKey")
	}
	c := &Client{
		url:               strings.TrimRight(baseURL, "/"),
		timeout:           defaultTimeout,
		maxWaitPerRequest: defaultMaxWaitPerRequest,
	}
	for _, option := range options {
		option(c)
	}
	if c.http != nil {
		if c.caFile != nil {
			return nil, errors.New("caFile: give WithCAFile or WithHTTPClient, not both")
		}
		return c, nil
	}
	caFile, option := os.Getenv("PERMIT_CA_FILE"), "PERMIT_CA_FILE"
	if c.caFile != nil {
		caFile, option = *c.caFile, "caFile"
	}
	if caFile == "" {
		c.http = http.DefaultClient
		return c, nil
	}
	trusting, err := clientTrusting(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", option, err)
	}
	c.http = trusting
	return c, nil
}

// clientTrusting is an http.Client that trusts only the CA certificates of a PEM file.
func clientTrusting(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist", caFile)
	}
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: transport}, nil
}

// URL is the service's base URL.
func (c *Client) URL() string { return c.url }

// AcquireOption configures Acquire and WithPermit.
type AcquireOption func(*acquireSettings)

type acquireSettings struct {
	capacity        int
	lease           time.Duration
	wait            time.Duration
	holder          string
	renewEvery      time.Duration
	onReleaseFailed func(error)
}

// Capacity is how many may hold the resource at once; default the capacity in force, else 1.
func Capacity(n int) AcquireOption { return func(s *acquireSettings) { s.capacity = n } }

// Lease is the lease length (at least 1 s); default the service's DEFAULT_LEASE_MS.
func Lease(d time.Duration) AcquireOption { return func(s *acquireSettings) { s.lease = d } }

// Wait is how long to wait for a free slot; default 0 (try once); Forever waits until one frees.
func Wait(d time.Duration) AcquireOption { return func(s *acquireSettings) { s.wait = d } }

// Holder says who holds the permit, for people reading (at most 256 characters).
func Holder(text string) AcquireOption { return func(s *acquireSettings) { s.holder = text } }

// RenewEvery is WithPermit's time between renewals; default a third of the lease.
func RenewEvery(d time.Duration) AcquireOption { return func(s *acquireSettings) { s.renewEvery = d } }

// OnReleaseFailed is told when WithPermit's final release failed (the lease then ends the permit).
func OnReleaseFailed(fn func(error)) AcquireOption {
	return func(s *acquireSettings) { s.onReleaseFailed = fn }
}

func settingsOf(options []AcquireOption) acquireSettings {
	var s acquireSettings
	for _, option := range options {
		option(&s)
	}
	return s
}

// Acquire claims a slot of the resource. It waits up to Wait (asking again after each refusal), then
// returns a *ServiceError with Code CodeResourceBusy and RetryAfter.
func (c *Client) Acquire(ctx context.Context, resource string, options ...AcquireOption) (*Permit, error) {
	s := settingsOf(options)
	if s.wait < 0 {
		return nil, fmt.Errorf("wait: %v must be 0 or more (Forever waits without limit)", s.wait)
	}
	start := time.Now()
	perRequest := c.maxWaitPerRequest
	for {
		remaining := s.wait - time.Since(start)
		if s.wait == Forever {
			remaining = Forever
		}
		requestWait := max(0, min(remaining, perRequest))
		permit, err := c.acquireOnce(ctx, resource, s, requestWait)
		if err == nil {
			return permit, nil
		}
		var refusal *ServiceError
		if !errors.As(err, &refusal) {
			return nil, err
		}
		if requestWait > 0 && refusal.Code == CodeInvalidRequest && strings.HasPrefix(refusal.Message, "body.waitMs:") {
			perRequest = 0 // this service allows shorter waits (its MAX_WAIT_MS): wait on this side
			continue
		}
		if s.wait != Forever {
			remaining = s.wait - time.Since(start)
		}
		if !refusal.Retryable() || remaining <= 0 {
			return nil, err
		}
		// Busy after a server-side wait means "still busy": ask again at once. Any other refusal asks for a pause.
		pause := time.Duration(0)
		if refusal.Code != CodeResourceBusy || requestWait == 0 {
			pause = defaultRetryAfter
			if refusal.HasRetryAfter {
				pause = refusal.RetryAfter
			}
		}
		if err := sleep(ctx, min(pause, remaining)); err != nil {
			return nil, err
		}
	}
}

func (c *Client) acquireOnce(ctx context.Context, resource string, s acquireSettings, wait time.Duration) (*Permit, error) {
	body := map[string]any{"waitMs": wait.Milliseconds()}
	if s.lease > 0 {
		body["leaseMs"] = s.lease.Milliseconds()
	}
	if s.capacity > 0 {
		body["capacity"] = s.capacity
	}
	if s.holder != "" {
		body["holder"] = s.holder
	}
	sentAt := startOfMillisecond(time.Now())
	status, header, data, err := c.do(ctx, http.MethodPost, "/resources/"+url.PathEscape(resource)+"/acquire", body, c.timeout+wait)
	if err != nil {
		return nil, err
	}
	if status != http.StatusCreated {
		return nil, c.errorFor(status, header, data)
	}
	permit, err := decodePermit(status, data)
	if err != nil {
		return nil, err
	}
	// The service began the lease after it had the request for Waited: never later than its answer says.
	permit.heldUntil = sentAt.Add(permit.Waited + permit.Lease)
	if ctx.Err() != nil {
		// Granted as the caller gave up: nobody would hold it, so it must not wait for its lease to end.
		releaseCtx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		_ = c.Release(releaseCtx, permit.RunID)
		return nil, ctx.Err()
	}
	return permit, nil
}

// Release ends the permit; its slot is free for the next acquire as soon as this returns.
func (c *Client) Release(ctx context.Context, runID string) error {
	status, header, data, err := c.do(ctx, http.MethodDelete, "/permits/"+url.PathEscape(runID), nil, c.timeout)
	if err != nil {
		return err
	}
	if status != http.StatusNoContent {
		return c.errorFor(status, header, data)
	}
	return nil
}

// Renew extends the lease to now + lease (0: the length it was acquired with). A permit that has
// ended gives ErrPermitEnded; past the service's limits, ErrMaxHoldExceeded or ErrRenewalLimit.
func (c *Client) Renew(ctx context.Context, runID string, lease time.Duration) (*Permit, error) {
	return c.renew(ctx, runID, lease, c.timeout)
}

func (c *Client) renew(ctx context.Context, runID string, lease, timeout time.Duration) (*Permit, error) {
	body := map[string]any{}
	if lease > 0 {
		body["leaseMs"] = lease.Milliseconds()
	}
	sentAt := startOfMillisecond(time.Now())
	status, header, data, err := c.do(ctx, http.MethodPost, "/permits/"+url.PathEscape(runID)+"/renew", body, timeout)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.errorFor(status, header, data)
	}
	permit, err := decodePermit(status, data)
	if err != nil {
		return nil, err
	}
	// The service extends the lease from a moment after it received the request.
	permit.heldUntil = sentAt.Add(permit.Lease)
	return permit, nil
}

// Status is the fencing check: the permit if it is held right now, else ErrPermitEnded or ErrPermitNotFound.
func (c *Client) Status(ctx context.Context, runID string) (*Permit, error) {
	status, header, data, err := c.do(ctx, http.MethodGet, "/permits/"+url.PathEscape(runID), nil, c.timeout)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.errorFor(status, header, data)
	}
	return decodePermit(status, data)
}

// Holders lists the permits held on a resource; capacity 0 reads the capacity in force.
func (c *Client) Holders(ctx context.Context, resource string, capacity int) (*ResourceView, error) {
	path := "/resources/" + url.PathEscape(resource)
	if capacity > 0 {
		path += "?capacity=" + strconv.Itoa(capacity)
	}
	status, header, data, err := c.do(ctx, http.MethodGet, path, nil, c.timeout)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.errorFor(status, header, data)
	}
	return decodeResourceView(status, data)
}

func (c *Client) do(ctx context.Context, method, path string, body any, timeout time.Duration) (int, http.Header, []byte, error) {
	var payload io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		payload = bytes.NewReader(encoded)
	}
	requestCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	request, err := http.NewRequestWithContext(requestCtx, method, c.url+path, payload)
	if err != nil {
		return 0, nil, nil, err
	}
	request.Header.Set("accept", "application/json")
	request.Header.Set("user-agent", userAgent)
	if body != nil {
		request.Header.Set("content-type", "application/json")
	}
	if c.apiKey != "" {
		request.Header.Set("authorization", "Bearer "+c.apiKey)
	}
	response, err := c.http.Do(request)
	if err == nil {
		defer response.Body.Close()
		var data []byte
		if data, err = io.ReadAll(response.Body); err == nil {
			return response.StatusCode, response.Header, data, nil
		}
	}
	if ctx.Err() != nil {
		return 0, nil, nil, ctx.Err()
	}
	if requestCtx.Err() != nil {
		err = fmt.Errorf("no answer from %s within %v", c.url+path, timeout)
	}
	return 0, nil, nil, &UnreachableError{URL: c.url, Err: err}
}

func (c *Client) errorFor(status int, header http.Header, data []byte) error {
	retryAfter, hasRetryAfter := parseRetryAfter(header.Get("retry-after"))
	var body struct {
		Error    *string `json:"error"`
		Message  *string `json:"message"`
		State    string  `json:"state"`
		Capacity int     `json:"capacity"`
	}
	if strings.Contains(header.Get("content-type"), "json") && json.Unmarshal(data, &body) == nil && body.Error != nil && body.Message != nil {
		return &ServiceError{
			Status: status, Code: *body.Error, Message: *body.Message, RetryAfter: retryAfter,
			HasRetryAfter: hasRetryAfter, State: body.State, Capacity: body.Capacity,
		}
	}
	excerpt := string(data)
	if len(excerpt) > 200 {
		excerpt = excerpt[:200]
	}
	return &ServiceError{
		Status: status, Code: CodeUnexpectedResponse, RetryAfter: retryAfter, HasRetryAfter: hasRetryAfter,
		Message: fmt.Sprintf("unexpected answer HTTP %d (is %s the lock service?): %s", status, c.url, excerpt),
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(value string) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.Atoi(value); err == nil && seconds >= 0 {
		return time.Duration(seconds) * time.Second, true
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(0, time.Until(at)), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// startOfMillisecond is t moved back to the start of its millisecond, keeping its monotonic reading
// (Truncate would drop it). A lease is counted from there: the service's clock, and so its expiresAt
// and Waited, counts whole milliseconds, and a send later within the same millisecond than the
// service's reading would count the lease past the service's own end.
func startOfMillisecond(t time.Time) time.Time {
	return t.Add(-time.Duration(t.Nanosecond() % int(time.Millisecond)))
}

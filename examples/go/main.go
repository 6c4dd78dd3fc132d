// Command permit-example uses the lock service with Go's standard library only: it acquires a
// permit (waiting out 409 answers as Retry-After says), renews it, checks the token, releases it.
//
// Usage: PERMIT_URL=http://127.0.0.1:8080 PERMIT_API_KEY=<key> go run . <resource>
// (PERMIT_CA_FILE=<pem> for an https:// service whose certificate a private CA signed)
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// answer holds a permit or an error body; the API answers JSON either way.
type answer struct {
	RunID        string `json:"runId"`
	FencingToken string `json:"fencingToken"`
	Slot         int    `json:"slot"`
	ExpiresAt    string `json:"expiresAt"`
	Error        string `json:"error"`
	Message      string `json:"message"`
}

var (
	baseURL = envOr("PERMIT_URL", "http://127.0.0.1:8080")
	apiKey  = os.Getenv("PERMIT_API_KEY")
	client  = &http.Client{Timeout: 10 * time.Second, Transport: transport()}
)

// transport trusts PERMIT_CA_FILE, when it is set, besides the system's CAs.
func transport() http.RoundTripper {
	caFile := os.Getenv("PERMIT_CA_FILE")
	if caFile == "" {
		return http.DefaultTransport
	}
	pem, err := os.ReadFile(caFile)
	check(err)
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(pem)
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// call sends one request and decodes the JSON answer, if there is one.
func call(method, path string, body any) (*http.Response, answer) {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	request, err := http.NewRequest(method, baseURL+path, bytes.NewReader(payload))
	check(err)
	if body != nil {
		request.Header.Set("content-type", "application/json")
	}
	if apiKey != "" {
		request.Header.Set("authorization", "Bearer "+apiKey)
	}
	response, err := client.Do(request)
	check(err)
	defer response.Body.Close()
	var decoded answer
	_ = json.NewDecoder(response.Body).Decode(&decoded) // 204 has no body
	// 401: no key or an unknown one; 403: the key may not do this (its role or resource prefixes).
	if response.StatusCode == http.StatusUnauthorized || response.StatusCode == http.StatusForbidden {
		fmt.Fprintf(os.Stderr, "the service refused the API key: HTTP %d %s\n", response.StatusCode, decoded.Message)
		os.Exit(77)
	}
	return response, decoded
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func acquire(resource string) answer {
	path := "/resources/" + url.PathEscape(resource) + "/acquire"
	for attempt := 1; ; attempt++ {
		response, permit := call("POST", path, map[string]any{"leaseMs": 10000, "holder": "go example"})
		if response.StatusCode == http.StatusCreated {
			return permit
		}
		// 409: busy; 429: this key sent too many requests or has too many waiting acquires.
		busy := response.StatusCode == http.StatusConflict || response.StatusCode == http.StatusTooManyRequests
		if !busy || attempt == 10 {
			check(fmt.Errorf("acquire failed: HTTP %d %s: %s", response.StatusCode, permit.Error, permit.Message))
		}
		wait, err := strconv.Atoi(response.Header.Get("Retry-After"))
		if err != nil {
			wait = 1
		}
		fmt.Printf("busy (%s); retrying in %ds\n", permit.Error, wait)
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

// use renews the permit and checks the token; whatever it returns, main releases afterwards.
func use(token string) error {
	response, renewed := call("POST", "/permits/"+token+"/renew", map[string]any{"leaseMs": 10000})
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("renew failed: HTTP %d %s", response.StatusCode, renewed.Message)
	}
	fmt.Println("renewed until", renewed.ExpiresAt)
	// The fencing check: 200 only while the permit is held; a store compares tokens for equality.
	response, held := call("GET", "/permits/"+token, nil)
	if response.StatusCode != http.StatusOK || held.FencingToken != token {
		return fmt.Errorf("the permit is no longer held: HTTP %d %s", response.StatusCode, held.Message)
	}
	fmt.Println("token checked: still held")
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run . <resource>")
		os.Exit(2)
	}
	resource := os.Args[1]
	permit := acquire(resource)
	fmt.Printf("acquired %s slot %d, token %s\n", resource, permit.Slot, permit.RunID)
	err := use(permit.RunID)
	// Release on every way out, so the slot does not wait for the lease to end.
	if response, _ := call("DELETE", "/permits/"+permit.RunID, nil); response.StatusCode == http.StatusNoContent {
		fmt.Println("released")
	} else {
		fmt.Println("release answered HTTP", response.StatusCode)
	}
	check(err)
}

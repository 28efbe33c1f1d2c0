package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/replaudit/replaudit/internal/sandbox"
)

// A web page can reach the control API on loopback: through DNS rebinding
// (its own name, resolved to 127.0.0.1, in Host) or by a cross-site POST
// (its own Origin). The control API answers only its own address, and
// requests with no Origin or its own.
func TestControlAPIRefusesWhatAWebPageSends(t *testing.T) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ctl, _ := url.Parse(sb.ControlURL())
	p := ctl.Port()
	aws, _ := url.Parse(sb.Endpoint())
	direct := &http.Client{}
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(aws)}}

	ask := func(t *testing.T, client *http.Client, method, path, host, origin, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, sb.ControlURL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusForbidden {
			var e struct{ Error string }
			line := strings.TrimSuffix(string(b), "\n")
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || strings.Contains(line, "\n") || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: got a 403 of %q (%s), want one line of JSON saying why", method, path, b, resp.Header.Get("Content-Type"))
			}
		}
		return resp.StatusCode, string(b)
	}
	const deny = `{"bucket":"dst","kind":"deny"}`

	for _, c := range []struct {
		name                   string
		client                 *http.Client
		method, host, origin   string
		want                   int
		faultsAfter, saysInErr string
	}{
		{"its own address", direct, "GET", "", "", http.StatusOK, "", ""},
		{"localhost", direct, "GET", "localhost:" + p, "", http.StatusOK, "", ""},
		{"localhost in capitals", direct, "GET", "LOCALHOST:" + p, "", http.StatusOK, "", ""},
		{"IPv6 loopback", direct, "GET", "[::1]:" + p, "", http.StatusOK, "", ""},
		{"a rebound name", direct, "GET", "attacker.example:" + p, "", http.StatusForbidden, "", "Host"},
		{"a rebound name without a port", direct, "GET", "attacker.example", "", http.StatusForbidden, "", "Host"},
		{"a name under localhost", direct, "GET", "evil.localhost:" + p, "", http.StatusForbidden, "", "Host"},
		{"loopback on another port", direct, "GET", "127.0.0.1:" + aws.Port(), "", http.StatusForbidden, "", "Host"},
		{"a cross-site POST", direct, "POST", "", "http://attacker.example", http.StatusForbidden, "", "Origin"},
		{"a POST from a sandboxed or file page", direct, "POST", "", "null", http.StatusForbidden, "", "Origin"},
		{"a POST from loopback on another port", direct, "POST", "", "http://127.0.0.1:" + aws.Port(), http.StatusForbidden, "", "Origin"},
		{"a POST from an https page of its own address", direct, "POST", "", "https://127.0.0.1:" + p, http.StatusForbidden, "", "Origin"},
		{"a POST from its own origin", direct, "POST", "", "http://127.0.0.1:" + p, http.StatusCreated, "deny", ""},
		{"a POST from localhost", direct, "POST", "", "http://localhost:" + p, http.StatusCreated, "deny", ""},
		{"a POST without Origin, as curl sends it", direct, "POST", "", "", http.StatusCreated, "deny", ""},
		{"a cross-site DELETE", direct, "DELETE", "", "http://attacker.example", http.StatusForbidden, "deny", "Origin"},
		{"through the proxy", proxied, "GET", "", "", http.StatusOK, "deny", ""},
		{"a cross-site DELETE through the proxy", proxied, "DELETE", "", "http://attacker.example", http.StatusForbidden, "deny", "Origin"},
		{"a DELETE through the proxy", proxied, "DELETE", "", "", http.StatusNoContent, "", ""},
		{"a cross-site POST through the proxy", proxied, "POST", "", "http://attacker.example", http.StatusForbidden, "", "Origin"},
		{"a POST through the proxy", proxied, "POST", "", "", http.StatusCreated, "deny", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.method == "POST" { // each starts from no fault
				body = deny
				sb.ClearFaultsMatching(sandbox.Fault{})
			}
			code, got := ask(t, c.client, c.method, "/faults", c.host, c.origin, body)
			if code != c.want {
				t.Errorf("got %d %s, want %d", code, got, c.want)
			}
			if c.saysInErr != "" && !strings.Contains(got, c.saysInErr) {
				t.Errorf("got %s, want the error to name the %s", got, c.saysInErr)
			}
			var kinds []string
			for _, f := range sb.Faults() {
				kinds = append(kinds, f.Kind)
			}
			if strings.Join(kinds, ",") != c.faultsAfter {
				t.Errorf("faults after: got %q, want %q", kinds, c.faultsAfter)
			}
		})
	}
}

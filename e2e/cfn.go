package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// CloudFormation's limit on a custom resource's response body.
const maxResponseBytes = 4096

// responder stands in for the presigned ResponseURLs CloudFormation hands
// custom resources: one local server, a path per request.
type responder struct {
	srv     *httptest.Server
	mu      sync.Mutex
	waiting map[string]chan answer
}

type answer struct {
	resp cfn.Response
	err  error
}

func newResponder() *responder {
	r := &responder{waiting: map[string]chan answer{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *responder) close() { r.srv.Close() }

// expect returns the URL a request's answer is PUT to, and where it arrives.
func (r *responder) expect(requestID string) (string, <-chan answer) {
	ch := make(chan answer, 1)
	r.mu.Lock()
	r.waiting[requestID] = ch
	r.mu.Unlock()
	return r.srv.URL + "/" + requestID + "?X-Amz-Signature=sandbox", ch
}

// serve takes an answer as CloudFormation's S3 endpoint does: one PUT of
// at most 4096 bytes, the first answer to a request the only one.
func (r *responder) serve(w http.ResponseWriter, req *http.Request) {
	id := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	ch, ok := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if !ok {
		http.Error(w, "no request "+id+" is waiting for an answer, or it was answered already", http.StatusForbidden)
		return
	}
	var a answer
	body, err := io.ReadAll(io.LimitReader(req.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		a.err = fmt.Errorf("read the answer: %w", err)
	case req.Method != http.MethodPut:
		a.err = fmt.Errorf("the answer came as %s, not PUT", req.Method)
	case len(body) > maxResponseBytes:
		a.err = fmt.Errorf("the answer is over CloudFormation's %d bytes", maxResponseBytes)
	default:
		if err := json.Unmarshal(body, &a.resp); err != nil {
			a.err = fmt.Errorf("the answer is not a custom resource response: %w", err)
		}
	}
	if a.err != nil {
		http.Error(w, a.err.Error(), http.StatusBadRequest)
	}
	ch <- a
}

// customRequest is one request to a custom resource.
type customRequest struct {
	requestType  cfn.RequestType
	stackID      string
	logicalID    string
	resourceType string
	physicalID   string
	serviceToken string
	properties   map[string]any
	old          map[string]any
}

// requestFixtures are CloudFormation's requests as captured in events/;
// each request is built on its own type's, so that it has the same fields.
var requestFixtures = map[cfn.RequestType]string{
	cfn.RequestCreate: "cfn-create.json",
	cfn.RequestUpdate: "cfn-update.json",
	cfn.RequestDelete: "cfn-delete.json",
}

// payload builds the request on the fixture of its type in the events
// folder: every field the fixture has is set, and a field the provisioner
// does not know how to set is an error.
func (c customRequest) payload(eventsDir, responseURL, requestID string) ([]byte, error) {
	name := requestFixtures[c.requestType]
	raw, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	set := map[string]any{
		"RequestType":        string(c.requestType),
		"ServiceToken":       c.serviceToken,
		"ResponseURL":        responseURL,
		"StackId":            c.stackID,
		"RequestId":          requestID,
		"LogicalResourceId":  c.logicalID,
		"ResourceType":       c.resourceType,
		"ResourceProperties": asCloudFormationSends(c.properties),
	}
	if c.requestType != cfn.RequestCreate {
		set["PhysicalResourceId"] = c.physicalID
	}
	if c.requestType == cfn.RequestUpdate {
		set["OldResourceProperties"] = asCloudFormationSends(c.old)
	}
	var unknown []string
	for k := range ev {
		if _, ok := set[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	for k := range set {
		if _, ok := ev[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("events/%s and the request the provisioner builds differ in %s", name, strings.Join(unknown, ", "))
	}
	return json.Marshal(set)
}

// asCloudFormationSends is properties as a custom resource receives them:
// every scalar a string, "true" and "300" included.
func asCloudFormationSends(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = asCloudFormationSends(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = asCloudFormationSends(e)
		}
		return out
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return nil
	default:
		return fmt.Sprint(t)
	}
}

// serviceTimeout is how long CloudFormation waits for the answer: the
// resource's ServiceTimeout, or an hour.
func serviceTimeout(props map[string]any) time.Duration {
	if s, ok := props["ServiceTimeout"]; ok {
		if n, err := strconv.Atoi(fmt.Sprint(s)); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Hour
}

// errNoAnswer: the function returned, and CloudFormation heard nothing.
var errNoAnswer = errors.New("the function returned without answering CloudFormation")

// send invokes the function behind the ServiceToken as CloudFormation
// does, asynchronously, and waits for the answer on the ResponseURL: until
// ServiceTimeout, or a few seconds after the function returned without
// answering. The answer must echo the request's ids.
func (s *Stack) send(ctx context.Context, c customRequest) (cfn.Response, error) {
	fn := s.functionByARN(c.serviceToken)
	if fn == nil {
		return cfn.Response{}, fmt.Errorf("%s: ServiceToken %q is no function of the stack", c.logicalID, c.serviceToken)
	}
	requestID := newRequestID()
	url, answered := s.responses.expect(requestID)
	payload, err := c.payload(s.opts.Events, url, requestID)
	if err != nil {
		return cfn.Response{}, err
	}
	wait, cancel := context.WithTimeout(ctx, serviceTimeout(c.properties))
	defer cancel()
	// An asynchronous invocation: it runs to its end, the function's
	// Timeout at most, whether or not CloudFormation has its answer.
	returned := make(chan error, 1)
	go func() {
		_, err := fn.InvokeJSON(context.WithoutCancel(ctx), payload)
		returned <- err
	}()
	var invokeErr error
	var grace <-chan time.Time
	for {
		select {
		case a := <-answered:
			if a.err != nil {
				return cfn.Response{}, fmt.Errorf("%s %s: %w", c.requestType, c.logicalID, a.err)
			}
			r := a.resp
			if r.RequestID != requestID || r.StackID != c.stackID || r.LogicalResourceID != c.logicalID {
				return r, fmt.Errorf("%s %s: the answer names request %q of %q, resource %q", c.requestType, c.logicalID, r.RequestID, r.StackID, r.LogicalResourceID)
			}
			if r.PhysicalResourceID == "" {
				return r, fmt.Errorf("%s %s: the answer has no PhysicalResourceId", c.requestType, c.logicalID)
			}
			return r, nil
		case invokeErr = <-returned:
			grace = time.After(5 * time.Second)
			returned = nil
		case <-grace:
			return cfn.Response{}, fmt.Errorf("%s %s: %w (invocation: %v)", c.requestType, c.logicalID, errNoAnswer, invokeErr)
		case <-wait.Done():
			return cfn.Response{}, fmt.Errorf("%s %s: no answer within the ServiceTimeout: %w", c.requestType, c.logicalID, wait.Err())
		}
	}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

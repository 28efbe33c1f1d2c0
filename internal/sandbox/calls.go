package sandbox

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Call counts the API calls made to one operation on one resource (a bucket,
// a table, a topic, a queue's ARN, a stack, a Batch Operations job, or the
// role an IAM call names; empty for account-level calls). S3 Control's
// calls count under the service s3control, though they sign as s3. Every request that reaches the AWS
// endpoint is counted once, as it arrives, also when a fault then refuses
// it, holds it or drops it: Calls counts attempts, SDK retries included,
// not answers.
type Call struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Resource  string `json:"resource,omitempty"`
	Count     int    `json:"count"`
}

type callKey struct{ service, operation, resource string }

type calls struct {
	mu sync.Mutex
	n  map[callKey]int
}

func newCalls() *calls { return &calls{n: map[callKey]int{}} }

func (c *calls) add(service, operation, resource string) {
	c.mu.Lock()
	c.n[callKey{service, operation, resource}]++
	c.mu.Unlock()
}

func (c *calls) list() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Call, 0, len(c.n))
	for k, n := range c.n {
		out = append(out, Call{Service: k.service, Operation: k.operation, Resource: k.resource, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Operation != b.Operation {
			return a.Operation < b.Operation
		}
		return a.Resource < b.Resource
	})
	return out
}

func (c *calls) reset() {
	c.mu.Lock()
	c.n = map[callKey]int{}
	c.mu.Unlock()
}

// callOf names the operation a request calls on svc, and the resource it
// acts on, as Calls reports them. It reads the body of query and JSON
// protocol requests and puts it back for the handler.
func callOf(r *http.Request, svc string) (op, resource string) {
	switch svc {
	case "dynamodb":
		var req struct{ TableName string }
		_ = json.Unmarshal(bufferBody(r), &req)
		_, op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		return op, req.TableName
	case "sqs":
		var req struct{ QueueUrl, QueueName string }
		_ = json.Unmarshal(bufferBody(r), &req)
		_, op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		region := signingRegion(r)
		if region == "" {
			region = defaultRegion
		}
		name := req.QueueName
		if req.QueueUrl != "" {
			name = req.QueueUrl[strings.LastIndex(req.QueueUrl, "/")+1:]
		}
		if name != "" {
			resource = QueueARN(region, name)
		}
		return op, resource
	case "s3control":
		return s3ControlOperation(r)
	case "athena":
		var req struct{ QueryExecutionId, WorkGroup string }
		_ = json.Unmarshal(bufferBody(r), &req)
		_, op, _ = strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		return op, cmp.Or(req.QueryExecutionId, req.WorkGroup)
	case "iam", "sts":
		form, _ := url.ParseQuery(string(bufferBody(r)))
		return form.Get("Action"), cmp.Or(form.Get("PolicySourceArn"), form.Get("RoleName"))
	case "sns", "cloudformation":
		form, _ := url.ParseQuery(string(bufferBody(r)))
		if svc == "cloudformation" {
			return form.Get("Action"), form.Get("StackName")
		}
		topic := form.Get("TopicArn")
		if topic == "" {
			topic = form.Get("TargetArn")
		}
		return form.Get("Action"), topic
	}
	bucket, _ := splitPath(r.URL.Path)
	return s3Operation(r), bucket
}

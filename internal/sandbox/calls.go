package sandbox

import (
	"sort"
	"sync"
)

// Call counts the API calls made to one operation on one resource (a bucket,
// a table or a topic; empty for account-level calls).
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

// Package metrics writes CloudWatch embedded metric format lines to a
// function's log: Lambda turns them into metrics, with no PutMetricData
// call and nothing to lose when CloudWatch is slow. The auditor and the
// sweeper count what they did in a Tally and write it once per invocation.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"
)

// Namespace is where replaudit's metrics live in CloudWatch.
const Namespace = "replaudit"

// Tally counts one invocation's events.
type Tally struct {
	mu     sync.Mutex
	counts map[key]float64
	values map[string][]float64
	units  map[string]string
}

type key struct{ name, dim, value string }

// New returns an empty Tally.
func New() *Tally {
	return &Tally{counts: map[key]float64{}, values: map[string][]float64{}, units: map[string]string{}}
}

// Count adds n to a counter, with at most one dimension (name and value).
func (t *Tally) Count(name string, n float64, dim ...string) {
	k := key{name: name}
	if len(dim) == 2 {
		k.dim, k.value = dim[0], dim[1]
	}
	t.mu.Lock()
	t.counts[k] += n
	t.mu.Unlock()
}

// Observe records one value of a distribution, such as a latency.
func (t *Tally) Observe(name, unit string, v float64) {
	t.mu.Lock()
	t.values[name] = append(t.values[name], v)
	t.units[name] = unit
	t.mu.Unlock()
}

// Get returns a counter's value, for tests and summaries.
func (t *Tally) Get(name string, dim ...string) float64 {
	k := key{name: name}
	if len(dim) == 2 {
		k.dim, k.value = dim[0], dim[1]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[k]
}

// Write prints the tally as embedded metric format lines.
func (t *Tally) Write(w io.Writer, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	emit := func(dims []string, fields map[string]any, metrics []map[string]string) {
		doc := map[string]any{"_aws": map[string]any{"Timestamp": now.UnixMilli(), "CloudWatchMetrics": []any{map[string]any{
			"Namespace": Namespace, "Dimensions": [][]string{dims}, "Metrics": metrics}}}}
		for k, v := range fields {
			doc[k] = v
		}
		if b, err := json.Marshal(doc); err == nil {
			fmt.Fprintln(w, string(b))
		}
	}
	keys := make([]key, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].value < keys[j].value
	})
	for _, k := range keys {
		fields := map[string]any{k.name: t.counts[k]}
		dims := []string{}
		if k.dim != "" {
			fields[k.dim] = k.value
			dims = []string{k.dim}
		}
		emit(dims, fields, []map[string]string{{"Name": k.name, "Unit": "Count"}})
	}
	names := make([]string, 0, len(t.values))
	for n := range t.values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// The format takes at most 100 values per metric in one line.
		for vals := range slices.Chunk(t.values[n], 100) {
			emit([]string{}, map[string]any{n: vals}, []map[string]string{{"Name": n, "Unit": t.units[n]}})
		}
	}
}

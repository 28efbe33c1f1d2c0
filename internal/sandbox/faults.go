package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Fault kinds.
const (
	// FaultDeny makes replication to the bucket fail: the source turns FAILED
	// with Reason (default DstPutObjectNotPermitted).
	FaultDeny = "deny"
	// FaultOutage holds replication to the bucket PENDING until it is lifted.
	FaultOutage = "outage"
	// FaultLatency makes replication to the bucket take Millis longer.
	FaultLatency = "latency"
	// FaultSlowdown slows the bucket's S3 API: Millis of added latency on each
	// request, and 503 SlowDown for Share (0 to 1) of requests.
	FaultSlowdown = "slowdown"
	// FaultTamper makes replication to the bucket write a replica whose body
	// differs from its source's, as corruption or a rogue writer would.
	FaultTamper = "tamper"
)

// DefaultDenyReason is the failure reason of a deny fault that names none.
const DefaultDenyReason = "DstPutObjectNotPermitted"

// Fault is one injected fault on one bucket.
type Fault struct {
	Bucket string  `json:"bucket"`
	Kind   string  `json:"kind"`
	Reason string  `json:"reason,omitempty"`
	Millis int     `json:"millis,omitempty"`
	Share  float64 `json:"share,omitempty"`
}

func (f Fault) validate() error {
	if f.Bucket == "" {
		return fmt.Errorf("a fault needs a bucket")
	}
	switch f.Kind {
	case FaultDeny, FaultOutage, FaultTamper:
	case FaultLatency:
		if f.Millis <= 0 {
			return fmt.Errorf("a latency fault needs millis > 0")
		}
	case FaultSlowdown:
		if f.Share < 0 || f.Share > 1 {
			return fmt.Errorf("share must be between 0 and 1, not %v", f.Share)
		}
		if f.Millis < 0 || f.Millis == 0 && f.Share == 0 {
			return fmt.Errorf("a slowdown fault needs millis > 0 or a share")
		}
	default:
		return fmt.Errorf("unknown fault kind %q: want deny, outage, latency, slowdown or tamper", f.Kind)
	}
	return nil
}

// faults holds the injected faults. Waiters on an outage are woken through
// changed, which is closed and replaced on every change.
type faults struct {
	mu       sync.Mutex
	byBucket map[string]map[string]Fault
	counts   map[string]uint64 // requests seen per slowed-down bucket
	changed  chan struct{}
}

func newFaults() *faults {
	return &faults{byBucket: map[string]map[string]Fault{}, counts: map[string]uint64{}, changed: make(chan struct{})}
}

func (fs *faults) notifyLocked() {
	close(fs.changed)
	fs.changed = make(chan struct{})
}

func (fs *faults) add(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.Kind == FaultDeny && f.Reason == "" {
		f.Reason = DefaultDenyReason
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byBucket[f.Bucket] == nil {
		fs.byBucket[f.Bucket] = map[string]Fault{}
	}
	fs.byBucket[f.Bucket][f.Kind] = f
	fs.notifyLocked()
	return nil
}

// clear lifts every fault on bucket, or all faults when bucket is "".
func (fs *faults) clear(bucket string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if bucket == "" {
		fs.byBucket = map[string]map[string]Fault{}
	} else {
		delete(fs.byBucket, bucket)
	}
	fs.notifyLocked()
}

func (fs *faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []Fault
	for _, kinds := range fs.byBucket {
		for _, f := range kinds {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bucket != out[j].Bucket {
			return out[i].Bucket < out[j].Bucket
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// get returns the fault of a kind on a bucket and a channel closed at the
// next change.
func (fs *faults) get(bucket, kind string) (Fault, bool, <-chan struct{}) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.byBucket[bucket][kind]
	return f, ok, fs.changed
}

// apiFault applies a slowdown fault to one S3 request: it sleeps, then
// answers 503 SlowDown for the configured share of requests, spread evenly.
func (fs *faults) apiFault(ctx context.Context, bucket string) error {
	fs.mu.Lock()
	f, ok := fs.byBucket[bucket][FaultSlowdown]
	var refuse bool
	if ok && f.Share > 0 {
		fs.counts[bucket]++
		n := float64(fs.counts[bucket])
		refuse = int(n*f.Share) > int((n-1)*f.Share)
	}
	fs.mu.Unlock()
	if !ok {
		return nil
	}
	if f.Millis > 0 {
		select {
		case <-time.After(time.Duration(f.Millis) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if refuse {
		return newS3Error(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	}
	return nil
}

package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault kinds that act on a bucket.
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
	// FaultForbid makes the bucket's S3 API answer every request with 403
	// AccessDenied, as a bucket policy or a missing permission answers the
	// auditor. Replication itself goes on. Given a Service instead of a
	// Bucket, it makes that whole service refuse every request, in its own
	// error format, as to a caller none of whose policies allows it: the
	// function that may not simulate policies (Service "iam"). With
	// Millis > 0 a service's forbid lifts itself that long after it was
	// injected.
	FaultForbid = "forbid"
)

// Fault kinds that act on a whole service's API (Service names it), so that
// code can be tested against the day DynamoDB or SNS refuses or hangs. They
// act on the AWS endpoint only: S3's own replication engine ignores them.
const (
	// FaultUnavailable makes the service answer every request with a 503
	// ServiceUnavailable in its own error format, without serving it. With
	// Millis > 0 the fault lifts itself that long after it was injected.
	FaultUnavailable = "unavailable"
	// FaultHang makes the service answer nothing: each request is held until
	// the fault lifts, then served late, or until its client gives up, then
	// never served. With Millis > 0 the fault lifts itself that long after
	// it was injected.
	FaultHang = "hang"
	// FaultLose serves the service's request number After+1 (counted from
	// injection among the requests that reach the service), so its write
	// lands, but answers its caller with a 500 internal error instead, as
	// when an answer is lost on the way back. It fires once, then lifts
	// itself. SDK retries of that call then meet their own earlier write.
	FaultLose = "lose"
)

// FaultCrash stands for the calling process dying between two AWS calls. It
// names no bucket or service. The first After AWS requests after it was
// injected are served; every later one is held and never served: its
// connection is closed without an answer when its client gives up or the
// crash is cleared. SDK retries of a held call (the same
// amz-sdk-invocation-id) are dropped too, even after the crash is cleared,
// so nothing the dead process had in flight ever lands. Clearing the crash
// stands for the process restarting: new calls are served again.
const FaultCrash = "crash"

// DefaultDenyReason is the failure reason of a deny fault that names none.
const DefaultDenyReason = "DstPutObjectNotPermitted"

// Services that service faults can name, as their SigV4 signing names.
// S3 Control signs as s3, so s3's faults act on it too.
var faultServices = []string{"athena", "cloudformation", "dynamodb", "iam", "s3", "sns", "sqs", "sts"}

// faultKinds lists every kind, for error messages.
var faultKinds = []string{FaultDeny, FaultOutage, FaultLatency, FaultSlowdown, FaultTamper, FaultForbid, FaultUnavailable, FaultHang, FaultLose, FaultCrash}

// Fault is one injected fault: on a bucket (deny, outage, latency,
// slowdown, tamper, forbid), on a service (unavailable, hang, lose,
// forbid), or on the calling process (crash).
type Fault struct {
	Bucket  string  `json:"bucket,omitempty"`
	Service string  `json:"service,omitempty"`
	Kind    string  `json:"kind"`
	Reason  string  `json:"reason,omitempty"`
	Millis  int     `json:"millis,omitempty"`
	Share   float64 `json:"share,omitempty"`
	// After counts the requests a crash or lose fault lets through first.
	After int `json:"after,omitempty"`
}

func knownService(s string) bool { return slices.Contains(faultServices, s) }

// aKind is "a hang", "an unavailable": a kind with its article.
func aKind(kind string) string {
	if kind != "" && strings.ContainsAny(kind[:1], "aeiou") {
		return "an " + kind
	}
	return "a " + kind
}

func unknownKind(kind string) error {
	return fmt.Errorf("unknown fault kind %q: want %s or %s", kind, strings.Join(faultKinds[:len(faultKinds)-1], ", "), faultKinds[len(faultKinds)-1])
}

func (f Fault) validate() error {
	if f.Millis < 0 {
		return fmt.Errorf("millis must be 0 or more, not %d", f.Millis)
	}
	if f.After < 0 {
		return fmt.Errorf("after must be 0 or more, not %d", f.After)
	}
	switch f.Kind {
	case FaultForbid:
		switch {
		case f.Bucket == "" && f.Service == "":
			return fmt.Errorf("a forbid fault needs a bucket or a service")
		case f.Bucket != "" && f.Service != "":
			return fmt.Errorf("a forbid fault acts on a bucket or on a service, not on both")
		case f.Service != "" && !knownService(f.Service):
			return fmt.Errorf("a forbid fault on a service needs one of %s, not %q", strings.Join(faultServices, ", "), f.Service)
		case f.After != 0:
			return fmt.Errorf("after applies to crash and lose faults only, not to %s", f.Kind)
		}
	case FaultDeny, FaultOutage, FaultLatency, FaultSlowdown, FaultTamper:
		if f.Bucket == "" {
			return fmt.Errorf("a %s fault needs a bucket", f.Kind)
		}
		if f.Service != "" {
			return fmt.Errorf("a %s fault acts on a bucket, not on a service", f.Kind)
		}
		if f.After != 0 {
			return fmt.Errorf("after applies to crash and lose faults only, not to %s", f.Kind)
		}
	case FaultUnavailable, FaultHang, FaultLose:
		if !knownService(f.Service) {
			msg := fmt.Sprintf("%s fault needs a service: %s or %s", aKind(f.Kind), strings.Join(faultServices[:len(faultServices)-1], ", "), faultServices[len(faultServices)-1])
			if f.Service != "" {
				msg += fmt.Sprintf(", not %q", f.Service)
			}
			return fmt.Errorf("%s", msg)
		}
		if f.Bucket != "" {
			return fmt.Errorf("%s fault acts on a service, not on a bucket", aKind(f.Kind))
		}
		if f.Kind != FaultLose && f.After != 0 {
			return fmt.Errorf("after applies to crash and lose faults only, not to %s", f.Kind)
		}
		if f.Kind == FaultLose && f.Millis != 0 {
			return fmt.Errorf("a lose fault lifts itself after it fires and takes no millis")
		}
	case FaultCrash:
		if f.Bucket != "" || f.Service != "" {
			return fmt.Errorf("a crash fault stops every call of the process and names no bucket or service")
		}
		if f.Millis != 0 {
			return fmt.Errorf("a crash fault lasts until it is cleared and takes no millis")
		}
	default:
		return unknownKind(f.Kind)
	}
	switch f.Kind {
	case FaultLatency:
		if f.Millis <= 0 {
			return fmt.Errorf("a latency fault needs millis > 0")
		}
	case FaultSlowdown:
		if f.Share < 0 || f.Share > 1 {
			return fmt.Errorf("share must be between 0 and 1, not %v", f.Share)
		}
		if f.Millis == 0 && f.Share == 0 {
			return fmt.Errorf("a slowdown fault needs millis > 0 or a share")
		}
	}
	return nil
}

// matches reports whether f has the non-empty bucket, service and kind of
// filter.
func (f Fault) matches(filter Fault) bool {
	return (filter.Bucket == "" || filter.Bucket == f.Bucket) &&
		(filter.Service == "" || filter.Service == f.Service) &&
		(filter.Kind == "" || filter.Kind == f.Kind)
}

// serviceFault is a service or crash fault in force. Its pointer identity
// tells a held request whether the fault that holds it is still the one in
// force.
type serviceFault struct {
	Fault
	timer *time.Timer // lifts the fault after Millis
	seen  int         // requests counted, for After
}

// faults holds the injected faults. Waiters on an outage, a hang or a crash
// are woken through changed, which is closed and replaced on every change.
type faults struct {
	mu        sync.Mutex
	byBucket  map[string]map[string]Fault
	counts    map[string]uint64 // requests seen per slowed-down bucket
	byService map[string]map[string]*serviceFault
	crash     *serviceFault
	// crashed holds the SDK invocation ids of calls a crash held, whose
	// retries must not land either.
	crashed map[string]bool
	held    int
	changed chan struct{}
	// closed is closed when the sandbox shuts down, to let held requests go.
	closed chan struct{}
}

func newFaults() *faults {
	return &faults{
		byBucket: map[string]map[string]Fault{}, counts: map[string]uint64{},
		byService: map[string]map[string]*serviceFault{}, crashed: map[string]bool{},
		changed: make(chan struct{}), closed: make(chan struct{}),
	}
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
	switch {
	case f.Kind == FaultCrash:
		fs.crash = &serviceFault{Fault: f}
	case f.Service != "":
		kinds := fs.byService[f.Service]
		if kinds == nil {
			kinds = map[string]*serviceFault{}
			fs.byService[f.Service] = kinds
		}
		if old := kinds[f.Kind]; old != nil && old.timer != nil {
			old.timer.Stop()
		}
		sf := &serviceFault{Fault: f}
		kinds[f.Kind] = sf
		if f.Millis > 0 {
			sf.timer = time.AfterFunc(time.Duration(f.Millis)*time.Millisecond, func() { fs.expire(sf) })
		}
	default:
		if fs.byBucket[f.Bucket] == nil {
			fs.byBucket[f.Bucket] = map[string]Fault{}
		}
		fs.byBucket[f.Bucket][f.Kind] = f
	}
	fs.notifyLocked()
	return nil
}

// expire lifts a service fault whose time is up, unless it was replaced or
// cleared in the meantime.
func (fs *faults) expire(sf *serviceFault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byService[sf.Service][sf.Kind] == sf {
		delete(fs.byService[sf.Service], sf.Kind)
		fs.notifyLocked()
	}
}

// clear lifts every fault that matches filter (see Fault.matches); the zero
// Fault lifts them all.
func (fs *faults) clear(filter Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for bucket, kinds := range fs.byBucket {
		for kind, f := range kinds {
			if f.matches(filter) {
				delete(kinds, kind)
			}
		}
		if len(kinds) == 0 {
			delete(fs.byBucket, bucket)
		}
	}
	for _, kinds := range fs.byService {
		for kind, sf := range kinds {
			if sf.matches(filter) {
				if sf.timer != nil {
					sf.timer.Stop()
				}
				delete(kinds, kind)
			}
		}
	}
	if fs.crash != nil && fs.crash.matches(filter) {
		fs.crash = nil
	}
	fs.notifyLocked()
}

// shutdown lets every held request go, unanswered, and stops the timers.
func (fs *faults) shutdown() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	select {
	case <-fs.closed:
		return
	default:
	}
	close(fs.closed)
	for _, kinds := range fs.byService {
		for _, sf := range kinds {
			if sf.timer != nil {
				sf.timer.Stop()
			}
		}
	}
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
	for _, kinds := range fs.byService {
		for _, sf := range kinds {
			out = append(out, sf.Fault)
		}
	}
	if fs.crash != nil {
		out = append(out, fs.crash.Fault)
	}
	// Bucket faults first, then service faults, then the crash.
	rank := func(f Fault) int {
		switch {
		case f.Bucket != "":
			return 0
		case f.Service != "":
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.Bucket != b.Bucket {
			return a.Bucket < b.Bucket
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Kind < b.Kind
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

// apiFault applies a bucket's API faults to one S3 request: forbid answers
// 403; slowdown sleeps, then answers 503 SlowDown for the configured share
// of requests, spread evenly.
func (fs *faults) apiFault(ctx context.Context, bucket, region string) error {
	fs.mu.Lock()
	if _, forbidden := fs.byBucket[bucket][FaultForbid]; forbidden {
		fs.mu.Unlock()
		e := newS3Error(http.StatusForbidden, "AccessDenied", "Access Denied")
		if region != "" {
			// S3 names the bucket's region even when it refuses.
			e.Header = map[string]string{"X-Amz-Bucket-Region": region}
		}
		return e
	}
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

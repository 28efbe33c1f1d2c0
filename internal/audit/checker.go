package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// S3 holds the S3 calls the checker makes.
type S3 interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	GetBucketReplication(context.Context, *s3.GetBucketReplicationInput, ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)
}

// Clients returns the S3 client for a region.
type Clients func(region string) S3

// Options configure a Checker.
type Options struct {
	// Clients gives the S3 client of a region; buckets are read in their own.
	Clients Clients
	// Regions finds a bucket's region.
	Regions *bucketregion.Locator
	// ConfigTTL is how long a bucket's replication configuration is cached.
	ConfigTTL time.Duration
	// RuleIDs limits the audit to the rules with these IDs: the ones the
	// stack owns, whose destinations it may read. None means every rule.
	RuleIDs []string
	// Concurrency bounds the destinations of one version checked at once.
	Concurrency int
	// Clock stands in for time.Now.
	Clock func() time.Time
}

// Checker turns S3 event records into findings.
type Checker struct {
	opts  Options
	rules map[string]bool

	mu      sync.Mutex
	configs map[string]cachedConfig
}

type cachedConfig struct {
	cfg     replication.Config
	expires time.Time
}

// New returns a Checker.
func New(o Options, optFns ...func(*Options)) (*Checker, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Clients == nil || o.Regions == nil {
		return nil, errors.New("audit: a checker needs S3 clients and a bucket locator")
	}
	if o.ConfigTTL <= 0 {
		o.ConfigTTL = time.Minute
	}
	if o.Concurrency < 1 {
		o.Concurrency = 4
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	c := &Checker{opts: o, configs: map[string]cachedConfig{}}
	for _, id := range o.RuleIDs {
		if id = strings.TrimSpace(id); id != "" {
			if c.rules == nil {
				c.rules = map[string]bool{}
			}
			c.rules[id] = true
		}
	}
	return c, nil
}

// Errors that say what to do with a record that yields no findings.
var (
	// ErrMalformed marks a record that can never be checked as it is: a key
	// that is not URL-encoded, no bucket, an event replaudit does not audit.
	ErrMalformed = errors.New("malformed record")
	// ErrOutOfScope marks a replication event about a rule replaudit does
	// not audit (another team's rule): acknowledged and skipped.
	ErrOutOfScope = errors.New("out of scope")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// notFound reports a HEAD of a key or version that is not there.
func notFound(err error) bool {
	switch awscall.Code(err) {
	case "NotFound", "NoSuchKey", "NoSuchVersion":
		return true
	}
	return awscall.Status(err) == http.StatusNotFound
}

// Region returns a bucket's region, asked once and then remembered.
func (c *Checker) Region(ctx context.Context, bucket string) (string, error) {
	return c.opts.Regions.Region(ctx, bucket)
}

// Config returns the bucket's whole replication configuration, cached for
// the TTL: every rule, the ones replaudit audits (RuleIDs) and the others,
// since S3's source status sums them all. A bucket without one has an
// empty Config.
func (c *Checker) Config(ctx context.Context, bucket string) (replication.Config, error) {
	c.mu.Lock()
	cached, ok := c.configs[bucket]
	c.mu.Unlock()
	if ok && c.opts.Clock().Before(cached.expires) {
		return cached.cfg, nil
	}
	region, err := c.Region(ctx, bucket)
	if err != nil {
		return replication.Config{}, err
	}
	out, err := c.opts.Clients(region).GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	var cfg replication.Config
	switch {
	case awscall.Code(err) == "ReplicationConfigurationNotFoundError":
	case err != nil:
		return cfg, fmt.Errorf("read replication configuration of %s: %w", bucket, err)
	default:
		cfg = replication.ConfigFromSDK(out.ReplicationConfiguration)
	}
	c.mu.Lock()
	c.configs[bucket] = cachedConfig{cfg: cfg, expires: c.opts.Clock().Add(c.opts.ConfigTTL)}
	c.mu.Unlock()
	return cfg, nil
}

// Subject is what a record is about.
type Subject struct {
	Bucket, Key, VersionID string
	Size                   int64
	ETag                   string
	// EventTime is when the version was written.
	EventTime        time.Time
	EventTimeClamped bool
}

func (c *Checker) subjectOf(r events.S3EventRecord) (Subject, error) {
	key, err := s3events.DecodeKey(r.S3.Object.Key)
	if err != nil {
		return Subject{}, malformed("object key %q is not URL-encoded: %v", r.S3.Object.Key, err)
	}
	if r.S3.Bucket.Name == "" || key == "" {
		return Subject{}, malformed("the record names no bucket or key")
	}
	s := Subject{Bucket: r.S3.Bucket.Name, Key: key, VersionID: r.S3.Object.VersionID,
		Size: r.S3.Object.Size, ETag: strings.Trim(r.S3.Object.ETag, `"`), EventTime: r.EventTime}
	// A replication event's eventTime is when S3 sent it; the version was
	// written at its requestTime.
	if d := r.ReplicationEventData; d != nil && !d.RequestTime.IsZero() {
		s.EventTime = d.RequestTime
	}
	if now := c.opts.Clock(); s.EventTime.After(now) {
		s.EventTime, s.EventTimeClamped = now, true
	}
	return s, nil
}

func (c *Checker) finding(s Subject, v Verdict) Finding {
	return Finding{Bucket: s.Bucket, SourceRegion: c.opts.Regions.Known(s.Bucket), Key: s.Key, VersionID: s.VersionID, Size: s.Size, ETag: s.ETag,
		EventTime: s.EventTime, EventTimeClamped: s.EventTimeClamped, CheckedAt: c.opts.Clock(), Verdict: v}
}

// Check turns one S3 event record into findings, one per destination. An
// error wrapping ErrMalformed means the record can never be checked;
// ErrOutOfScope means it is about a rule replaudit does not audit; any
// other error means try again later.
func (c *Checker) Check(ctx context.Context, r events.S3EventRecord) ([]Finding, error) {
	name := s3events.Name(r.EventName)
	s, err := c.subjectOf(r)
	if err != nil {
		return nil, err
	}
	if r.AWSRegion != "" {
		c.opts.Regions.Remember(s.Bucket, r.AWSRegion) // S3 names the bucket's region in each record
	}
	switch {
	case strings.HasPrefix(name, "ObjectCreated:"):
		return c.checkCreated(ctx, s)
	case name == "ObjectRemoved:DeleteMarkerCreated":
		return c.checkDeleteMarker(ctx, s, "")
	case name == "ObjectRemoved:Delete":
		f := c.finding(s, DeleteNotReplicated)
		f.Detail = "A version was deleted; S3 never replicates version deletes."
		return []Finding{f}, nil
	case strings.HasPrefix(name, "Replication:"):
		return c.checkReplicationEvent(ctx, s, name, r.ReplicationEventData)
	}
	return nil, malformed("event %q is not one replaudit audits", r.EventName)
}

// Audited reports whether replaudit audits a rule: it is one of RuleIDs,
// or RuleIDs is empty.
func (c *Checker) Audited(id string) bool { return c.rules == nil || c.rules[id] }

// rulesFor are the rules that apply to a version, every one, reading its
// tags only when some rule filters on tags.
func (c *Checker) rulesFor(ctx context.Context, s Subject, region string, cfg replication.Config) ([]replication.Rule, error) {
	needTags := false
	for _, r := range cfg.Rules {
		if r.Enabled && len(r.Filter.Tags) > 0 && strings.HasPrefix(s.Key, r.Filter.Prefix) {
			needTags = true
		}
	}
	var tags map[string]string
	if needTags {
		out, err := c.opts.Clients(region).GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key), VersionId: aws.String(s.VersionID)})
		switch {
		case notFound(err):
		case err != nil:
			return nil, fmt.Errorf("read tags of %s/%s: %w", s.Bucket, s.Key, err)
		default:
			tags = map[string]string{}
			for _, t := range out.TagSet {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	return cfg.Match(s.Key, tags), nil
}

func (c *Checker) checkCreated(ctx context.Context, s Subject) ([]Finding, error) {
	if s.VersionID == "" || s.VersionID == "null" {
		f := c.finding(s, NotReplicated)
		f.Detail = "The source bucket was not versioned when this object was written; S3 replicates only versioned objects."
		return []Finding{f}, nil
	}
	v, err := c.version(ctx, s)
	if err != nil {
		return nil, err
	}
	if len(v.rules) == 0 {
		f := c.finding(s, NotReplicated)
		f.Detail = "No enabled replication rule applies to this key."
		if len(v.all) > 0 {
			f.Detail = "Only rules replaudit does not audit (RULE_IDS) apply to this key."
		}
		return []Finding{f}, nil
	}
	out := make([]Finding, len(v.rules))
	var wg sync.WaitGroup
	for i, rule := range v.rules {
		wg.Go(func() { out[i] = v.check(ctx, rule) })
	}
	wg.Wait()
	return out, nil
}

// version gathers what the checks of one version's destinations share.
func (c *Checker) version(ctx context.Context, s Subject) (*version, error) {
	cfg, err := c.Config(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	region, err := c.Region(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	all, err := c.rulesFor(ctx, s, region, cfg)
	if err != nil {
		return nil, err
	}
	v := &version{c: c, s: s, region: region, all: all, rulesKnown: true}
	for _, r := range all {
		if c.Audited(r.ID) {
			v.rules = append(v.rules, r)
		}
	}
	return v, nil
}

// version is one object version's check across its destinations. It HEADs
// each replica at most once and the source at most once, and the source
// only when a replica is missing.
type version struct {
	c      *Checker
	s      Subject
	region string
	// rules are the destinations replaudit audits for the version; all are
	// every destination it must reach, other teams' rules included, since
	// S3's source status sums them. rulesKnown is false when they could
	// not be read, and then the source's status is never pinned on one
	// destination.
	rules      []replication.Rule
	all        []replication.Rule
	rulesKnown bool

	srcOnce   sync.Once
	srcStatus string
	srcGone   bool
	srcErr    error

	mu    sync.Mutex
	heads map[string]*replicaHead
	sem   chan struct{} // bounds the HEADs in flight
}

// replicaHead is one HEAD of a replica, shared by the checks that need it.
type replicaHead struct {
	once      sync.Once
	region    string
	regionErr error
	out       *s3.HeadObjectOutput
	err       error
}

func (v *version) head(ctx context.Context, dest string) *replicaHead {
	v.mu.Lock()
	if v.heads == nil {
		v.heads = map[string]*replicaHead{}
		v.sem = make(chan struct{}, v.c.opts.Concurrency)
	}
	h, ok := v.heads[dest]
	if !ok {
		h = &replicaHead{}
		v.heads[dest] = h
	}
	v.mu.Unlock()
	h.once.Do(func() {
		v.sem <- struct{}{}
		defer func() { <-v.sem }()
		if h.region, h.regionErr = v.c.Region(ctx, dest); h.regionErr != nil {
			return
		}
		h.out, h.err = v.c.opts.Clients(h.region).HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(dest), Key: aws.String(v.s.Key), VersionId: aws.String(v.s.VersionID), ChecksumMode: "ENABLED"})
	})
	return h
}

func (v *version) source(ctx context.Context) (status string, gone bool, err error) {
	v.srcOnce.Do(func() {
		out, err := v.c.opts.Clients(v.region).HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(v.s.Bucket), Key: aws.String(v.s.Key), VersionId: aws.String(v.s.VersionID)})
		switch {
		case notFound(err) || awscall.Code(err) == "MethodNotAllowed":
			v.srcGone = true
		case err != nil:
			v.srcErr = err
		default:
			v.srcStatus = string(out.ReplicationStatus)
		}
	})
	return v.srcStatus, v.srcGone, v.srcErr
}

// onlyDestination reports whether dest is the only destination the
// version must reach: then the source's status is dest's alone.
func (v *version) onlyDestination(dest string) bool {
	return v.rulesKnown && len(v.all) == 1 && v.all[0].Destination.Bucket() == dest
}

// othersReplicated reports whether every destination but dest holds its
// replica: then a FAILED source status can only be about dest. Another
// team's destination is never read (replaudit may not), so a version that
// must also reach one is never pinned this way.
func (v *version) othersReplicated(ctx context.Context, dest string) bool {
	if !v.rulesKnown {
		return false
	}
	var others []string
	for _, r := range v.all {
		if other := r.Destination.Bucket(); other != dest {
			if !v.c.Audited(r.ID) {
				return false
			}
			others = append(others, other)
		}
	}
	heads := make([]*replicaHead, len(others))
	var wg sync.WaitGroup
	for i, other := range others {
		wg.Go(func() { heads[i] = v.head(ctx, other) })
	}
	wg.Wait()
	for _, h := range heads {
		if h.regionErr != nil || h.err != nil {
			return false
		}
	}
	return true
}

// unreadable turns an error that keeps replaudit from reading a bucket
// into a finding: CANNOT_VERIFY when it will not pass by itself (403, no
// such bucket), PENDING to try again when it may.
func unreadable(f Finding, what, bucket string, err error) Finding {
	if errors.Is(err, bucketregion.ErrNoSuchBucket) {
		f.Verdict, f.FailureReason = CannotVerify, "NoSuchBucket"
		f.Detail = fmt.Sprintf("Bucket %s does not exist, or replaudit may not see it.", bucket)
		return f
	}
	if awscall.Transient(err) || ctxDone(err) {
		f.Detail = fmt.Sprintf("Could not read %s; checking again later: %v", what, err)
		return f
	}
	f.Verdict = CannotVerify
	f.FailureReason = awscall.Code(err)
	if f.FailureReason == "" {
		if s := awscall.Status(err); s != 0 {
			f.FailureReason = fmt.Sprintf("HTTP %d", s)
		} else {
			f.FailureReason = "Unreadable"
		}
	}
	f.Detail = fmt.Sprintf("replaudit may not read %s: %v", what, err)
	return f
}

func ctxDone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// check decides one destination's verdict from evidence about that
// destination: its replica, or the source's status where that status can
// only be about it. S3's source status is an aggregate over destinations:
// FAILED as soon as one failed, COMPLETED only when all are done.
func (v *version) check(ctx context.Context, rule replication.Rule) Finding {
	f := v.c.finding(v.s, Pending)
	f.Destination = rule.Destination.Bucket()
	f.RuleID = rule.ID
	h := v.head(ctx, f.Destination)
	if h.regionErr != nil {
		return unreadable(f, "destination "+f.Destination, f.Destination, h.regionErr)
	}
	f.DestinationRegion = h.region
	switch {
	case h.err == nil:
		return compare(f, h.out, v.c.opts.Clock())
	case !notFound(h.err):
		// Never FAILED for a destination that could not be read.
		return unreadable(f, fmt.Sprintf("the replica in %s (%s)", f.Destination, h.region), f.Destination, h.err)
	}
	status, gone, err := v.source(ctx)
	switch {
	case err != nil:
		f = unreadable(f, "the source "+v.s.Bucket, v.s.Bucket, err)
		if f.Verdict == Pending {
			f.Detail = fmt.Sprintf("The replica is not in %s yet and the source could not be read: %v", f.Destination, err)
		}
	case gone:
		f.Verdict = Superseded
		f.Detail = "The source version was deleted before its replica could be checked."
	case status == replication.StatusPending:
		f.Detail = "S3 has not replicated this version yet."
	case status == replication.StatusFailed && (v.onlyDestination(f.Destination) || v.othersReplicated(ctx, f.Destination)):
		f.Verdict = Failed
		f.Detail = "The source reports FAILED and " + f.Destination + " has no replica."
		f.AwaitingReason = rule.Metrics
	case status == replication.StatusFailed:
		f.Detail = fmt.Sprintf("The source reports FAILED, which S3 reports when any of its %d destinations failed; %s has no replica yet. Waiting for S3's failure event naming it, or for its replica.", len(v.all), f.Destination)
	case replication.IsCompleted(status):
		f.Verdict = Missing
		f.Detail = "The source reports " + status + " but " + f.Destination + " has no replica of this version."
	case status == replication.StatusReplica:
		f.Verdict = NotReplicated
		f.Detail = "The source object is itself a replica; S3 does not replicate replicas."
	default:
		f.Verdict = NotReplicated
		f.Detail = "The source has no replication status: it was written before the rule, or is not eligible."
	}
	return f
}

// compare checks a replica against its source: status, size, and the ETag
// where it is comparable.
func compare(f Finding, h *s3.HeadObjectOutput, now time.Time) Finding {
	rep := &Replica{
		VersionID: aws.ToString(h.VersionId), Size: aws.ToInt64(h.ContentLength), ETag: strings.Trim(aws.ToString(h.ETag), `"`),
		Status: string(h.ReplicationStatus), LastModified: aws.ToTime(h.LastModified), VerifiedAt: now,
	}
	// Evidence only: the event carries no checksum, and reading the
	// source's would cost a HEAD on every object.
	for _, c := range []struct {
		alg string
		v   *string
	}{{"SHA256", h.ChecksumSHA256}, {"SHA1", h.ChecksumSHA1}, {"CRC64NVME", h.ChecksumCRC64NVME}, {"CRC32C", h.ChecksumCRC32C}, {"CRC32", h.ChecksumCRC32}} {
		if c.v != nil {
			rep.Checksum = c.alg + ":" + *c.v
			break
		}
	}
	f.Replica = rep
	var diffs []string
	if rep.Status != replication.StatusReplica {
		diffs = append(diffs, fmt.Sprintf("replication status is %q, not REPLICA: an object was written to the destination directly", rep.Status))
	}
	if rep.VersionID != f.VersionID {
		diffs = append(diffs, fmt.Sprintf("version id %s, want %s", rep.VersionID, f.VersionID))
	}
	if rep.Size != f.Size {
		diffs = append(diffs, fmt.Sprintf("size %d bytes, want %d", rep.Size, f.Size))
	}
	// An SSE-KMS ETag is not an MD5 and a replica re-encrypted with another
	// key may differ: compare ETags only for SSE-S3 or unencrypted replicas.
	kms := strings.HasPrefix(string(h.ServerSideEncryption), "aws:kms")
	if !kms && f.ETag != "" && rep.ETag != f.ETag {
		diffs = append(diffs, fmt.Sprintf("ETag %s, want %s", rep.ETag, f.ETag))
	}
	if len(diffs) > 0 {
		f.Verdict = Diverged
		f.Differences = diffs
		f.Detail = "The replica differs from the source: " + strings.Join(diffs, "; ") + "."
		return f
	}
	f.Verdict = Verified
	return f
}

// checkDeleteMarker checks a delete marker in each audited destination
// whose rule replicates delete markers, all at once, or in only one when
// only is not empty.
func (c *Checker) checkDeleteMarker(ctx context.Context, s Subject, only string) ([]Finding, error) {
	cfg, err := c.Config(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	var rules []replication.Rule
	for _, r := range cfg.Match(s.Key, nil) {
		if c.Audited(r.ID) && (only == "" || r.Destination.Bucket() == only) {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		if only != "" {
			return nil, nil
		}
		f := c.finding(s, NotReplicated)
		f.DeleteMarker = true
		f.Detail = "No enabled replication rule applies to this key."
		return []Finding{f}, nil
	}
	out := make([]Finding, len(rules))
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
	for i, rule := range rules {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = c.deleteMarkerIn(ctx, s, rule)
		})
	}
	wg.Wait()
	return out, nil
}

func (c *Checker) deleteMarkerIn(ctx context.Context, s Subject, rule replication.Rule) Finding {
	f := c.finding(s, NotReplicated)
	f.DeleteMarker = true
	f.Destination, f.RuleID = rule.Destination.Bucket(), rule.ID
	if !rule.DeleteMarkerReplication {
		f.Detail = "The rule does not replicate delete markers; the object stays visible in " + f.Destination + "."
		return f
	}
	f.Verdict = Pending
	region, err := c.Region(ctx, f.Destination)
	if err != nil {
		return unreadable(f, "destination "+f.Destination, f.Destination, err)
	}
	f.DestinationRegion = region
	_, err = c.opts.Clients(region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.Destination), Key: aws.String(s.Key), VersionId: aws.String(s.VersionID)})
	switch {
	case deleteMarker(err):
		f.Verdict = Verified
		f.Replica = &Replica{VersionID: s.VersionID, VerifiedAt: c.opts.Clock(), Status: "DELETE_MARKER"}
	case notFound(err):
		f.Detail = "The delete marker is not in " + f.Destination + " yet."
	case err == nil:
		f.Verdict, f.Detail = Diverged, "The destination holds an object, not a delete marker, under this version id."
	default:
		f = unreadable(f, "the delete marker in "+f.Destination, f.Destination, err)
	}
	return f
}

// deleteMarker reports a HEAD of a version that is a delete marker: S3
// answers 405 with x-amz-delete-marker: true.
func deleteMarker(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.Response != nil && re.Response.Header.Get("X-Amz-Delete-Marker") == "true"
}

func (c *Checker) checkReplicationEvent(ctx context.Context, s Subject, name string, data *events.S3ReplicationEventData) ([]Finding, error) {
	if data == nil || data.DestinationBucket == "" {
		return nil, malformed("%s without replicationEventData.destinationBucket", name)
	}
	dst, err := replication.BucketFromARN(data.DestinationBucket)
	if err != nil {
		return nil, malformed("%s: destinationBucket: %v", name, err)
	}
	if c.rules != nil && !c.rules[data.ReplicationRuleID] {
		return nil, fmt.Errorf("%w: %s for rule %q, which replaudit does not audit", ErrOutOfScope, name, data.ReplicationRuleID)
	}
	f := c.finding(s, Pending)
	f.Destination, f.RuleID = dst, data.ReplicationRuleID
	f.DestinationRegion = c.opts.Regions.Known(dst)
	switch name {
	case "Replication:OperationFailedReplication":
		// The event names its destination: evidence about that one alone.
		f.Verdict = Failed
		f.FailureReason = data.FailureReason
		meaning, _ := replication.Explain(data.FailureReason)
		f.Detail = meaning
	case "Replication:OperationMissedThreshold":
		f.LongPending = true
		f.Detail = "S3 Replication Time Control missed its 15-minute threshold for this version."
	case "Replication:OperationReplicatedAfterThreshold":
		v, err := c.version(ctx, s)
		if err != nil {
			return nil, err
		}
		return []Finding{v.check(ctx, v.rule(dst, data.ReplicationRuleID))}, nil
	case "Replication:OperationNotTracked":
		f.Verdict = NotTracked
		f.Detail = "S3 stopped tracking this version's replication time."
	default:
		return nil, malformed("event %q is not one replaudit audits", name)
	}
	return []Finding{f}, nil
}

// rule returns the version's rule for a destination, or a stand-in naming
// it when the configuration no longer holds one.
func (v *version) rule(dest, id string) replication.Rule {
	for _, r := range v.rules {
		if r.Destination.Bucket() == dest {
			return r
		}
	}
	r := replication.Rule{ID: id, Destination: replication.Destination{BucketARN: replication.BucketARN(dest)}}
	v.rules, v.all, v.rulesKnown = append(v.rules, r), append(v.all, r), false
	return r
}

// Recheck checks a recorded finding again, for the sweeper: the replica in
// its destination, then, if it is still missing, the source, and the other
// destinations only when the source's status could be about any of them.
// A finding of a rule the stack no longer audits is closed NOT_REPLICATED,
// without a call.
func (c *Checker) Recheck(ctx context.Context, f Finding) (Finding, error) {
	if f.RuleID != "" && !c.Audited(f.RuleID) {
		// The stack no longer owns the rule: its source or destination left
		// the stack, which removed the rule from the bucket. Nothing will
		// replicate the version for it, and the stack may no longer read
		// it: the item is closed, without a call.
		f.Verdict, f.CheckedAt = NotReplicated, c.opts.Clock()
		f.Detail = "Rule " + f.RuleID + " is no longer one this stack audits (its source or destination left the stack): the version is not checked again."
		return f, nil
	}
	s := Subject{Bucket: f.Bucket, Key: f.Key, VersionID: f.VersionID, Size: f.Size, ETag: f.ETag, EventTime: f.EventTime, EventTimeClamped: f.EventTimeClamped}
	if f.DeleteMarker {
		fs, err := c.checkDeleteMarker(ctx, s, f.Destination)
		if err != nil || len(fs) == 0 {
			return f, err
		}
		return fs[0], nil
	}
	v, err := c.version(ctx, s)
	if err != nil {
		region, rerr := c.Region(ctx, f.Bucket)
		if rerr != nil {
			return f, err
		}
		// The rules could not be read: check this destination alone, and
		// never pin the source's aggregate status on it.
		v = &version{c: c, s: s, region: region}
	}
	out := v.check(ctx, v.rule(f.Destination, f.RuleID))
	out.LongPending = f.LongPending
	return out, nil
}

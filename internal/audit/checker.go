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
	"github.com/aws/smithy-go"

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

// Checker turns S3 event records into findings.
type Checker struct {
	clients Clients
	regions *bucketregion.Locator
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	configs map[string]cachedConfig
	// rules, when set, limits the audit to these rule IDs: the ones the
	// stack owns, whose destinations it may read.
	rules map[string]bool
}

// OnlyRules limits the audit to the rules with these IDs; none means all.
func (c *Checker) OnlyRules(ids []string) *Checker {
	c.rules = nil
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			if c.rules == nil {
				c.rules = map[string]bool{}
			}
			c.rules[id] = true
		}
	}
	return c
}

type cachedConfig struct {
	cfg     replication.Config
	expires time.Time
}

// NewChecker returns a Checker. configTTL is how long a bucket's
// replication configuration is cached.
func NewChecker(clients Clients, regions *bucketregion.Locator, configTTL time.Duration) (*Checker, error) {
	if clients == nil || regions == nil {
		return nil, errors.New("audit: a checker needs S3 clients and a bucket locator")
	}
	return &Checker{clients: clients, regions: regions, ttl: configTTL, now: time.Now, configs: map[string]cachedConfig{}}, nil
}

// ErrTransient marks a check that could not finish for a reason that may
// pass: throttling, a region that did not answer. The record is retried.
var ErrTransient = errors.New("transient")

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// transient reports whether an error may pass on its own: throttling, 5xx,
// or no answer at all. Permission and addressing errors do not.
func transient(err error) bool {
	if err == nil {
		return false
	}
	switch apiCode(err) {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError":
		return true
	}
	if s := httpStatus(err); s >= 500 || s == http.StatusTooManyRequests {
		return true
	}
	return httpStatus(err) == 0 && !errors.Is(err, context.Canceled)
}

// notFound reports a HEAD of a key or version that is not there.
func notFound(err error) bool {
	switch apiCode(err) {
	case "NotFound", "NoSuchKey", "NoSuchVersion":
		return true
	}
	return httpStatus(err) == http.StatusNotFound
}

// Region returns a bucket's region, asked once and then remembered.
func (c *Checker) Region(ctx context.Context, bucket string) (string, error) {
	r, err := c.regions.Region(ctx, bucket)
	if err != nil && transient(err) {
		return "", fmt.Errorf("%w: %w", ErrTransient, err)
	}
	return r, err
}

// Config returns the bucket's replication configuration, cached for the TTL.
// A bucket without one has an empty Config.
func (c *Checker) Config(ctx context.Context, bucket string) (replication.Config, error) {
	c.mu.Lock()
	cached, ok := c.configs[bucket]
	c.mu.Unlock()
	if ok && c.now().Before(cached.expires) {
		return cached.cfg, nil
	}
	region, err := c.Region(ctx, bucket)
	if err != nil {
		return replication.Config{}, err
	}
	out, err := c.clients(region).GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	var cfg replication.Config
	switch {
	case apiCode(err) == "ReplicationConfigurationNotFoundError":
	case err != nil && transient(err):
		return cfg, fmt.Errorf("read replication configuration of %s: %w: %w", bucket, ErrTransient, err)
	case err != nil:
		return cfg, fmt.Errorf("read replication configuration of %s: %w", bucket, err)
	default:
		cfg = replication.ConfigFromSDK(out.ReplicationConfiguration)
		if c.rules != nil {
			kept := cfg.Rules[:0]
			for _, r := range cfg.Rules {
				if c.rules[r.ID] {
					kept = append(kept, r)
				}
			}
			cfg.Rules = kept
		}
	}
	c.mu.Lock()
	c.configs[bucket] = cachedConfig{cfg: cfg, expires: c.now().Add(c.ttl)}
	c.mu.Unlock()
	return cfg, nil
}

// Subject is what a record is about.
type Subject struct {
	Bucket, Key, VersionID string
	Size                   int64
	ETag                   string
	EventTime              time.Time
}

func subjectOf(r events.S3EventRecord) (Subject, error) {
	key, err := s3events.DecodeKey(r.S3.Object.Key)
	if err != nil {
		return Subject{}, fmt.Errorf("object key %q is not URL-encoded: %w", r.S3.Object.Key, err)
	}
	if r.S3.Bucket.Name == "" || key == "" {
		return Subject{}, errors.New("the record names no bucket or key")
	}
	return Subject{Bucket: r.S3.Bucket.Name, Key: key, VersionID: r.S3.Object.VersionID,
		Size: r.S3.Object.Size, ETag: strings.Trim(r.S3.Object.ETag, `"`), EventTime: r.EventTime}, nil
}

func (c *Checker) finding(s Subject, v Verdict) Finding {
	return Finding{Bucket: s.Bucket, SourceRegion: c.regions.Known(s.Bucket), Key: s.Key, VersionID: s.VersionID, Size: s.Size, ETag: s.ETag,
		EventTime: s.EventTime, CheckedAt: c.now(), Verdict: v}
}

// Check turns one S3 event record into findings, one per destination. An
// error wrapping ErrTransient means try again later; any other error means
// the record cannot be checked as it is.
func (c *Checker) Check(ctx context.Context, r events.S3EventRecord) ([]Finding, error) {
	name := s3events.Name(r.EventName)
	s, err := subjectOf(r)
	if err != nil {
		return nil, err
	}
	if r.AWSRegion != "" {
		c.regions.Remember(s.Bucket, r.AWSRegion) // S3 names the bucket's region in each record
	}
	switch {
	case strings.HasPrefix(name, "ObjectCreated:"):
		return c.checkCreated(ctx, s)
	case name == "ObjectRemoved:DeleteMarkerCreated":
		return c.checkDeleteMarker(ctx, s)
	case name == "ObjectRemoved:Delete":
		f := c.finding(s, DeleteNotReplicated)
		f.Detail = "A version was deleted; S3 never replicates version deletes."
		return []Finding{f}, nil
	case strings.HasPrefix(name, "Replication:"):
		return c.checkReplicationEvent(ctx, s, name, r.ReplicationEventData)
	}
	return nil, fmt.Errorf("event %q is not one replaudit audits", r.EventName)
}

// candidates are the rules that apply to a version, reading its tags only
// when some rule filters on tags.
func (c *Checker) candidates(ctx context.Context, s Subject, region string, cfg replication.Config) ([]replication.Rule, error) {
	needTags := false
	for _, r := range cfg.Rules {
		if r.Enabled && len(r.Filter.Tags) > 0 && strings.HasPrefix(s.Key, r.Filter.Prefix) {
			needTags = true
		}
	}
	var tags map[string]string
	if needTags {
		out, err := c.clients(region).GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Key), VersionId: aws.String(s.VersionID)})
		switch {
		case notFound(err):
		case err != nil && transient(err):
			return nil, fmt.Errorf("read tags of %s/%s: %w: %w", s.Bucket, s.Key, ErrTransient, err)
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
	cfg, err := c.Config(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	region, err := c.Region(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	rules, err := c.candidates(ctx, s, region, cfg)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		f := c.finding(s, NotReplicated)
		f.Detail = "No enabled replication rule applies to this key."
		return []Finding{f}, nil
	}
	src := &sourceStatus{c: c, s: s, region: region}
	out := make([]Finding, 0, len(rules))
	for _, rule := range rules {
		out = append(out, c.checkDestination(ctx, s, rule, src))
	}
	return out, nil
}

// sourceStatus HEADs the source at most once per record, and only when a
// replica is missing.
type sourceStatus struct {
	c      *Checker
	s      Subject
	region string
	done   bool
	status string
	gone   bool
	err    error
}

func (ss *sourceStatus) get(ctx context.Context) (status string, gone bool, err error) {
	if !ss.done {
		ss.done = true
		out, err := ss.c.clients(ss.region).HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(ss.s.Bucket), Key: aws.String(ss.s.Key), VersionId: aws.String(ss.s.VersionID)})
		switch {
		case notFound(err) || apiCode(err) == "MethodNotAllowed":
			ss.gone = true
		case err != nil:
			ss.err = err
		default:
			ss.status = string(out.ReplicationStatus)
		}
	}
	return ss.status, ss.gone, ss.err
}

func (c *Checker) checkDestination(ctx context.Context, s Subject, rule replication.Rule, src *sourceStatus) Finding {
	f := c.finding(s, Pending)
	f.Destination = rule.Destination.Bucket()
	f.RuleID = rule.ID
	region, err := c.Region(ctx, f.Destination)
	if err != nil {
		f.Detail = fmt.Sprintf("Could not locate destination %s: %v", f.Destination, err)
		return f
	}
	f.DestinationRegion = region
	head, err := c.clients(region).HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.Destination), Key: aws.String(s.Key), VersionId: aws.String(s.VersionID), ChecksumMode: "ENABLED"})
	switch {
	case err == nil:
		return compare(f, head, c.now())
	case !notFound(err):
		// Never FAILED for a destination we could not read: check again later.
		f.Detail = fmt.Sprintf("Could not read the replica in %s (%s): %v", f.Destination, region, err)
		return f
	}
	status, gone, err := src.get(ctx)
	switch {
	case err != nil:
		f.Detail = fmt.Sprintf("The replica is not in %s yet and the source could not be read: %v", f.Destination, err)
	case gone:
		f.Verdict = Superseded
		f.Detail = "The source version was deleted before its replica could be checked."
	case status == replication.StatusPending:
		f.Detail = "S3 has not replicated this version yet."
	case status == replication.StatusFailed:
		f.Verdict = Failed
		f.Detail = "The source reports FAILED and " + f.Destination + " has no replica."
		f.AwaitingReason = rule.Metrics
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
// and checksums where they are comparable.
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

func (c *Checker) checkDeleteMarker(ctx context.Context, s Subject) ([]Finding, error) {
	cfg, err := c.Config(ctx, s.Bucket)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, rule := range cfg.Match(s.Key, nil) {
		f := c.finding(s, NotReplicated)
		f.DeleteMarker = true
		f.Destination, f.RuleID = rule.Destination.Bucket(), rule.ID
		if !rule.DeleteMarkerReplication {
			f.Detail = "The rule does not replicate delete markers; the object stays visible in " + f.Destination + "."
			out = append(out, f)
			continue
		}
		region, err := c.Region(ctx, f.Destination)
		if err != nil {
			f.Verdict, f.Detail = Pending, err.Error()
			out = append(out, f)
			continue
		}
		f.DestinationRegion = region
		_, err = c.clients(region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.Destination), Key: aws.String(s.Key), VersionId: aws.String(s.VersionID)})
		var re *awshttp.ResponseError
		switch {
		case errors.As(err, &re) && re.Response.Header.Get("X-Amz-Delete-Marker") == "true":
			f.Verdict = Verified
			f.Replica = &Replica{VersionID: s.VersionID, VerifiedAt: c.now(), Status: "DELETE_MARKER"}
		case notFound(err):
			f.Verdict, f.Detail = Pending, "The delete marker is not in "+f.Destination+" yet."
		case err == nil:
			f.Verdict, f.Detail = Diverged, "The destination holds an object, not a delete marker, under this version id."
		default:
			f.Verdict, f.Detail = Pending, fmt.Sprintf("Could not read %s: %v", f.Destination, err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		f := c.finding(s, NotReplicated)
		f.DeleteMarker = true
		f.Detail = "No enabled replication rule applies to this key."
		out = append(out, f)
	}
	return out, nil
}

func (c *Checker) checkReplicationEvent(ctx context.Context, s Subject, name string, data *events.S3ReplicationEventData) ([]Finding, error) {
	if data == nil || data.DestinationBucket == "" {
		return nil, fmt.Errorf("%s without replicationEventData.destinationBucket", name)
	}
	dst, err := replication.BucketFromARN(data.DestinationBucket)
	if err != nil {
		return nil, fmt.Errorf("%s: destinationBucket: %w", name, err)
	}
	f := c.finding(s, Pending)
	f.Destination, f.RuleID = dst, data.ReplicationRuleID
	if region, err := c.Region(ctx, dst); err == nil {
		f.DestinationRegion = region
	}
	switch name {
	case "Replication:OperationFailedReplication":
		f.Verdict = Failed
		f.FailureReason = data.FailureReason
		meaning, _ := replication.Explain(data.FailureReason)
		f.Detail = meaning
	case "Replication:OperationMissedThreshold":
		f.LongPending = true
		f.Detail = "S3 Replication Time Control missed its 15-minute threshold for this version."
	case "Replication:OperationReplicatedAfterThreshold":
		rule := replication.Rule{ID: data.ReplicationRuleID, Destination: replication.Destination{BucketARN: data.DestinationBucket}}
		src := &sourceStatus{c: c, s: s}
		if src.region, err = c.Region(ctx, s.Bucket); err != nil {
			return nil, err
		}
		return []Finding{c.checkDestination(ctx, s, rule, src)}, nil
	case "Replication:OperationNotTracked":
		f.Verdict = NotTracked
		f.Detail = "S3 stopped tracking this version's replication time."
	default:
		return nil, fmt.Errorf("event %q is not one replaudit audits", name)
	}
	return []Finding{f}, nil
}

// Recheck checks a recorded finding again, for the sweeper: the replica in
// its destination, then the source if the replica is still missing.
func (c *Checker) Recheck(ctx context.Context, f Finding) (Finding, error) {
	s := Subject{Bucket: f.Bucket, Key: f.Key, VersionID: f.VersionID, Size: f.Size, ETag: f.ETag, EventTime: f.EventTime}
	if f.DeleteMarker {
		fs, err := c.checkDeleteMarker(ctx, s)
		if err != nil {
			return f, err
		}
		for _, x := range fs {
			if x.Destination == f.Destination {
				return x, nil
			}
		}
		return f, nil
	}
	region, err := c.Region(ctx, f.Bucket)
	if err != nil {
		return f, err
	}
	rule := replication.Rule{ID: f.RuleID, Destination: replication.Destination{BucketARN: replication.BucketARN(f.Destination)}}
	out := c.checkDestination(ctx, s, rule, &sourceStatus{c: c, s: s, region: region})
	out.LongPending = f.LongPending
	return out, nil
}

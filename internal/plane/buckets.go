package plane

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Buckets reaches the sandbox's buckets in their own regions, for scenes
// built on the plane.
type Buckets struct {
	p       *Plane
	mu      sync.Mutex
	clients map[string]*s3.Client
}

// Buckets returns the plane's bucket helper.
func (p *Plane) Buckets() *Buckets {
	p.bucketsOnce.Do(func() { p.buckets = &Buckets{p: p, clients: map[string]*s3.Client{}} })
	return p.buckets
}

// S3 is an S3 client for a region.
func (b *Buckets) S3(region string) *s3.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.clients[region]; ok {
		return c
	}
	c := s3.NewFromConfig(b.p.Config, func(o *s3.Options) { o.Region = region })
	b.clients[region] = c
	return c
}

// Create makes a versioned bucket in a region.
func (b *Buckets) Create(ctx context.Context, name, region string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := b.S3(region).CreateBucket(ctx, in); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if _, err := b.S3(region).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		return fmt.Errorf("version bucket %s: %w", name, err)
	}
	return nil
}

// Rule describes one replication rule of a scene, to one destination.
type Rule struct {
	Destination string
	// Metrics turns on replication metrics, and with them S3's
	// Replication:OperationFailedReplication events.
	Metrics bool
	// RTC turns on Replication Time Control and its threshold events.
	RTC bool
}

// RuleID is the ID Replicate gives the rule to a destination.
func RuleID(destination string) string { return "to-" + destination }

// Replicate puts a replication configuration on a source: one rule per
// destination, every key, delete markers replicated.
func (b *Buckets) Replicate(ctx context.Context, source string, rules ...Rule) error {
	var rs []types.ReplicationRule
	for i, r := range rules {
		d := &types.Destination{Bucket: aws.String("arn:aws:s3:::" + r.Destination)}
		if r.Metrics || r.RTC {
			d.Metrics = &types.Metrics{Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
		}
		if r.RTC {
			d.ReplicationTime = &types.ReplicationTime{Status: types.ReplicationTimeStatusEnabled, Time: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
		}
		rs = append(rs, types.ReplicationRule{ID: aws.String(RuleID(r.Destination)), Priority: aws.Int32(int32(i + 1)), Status: types.ReplicationRuleStatusEnabled,
			Filter: &types.ReplicationRuleFilter{Prefix: aws.String("")}, DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
			Destination: d})
	}
	_, err := b.S3(b.p.Options.Region).PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(source),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String(ReplicationRole), Rules: rs}})
	if err != nil {
		return fmt.Errorf("replicate %s: %w", source, err)
	}
	return nil
}

// Put writes an object to a bucket in the plane's region and returns its
// version id.
func (b *Buckets) Put(ctx context.Context, bucket, key, body string) (string, error) {
	out, err := b.S3(b.p.Options.Region).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Status is a source version's replication status, as HeadObject gives it.
func (b *Buckets) Status(ctx context.Context, bucket, key, version string) (string, error) {
	out, err := b.S3(b.p.Options.Region).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		return "", err
	}
	return string(out.ReplicationStatus), nil
}

// Package bucketregion addresses buckets in their own region: it finds the
// region a bucket lives in, and keeps an S3 client per region. It finds
// regions with the SDK's
// own method: an anonymous HeadBucket, whose answer (even a refusal) names
// the region in x-amz-bucket-region. GetBucketLocation is not used: sent to
// the wrong regional endpoint it can fail, and it needs a permission.
package bucketregion

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrNoSuchBucket is returned for a bucket that does not exist.
var ErrNoSuchBucket = errors.New("no such bucket")

// Locator finds and remembers bucket regions. Regions never change, so the
// cache never expires; a bucket that does not exist is asked again.
type Locator struct {
	client manager.HeadBucketAPIClient
	mu     sync.Mutex
	known  map[string]string
}

// New returns a Locator asking through client, in any region.
func New(client manager.HeadBucketAPIClient) *Locator {
	return &Locator{client: client, known: map[string]string{}}
}

// Region returns a bucket's region. It returns ErrNoSuchBucket for a
// bucket that does not exist.
func (l *Locator) Region(ctx context.Context, bucket string) (string, error) {
	l.mu.Lock()
	r, ok := l.known[bucket]
	l.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := manager.GetBucketRegion(ctx, l.client, bucket)
	var nf manager.BucketNotFound
	if errors.As(err, &nf) {
		return "", fmt.Errorf("bucket %s: %w", bucket, ErrNoSuchBucket)
	}
	if err != nil {
		return "", fmt.Errorf("locate bucket %s: %w", bucket, err)
	}
	l.mu.Lock()
	l.known[bucket] = r
	l.mu.Unlock()
	return r, nil
}

// Remember records a region learned elsewhere, such as an event record.
func (l *Locator) Remember(bucket, region string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[bucket]; !ok {
		l.known[bucket] = region
	}
}

// Known returns a region already found, or "".
func (l *Locator) Known(bucket string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.known[bucket]
}

// Clients returns one S3 client per region, built on first use from cfg:
// buckets must be addressed in their own region.
func Clients(cfg aws.Config) func(region string) *s3.Client {
	var mu sync.Mutex
	byRegion := map[string]*s3.Client{}
	return func(region string) *s3.Client {
		mu.Lock()
		defer mu.Unlock()
		c, ok := byRegion[region]
		if !ok {
			c = s3.NewFromConfig(cfg, func(o *s3.Options) { o.Region = region })
			byRegion[region] = c
		}
		return c
	}
}

package bucketregion_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
)

func TestRegionFromAnyRegion(t *testing.T) {
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg, _ := sb.AWSConfig(ctx, "ap-south-1")
	mumbai := s3.NewFromConfig(cfg)
	if _, err := mumbai.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("far-away"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "ap-south-1"}}); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{"us-east-1", "eu-west-1"} {
		cfg, _ := sb.AWSConfig(ctx, home)
		l := bucketregion.New(s3.NewFromConfig(cfg))
		if got, err := l.Region(ctx, "far-away"); err != nil || got != "ap-south-1" {
			t.Errorf("from %s: got %q, %v, want ap-south-1", home, got, err)
		}
		if _, err := l.Region(ctx, "nowhere-bucket"); !errors.Is(err, bucketregion.ErrNoSuchBucket) {
			t.Errorf("from %s, a missing bucket: got %v, want ErrNoSuchBucket", home, err)
		}
	}
}

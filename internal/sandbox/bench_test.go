package sandbox_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// BenchmarkStart measures starting and stopping a sandbox without DynamoDB,
// what an in-process test pays.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		sb, err := sandbox.Start(context.Background(), sandbox.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = sb.Close()
	}
}

// BenchmarkHeadObjectVersion measures one versioned HEAD through the SDK,
// the auditor's unit of work.
func BenchmarkHeadObjectVersion(b *testing.B) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	ctx := context.Background()
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	c := s3.NewFromConfig(cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("k")})
	if err != nil {
		b.Fatal(err)
	}
	in := &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String("k"), VersionId: out.VersionId}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.HeadObject(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartWithDynamoDB adds dynalite's start, what the demo and the
// command-line sandbox pay.
func BenchmarkStartWithDynamoDB(b *testing.B) {
	sandboxtest.Need(b, sandboxtest.Dynalite)
	for b.Loop() {
		sb, err := sandbox.Start(context.Background(), sandbox.Options{DynamoDB: true})
		if err != nil {
			b.Fatal(err)
		}
		_ = sb.Close()
	}
}

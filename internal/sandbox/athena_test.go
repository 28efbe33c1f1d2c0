package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/sandbox"
)

// TestAthenaWithoutADatabaseSaysSo: the sandbox links no DuckDB itself;
// started without Options.Athena, its Athena answers every call
// ServiceUnavailable, in Athena's protocol, rather than pretend. (Queries
// on DuckDB are tested in internal/verify/athena, which links it.)
func TestAthenaWithoutADatabaseSaysSo(t *testing.T) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg, err := sb.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := athena.NewFromConfig(cfg, func(o *athena.Options) { o.RetryMaxAttempts = 1 })
	_, err = c.StartQueryExecution(context.Background(), &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("got %v, want ServiceUnavailable", err)
	}
	if err := sb.CreateAthenaTable("db", "t", "s3://nope/x/manifest.json"); err == nil {
		t.Error("a table over a manifest that is not there: got no error")
	}
}

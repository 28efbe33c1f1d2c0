// Command replication-setup is the Lambda behind Custom::S3Replication: it
// turns S3 replication on for existing buckets when the stack is created or
// updated, and removes what it added when the stack is deleted.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/setup"
)

// deadlineMargin is how long before the Lambda deadline CloudFormation is
// answered if the work is not done.
const deadlineMargin = 10 * time.Second

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	c, err := env.LoadSetup()
	if err != nil {
		log.Error("configure", "error", err)
		os.Exit(1)
	}
	if len(c.SourceBuckets) == 0 {
		log.Error("SOURCE_BUCKETS is not set: every Create and Update will be refused")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	s, err := setup.New(setup.NewClients(cfg), bucketregion.New(s3.NewFromConfig(cfg)), log)
	if err != nil {
		log.Error("configure", "error", err)
		os.Exit(1)
	}
	s.WithScope(setup.Scope{Sources: c.SourceBuckets, StackID: c.StackID}).WithRoleChecks(sts.NewFromConfig(cfg), iam.NewFromConfig(cfg))
	if c.Table != "" {
		s.WithEvidence(ledger.NewConfigRecorder(dynamodb.NewFromConfig(cfg), c.Table, c.Retention))
	}
	lambda.Start(cfn.LambdaWrap(setup.Guard(s.Handle, deadlineMargin, log)))
}

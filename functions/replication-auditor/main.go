// Command replication-auditor is the Lambda the source bucket's events
// reach through SQS: it checks each new object version against its
// replicas, records the evidence in the ledger and alerts on-call.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/env"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	conf, parts, err := env.Boot(context.Background(), log)
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	h, err := auditor.New(auditor.Options{Checker: parts.Checker, Tracker: parts.Tracker, Concurrency: conf.Concurrency, Log: log, Metrics: os.Stdout})
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// Command inventory-reconciler is the Lambda that accounts for every
// object version an S3 Inventory lists: when an inventory's manifest.json
// lands it fans out one task per data file through SQS; each task reads
// its file, records the problems in the ledger, and the last one closes
// the run with a remediation manifest and, when asked, a Batch Replication
// re-drive. With VERIFY_DESTINATION_BUCKET it also verifies the destination
// on Athena once both inventories of a day have landed (package daily).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/verify/daily"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx := context.Background()
	conf, err := env.LoadReconciler()
	if err != nil {
		return err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	parts, err := env.Wire(cfg, conf, log, nil)
	if err != nil {
		return err
	}
	r, err := env.Reconciler(cfg, conf, parts, log, nil, os.Stdout)
	if err != nil {
		return err
	}
	v, err := env.Verifier(cfg, conf, parts, log, nil)
	if err != nil {
		return err
	}
	lambda.Start(daily.Handler{Reconcile: r.Handle, Verifier: v, Log: log}.Handle)
	return nil
}

// Command replication-sweeper runs on a schedule: it re-checks PENDING
// ledger items, alerts once on those pending too long, resolves those now
// replicated, and sends alerts and digests still due. One run sweeps at a
// time: sweep.New takes its lease in the ledger's table by default, and a
// run that finds it held returns at once.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/sweep"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	conf, parts, err := env.Boot(context.Background(), log)
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	s, err := sweep.New(sweep.Options{Checker: parts.Checker, Ledger: parts.Ledger, Tracker: parts.Tracker,
		Concurrency: conf.Concurrency, Log: log, Metrics: os.Stdout})
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(s.Run)
}

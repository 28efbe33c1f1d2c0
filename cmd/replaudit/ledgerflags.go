package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/ledger"
)

// errFoundFailed ends a query that ran and found FAILED items: exit 1, so
// scripts can gate on it.
var errFoundFailed = errors.New("found FAILED items")

// lastClause keeps the end of a long SDK error chain, which names the cause.
func lastClause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i > 8 {
		return msg[i+2:]
	}
	return msg
}

// ledgerFlags are how a command reaches the ledger: standard SDK
// credentials, profile and region, the table, or the sandbox's env file.
type ledgerFlags struct {
	table, stack, region, profile, envFile string
}

const defaultTable = "replaudit-ledger"

func (lf *ledgerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.table, "table", envOr("REPLAUDIT_TABLE", defaultTable), "the ledger table (the stack's LedgerTableName output; env REPLAUDIT_TABLE)")
	fs.StringVar(&lf.stack, "stack", "", "find the table from this stack's LedgerTableName output")
	fs.StringVar(&lf.region, "region", "", "AWS region (default: the SDK's, from AWS_REGION or the profile)")
	fs.StringVar(&lf.profile, "profile", "", "AWS profile (default: the SDK's, from AWS_PROFILE)")
	fs.StringVar(&lf.envFile, "env-file", "", "read export lines from `FILE` first, such as the sandbox's")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadEnvFile sets the variables of `export K=V` lines.
func loadEnvFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: --env-file: %v", errUsage, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%w: --env-file %s: %q is not KEY=value", errUsage, path, line)
		}
		os.Setenv(k, strings.Trim(v, `"'`))
	}
	return sc.Err()
}

// config loads the SDK's configuration as the flags say, having checked
// that there is a region and credentials, so that either missing fails in
// one clear line.
func (lf *ledgerFlags) config(ctx context.Context) (aws.Config, error) {
	if lf.envFile != "" {
		if err := loadEnvFile(lf.envFile); err != nil {
			return aws.Config{}, err
		}
		if lf.table == defaultTable {
			lf.table = envOr("REPLAUDIT_TABLE", defaultTable)
		}
	}
	var opts []func(*config.LoadOptions) error
	if lf.region != "" {
		opts = append(opts, config.WithRegion(lf.region))
	}
	if lf.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(lf.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("%w: AWS configuration: %v", errUsage, err)
	}
	if cfg.Region == "" {
		return cfg, fmt.Errorf("%w: no AWS region: pass --region or set AWS_REGION", errUsage)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, fmt.Errorf("%w: no AWS credentials (set AWS_PROFILE, run `aws configure` or `aws sso login`; for the sandbox, pass --env-file .sandbox.env): %v", errUsage, lastClause(err))
	}
	return cfg, nil
}

// open returns the ledger, having checked that the table is there, so that
// a wrong table or missing credentials fail in one clear line.
func (lf *ledgerFlags) open(ctx context.Context) (*ledger.Ledger, error) {
	cfg, err := lf.config(ctx)
	if err != nil {
		return nil, err
	}
	if lf.stack != "" {
		outputs, err := stackOutputs(ctx, cfg, lf.stack)
		if err != nil {
			return nil, err
		}
		lf.table = outputs["LedgerTableName"]
	}
	db := dynamodb.NewFromConfig(cfg)
	// A one-item Scan is what the auditors' read-only policy allows.
	if _, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(lf.table), Limit: aws.Int32(1)}); err != nil {
		var nf *types.ResourceNotFoundException
		var ae smithy.APIError
		switch {
		case errors.As(err, &nf):
			return nil, fmt.Errorf("%w: no ledger table %q in %s: pass --stack, or --table with the stack's LedgerTableName output", errUsage, lf.table, cfg.Region)
		case errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException":
			return nil, fmt.Errorf("%w: may not read table %q in %s: attach the stack's LedgerReadOnlyPolicyArn, and check --table", errUsage, lf.table, cfg.Region)
		}
		return nil, fmt.Errorf("read table %s: %w", lf.table, err)
	}
	return ledger.New(ledger.Options{DB: db, Table: lf.table, Retention: 400 * 24 * time.Hour})
}

// isTerminal reports whether w is a terminal, for defaults, progress and
// escaping (see terminal). Tests replace it to stand a buffer in for one.
var isTerminal = func(w io.Writer) bool {
	switch w := w.(type) {
	case terminal:
		return true
	case *os.File:
		st, err := w.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return false
}

// stackOutputs reads a replaudit stack's outputs.
func stackOutputs(ctx context.Context, cfg aws.Config, stack string) (map[string]string, error) {
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" {
			return nil, fmt.Errorf("%w: --stack %s: %s", errUsage, stack, ae.ErrorMessage())
		}
		return nil, fmt.Errorf("--stack %s (needs cloudformation:DescribeStacks): %w", stack, err)
	}
	outputs := map[string]string{}
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
	}
	if outputs["LedgerTableName"] == "" {
		return nil, fmt.Errorf("%w: stack %s has no LedgerTableName output: is it a replaudit stack?", errUsage, stack)
	}
	return outputs, nil
}

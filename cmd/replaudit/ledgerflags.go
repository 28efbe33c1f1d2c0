package main

import (
	"bufio"
	"cmp"
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
	"github.com/aws/smithy-go/logging"

	"github.com/replaudit/replaudit/internal/ledger"
)

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
	// stackFromSamconfig: no flag named the stack; samconfig.toml did.
	stackFromSamconfig bool
	// outputs are the stack's, once open has read them.
	outputs map[string]string
}

const defaultTable = "replaudit-ledger"

func (lf *ledgerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.table, "table", "", "the ledger table (the stack's LedgerTableName output; default: env REPLAUDIT_TABLE, else the --stack default's, else "+defaultTable+")")
	fs.StringVar(&lf.stack, "stack", "", "find the table from this stack's LedgerTableName output (default: the stack_name in ./samconfig.toml, when there is no --table, REPLAUDIT_TABLE or --env-file)")
	fs.StringVar(&lf.region, "region", "", "AWS region (default: the SDK's, from AWS_REGION or the profile)")
	fs.StringVar(&lf.profile, "profile", "", "AWS profile (default: the SDK's, from AWS_PROFILE)")
	fs.StringVar(&lf.envFile, "env-file", "", "read export lines from `FILE` first, such as the sandbox's")
}

// loadEnvFile sets the variables of `export K=V` lines.
func loadEnvFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErrorf("--env-file: %v", err)
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
			return usageErrorf("--env-file %s: %q is not KEY=value", path, line)
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
	}
	lf.table = cmp.Or(lf.table, os.Getenv("REPLAUDIT_TABLE"))
	if lf.table == "" && lf.stack == "" && lf.envFile == "" {
		// An env file points at a sandbox, never at the deployed stack.
		lf.stack = samconfigStack(samconfigFile)
		lf.stackFromSamconfig = lf.stack != ""
	}
	if lf.table == "" && lf.stack == "" {
		lf.table = defaultTable
	}
	var opts []func(*config.LoadOptions) error
	// The SDK logs to stderr by default ("SDK ... Response has no supported
	// checksum"); an auditor sees it only when asking with --debug.
	if w := sdkLog(ctx); w != nil {
		opts = append(opts, config.WithLogger(logging.NewStandardLogger(w)),
			config.WithClientLogMode(aws.LogRetries|aws.LogRequest))
	} else {
		opts = append(opts, config.WithLogger(logging.Nop{}))
	}
	if lf.region != "" {
		opts = append(opts, config.WithRegion(lf.region))
	}
	if lf.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(lf.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, usageErrorf("AWS configuration: %v", err)
	}
	if cfg.Region == "" {
		return cfg, usageErrorf("no AWS region: pass --region or set AWS_REGION")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, usageErrorf("no AWS credentials (set AWS_PROFILE, run `aws configure` or `aws sso login`; for the sandbox, pass --env-file .sandbox.env): %v", lastClause(err))
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
		outputs, err := lf.stackOutputs(ctx, cfg)
		if err != nil {
			return nil, err
		}
		lf.table, lf.outputs = outputs["LedgerTableName"], outputs
	}
	db := dynamodb.NewFromConfig(cfg)
	// A one-item Scan is what the auditors' read-only policy allows.
	if _, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(lf.table), Limit: aws.Int32(1)}); err != nil {
		var nf *types.ResourceNotFoundException
		var ae smithy.APIError
		switch {
		case errors.As(err, &nf):
			return nil, usageErrorf("no ledger table %q in %s: pass --stack, or --table with the stack's LedgerTableName output", lf.table, cfg.Region)
		case errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException":
			return nil, usageErrorf("may not read table %q in %s: attach the stack's LedgerReadOnlyPolicyArn, and check --table", lf.table, cfg.Region)
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

// stackOutputs reads the outputs of the stack the flags name, or of the
// stack samconfig.toml names, saying so when that one fails.
func (lf *ledgerFlags) stackOutputs(ctx context.Context, cfg aws.Config) (map[string]string, error) {
	outputs, err := stackOutputs(ctx, cfg, lf.stack)
	if err != nil && lf.stackFromSamconfig {
		return nil, fmt.Errorf("%s names stack %s (pass --stack or --table): %w", samconfigFile, lf.stack, err)
	}
	return outputs, err
}

// stackOutputs reads a replaudit stack's outputs.
func stackOutputs(ctx context.Context, cfg aws.Config, stack string) (map[string]string, error) {
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" {
			return nil, usageErrorf("--stack %s: %s", stack, ae.ErrorMessage())
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
		return nil, usageErrorf("stack %s has no LedgerTableName output: is it a replaudit stack?", stack)
	}
	return outputs, nil
}

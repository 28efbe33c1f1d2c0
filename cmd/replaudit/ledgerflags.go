package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/ledger"
)

// errFoundFailed ends a query that ran and found FAILED items: exit 1, so
// scripts can gate on it.
var errFoundFailed = errors.New("found FAILED items")

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

// open returns the ledger, having checked that the table is there, so that
// a wrong table or missing credentials fail in one clear line.
func (lf *ledgerFlags) open(ctx context.Context) (*ledger.Ledger, error) {
	if lf.envFile != "" {
		if err := loadEnvFile(lf.envFile); err != nil {
			return nil, err
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
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("%w: no AWS region: pass --region or set AWS_REGION", errUsage)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, errors.New("no AWS credentials: set AWS_PROFILE or run `aws configure`; for the sandbox, pass --env-file .sandbox.env")
	}
	if lf.stack != "" {
		if lf.table, err = stackTable(ctx, cfg, lf.stack); err != nil {
			return nil, err
		}
	}
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(lf.table)}); err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("no ledger table %q in %s: pass --table with the stack's LedgerTableName output", lf.table, cfg.Region)
		}
		return nil, fmt.Errorf("read table %s: %w", lf.table, err)
	}
	return ledger.New(db, lf.table, 400*24*60*60*1e9)
}

// isTerminal reports whether f is a terminal, for defaults and progress.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// stackTable reads the ledger table's name from a stack's outputs.
func stackTable(ctx context.Context, cfg aws.Config, stack string) (string, error) {
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return "", fmt.Errorf("--stack %s: %w", stack, err)
	}
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			if aws.ToString(o.OutputKey) == "LedgerTableName" {
				return aws.ToString(o.OutputValue), nil
			}
		}
	}
	return "", fmt.Errorf("stack %s has no LedgerTableName output: is it a replaudit stack?", stack)
}

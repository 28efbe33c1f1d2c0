package athena_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/sandbox"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
	"github.com/replaudit/replaudit/internal/verify/verifytest"
)

// TestTheSandboxPagesResultsAsAthenaDoes: the header row comes first, on
// the first page only; pages hold MaxResults rows and chain by NextToken;
// the engine streams every row once, without the header; the query's
// data scanned is its partition's data files; its results land in the
// output location.
func TestTheSandboxPagesResultsAsAthenaDoes(t *testing.T) {
	sc := verifytest.New(t, "CSV", sandbox.Options{})
	ctx := context.Background()
	e := sc.AthenaEngine(t, 10*time.Second)
	query := `SELECT "key", "version_id" FROM "src_inventory" WHERE "dt" = '` + sc.SrcInv.Partition + `' ORDER BY "key", "version_id"`

	start, err := sc.Athena.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String(query), WorkGroup: aws.String("primary"),
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String("inventories")},
		ResultConfiguration:   &types.ResultConfiguration{OutputLocation: aws.String("s3://athena-results/raw/")}})
	if err != nil {
		t.Fatal(err)
	}
	id := start.QueryExecutionId
	var exec *types.QueryExecution
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		out, err := sc.Athena.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: id})
		if err != nil {
			t.Fatal(err)
		}
		exec = out.QueryExecution
		if exec.Status.State == types.QueryExecutionStateSucceeded || time.Now().After(deadline) {
			break
		}
	}
	if exec.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("state %s: %s", exec.Status.State, aws.ToString(exec.Status.StateChangeReason))
	}
	var files int64
	for _, f := range sc.SrcInv.Manifest.Files {
		files += f.Size
	}
	if got := aws.ToInt64(exec.Statistics.DataScannedInBytes); got != files {
		t.Errorf("data scanned %d bytes, want the partition's files, %d", got, files)
	}
	var pages [][]string
	var token *string
	for {
		out, err := sc.Athena.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: id, MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, r := range out.ResultSet.Rows {
			page = append(page, aws.ToString(r.Data[0].VarCharValue))
		}
		pages = append(pages, page)
		if token = out.NextToken; token == nil {
			break
		}
	}
	// Four versions in the source: the header and 4 rows, 2 a page.
	if len(pages) != 3 || pages[0][0] != "key" || len(pages[0]) != 2 || len(pages[2]) != 1 || slices.Contains(pages[1], "key") {
		t.Errorf("got pages %q, want the header first, then 2 rows a page", pages)
	}
	if _, err := sc.Athena.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: id, MaxResults: aws.Int32(1001)}); err == nil {
		t.Error("MaxResults 1001: got no error, want InvalidRequestException as Athena answers")
	}
	if _, err := sc.S3[verifytest.SrcRegion].HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("athena-results"), Key: aws.String("raw/" + aws.ToString(id) + ".csv")}); err != nil {
		t.Errorf("the results were not written to the output location: %v", err)
	}

	paged, err := verifyathena.New(sc.Athena, verifyathena.Options{Database: "inventories", SourceTable: "src_inventory", DestinationTable: "dst_inventory",
		PageSize: 2, MinDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	if err := paged.Query(ctx, query, func(r []string) error { rows = append(rows, r[0]); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || slices.Contains(rows, "key") || paged.Scanned() != files {
		t.Errorf("the engine streamed %q (scanned %d), want the 4 rows without the header", rows, paged.Scanned())
	}
	_ = e
}

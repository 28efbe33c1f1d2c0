package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/safetext"
)

// SummaryDB holds the calls summary items need, on the ledger's table.
type SummaryDB interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// SummaryPrefix starts the partition key of verification summaries: one
// partition per source, one item per day and destination (sk
// <date>#<destination>), so the newest is the first a descending query
// reads. The items carry no day or attention attribute, so neither of the
// ledger's indexes holds them.
const SummaryPrefix = "VERIFY#"

func summaryKey(s Summary) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: SummaryPrefix + s.Source},
		"sk": &types.AttributeValueMemberS{Value: s.Date + "#" + s.Destination},
	}
}

// putSummary writes a run's summary item; a run of the same day and
// destination replaces it.
func putSummary(ctx context.Context, db SummaryDB, table string, s Summary, retention time.Duration) error {
	js, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode the verification summary: %w", err)
	}
	item := summaryKey(s)
	n := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	item["source"], item["destination"], item["date"] = str(s.Source), str(s.Destination), str(s.Date)
	item["verifiedAt"], item["engine"] = str(s.VerifiedAt.UTC().Format(time.RFC3339Nano)), str(s.Engine)
	item["checked"], item["missing"], item["diverged"], item["orphans"], item["unsettled"] = n(s.Checked), n(s.Missing), n(s.Diverged), n(s.Orphans), n(s.Unsettled)
	item["summary"] = str(string(js))
	item["ttl"] = n(s.VerifiedAt.Add(retention).Unix())
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		return fmt.Errorf("write the verification summary of %s: %w", s.Source, err)
	}
	return nil
}

// Latest reads the newest verification summary of a source, whatever its
// destination: found is false when the source was never verified.
func Latest(ctx context.Context, db SummaryDB, table, source string) (s Summary, found bool, err error) {
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: SummaryPrefix + source}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return Summary{}, false, fmt.Errorf("read the verification summaries of %s: %w", source, err)
	}
	if len(out.Items) == 0 {
		return Summary{}, false, nil
	}
	raw, ok := out.Items[0]["summary"].(*types.AttributeValueMemberS)
	if !ok {
		return Summary{}, false, fmt.Errorf("verification summary of %s: no summary attribute", source)
	}
	if err := json.Unmarshal([]byte(raw.Value), &s); err != nil {
		return Summary{}, false, fmt.Errorf("decode the verification summary of %s: %w", source, err)
	}
	return s, true, nil
}

// Write prints a summary for a person.
func (s Summary) Write(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintln(w, safetext.Line(fmt.Sprintf(format, a...))) }
	state := "VERIFIED"
	if !s.Clean() {
		state = "PROBLEMS FOUND"
	}
	p("s3://%s verified against s3://%s from the inventories of %s (%s): %s", s.Destination, s.Source, s.Date, s.Engine, state)
	p("  source       %s (taken %s)", s.SourceManifest, s.SourceTime.UTC().Format("2006-01-02 15:04 UTC"))
	p("  destination  %s (taken %s)", s.DestinationManifest, s.DestinationTime.UTC().Format("2006-01-02 15:04 UTC"))
	p("  checked      %12d versions S3 says replicated", s.Checked)
	p("  missing      %12d", s.Missing)
	p("  diverged     %12d", s.Diverged)
	p("  orphans      %12d versions only the destination lists", s.Orphans)
	if s.Unsettled > 0 {
		p("  unsettled    %12d versions too recent to judge; the next inventories will", s.Unsettled)
	}
	compared := []string{"key", "version id", "size"}
	if s.Compared.Encryption {
		compared = append(compared, "ETag (SSE-S3 and unencrypted, not multipart)")
	} else {
		compared = append(compared, "not ETags (add EncryptionStatus to both inventories)")
	}
	if s.Compared.Checksum {
		compared = append(compared, "checksum algorithm")
	}
	p("  compared     %s", strings.Join(compared, ", "))
	if s.Recorded+s.Kept > 0 {
		p("  ledger       %d findings recorded, %d kept the ledger's final verdict", s.Recorded, s.Kept)
	}
	for _, o := range Outcomes {
		for _, e := range s.Examples[o] {
			detail := ""
			if len(e.Differences) > 0 {
				detail = " (" + strings.Join(e.Differences, "; ") + ")"
			}
			if o == Orphan && e.Status != "REPLICA" {
				detail = " (not a replica: written to the destination directly)"
			}
			p("  example      %-8s s3://%s/%s version %s%s", o, e.Bucket, e.Key, e.VersionID, detail)
		}
	}
	if s.RedriveManifest != "" {
		p("  re-drive     %d versions listed in %s, for S3 Batch Replication", s.Missing+s.Diverged, s.RedriveManifest)
	}
}

// Digest is a verification's one alert: counts, examples, and the JSON.
func Digest(s Summary) alert.Message {
	var b strings.Builder
	s.Write(&b)
	n := s.Missing + s.Diverged
	what := fmt.Sprintf("%d replicas of s3://%s in %s missing or diverged", n, s.Source, s.Destination)
	if n == 1 {
		what = fmt.Sprintf("1 replica of s3://%s in %s missing or diverged", s.Source, s.Destination)
	}
	severity := alert.KindMissing.Severity()
	js, _ := safetext.MarshalIndentJSON(s, "", "  ")
	return alert.Message{
		Subject:    safetext.ASCII("["+strings.ToUpper(severity)+"] VERIFY "+what, 99),
		Body:       b.String() + "\n--- JSON ---\n" + string(js) + "\n",
		Attributes: map[string]string{"severity": severity, "verdict": "VERIFY", "bucket": s.Source},
	}
}

package auditor_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/audit"
)

func TestTheSQSSampleCarriesAnS3Notification(t *testing.T) {
	raw, err := os.ReadFile("../../events/sqs-s3-put.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("decode: %v", err)
	}
	n, err := audit.ParseNotification(ev.Records[0].Body)
	if err != nil || len(n.Records) != 1 || n.Records[0].S3.Object.URLDecodedKey != "photos/Happy Face.jpg" {
		t.Errorf("body: %+v %v", n, err)
	}
}

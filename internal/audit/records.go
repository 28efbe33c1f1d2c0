package audit

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// Notification is one SQS message body from S3: its records, or the test
// event S3 sends when a configuration is saved.
type Notification struct {
	Records []events.S3EventRecord
	Test    bool
}

// ParseNotification reads an S3 notification from an SQS message body.
func ParseNotification(body string) (Notification, error) {
	var probe struct {
		Records json.RawMessage `json:"Records"`
		Event   string          `json:"Event"`
	}
	if err := json.Unmarshal([]byte(body), &probe); err != nil {
		return Notification{}, fmt.Errorf("the message is not JSON: %w", err)
	}
	if probe.Event == "s3:TestEvent" {
		return Notification{Test: true}, nil
	}
	if len(probe.Records) == 0 {
		return Notification{}, errors.New("the message is neither an S3 event nor an S3 test event")
	}
	var ev events.S3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return Notification{}, fmt.Errorf("the S3 event does not decode: %w", err)
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:s3" {
			return Notification{}, fmt.Errorf("record %d comes from %q, not aws:s3", i, r.EventSource)
		}
	}
	return Notification{Records: ev.Records}, nil
}

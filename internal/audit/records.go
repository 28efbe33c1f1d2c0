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
	// Malformed holds the records that do not decode, each wrapping
	// ErrMalformed and naming its index; the others stand on their own.
	Malformed []error
	Test      bool
}

// ParseNotification reads an S3 notification from an SQS message body. It
// decodes each record on its own, so that one bad record (a key that is
// not URL-encoded, say) does not take the others with it. The error says
// why the body as a whole is not a notification.
func ParseNotification(body string) (Notification, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
		Event   string            `json:"Event"`
	}
	if err := json.Unmarshal([]byte(body), &probe); err != nil {
		return Notification{}, fmt.Errorf("the message is not an S3 notification: %w", err)
	}
	if probe.Event == "s3:TestEvent" {
		return Notification{Test: true}, nil
	}
	if len(probe.Records) == 0 {
		return Notification{}, errors.New("the message is neither an S3 event nor an S3 test event")
	}
	var n Notification
	for i, raw := range probe.Records {
		var r events.S3EventRecord
		switch err := json.Unmarshal(raw, &r); {
		case err != nil:
			n.Malformed = append(n.Malformed, fmt.Errorf("record %d: %w: %v", i, ErrMalformed, err))
		case r.EventSource != "aws:s3":
			n.Malformed = append(n.Malformed, fmt.Errorf("record %d: %w: it comes from %q, not aws:s3", i, ErrMalformed, r.EventSource))
		default:
			n.Records = append(n.Records, r)
		}
	}
	return n, nil
}

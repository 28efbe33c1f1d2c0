// Command sqsfunction is a real Lambda function for the sandbox's tests: it
// reports as failed every message whose body contains "poison", and fails
// the whole batch when a body contains "crash".
package main

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var out events.SQSEventResponse
	for _, m := range ev.Records {
		if strings.Contains(m.Body, "crash") {
			return out, errors.New("crash requested")
		}
		if strings.Contains(m.Body, "poison") {
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return out, nil
}

func main() { lambda.Start(handle) }

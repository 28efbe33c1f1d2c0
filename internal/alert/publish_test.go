package alert_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/replaudit/replaudit/internal/alert"
)

// snsAnswers is the publisher's one SNS call, answering from a script.
type snsAnswers struct {
	answers []error
	got     []*sns.PublishInput
	retries []int
}

func (s *snsAnswers) Publish(_ context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	var o sns.Options
	for _, fn := range optFns {
		fn(&o)
	}
	s.got, s.retries = append(s.got, in), append(s.retries, o.RetryMaxAttempts)
	err := s.answers[0]
	s.answers = s.answers[1:]
	if err != nil {
		return nil, err
	}
	return &sns.PublishOutput{MessageId: aws.String("id")}, nil
}

// answered is an error as the SDK returns it for an HTTP answer.
func answered(status int, code string) error {
	return &smithy.OperationError{ServiceID: "SNS", OperationName: "Publish", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "m"}}}}
}

func message() alert.Message {
	return alert.Message{Subject: "[CRITICAL] FAILED s3://b/k", Body: "body", Attributes: map[string]string{"severity": "critical"}}
}

func TestARefusedAlertGoesOutWithoutWhatOffended(t *testing.T) {
	api := &snsAnswers{answers: []error{answered(400, "InvalidParameter"), nil}}
	p, _ := alert.NewSNS(api, "arn:aws:sns:us-east-1:1:t")
	refused, err := p.Publish(context.Background(), message())
	if err != nil || refused == nil || !strings.Contains(refused.Error(), "InvalidParameter") {
		t.Fatalf("got refused %v, err %v; want the refusal reported and the plain form sent", refused, err)
	}
	plain := api.got[1]
	if aws.ToString(plain.Subject) != "[critical] replaudit alert" || len(plain.MessageAttributes) != 0 || aws.ToString(plain.Message) != "body" {
		t.Errorf("the second form: subject %q, %d attributes", aws.ToString(plain.Subject), len(plain.MessageAttributes))
	}
}

func TestAnAlertRefusedTwiceIsErrRefused(t *testing.T) {
	api := &snsAnswers{answers: []error{answered(404, "NotFound"), answered(404, "NotFound")}}
	p, _ := alert.NewSNS(api, "arn:aws:sns:us-east-1:1:t")
	if _, err := p.Publish(context.Background(), message()); !errors.Is(err, alert.ErrRefused) {
		t.Errorf("got %v, want ErrRefused", err)
	}
}

func TestOnlyWhatSNSCertainlyDidNotTakeIsTriedAgain(t *testing.T) {
	// A 503: SNS did not take it; tried again, and taken.
	api := &snsAnswers{answers: []error{answered(503, "ServiceUnavailable"), nil}}
	p, _ := alert.NewSNS(api, "arn:aws:sns:us-east-1:1:t")
	if _, err := p.Publish(context.Background(), message()); err != nil || len(api.got) != 2 {
		t.Errorf("after a 503: %v, %d calls, want taken on the second", err, len(api.got))
	}
	// A 500: SNS may have taken it; trying again could page twice.
	api = &snsAnswers{answers: []error{answered(500, "InternalError"), nil}}
	p, _ = alert.NewSNS(api, "arn:aws:sns:us-east-1:1:t")
	if _, err := p.Publish(context.Background(), message()); err == nil || len(api.got) != 1 {
		t.Errorf("after a 500: %v, %d calls, want the error and no second call", err, len(api.got))
	}
	for _, n := range api.retries {
		if n != 1 {
			t.Errorf("the SDK may retry a Publish %d times; it must not retry at all", n)
		}
	}
}

package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/replaudit/replaudit/internal/awscall"
)

// SNSAPI holds the SNS call the publisher makes.
type SNSAPI interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS publishes alerts to a topic.
type SNS struct {
	client SNSAPI
	topic  string
}

// NewSNS returns a publisher to a topic.
func NewSNS(client SNSAPI, topic string) (*SNS, error) {
	if client == nil || topic == "" {
		return nil, errors.New("alert: an SNS client and a topic are required")
	}
	return &SNS{client: client, topic: topic}, nil
}

// ErrRefused marks an alert SNS refused for a reason that will not pass,
// even without the parts that could offend it.
var ErrRefused = errors.New("SNS refused the alert")

// maxBody is SNS's limit on a message, in bytes.
const maxBody = 256 * 1024

// Publish sends m. SNS's own retries are off: a message whose answer was
// lost would go out twice. Publish tries again itself, a few times, only
// when SNS certainly did not take the message (it answered 503 or
// throttled, or was never reached). When SNS refuses the message for a
// reason that will not pass (a 4xx that is not throttling), it sends it
// once more without the parts that could offend: a plain subject, no
// attributes, a body within SNS's limit; refused is then that first
// refusal. If SNS refuses the plain form too, err wraps ErrRefused.
func (s *SNS) Publish(ctx context.Context, m Message) (refused, err error) {
	err = s.retry(ctx, m)
	if err == nil || !refusal(err) {
		return nil, err
	}
	plain := Message{Subject: "[" + m.Attributes["severity"] + "] replaudit alert", Body: m.Body}
	if len(plain.Body) > maxBody {
		plain.Body = strings.ToValidUTF8(plain.Body[:maxBody-100], "") + "\n[cut to SNS's size limit]\n"
	}
	if plain.Subject == "[] replaudit alert" {
		plain.Subject = "replaudit alert"
	}
	if err2 := s.retry(ctx, plain); err2 != nil {
		if refusal(err2) {
			return err, fmt.Errorf("%w: %w (and without subject and attributes: %w)", ErrRefused, err, err2)
		}
		return err, err2
	}
	return err, nil
}

// retry publishes, trying again while SNS certainly did not take it and
// the error may pass.
func (s *SNS) retry(ctx context.Context, m Message) error {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.publish(ctx, m)
		if err == nil || attempt == 3 || !awscall.Rejected(err) || !awscall.Transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// refusal reports an answer that will not change on a retry: a 4xx that
// is not throttling.
func refusal(err error) bool {
	s := awscall.Status(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests && !awscall.Transient(err)
}

func (s *SNS) publish(ctx context.Context, m Message) error {
	in := &sns.PublishInput{TopicArn: aws.String(s.topic), Message: aws.String(m.Body)}
	if m.Subject != "" {
		in.Subject = aws.String(m.Subject)
	}
	if len(m.Attributes) > 0 {
		in.MessageAttributes = map[string]snstypes.MessageAttributeValue{}
		for k, v := range m.Attributes {
			in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if _, err := s.client.Publish(ctx, in, func(o *sns.Options) { o.RetryMaxAttempts = 1 }); err != nil {
		return fmt.Errorf("publish to %s: %w", s.topic, err)
	}
	return nil
}

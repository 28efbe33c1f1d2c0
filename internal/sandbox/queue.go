package sandbox

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Account is the account id the sandbox puts in ARNs.
const Account = "000000000000"

// QueueOptions describe a queue. Zero values take SQS's defaults, except
// the visibility timeout, which a Lambda-fed queue sets to a few times the
// function timeout: 30 seconds here.
type QueueOptions struct {
	Name              string
	Region            string        // default us-east-1
	Delay             time.Duration // delivery delay
	VisibilityTimeout time.Duration // default 30s
	// MaxReceiveCount moves a message to the dead-letter queue after that
	// many receives. 0 means no dead-letter queue.
	MaxReceiveCount int
	// DeadLetterARN names the dead-letter queue. With MaxReceiveCount and no
	// DeadLetterARN, a queue named Name+"-dlq" is created.
	DeadLetterARN string
}

// Message is a queued message as the control API shows it.
type Message struct {
	ID           string    `json:"messageId"`
	Queue        string    `json:"queue"`
	Body         string    `json:"body"`
	SentAt       time.Time `json:"sentAt"`
	ReceiveCount int       `json:"receiveCount"`
	// Source is the queue the message came from, for dead-lettered messages.
	Source string `json:"source,omitempty"`
	// Attributes are the message attributes a sender set through the SQS API.
	Attributes map[string]MessageAttribute `json:"messageAttributes,omitempty"`
}

// MessageAttribute is one SQS message attribute: a String, Number or Binary
// value, its DataType possibly carrying a custom suffix ("String.json").
type MessageAttribute struct {
	DataType    string `json:"dataType"`
	StringValue string `json:"stringValue,omitempty"`
	BinaryValue []byte `json:"binaryValue,omitempty"`
}

type queuedMessage struct {
	Message
	visibleAt    time.Time
	firstReceive time.Time
	receipt      string
}

type queue struct {
	arn     string
	opts    QueueOptions
	created time.Time
	dlq     string
	msgs    []*queuedMessage
	isDLQOf []string
}

// queues is the sandbox's SQS stand-in: queues named by ARN, with delivery
// delay, visibility timeout, receive counts and dead-letter queues.
type queues struct {
	mu     sync.Mutex
	byARN  map[string]*queue
	now    func() time.Time
	nextID uint64
}

func newQueues(now func() time.Time) *queues {
	return &queues{byARN: map[string]*queue{}, now: now}
}

// QueueARN returns the ARN of a queue name in a region.
func QueueARN(region, name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, Account, name)
}

func (qs *queues) create(o QueueOptions) (string, error) {
	if o.Name == "" {
		return "", fmt.Errorf("a queue needs a name")
	}
	if o.Region == "" {
		o.Region = defaultRegion
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.MaxReceiveCount < 0 {
		return "", fmt.Errorf("maxReceiveCount must not be negative")
	}
	arn := QueueARN(o.Region, o.Name)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if q, ok := qs.byARN[arn]; ok {
		q.opts = o
		return arn, nil
	}
	q := &queue{arn: arn, opts: o, created: qs.now()}
	if o.MaxReceiveCount > 0 {
		q.dlq = o.DeadLetterARN
		if q.dlq == "" {
			q.dlq = QueueARN(o.Region, o.Name+"-dlq")
			if _, ok := qs.byARN[q.dlq]; !ok {
				qs.byARN[q.dlq] = &queue{arn: q.dlq, opts: QueueOptions{Name: o.Name + "-dlq", Region: o.Region, VisibilityTimeout: 30 * time.Second}, created: qs.now()}
			}
		}
		d, ok := qs.byARN[q.dlq]
		if !ok {
			return "", fmt.Errorf("dead-letter queue %s does not exist", q.dlq)
		}
		d.isDLQOf = append(d.isDLQOf, arn)
	}
	qs.byARN[arn] = q
	return arn, nil
}

func (qs *queues) exists(arn string) bool {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	_, ok := qs.byARN[arn]
	return ok
}

func (qs *queues) send(arn, body string) error {
	_, err := qs.put(arn, outgoing{body: body})
	return err
}

// outgoing is a message on its way into a queue.
type outgoing struct {
	body string
	// delay overrides the queue's delivery delay when set, as SendMessage's
	// DelaySeconds does.
	delay *time.Duration
	attrs map[string]MessageAttribute
}

// put adds a message to a queue and returns it as stored.
func (qs *queues) put(arn string, o outgoing) (Message, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, ok := qs.byARN[arn]
	if !ok {
		return Message{}, fmt.Errorf("queue %s does not exist", arn)
	}
	qs.nextID++
	now := qs.now()
	delay := q.opts.Delay
	if o.delay != nil {
		delay = *o.delay
	}
	m := &queuedMessage{
		Message:   Message{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", qs.nextID, qs.nextID), Queue: arn, Body: o.body, SentAt: now, Attributes: o.attrs},
		visibleAt: now.Add(delay),
	}
	q.msgs = append(q.msgs, m)
	return m.Message, nil
}

// receive takes up to max visible messages and hides them for the visibility
// timeout. A message already received MaxReceiveCount times moves to the
// dead-letter queue instead, as SQS's redrive policy does.
func (qs *queues) receive(arn string, max int) []*queuedMessage {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, ok := qs.byARN[arn]
	if !ok {
		return nil
	}
	now := qs.now()
	var out []*queuedMessage
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		switch {
		case len(out) >= max || now.Before(m.visibleAt):
			kept = append(kept, m)
		case q.opts.MaxReceiveCount > 0 && m.ReceiveCount >= q.opts.MaxReceiveCount:
			if d := qs.byARN[q.dlq]; d != nil {
				moved := *m
				moved.Source, moved.Queue, moved.visibleAt = arn, d.arn, now
				d.msgs = append(d.msgs, &moved)
			}
		default:
			m.ReceiveCount++
			if m.firstReceive.IsZero() {
				m.firstReceive = now
			}
			qs.nextID++
			m.receipt = strconv.FormatUint(qs.nextID, 36) + "-" + m.ID
			m.visibleAt = now.Add(q.opts.VisibilityTimeout)
			cp := *m
			out = append(out, &cp)
			kept = append(kept, m)
		}
	}
	q.msgs = kept
	return out
}

// remove deletes messages by receipt handle, as DeleteMessage does.
func (qs *queues) remove(arn string, receipts []string) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, ok := qs.byARN[arn]
	if !ok {
		return
	}
	drop := set(receipts...)
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if !drop[m.receipt] {
			kept = append(kept, m)
		}
	}
	q.msgs = kept
}

// messages returns the messages held in a queue, received or not.
func (qs *queues) messages(arn string) []Message {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, ok := qs.byARN[arn]
	if !ok {
		return nil
	}
	out := make([]Message, 0, len(q.msgs))
	for _, m := range q.msgs {
		out = append(out, m.Message)
	}
	return out
}

// deadLettered returns every message in every dead-letter queue.
func (qs *queues) deadLettered() []Message {
	qs.mu.Lock()
	var dlqs []string
	for arn, q := range qs.byARN {
		if len(q.isDLQOf) > 0 {
			dlqs = append(dlqs, arn)
		}
	}
	qs.mu.Unlock()
	sort.Strings(dlqs)
	out := []Message{}
	for _, arn := range dlqs {
		out = append(out, qs.messages(arn)...)
	}
	return out
}

// Function receives SQS batches from an event source mapping.
type Function interface {
	Invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)
}

// HandlerFunc is an in-process Function.
type HandlerFunc func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Invoke calls f.
func (f HandlerFunc) Invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return f(ctx, ev)
}

// RIEFunction is a bootstrap binary running under the Lambda Runtime
// Interface Emulator, reached at Endpoint (such as http://127.0.0.1:9000).
// The emulator runs one invocation at a time; a mapping invokes serially.
type RIEFunction struct {
	Endpoint string
	Client   *http.Client
}

// Invoke posts the batch to the emulator's invocation endpoint.
func (f RIEFunction) Invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var out events.SQSEventResponse
	payload, err := json.Marshal(ev)
	if err != nil {
		return out, err
	}
	body, err := f.InvokeJSON(ctx, payload)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("the function's response is not an SQSEventResponse: %w", err)
	}
	return out, nil
}

// InvokeJSON sends any event to the function and returns its JSON result.
// A function error comes back as an error carrying its type and message.
func (f RIEFunction) InvokeJSON(ctx context.Context, payload []byte) ([]byte, error) {
	url := strings.TrimSuffix(f.Endpoint, "/") + "/2015-03-31/functions/function/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read response: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &fnErr) == nil && (fnErr.ErrorType != "" || fnErr.ErrorMessage != "") {
		return nil, fmt.Errorf("function error %s: %s", fnErr.ErrorType, fnErr.ErrorMessage)
	}
	return body, nil
}

// MappingOptions connect a queue to a function, as a Lambda event source
// mapping with ReportBatchItemFailures does.
type MappingOptions struct {
	QueueARN  string
	Function  Function
	BatchSize int           // default 10
	Poll      time.Duration // how often an empty queue is polled, default 10ms
}

// Batch is the outcome of one invocation, for observers and tests.
type Batch struct {
	Size     int
	Failed   int
	Err      error
	Finished time.Time
}

// runMapping polls a queue and delivers batches until ctx ends. A function
// error leaves the whole batch to reappear after the visibility timeout; a
// response deletes every message but the batchItemFailures. An item failure
// naming no message of the batch fails the whole batch, as Lambda does.
func (sb *Sandbox) runMapping(ctx context.Context, o MappingOptions) {
	q := sb.queues
	for {
		msgs := q.receive(o.QueueARN, o.BatchSize)
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.Poll):
			}
			continue
		}
		region := strings.Split(o.QueueARN, ":")[3]
		ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
		byID := map[string]string{}
		for i, m := range msgs {
			sum := md5.Sum([]byte(m.Body))
			ev.Records[i] = events.SQSMessage{
				MessageId:     m.ID,
				ReceiptHandle: m.receipt,
				Body:          m.Body,
				Md5OfBody:     hex.EncodeToString(sum[:]),
				Attributes: map[string]string{
					"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
					"SentTimestamp":                    strconv.FormatInt(m.SentAt.UnixMilli(), 10),
					"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
					"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
				},
				MessageAttributes:      lambdaAttributes(m.Attributes),
				Md5OfMessageAttributes: attributesMD5(m.Attributes),
				EventSourceARN:         o.QueueARN,
				EventSource:            "aws:sqs",
				AWSRegion:              region,
			}
			byID[m.ID] = m.receipt
		}
		timeout, cancel := context.WithTimeout(ctx, sb.queueVisibility(o.QueueARN))
		resp, err := invokeSafely(timeout, o.Function, ev)
		cancel()
		failed := map[string]bool{}
		if err == nil {
			for _, f := range resp.BatchItemFailures {
				if _, ok := byID[f.ItemIdentifier]; !ok {
					err = fmt.Errorf("batchItemFailures names %q, which is not in the batch", f.ItemIdentifier)
					break
				}
				failed[f.ItemIdentifier] = true
			}
		}
		var done []string
		if err == nil {
			for id, receipt := range byID {
				if !failed[id] {
					done = append(done, receipt)
				}
			}
			q.remove(o.QueueARN, done)
		} else {
			sb.log.Warn("function failed a batch; its messages return after the visibility timeout",
				"queue", o.QueueARN, "size", len(msgs), "error", err)
		}
		sb.recordBatch(o.QueueARN, Batch{Size: len(msgs), Failed: len(msgs) - len(done), Err: err, Finished: sb.now()})
	}
}

// lambdaAttributes turns a message's attributes into the event's.
func lambdaAttributes(attrs map[string]MessageAttribute) map[string]events.SQSMessageAttribute {
	out := make(map[string]events.SQSMessageAttribute, len(attrs))
	for name, a := range attrs {
		x := events.SQSMessageAttribute{DataType: a.DataType, BinaryValue: a.BinaryValue}
		if a.StringValue != "" {
			v := a.StringValue
			x.StringValue = &v
		}
		out[name] = x
	}
	return out
}

func invokeSafely(ctx context.Context, f Function, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("function panicked: %v", p)
		}
	}()
	return f.Invoke(ctx, ev)
}

func (sb *Sandbox) queueVisibility(arn string) time.Duration {
	sb.queues.mu.Lock()
	defer sb.queues.mu.Unlock()
	if q, ok := sb.queues.byARN[arn]; ok {
		return q.opts.VisibilityTimeout
	}
	return 30 * time.Second
}

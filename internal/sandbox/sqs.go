package sandbox

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// sqsServer speaks SQS's JSON protocol (awsJson1_0, query compatible), as
// the SDK v2 sqs client sends it, for the calls that feed a queue:
// GetQueueUrl, SendMessage, SendMessageBatch and GetQueueAttributes.
// Messages land in the sandbox's queues, so an event source mapping
// delivers them as it delivers S3 notifications.
//
// A queue URL is <endpoint>/<account>/<name>; the region is the one the
// request is signed for, as with SQS, where a URL names a queue in its
// region's endpoint.
type sqsServer struct {
	sb     *Sandbox
	nextID atomic.Uint64
}

// sqsMaxMessageBytes is SQS's classic MaximumMessageSize, body and
// attributes together. SQS has since raised its ceiling; the sandbox keeps
// the smaller limit so that what passes here passes on every queue.
const sqsMaxMessageBytes = 256 * 1024

// sqsMaxDelay is the longest DelaySeconds SQS accepts.
const sqsMaxDelay = 900

// sqsError is an SQS error: its HTTP status, the shape name the SDK's type
// registry knows (QueueDoesNotExist), and the query-protocol code the SDK
// reports through ErrorCode (AWS.SimpleQueueService.NonExistentQueue).
type sqsError struct {
	status  int
	shape   string
	code    string
	message string
}

func (e *sqsError) Error() string { return e.code + ": " + e.message }

func sqsInvalid(format string, a ...any) *sqsError {
	return &sqsError{http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", fmt.Sprintf(format, a...)}
}

var errNoQueue = &sqsError{http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."}

func newSQSServer(sb *Sandbox) *sqsServer { return &sqsServer{sb: sb} }

func (s *sqsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSQS.")
	if !ok {
		s.writeError(w, &sqsError{http.StatusBadRequest, "UnknownOperationException", "UnknownOperationException",
			fmt.Sprintf("The sandbox's SQS speaks the JSON protocol: X-Amz-Target AmazonSQS.<Operation>, not %q.", target)})
		return
	}
	body := bufferBody(r)
	region := signingRegion(r)
	if region == "" {
		region = defaultRegion
	}
	var out any
	var err *sqsError
	switch op {
	case "GetQueueUrl":
		out, err = s.getQueueURL(body, region)
	case "SendMessage":
		out, err = s.sendMessage(body, region)
	case "SendMessageBatch":
		out, err = s.sendMessageBatch(body, region)
	case "GetQueueAttributes":
		out, err = s.getQueueAttributes(body, region)
	default:
		err = &sqsError{http.StatusBadRequest, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
			fmt.Sprintf("The sandbox's SQS answers GetQueueUrl, SendMessage, SendMessageBatch and GetQueueAttributes, not %s.", op)}
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	raw, jerr := json.Marshal(out)
	if jerr != nil {
		s.writeError(w, &sqsError{http.StatusInternalServerError, "InternalFailure", "InternalFailure", jerr.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	_, _ = w.Write(raw)
}

func (s *sqsServer) requestID() string {
	n := s.nextID.Add(1)
	return fmt.Sprintf("%08x-5a5a-4000-8000-%012x", n, n)
}

// writeError answers in the JSON error format of a query-compatible
// service: the shape in __type, the query code in x-amzn-query-error.
func (s *sqsServer) writeError(w http.ResponseWriter, e *sqsError) {
	fault := "Sender"
	if e.status >= 500 {
		fault = "Receiver"
	}
	body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.shape, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	w.Header().Set("X-Amzn-Query-Error", e.code+";"+fault)
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

func decodeSQS(body []byte, v any) *sqsError {
	if err := json.Unmarshal(body, v); err != nil {
		return &sqsError{http.StatusBadRequest, "SerializationException", "SerializationException", "The request body is not valid JSON: " + err.Error()}
	}
	return nil
}

// QueueURL returns the URL of a queue the sandbox holds, as GetQueueUrl
// answers it, or "" when arn is not an SQS queue ARN.
func (sb *Sandbox) QueueURL(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" || parts[5] == "" {
		return ""
	}
	return sb.awsURL + "/" + parts[4] + "/" + parts[5]
}

// queueOfURL names the queue a URL points at in a region: its last two path
// segments are the account and the queue name.
func (s *sqsServer) queueOfURL(region, queueURL string) (string, *sqsError) {
	if queueURL == "" {
		return "", sqsInvalid("The request must contain the parameter QueueUrl.")
	}
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", &sqsError{http.StatusBadRequest, "InvalidAddress", "InvalidAddress", "The address " + queueURL + " is not valid for this endpoint."}
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[len(parts)-2] != Account {
		return "", errNoQueue
	}
	arn := QueueARN(region, parts[len(parts)-1])
	if !s.sb.queues.exists(arn) {
		return "", errNoQueue
	}
	return arn, nil
}

func (s *sqsServer) getQueueURL(body []byte, region string) (any, *sqsError) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string
	}
	if err := decodeSQS(body, &in); err != nil {
		return nil, err
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != Account {
		return nil, errNoQueue
	}
	arn := QueueARN(region, in.QueueName)
	if in.QueueName == "" || !s.sb.queues.exists(arn) {
		return nil, errNoQueue
	}
	return map[string]string{"QueueUrl": s.sb.QueueURL(arn)}, nil
}

// sqsAttributeValue is a MessageAttributeValue as the JSON protocol carries
// it; BinaryValue arrives base64-encoded, which encoding/json decodes.
type sqsAttributeValue struct {
	DataType         string
	StringValue      *string
	BinaryValue      []byte
	StringListValues []string
	BinaryListValues [][]byte
}

// sqsEntry is a message to send: SendMessage's input or one batch entry.
type sqsEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]sqsAttributeValue
	MessageSystemAttributes map[string]sqsAttributeValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

// sent is what SQS answers for one message it took.
type sent struct {
	Id                     string `json:",omitempty"`
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

// validate checks a message as SQS does and returns what to queue.
func (e sqsEntry) validate() (outgoing, *sqsError) {
	if e.MessageBody == nil || *e.MessageBody == "" {
		return outgoing{}, sqsInvalid("The request must contain the parameter MessageBody.")
	}
	body := *e.MessageBody
	if i := strings.IndexFunc(body, func(r rune) bool { return !sqsAllowed(r) }); i >= 0 {
		r := []rune(body[i:])[0]
		return outgoing{}, &sqsError{http.StatusBadRequest, "InvalidMessageContents", "InvalidMessageContents",
			fmt.Sprintf("Invalid binary character '#x%X' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", r)}
	}
	o := outgoing{body: body}
	size := len(body)
	if e.DelaySeconds != nil {
		if *e.DelaySeconds < 0 || *e.DelaySeconds > sqsMaxDelay {
			return outgoing{}, sqsInvalid("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", *e.DelaySeconds, sqsMaxDelay)
		}
		d := time.Duration(*e.DelaySeconds) * time.Second
		o.delay = &d
	}
	if len(e.MessageAttributes) > 10 {
		return outgoing{}, sqsInvalid("Number of message attributes [%d] exceeds the allowed maximum [10].", len(e.MessageAttributes))
	}
	if len(e.MessageAttributes) > 0 {
		o.attrs = map[string]MessageAttribute{}
	}
	for name, v := range e.MessageAttributes {
		a, err := v.attribute(name)
		if err != nil {
			return outgoing{}, err
		}
		o.attrs[name] = a
		size += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if size > sqsMaxMessageBytes {
		return outgoing{}, sqsInvalid("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", sqsMaxMessageBytes)
	}
	return o, nil
}

// sqsAllowed reports whether SQS accepts a character in a message: the
// characters XML allows.
func sqsAllowed(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

var attributeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

func (v sqsAttributeValue) attribute(name string) (MessageAttribute, *sqsError) {
	if !attributeName.MatchString(name) || strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return MessageAttribute{}, sqsInvalid("Message attribute name '%s' is invalid.", name)
	}
	if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
		return MessageAttribute{}, sqsInvalid("Message attribute list values in SendMessage operation are not supported.")
	}
	base, _, _ := strings.Cut(v.DataType, ".")
	a := MessageAttribute{DataType: v.DataType}
	switch base {
	case "String", "Number":
		if v.StringValue == nil || *v.StringValue == "" {
			return MessageAttribute{}, sqsInvalid("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
		}
		if base == "Number" {
			if _, err := strconv.ParseFloat(*v.StringValue, 64); err != nil {
				return MessageAttribute{}, sqsInvalid("Can't cast the value of message (user) attribute '%s' to a number.", name)
			}
		}
		a.StringValue = *v.StringValue
	case "Binary":
		if len(v.BinaryValue) == 0 {
			return MessageAttribute{}, sqsInvalid("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", name)
		}
		a.BinaryValue = v.BinaryValue
	default:
		return MessageAttribute{}, sqsInvalid("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	}
	return a, nil
}

// attributesMD5 is MD5OfMessageAttributes as SQS computes it: over the
// attributes sorted by name, each as its length-prefixed name, data type, a
// transport byte (1 string, 2 binary) and length-prefixed value.
func attributesMD5(attrs map[string]MessageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		field([]byte(n))
		field([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{2})
			field(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			field([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

func (s *sqsServer) enqueue(arn string, o outgoing) (sent, *sqsError) {
	m, err := s.sb.queues.put(arn, o)
	if err != nil {
		return sent{}, errNoQueue
	}
	return sent{MessageId: m.ID, MD5OfMessageBody: bodyMD5(o.body), MD5OfMessageAttributes: attributesMD5(o.attrs)}, nil
}

func (s *sqsServer) sendMessage(body []byte, region string) (any, *sqsError) {
	var in struct {
		QueueUrl string
		sqsEntry
	}
	if err := decodeSQS(body, &in); err != nil {
		return nil, err
	}
	arn, err := s.queueOfURL(region, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	o, err := in.sqsEntry.validate()
	if err != nil {
		return nil, err
	}
	return s.enqueue(arn, o)
}

var batchEntryID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func (s *sqsServer) sendMessageBatch(body []byte, region string) (any, *sqsError) {
	var in struct {
		QueueUrl string
		Entries  []sqsEntry
	}
	if err := decodeSQS(body, &in); err != nil {
		return nil, err
	}
	arn, err := s.queueOfURL(region, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Entries) == 0:
		return nil, &sqsError{http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request."}
	case len(in.Entries) > 10:
		return nil, &sqsError{http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(in.Entries))}
	}
	ids := map[string]bool{}
	total := 0
	for _, e := range in.Entries {
		if !batchEntryID.MatchString(e.Id) {
			return nil, &sqsError{http.StatusBadRequest, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
				"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."}
		}
		if ids[e.Id] {
			return nil, &sqsError{http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id " + e.Id + " repeated."}
		}
		ids[e.Id] = true
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
	}
	if total > sqsMaxMessageBytes {
		return nil, &sqsError{http.StatusBadRequest, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
			fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", sqsMaxMessageBytes, total)}
	}
	type failed struct {
		Id          string
		SenderFault bool
		Code        string
		Message     string
	}
	out := struct {
		Successful []sent
		Failed     []failed
	}{Successful: []sent{}, Failed: []failed{}}
	for _, e := range in.Entries {
		o, verr := e.validate()
		if verr == nil {
			var ok sent
			if ok, verr = s.enqueue(arn, o); verr == nil {
				ok.Id = e.Id
				out.Successful = append(out.Successful, ok)
				continue
			}
		}
		out.Failed = append(out.Failed, failed{Id: e.Id, SenderFault: verr.status < 500, Code: verr.code, Message: verr.message})
	}
	return out, nil
}

// queueAttributeNames are the names GetQueueAttributes accepts.
var queueAttributeNames = set("All", "Policy", "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "LastModifiedTimestamp",
	"QueueArn", "ApproximateNumberOfMessagesDelayed", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "RedrivePolicy",
	"FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "DeduplicationScope",
	"FifoThroughputLimit", "RedriveAllowPolicy", "SqsManagedSseEnabled")

func (s *sqsServer) getQueueAttributes(body []byte, region string) (any, *sqsError) {
	var in struct {
		QueueUrl       string
		AttributeNames []string
	}
	if err := decodeSQS(body, &in); err != nil {
		return nil, err
	}
	arn, err := s.queueOfURL(region, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, n := range in.AttributeNames {
		if !queueAttributeNames[n] {
			return nil, &sqsError{http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute " + n + "."}
		}
	}
	all := s.sb.queues.attributes(arn)
	want := set(in.AttributeNames...)
	out := map[string]string{}
	for k, v := range all {
		if want["All"] || want[k] {
			out[k] = v
		}
	}
	return map[string]map[string]string{"Attributes": out}, nil
}

// attributes returns the queue attributes the sandbox holds, as
// GetQueueAttributes names them.
func (qs *queues) attributes(arn string) map[string]string {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q, ok := qs.byARN[arn]
	if !ok {
		return nil
	}
	now := qs.now()
	var visible, inFlight, delayed int
	for _, m := range q.msgs {
		switch {
		case !now.Before(m.visibleAt):
			visible++
		case m.ReceiveCount > 0:
			inFlight++
		default:
			delayed++
		}
	}
	created := strconv.FormatInt(q.created.Unix(), 10)
	out := map[string]string{
		"QueueArn":                              arn,
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"DelaySeconds":                          strconv.Itoa(int(q.opts.Delay / time.Second)),
		"VisibilityTimeout":                     strconv.Itoa(int(q.opts.VisibilityTimeout / time.Second)),
		"MaximumMessageSize":                    strconv.Itoa(sqsMaxMessageBytes),
		"MessageRetentionPeriod":                "345600",
		"ReceiveMessageWaitTimeSeconds":         "0",
		"CreatedTimestamp":                      created,
		"LastModifiedTimestamp":                 created,
		"SqsManagedSseEnabled":                  "true",
	}
	if q.dlq != "" {
		policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.dlq, "maxReceiveCount": q.opts.MaxReceiveCount})
		out["RedrivePolicy"] = string(policy)
	}
	return out
}

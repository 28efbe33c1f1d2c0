package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// admission says what the router does with one AWS request, once the
// service and crash faults have had their say.
type admission int

const (
	admitServe  admission = iota // dispatch it
	admitRefuse                  // answer 503 ServiceUnavailable, do not dispatch
	admitDrop                    // close the connection unanswered, do not dispatch
	admitLose                    // dispatch it, then answer 500 instead of its answer
	admitForbid                  // answer AccessDenied, do not dispatch
)

// invocationHeader carries the id the AWS SDKs give one call, the same on
// each of its retries.
const invocationHeader = "Amz-Sdk-Invocation-Id"

// admit applies the crash fault and the faults on svc to a request, holding
// it while a hang or a crash says so. It is called once per request, before
// dispatch.
func (fs *faults) admit(r *http.Request, svc string) admission {
	id := r.Header.Get(invocationHeader)
	fs.mu.Lock()
	if id != "" && fs.crashed[id] {
		fs.mu.Unlock()
		return admitDrop // a retry of a call the crash swallowed
	}
	if c := fs.crash; c != nil {
		c.seen++
		if c.seen > c.After {
			if id != "" {
				fs.crashed[id] = true
			}
			fs.mu.Unlock()
			bufferBody(r)
			fs.hold(r.Context(), func() bool { return fs.crash == c })
			return admitDrop
		}
	}
	fs.mu.Unlock()

	buffered := false
	for {
		hang, a := fs.decide(svc)
		if hang == nil {
			return a
		}
		if !buffered {
			// The server notices a client that gives up only once the
			// request body has been read.
			bufferBody(r)
			buffered = true
		}
		if !fs.hold(r.Context(), func() bool { return fs.byService[svc][FaultHang] == hang }) {
			return admitDrop
		}
		// The hang lifted with the client still waiting: look again.
	}
}

// decide returns the hang fault on svc when there is one, else what the
// other faults on svc make of a request. It counts the request for a lose
// fault.
func (fs *faults) decide(svc string) (*serviceFault, admission) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	kinds := fs.byService[svc]
	if hang := kinds[FaultHang]; hang != nil {
		return hang, admitServe
	}
	if kinds[FaultUnavailable] != nil {
		return nil, admitRefuse
	}
	if kinds[FaultForbid] != nil {
		return nil, admitForbid
	}
	if lose := kinds[FaultLose]; lose != nil {
		lose.seen++
		if lose.seen > lose.After {
			delete(kinds, FaultLose)
			fs.notifyLocked()
			return nil, admitLose
		}
	}
	return nil, admitServe
}

// hold blocks while holding() is true, rechecking at each fault change. It
// returns true when holding() turned false with the client still waiting,
// and false when the client gave up or the sandbox is shutting down.
func (fs *faults) hold(ctx context.Context, holding func() bool) bool {
	fs.mu.Lock()
	fs.held++
	defer func() {
		fs.held--
		fs.mu.Unlock()
	}()
	for holding() {
		changed := fs.changed
		fs.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			fs.mu.Lock()
			return false
		case <-fs.closed:
			fs.mu.Lock()
			return false
		}
		fs.mu.Lock()
	}
	return ctx.Err() == nil
}

// heldCount is the number of requests held right now.
func (fs *faults) heldCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.held
}

// bufferBody reads a request's body into memory and puts it back, and
// returns it.
func bufferBody(r *http.Request) []byte {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

// dropConnection closes a request's connection without a byte of answer, as
// when the process on the other end dies.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // net/http then closes the connection silently
}

var serviceRequestID atomic.Uint64

// writeServiceError answers a request with an error in its service's own
// protocol, so the SDK parses it as it would the real service's.
func (sb *Sandbox) writeServiceError(w http.ResponseWriter, r *http.Request, svc string, status int, code, message string) {
	requestID := fmt.Sprintf("SANDBOX%013X", serviceRequestID.Add(1))
	switch svc {
	case "dynamodb":
		body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": message})
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Requestid", requestID)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		// DynamoDB signs every body with a CRC32, and the SDK checks it on
		// every answer, taking a missing header for a checksum of 0.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	case "sns":
		sb.sns.writeError(w, snsError{status: status, code: code, message: message})
	case "athena":
		sb.athena.writeError(w, &athenaError{status: status, code: code, message: message})
	case "sqs":
		sb.sqs.writeError(w, &sqsError{status: status, shape: code, code: code, message: message})
	case "cloudformation":
		writeQueryError(w, "http://cloudformation.amazonaws.com/doc/2010-05-15/", status, code, message, requestID)
	case "iam":
		writeQueryError(w, iamXMLNS, status, code, message, requestID)
	case "sts":
		writeQueryError(w, stsXMLNS, status, code, message, requestID)
	default:
		w.Header().Set("x-amz-request-id", requestID)
		if isS3Control(r) {
			writeS3ControlError(w, requestID, &s3ControlError{status: status, code: code, message: message})
			return
		}
		writeS3Error(w, r, requestID, newS3Error(status, code, "%s", message))
	}
}

// writeForbidden answers a request as its service answers a caller that
// no policy allows to make it.
func (sb *Sandbox) writeForbidden(w http.ResponseWriter, r *http.Request, svc, op, resource string) {
	sb.iam.mu.Lock()
	caller := sb.iam.caller
	sb.iam.mu.Unlock()
	message := fmt.Sprintf("User: %s is not authorized to perform: %s:%s", caller, svc, op)
	if resource != "" {
		message += " on resource: " + resource
	}
	message += " (a fault injected in the sandbox)"
	switch svc {
	case "dynamodb":
		sb.writeServiceError(w, r, svc, http.StatusBadRequest, "AccessDeniedException", message)
	case "sns":
		sb.writeServiceError(w, r, svc, http.StatusForbidden, "AuthorizationError", message)
	default:
		sb.writeServiceError(w, r, svc, http.StatusForbidden, "AccessDenied", message)
	}
}

// internalCode names the error a service answers for an internal failure.
func internalCode(svc string) string {
	switch svc {
	case "dynamodb":
		return "InternalServerError"
	case "cloudformation", "sqs", "sts":
		return "InternalFailure"
	case "iam":
		return "ServiceFailure"
	}
	return "InternalError"
}

// writeQueryError writes the ErrorResponse of an AWS query-protocol service.
func writeQueryError(w http.ResponseWriter, xmlns string, status int, code, message, requestID string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xmlns, kind, escape(code), escape(message), escape(requestID))
}

// responseBuffer is an http.ResponseWriter that keeps the answer in memory,
// for the DynamoDB proxy to amend it or for a lose fault to throw it away.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseBuffer() *responseBuffer { return &responseBuffer{header: http.Header{}} }

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// Flush lets the reverse proxy flush; there is nothing to do.
func (b *responseBuffer) Flush() {}

// copyTo writes the buffered answer to w.
func (b *responseBuffer) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

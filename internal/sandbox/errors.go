package sandbox

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/johannesboyne/gofakes3"
)

// s3Error is an error S3 would return, with its HTTP status and code.
type s3Error struct {
	Status  int
	Code    string
	Message string
	// Header is set on the response, e.g. x-amz-bucket-region on a redirect.
	Header map[string]string
}

func (e *s3Error) Error() string { return e.Code + ": " + e.Message }

func newS3Error(status int, code, format string, a ...any) *s3Error {
	return &s3Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

var (
	errBucketOwned       = newS3Error(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	errSuspendReplicated = newS3Error(http.StatusConflict, "InvalidBucketState", "Versioning cannot be suspended on a bucket with a replication configuration.")
)

func malformedXML(err error) *s3Error {
	return newS3Error(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: %v", err)
}

// writeS3Error answers with S3's XML error document. Errors that came from
// gofakes3 keep their code and status; anything else is an InternalError.
func writeS3Error(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	var e *s3Error
	if !errors.As(err, &e) {
		var ge gofakes3.Error
		if errors.As(err, &ge) {
			e = &s3Error{Status: ge.ErrorCode().Status(), Code: string(ge.ErrorCode()), Message: ge.Error()}
			var gr *gofakes3.ErrorResponse
			if errors.As(err, &gr) {
				e.Message = gr.Message
			}
		} else {
			e = newS3Error(http.StatusInternalServerError, "InternalError", "%v", err)
		}
	}
	for k, v := range e.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	body := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
		HostID    string `xml:"HostId"`
	}{Code: e.Code, Message: e.Message, RequestID: requestID, HostID: "sandbox"}
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(body)
}

package sandbox

import (
	"encoding/json"
	"strings"

	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// record is one S3 event notification record in the documented JSON. It is
// the producer's side: aws-lambda-go's events.S3EventRecord reads it.
type record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	UserIdentity struct {
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements map[string]string `json:"responseElements"`
	S3               struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name          string `json:"name"`
			OwnerIdentity struct {
				PrincipalID string `json:"principalId"`
			} `json:"ownerIdentity"`
			ARN string `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      *int64 `json:"size,omitempty"`
			ETag      string `json:"eTag,omitempty"`
			VersionID string `json:"versionId,omitempty"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
	ReplicationEventData *replicationEventData `json:"replicationEventData,omitempty"`
}

type replicationEventData struct {
	ReplicationRuleID string `json:"replicationRuleId"`
	DestinationBucket string `json:"destinationBucket"`
	S3Operation       string `json:"s3Operation"`
	RequestTime       string `json:"requestTime"`
	FailureReason     string `json:"failureReason,omitempty"`
}

const ownerPrincipal = "A3SANDBOXOWNER"

func recordOf(w write) record {
	var r record
	r.EventVersion = "2.1"
	r.EventSource = "aws:s3"
	r.AWSRegion = w.region
	r.EventTime = w.version.lastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	r.EventName = w.eventName
	r.UserIdentity.PrincipalID = "AWS:" + ownerPrincipal
	r.RequestParameters.SourceIPAddress = "127.0.0.1"
	r.ResponseElements = map[string]string{"x-amz-request-id": w.sequencer, "x-amz-id-2": "sandbox/" + w.sequencer}
	r.S3.SchemaVersion = "1.0"
	r.S3.Bucket.Name = w.bucket
	r.S3.Bucket.OwnerIdentity.PrincipalID = ownerPrincipal
	r.S3.Bucket.ARN = replication.BucketARN(w.bucket)
	r.S3.Object.Key = s3events.EncodeKey(w.version.key)
	r.S3.Object.VersionID = w.version.id
	if w.version.id == "" && w.version.deleteMarker {
		r.S3.Object.VersionID = "null"
	}
	r.S3.Object.Sequencer = w.sequencer
	if !w.version.deleteMarker && !strings.HasPrefix(w.eventName, "ObjectRemoved:") {
		size := int64(len(w.version.body))
		r.S3.Object.Size = &size
		r.S3.Object.ETag = strings.Trim(w.version.eTag(), `"`)
	}
	return r
}

// notify sends a record to every queue target of the bucket that wants it.
func (sb *Sandbox) notify(bucket, region string, rec record) {
	doc := sb.store.notificationDoc(bucket)
	if doc == nil {
		return
	}
	key, _ := s3events.DecodeKey(rec.S3.Object.Key)
	for _, q := range doc.Queues {
		if !q.wants(rec.EventName, key) {
			continue
		}
		rec.S3.ConfigurationID = q.ID
		body, err := json.Marshal(struct {
			Records []record `json:"Records"`
		}{[]record{rec}})
		if err != nil {
			sb.log.Error("encode notification", "error", err)
			continue
		}
		if err := sb.queues.send(q.Queue, string(body)); err != nil {
			sb.log.Warn("notification not delivered", "bucket", bucket, "event", rec.EventName, "error", err)
		}
	}
}

// sendTestEvents sends s3:TestEvent to each queue the configuration names,
// once per queue, as S3 does when a notification configuration is saved.
func (sb *Sandbox) sendTestEvents(bucket string, doc *notificationDoc) {
	sent := map[string]bool{}
	for _, q := range doc.Queues {
		if sent[q.Queue] {
			continue
		}
		sent[q.Queue] = true
		body, _ := json.Marshal(map[string]string{
			"Service":   "Amazon S3",
			"Event":     "s3:TestEvent",
			"Time":      sb.now().UTC().Format("2006-01-02T15:04:05.000Z"),
			"Bucket":    bucket,
			"RequestId": "SANDBOXTESTEVENT",
			"HostId":    "sandbox",
		})
		if err := sb.queues.send(q.Queue, string(body)); err != nil {
			sb.log.Warn("test event not delivered", "bucket", bucket, "error", err)
		}
	}
}

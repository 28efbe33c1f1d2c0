package sandbox

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/replaudit/replaudit/internal/replication"
)

// replicationDoc is the ReplicationConfiguration XML document as S3 accepts
// and returns it. It is stored as given and turned into the shared model to
// act on it.
type replicationDoc struct {
	XMLName xml.Name         `xml:"ReplicationConfiguration"`
	Xmlns   string           `xml:"xmlns,attr,omitempty"`
	Role    string           `xml:"Role"`
	Rules   []replicationXML `xml:"Rule"`

	cfg replication.Config
}

type statusXML struct {
	Status string `xml:"Status"`
}

type minutesXML struct {
	Minutes int `xml:"Minutes"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type replicationXML struct {
	ID       string  `xml:"ID,omitempty"`
	Priority *int32  `xml:"Priority,omitempty"`
	Status   string  `xml:"Status"`
	Prefix   *string `xml:"Prefix,omitempty"`
	Filter   *struct {
		Prefix *string `xml:"Prefix,omitempty"`
		Tag    *tagXML `xml:"Tag,omitempty"`
		And    *struct {
			Prefix *string  `xml:"Prefix,omitempty"`
			Tags   []tagXML `xml:"Tag"`
		} `xml:"And,omitempty"`
	} `xml:"Filter,omitempty"`
	SourceSelectionCriteria *struct {
		SseKmsEncryptedObjects *statusXML `xml:"SseKmsEncryptedObjects,omitempty"`
		ReplicaModifications   *statusXML `xml:"ReplicaModifications,omitempty"`
	} `xml:"SourceSelectionCriteria,omitempty"`
	ExistingObjectReplication *statusXML `xml:"ExistingObjectReplication,omitempty"`
	Destination               struct {
		Bucket                   string  `xml:"Bucket"`
		Account                  *string `xml:"Account,omitempty"`
		StorageClass             *string `xml:"StorageClass,omitempty"`
		AccessControlTranslation *struct {
			Owner string `xml:"Owner"`
		} `xml:"AccessControlTranslation,omitempty"`
		EncryptionConfiguration *struct {
			ReplicaKmsKeyID string `xml:"ReplicaKmsKeyID"`
		} `xml:"EncryptionConfiguration,omitempty"`
		ReplicationTime *struct {
			Status string     `xml:"Status"`
			Time   minutesXML `xml:"Time"`
		} `xml:"ReplicationTime,omitempty"`
		Metrics *struct {
			Status         string      `xml:"Status"`
			EventThreshold *minutesXML `xml:"EventThreshold,omitempty"`
		} `xml:"Metrics,omitempty"`
	} `xml:"Destination"`
	DeleteMarkerReplication *statusXML `xml:"DeleteMarkerReplication,omitempty"`
}

func badRequest(code, format string, a ...any) *s3Error {
	return newS3Error(http.StatusBadRequest, code, format, a...)
}

func enabled(s *statusXML) bool { return s != nil && s.Status == "Enabled" }

func checkStatus(what, s string) error {
	if s != "Enabled" && s != "Disabled" {
		return badRequest("MalformedXML", "%s Status must be Enabled or Disabled, not %q.", what, s)
	}
	return nil
}

// parseReplication reads a PutBucketReplication body and checks it the way S3
// does, short of the checks on the buckets themselves.
func parseReplication(body io.Reader) (*replicationDoc, replication.Config, error) {
	var doc replicationDoc
	if err := xml.NewDecoder(body).Decode(&doc); err != nil {
		return nil, replication.Config{}, malformedXML(err)
	}
	cfg := replication.Config{Role: doc.Role}
	for i, x := range doc.Rules {
		if err := checkStatus("Rule", x.Status); err != nil {
			return nil, cfg, err
		}
		r := replication.Rule{
			ID:      x.ID,
			Enabled: x.Status == "Enabled",
			Destination: replication.Destination{
				BucketARN: x.Destination.Bucket,
			},
			ReplicaModifications: x.SourceSelectionCriteria != nil && enabled(x.SourceSelectionCriteria.ReplicaModifications),
		}
		if r.ID == "" {
			// S3 names rules without an ID itself.
			r.ID = fmt.Sprintf("rule-%d", i+1)
			doc.Rules[i].ID = r.ID
		}
		switch {
		case x.Filter != nil && x.Prefix != nil:
			return nil, cfg, badRequest("MalformedXML", "Rule %q has both a Prefix and a Filter.", r.ID)
		case x.Prefix != nil:
			r.LegacyPrefix = true
			r.Filter.Prefix = *x.Prefix
			r.DeleteMarkerReplication = true // the V1 schema always replicates delete markers
		case x.Filter != nil:
			if x.Priority == nil {
				return nil, cfg, badRequest("InvalidArgument", "Priority must be specified for this version of Cross Region Replication configuration schema.")
			}
			if x.DeleteMarkerReplication == nil {
				return nil, cfg, badRequest("InvalidRequest", "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.")
			}
			if err := checkStatus("DeleteMarkerReplication", x.DeleteMarkerReplication.Status); err != nil {
				return nil, cfg, err
			}
			r.Priority = *x.Priority
			r.DeleteMarkerReplication = enabled(x.DeleteMarkerReplication)
			f := x.Filter
			n := 0
			if f.Prefix != nil {
				n++
				r.Filter.Prefix = *f.Prefix
			}
			if f.Tag != nil {
				n++
				r.Filter.Tags = map[string]string{f.Tag.Key: f.Tag.Value}
			}
			if f.And != nil {
				n++
				if f.And.Prefix != nil {
					r.Filter.Prefix = *f.And.Prefix
				}
				r.Filter.Tags = map[string]string{}
				for _, t := range f.And.Tags {
					if _, dup := r.Filter.Tags[t.Key]; dup {
						return nil, cfg, badRequest("InvalidRequest", "Duplicate Tag Keys are not allowed.")
					}
					r.Filter.Tags[t.Key] = t.Value
				}
			}
			if n > 1 {
				return nil, cfg, badRequest("MalformedXML", "Rule %q: a Filter holds one of Prefix, Tag or And.", r.ID)
			}
		default:
			return nil, cfg, badRequest("MalformedXML", "Rule %q needs a Filter (or a V1 Prefix).", r.ID)
		}
		d := x.Destination
		if d.Account != nil {
			r.Destination.Account = *d.Account
		}
		if d.StorageClass != nil {
			r.Destination.StorageClass = *d.StorageClass
			if !validStorageClass(*d.StorageClass) {
				return nil, cfg, badRequest("InvalidStorageClass", "The storage class you specified is not valid: %s.", *d.StorageClass)
			}
		}
		if d.AccessControlTranslation != nil {
			if d.AccessControlTranslation.Owner != "Destination" || d.Account == nil {
				return nil, cfg, badRequest("InvalidArgument", "AccessControlTranslation needs Owner Destination and an Account.")
			}
			r.Destination.OwnerOverride = true
		}
		if d.EncryptionConfiguration != nil {
			r.Destination.ReplicaKmsKeyID = d.EncryptionConfiguration.ReplicaKmsKeyID
		}
		if ssc := x.SourceSelectionCriteria; ssc != nil && enabled(ssc.SseKmsEncryptedObjects) {
			r.SseKmsEncryptedObjects = true
		}
		if rt := d.ReplicationTime; rt != nil && rt.Status == "Enabled" {
			if rt.Time.Minutes != replication.RTCMinutes {
				return nil, cfg, badRequest("InvalidArgument", "Replication Time Control accepts only %d minutes.", replication.RTCMinutes)
			}
			r.ReplicationTime = true
		}
		if m := d.Metrics; m != nil && m.Status == "Enabled" {
			if m.EventThreshold != nil && m.EventThreshold.Minutes != replication.RTCMinutes {
				return nil, cfg, badRequest("InvalidArgument", "Metrics EventThreshold accepts only %d minutes.", replication.RTCMinutes)
			}
			r.Metrics = true
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	if err := cfg.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), replication.ErrInvalid.Error()+": ")
		return nil, cfg, badRequest("InvalidRequest", "%s", msg)
	}
	doc.Xmlns = s3Xmlns
	doc.cfg = cfg
	return &doc, cfg, nil
}

const s3Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

func validStorageClass(s string) bool {
	switch s {
	case "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
		"GLACIER", "DEEP_ARCHIVE", "GLACIER_IR":
		return true
	}
	return false
}

package sandbox

import (
	"encoding/xml"
	"io"
	"strings"

	"github.com/replaudit/replaudit/internal/s3events"
)

// notificationDoc is the NotificationConfiguration XML document. Topic and
// Lambda targets and the EventBridge switch are stored and returned as
// given; only queue targets are delivered to.
type notificationDoc struct {
	XMLName     xml.Name            `xml:"NotificationConfiguration"`
	Xmlns       string              `xml:"xmlns,attr,omitempty"`
	Topics      []notificationEntry `xml:"TopicConfiguration"`
	Queues      []notificationEntry `xml:"QueueConfiguration"`
	Functions   []notificationEntry `xml:"CloudFunctionConfiguration"`
	EventBridge *struct{}           `xml:"EventBridgeConfiguration,omitempty"`
}

// notificationEntry is one target. Exactly one of Topic, Queue or
// CloudFunction is set, depending on the list it sits in.
type notificationEntry struct {
	ID            string   `xml:"Id,omitempty"`
	Topic         string   `xml:"Topic,omitempty"`
	Queue         string   `xml:"Queue,omitempty"`
	CloudFunction string   `xml:"CloudFunction,omitempty"`
	Events        []string `xml:"Event"`
	Filter        *struct {
		S3Key struct {
			Rules []struct {
				Name  string `xml:"Name"`
				Value string `xml:"Value"`
			} `xml:"FilterRule"`
		} `xml:"S3Key"`
	} `xml:"Filter,omitempty"`
}

func (e notificationEntry) target() string { return e.Topic + e.Queue + e.CloudFunction }

// asTarget describes the entry in s3events' terms.
func (e notificationEntry) asTarget() s3events.Target {
	t := s3events.Target{ID: e.ID, ARN: e.target(), Events: e.Events}
	if e.Filter != nil {
		for _, r := range e.Filter.S3Key.Rules {
			switch strings.ToLower(r.Name) {
			case "prefix":
				t.Filter.Prefix = r.Value
			case "suffix":
				t.Filter.Suffix = r.Value
			}
		}
	}
	return t
}

// wants reports whether the entry subscribes to this event for this key.
func (e notificationEntry) wants(eventName, key string) bool {
	t := e.asTarget()
	if !t.Filter.Matches(key) {
		return false
	}
	for _, ev := range t.Events {
		if s3events.Covers(ev, eventName) {
			return true
		}
	}
	return false
}

// parseNotification reads a PutBucketNotificationConfiguration body and
// checks it as S3 does: known event types, at most one prefix and one suffix
// rule per entry, and no two entries that overlap on both event type and key
// filter. Queues must exist, in the bucket's region.
func parseNotification(body io.Reader, region string, queueExists func(arn string) bool) (*notificationDoc, error) {
	var doc notificationDoc
	if err := xml.NewDecoder(body).Decode(&doc); err != nil && err != io.EOF {
		return nil, malformedXML(err)
	}
	var all []notificationEntry
	all = append(all, doc.Topics...)
	all = append(all, doc.Queues...)
	all = append(all, doc.Functions...)
	ids := map[string]bool{}
	for i, e := range all {
		if e.target() == "" {
			return nil, badRequest("InvalidArgument", "Every notification configuration needs a destination ARN.")
		}
		if e.ID != "" {
			if ids[e.ID] {
				return nil, badRequest("InvalidArgument", "Configuration id %q is not unique.", e.ID)
			}
			ids[e.ID] = true
		}
		if len(e.Events) == 0 {
			return nil, badRequest("InvalidArgument", "Configuration %q names no event.", e.ID)
		}
		for _, ev := range e.Events {
			if !s3events.Known(ev) {
				return nil, badRequest("InvalidArgument", "The event is not supported for notifications: %s", ev)
			}
		}
		if e.Filter != nil {
			seen := map[string]bool{}
			for _, r := range e.Filter.S3Key.Rules {
				n := strings.ToLower(r.Name)
				if n != "prefix" && n != "suffix" {
					return nil, badRequest("InvalidArgument", "filter rule name must be either prefix or suffix, not %q", r.Name)
				}
				if seen[n] {
					return nil, badRequest("InvalidArgument", "Cannot specify more than one %s rule in a filter.", n)
				}
				seen[n] = true
			}
		}
		for _, o := range all[:i] {
			if s3events.Overlap(o.asTarget(), e.asTarget()) {
				return nil, badRequest("InvalidArgument", "Configurations overlap. Configurations on the same bucket cannot share a common event type. (%s and %s)", label(o), label(e))
			}
		}
	}
	for _, q := range doc.Queues {
		if parts := strings.Split(q.Queue, ":"); len(parts) > 3 && parts[3] != region {
			return nil, badRequest("InvalidArgument", "The notification destination service region is not valid for the bucket location constraint: %s is in %s, the bucket in %s.", q.Queue, parts[3], region)
		}
		if !queueExists(q.Queue) {
			return nil, badRequest("InvalidArgument", "Unable to validate the following destination configurations: %s", q.Queue)
		}
	}
	doc.Xmlns = s3Xmlns
	return &doc, nil
}

func label(e notificationEntry) string {
	if e.ID != "" {
		return e.ID
	}
	return e.target()
}

package sandbox

import (
	"encoding/xml"
	"io"
	"strings"
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

// keyFilter returns the entry's prefix and suffix.
func (e notificationEntry) keyFilter() (prefix, suffix string) {
	if e.Filter == nil {
		return "", ""
	}
	for _, r := range e.Filter.S3Key.Rules {
		switch strings.ToLower(r.Name) {
		case "prefix":
			prefix = r.Value
		case "suffix":
			suffix = r.Value
		}
	}
	return prefix, suffix
}

// wants reports whether the entry subscribes to this event for this key.
// eventName is written as in records, without the s3: prefix.
func (e notificationEntry) wants(eventName, key string) bool {
	prefix, suffix := e.keyFilter()
	if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, suffix) {
		return false
	}
	for _, ev := range e.Events {
		if eventTypeCovers(strings.TrimPrefix(ev, "s3:"), eventName) {
			return true
		}
	}
	return false
}

// eventTypeCovers reports whether a configured type such as ObjectCreated:*
// covers a concrete event name such as ObjectCreated:Put.
func eventTypeCovers(configured, name string) bool {
	if group, ok := strings.CutSuffix(configured, "*"); ok {
		return strings.HasPrefix(name, group)
	}
	return configured == name
}

// knownEventTypes are the types the sandbox accepts in a configuration.
var knownEventTypes = map[string]bool{}

func init() {
	for _, t := range []string{
		"ObjectCreated:*", "ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy",
		"ObjectCreated:CompleteMultipartUpload",
		"ObjectRemoved:*", "ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated",
		"ObjectRestore:*", "ObjectRestore:Post", "ObjectRestore:Completed", "ObjectRestore:Delete",
		"ReducedRedundancyLostObject",
		"Replication:*", "Replication:OperationFailedReplication", "Replication:OperationMissedThreshold",
		"Replication:OperationReplicatedAfterThreshold", "Replication:OperationNotTracked",
		"LifecycleExpiration:*", "LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated",
		"LifecycleTransition", "IntelligentTiering",
		"ObjectTagging:*", "ObjectTagging:Put", "ObjectTagging:Delete",
		"ObjectAcl:Put",
	} {
		knownEventTypes["s3:"+t] = true
	}
}

// parseNotification reads a PutBucketNotificationConfiguration body and
// checks it as S3 does: known event types, at most one prefix and one suffix
// rule per entry, and no two entries that overlap on both event type and key
// filter. queueExists says whether a queue target can be delivered to.
func parseNotification(body io.Reader, queueExists func(arn string) bool) (*notificationDoc, error) {
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
			if !knownEventTypes[ev] {
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
			if overlaps(o, e) {
				return nil, badRequest("InvalidArgument", "Configurations overlap. Configurations on the same bucket cannot share a common event type. (%s and %s)", label(o), label(e))
			}
		}
	}
	for _, q := range doc.Queues {
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

// overlaps follows S3: two entries conflict when some event type is covered
// by both and their prefixes and suffixes can match the same key.
func overlaps(a, b notificationEntry) bool {
	shared := false
	for _, x := range a.Events {
		for _, y := range b.Events {
			x, y := strings.TrimPrefix(x, "s3:"), strings.TrimPrefix(y, "s3:")
			if eventTypeCovers(x, y) || eventTypeCovers(y, x) {
				shared = true
			}
		}
	}
	if !shared {
		return false
	}
	ap, as := a.keyFilter()
	bp, bs := b.keyFilter()
	prefixes := strings.HasPrefix(ap, bp) || strings.HasPrefix(bp, ap)
	suffixes := strings.HasSuffix(as, bs) || strings.HasSuffix(bs, as)
	return prefixes && suffixes
}

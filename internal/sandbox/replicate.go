package sandbox

import (
	"context"
	"crypto/md5"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/replaudit/replaudit/internal/replication"
)

// onWrite is the store's hook: it announces the write and starts
// replicating it.
func (sb *Sandbox) onWrite(w write) {
	sb.notify(w.bucket, w.region, recordOf(w))
	if w.version.replica() {
		return // replicas are never replicated again
	}
	doc := sb.store.replicationDoc(w.bucket)
	if doc == nil {
		return
	}
	var rules []replication.Rule
	switch w.eventName {
	case "ObjectRemoved:DeleteMarkerCreated":
		for _, r := range doc.cfg.Match(w.version.key, nil) {
			if r.DeleteMarkerReplication {
				rules = append(rules, r)
			}
		}
	case "ObjectRemoved:Delete":
		return // version deletes are never replicated
	default:
		rules = doc.cfg.Match(w.version.key, w.version.tags)
	}
	if len(rules) == 0 {
		return
	}
	if !w.version.deleteMarker {
		dests := map[string]string{}
		for _, r := range rules {
			dests[r.Destination.Bucket()] = replication.StatusPending
		}
		sb.store.setStatus(w.bucket, w.version.key, w.version.id, dests)
	}
	requested := sb.now()
	for _, r := range rules {
		sb.spawn(func() { sb.replicateTo(sb.ctx, w, r, requested, false) })
	}
}

// replicateTo copies one version to one rule's destination, honouring the
// faults injected on that destination. A redrive, like S3 Batch
// Replication, is outside Replication Time Control: it raises no threshold
// events. It returns the failure reason, "" when the copy landed, and
// finished false when it gave up because the sandbox is closing.
func (sb *Sandbox) replicateTo(ctx context.Context, w write, rule replication.Rule, requested time.Time, redrive bool) (reason string, finished bool) {
	dst := rule.Destination.Bucket()
	delay := sb.opts.ReplicationDelay
	if f, ok, _ := sb.faults.get(dst, FaultLatency); ok {
		delay += time.Duration(f.Millis) * time.Millisecond
	}
	var threshold <-chan time.Time
	if rule.ReplicationTime && !w.version.deleteMarker && !redrive {
		t := time.NewTimer(sb.opts.ReplicationThreshold)
		defer t.Stop()
		threshold = t.C
	}
	missed := false
	wait := func(d time.Duration, changed <-chan struct{}) bool {
		timer := time.NewTimer(d)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
				return true
			case <-changed:
				return true
			case <-threshold:
				threshold = nil
				missed = true
				sb.notifyReplication(w, rule, "Replication:OperationMissedThreshold", "", requested)
			}
		}
	}
	if !wait(delay, nil) {
		return "", false
	}
	for {
		if _, ok, changed := sb.faults.get(dst, FaultOutage); ok {
			if !wait(time.Hour, changed) {
				return "", false
			}
			continue
		}
		break
	}
	src := w.version
	if _, ok, _ := sb.faults.get(dst, FaultTamper); ok && !src.deleteMarker {
		src.body = append(append([]byte{}, src.body...), "(tampered)"...)
		sum := md5.Sum(src.body)
		src.hash, src.etag = sum[:], ""
	}
	if f, ok, _ := sb.faults.get(dst, FaultDeny); ok {
		reason = f.Reason
	} else {
		reason = sb.store.putReplica(dst, w.bucket, src, rule.Destination.StorageClass)
	}
	if reason == errSourceGone {
		return "SrcVersionNotFound", true // deleted since: nothing to record on it
	}
	if w.version.deleteMarker {
		return reason, true // delete markers carry no replication status
	}
	if reason != "" {
		sb.store.setDestStatus(w.bucket, w.version.key, w.version.id, dst, replication.StatusFailed)
		if rule.Metrics {
			sb.notifyReplication(w, rule, "Replication:OperationFailedReplication", reason, requested)
		}
		return reason, true
	}
	sb.store.setDestStatus(w.bucket, w.version.key, w.version.id, dst, replication.StatusCompleted)
	if missed {
		sb.notifyReplication(w, rule, "Replication:OperationReplicatedAfterThreshold", "", requested)
	}
	return "", true
}

// errSourceGone is putReplica's answer when the source version was deleted
// before it could be copied.
const errSourceGone = "source-gone"

func (sb *Sandbox) notifyReplication(w write, rule replication.Rule, event, reason string, requested time.Time) {
	rec := recordOf(w)
	rec.EventTime = sb.now().UTC().Format("2006-01-02T15:04:05.000Z")
	rec.EventName = event
	rec.EventVersion = "2.2"
	rec.UserIdentity.PrincipalID = "s3.amazonaws.com"
	rec.RequestParameters.SourceIPAddress = "s3.amazonaws.com"
	rec.ReplicationEventData = &replicationEventData{
		ReplicationRuleID: rule.ID,
		DestinationBucket: rule.Destination.BucketARN,
		S3Operation:       "OBJECT_PUT",
		RequestTime:       requested.UTC().Format("2006-01-02T15:04:05.000Z"),
		FailureReason:     reason,
	}
	sb.notify(w.bucket, w.region, rec)
}

// setStatus marks a source version PENDING towards each destination.
func (s *store) setStatus(bucketName, key, id string, dests map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucketName]; b != nil {
		if v := b.find(key, id); v != nil {
			v.dests = dests
			v.status = replication.StatusPending
		}
	}
}

// setDestStatus records one destination's outcome. The source is FAILED when
// any destination failed, COMPLETED when all completed, PENDING otherwise.
func (s *store) setDestStatus(bucketName, key, id, dst, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return
	}
	v := b.find(key, id)
	if v == nil || v.dests == nil {
		return
	}
	v.setDest(dst, status)
}

// setDest records one destination's status and recomputes the source's.
func (v *version) setDest(dst, status string) {
	v.dests[dst] = status
	overall := replication.StatusCompleted
	for _, st := range v.dests {
		switch {
		case st == replication.StatusFailed:
			overall = replication.StatusFailed
		case st == replication.StatusPending && overall != replication.StatusFailed:
			overall = replication.StatusPending
		}
	}
	v.status = overall
}

// putReplica writes a replica of src into dst with the source's version id
// and LastModified. It returns a failure reason as S3 names them, or "".
func (s *store) putReplica(dstName, srcName string, src version, storageClass string) string {
	s.mu.Lock()
	b := s.buckets[dstName]
	switch {
	case b == nil:
		s.mu.Unlock()
		return "DstBucketNotFound"
	case b.versioning != gofakes3.VersioningEnabled:
		s.mu.Unlock()
		return "DstBucketUnversioned"
	}
	if sb := s.buckets[srcName]; sb == nil || sb.find(src.key, src.id) == nil {
		s.mu.Unlock()
		return errSourceGone
	}
	meta := make(map[string]string, len(src.meta)+1)
	for k, v := range src.meta {
		meta[k] = v
	}
	if storageClass != "" {
		meta["X-Amz-Storage-Class"] = storageClass
	}
	rep := &version{
		key: src.key, id: src.id, body: src.body, hash: src.hash, etag: src.etag, meta: meta, tags: src.tags,
		lastModified: src.lastModified, deleteMarker: src.deleteMarker, isReplica: true,
	}
	if !src.deleteMarker {
		rep.status = replication.StatusReplica
	}
	s.put(b, rep)
	// Keep versions in LastModified order: a late replica is not the newest.
	vs := b.keys[src.key]
	for i := len(vs) - 1; i > 0 && vs[i].lastModified.Before(vs[i-1].lastModified); i-- {
		vs[i], vs[i-1] = vs[i-1], vs[i]
	}
	w := write{bucket: b.name, region: b.region, eventName: "ObjectCreated:Put", version: *rep, sequencer: s.nextSequencer()}
	if src.deleteMarker {
		w.eventName = "ObjectRemoved:DeleteMarkerCreated"
	}
	s.mu.Unlock()
	s.onWrite(w)
	return ""
}

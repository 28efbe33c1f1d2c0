package sandbox

import (
	"fmt"

	"github.com/replaudit/replaudit/internal/replication"
)

// Redrive stands in for an S3 Batch Replication job whose manifest is every
// version of bucket whose replication FAILED. It replicates each current or
// noncurrent version again, to each destination it failed towards and only
// to those, through the same path as live replication, so the faults in
// force then apply. The source goes back to PENDING while they run, then to
// COMPLETED or FAILED as usual. As with Batch Replication, the source raises
// no ObjectCreated event; the replica written in the destination does, as
// any replica does. A destination that no rule of the current configuration
// names any more is left FAILED.
//
// Redrive returns how many (version, destination) pairs it started, and an
// error when the bucket does not exist or has no replication configuration.
func (sb *Sandbox) Redrive(bucket string) (int, error) {
	if _, ok := sb.store.bucketRegion(bucket); !ok {
		return 0, fmt.Errorf("redrive %s: the bucket does not exist", bucket)
	}
	doc := sb.store.replicationDoc(bucket)
	if doc == nil {
		return 0, fmt.Errorf("redrive %s: the bucket has no replication configuration", bucket)
	}
	return sb.replicateAgain(sb.store.takeFailed(bucket, doc.cfg), nil), nil
}

// redriveJob is one version to replicate again to one rule's destination.
type redriveJob struct {
	write write
	rule  replication.Rule
}

// replicateAgain replicates each (version, destination) pair in the
// background through live replication's path, as S3 Batch Replication
// does: the faults in force apply, statuses move as usual, and no
// Replication Time Control event is raised. When done is not nil it gets
// each pair's outcome: the failure reason, "" on success, and finished
// false when the sandbox closed first. It returns how many pairs it
// started: none once the sandbox is closing.
func (sb *Sandbox) replicateAgain(jobs []redriveJob, done func(j redriveJob, reason string, finished bool)) int {
	requested := sb.now()
	started := 0
	for _, j := range jobs {
		if !sb.spawn(func() {
			reason, finished := sb.replicateTo(sb.ctx, j.write, j.rule, requested, true)
			if done != nil {
				done(j, reason, finished)
			}
		}) {
			break // the sandbox is closing
		}
		started++
	}
	return started
}

// takeFailed finds, in one step, every version of a bucket whose
// replication failed towards a destination that a rule of cfg still names
// for it, and marks it PENDING again towards that destination, so that two
// redrives never start the same pair twice.
func (s *store) takeFailed(bucketName string, cfg replication.Config) []redriveJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	var jobs []redriveJob
	for _, key := range b.sortedKeys() {
		for _, v := range b.keys[key] {
			if v.deleteMarker || v.isReplica || v.dests == nil {
				continue
			}
			for _, rule := range cfg.Match(v.key, v.tags) {
				if v.dests[rule.Destination.Bucket()] == replication.StatusFailed {
					jobs = append(jobs, s.redriveLocked(b, v, rule))
				}
			}
		}
	}
	return jobs
}

// redriveLocked marks a version PENDING towards a rule's destination (a
// delete marker carries no status) and returns the pair to replicate. The
// caller holds the store's lock.
func (s *store) redriveLocked(b *bucket, v *version, rule replication.Rule) redriveJob {
	if !v.deleteMarker {
		if v.dests == nil {
			v.dests = map[string]string{}
		}
		v.setDest(rule.Destination.Bucket(), replication.StatusPending)
	}
	event := "ObjectCreated:Put"
	if v.deleteMarker {
		event = "ObjectRemoved:DeleteMarkerCreated"
	}
	return redriveJob{
		write: write{bucket: b.name, region: b.region, eventName: event, version: *v, sequencer: s.nextSequencer()},
		rule:  rule,
	}
}

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
	jobs := sb.store.takeFailed(bucket, doc.cfg)
	requested := sb.now()
	started := 0
	for _, j := range jobs {
		if !sb.spawn(func() { sb.replicateTo(sb.ctx, j.write, j.rule, requested, true) }) {
			break // the sandbox is closing
		}
		started++
	}
	return started, nil
}

// redriveJob is one version to replicate again to one rule's destination.
type redriveJob struct {
	write write
	rule  replication.Rule
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
				dst := rule.Destination.Bucket()
				if v.dests[dst] != replication.StatusFailed {
					continue
				}
				v.setDest(dst, replication.StatusPending)
				jobs = append(jobs, redriveJob{
					write: write{bucket: b.name, region: b.region, eventName: "ObjectCreated:Put", version: *v, sequencer: s.nextSequencer()},
					rule:  rule,
				})
			}
		}
	}
	return jobs
}

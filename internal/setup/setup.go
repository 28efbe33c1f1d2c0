package setup

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// S3 holds the S3 calls the setup makes.
type S3 interface {
	CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	PutBucketPolicy(context.Context, *s3.PutBucketPolicyInput, ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	PutBucketVersioning(context.Context, *s3.PutBucketVersioningInput, ...func(*s3.Options)) (*s3.PutBucketVersioningOutput, error)
	GetBucketReplication(context.Context, *s3.GetBucketReplicationInput, ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)
	PutBucketReplication(context.Context, *s3.PutBucketReplicationInput, ...func(*s3.Options)) (*s3.PutBucketReplicationOutput, error)
	DeleteBucketReplication(context.Context, *s3.DeleteBucketReplicationInput, ...func(*s3.Options)) (*s3.DeleteBucketReplicationOutput, error)
	GetBucketNotificationConfiguration(context.Context, *s3.GetBucketNotificationConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketNotificationConfigurationOutput, error)
	PutBucketNotificationConfiguration(context.Context, *s3.PutBucketNotificationConfigurationInput, ...func(*s3.Options)) (*s3.PutBucketNotificationConfigurationOutput, error)
	GetBucketInventoryConfiguration(context.Context, *s3.GetBucketInventoryConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketInventoryConfigurationOutput, error)
	PutBucketInventoryConfiguration(context.Context, *s3.PutBucketInventoryConfigurationInput, ...func(*s3.Options)) (*s3.PutBucketInventoryConfigurationOutput, error)
	DeleteBucketInventoryConfiguration(context.Context, *s3.DeleteBucketInventoryConfigurationInput, ...func(*s3.Options)) (*s3.DeleteBucketInventoryConfigurationOutput, error)
}

// Clients returns the S3 client for a region. Buckets must be addressed in
// their own region.
type Clients func(region string) S3

// Setup turns replication on for existing buckets, and off again, as the
// Custom::S3Replication resource.
type Setup struct {
	clients  Clients
	regions  *bucketregion.Locator
	evidence Evidence
	scope    *Scope // nil: any bucket
	identity STS    // nil: an adopted role goes unchecked
	roles    IAM
	log      *slog.Logger
}

// Evidence records what the resource did, for auditors.
type Evidence interface {
	RecordConfig(context.Context, ledger.ConfigChange) error
}

// WithEvidence makes the setup record each Create, Update and Delete, and
// the rules written, through e.
func (s *Setup) WithEvidence(e Evidence) *Setup {
	s.evidence = e
	return s
}

// record keeps the outcome of a request as evidence. A failure to record is
// logged, never allowed to fail the stack operation.
func (s *Setup) record(ctx context.Context, ev cfn.Event, source, id string, rules []types.ReplicationRule, err error) {
	if s.evidence == nil || source == "" {
		return
	}
	c := ledger.ConfigChange{Bucket: source, RequestType: string(ev.RequestType), Status: "SUCCESS",
		StackID: ev.StackID, PhysicalID: id, At: time.Now().UTC()}
	if err != nil {
		c.Status, c.Reason = "FAILED", err.Error()
	}
	for _, r := range rules {
		c.RuleIDs = append(c.RuleIDs, aws.ToString(r.ID))
	}
	if len(rules) > 0 {
		b, _ := json.Marshal(rules)
		c.Rules = string(b)
	}
	if rerr := s.evidence.RecordConfig(ctx, c); rerr != nil {
		s.log.Error("configuration evidence not recorded", "sourceBucket", source, "error", rerr)
	}
}

// New returns a Setup.
func New(clients Clients, regions *bucketregion.Locator, log *slog.Logger) (*Setup, error) {
	if clients == nil || regions == nil {
		return nil, errors.New("setup: S3 clients and a bucket locator are required")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Setup{clients: clients, regions: regions, log: log}, nil
}

// owner identifies what one resource of one stack owns: the rule IDs and
// notification entry IDs it writes all start with it.
func owner(ev cfn.Event) string { return Owner(ev.StackID, ev.LogicalResourceID) }

// Owner is what the Custom::S3Replication resource logicalID of stack
// stackID owns: every rule and notification entry ID it writes starts with
// it. The audit functions derive the stack's rule IDs from it (RuleID).
func Owner(stackID, logicalID string) string {
	sum := sha256.Sum256([]byte(stackID + "/" + logicalID))
	return "replaudit-" + hex.EncodeToString(sum[:])[:10]
}

// RuleID is the ID of the rule an owner writes for a destination bucket.
func RuleID(owner, destination string) string { return owner + "-" + destination }

// physicalID is stable for a source bucket, so that only a new source makes
// CloudFormation replace (and delete) the resource.
func physicalID(ev cfn.Event, p Properties) string {
	return owner(ev) + ":" + p.SourceBucket
}

// Handle is the cfn.CustomResourceFunction for Custom::S3Replication.
func (s *Setup) Handle(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	log := s.log.With("requestType", ev.RequestType, "logicalId", ev.LogicalResourceID, "physicalId", ev.PhysicalResourceID)
	if s.scope == nil {
		log.Warn("no scope: this setup configures whatever bucket a request names; a deployed function sets SOURCE_BUCKETS")
	}
	if ev.RequestType == cfn.RequestDelete {
		source := deleteSource(ev)
		if source == "" {
			// Nothing was ever applied without a source bucket.
			log.Warn("delete names no source bucket: nothing to remove")
			return ev.PhysicalResourceID, nil, nil
		}
		if why := s.scope.keeps(ev, source); why != "" {
			// Success all the same: a Delete that fails can wedge the stack
			// (a refused Create is followed by one), and this one changes
			// nothing.
			log.Warn("delete leaves the bucket untouched", "sourceBucket", source, "stackId", ev.StackID, "why", why)
			return ev.PhysicalResourceID, nil, nil
		}
		err := s.remove(ctx, owner(ev), source)
		if p, perr := ParseProperties(ev.ResourceProperties); err == nil && perr == nil && p.SourceBucket == source {
			err = s.removeDestinationInventory(ctx, owner(ev), p)
		}
		if err == nil {
			log.Info("removed", "sourceBucket", source)
		}
		if code(err) == "AccessDenied" && s.scope != nil && !slices.Contains(s.scope.Sources, source) {
			// The stack moved to another source, and its role may no longer
			// configure this one: a failed cleanup would not bring it back.
			log.Error("the stack's rules and notification entries stay on its former source: this function may configure only its current sources; remove them by hand",
				"sourceBucket", source, "ruleIdPrefix", owner(ev)+"-", "notificationIdPrefix", owner(ev), "error", err)
			s.record(ctx, ev, source, ev.PhysicalResourceID, nil, err)
			return ev.PhysicalResourceID, nil, nil
		}
		s.record(ctx, ev, source, ev.PhysicalResourceID, nil, err)
		return ev.PhysicalResourceID, nil, err
	}
	p, err := ParseProperties(ev.ResourceProperties)
	var confirmOnly error
	if p.SourceBucket != "" {
		// Before any other problem: a bucket outside the scope is not
		// this function's to discuss.
		var refused error
		if confirmOnly, refused = s.scope.admit(ev, p.SourceBucket); refused != nil {
			return ev.PhysicalResourceID, nil, refused
		}
	}
	if err != nil {
		return ev.PhysicalResourceID, nil, err
	}
	return s.update(ctx, log, ev, p, confirmOnly)
}

// update brings a Create or Update about, and records it.
func (s *Setup) update(ctx context.Context, log *slog.Logger, ev cfn.Event, p Properties, confirmOnly error) (string, map[string]any, error) {
	id := physicalID(ev, p)
	hadQueue := false
	if old, ok := ev.OldResourceProperties["NotificationQueueArn"].(string); ok && old != "" {
		hadQueue = true
	}
	data, err := s.apply(ctx, ev, p, hadQueue, confirmOnly)
	var written []types.ReplicationRule
	for _, r := range desiredRules(owner(ev), p) {
		x := r.ToSDK()
		x.Priority = nil // chosen when merging; the bucket's configuration has it
		written = append(written, x)
	}
	s.record(ctx, ev, p.SourceBucket, id, written, err)
	if err != nil {
		if ev.RequestType == cfn.RequestUpdate && ev.PhysicalResourceID != "" && id != ev.PhysicalResourceID {
			// A failed move to a new source: CloudFormation rolls back to the
			// old id and never deletes this one, so undo what was written.
			// A request that could only confirm wrote nothing to undo.
			if confirmOnly == nil {
				if cerr := s.remove(ctx, owner(ev), p.SourceBucket); cerr != nil {
					log.Error("undo a failed update on the new source", "sourceBucket", p.SourceBucket, "error", cerr)
				}
			}
			return ev.PhysicalResourceID, nil, err
		}
		return id, nil, err
	}
	log.Info("applied", "sourceBucket", p.SourceBucket, "rules", data["RuleIds"])
	return id, data, nil
}

// deleteSource names the bucket a Delete removes from. Removal needs only
// the source, so properties that no longer pass validation (a stricter
// newer version, say) still get cleaned up.
func deleteSource(ev cfn.Event) string {
	if p, err := ParseProperties(ev.ResourceProperties); err == nil {
		return p.SourceBucket
	}
	if b, ok := ev.ResourceProperties["SourceBucket"].(string); ok && bucketName.MatchString(b) {
		return b
	}
	if own, b, ok := strings.Cut(ev.PhysicalResourceID, ":"); ok && own == owner(ev) && bucketName.MatchString(b) {
		return b
	}
	return ""
}

// located is a bucket and its region.
type located struct {
	bucket, region string
	exists         bool
}

func (s *Setup) locate(ctx context.Context, bucket string) (located, error) {
	region, err := s.regions.Region(ctx, bucket)
	if errors.Is(err, bucketregion.ErrNoSuchBucket) {
		return located{bucket: bucket}, nil
	}
	if err != nil {
		return located{}, err
	}
	return located{bucket: bucket, region: region, exists: true}, nil
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// apply brings the buckets to the state the properties describe, touching
// only what this resource owns. It makes no write until every check passed
// and every write is planned. With confirmOnly set, a request that would
// write anything returns confirmOnly instead.
func (s *Setup) apply(ctx context.Context, ev cfn.Event, p Properties, hadQueue bool, confirmOnly error) (map[string]any, error) {
	own := owner(ev)
	problems := accountProblems(p, ev.StackID)
	src, err := s.locate(ctx, p.SourceBucket)
	if err != nil {
		return nil, err
	}
	if !src.exists {
		problems = append(problems, fmt.Sprintf("SourceBucket %q does not exist, or this account cannot see it.", p.SourceBucket))
	}
	if p.NotificationQueueArn != "" && src.exists && queueRegion(p.NotificationQueueArn) != src.region {
		problems = append(problems, fmt.Sprintf("NotificationQueueArn is in %s but SourceBucket %s is in %s: S3 notifies only queues in the bucket's region.",
			queueRegion(p.NotificationQueueArn), p.SourceBucket, src.region))
	}
	if p.Inventory != nil {
		inv, err := s.locate(ctx, p.Inventory.Bucket)
		if err != nil {
			return nil, err
		}
		switch {
		case !inv.exists:
			problems = append(problems, fmt.Sprintf("Inventory.Bucket %q does not exist, or this account cannot see it.", p.Inventory.Bucket))
		case src.exists && inv.region != src.region:
			problems = append(problems, fmt.Sprintf("Inventory.Bucket %s is in %s but SourceBucket %s is in %s: S3 Inventory delivers only to a bucket in the source's region.",
				p.Inventory.Bucket, inv.region, p.SourceBucket, src.region))
		}
	}
	dsts := make([]located, len(p.Destinations))
	var notesText []string
	for i, d := range p.Destinations {
		label := fmt.Sprintf("Destinations[%d]", i)
		loc, err := s.locate(ctx, d.Bucket)
		if err != nil {
			return nil, err
		}
		switch {
		case !loc.exists && !d.CreateIfMissing:
			problems = append(problems, fmt.Sprintf("%s.Bucket %q does not exist: create it, or set CreateIfMissing to true.", label, d.Bucket))
		case !loc.exists:
			loc.region = d.Region
		case d.Region != "" && d.Region != loc.region:
			problems = append(problems, fmt.Sprintf("%s.Region says %s but bucket %s is in %s.", label, d.Region, d.Bucket, loc.region))
		}
		if k := arnRegion(d.ReplicaKmsKeyArn); k != "" && loc.region != "" && k != loc.region {
			problems = append(problems, fmt.Sprintf("%s.ReplicaKmsKeyArn is in %s but bucket %s is in %s: S3 encrypts replicas only with a key in the destination's region.",
				label, k, d.Bucket, loc.region))
		}
		if src.exists && loc.region == src.region {
			notesText = append(notesText, fmt.Sprintf("%s is in %s like the source: this is same-region replication.", d.Bucket, src.region))
		}
		dsts[i] = loc
	}
	if inv := p.Inventory; inv != nil && inv.DestinationBucket != "" && len(dsts) == 1 {
		loc, err := s.locate(ctx, inv.DestinationBucket)
		if err != nil {
			return nil, err
		}
		switch {
		case !loc.exists:
			problems = append(problems, fmt.Sprintf("Inventory.DestinationBucket %q does not exist, or this account cannot see it.", inv.DestinationBucket))
		case dsts[0].region != "" && loc.region != dsts[0].region:
			problems = append(problems, fmt.Sprintf("Inventory.DestinationBucket %s is in %s but the destination %s is in %s: S3 Inventory delivers only to a bucket in the inventoried bucket's region.",
				inv.DestinationBucket, loc.region, p.Destinations[0].Bucket, dsts[0].region))
		}
	}
	if len(problems) > 0 {
		return nil, &InvalidError{Problems: problems}
	}

	var w writes
	if p.NotificationQueueArn != "" || hadQueue {
		if w.notes, err = s.planNotifications(ctx, own, p.NotificationQueueArn, p.Prefix, src); err != nil {
			return nil, err
		}
	}
	if w.inventory, err = s.planInventory(ctx, own, p, src); err != nil {
		return nil, err
	}
	if w.destinationInventories, err = s.planDestinationInventories(ctx, ev, own, p, dsts); err != nil {
		return nil, err
	}
	for i, d := range p.Destinations {
		if d.CreateIfMissing {
			// Also on retries: a create that failed half way is finished here.
			sp, err := s.planSecure(ctx, d, dsts[i])
			if err != nil {
				return nil, err
			}
			w.destinations = append(w.destinations, sp)
		}
	}
	for _, b := range append([]located{src}, dsts...) {
		on, err := s.versioned(ctx, b)
		if err != nil {
			return nil, err
		}
		if !on {
			w.versioning = append(w.versioning, b)
		}
	}
	if w.rules, err = s.planRules(ctx, own, p, src); err != nil {
		return nil, err
	}
	if w.rules.adopted {
		problems, note, err := s.checkAdoptedRole(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return nil, &InvalidError{Problems: problems}
		}
		notesText = append(notesText, note)
	}
	for i, d := range p.Destinations {
		if !dsts[i].exists {
			notesText = append(notesText, fmt.Sprintf("Created %s in %s; it is kept when the stack is deleted.", d.Bucket, d.Region))
		}
	}
	data := responseData(p, src, dsts, w.rules.ids, notesText)
	if p.Inventory != nil {
		data["InventoryConfigurationId"] = inventoryID(own)
		if p.Inventory.DestinationBucket != "" {
			data["DestinationInventoryConfigurationId"] = DestinationInventoryID(own)
		}
	}
	if b, _ := json.Marshal(data); len(b) > maxData {
		return nil, fmt.Errorf("too many destinations: %d make a response of %d bytes, over what CloudFormation accepts; split them over several resources", len(p.Destinations), len(b))
	}
	if confirmOnly != nil && !w.none() {
		return nil, confirmOnly
	}

	// Every check passed: write.
	if err := w.write(ctx, s); err != nil {
		return nil, err
	}
	return data, nil
}

// writes are what a request changes, in the order it changes them. The
// notification configuration goes first: S3 checks its queue (exists,
// lets S3 send) only when it is written, and nothing else should be
// written when that check fails. Versioning, which cannot be turned off
// again, and the rules, which need it, go last.
type writes struct {
	notes     notificationsPlan
	inventory inventoryPlan
	// destinationInventories: the destination's, and the one an update
	// leaves behind on a former destination.
	destinationInventories []inventoryPlan
	destinations           []securePlan
	versioning             []located
	rules                  rulesPlan
}

func (w writes) none() bool {
	if w.notes.next != nil || w.inventory.next != nil || w.inventory.delete || len(w.versioning) > 0 || w.rules.next != nil {
		return false
	}
	for _, d := range w.destinations {
		if !d.none() {
			return false
		}
	}
	for _, d := range w.destinationInventories {
		if !d.none() {
			return false
		}
	}
	return true
}

func (w writes) write(ctx context.Context, s *Setup) error {
	if err := w.notes.write(ctx); err != nil {
		return err
	}
	if err := w.inventory.write(ctx); err != nil {
		return err
	}
	for _, d := range w.destinations {
		if err := d.write(ctx, s); err != nil {
			return err
		}
	}
	// After a destination created here exists.
	for _, d := range w.destinationInventories {
		if err := d.write(ctx); err != nil {
			return err
		}
	}
	for _, b := range w.versioning {
		if err := s.enableVersioning(ctx, b); err != nil {
			return err
		}
	}
	return w.rules.write(ctx)
}

// maxData keeps the response's Data well inside CloudFormation's 4096
// bytes, with room for the ids and status around it.
const maxData = 3000

func responseData(p Properties, src located, dsts []located, ids, notes []string) map[string]any {
	arns := make([]string, len(p.Destinations))
	kinds := make([]string, len(p.Destinations))
	for i, d := range p.Destinations {
		arns[i] = replication.BucketARN(d.Bucket)
		kinds[i] = "cross-region"
		if cmp.Or(dsts[i].region, d.Region) == src.region {
			kinds[i] = "same-region"
		}
	}
	data := map[string]any{
		"SourceBucketArn":       replication.BucketARN(p.SourceBucket),
		"DestinationBucketArns": strings.Join(arns, ","),
		"RuleIds":               strings.Join(ids, ","),
		"ReplicationKinds":      strings.Join(kinds, ","),
	}
	if len(notes) > 0 {
		data["Notes"] = strings.Join(notes, " ")
	}
	return data
}

// versioned reports whether a bucket has versioning Enabled; a bucket
// still to be created has not.
func (s *Setup) versioned(ctx context.Context, b located) (bool, error) {
	if !b.exists {
		return false, nil
	}
	out, err := s.clients(b.region).GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.bucket)})
	if err != nil {
		return false, fmt.Errorf("read versioning of %s: %w", b.bucket, err)
	}
	return out.Status == types.BucketVersioningStatusEnabled, nil
}

func (s *Setup) enableVersioning(ctx context.Context, b located) error {
	_, err := s.clients(b.region).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(b.bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("enable versioning on %s: %w", b.bucket, err)
	}
	return nil
}

// securePlan is what a destination the resource may create still needs:
// the bucket itself, its public access block, its TLS-only policy.
type securePlan struct {
	d                     Destination
	region                string
	create, block, policy bool
}

func (sp securePlan) none() bool { return !sp.create && !sp.block && !sp.policy }

// planSecure reads what a CreateIfMissing destination lacks. A bucket
// policy someone else wrote is left alone.
func (s *Setup) planSecure(ctx context.Context, d Destination, loc located) (securePlan, error) {
	sp := securePlan{d: d, region: cmp.Or(loc.region, d.Region)}
	if !loc.exists {
		sp.create, sp.block, sp.policy = true, true, true
		return sp, nil
	}
	c := s.clients(sp.region)
	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(d.Bucket)})
	if err != nil && code(err) != "NoSuchPublicAccessBlockConfiguration" {
		return sp, fmt.Errorf("read the public access block of %s: %w", d.Bucket, err)
	}
	sp.block = err != nil || pab.PublicAccessBlockConfiguration == nil ||
		!aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicAcls) || !aws.ToBool(pab.PublicAccessBlockConfiguration.IgnorePublicAcls) ||
		!aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicPolicy) || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets)
	_, err = c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(d.Bucket)})
	switch {
	case err == nil:
		// A policy exists: ours from an earlier run, or the owner's.
	case code(err) == "NoSuchBucketPolicy":
		sp.policy = true
	default:
		return sp, fmt.Errorf("read the policy of %s: %w", d.Bucket, err)
	}
	return sp, nil
}

// write creates a missing destination bucket, blocks public access to it
// and makes it refuse requests without TLS, as planned.
func (sp securePlan) write(ctx context.Context, s *Setup) error {
	c := s.clients(sp.region)
	if sp.create {
		in := &s3.CreateBucketInput{Bucket: aws.String(sp.d.Bucket)}
		if sp.region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(sp.region)}
		}
		if _, err := c.CreateBucket(ctx, in); err != nil && code(err) != "BucketAlreadyOwnedByYou" {
			return fmt.Errorf("create destination bucket %s in %s: %w", sp.d.Bucket, sp.region, err)
		}
	}
	if sp.block {
		_, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
			Bucket: aws.String(sp.d.Bucket),
			PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
				BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
				BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
			},
		})
		if err != nil {
			return fmt.Errorf("block public access on %s: %w", sp.d.Bucket, err)
		}
	}
	if sp.policy {
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(sp.d.Bucket), Policy: aws.String(tlsOnlyPolicy(sp.d.Bucket))}); err != nil {
			return fmt.Errorf("put TLS-only policy on %s: %w", sp.d.Bucket, err)
		}
	}
	return nil
}

func tlsOnlyPolicy(bucket string) string {
	arn := replication.BucketARN(bucket)
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":[%q,%q],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, arn, arn+"/*")
}

// desiredRules are this resource's rules, one per destination.
func desiredRules(own string, p Properties) []replication.Rule {
	out := make([]replication.Rule, len(p.Destinations))
	for i, d := range p.Destinations {
		out[i] = replication.Rule{
			ID:      RuleID(own, d.Bucket),
			Enabled: true,
			Filter:  replication.Filter{Prefix: p.Prefix, Tags: p.Tags},
			Destination: replication.Destination{
				BucketARN: replication.BucketARN(d.Bucket), Account: d.Account, StorageClass: d.StorageClass,
				ReplicaKmsKeyID: d.ReplicaKmsKeyArn, OwnerOverride: d.Account != "",
			},
			DeleteMarkerReplication: p.DeleteMarkerReplication,
			ReplicationTime:         p.ReplicationTimeControl,
			Metrics:                 p.Metrics,
			SseKmsEncryptedObjects:  p.ReplicateSseKmsObjects,
		}
	}
	return out
}

func (s *Setup) readRules(ctx context.Context, c S3, bucket string) (*types.ReplicationConfiguration, error) {
	out, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	if code(err) == "ReplicationConfigurationNotFoundError" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read replication configuration of %s: %w", bucket, err)
	}
	return out.ReplicationConfiguration, nil
}

// split separates the rules this resource owns from everyone else's.
func split(own string, cfg *types.ReplicationConfiguration) (foreign, mine []types.ReplicationRule) {
	if cfg == nil {
		return nil, nil
	}
	for _, r := range cfg.Rules {
		if strings.HasPrefix(aws.ToString(r.ID), own+"-") {
			mine = append(mine, r)
		} else {
			foreign = append(foreign, r)
		}
	}
	return foreign, mine
}

// rulesPlan is a replication configuration to write, or nil when the
// bucket already holds it.
type rulesPlan struct {
	c      S3
	bucket string
	next   *types.ReplicationConfiguration
	ids    []string
	// adopted: the source replicates rules of others with RoleArn, so
	// the role is not one the stack made for these rules alone.
	adopted bool
}

func (r rulesPlan) write(ctx context.Context) error {
	if r.next == nil {
		return nil
	}
	_, err := r.c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(r.bucket), ReplicationConfiguration: r.next})
	if err != nil {
		return fmt.Errorf("write replication configuration of %s: %w", r.bucket, err)
	}
	return nil
}

// planRules merges this resource's rules into the source's configuration by
// rule ID, keeping every other rule as it is.
func (s *Setup) planRules(ctx context.Context, own string, p Properties, src located) (rulesPlan, error) {
	c := s.clients(src.region)
	current, err := s.readRules(ctx, c, p.SourceBucket)
	if err != nil {
		return rulesPlan{}, err
	}
	foreign, mine := split(own, current)
	role := p.RoleArn
	if len(foreign) > 0 {
		if r := aws.ToString(current.Role); r != p.RoleArn {
			return rulesPlan{}, fmt.Errorf("SourceBucket %s already replicates %d rule(s) of its own with role %s; a bucket has one replication role, so RoleArn %s would change theirs. Set RoleArn to %s to adopt it (the stack's ExistingReplicationRoleArn), or move those rules first",
				p.SourceBucket, len(foreign), r, p.RoleArn, r)
		}
		for _, r := range foreign {
			//lint:ignore SA1019 the deprecated V1 Prefix is how a V1 rule shows itself
			if r.Filter == nil && r.Prefix != nil {
				return rulesPlan{}, fmt.Errorf("SourceBucket %s has rule %q in the old V1 schema (Prefix without Filter); S3 cannot mix it with the V2 rules replaudit writes. Rewrite it with a Filter first",
					p.SourceBucket, aws.ToString(r.ID))
			}
		}
	}
	// Keep the priorities this resource already holds when they are still
	// free; place new rules above every other rule's priority.
	used := map[int32]bool{}
	top := int32(0)
	for _, r := range foreign {
		used[aws.ToInt32(r.Priority)] = true
		top = max(top, aws.ToInt32(r.Priority))
	}
	held := map[string]int32{}
	for _, r := range mine {
		held[aws.ToString(r.ID)] = aws.ToInt32(r.Priority)
	}
	desired := desiredRules(own, p)
	for i := range desired {
		if pr, ok := held[desired[i].ID]; ok && pr > 0 && !used[pr] {
			desired[i].Priority = pr
			used[pr] = true
		}
	}
	for i := range desired {
		if desired[i].Priority == 0 {
			for top++; used[top]; top++ {
			}
			desired[i].Priority = top
			used[top] = true
		}
	}
	merged := &types.ReplicationConfiguration{Role: aws.String(role), Rules: append([]types.ReplicationRule{}, foreign...)}
	ids := make([]string, len(desired))
	for i, r := range desired {
		merged.Rules = append(merged.Rules, r.ToSDK())
		ids[i] = r.ID
	}
	model := replication.ConfigFromSDK(merged)
	if err := model.Validate(); err != nil {
		return rulesPlan{}, fmt.Errorf("the merged replication configuration of %s is not valid: %w", p.SourceBucket, err)
	}
	plan := rulesPlan{c: c, bucket: p.SourceBucket, ids: ids, adopted: len(foreign) > 0}
	if current == nil || !replication.ConfigFromSDK(current).Equal(model) {
		plan.next = merged
	}
	return plan, nil
}

// notificationEvents are the event types the auditor needs, one entry each.
var notificationEvents = []struct {
	suffix string
	event  types.Event
}{
	{"created", "s3:ObjectCreated:*"},
	{"removed", "s3:ObjectRemoved:*"},
	{"replication", "s3:Replication:*"},
}

func ownsEntry(own string, id *string) bool { return strings.HasPrefix(aws.ToString(id), own+"-") }

// notificationsPlan is a notification configuration to write, or nil when
// the bucket already holds it.
type notificationsPlan struct {
	c      S3
	bucket string
	next   *types.NotificationConfiguration
}

func (n notificationsPlan) write(ctx context.Context) error {
	if n.next == nil {
		return nil
	}
	_, err := n.c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(n.bucket), NotificationConfiguration: n.next})
	if err != nil {
		return fmt.Errorf("write notification configuration of %s: %w", n.bucket, err)
	}
	return nil
}

// planNotifications read-modify-writes the source's notification
// configuration: this resource's queue entries are replaced, every other
// entry and the EventBridge setting are kept. An overlap with another
// entry, which S3 would refuse, is reported by name.
func (s *Setup) planNotifications(ctx context.Context, own, queue, prefix string, src located) (notificationsPlan, error) {
	c := s.clients(src.region)
	plan := notificationsPlan{c: c, bucket: src.bucket}
	cur, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(src.bucket)})
	if err != nil {
		return plan, fmt.Errorf("read notification configuration of %s: %w", src.bucket, err)
	}
	next := &types.NotificationConfiguration{
		TopicConfigurations:          cur.TopicConfigurations,
		LambdaFunctionConfigurations: cur.LambdaFunctionConfigurations,
		EventBridgeConfiguration:     cur.EventBridgeConfiguration,
	}
	var before []types.QueueConfiguration
	for _, q := range cur.QueueConfigurations {
		if ownsEntry(own, q.Id) {
			before = append(before, q)
		} else {
			next.QueueConfigurations = append(next.QueueConfigurations, q)
		}
	}
	var mine []types.QueueConfiguration
	if queue != "" {
		for _, e := range notificationEvents {
			q := types.QueueConfiguration{Id: aws.String(own + "-" + e.suffix), QueueArn: aws.String(queue), Events: []types.Event{e.event}}
			if prefix != "" {
				q.Filter = &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String(prefix)}}}}
			}
			mine = append(mine, q)
		}
		if err := overlapError(src.bucket, own, mine, cur); err != nil {
			return plan, err
		}
	}
	if !sameQueues(before, mine) {
		next.QueueConfigurations = append(next.QueueConfigurations, mine...)
		plan.next = next
	}
	return plan, nil
}

// targets describes every entry of a configuration that this resource does
// not own, in s3events' terms.
func targets(own string, cur *s3.GetBucketNotificationConfigurationOutput) []s3events.Target {
	var out []s3events.Target
	add := func(id *string, arn string, evs []types.Event, f *types.NotificationConfigurationFilter) {
		if ownsEntry(own, id) {
			return
		}
		t := s3events.Target{ID: aws.ToString(id), ARN: arn}
		for _, e := range evs {
			t.Events = append(t.Events, string(e))
		}
		if f != nil && f.Key != nil {
			for _, r := range f.Key.FilterRules {
				switch strings.ToLower(string(r.Name)) {
				case "prefix":
					t.Filter.Prefix = aws.ToString(r.Value)
				case "suffix":
					t.Filter.Suffix = aws.ToString(r.Value)
				}
			}
		}
		out = append(out, t)
	}
	for _, q := range cur.QueueConfigurations {
		add(q.Id, aws.ToString(q.QueueArn), q.Events, q.Filter)
	}
	for _, q := range cur.TopicConfigurations {
		add(q.Id, aws.ToString(q.TopicArn), q.Events, q.Filter)
	}
	for _, q := range cur.LambdaFunctionConfigurations {
		add(q.Id, aws.ToString(q.LambdaFunctionArn), q.Events, q.Filter)
	}
	return out
}

func overlapError(bucket, own string, mine []types.QueueConfiguration, cur *s3.GetBucketNotificationConfigurationOutput) error {
	var clashes []string
	for _, m := range mine {
		t := s3events.Target{ID: aws.ToString(m.Id), Events: []string{string(m.Events[0])}}
		if m.Filter != nil {
			t.Filter.Prefix = aws.ToString(m.Filter.Key.FilterRules[0].Value)
		}
		for _, o := range targets(own, cur) {
			if s3events.Overlap(t, o) {
				clashes = append(clashes, fmt.Sprintf("entry %q (%s to %s) overlaps the %s events replaudit needs", o.ID, strings.Join(o.Events, ","), o.ARN, t.Events[0]))
			}
		}
	}
	if len(clashes) == 0 {
		return nil
	}
	sort.Strings(clashes)
	return fmt.Errorf("NotificationQueueArn: bucket %s already has notifications S3 will not let overlap with replaudit's: %s. Narrow or remove them, or leave NotificationQueueArn empty",
		bucket, strings.Join(clashes, "; "))
}

func sameQueues(a, b []types.QueueConfiguration) bool {
	key := func(qs []types.QueueConfiguration) string {
		var parts []string
		for _, q := range qs {
			p := aws.ToString(q.Id) + "|" + aws.ToString(q.QueueArn)
			for _, e := range q.Events {
				p += "|" + string(e)
			}
			if q.Filter != nil && q.Filter.Key != nil {
				for _, r := range q.Filter.Key.FilterRules {
					p += "|" + strings.ToLower(string(r.Name)) + "=" + aws.ToString(r.Value)
				}
			}
			parts = append(parts, p)
		}
		sort.Strings(parts)
		return strings.Join(parts, "\n")
	}
	return key(a) == key(b)
}

// remove takes out what this resource added, its rules and its notification
// entries, and nothing else. Versioning stays on and no bucket is deleted.
// A source that is gone, or holds nothing of this resource's, is success.
func (s *Setup) remove(ctx context.Context, own, source string) error {
	src, err := s.locate(ctx, source)
	if err != nil {
		return err
	}
	if !src.exists {
		return nil
	}
	c := s.clients(src.region)
	current, err := s.readRules(ctx, c, source)
	if err != nil {
		return err
	}
	foreign, mine := split(own, current)
	switch {
	case len(mine) == 0:
	case len(foreign) == 0:
		if _, err := c.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String(source)}); err != nil {
			return fmt.Errorf("delete replication configuration of %s: %w", source, err)
		}
	default:
		_, err := c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{
			Bucket:                   aws.String(source),
			ReplicationConfiguration: &types.ReplicationConfiguration{Role: current.Role, Rules: foreign},
		})
		if err != nil {
			return fmt.Errorf("write replication configuration of %s: %w", source, err)
		}
	}
	notes, err := s.planNotifications(ctx, own, "", "", src)
	if err != nil {
		return err
	}
	if err := notes.write(ctx); err != nil {
		return err
	}
	inventory, err := s.planInventory(ctx, own, Properties{}, src)
	if err != nil {
		return err
	}
	return inventory.write(ctx)
}

// Package verifytest builds, on the sandbox, the scene verify's tests and
// the command line's share: a source replicated to a destination in
// another region, with a replica deleted, one tampered and one orphan, and
// both buckets' inventories.
package verifytest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
	"github.com/replaudit/replaudit/internal/verify/duck"
)

// The regions of the source and the destination.
const (
	SrcRegion = "us-east-1"
	DstRegion = "ap-south-1"
)

// Scene is a source replicated to a destination in another region, each
// with an inventory of every version delivered to a bucket of its region.
// After replication, one replica was deleted (its version), one was
// written tampered, and one object exists only in the destination.
type Scene struct {
	SB               *sandbox.Sandbox
	S3               map[string]*s3.Client // by region
	Athena           *athena.Client
	Versions         map[string]string // source key -> version id
	Orphan           string            // the destination-only version of only-in-destination.txt
	SrcURI, DstURI   string
	SrcInv, DstInv   verify.Inventory
	Format           string
	Opts             sandbox.Options
	InventoryBuckets map[string]string // region -> bucket
}

// The keys of the scene, with a space and non-ASCII, which CSV inventories
// URL-encode.
const (
	KeyKept     = "photos/kept q3.jpg"
	KeyDeleted  = "photos/supprimé.jpg"
	KeyTampered = "docs/tampered.txt"
	KeyOrphan   = "only-in-destination.txt"
)

// New builds the scene with inventories in format (CSV or Parquet).
func New(t testing.TB, format string, opts sandbox.Options) *Scene {
	t.Helper()
	ctx := context.Background()
	if opts.ReplicationDelay == 0 {
		opts.ReplicationDelay = 10 * time.Millisecond
	}
	opts.Athena = duck.OpenDB
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sc := &Scene{SB: sb, S3: map[string]*s3.Client{}, Versions: map[string]string{}, Format: format, Opts: opts,
		InventoryBuckets: map[string]string{SrcRegion: "inventory-east", DstRegion: "inventory-south"}}
	for _, region := range []string{SrcRegion, DstRegion} {
		cfg, err := sb.AWSConfig(ctx, region)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Logger = logging.Nop{}
		sc.S3[region] = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		if region == SrcRegion {
			sc.Athena = athena.NewFromConfig(cfg)
		}
	}
	sc.Bucket(t, "src", SrcRegion, true)
	sc.Bucket(t, "dst", DstRegion, true)
	sc.Bucket(t, sc.InventoryBuckets[SrcRegion], SrcRegion, false)
	sc.Bucket(t, sc.InventoryBuckets[DstRegion], DstRegion, false)
	sc.Bucket(t, "athena-results", SrcRegion, false)
	if _, err := sc.S3[SrcRegion].PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/replication"),
			Rules: []types.ReplicationRule{{ID: aws.String("to-dst"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
				Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::dst")}}}}}); err != nil {
		t.Fatal(err)
	}
	sc.ConfigureInventory(t, "src", SrcRegion, "all-versions", "All", format, AllFields)
	sc.ConfigureInventory(t, "dst", DstRegion, "all-versions", "All", format, AllFields)

	sc.Versions[KeyKept] = sc.Put(t, "src", SrcRegion, KeyKept, "kept")
	second := sc.Put(t, "src", SrcRegion, KeyKept, "kept, second version") // two versions of one key
	sc.Versions[KeyDeleted] = sc.Put(t, "src", SrcRegion, KeyDeleted, "deleted from the destination")
	for k, v := range sc.Versions {
		sc.WaitReplicated(t, k, v)
	}
	// Every replica so far is written before the tamper fault is on.
	sc.WaitReplicated(t, KeyKept, second)
	if err := sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultTamper}); err != nil {
		t.Fatal(err)
	}
	sc.Versions[KeyTampered] = sc.Put(t, "src", SrcRegion, KeyTampered, "tampered on its way")
	sc.WaitReplicated(t, KeyTampered, sc.Versions[KeyTampered])
	sb.ClearFaults("dst")
	for k, v := range sc.Versions {
		sc.WaitReplicated(t, k, v)
	}
	// The replica's version deleted in the destination: S3 never
	// replicates a version delete, so nothing else changes.
	if _, err := sc.S3[DstRegion].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("dst"), Key: aws.String(KeyDeleted),
		VersionId: aws.String(sc.Versions[KeyDeleted])}); err != nil {
		t.Fatal(err)
	}
	sc.Orphan = sc.Put(t, "dst", DstRegion, KeyOrphan, "written to the destination directly")
	// Inventories are taken a moment after the last write, as a day later.
	time.Sleep(5 * time.Millisecond)
	sc.SrcURI, sc.DstURI = sc.Inventory(t, "src"), sc.Inventory(t, "dst")
	sc.SrcInv, sc.DstInv = sc.Load(t, sc.SrcURI), sc.Load(t, sc.DstURI)
	return sc
}

// AllFields are the optional fields the scene's inventories include.
var AllFields = []types.InventoryOptionalField{
	types.InventoryOptionalFieldSize, types.InventoryOptionalFieldLastModifiedDate, types.InventoryOptionalFieldETag,
	types.InventoryOptionalFieldStorageClass, types.InventoryOptionalFieldIsMultipartUploaded, types.InventoryOptionalFieldReplicationStatus,
	types.InventoryOptionalFieldEncryptionStatus, types.InventoryOptionalFieldChecksumAlgorithm,
}

// Bucket creates a bucket, versioned or not.
func (sc *Scene) Bucket(t testing.TB, name, region string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := sc.S3[region].CreateBucket(ctx, in); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if _, err := sc.S3[region].PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
}

// ConfigureInventory gives a bucket an inventory configuration, delivered
// to the inventory bucket of its region.
func (sc *Scene) ConfigureInventory(t testing.TB, bucket, region, id, versions, format string, fields []types.InventoryOptionalField) {
	t.Helper()
	cfg := &types.InventoryConfiguration{
		Id: aws.String(id), IsEnabled: aws.Bool(true),
		Destination: &types.InventoryDestination{S3BucketDestination: &types.InventoryS3BucketDestination{
			Bucket: aws.String("arn:aws:s3:::" + sc.InventoryBuckets[region]), Format: types.InventoryFormat(format), Prefix: aws.String("inventory"),
		}},
		IncludedObjectVersions: types.InventoryIncludedObjectVersions(versions),
		OptionalFields:         fields,
		Schedule:               &types.InventorySchedule{Frequency: types.InventoryFrequencyDaily},
	}
	if _, err := sc.S3[region].PutBucketInventoryConfiguration(context.Background(), &s3.PutBucketInventoryConfigurationInput{
		Bucket: aws.String(bucket), Id: cfg.Id, InventoryConfiguration: cfg}); err != nil {
		t.Fatal(err)
	}
}

// Put writes an object and returns its version id.
func (sc *Scene) Put(t testing.TB, bucket, region, key, body string) string {
	t.Helper()
	out, err := sc.S3[region].PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// WaitReplicated waits until S3 says a source version replicated.
func (sc *Scene) WaitReplicated(t testing.TB, key, version string) {
	t.Helper()
	sandboxtest.EventuallyNoError(t, 10*time.Second, key+" replicated", func() error {
		h, err := sc.S3[SrcRegion].HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String(key), VersionId: aws.String(version)})
		if err != nil {
			return err
		}
		if h.ReplicationStatus != types.ReplicationStatusCompleted && h.ReplicationStatus != "COMPLETED" {
			return fmt.Errorf("status %q", h.ReplicationStatus)
		}
		return nil
	})
}

// Inventory has S3 write a bucket's inventories now, and returns the
// manifest of the one with id all-versions.
func (sc *Scene) Inventory(t testing.TB, bucket string) string {
	t.Helper()
	uris, err := sc.SB.WriteInventory(bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uris {
		if strings.Contains(u, "/all-versions/") {
			return u
		}
	}
	t.Fatalf("no all-versions inventory among %v", uris)
	return ""
}

// Load reads an inventory's manifest through the SDK, in its bucket's region.
func (sc *Scene) Load(t testing.TB, uri string) verify.Inventory {
	t.Helper()
	inv, err := sc.LoadErr(uri)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// LoadErr is Load, returning its error.
func (sc *Scene) LoadErr(uri string) (verify.Inventory, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	region := SrcRegion
	if bucket == sc.InventoryBuckets[DstRegion] {
		region = DstRegion
	}
	return verify.Load(context.Background(), sc.S3[region], bucket, key)
}

// DuckEngine is DuckDB, closed with the test.
func DuckEngine(t testing.TB) *duck.Engine {
	t.Helper()
	e, err := duck.New(duck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// AthenaEngine is Athena on the sandbox, over Glue tables made from the
// scene's inventories.
func (sc *Scene) AthenaEngine(t testing.TB, timeout time.Duration) *verifyathena.Engine {
	t.Helper()
	for name, uri := range map[string]string{"src_inventory": sc.SrcURI, "dst_inventory": sc.DstURI} {
		if err := sc.SB.CreateAthenaTable("inventories", name, uri); err != nil {
			t.Fatal(err)
		}
	}
	e, err := verifyathena.New(sc.Athena, verifyathena.Options{Workgroup: "primary", Output: "s3://athena-results/verify/", Database: "inventories",
		SourceTable: "src_inventory", DestinationTable: "dst_inventory", Timeout: timeout, MinDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Outcomes lists what a run found, one "OUTCOME key version" each, sorted.
func Outcomes(problems []verify.Problem) []string {
	var out []string
	for _, p := range problems {
		line := fmt.Sprintf("%s %s %s", p.Outcome, p.Key, p.VersionID)
		if len(p.Differences) > 0 {
			line += " (" + strings.Join(p.Differences, "; ") + ")"
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

// Run verifies the scene with an engine, collecting every problem.
func (sc *Scene) Run(t testing.TB, e verify.Engine, o verify.Options) (verify.Summary, []verify.Problem, error) {
	t.Helper()
	var found []verify.Problem
	o.Engine = e
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Found = func(p verify.Problem) error { found = append(found, p); return nil }
	if o.Settle == 0 {
		o.Settle = time.Nanosecond
	}
	v, err := verify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Verify(context.Background(), sc.SrcInv, sc.DstInv)
	return s, found, err
}

package setup_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/inventory"
)

// inventories lists a bucket's inventory configurations, by id.
func (w *world) inventories(t *testing.T, bucket, region string) map[string]types.InventoryConfiguration {
	t.Helper()
	out, err := w.s3(region).ListBucketInventoryConfigurations(context.Background(), &s3.ListBucketInventoryConfigurationsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.InventoryConfiguration{}
	for _, c := range out.InventoryConfigurationList {
		m[aws.ToString(c.Id)] = c
	}
	return m
}

func withInventory(p map[string]any, inv map[string]any) map[string]any {
	p["Inventory"] = inv
	return p
}

func TestInventoryIsAddedChangedAndRemovedLikeTheOtherEntries(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	w.bucket(t, "inv", "us-east-1", false)
	// Someone else's inventory of the source, which every request keeps.
	theirs := &types.InventoryConfiguration{Id: aws.String("finance-weekly"), IsEnabled: aws.Bool(true),
		IncludedObjectVersions: types.InventoryIncludedObjectVersionsCurrent,
		Schedule:               &types.InventorySchedule{Frequency: types.InventoryFrequencyWeekly},
		Destination: &types.InventoryDestination{S3BucketDestination: &types.InventoryS3BucketDestination{
			Bucket: aws.String("arn:aws:s3:::inv"), Format: types.InventoryFormatOrc}}}
	if _, err := w.s3("us-east-1").PutBucketInventoryConfiguration(ctx, &s3.PutBucketInventoryConfigurationInput{Bucket: aws.String("src"),
		Id: theirs.Id, InventoryConfiguration: theirs}); err != nil {
		t.Fatal(err)
	}

	// CloudFormation sends the nested map's scalars as strings.
	p := withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "inv", "Prefix": "inventory", "Format": "CSV"})
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)
	id, _ := r.Data["InventoryConfigurationId"].(string)
	got := w.inventories(t, "src", "us-east-1")
	mine, ok := got[id]
	if !ok || len(got) != 2 {
		t.Fatalf("inventories after Create: %v, want theirs and %q", keys(got), id)
	}
	t.Run("it lists every version with the columns the reconciler reads, encrypted, daily", func(t *testing.T) {
		d := mine.Destination.S3BucketDestination
		if mine.IncludedObjectVersions != types.InventoryIncludedObjectVersionsAll || mine.Schedule.Frequency != types.InventoryFrequencyDaily ||
			aws.ToString(d.Bucket) != "arn:aws:s3:::inv" || d.Format != types.InventoryFormatCsv || aws.ToString(d.Prefix) != "inventory" ||
			d.Encryption == nil || d.Encryption.SSES3 == nil || !aws.ToBool(mine.IsEnabled) {
			t.Errorf("configuration: %+v, destination %+v", mine, d)
		}
		have := map[string]bool{"Bucket": true, "Key": true, "VersionId": true, "IsLatest": true, "IsDeleteMarker": true}
		for _, f := range mine.OptionalFields {
			have[string(f)] = true
		}
		for _, col := range inventory.Required {
			if !have[col] {
				t.Errorf("the configuration does not list %s, which the reconciler needs", col)
			}
		}
	})

	t.Run("a replayed Create writes nothing", func(t *testing.T) {
		w.sb.ResetCalls()
		mustSucceed(t, w.send(t, cfn.RequestCreate, "", p, nil))
		for _, c := range w.sb.Calls() {
			if c.Operation == "PutBucketInventoryConfiguration" || c.Operation == "DeleteBucketInventoryConfiguration" {
				t.Errorf("a replay called %s", c.Operation)
			}
		}
	})

	t.Run("an Update to Parquet, weekly, rewrites only its own", func(t *testing.T) {
		q := withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "arn:aws:s3:::inv", "Format": "Parquet", "Frequency": "Weekly"})
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, q, p))
		got := w.inventories(t, "src", "us-east-1")
		if c := got[id]; c.Destination.S3BucketDestination.Format != types.InventoryFormatParquet || c.Schedule.Frequency != types.InventoryFrequencyWeekly {
			t.Errorf("after Update: %+v", c)
		}
		if _, ok := got["finance-weekly"]; !ok {
			t.Error("the Update removed someone else's inventory")
		}
	})

	t.Run("an Update without Inventory removes it", func(t *testing.T) {
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, props("src", dest("dst", "ap-south-1")), p))
		if got := w.inventories(t, "src", "us-east-1"); len(got) != 1 || got["finance-weekly"].Id == nil {
			t.Errorf("after Update: %v, want theirs alone", keys(got))
		}
	})

	t.Run("Delete removes it and keeps theirs", func(t *testing.T) {
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p, nil))
		mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p, nil))
		if got := w.inventories(t, "src", "us-east-1"); len(got) != 1 || got["finance-weekly"].Id == nil {
			t.Errorf("after Delete: %v, want theirs alone", keys(got))
		}
		_, err := w.s3("us-east-1").GetBucketInventoryConfiguration(ctx, &s3.GetBucketInventoryConfigurationInput{Bucket: aws.String("src"), Id: aws.String(id)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchConfiguration" {
			t.Errorf("reading the removed configuration: %v", err)
		}
	})
}

func TestInventoryProblemsAreOneSentenceEach(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	w.bucket(t, "inv-far", "eu-west-1", false)
	for _, tc := range []struct {
		name string
		inv  any
		want string
	}{
		{"another region", map[string]any{"Bucket": "inv-far"}, "Inventory.Bucket inv-far is in eu-west-1 but SourceBucket src is in us-east-1: S3 Inventory delivers only to a bucket in the source's region."},
		{"missing bucket", map[string]any{"Bucket": "inv-gone"}, `Inventory.Bucket "inv-gone" does not exist, or this account cannot see it.`},
		{"ORC", map[string]any{"Bucket": "inv-far", "Format": "ORC"}, `Inventory.Format "ORC" is not CSV or Parquet (replaudit does not read ORC).`},
		{"hourly", map[string]any{"Bucket": "inv-far", "Frequency": "Hourly"}, `Inventory.Frequency "Hourly" is not Daily or Weekly.`},
		{"no bucket", map[string]any{"Format": "CSV"}, "Inventory.Bucket is required: the bucket S3 Inventory delivers to."},
		{"unknown key", map[string]any{"Bucket": "inv-far", "Fields": "all"}, `Inventory has an unknown property "Fields".`},
		{"not a map", `["inv"]`, "Inventory must be a map with a Bucket"},
		{"the source itself", map[string]any{"Bucket": "src"}, "Inventory.Bucket is the SourceBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := props("src", dest("dst", "ap-south-1"))
			p["Inventory"] = tc.inv
			r := w.send(t, cfn.RequestCreate, "", p, nil)
			if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, tc.want) {
				t.Errorf("got %s %q, want FAILED with %q", r.Status, r.Reason, tc.want)
			}
		})
	}
	if got := w.inventories(t, "src", "us-east-1"); len(got) != 0 {
		t.Errorf("a refused request wrote inventories: %v", keys(got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestTheDestinationsInventoryFollowsTheSources: with
// Inventory.DestinationBucket, the destination gets an inventory
// configuration of its own id, like the source's (every version, the same
// format, frequency, fields and filter), delivered to that bucket in the
// destination's region; someone else's is kept; an Update without it,
// and a Delete, remove it.
func TestTheDestinationsInventoryFollowsTheSources(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	w.bucket(t, "inv", "us-east-1", false)
	w.bucket(t, "inv-south", "ap-south-1", false)
	theirs := &types.InventoryConfiguration{Id: aws.String("dr-team"), IsEnabled: aws.Bool(true),
		IncludedObjectVersions: types.InventoryIncludedObjectVersionsCurrent,
		Schedule:               &types.InventorySchedule{Frequency: types.InventoryFrequencyWeekly},
		Destination: &types.InventoryDestination{S3BucketDestination: &types.InventoryS3BucketDestination{
			Bucket: aws.String("arn:aws:s3:::inv-south"), Format: types.InventoryFormatCsv}}}
	if _, err := w.s3("ap-south-1").PutBucketInventoryConfiguration(ctx, &s3.PutBucketInventoryConfigurationInput{Bucket: aws.String("dst"),
		Id: theirs.Id, InventoryConfiguration: theirs}); err != nil {
		t.Fatal(err)
	}
	p := withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "inv", "Prefix": "inventory", "Format": "Parquet", "DestinationBucket": "inv-south"})
	p["Prefix"] = "photos/"
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)
	srcID, _ := r.Data["InventoryConfigurationId"].(string)
	dstID, _ := r.Data["DestinationInventoryConfigurationId"].(string)
	if dstID == "" || dstID == srcID {
		t.Fatalf("destination inventory id %q, source's %q: want one of its own", dstID, srcID)
	}
	src, dst := w.inventories(t, "src", "us-east-1")[srcID], w.inventories(t, "dst", "ap-south-1")
	mine, ok := dst[dstID]
	if !ok || len(dst) != 2 {
		t.Fatalf("the destination's inventories: %v, want dr-team and %q", keys(dst), dstID)
	}
	d := mine.Destination.S3BucketDestination
	if aws.ToString(d.Bucket) != "arn:aws:s3:::inv-south" || d.Format != src.Destination.S3BucketDestination.Format || aws.ToString(d.Prefix) != "inventory" ||
		mine.IncludedObjectVersions != types.InventoryIncludedObjectVersionsAll || mine.Schedule.Frequency != src.Schedule.Frequency ||
		!slices.Equal(mine.OptionalFields, src.OptionalFields) || mine.Filter == nil || aws.ToString(mine.Filter.Prefix) != "photos/" {
		t.Errorf("the destination's inventory %+v (delivered %+v), want the source's %+v delivered to inv-south", mine, d, src)
	}

	t.Run("a bucket in another region than the destination's is refused in one sentence", func(t *testing.T) {
		q := withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "inv", "DestinationBucket": "inv"})
		if r := w.send(t, cfn.RequestCreate, "", q, nil); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "is the source's or its inventory's bucket") {
			t.Errorf("got %s %q", r.Status, r.Reason)
		}
		w.bucket(t, "inv-west", "eu-west-1", false)
		q = withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "inv", "DestinationBucket": "inv-west"})
		want := "Inventory.DestinationBucket inv-west is in eu-west-1 but the destination dst is in ap-south-1: S3 Inventory delivers only to a bucket in the inventoried bucket's region."
		if r := w.send(t, cfn.RequestCreate, "", q, nil); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, want) {
			t.Errorf("got %s %q, want %q", r.Status, r.Reason, want)
		}
		q = withInventory(props("src", dest("dst", "ap-south-1"), dest("inv-west", "eu-west-1")), map[string]any{"Bucket": "inv", "DestinationBucket": "inv-south"})
		if r := w.send(t, cfn.RequestCreate, "", q, nil); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "needs exactly one destination, not 2") {
			t.Errorf("got %s %q", r.Status, r.Reason)
		}
	})

	t.Run("an Update without DestinationBucket removes it and keeps theirs", func(t *testing.T) {
		q := withInventory(props("src", dest("dst", "ap-south-1")), map[string]any{"Bucket": "inv", "Prefix": "inventory", "Format": "Parquet"})
		q["Prefix"] = "photos/"
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, q, p))
		if got := w.inventories(t, "dst", "ap-south-1"); len(got) != 1 || got["dr-team"].Id == nil {
			t.Errorf("after Update: %v, want dr-team alone", keys(got))
		}
		if _, ok := w.inventories(t, "src", "us-east-1")[srcID]; !ok {
			t.Error("the Update removed the source's inventory")
		}
	})

	t.Run("Delete removes it and keeps theirs", func(t *testing.T) {
		mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p, nil))
		if _, ok := w.inventories(t, "dst", "ap-south-1")[dstID]; !ok {
			t.Fatal("the Update did not put it back")
		}
		mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p, nil))
		if got := w.inventories(t, "dst", "ap-south-1"); len(got) != 1 || got["dr-team"].Id == nil {
			t.Errorf("after Delete: %v, want dr-team alone", keys(got))
		}
	})
}

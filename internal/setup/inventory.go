package setup

import (
	"context"
	"fmt"
	"github.com/replaudit/replaudit/internal/inventory"
	"slices"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/replication"
)

// The inventory configuration a resource owns has the id inventoryID(own);
// every other configuration of the source is someone else's and is kept.
func inventoryID(own string) string { return own + "-inventory" }

// inventoryFields are the optional fields the reconciler reads (with the
// version columns an inventory of all versions always has), and the
// encryption status, which auditors ask for.
var inventoryFields = []types.InventoryOptionalField{
	types.InventoryOptionalFieldSize, types.InventoryOptionalFieldLastModifiedDate, types.InventoryOptionalFieldETag,
	types.InventoryOptionalFieldReplicationStatus, types.InventoryOptionalFieldEncryptionStatus,
}

// InventoryColumns are the columns of the inventories the setup asks for,
// in the order S3 writes a CSV inventory's: the version columns every
// inventory of all versions has, then the optional fields, named as SQL
// engines read them (inventory.SQLName). The stack's Glue tables list
// these; a test keeps them in step.
func InventoryColumns() []string {
	cols := []string{"bucket", "key", "version_id", "is_latest", "is_delete_marker"}
	for _, f := range inventoryFields {
		cols = append(cols, inventory.SQLName(string(f)))
	}
	return cols
}

// inventoryPlan is the write that brings the resource's inventory
// configuration to what the properties say: a put, a delete, or nothing.
type inventoryPlan struct {
	c      S3
	bucket string
	id     string
	next   *types.InventoryConfiguration
	delete bool
}

// desiredInventory is the configuration the properties describe.
func desiredInventory(own string, p Properties) *types.InventoryConfiguration {
	return InventoryConfiguration(inventoryID(own), *p.Inventory, p.Prefix)
}

// InventoryConfiguration is the S3 Inventory configuration replaudit
// needs: every version, the columns the reconciler reads, encrypted at
// rest, of the keys under prefix.
func InventoryConfiguration(id string, inv Inventory, prefix string) *types.InventoryConfiguration {
	dest := &types.InventoryS3BucketDestination{
		Bucket:     aws.String(replication.BucketARN(inv.Bucket)),
		Format:     types.InventoryFormat(inv.Format),
		Encryption: &types.InventoryEncryption{SSES3: &types.SSES3{}},
	}
	if inv.Prefix != "" {
		dest.Prefix = aws.String(inv.Prefix)
	}
	c := &types.InventoryConfiguration{
		Id:                     aws.String(id),
		IsEnabled:              aws.Bool(true),
		IncludedObjectVersions: types.InventoryIncludedObjectVersionsAll,
		Schedule:               &types.InventorySchedule{Frequency: types.InventoryFrequency(inv.Frequency)},
		OptionalFields:         inventoryFields,
		Destination:            &types.InventoryDestination{S3BucketDestination: dest},
	}
	if prefix != "" {
		c.Filter = &types.InventoryFilter{Prefix: aws.String(prefix)}
	}
	return c
}

// planInventory compares the source's configuration of this resource's id
// with the one the properties describe.
func (s *Setup) planInventory(ctx context.Context, own string, p Properties, src located) (inventoryPlan, error) {
	var want *types.InventoryConfiguration
	if p.Inventory != nil {
		want = desiredInventory(own, p)
	}
	return s.planInventoryOf(ctx, src, inventoryID(own), want)
}

// DestinationInventoryID is the id of the inventory configuration a
// resource owns on its destination (Inventory.DestinationBucket): another
// id than the source's, so that neither is taken for the other.
func DestinationInventoryID(own string) string { return own + "-destination-inventory" }

// planDestinationInventory compares the destination's configuration of
// this resource's id with the one the properties describe: the source's,
// delivered to Inventory.DestinationBucket. Without it, one the resource
// wrote before is deleted.
func (s *Setup) planDestinationInventory(ctx context.Context, own string, p Properties, dst located) (inventoryPlan, error) {
	var want *types.InventoryConfiguration
	if p.Inventory != nil && p.Inventory.DestinationBucket != "" {
		inv := *p.Inventory
		inv.Bucket = inv.DestinationBucket
		want = InventoryConfiguration(DestinationInventoryID(own), inv, p.Prefix)
	}
	return s.planInventoryOf(ctx, dst, DestinationInventoryID(own), want)
}

// planInventoryOf compares a bucket's configuration id with want; a nil
// want deletes it, if it is there. Every other configuration is kept.
func (s *Setup) planInventoryOf(ctx context.Context, b located, id string, want *types.InventoryConfiguration) (inventoryPlan, error) {
	c := s.clients(b.region)
	plan := inventoryPlan{c: c, bucket: b.bucket, id: id}
	cur, err := c.GetBucketInventoryConfiguration(ctx, &s3.GetBucketInventoryConfigurationInput{Bucket: aws.String(b.bucket), Id: aws.String(id)})
	switch {
	case code(err) == "NoSuchConfiguration":
		cur = nil
	case err != nil:
		return plan, fmt.Errorf("read inventory configuration %s of %s: %w", id, b.bucket, err)
	}
	var have *types.InventoryConfiguration
	if cur != nil {
		have = cur.InventoryConfiguration
	}
	if want == nil {
		plan.delete = have != nil
		return plan, nil
	}
	if !sameInventory(have, want) {
		plan.next = want
	}
	return plan, nil
}

func (n inventoryPlan) none() bool { return n.next == nil && !n.delete }

func (n inventoryPlan) write(ctx context.Context) error {
	switch {
	case n.next != nil:
		_, err := n.c.PutBucketInventoryConfiguration(ctx, &s3.PutBucketInventoryConfigurationInput{
			Bucket: aws.String(n.bucket), Id: aws.String(n.id), InventoryConfiguration: n.next})
		if err != nil {
			return fmt.Errorf("write inventory configuration %s of %s: %w", n.id, n.bucket, err)
		}
	case n.delete:
		_, err := n.c.DeleteBucketInventoryConfiguration(ctx, &s3.DeleteBucketInventoryConfigurationInput{Bucket: aws.String(n.bucket), Id: aws.String(n.id)})
		if err != nil && code(err) != "NoSuchConfiguration" {
			return fmt.Errorf("delete inventory configuration %s of %s: %w", n.id, n.bucket, err)
		}
	}
	return nil
}

// sameInventory compares what matters of two configurations.
func sameInventory(a, b *types.InventoryConfiguration) bool {
	if a == nil || b == nil {
		return a == b
	}
	key := func(c *types.InventoryConfiguration) string {
		k := fmt.Sprint(aws.ToBool(c.IsEnabled), c.IncludedObjectVersions)
		if c.Schedule != nil {
			k += "|" + string(c.Schedule.Frequency)
		}
		if c.Filter != nil {
			k += "|filter=" + aws.ToString(c.Filter.Prefix)
		}
		fields := make([]string, len(c.OptionalFields))
		for i, f := range c.OptionalFields {
			fields[i] = string(f)
		}
		slices.Sort(fields)
		k += fmt.Sprint("|", fields)
		if c.Destination != nil && c.Destination.S3BucketDestination != nil {
			d := c.Destination.S3BucketDestination
			k += "|" + aws.ToString(d.Bucket) + "|" + string(d.Format) + "|" + aws.ToString(d.Prefix) + "|" + aws.ToString(d.AccountId)
			k += fmt.Sprint("|", d.Encryption != nil && d.Encryption.SSES3 != nil)
		}
		return k
	}
	return key(a) == key(b)
}

// planDestinationInventories plans the destination's inventory (one
// destination: the properties allow no other with DestinationBucket), and
// the removal of the one the previous properties had on another
// destination, or that an update turned off. A destination this request
// creates has no configuration yet.
func (s *Setup) planDestinationInventories(ctx context.Context, ev cfn.Event, own string, p Properties, dsts []located) ([]inventoryPlan, error) {
	var plans []inventoryPlan
	on := ""
	if p.Inventory != nil && p.Inventory.DestinationBucket != "" && len(dsts) == 1 {
		on = dsts[0].bucket
		if !dsts[0].exists {
			inv := *p.Inventory
			inv.Bucket = inv.DestinationBucket
			plans = append(plans, inventoryPlan{c: s.clients(dsts[0].region), bucket: dsts[0].bucket, id: DestinationInventoryID(own),
				next: InventoryConfiguration(DestinationInventoryID(own), inv, p.Prefix)})
		} else {
			plan, err := s.planDestinationInventory(ctx, own, p, dsts[0])
			if err != nil {
				return nil, err
			}
			plans = append(plans, plan)
		}
	}
	if ev.RequestType != cfn.RequestUpdate || owner(ev) != own {
		return plans, nil
	}
	old, err := ParseProperties(ev.OldResourceProperties)
	if err != nil || old.Inventory == nil || old.Inventory.DestinationBucket == "" || len(old.Destinations) != 1 || old.Destinations[0].Bucket == on {
		return plans, nil
	}
	loc, err := s.locate(ctx, old.Destinations[0].Bucket)
	if err != nil || !loc.exists {
		return plans, err
	}
	plan, err := s.planInventoryOf(ctx, loc, DestinationInventoryID(own), nil)
	if err != nil {
		return nil, err
	}
	return append(plans, plan), nil
}

// removeDestinationInventory deletes the inventory configuration a
// resource wrote on its destination, when its properties asked for one:
// without them, the function may have no right to the destination's
// inventory configurations at all.
func (s *Setup) removeDestinationInventory(ctx context.Context, own string, p Properties) error {
	if p.Inventory == nil || p.Inventory.DestinationBucket == "" || len(p.Destinations) != 1 {
		return nil
	}
	loc, err := s.locate(ctx, p.Destinations[0].Bucket)
	if err != nil || !loc.exists {
		return err
	}
	plan, err := s.planInventoryOf(ctx, loc, DestinationInventoryID(own), nil)
	if err != nil {
		return err
	}
	return plan.write(ctx)
}

package setup

import (
	"context"
	"fmt"
	"slices"

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
	c := s.clients(src.region)
	plan := inventoryPlan{c: c, bucket: src.bucket, id: inventoryID(own)}
	cur, err := c.GetBucketInventoryConfiguration(ctx, &s3.GetBucketInventoryConfigurationInput{Bucket: aws.String(src.bucket), Id: aws.String(plan.id)})
	switch {
	case code(err) == "NoSuchConfiguration":
		cur = nil
	case err != nil:
		return plan, fmt.Errorf("read inventory configuration %s of %s: %w", plan.id, src.bucket, err)
	}
	var have *types.InventoryConfiguration
	if cur != nil {
		have = cur.InventoryConfiguration
	}
	if p.Inventory == nil {
		plan.delete = have != nil
		return plan, nil
	}
	want := desiredInventory(own, p)
	if !sameInventory(have, want) {
		plan.next = want
	}
	return plan, nil
}

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

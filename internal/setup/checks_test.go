package setup_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
)

const foreign = "444455556666"

func TestForeignAccountsAreRefusedUnlessAllowed(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	foreignRole := "arn:aws:iam::" + foreign + ":role/replication"
	foreignQueue := "arn:aws:sqs:us-east-1:" + foreign + ":auditor"
	keyIn := func(account string) string {
		return "arn:aws:kms:ap-south-1:" + account + ":key/1234abcd-0000-4000-8000-000000000000"
	}
	withKey := func(d map[string]any, key string) map[string]any {
		d["ReplicaKmsKeyArn"] = key
		return d
	}
	kms := func(d map[string]any) map[string]any {
		p := props("src", d)
		p["ReplicateSseKmsObjects"] = "true"
		return p
	}
	withAccount := func(d map[string]any, account string) map[string]any {
		d["Account"] = account
		return d
	}

	refused := []struct {
		name  string
		props func() map[string]any
		want  []string
	}{
		{"a role in another account", func() map[string]any {
			p := props("src", dest("dst", ""))
			p["RoleArn"] = foreignRole
			return p
		}, []string{`RoleArn "` + foreignRole + `" is in account ` + foreign + `, not the stack's (` + sandbox.Account + `): list ` + foreign + ` in AllowedAccounts if that is meant.`}},
		{"a queue in another account, with the role in a third, each said", func() map[string]any {
			p := props("src", dest("dst", ""))
			p["RoleArn"] = "arn:aws:iam::555566667777:role/replication"
			p["NotificationQueueArn"] = foreignQueue
			return p
		}, []string{`RoleArn "arn:aws:iam::555566667777:role/replication" is in account 555566667777`,
			`NotificationQueueArn "` + foreignQueue + `" is in account ` + foreign + `, not the stack's (` + sandbox.Account + `)`}},
		{"a replica key in another account", func() map[string]any { return kms(withKey(dest("dst", ""), keyIn(foreign))) },
			[]string{`Destinations[0].ReplicaKmsKeyArn "` + keyIn(foreign) + `" is in account ` + foreign + `, not the stack's (` + sandbox.Account + `)`}},
		{"a replica key in neither the stack's nor the destination's account", func() map[string]any {
			return kms(withKey(withAccount(dest("dst", ""), "555566667777"), keyIn(foreign)))
		}, []string{`is in account ` + foreign + `, neither the stack's (` + sandbox.Account + `) nor the destination's (555566667777): list ` + foreign + ` in AllowedAccounts if that is meant.`}},
		{"AllowedAccounts that lists another account", func() map[string]any {
			p := props("src", dest("dst", ""))
			p["RoleArn"] = foreignRole
			p["AllowedAccounts"] = []any{"555566667777"}
			return p
		}, []string{`RoleArn "` + foreignRole + `" is in account ` + foreign}},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused before any write", func(t *testing.T) {
			before := js(w.replication(t, "src", "us-east-1"))
			w.sb.ResetCalls()
			r := w.send(t, cfn.RequestCreate, "", c.props(), nil)
			for _, want := range c.want {
				failedSaying(t, r, want)
			}
			noWrites(t, w, "the refused Create")
			if after := js(w.replication(t, "src", "us-east-1")); after != before {
				t.Errorf("replication changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	allowed := []struct {
		name  string
		props func() map[string]any
	}{
		{"a role in an account AllowedAccounts lists", func() map[string]any {
			p := props("src", dest("dst", ""))
			p["RoleArn"] = foreignRole
			p["AllowedAccounts"] = []any{"555566667777", foreign}
			return p
		}},
		{"AllowedAccounts as CloudFormation may send it, one string", func() map[string]any {
			p := props("src", dest("dst", ""))
			p["RoleArn"] = foreignRole
			p["AllowedAccounts"] = "555566667777," + foreign
			return p
		}},
		{"a cross-account destination (as before)", func() map[string]any { return props("src", withAccount(dest("dst", ""), foreign)) }},
		{"a cross-account destination's replica key in its account", func() map[string]any {
			return kms(withKey(withAccount(dest("dst", ""), foreign), keyIn(foreign)))
		}},
		{"a replica key in the stack's account", func() map[string]any { return kms(withKey(dest("dst", ""), keyIn(sandbox.Account))) }},
	}
	for _, c := range allowed {
		t.Run(c.name+" is accepted, and reaches the configuration", func(t *testing.T) {
			p := c.props()
			mustSucceed(t, w.send(t, cfn.RequestCreate, "", p, nil))
			cfg := w.replication(t, "src", "us-east-1")
			d := p["Destinations"].([]any)[0].(map[string]any)
			want, _ := d["ReplicaKmsKeyArn"].(string)
			got := ""
			if e := cfg.Rules[0].Destination.EncryptionConfiguration; e != nil {
				got = aws.ToString(e.ReplicaKmsKeyID)
			}
			account, _ := d["Account"].(string)
			if aws.ToString(cfg.Role) != p["RoleArn"] || aws.ToString(cfg.Rules[0].Destination.Account) != account || got != want {
				t.Errorf("configuration: got %s, want role %v, account %q, key %q", js(cfg), p["RoleArn"], account, want)
			}
		})
	}
}

// source is what a request must leave as it was when it is refused.
func (w *world) source(t *testing.T) string {
	t.Helper()
	return js(map[string]any{
		"replication":   w.replication(t, "src", "us-east-1"),
		"notifications": w.notifications(t, "src", "us-east-1"),
		"versioning":    w.versioning(t, "src", "us-east-1"),
		"dst":           w.versioning(t, "dst", "ap-south-1"),
	})
}

func TestABadNotificationQueueLeavesTheSourceUntouched(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", false)
	w.bucket(t, "dst", "ap-south-1", false)
	theirQueue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "thumbnails"})
	farQueue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "far", Region: "eu-west-1"})
	if _, err := w.s3("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("their-thumbnails"), QueueArn: aws.String(theirQueue), Events: []types.Event{"s3:ObjectCreated:*"},
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String("images/")}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	before := w.source(t)
	fresh := dest("fresh-dst", "eu-west-1")
	fresh["CreateIfMissing"] = "true"

	for _, c := range []struct {
		name, queue string
		allowed     []any
		want        string
		// S3 alone can tell that a queue is missing or refuses it, when
		// the configuration is written: that refused write is the only one.
		refusedByS3 bool
	}{
		{name: "a queue in another account", queue: "arn:aws:sqs:us-east-1:" + foreign + ":auditor",
			want: `NotificationQueueArn "arn:aws:sqs:us-east-1:` + foreign + `:auditor" is in account ` + foreign + `, not the stack's`},
		{name: "a queue in another region than the source", queue: farQueue,
			want: "NotificationQueueArn is in eu-west-1 but SourceBucket src is in us-east-1: S3 notifies only queues in the bucket's region."},
		{name: "a queue that does not exist", queue: "arn:aws:sqs:us-east-1:" + sandbox.Account + ":no-such-queue",
			want: "Unable to validate the following destination configurations", refusedByS3: true},
		{name: "a queue in an allowed account that S3 cannot validate", queue: "arn:aws:sqs:us-east-1:" + foreign + ":auditor", allowed: []any{foreign},
			want: "Unable to validate the following destination configurations", refusedByS3: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := props("src", dest("dst", ""), fresh)
			p["Prefix"] = "data/"
			p["NotificationQueueArn"] = c.queue
			if c.allowed != nil {
				p["AllowedAccounts"] = c.allowed
			}
			w.sb.ResetCalls()
			failedSaying(t, w.send(t, cfn.RequestCreate, "", p, nil), c.want)
			writes := w.writes()
			if c.refusedByS3 {
				if len(writes) != 1 || writes[0].Operation != "PutBucketNotificationConfiguration" || writes[0].Resource != "src" || writes[0].Count != 1 {
					t.Errorf("writes: got %+v, want the one refused PutBucketNotificationConfiguration on src", writes)
				}
			} else {
				for _, c := range writes {
					t.Errorf("the refused Create wrote: %d %s on %s", c.Count, c.Operation, c.Resource)
				}
			}
			if after := w.source(t); after != before {
				t.Errorf("the source changed:\nbefore %s\nafter  %s", before, after)
			}
			if _, err := w.s3("eu-west-1").HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("fresh-dst")}); err == nil {
				t.Error("the refused Create created fresh-dst")
			}
		})
	}
}

func TestAReplicaKeyOutsideItsDestinationsRegionIsRefusedBeforeAnyWrite(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", false)
	w.bucket(t, "dst", "ap-south-1", false)
	before := w.source(t)
	d := dest("dst", "")
	d["ReplicaKmsKeyArn"] = "arn:aws:kms:eu-west-1:" + sandbox.Account + ":key/1234abcd-0000-4000-8000-000000000000"
	p := props("src", d)
	p["ReplicateSseKmsObjects"] = "true"
	w.sb.ResetCalls()
	failedSaying(t, w.send(t, cfn.RequestCreate, "", p, nil),
		"Destinations[0].ReplicaKmsKeyArn is in eu-west-1 but bucket dst is in ap-south-1: S3 encrypts replicas only with a key in the destination's region.")
	noWrites(t, w, "the refused Create")
	if after := w.source(t); after != before {
		t.Errorf("the buckets changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestASpaceAtEitherEndOfAPrefixIsRefused(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", false)
	w.bucket(t, "dst", "ap-south-1", false)
	w.bucket(t, "inv", "us-east-1", false)
	before := w.source(t)
	p := props("src", dest("dst", ""))
	p["Prefix"] = "data/ "
	p["Inventory"] = map[string]any{"Bucket": "inv", "Prefix": " inventory"}
	w.sb.ResetCalls()
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	failedSaying(t, r, `Prefix "data/ " ends with a space, which S3 would match literally as part of the key: remove it.`)
	failedSaying(t, r, `Inventory.Prefix " inventory" starts with a space, which S3 would match literally as part of the key: remove it.`)
	noWrites(t, w, "the refused Create")
	if after := w.source(t); after != before {
		t.Errorf("the buckets changed:\nbefore %s\nafter  %s", before, after)
	}
}

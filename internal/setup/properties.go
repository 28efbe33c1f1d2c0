package setup

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Properties are the Custom::S3Replication resource's properties, parsed.
type Properties struct {
	SourceBucket            string
	RoleArn                 string
	Destinations            []Destination
	Prefix                  string
	Tags                    map[string]string
	DeleteMarkerReplication bool
	ReplicationTimeControl  bool
	Metrics                 bool
	ReplicateSseKmsObjects  bool
	NotificationQueueArn    string
	// AllowedAccounts are accounts other than the stack's whose role,
	// queue or KMS key the properties may name.
	AllowedAccounts []string
	// Inventory, when set, has S3 Inventory list every version of the
	// source daily or weekly, for the reconciler.
	Inventory *Inventory
}

// Inventory is the Inventory property: where S3 Inventory delivers the
// source's reports.
type Inventory struct {
	Bucket    string // the inventory bucket, in the source's region
	Prefix    string // where in it; S3 adds the source and the configuration id
	Format    string // CSV or Parquet
	Frequency string // Daily or Weekly
	// DestinationBucket, when set, receives an inventory of the (one)
	// destination bucket too, with the same format, frequency, fields and
	// prefix: a bucket in the destination's region, since S3 Inventory
	// delivers only to a bucket of the inventoried bucket's region.
	DestinationBucket string
}

// Destination is one entry of the Destinations property.
type Destination struct {
	Bucket           string
	Region           string // optional unless CreateIfMissing
	StorageClass     string
	Account          string
	ReplicaKmsKeyArn string
	CreateIfMissing  bool
}

// InvalidError lists every problem found in a resource's properties, one
// sentence each.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string { return strings.Join(e.Problems, " ") }

var (
	bucketName  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionName  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$`)
	roleARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	queueARN    = regexp.MustCompile(`^arn:aws[a-z-]*:sqs:([a-z0-9-]+):\d{12}:[\w-]+(\.fifo)?$`)
	kmsKeyARN   = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$`)
	accountID   = regexp.MustCompile(`^\d{12}$`)
	storageList = []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
		"INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"}
)

// knownProperties are the resource's properties; CloudFormation adds
// ServiceToken and ServiceTimeout itself. Requires is read by no one: a
// template lists there what the resource must come after (the IAM policy
// that lets the function configure its source), which CloudFormation then
// creates first where DependsOn cannot name it, as inside Fn::ForEach.
var knownProperties = map[string]bool{
	"ServiceToken": true, "ServiceTimeout": true, "Requires": true,
	"SourceBucket": true, "RoleArn": true, "Destinations": true, "Prefix": true, "Tags": true,
	"DeleteMarkerReplication": true, "ReplicationTimeControl": true, "Metrics": true,
	"ReplicateSseKmsObjects": true, "NotificationQueueArn": true, "Inventory": true,
	"AllowedAccounts": true,
}

// KnownProperty reports whether name is a property of Custom::S3Replication.
func KnownProperty(name string) bool { return knownProperties[name] }

var knownInventoryProperties = map[string]bool{"Bucket": true, "Prefix": true, "Format": true, "Frequency": true, "DestinationBucket": true}

var knownDestinationProperties = map[string]bool{
	"Bucket": true, "Region": true, "StorageClass": true, "Account": true,
	"ReplicaKmsKeyArn": true, "CreateIfMissing": true,
}

// parser collects problems as it reads properties. CloudFormation sends
// every scalar as a string ("true", "15"); sam local invoke and tests may
// send JSON booleans. Both are accepted.
type parser struct {
	problems []string
}

func (p *parser) fail(format string, a ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, a...))
}

func (p *parser) str(raw map[string]any, name, label string) string {
	v, ok := raw[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.fail("%s must be a string, not %s.", label, describe(v))
		return ""
	}
	return strings.TrimSpace(s)
}

func (p *parser) boolean(raw map[string]any, name, label string, def bool) bool {
	v, ok := raw[name]
	if !ok || v == nil {
		return def
	}
	switch v := v.(type) {
	case bool:
		return v
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true
		case "false":
			return false
		case "":
			return def
		}
	}
	p.fail("%s must be true or false, not %s.", label, describe(v))
	return def
}

// prefix reads a key prefix, which is never trimmed: S3 matches it byte
// for byte, so a space at either end is almost certainly a mistake that
// would quietly match nothing.
func (p *parser) prefix(raw map[string]any, name, label string) string {
	v, ok := raw[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.fail("%s must be a string, not %s.", label, describe(v))
		return ""
	}
	t := strings.TrimSpace(s)
	if t == s {
		return s
	}
	what := "whitespace"
	if strings.Trim(s, " ") == t {
		what = "a space"
	}
	where := "starts and ends with " + what
	switch {
	case t == "":
		where = "is nothing but whitespace"
	case strings.HasPrefix(s, t):
		where = "ends with " + what
	case strings.HasSuffix(s, t):
		where = "starts with " + what
	}
	p.fail("%s %q %s, which S3 would match literally as part of the key: remove it.", label, s, where)
	return t
}

// accounts reads AllowedAccounts: a list of 12-digit account ids, or, as
// a CloudFormation string may carry one, a JSON list or a comma-separated
// string of them.
func (p *parser) accounts(v any) []string {
	var list []any
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		list = v
	case string:
		s := strings.TrimSpace(v)
		switch {
		case s == "":
			return nil
		case strings.HasPrefix(s, "["):
			if err := json.Unmarshal([]byte(s), &list); err != nil {
				p.fail("AllowedAccounts must be a list of 12-digit account ids, not %s.", describe(v))
				return nil
			}
		default:
			for _, a := range strings.Split(s, ",") {
				list = append(list, a)
			}
		}
	default:
		p.fail("AllowedAccounts must be a list of 12-digit account ids, not %s.", describe(v))
		return nil
	}
	var out []string
	for i, a := range list {
		label := fmt.Sprintf("AllowedAccounts[%d]", i)
		s, ok := a.(string)
		if !ok {
			// A JSON number would lose an account id's leading zeros.
			p.fail("%s must be a string, not %s.", label, describe(a))
			continue
		}
		if s = strings.TrimSpace(s); !accountID.MatchString(s) {
			p.fail("%s %q is not a 12-digit account id.", label, s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 60 {
		return fmt.Sprintf("a %T", v)
	}
	return string(b)
}

// ParseProperties reads and checks a resource's properties. It returns an
// *InvalidError naming each bad property in its own sentence.
func ParseProperties(raw map[string]any) (Properties, error) {
	p := &parser{}
	var out Properties
	var unknown []string
	for k := range raw {
		if !knownProperties[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.fail("Unknown property %q.", k)
	}

	out.SourceBucket = p.str(raw, "SourceBucket", "SourceBucket")
	switch {
	case out.SourceBucket == "":
		p.fail("SourceBucket is required.")
	case !bucketName.MatchString(out.SourceBucket):
		p.fail("SourceBucket %q is not a valid bucket name.", out.SourceBucket)
	}
	out.RoleArn = p.str(raw, "RoleArn", "RoleArn")
	switch {
	case out.RoleArn == "":
		p.fail("RoleArn is required.")
	case !roleARN.MatchString(out.RoleArn):
		p.fail("RoleArn %q is not an IAM role ARN.", out.RoleArn)
	}
	out.Prefix = p.prefix(raw, "Prefix", "Prefix")
	if len(out.Prefix) > 1024 {
		p.fail("Prefix is longer than 1024 bytes.")
	}
	out.Tags = p.tags(raw["Tags"])
	out.DeleteMarkerReplication = p.boolean(raw, "DeleteMarkerReplication", "DeleteMarkerReplication", len(out.Tags) == 0)
	out.ReplicationTimeControl = p.boolean(raw, "ReplicationTimeControl", "ReplicationTimeControl", false)
	out.Metrics = p.boolean(raw, "Metrics", "Metrics", true)
	out.ReplicateSseKmsObjects = p.boolean(raw, "ReplicateSseKmsObjects", "ReplicateSseKmsObjects", false)
	out.NotificationQueueArn = p.str(raw, "NotificationQueueArn", "NotificationQueueArn")
	if out.NotificationQueueArn != "" && !queueARN.MatchString(out.NotificationQueueArn) {
		p.fail("NotificationQueueArn %q is not an SQS queue ARN.", out.NotificationQueueArn)
	}
	if out.DeleteMarkerReplication && len(out.Tags) > 0 {
		p.fail("DeleteMarkerReplication must be false with a Tags filter: S3 does not replicate delete markers for tag-filtered rules.")
	}
	if out.ReplicationTimeControl && !out.Metrics {
		p.fail("ReplicationTimeControl needs Metrics: set Metrics to true.")
	}
	out.AllowedAccounts = p.accounts(raw["AllowedAccounts"])
	out.Destinations = p.destinations(raw["Destinations"])
	out.Inventory = p.inventory(raw["Inventory"])
	if out.Inventory != nil && out.Inventory.Bucket == out.SourceBucket {
		p.fail("Inventory.Bucket is the SourceBucket: S3 would list its own reports; use a bucket of their own.")
	}
	if inv := out.Inventory; inv != nil && inv.DestinationBucket != "" {
		switch {
		case len(out.Destinations) != 1:
			p.fail("Inventory.DestinationBucket needs exactly one destination, not %d: it receives that destination's inventory.", len(out.Destinations))
		case inv.DestinationBucket == out.Destinations[0].Bucket:
			p.fail("Inventory.DestinationBucket is the destination bucket: S3 would list its own reports; use a bucket of their own.")
		case inv.DestinationBucket == out.SourceBucket || inv.DestinationBucket == inv.Bucket:
			p.fail("Inventory.DestinationBucket %s is the source's or its inventory's bucket: it must be a bucket in the destination's region.", inv.DestinationBucket)
		}
	}
	seen := map[string]bool{}
	for i, d := range out.Destinations {
		label := fmt.Sprintf("Destinations[%d]", i)
		if d.Bucket != "" && d.Bucket == out.SourceBucket {
			p.fail("%s.Bucket is the SourceBucket: a bucket cannot replicate to itself.", label)
		}
		if d.Bucket != "" && seen[d.Bucket] {
			p.fail("%s.Bucket %q is listed twice.", label, d.Bucket)
		}
		seen[d.Bucket] = true
		if out.ReplicateSseKmsObjects && d.ReplicaKmsKeyArn == "" {
			p.fail("%s has no ReplicaKmsKeyArn: ReplicateSseKmsObjects needs a KMS key in each destination.", label)
		}
		if !out.ReplicateSseKmsObjects && d.ReplicaKmsKeyArn != "" {
			p.fail("%s.ReplicaKmsKeyArn is set but ReplicateSseKmsObjects is false: set it to true to replicate SSE-KMS objects.", label)
		}
	}
	if len(p.problems) > 0 {
		return out, &InvalidError{Problems: p.problems}
	}
	return out, nil
}

// object reads a property that is a map, as a map or as the JSON of one in
// a string (CloudFormation sends every value as a string): nil for absent
// or empty, and a failure saying must when it is neither.
func (p *parser) object(v any, must string) map[string]any {
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			p.fail("%s, not %s.", must, describe(v))
			return nil
		}
		v = m
	}
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.fail("%s, not %s.", must, describe(v))
	}
	return m
}

func (p *parser) tags(v any) map[string]string {
	m := p.object(v, "Tags must be a map of tag keys to values")
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		s, ok := val.(string)
		switch {
		case k == "" || len(k) > 128:
			p.fail("Tags has a key of %d characters: tag keys have 1 to 128.", len(k))
		case !ok:
			p.fail("Tags[%q] must be a string, not %s.", k, describe(val))
		case len(s) > 256:
			p.fail("Tags[%q] is longer than 256 characters.", k)
		default:
			out[k] = s
		}
	}
	if len(out) > 10 {
		p.fail("Tags has %d entries: an object carries at most 10 tags.", len(out))
	}
	return out
}

// inventory reads the Inventory property: absent or empty is none.
// bucketOf is a bucket's name, given as a name or as its ARN.
func bucketOf(s string) string {
	if arn, name, ok := strings.Cut(s, ":::"); ok && strings.HasPrefix(arn, "arn:aws") && strings.HasSuffix(arn, ":s3") {
		return name
	}
	return s
}

func (p *parser) inventory(v any) *Inventory {
	raw := p.object(v, "Inventory must be a map with a Bucket")
	if raw == nil {
		return nil
	}
	var unknown []string
	for k := range raw {
		if !knownInventoryProperties[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.fail("Inventory has an unknown property %q.", k)
	}
	inv := &Inventory{
		Bucket:    p.str(raw, "Bucket", "Inventory.Bucket"),
		Prefix:    strings.Trim(p.prefix(raw, "Prefix", "Inventory.Prefix"), "/"),
		Format:    p.str(raw, "Format", "Inventory.Format"),
		Frequency: p.str(raw, "Frequency", "Inventory.Frequency"),

		DestinationBucket: p.str(raw, "DestinationBucket", "Inventory.DestinationBucket"),
	}
	inv.Bucket, inv.DestinationBucket = bucketOf(inv.Bucket), bucketOf(inv.DestinationBucket)
	if inv.DestinationBucket != "" && !bucketName.MatchString(inv.DestinationBucket) {
		p.fail("Inventory.DestinationBucket %q is not a valid bucket name.", inv.DestinationBucket)
	}
	switch {
	case inv.Bucket == "":
		p.fail("Inventory.Bucket is required: the bucket S3 Inventory delivers to.")
	case !bucketName.MatchString(inv.Bucket):
		p.fail("Inventory.Bucket %q is not a valid bucket name.", inv.Bucket)
	}
	if len(inv.Prefix) > 512 {
		p.fail("Inventory.Prefix is longer than 512 bytes.")
	}
	switch strings.ToLower(inv.Format) {
	case "", "csv":
		inv.Format = "CSV"
	case "parquet":
		inv.Format = "Parquet"
	default:
		p.fail("Inventory.Format %q is not CSV or Parquet (replaudit does not read ORC).", inv.Format)
	}
	switch strings.ToLower(inv.Frequency) {
	case "", "daily":
		inv.Frequency = "Daily"
	case "weekly":
		inv.Frequency = "Weekly"
	default:
		p.fail("Inventory.Frequency %q is not Daily or Weekly.", inv.Frequency)
	}
	return inv
}

func (p *parser) destinations(v any) []Destination {
	if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
		var list []any
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			p.fail("Destinations must be a list of {Bucket, Region, ...}, not %s.", describe(v))
			return nil
		}
		v = list
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		if v == nil || ok || v == "" {
			p.fail("Destinations needs at least one destination.")
		} else {
			p.fail("Destinations must be a list of {Bucket, Region, ...}, not %s.", describe(v))
		}
		return nil
	}
	out := make([]Destination, 0, len(list))
	for i, item := range list {
		label := fmt.Sprintf("Destinations[%d]", i)
		raw, ok := item.(map[string]any)
		if !ok {
			p.fail("%s must be a map with a Bucket, not %s.", label, describe(item))
			continue
		}
		var unknown []string
		for k := range raw {
			if !knownDestinationProperties[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			p.fail("%s has an unknown property %q.", label, k)
		}
		d := Destination{
			Bucket:           p.str(raw, "Bucket", label+".Bucket"),
			Region:           p.str(raw, "Region", label+".Region"),
			StorageClass:     strings.ToUpper(p.str(raw, "StorageClass", label+".StorageClass")),
			Account:          p.str(raw, "Account", label+".Account"),
			ReplicaKmsKeyArn: p.str(raw, "ReplicaKmsKeyArn", label+".ReplicaKmsKeyArn"),
			CreateIfMissing:  p.boolean(raw, "CreateIfMissing", label+".CreateIfMissing", false),
		}
		switch {
		case d.Bucket == "":
			p.fail("%s.Bucket is required.", label)
		case !bucketName.MatchString(d.Bucket):
			p.fail("%s.Bucket %q is not a valid bucket name.", label, d.Bucket)
		}
		if d.Region != "" && !regionName.MatchString(d.Region) {
			p.fail("%s.Region %q is not an AWS region name such as eu-west-1.", label, d.Region)
		}
		if d.CreateIfMissing && d.Region == "" {
			p.fail("%s.Region is required with CreateIfMissing, to know where to create the bucket.", label)
		}
		if d.StorageClass != "" && !slices.Contains(storageList, d.StorageClass) {
			p.fail("%s.StorageClass %q is not one of %s.", label, d.StorageClass, strings.Join(storageList, ", "))
		}
		if d.Account != "" && !accountID.MatchString(d.Account) {
			p.fail("%s.Account %q is not a 12-digit account id.", label, d.Account)
		}
		if d.ReplicaKmsKeyArn != "" && !kmsKeyARN.MatchString(d.ReplicaKmsKeyArn) {
			p.fail("%s.ReplicaKmsKeyArn %q is not a KMS key ARN.", label, d.ReplicaKmsKeyArn)
		}
		out = append(out, d)
	}
	return out
}

// queueRegion returns the region in an SQS queue ARN.
func queueRegion(arn string) string {
	if m := queueARN.FindStringSubmatch(arn); m != nil {
		return m[1]
	}
	return ""
}

package daily

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
)

// S3 holds the calls made in an inventory bucket: the day's folders are
// listed, manifests read.
type S3 interface {
	verify.S3
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// StateDB holds the calls a day's item and verify's summaries need, on the
// ledger's table.
type StateDB interface {
	verify.SummaryDB
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Location is where S3 Inventory delivers one bucket's inventories:
// <Prefix>/<Bucket>/<ConfigID>/ in the inventory bucket Inventory, read
// through S3 in that bucket's region.
type Location struct {
	Bucket    string // the inventoried bucket
	Inventory string // the bucket the inventories land in
	Prefix    string
	ConfigID  string
	// S3 returns the client of the inventory bucket's region; it may
	// have to find that region first.
	S3 func(context.Context) (S3, error)
}

// base is the folder of the configuration's inventories, with its slash.
func (l Location) base() string {
	return strings.TrimPrefix(strings.Trim(l.Prefix, "/")+"/", "/") + l.Bucket + "/" + l.ConfigID + "/"
}

// Fixed is a Location's S3 for a client already in the right region.
func Fixed(c S3) func(context.Context) (S3, error) {
	return func(context.Context) (S3, error) { return c, nil }
}

// Options configure a Verifier.
type Options struct {
	Source, Destination Location
	// Athena runs the query, over Engine's database and tables;
	// Engine.Timeout is replaced by what the invocation has left.
	Athena verifyathena.API
	Engine verifyathena.Options
	// Verify is what the verification records to: Ledger, Summaries and
	// Table, Publisher, Redrive, Settle, Retention. Engine, EngineName
	// and Found are set here.
	Verify verify.Options
	// States keeps the days' items in Table (the ledger's).
	States StateDB
	Table  string
	// Lease is how long a claimed day is left to its claimer: longer than
	// an invocation. Default 20 minutes.
	Lease time.Duration
	// Reserve is the time kept back from the invocation's deadline to
	// record the outcome; default 1 minute. Without a deadline the query
	// is waited for up to MaxWait, default 30 minutes.
	Reserve, MaxWait time.Duration
	Log              *slog.Logger
	Clock            func() time.Time
}

// Verifier verifies each day's inventories once both have landed.
type Verifier struct{ opts Options }

// New returns a Verifier.
func New(o Options) (*Verifier, error) {
	switch {
	case o.Athena == nil || o.States == nil || o.Table == "":
		return nil, errors.New("daily: an Athena client and the ledger's table are required")
	case o.Source.Bucket == "" || o.Destination.Bucket == "" || o.Source.S3 == nil || o.Destination.S3 == nil:
		return nil, errors.New("daily: both buckets and their inventories' locations are required")
	case o.Source.Inventory == "" || o.Destination.Inventory == "" || o.Source.ConfigID == "" || o.Destination.ConfigID == "":
		return nil, errors.New("daily: both inventory buckets and configuration ids are required")
	}
	if _, err := verifyathena.New(o.Athena, o.Engine); err != nil {
		return nil, err
	}
	if o.Lease <= 0 {
		o.Lease = 20 * time.Minute
	}
	if o.Reserve <= 0 {
		o.Reserve = time.Minute
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Verify.Log, o.Verify.Clock = o.Log, o.Clock
	o.Verify.Summaries, o.Verify.Table = o.States, o.Table
	return &Verifier{opts: o}, nil
}

// The states of a day.
const (
	Waiting  = "WAITING"
	Running  = "RUNNING"
	Failed   = "FAILED"
	Recorded = "RECORDED"
)

// StatePrefix starts the partition key of the days' items.
const StatePrefix = "VERIFYRUN#"

// Outcome is what an invocation did for a day.
type Outcome struct {
	Date  string
	State string // the day's state after it
	// Summary is the verification's, when it ran to the end now.
	Summary *verify.Summary
}

// ErrRunning says the day's query outlived the invocation and runs on: a
// later invocation reads it. It wraps verifyathena.ErrRunning.
var ErrRunning = verifyathena.ErrRunning

// dayFolder is how S3 names an inventory's folder: its time.
const dayFolder = "2006-01-02T15-04Z"

// Manifest verifies the day of a source inventory whose manifest.json
// landed at s3://bucket/key, when the destination's inventory of that day
// is there too; otherwise the day is WAITING. A manifest of another
// configuration or bucket is no business of this one: ok is false.
func (v *Verifier) Manifest(ctx context.Context, bucket, key string) (out Outcome, ok bool, err error) {
	src := v.opts.Source
	folder, found := strings.CutPrefix(key, src.base())
	if bucket != src.Inventory || !found || path.Base(key) != "manifest.json" {
		return Outcome{}, false, nil
	}
	t, err := time.Parse(dayFolder, path.Dir(folder))
	if err != nil {
		return Outcome{}, false, nil
	}
	out, err = v.day(ctx, t.Format(time.DateOnly), key)
	return out, true, err
}

// Pending verifies the newest day both inventories have, unless it is
// recorded already; Date is empty when there is no such day.
func (v *Verifier) Pending(ctx context.Context) (Outcome, error) {
	srcDays, err := v.days(ctx, v.opts.Source)
	if err != nil {
		return Outcome{}, err
	}
	dstDays, err := v.days(ctx, v.opts.Destination)
	if err != nil {
		return Outcome{}, err
	}
	var date string
	for d := range srcDays {
		if _, ok := dstDays[d]; ok && d > date {
			date = d
		}
	}
	if date == "" {
		v.opts.Log.Info("no day both inventories have yet", "source", v.opts.Source.Bucket, "destination", v.opts.Destination.Bucket)
		return Outcome{}, nil
	}
	st, err := v.state(ctx, date)
	if err != nil {
		return Outcome{}, err
	}
	if st.State == "" {
		latest, found, err := verify.Latest(ctx, v.opts.States, v.opts.Table, v.opts.Source.Bucket)
		if err != nil {
			return Outcome{}, err
		}
		if found && latest.Destination == v.opts.Destination.Bucket && latest.Date >= date {
			return Outcome{Date: date, State: Recorded}, nil
		}
	}
	return v.day(ctx, date, srcDays[date])
}

// days lists a location's inventories by day: the newest folder of each
// day, as the key of its manifest.json.
func (v *Verifier) days(ctx context.Context, l Location) (map[string]string, error) {
	c, err := l.S3(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(l.Inventory), Prefix: aws.String(l.base()), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the inventories of %s in s3://%s/%s: %w", l.Bucket, l.Inventory, l.base(), err)
		}
		for _, cp := range page.CommonPrefixes {
			folder := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), l.base()), "/")
			t, err := time.Parse(dayFolder, folder)
			if err != nil {
				continue // data/, hive/
			}
			d := t.Format(time.DateOnly)
			if key := l.base() + folder + "/manifest.json"; key > out[d] {
				out[d] = key
			}
		}
	}
	return out, nil
}

// load reads a location's inventory of a day: the newest whose
// manifest.json is there. found is false when none is yet.
func (v *Verifier) load(ctx context.Context, l Location, date string) (inv verify.Inventory, found bool, err error) {
	c, err := l.S3(ctx)
	if err != nil {
		return inv, false, err
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(l.Inventory), Prefix: aws.String(l.base() + date + "T"), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return inv, false, fmt.Errorf("list the inventories of %s of %s: %w", l.Bucket, date, err)
		}
		for _, cp := range page.CommonPrefixes {
			keys = append(keys, aws.ToString(cp.Prefix)+"manifest.json")
		}
	}
	slices.Sort(keys)
	for _, key := range slices.Backward(keys) {
		inv, err := verify.Load(ctx, c, l.Inventory, key)
		switch {
		case err == nil:
			return inv, true, nil
		case errors.Is(err, verify.ErrBadInput) && !verify.NotFound(err):
			return inv, false, err
		}
		// Its data is landing; manifest.json comes last.
	}
	return inv, false, nil
}

// day verifies one day, if both inventories are there and it is not
// recorded or claimed by another invocation.
func (v *Verifier) day(ctx context.Context, date, srcKey string) (Outcome, error) {
	out := Outcome{Date: date}
	log := v.opts.Log.With("source", v.opts.Source.Bucket, "destination", v.opts.Destination.Bucket, "date", date)
	st, err := v.state(ctx, date)
	if err != nil {
		return out, err
	}
	if st.State == Recorded {
		log.Info("the day's verification is recorded already")
		out.State = Recorded
		return out, nil
	}
	dst, found, err := v.load(ctx, v.opts.Destination, date)
	if err != nil {
		return out, v.fail(ctx, date, "", err)
	}
	if !found {
		if err := v.wait(ctx, date, srcKey); err != nil {
			return out, err
		}
		log.Info("the destination's inventory of the day has not landed; the schedule verifies the day once it has")
		out.State = Waiting
		return out, nil
	}
	srcC, err := v.opts.Source.S3(ctx)
	if err != nil {
		return out, err
	}
	src, err := verify.Load(ctx, srcC, v.opts.Source.Inventory, srcKey)
	if err != nil {
		return out, v.fail(ctx, date, "", err)
	}
	token := ledger.NewID()
	claimed, ok, err := v.claim(ctx, date, token, src.URI(), dst.URI())
	if err != nil {
		return out, err
	}
	if !ok {
		log.Info("another invocation holds the day, or recorded it")
		out.State = Running
		return out, nil
	}
	eo := v.opts.Engine
	eo.Detach = true
	eo.Timeout = v.opts.MaxWait
	if dl, has := ctx.Deadline(); has {
		eo.Timeout = max(time.Until(dl)-v.opts.Reserve, time.Second)
	}
	eo.Started = func(ctx context.Context, id string) error { return v.started(ctx, date, token, id) }
	e, err := verifyathena.New(v.opts.Athena, eo)
	if err != nil {
		return out, v.fail(ctx, date, token, err)
	}
	if claimed.QueryID != "" && claimed.SourceManifest == src.URI() && claimed.DestinationManifest == dst.URI() {
		log.Info("reading the query an earlier invocation started", "queryId", claimed.QueryID)
		e.Resume(claimed.QueryID)
	}
	vo := v.opts.Verify
	vo.Engine, vo.EngineName = e, "athena"
	ver, err := verify.New(vo)
	if err != nil {
		return out, v.fail(ctx, date, token, err)
	}
	s, err := ver.Verify(ctx, src, dst)
	switch {
	case errors.Is(err, verifyathena.ErrRunning):
		if derr := v.detach(ctx, date, token); derr != nil {
			return out, errors.Join(err, derr)
		}
		log.Warn("the query outlived the invocation and runs on; the next invocation reads it", "queryId", e.QueryID())
		out.State = Running
		return out, err
	case err != nil:
		return out, v.fail(ctx, date, token, err)
	}
	if err := v.recorded(ctx, date, token, s); err != nil {
		return out, err
	}
	out.State, out.Summary = Recorded, &s
	log.Info("the day's verification is recorded", "queryId", e.QueryID(), "scannedBytes", e.Scanned(), "clean", s.Clean())
	return out, nil
}

// state is a day's item.
type state struct {
	State                               string
	QueryID                             string
	SourceManifest, DestinationManifest string
}

func (v *Verifier) key(date string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv(StatePrefix + v.opts.Source.Bucket), "sk": sv(date + "#" + v.opts.Destination.Bucket)}
}

func sv(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func str(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func stateOf(item map[string]types.AttributeValue) state {
	return state{State: str(item, "state"), QueryID: str(item, "queryId"), SourceManifest: str(item, "sourceManifest"), DestinationManifest: str(item, "destinationManifest")}
}

// State reads a day's state: "" for a day never seen.
func (v *Verifier) State(ctx context.Context, date string) (string, error) {
	st, err := v.state(ctx, date)
	return st.State, err
}

func (v *Verifier) state(ctx context.Context, date string) (state, error) {
	out, err := v.opts.States.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(v.opts.Table), Key: v.key(date), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return state{}, fmt.Errorf("read the verification state of %s of %s: %w", v.opts.Source.Bucket, date, err)
	}
	return stateOf(out.Item), nil
}

func (v *Verifier) update(ctx context.Context, date, expr, cond string, values map[string]types.AttributeValue, ret types.ReturnValue) (map[string]types.AttributeValue, bool, error) {
	names := map[string]string{}
	expr, cond = ledger.Placeholders(expr, names), ledger.Placeholders(cond, names)
	in := &dynamodb.UpdateItemInput{TableName: aws.String(v.opts.Table), Key: v.key(date), UpdateExpression: aws.String(expr),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: ret}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	if len(values) == 0 {
		in.ExpressionAttributeValues = nil
	}
	out, err := v.opts.States.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("write the verification state of %s of %s: %w", v.opts.Source.Bucket, date, err)
	}
	return out.Attributes, true, nil
}

func (v *Verifier) common(date string) (string, map[string]types.AttributeValue) {
	now := v.opts.Clock().UTC()
	retention := v.opts.Verify.Retention
	if retention <= 0 {
		retention = 400 * 24 * time.Hour
	}
	return "source = :src, destination = :dst, date = :date, updatedAt = :now, ttl = :ttl", map[string]types.AttributeValue{
		":src": sv(v.opts.Source.Bucket), ":dst": sv(v.opts.Destination.Bucket), ":date": sv(date), ":now": sv(now.Format(time.RFC3339Nano)),
		":ttl": &types.AttributeValueMemberN{Value: fmt.Sprint(now.Add(retention).Unix())}}
}

// wait writes WAITING for a day the destination has no inventory of.
func (v *Verifier) wait(ctx context.Context, date, srcKey string) error {
	set, values := v.common(date)
	values[":waiting"], values[":sm"] = sv(Waiting), sv("s3://"+v.opts.Source.Inventory+"/"+srcKey)
	_, _, err := v.update(ctx, date, "SET state = :waiting, sourceManifest = :sm, "+set,
		"attribute_not_exists(pk) OR state = :waiting", values, types.ReturnValueNone)
	return err
}

// claim takes a day for this invocation; ok is false when another holds
// it or it is recorded.
func (v *Verifier) claim(ctx context.Context, date, token, srcURI, dstURI string) (state, bool, error) {
	set, values := v.common(date)
	values[":running"], values[":waiting"], values[":failed"] = sv(Running), sv(Waiting), sv(Failed)
	values[":tok"], values[":sm"], values[":dm"] = sv(token), sv(srcURI), sv(dstURI)
	values[":expired"] = sv(v.opts.Clock().Add(-v.opts.Lease).UTC().Format(time.RFC3339Nano))
	item, ok, err := v.update(ctx, date,
		"SET state = :running, token = :tok, claimedAt = :now, sourceManifest = :sm, destinationManifest = :dm, "+set,
		"attribute_not_exists(pk) OR state IN (:waiting, :failed) OR (state = :running AND (attribute_not_exists(claimedAt) OR claimedAt < :expired))",
		values, types.ReturnValueAllOld)
	if err != nil || !ok {
		return state{}, ok, err
	}
	return stateOf(item), true, nil
}

func (v *Verifier) started(ctx context.Context, date, token, id string) error {
	_, ok, err := v.update(ctx, date, "SET queryId = :q", "token = :tok", map[string]types.AttributeValue{":q": sv(id), ":tok": sv(token)}, types.ReturnValueNone)
	if err == nil && !ok {
		err = errors.New("another invocation took the day over")
	}
	return err
}

// detach lets the next invocation claim the day at once, and read the
// query that runs on.
func (v *Verifier) detach(ctx context.Context, date, token string) error {
	ctx = context.WithoutCancel(ctx)
	_, _, err := v.update(ctx, date, "REMOVE token, claimedAt", "token = :tok", map[string]types.AttributeValue{":tok": sv(token)}, types.ReturnValueNone)
	return err
}

// fail writes FAILED and returns cause: the next invocation verifies the
// day again, with a new query. token "" is a day not claimed yet.
func (v *Verifier) fail(ctx context.Context, date, token string, cause error) error {
	ctx = context.WithoutCancel(ctx)
	set, values := v.common(date)
	values[":failed"], values[":why"], values[":waiting"] = sv(Failed), sv(truncate(cause.Error(), 2000)), sv(Waiting)
	cond := "attribute_not_exists(pk) OR state IN (:failed, :waiting)"
	if token != "" {
		cond, values[":tok"] = "token = :tok", sv(token)
		delete(values, ":waiting")
	}
	if _, _, err := v.update(ctx, date, "SET state = :failed, reason = :why, "+set+" REMOVE queryId, token, claimedAt",
		cond, values, types.ReturnValueNone); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// recorded ends a day.
func (v *Verifier) recorded(ctx context.Context, date, token string, s verify.Summary) error {
	ctx = context.WithoutCancel(ctx)
	set, values := v.common(date)
	n := func(x int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(x)} }
	values[":recorded"], values[":tok"] = sv(Recorded), sv(token)
	values[":missing"], values[":diverged"], values[":checked"] = n(s.Missing), n(s.Diverged), n(s.Checked)
	_, ok, err := v.update(ctx, date, "SET state = :recorded, missing = :missing, diverged = :diverged, checked = :checked, "+set+
		" REMOVE token, claimedAt, reason", "token = :tok", values, types.ReturnValueNone)
	if err == nil && !ok {
		v.opts.Log.Warn("another invocation took the day over while this one verified it", "source", s.Source, "date", date)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

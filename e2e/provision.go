package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/stack"
)

// Options describe a stack to provision.
type Options struct {
	Sandbox *sandbox.Sandbox
	// Template is the path of template.yaml; Events, of the events folder
	// whose CloudFormation and scheduler requests are sent.
	Template, Events string
	// Inputs are the stack's parameters and pseudo parameters. The account
	// defaults to the sandbox's, whose ARNs the setup function checks the
	// stack's resources against; Resource is the provisioner's own.
	Inputs  stack.Inputs
	Builder *Builder
	// Output receives every function's logs, each line after its logical id.
	Output io.Writer
}

// Resource is one resource of the stack, generated ones included.
type Resource struct {
	LogicalID, Type string
	// Generated is a resource SAM adds for a function (its role, its
	// schedule).
	Generated bool
	// Ref and Attrs are what Ref and Fn::GetAtt give.
	Ref   string
	Attrs map[string]string
	// Properties are the resolved properties it was provisioned with.
	Properties     map[string]any
	DeletionPolicy string
	// Skipped: the sandbox cannot stand for it; Ref and Attrs are invented.
	Skipped bool
	// Unrepresented lists the properties the sandbox cannot represent,
	// each "Name: why".
	Unrepresented []string
}

// Answer is a custom resource's answer to one of CloudFormation's requests.
type Answer struct {
	LogicalID   string
	RequestType cfn.RequestType
	Response    cfn.Response
}

// Stack is template.yaml provisioned on the sandbox.
type Stack struct {
	opts      Options
	tree      map[string]any
	resolved  *stack.Resolved
	order     []string
	resources map[string]*Resource
	functions map[string]*Function
	mappings  map[string]*mapping
	schedules map[string]*Schedule
	answers   []Answer
	outputs   map[string]string
	responses *responder
	db        *dynamodb.Client
	sns       *sns.Client
}

// Provision resolves the template for o.Inputs and stands each resource up
// on the sandbox, in Order, each with the settings the template gives it.
// On an error the stack is left as far as it got: Close it.
func Provision(ctx context.Context, o Options) (*Stack, error) {
	if o.Sandbox == nil || o.Builder == nil || o.Template == "" || o.Events == "" {
		return nil, errors.New("e2e: a sandbox, a builder, the template and the events folder are required")
	}
	if o.Inputs.AccountID == "" {
		o.Inputs.AccountID = sandbox.Account
	}
	if o.Inputs.Region == "" {
		o.Inputs.Region = "us-east-1"
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	tree, err := stack.LoadTree(o.Template)
	if err != nil {
		return nil, err
	}
	cfg, err := o.Sandbox.AWSConfig(ctx, o.Inputs.Region)
	if err != nil {
		return nil, err
	}
	s := &Stack{
		opts: o, tree: tree,
		resources: map[string]*Resource{}, functions: map[string]*Function{}, mappings: map[string]*mapping{}, schedules: map[string]*Schedule{},
		responses: newResponder(), db: dynamodb.NewFromConfig(cfg), sns: sns.NewFromConfig(cfg),
	}
	in := o.Inputs
	in.Resource = s.lookup
	if s.resolved, err = stack.Resolve(tree, in); err != nil {
		return s, err
	}
	if s.order, err = s.resolved.Order(); err != nil {
		return s, err
	}
	for _, id := range s.order {
		if err := s.create(ctx, id); err != nil {
			return s, err
		}
	}
	return s, s.publishOutputs()
}

// lookup answers the resolver: a resource's Ref and attributes, once it is
// provisioned.
func (s *Stack) lookup(id string) (string, map[string]string, bool) {
	r, ok := s.resources[id]
	if !ok {
		return "", nil, false
	}
	return r.Ref, r.Attrs, true
}

// create provisions one resource, after the resources SAM generates for
// it, which it may name.
func (s *Stack) create(ctx context.Context, id string) error {
	for _, g := range s.resolved.Generated() {
		if g.Owner == id && s.resources[g.LogicalID] == nil {
			s.resources[g.LogicalID] = s.invent(&stack.ResolvedResource{LogicalID: g.LogicalID, Type: g.Type}, true)
		}
	}
	res, err := s.resolved.ResolveResource(id)
	if err != nil {
		return err
	}
	r, err := s.provision(ctx, res)
	if err != nil {
		return fmt.Errorf("provision %s (%s): %w", id, res.Type, err)
	}
	s.resources[id] = r
	return nil
}

// Types the sandbox stands for, with the properties each reads and those
// it knowingly cannot represent. Any other property is an error: the
// template says something the sandbox would silently not do.
var handled = map[string]struct {
	reads         []string
	unrepresented map[string]string
}{
	"AWS::SQS::Queue": {
		reads: []string{"QueueName", "DelaySeconds", "VisibilityTimeout", "RedrivePolicy"},
		unrepresented: map[string]string{
			"MessageRetentionPeriod": "the sandbox keeps a message until it is received",
			"SqsManagedSseEnabled":   "the sandbox encrypts nothing at rest",
		},
	},
	"AWS::DynamoDB::Table": {
		reads: []string{"TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
			"LocalSecondaryIndexes", "ProvisionedThroughput", "TimeToLiveSpecification"},
		unrepresented: map[string]string{
			"PointInTimeRecoverySpecification": "dynalite keeps no backups",
			"SSESpecification":                 "dynalite encrypts nothing at rest",
		},
	},
	"AWS::SNS::Topic": {
		reads: []string{"TopicName"},
		unrepresented: map[string]string{
			"DisplayName":    "the sandbox's SNS keeps no topic attributes",
			"KmsMasterKeyId": "the sandbox's SNS encrypts nothing (the key itself is skipped)",
		},
	},
	"AWS::Lambda::EventSourceMapping": {
		reads: []string{"EventSourceArn", "FunctionName", "BatchSize", "FunctionResponseTypes", "Enabled"},
		unrepresented: map[string]string{
			"MaximumBatchingWindowInSeconds": "the sandbox delivers a batch as soon as messages are visible",
			"ScalingConfig":                  "the sandbox invokes one batch at a time, one emulator per function, whatever the MaximumConcurrency",
		},
	},
	stack.FunctionType: {
		reads: []string{"Runtime", "Handler", "Timeout", "MemorySize", "Environment", "LoggingConfig", "Events", "CodeUri", "Description"},
		unrepresented: map[string]string{
			"Architectures":    "the bootstrap is built for this machine, which the emulator runs it on",
			"Policies":         "the sandbox checks no IAM; internal/stack's tests hold each policy to the calls its function makes",
			"Role":             "the sandbox checks no IAM",
			"EphemeralStorage": "the emulator's /tmp is this machine's",
		},
	},
}

func isCustom(typ string) bool {
	return strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource"
}

// provision stands one resolved resource up, or invents it.
func (s *Stack) provision(ctx context.Context, res *stack.ResolvedResource) (*Resource, error) {
	if isCustom(res.Type) {
		return s.createCustom(ctx, res)
	}
	if _, ok := handled[res.Type]; !ok {
		return s.invent(res, false), nil
	}
	unrepresented, err := checkProperties(res)
	if err != nil {
		return nil, err
	}
	r := &Resource{LogicalID: res.LogicalID, Type: res.Type, Properties: res.Properties, DeletionPolicy: res.DeletionPolicy, Unrepresented: unrepresented}
	switch res.Type {
	case "AWS::SQS::Queue":
		err = s.createQueue(r)
	case "AWS::DynamoDB::Table":
		err = s.createTable(ctx, r)
	case "AWS::SNS::Topic":
		err = s.createTopic(ctx, r)
	case "AWS::Lambda::EventSourceMapping":
		err = s.createMapping(r)
	case stack.FunctionType:
		err = s.createFunction(ctx, res, r)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// checkProperties returns the properties of a resource of a handled type
// that the sandbox cannot represent, each "Name: why", and an error for
// one the provisioner does not know.
func checkProperties(res *stack.ResolvedResource) ([]string, error) {
	h := handled[res.Type]
	var out []string
	for _, p := range sortedKeys(res.Properties) {
		if why, known := h.unrepresented[p]; known {
			out = append(out, p+": "+why)
		} else if !slices.Contains(h.reads, p) {
			return nil, fmt.Errorf("property %s: the provisioner does not know what the sandbox should do with it", p)
		}
	}
	return out, nil
}

// invent gives a resource the sandbox cannot stand for a physical id and
// attributes shaped as AWS makes them.
func (s *Stack) invent(res *stack.ResolvedResource, generated bool) *Resource {
	p := s.resolved.Pseudo
	region, account, partition := p["AWS::Region"], p["AWS::AccountId"], p["AWS::Partition"]
	named := func(prop string, max int) string {
		if v, ok := res.Properties[prop].(string); ok && v != "" {
			return v
		}
		return s.physicalName(res.LogicalID, max)
	}
	r := &Resource{LogicalID: res.LogicalID, Type: res.Type, Generated: generated, Properties: res.Properties, DeletionPolicy: res.DeletionPolicy, Skipped: true}
	switch res.Type {
	case "AWS::IAM::Role":
		name := named("RoleName", 64)
		r.Ref = name
		r.Attrs = map[string]string{"Arn": fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, name), "RoleId": "AROA" + s.suffix(res.LogicalID)}
	case "AWS::IAM::ManagedPolicy":
		arn := fmt.Sprintf("arn:%s:iam::%s:policy/%s", partition, account, named("ManagedPolicyName", 128))
		r.Ref, r.Attrs = arn, map[string]string{"PolicyArn": arn}
	case "AWS::KMS::Key":
		id := strings.ToLower(s.suffix(res.LogicalID + "/key"))
		r.Ref = id
		r.Attrs = map[string]string{"Arn": fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", partition, region, account, id), "KeyId": id}
	case "AWS::Logs::LogGroup":
		name := named("LogGroupName", 512)
		r.Ref, r.Attrs = name, map[string]string{"Arn": fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", partition, region, account, name)}
	case "AWS::CloudWatch::Alarm":
		name := named("AlarmName", 255)
		r.Ref, r.Attrs = name, map[string]string{"Arn": fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", partition, region, account, name)}
	case "AWS::CloudWatch::Dashboard":
		r.Ref, r.Attrs = named("DashboardName", 255), map[string]string{}
	case "AWS::Scheduler::Schedule":
		name := named("Name", 64)
		r.Ref, r.Attrs = name, map[string]string{"Arn": fmt.Sprintf("arn:%s:scheduler:%s:%s:schedule/default/%s", partition, region, account, name)}
	default:
		service, kind := "cloudformation", "resource"
		if parts := strings.Split(res.Type, "::"); len(parts) == 3 {
			service, kind = strings.ToLower(parts[1]), strings.ToLower(parts[2])
		}
		name := s.physicalName(res.LogicalID, 255)
		r.Ref = name
		r.Attrs = map[string]string{"Arn": fmt.Sprintf("arn:%s:%s:%s:%s:%s/%s", partition, service, region, account, kind, name)}
	}
	return r
}

// physicalName is a name as CloudFormation makes one for a resource the
// template does not name: stack-LogicalId-SUFFIX, at most max long.
func (s *Stack) physicalName(logicalID string, max int) string {
	suffix := s.suffix(logicalID)
	head := s.resolved.Pseudo["AWS::StackName"] + "-" + logicalID
	if room := max - len(suffix) - 1; len(head) > room {
		head = head[:room]
	}
	return head + "-" + suffix
}

// suffix is stable for a stack and logical id, as CloudFormation's is for
// the life of a resource.
func (s *Stack) suffix(logicalID string) string {
	sum := sha256.Sum256([]byte(s.resolved.Pseudo["AWS::StackId"] + "/" + logicalID))
	return base32.StdEncoding.EncodeToString(sum[:])[:12]
}

func (s *Stack) createQueue(r *Resource) error {
	p := r.Properties
	region := s.resolved.Pseudo["AWS::Region"]
	o := sandbox.QueueOptions{Region: region, Name: s.physicalName(r.LogicalID, 80)}
	if name, ok := p["QueueName"]; ok {
		o.Name = fmt.Sprint(name)
	}
	var err error
	seconds := func(prop string) time.Duration {
		v, ok := p[prop]
		if !ok || err != nil {
			return 0
		}
		n, e := strconv.Atoi(fmt.Sprint(v))
		if e != nil || n < 0 {
			err = fmt.Errorf("%s %v is not a whole number of seconds", prop, v)
		}
		return time.Duration(n) * time.Second
	}
	o.Delay = seconds("DelaySeconds")
	o.VisibilityTimeout = seconds("VisibilityTimeout")
	if err != nil {
		return err
	}
	if rp, ok := p["RedrivePolicy"]; ok {
		policy, ok := rp.(map[string]any)
		if !ok {
			return fmt.Errorf("RedrivePolicy: want a mapping, got %v", rp)
		}
		for k := range policy {
			if k != "deadLetterTargetArn" && k != "maxReceiveCount" {
				return fmt.Errorf("RedrivePolicy.%s: the sandbox's queues know deadLetterTargetArn and maxReceiveCount only", k)
			}
		}
		o.DeadLetterARN = fmt.Sprint(policy["deadLetterTargetArn"])
		if o.MaxReceiveCount, err = strconv.Atoi(fmt.Sprint(policy["maxReceiveCount"])); err != nil || o.MaxReceiveCount < 1 {
			return fmt.Errorf("RedrivePolicy.maxReceiveCount %v is not a positive whole number", policy["maxReceiveCount"])
		}
	}
	arn, err := s.opts.Sandbox.CreateQueue(o)
	if err != nil {
		return err
	}
	r.Ref = s.opts.Sandbox.QueueURL(arn)
	r.Attrs = map[string]string{"Arn": arn, "QueueName": o.Name, "QueueUrl": r.Ref}
	return nil
}

// tableSpec is the part of AWS::DynamoDB::Table that CreateTable takes,
// under the same names; a field CreateTable does not know is an error.
type tableSpec struct {
	TableName               string
	BillingMode             dbtypes.BillingMode
	AttributeDefinitions    []dbtypes.AttributeDefinition
	KeySchema               []dbtypes.KeySchemaElement
	GlobalSecondaryIndexes  []dbtypes.GlobalSecondaryIndex
	LocalSecondaryIndexes   []dbtypes.LocalSecondaryIndex
	ProvisionedThroughput   *dbtypes.ProvisionedThroughput
	TimeToLiveSpecification *struct {
		AttributeName string
		Enabled       bool
	}
}

func (s *Stack) createTable(ctx context.Context, r *Resource) error {
	reads := map[string]any{}
	for _, k := range handled[r.Type].reads {
		if v, ok := r.Properties[k]; ok {
			reads[k] = v
		}
	}
	raw, err := json.Marshal(reads)
	if err != nil {
		return err
	}
	var spec tableSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("the table's properties, as CreateTable reads them: %w", err)
	}
	if spec.TableName == "" {
		spec.TableName = s.physicalName(r.LogicalID, 255)
	}
	_, err = s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(spec.TableName), BillingMode: spec.BillingMode,
		AttributeDefinitions: spec.AttributeDefinitions, KeySchema: spec.KeySchema,
		GlobalSecondaryIndexes: spec.GlobalSecondaryIndexes, LocalSecondaryIndexes: spec.LocalSecondaryIndexes,
		ProvisionedThroughput: spec.ProvisionedThroughput,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", spec.TableName, err)
	}
	w := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.TableName)}, time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", spec.TableName, err)
	}
	if ttl := spec.TimeToLiveSpecification; ttl != nil && ttl.Enabled {
		_, err := s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(spec.TableName),
			TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String(ttl.AttributeName), Enabled: aws.Bool(true)}})
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "UnknownOperation"):
			r.Unrepresented = append(r.Unrepresented, "TimeToLiveSpecification: dynalite has no UpdateTimeToLive, so items never expire")
		case err != nil:
			return fmt.Errorf("time to live of %s: %w", spec.TableName, err)
		}
	}
	p := s.resolved.Pseudo
	r.Ref = spec.TableName
	r.Attrs = map[string]string{"Arn": fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", p["AWS::Partition"], p["AWS::Region"], p["AWS::AccountId"], spec.TableName)}
	return nil
}

func (s *Stack) createTopic(ctx context.Context, r *Resource) error {
	name := s.physicalName(r.LogicalID, 256)
	if n, ok := r.Properties["TopicName"]; ok {
		name = fmt.Sprint(n)
	}
	out, err := s.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	r.Ref = aws.ToString(out.TopicArn)
	r.Attrs = map[string]string{"TopicArn": r.Ref, "TopicName": name}
	return nil
}

func (s *Stack) createMapping(r *Resource) error {
	p := r.Properties
	if on, ok := p["Enabled"]; ok && fmt.Sprint(on) != "true" {
		return errors.New("a disabled mapping: the sandbox's mappings run from the start")
	}
	// The sandbox's mapping settles each message of a batch on its own,
	// from the function's batchItemFailures, as ReportBatchItemFailures
	// does; without it Lambda would retry whole batches.
	types, _ := p["FunctionResponseTypes"].([]any)
	if !containsValue(types, "ReportBatchItemFailures") {
		return errors.New("FunctionResponseTypes lacks ReportBatchItemFailures, which the sandbox's mappings always honour")
	}
	queue := fmt.Sprint(p["EventSourceArn"])
	if !s.isQueue(queue) {
		return fmt.Errorf("EventSourceArn %s is no queue of the stack", queue)
	}
	name := fmt.Sprint(p["FunctionName"])
	fn := s.functionByName(name)
	if fn == nil {
		return fmt.Errorf("FunctionName %s is no function of the stack", name)
	}
	batch := 10 // Lambda's default for SQS
	if b, ok := p["BatchSize"]; ok {
		n, err := strconv.Atoi(fmt.Sprint(b))
		if err != nil || n < 1 {
			return fmt.Errorf("BatchSize %v is not a positive whole number", b)
		}
		batch = n
	}
	m := &mapping{fn: fn}
	if err := s.opts.Sandbox.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: m, BatchSize: batch}); err != nil {
		return err
	}
	s.mappings[r.LogicalID] = m
	r.Ref = strings.ToLower(s.suffix(r.LogicalID))
	r.Attrs = map[string]string{"Id": r.Ref}
	return nil
}

func (s *Stack) createFunction(ctx context.Context, res *stack.ResolvedResource, r *Resource) error {
	c, err := res.Function()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(c.Runtime, "provided.") {
		return fmt.Errorf("Runtime %q: the emulator runs custom-runtime bootstraps (provided.*) only", c.Runtime)
	}
	if bm, _ := res.Metadata["BuildMethod"].(string); bm != "makefile" {
		return fmt.Errorf("Metadata.BuildMethod %q: the provisioner builds as sam build does with makefile", bm)
	}
	if lg := c.LoggingConfig["LogGroup"]; lg != "" {
		r.Unrepresented = append(r.Unrepresented, "LoggingConfig.LogGroup: the function's logs go to the test's output")
	}
	bootstrap, err := s.opts.Builder.Bootstrap(ctx, res.LogicalID)
	if err != nil {
		return err
	}
	p := s.resolved.Pseudo
	name := s.physicalName(res.LogicalID, 64)
	fn := &Function{
		LogicalID: res.LogicalID, Name: name,
		ARN:       fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", p["AWS::Partition"], p["AWS::Region"], p["AWS::AccountId"], name),
		bootstrap: bootstrap, sandbox: s.opts.Sandbox,
		output: &prefixed{w: s.opts.Output, prefix: "[" + res.LogicalID + "] "},
	}
	for _, ev := range sortedKeys(c.Events) {
		e := c.Events[ev]
		switch e.Type {
		case "ScheduleV2", "Schedule":
			g := s.resources[res.LogicalID+ev]
			if g == nil {
				return fmt.Errorf("Events.%s: SAM generates no schedule for it", ev)
			}
			sc := &Schedule{LogicalID: g.LogicalID, Function: fn, Expression: e.ScheduleExpression, stack: s}
			// The schedule's name and ARN, once the event's properties are
			// resolved with the function's.
			named := s.invent(&stack.ResolvedResource{LogicalID: g.LogicalID, Type: g.Type, Properties: e.Properties}, true)
			g.Ref, g.Attrs, g.Properties, g.Skipped = named.Ref, named.Attrs, e.Properties, false
			sc.Name, sc.ARN = g.Ref, g.Attrs["Arn"]
			s.schedules[g.LogicalID] = sc
		default:
			return fmt.Errorf("Events.%s: a %s event, which the provisioner does not stand up", ev, e.Type)
		}
	}
	if err := fn.start(ctx, c); err != nil {
		return err
	}
	s.functions[res.LogicalID] = fn
	r.Ref = name
	r.Attrs = map[string]string{"Arn": fn.ARN}
	return nil
}

// createCustom sends CloudFormation's Create to the function behind the
// ServiceToken; the answer's Data are the resource's attributes.
func (s *Stack) createCustom(ctx context.Context, res *stack.ResolvedResource) (*Resource, error) {
	resp, err := s.customRequest(ctx, cfn.RequestCreate, res, "", nil)
	if err != nil {
		return nil, err
	}
	r := &Resource{LogicalID: res.LogicalID, Type: res.Type, Properties: res.Properties, DeletionPolicy: res.DeletionPolicy}
	if err := r.answered(resp); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Stack) customRequest(ctx context.Context, typ cfn.RequestType, res *stack.ResolvedResource, physical string, old map[string]any) (cfn.Response, error) {
	resp, err := s.send(ctx, customRequest{
		requestType: typ, stackID: s.resolved.Pseudo["AWS::StackId"], logicalID: res.LogicalID, resourceType: res.Type,
		physicalID: physical, serviceToken: fmt.Sprint(res.Properties["ServiceToken"]), properties: res.Properties, old: old,
	})
	if err != nil {
		return resp, err
	}
	s.answers = append(s.answers, Answer{LogicalID: res.LogicalID, RequestType: typ, Response: resp})
	if resp.Status != cfn.StatusSuccess {
		return resp, fmt.Errorf("%s %s FAILED: %s", typ, res.LogicalID, resp.Reason)
	}
	return resp, nil
}

// answered takes a successful answer's id and Data as the resource's Ref
// and attributes.
func (r *Resource) answered(resp cfn.Response) error {
	r.Ref = resp.PhysicalResourceID
	r.Attrs = map[string]string{}
	for k, v := range resp.Data {
		switch t := v.(type) {
		case string:
			r.Attrs[k] = t
		default:
			b, err := json.Marshal(t)
			if err != nil {
				return fmt.Errorf("Data.%s: %w", k, err)
			}
			r.Attrs[k] = string(b)
		}
	}
	return nil
}

// publishOutputs evaluates the stack's outputs and declares them to the
// sandbox's CloudFormation, as DescribeStacks gives them.
func (s *Stack) publishOutputs() error {
	outs, err := s.resolved.Outputs()
	if err != nil {
		return err
	}
	s.outputs = map[string]string{}
	for k, v := range outs {
		switch t := v.(type) {
		case string:
			s.outputs[k] = t
		case []any:
			parts := make([]string, len(t))
			for i, e := range t {
				parts[i] = fmt.Sprint(e)
			}
			s.outputs[k] = strings.Join(parts, ",")
		default:
			s.outputs[k] = fmt.Sprint(t)
		}
	}
	s.opts.Sandbox.PutStack(s.resolved.Pseudo["AWS::StackName"], s.outputs)
	return nil
}

// Change is what an Update did to one resource.
type Change struct {
	LogicalID string
	// Action is Created, Updated or Replaced, or, for a resource the
	// update drops, its Delete outcome: Deleted, Retained or Left.
	Action string
}

// Actions of Update besides the Delete outcomes.
const (
	Created = "created"
	Updated = "updated"
	// Replaced: a custom resource answered its Update with a new physical
	// id; the old one got its Delete in the cleanup.
	Replaced = "replaced"
)

// Update is a stack update with new parameters, the rest of the inputs as
// before: the template is resolved again and each resource whose resolved
// properties changed is updated in Order, a custom resource through
// CloudFormation's Update with its OldResourceProperties, a function by
// restarting it with its new configuration. Then comes CloudFormation's
// cleanup: each resource the update drops (its entry gone from a
// Fn::ForEach collection, its Condition false) is deleted, dependents
// first, as Delete deletes it, a custom resource through CloudFormation's
// Delete with its last properties; and a custom resource that answered
// with a new physical id was replaced: the old one gets its Delete. It
// returns what it did to each resource, in the order it did it, and an
// error for a change the sandbox cannot make in place.
func (s *Stack) Update(ctx context.Context, params map[string]string) ([]Change, error) {
	in := s.opts.Inputs
	in.Parameters = params
	in.Resource = s.lookup
	r, err := stack.Resolve(s.tree, in)
	if err != nil {
		return nil, err
	}
	order, err := r.Order()
	if err != nil {
		return nil, err
	}
	old := s.resolved
	s.resolved = r
	var changes []Change
	var cleanup []func() error
	for _, id := range order {
		prev, exists := s.resources[id]
		if !exists {
			if err := s.create(ctx, id); err != nil {
				return changes, err
			}
			changes = append(changes, Change{id, Created})
			continue
		}
		res, err := r.ResolveResource(id)
		if err != nil {
			return changes, err
		}
		if prev.Type != res.Type {
			return changes, fmt.Errorf("%s changes type from %s to %s: a replacement the provisioner does not make", id, prev.Type, res.Type)
		}
		if sameJSON(prev.Properties, res.Properties) && prev.DeletionPolicy == res.DeletionPolicy {
			continue
		}
		action := Updated
		keys := changedKeys(prev.Properties, res.Properties)
		if _, ok := handled[res.Type]; ok {
			if _, err := checkProperties(res); err != nil {
				return changes, fmt.Errorf("update %s (%s): %w", id, res.Type, err)
			}
		}
		switch {
		case prev.Skipped:
		case isCustom(res.Type):
			resp, err := s.customRequest(ctx, cfn.RequestUpdate, res, prev.Ref, prev.Properties)
			if err != nil {
				return append(changes, Change{id, action}), err
			}
			if resp.PhysicalResourceID != prev.Ref {
				action = Replaced
				was := *prev
				oldRes := &stack.ResolvedResource{LogicalID: id, Type: was.Type, Properties: was.Properties}
				cleanup = append(cleanup, func() error {
					_, err := s.customRequest(ctx, cfn.RequestDelete, oldRes, was.Ref, nil)
					return err
				})
			}
			if err := prev.answered(resp); err != nil {
				return append(changes, Change{id, action}), err
			}
		case onlyUnrepresented(res.Type, keys):
			// Nothing the sandbox holds changes.
		case res.Type == stack.FunctionType:
			c, err := res.Function()
			if err != nil {
				return changes, err
			}
			if err := s.functions[id].start(ctx, c); err != nil {
				return append(changes, Change{id, action}), err
			}
		case res.Type == "AWS::SQS::Queue" && !slices.Contains(keys, "QueueName") && !slices.Contains(keys, "RedrivePolicy"):
			// The sandbox's CreateQueue sets an existing queue's delay and
			// visibility timeout, as SetQueueAttributes does.
			next := &Resource{LogicalID: id, Type: res.Type, Properties: res.Properties}
			if err := s.createQueue(next); err != nil {
				return append(changes, Change{id, action}), err
			}
		default:
			return changes, fmt.Errorf("%s (%s) changed (%s): the sandbox cannot update it in place", id, res.Type, strings.Join(keys, ", "))
		}
		prev.Properties, prev.DeletionPolicy = res.Properties, res.DeletionPolicy
		changes = append(changes, Change{id, action})
	}

	// The cleanup. The old order puts each resource after those it refers
	// to, so its reverse deletes a dropped resource before what it needs:
	// an entry's Custom::S3Replication before the policy that lets the
	// setup function configure its bucket.
	kept := map[string]bool{}
	for _, id := range order {
		kept[id] = true
	}
	note := func(id, outcome string) { changes = append(changes, Change{id, outcome}) }
	for i := len(s.order) - 1; i >= 0; i-- {
		if id := s.order[i]; !kept[id] {
			if err := s.remove(ctx, id, old, note); err != nil {
				return changes, err
			}
		}
	}
	s.order = order
	for _, c := range cleanup {
		if err := c(); err != nil {
			return changes, err
		}
	}
	return changes, s.publishOutputs()
}

// Outcomes of Delete for each resource.
const (
	Deleted  = "deleted"
	Retained = "retained"      // its DeletionPolicy keeps it
	Left     = "left in place" // the sandbox cannot delete it
)

// Delete deletes the stack: each resource in the reverse of Order, a
// custom resource through CloudFormation's Delete, except what its
// DeletionPolicy retains. It returns each resource's outcome.
func (s *Stack) Delete(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	note := func(id, outcome string) { out[id] = outcome }
	for i := len(s.order) - 1; i >= 0; i-- {
		if err := s.remove(ctx, s.order[i], s.resolved, note); err != nil {
			return out, err
		}
	}
	s.order = nil
	return out, nil
}

// remove deletes one resource, then those SAM generated for it (as r
// resolved the template), and notes each outcome.
func (s *Stack) remove(ctx context.Context, id string, r *stack.Resolved, note func(id, outcome string)) error {
	res := s.resources[id]
	if res == nil {
		return fmt.Errorf("%s was never provisioned", id)
	}
	outcome := Deleted
	switch {
	case res.DeletionPolicy == "Retain" || res.DeletionPolicy == "RetainExceptOnCreate":
		outcome = Retained
	case res.Skipped:
	case isCustom(res.Type):
		rr := &stack.ResolvedResource{LogicalID: id, Type: res.Type, Properties: res.Properties}
		if _, err := s.customRequest(ctx, cfn.RequestDelete, rr, res.Ref, nil); err != nil {
			return err
		}
	case res.Type == stack.FunctionType:
		s.functions[id].stop()
		delete(s.functions, id)
	case res.Type == "AWS::Lambda::EventSourceMapping":
		s.mappings[id].deleted.Store(true)
	case res.Type == "AWS::DynamoDB::Table":
		if _, err := s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(res.Ref)}); err != nil {
			return fmt.Errorf("delete table %s: %w", res.Ref, err)
		}
	case res.Type == "AWS::SNS::Topic":
		if _, err := s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(res.Ref)}); err != nil {
			return fmt.Errorf("delete topic %s: %w", res.Ref, err)
		}
	case res.Type == "AWS::SQS::Queue":
		outcome = Left // the sandbox has no DeleteQueue
	}
	delete(s.resources, id)
	note(id, outcome)
	for _, g := range r.Generated() {
		if g.Owner != id {
			continue
		}
		if sc := s.schedules[g.LogicalID]; sc != nil {
			sc.deleted.Store(true)
		}
		delete(s.resources, g.LogicalID)
		note(g.LogicalID, Deleted)
	}
	return nil
}

// Close stops every function and the ResponseURL server. The sandbox is
// the caller's.
func (s *Stack) Close() {
	for _, fn := range s.functions {
		fn.stop()
	}
	s.responses.close()
}

// Resolved is the template as last resolved: parameters, conditions,
// pseudo parameters.
func (s *Stack) Resolved() *stack.Resolved { return s.resolved }

// Resource returns a provisioned resource by logical id, or nil.
func (s *Stack) Resource(id string) *Resource { return s.resources[id] }

// Function returns a running function by logical id, or nil.
func (s *Stack) Function(id string) *Function { return s.functions[id] }

// Schedule returns a function's schedule by the logical id SAM gives it
// (function id and event name), or nil.
func (s *Stack) Schedule(id string) *Schedule { return s.schedules[id] }

// Skipped returns the resources the sandbox cannot stand for, by logical
// id, with their types.
func (s *Stack) Skipped() map[string]string {
	out := map[string]string{}
	for id, r := range s.resources {
		if r.Skipped {
			out[id] = r.Type
		}
	}
	return out
}

// Unrepresented returns, for each resource, the properties the sandbox
// cannot represent.
func (s *Stack) Unrepresented() map[string][]string {
	out := map[string][]string{}
	for id, r := range s.resources {
		if len(r.Unrepresented) > 0 {
			out[id] = r.Unrepresented
		}
	}
	return out
}

// Answers returns every answer custom resources gave, oldest first.
func (s *Stack) Answers() []Answer { return append([]Answer{}, s.answers...) }

// Outputs returns the stack's outputs, as DescribeStacks gives them.
func (s *Stack) Outputs() map[string]string { return s.outputs }

func (s *Stack) functionByName(name string) *Function {
	for _, fn := range s.functions {
		if fn.Name == name || fn.ARN == name {
			return fn
		}
	}
	return nil
}

func (s *Stack) functionByARN(arn string) *Function {
	for _, fn := range s.functions {
		if fn.ARN == arn {
			return fn
		}
	}
	return nil
}

func (s *Stack) isQueue(arn string) bool {
	for _, r := range s.resources {
		if r.Type == "AWS::SQS::Queue" && r.Attrs["Arn"] == arn {
			return true
		}
	}
	return false
}

// onlyUnrepresented reports whether every changed property is one the
// sandbox does not represent for the type.
func onlyUnrepresented(typ string, keys []string) bool {
	h, ok := handled[typ]
	if !ok {
		return false
	}
	for _, k := range keys {
		if _, ok := h.unrepresented[k]; !ok {
			return false
		}
	}
	return true
}

func containsValue(l []any, v string) bool {
	for _, e := range l {
		if fmt.Sprint(e) == v {
			return true
		}
	}
	return false
}

// sameJSON compares resolved properties as CloudFormation does, by value.
func sameJSON(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	return bytes.Equal(ja, jb)
}

func changedKeys(a, b map[string]any) []string {
	var out []string
	for _, k := range sortedKeys(a) {
		if v, ok := b[k]; !ok || !sameJSON(map[string]any{k: a[k]}, map[string]any{k: v}) {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(b) {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

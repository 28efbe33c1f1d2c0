package stack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/replaudit/replaudit/internal/stack"
)

// provisionedAlready answers for every resource, as if the whole stack
// existed: for tests of one resource's properties.
func provisionedAlready(id string) (string, map[string]string, bool) {
	return "phys-" + id, map[string]string{"Arn": "arn:test:" + id, "Endpoint.Address": id + ".example"}, true
}

func resolveYAML(t *testing.T, src string, in stack.Inputs) (*stack.Resolved, error) {
	t.Helper()
	tree, err := stack.ParseTree([]byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	if in.Resource == nil {
		in.Resource = provisionedAlready
	}
	return stack.Resolve(tree, in)
}

// resolveAll resolves a template and each of its resources, in Order, and
// returns the first error.
func resolveAll(t *testing.T, src string, in stack.Inputs) (map[string]*stack.ResolvedResource, error) {
	t.Helper()
	r, err := resolveYAML(t, src, in)
	if err != nil {
		return nil, err
	}
	order, err := r.Order()
	if err != nil {
		return nil, err
	}
	out := map[string]*stack.ResolvedResource{}
	for _, id := range order {
		if out[id], err = r.ResolveResource(id); err != nil {
			return nil, err
		}
	}
	if _, err := r.Outputs(); err != nil {
		return nil, err
	}
	return out, nil
}

// withThing is a template whose resource R has the given properties, next
// to a resource Other that R may name.
func withThing(head, props string) string {
	lines := strings.Split(strings.TrimSpace(props), "\n")
	for i, l := range lines {
		lines[i] = "      " + l
	}
	return head + "\nResources:\n  Other: {Type: Test::Other}\n  R:\n    Type: Test::Thing\n    Properties:\n" + strings.Join(lines, "\n") + "\n"
}

func yamlValue(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		t.Fatalf("want %q: %v", src, err)
	}
	return v
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestShortFormTagsReadAsTheirLongForm(t *testing.T) {
	tests := []struct{ short, long string }{
		{`!Ref Name`, `{Ref: Name}`},
		{`!GetAtt Queue.Arn`, `{"Fn::GetAtt": [Queue, Arn]}`},
		{`!GetAtt [Queue, Arn]`, `{"Fn::GetAtt": [Queue, Arn]}`},
		{`!GetAtt Db.Endpoint.Address`, `{"Fn::GetAtt": [Db, Endpoint.Address]}`},
		{`!Sub 'arn:${AWS::Partition}:s3:::${Bucket}'`, `{"Fn::Sub": 'arn:${AWS::Partition}:s3:::${Bucket}'}`},
		{`!Sub ['${Id}', {Id: !Ref Name}]`, `{"Fn::Sub": ['${Id}', {Id: {Ref: Name}}]}`},
		{`!If [On, a, !Ref AWS::NoValue]`, `{"Fn::If": [On, a, {Ref: AWS::NoValue}]}`},
		{`!Equals [!Ref Name, '']`, `{"Fn::Equals": [{Ref: Name}, '']}`},
		{`!Not [!Condition On]`, `{"Fn::Not": [{Condition: On}]}`},
		{`!And [!Condition A, !Condition B]`, `{"Fn::And": [{Condition: A}, {Condition: B}]}`},
		{`!Or [!Condition A, !Equals [x, y]]`, `{"Fn::Or": [{Condition: A}, {"Fn::Equals": [x, y]}]}`},
		{`!Select [2, !Split ['/', !Ref AWS::StackId]]`, `{"Fn::Select": [2, {"Fn::Split": ['/', {Ref: AWS::StackId}]}]}`},
		{`!Join ['-', [a, !Ref B]]`, `{"Fn::Join": ['-', [a, {Ref: B}]]}`},
		{`!FindInMap [Sizes, !Ref AWS::Region, Memory]`, `{"Fn::FindInMap": [Sizes, {Ref: AWS::Region}, Memory]}`},
		{`!GetAZs ''`, `{"Fn::GetAZs": ''}`},
		{`!Base64 hello`, `{"Fn::Base64": hello}`},
		{`!ImportValue shared`, `{"Fn::ImportValue": shared}`},
		{"!If\n  - On\n  - {Effect: Allow}\n  - !Ref AWS::NoValue", `{"Fn::If": [On, {Effect: Allow}, {Ref: AWS::NoValue}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.short, func(t *testing.T) {
			short, err := stack.ParseTree([]byte("v: " + tc.short))
			if err != nil {
				t.Fatal(err)
			}
			long, err := stack.ParseTree([]byte("v: " + tc.long))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(short, long) {
				t.Errorf("got %s, want %s", asJSON(short["v"]), asJSON(long["v"]))
			}
		})
	}
}

func TestParseTreeKeepsScalarTypesAndRefusesDuplicateKeys(t *testing.T) {
	tree, err := stack.ParseTree([]byte("a: 1\nb: '1'\nc: true\nd: 2012-10-17\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (map[string]any{"a": 1, "b": "1", "c": true, "d": "2012-10-17"}); !reflect.DeepEqual(tree, want) {
		t.Errorf("got %#v, want %#v", tree, want)
	}
	_, err = stack.ParseTree([]byte("Resources:\n  A: {Type: X}\n  A: {Type: Y}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: duplicate key A") {
		t.Errorf("got %v, want a duplicate key error at line 3", err)
	}
}

func TestIntrinsicsEvaluate(t *testing.T) {
	tests := []struct {
		name  string
		head  string // sections before Resources
		in    stack.Inputs
		props string // R's properties
		want  string // R's properties, resolved
	}{
		{
			name:  "Ref of a parameter is its value",
			head:  `Parameters: {Name: {Type: String}}`,
			in:    stack.Inputs{Parameters: map[string]string{"Name": "orders"}},
			props: `Value: !Ref Name`,
			want:  `{Value: orders}`,
		},
		{
			name:  "a parameter not given takes its Default",
			head:  `Parameters: {Name: {Type: String, Default: fallback}}`,
			props: `Value: !Ref Name`,
			want:  `{Value: fallback}`,
		},
		{
			name:  "Ref of a Number parameter is a string, as in CloudFormation",
			head:  `Parameters: {Delay: {Type: Number, Default: 60}}`,
			props: `Value: !Ref Delay`,
			want:  `{Value: '60'}`,
		},
		{
			name:  "Ref of a CommaDelimitedList is a list",
			head:  `Parameters: {Names: {Type: CommaDelimitedList}}`,
			in:    stack.Inputs{Parameters: map[string]string{"Names": "a,b"}},
			props: `Value: !Ref Names`,
			want:  `{Value: [a, b]}`,
		},
		{
			name:  "Ref of a resource is its physical id",
			props: `Value: !Ref Other`,
			want:  `{Value: phys-Other}`,
		},
		{
			name:  "pseudo parameters default to a sandbox account in us-east-1",
			props: `Value: !Sub '${AWS::Region} ${AWS::AccountId} ${AWS::Partition} ${AWS::StackName} ${AWS::URLSuffix}'`,
			want:  `{Value: us-east-1 123456789012 aws replaudit amazonaws.com}`,
		},
		{
			name:  "a China region has its partition and URL suffix",
			in:    stack.Inputs{Region: "cn-north-1", StackName: "audit"},
			props: `Value: !Sub '${AWS::Region} ${AWS::Partition} ${AWS::StackName} ${AWS::URLSuffix}'`,
			want:  `{Value: cn-north-1 aws-cn audit amazonaws.com.cn}`,
		},
		{
			name:  "AWS::StackId is the stack's ARN",
			in:    stack.Inputs{StackID: "arn:aws:cloudformation:us-east-1:123456789012:stack/replaudit/1b2c"},
			props: `Value: !Select [2, !Split ['/', !Ref AWS::StackId]]`,
			want:  `{Value: 1b2c}`,
		},
		{
			name:  "!GetAtt Resource.Attribute is the provisioned attribute",
			props: `Value: !GetAtt Other.Arn`,
			want:  `{Value: 'arn:test:Other'}`,
		},
		{
			name:  "!GetAtt in list form reads the same",
			props: `Value: !GetAtt [Other, Arn]`,
			want:  `{Value: 'arn:test:Other'}`,
		},
		{
			name:  "an attribute name may hold dots",
			props: `Value: !GetAtt Other.Endpoint.Address`,
			want:  `{Value: Other.example}`,
		},
		{
			name:  "!Sub replaces parameters, resources, attributes and pseudo parameters",
			head:  `Parameters: {Name: {Type: String, Default: orders}}`,
			props: `Value: !Sub '${Name}/${Other}/${Other.Arn}/${AWS::Region}'`,
			want:  `{Value: 'orders/phys-Other/arn:test:Other/us-east-1'}`,
		},
		{
			name:  "!Sub's variables come first and may be intrinsics",
			head:  `Parameters: {Name: {Type: String, Default: orders}}`,
			props: `Value: !Sub ['${Name}-${Id}', {Name: local, Id: !Select [1, [x, y]]}]`,
			want:  `{Value: local-y}`,
		},
		{
			name:  "${!Literal} is written as ${Literal}",
			props: `Value: !Sub 'arn:aws:iam::*:user/${!aws:username}'`,
			want:  `{Value: 'arn:aws:iam::*:user/${aws:username}'}`,
		},
		{
			name:  "!If takes the branch its condition names",
			head:  "Conditions:\n  On: !Equals [a, a]\n  Off: !Equals [a, b]",
			props: "Then: !If [On, then, else]\nElse: !If [Off, then, else]",
			want:  `{Then: then, Else: else}`,
		},
		{
			name:  "!If to AWS::NoValue removes the key",
			head:  "Conditions:\n  Off: !Equals [a, b]",
			props: "Value: !If [Off, x, !Ref AWS::NoValue]\nKept: 1",
			want:  `{Kept: 1}`,
		},
		{
			name:  "!If to AWS::NoValue removes the list item",
			head:  "Conditions:\n  Off: !Equals [a, b]",
			props: "List: [a, !If [Off, b, !Ref AWS::NoValue], c]",
			want:  `{List: [a, c]}`,
		},
		{
			name:  "!Select, !Split and !Join",
			props: "Joined: !Join ['-', !Split [',', 'a,b,c']]\nSecond: !Select [1, [x, y, z]]\nByString: !Select ['2', [x, y, z]]",
			want:  `{Joined: a-b-c, Second: y, ByString: z}`,
		},
		{
			name:  "!FindInMap looks up Mappings",
			head:  "Mappings:\n  Sizes: {us-east-1: {Memory: 512}}",
			props: "Value: !FindInMap [Sizes, !Ref AWS::Region, Memory]",
			want:  `{Value: 512}`,
		},
		{
			name:  "!FindInMap falls back to its DefaultValue",
			head:  "Mappings:\n  Sizes: {us-east-1: {Memory: 512}}",
			props: "Value: !FindInMap [Sizes, eu-west-9, Memory, {DefaultValue: 128}]",
			want:  `{Value: 128}`,
		},
		{
			name:  "!GetAZs lists the region's zones",
			props: `Value: !Select [0, !GetAZs '']`,
			want:  `{Value: us-east-1a}`,
		},
		{
			name:  "!Base64 encodes",
			props: `Value: !Base64 hello`,
			want:  `{Value: aGVsbG8=}`,
		},
		{
			name:  "Fn::Length and Fn::ToJsonString, from AWS::LanguageExtensions",
			props: "Count: !Length [a, b]\nJson: !ToJsonString {b: 1, a: [x]}",
			want:  `{Count: 2, Json: '{"a":["x"],"b":1}'}`,
		},
		{
			name:  "the long form reads as the short",
			head:  "Parameters: {Name: {Type: String, Default: orders}}\nConditions:\n  On: {\"Fn::Equals\": [{Ref: Name}, orders]}",
			props: `Value: {"Fn::If": [On, {"Fn::Sub": "${Name}-${Other}"}, other]}`,
			want:  `{Value: orders-phys-Other}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := withThing(tc.head, tc.props)
			got, err := resolveAll(t, src, tc.in)
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if want := yamlValue(t, tc.want); !reflect.DeepEqual(got["R"].Properties, want) {
				t.Errorf("got %s, want %s", asJSON(got["R"].Properties), asJSON(want))
			}
		})
	}
}

func TestConditionsDecideWhatIsCreated(t *testing.T) {
	src := `
Parameters:
  Env: {Type: String, Default: prod}
  Delay: {Type: Number, Default: 60}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Equals [!Ref Env, dev]
  NotDev: !Not [!Equals [!Ref Env, dev]]
  ProdAndNotDev: !And [!Condition IsProd, !Condition NotDev]
  DevOrProd: !Or [!Condition IsDev, !Condition IsProd]
  DelayIsSixty: !Equals [!Ref Delay, 60]
Resources:
  Always: {Type: Test::Thing}
  ProdOnly: {Type: Test::Thing, Condition: IsProd}
  DevOnly: {Type: Test::Thing, Condition: IsDev}
Outputs:
  Prod: {Value: !Ref ProdOnly, Condition: IsProd}
  Dev: {Value: !Ref DevOnly, Condition: IsDev}
`
	r, err := resolveYAML(t, src, stack.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"IsProd": true, "IsDev": false, "NotDev": true, "ProdAndNotDev": true, "DevOrProd": true, "DelayIsSixty": true}
	if !reflect.DeepEqual(r.Conditions, want) {
		t.Errorf("conditions: got %v, want %v", r.Conditions, want)
	}
	order, err := r.Order()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Always", "ProdOnly"}; !slices.Equal(order, want) {
		t.Errorf("order: got %v, want %v", order, want)
	}
	_, err = r.ResolveResource("DevOnly")
	if !errors.Is(err, stack.ErrNoSuchResource) || err.Error() != "resource DevOnly: no such resource (its Condition IsDev is false)" {
		t.Errorf("resolving a resource whose Condition is false: got %v", err)
	}
	outputs, err := r.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	if want := (map[string]any{"Prod": "phys-ProdOnly"}); !reflect.DeepEqual(outputs, want) {
		t.Errorf("outputs: got %v, want %v", outputs, want)
	}
}

func TestErrorsNameTheResourceAndProperty(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		in      stack.Inputs
		want    string
		wantErr error // matched with errors.Is, when set
	}{
		{
			name: "an attribute of a resource the template lacks",
			src: `
Resources:
  EventQueue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt EventDeadLetterQueue.Arn
        maxReceiveCount: 5
`,
			want:    "Resources.EventQueue.Properties.RedrivePolicy.deadLetterTargetArn: Fn::GetAtt EventDeadLetterQueue.Arn: no such resource",
			wantErr: stack.ErrNoSuchResource,
		},
		{
			name:    "a list item is named by its index",
			src:     withThing("", "Statement:\n  - {Resource: '*'}\n  - {Resource: !GetAtt Nope.Arn}"),
			want:    "Resources.R.Properties.Statement[1].Resource: Fn::GetAtt Nope.Arn: no such resource",
			wantErr: stack.ErrNoSuchResource,
		},
		{
			name:    "a Ref to a resource whose Condition is false",
			src:     "Conditions:\n  Off: !Equals [a, b]\nResources:\n  Bucket: {Type: AWS::S3::Bucket, Condition: Off}\n  R: {Type: Test::Thing, Properties: {Value: !Ref Bucket}}\n",
			want:    "Resources.R.Properties.Value: Ref Bucket: no such resource (its Condition Off is false)",
			wantErr: stack.ErrNoSuchResource,
		},
		{
			name:    "a Ref under an !If branch not taken is not followed",
			src:     "Conditions:\n  Off: !Equals [a, b]\nResources:\n  Bucket: {Type: AWS::S3::Bucket, Condition: Off}\n  R: {Type: Test::Thing, Properties: {Value: !If [Off, !Ref Bucket, none]}}\n",
			want:    "",
			wantErr: nil,
		},
		{
			name:    "a !Sub variable that names nothing",
			src:     withThing("", `Value: !Sub '${Nope}-x'`),
			want:    "Resources.R.Properties.Value: Fn::Sub ${Nope}: no such resource",
			wantErr: stack.ErrNoSuchResource,
		},
		{
			name:    "DependsOn a resource the template lacks",
			src:     "Resources:\n  R: {Type: Test::Thing, DependsOn: [Nope]}\n",
			want:    "Resources.R.DependsOn: Nope: no such resource",
			wantErr: stack.ErrNoSuchResource,
		},
		{
			name: "an attribute the provisioner did not give",
			src:  withThing("", `Value: !GetAtt Other.QueueName`),
			want: "Resources.R.Properties.Value: Fn::GetAtt Other.QueueName: Other was provisioned without attribute QueueName (it has Arn, Endpoint.Address)",
		},
		{
			name: "!If naming no condition",
			src:  withThing("", `Value: !If [Nope, a, b]`),
			want: "Resources.R.Properties.Value: Fn::If: no condition named Nope",
		},
		{
			name: "!Select past the end",
			src:  withThing("", `Value: !Select [3, [a, b]]`),
			want: "Resources.R.Properties.Value: Fn::Select: index 3 out of range: the list has 2 items",
		},
		{
			name: "a condition function in properties",
			src:  withThing("", `Value: !Equals [a, a]`),
			want: "Resources.R.Properties.Value: Fn::Equals is allowed only in Conditions and Rules",
		},
		{
			name: "an intrinsic the evaluator does not support",
			src:  withThing("", `Value: !ImportValue shared`),
			want: "Resources.R.Properties.Value: Fn::ImportValue is not supported",
		},
		{
			name: "!GetAtt of a parameter",
			src:  withThing("Parameters: {Name: {Type: String, Default: x}}", `Value: !GetAtt Name.Arn`),
			want: "Resources.R.Properties.Value: Fn::GetAtt Name.Arn: Name is a parameter, not a resource",
		},
		{
			name: "a list parameter in !Sub",
			src:  withThing("Parameters: {Names: {Type: CommaDelimitedList, Default: 'a,b'}}", `Value: !Sub '${Names}'`),
			want: "Resources.R.Properties.Value: Fn::Sub ${Names}: a list parameter: Fn::Join it first",
		},
		{
			name: "a condition that names a resource",
			src:  "Conditions:\n  C: !Equals [!Ref R, x]\nResources:\n  R: {Type: Test::Thing}\n",
			want: "Conditions.C: Fn::Equals: Ref R: no such parameter (in Conditions, Ref names parameters only)",
		},
		{
			name: "conditions in a loop",
			src:  "Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\nResources:\n  R: {Type: Test::Thing}\n",
			want: "Conditions.B: Fn::Not: condition A refers back to itself",
		},
		{
			name: "a resource's Condition that is not declared",
			src:  "Resources:\n  R: {Type: Test::Thing, Condition: Nope}\n",
			want: "Resources.R.Condition: no condition named Nope",
		},
		{
			name: "a misspelt resource attribute",
			src:  "Resources:\n  R: {Type: Test::Thing, Propertes: {}}\n",
			want: "Resources.R.Propertes: not a resource attribute",
		},
		{
			name: "a misspelt section",
			src:  "Resource:\n  R: {Type: Test::Thing}\n",
			want: "Resource: not a template section",
		},
		{
			name: "Globals without the SAM transform",
			src:  "Globals: {Function: {Timeout: 3}}\nResources:\n  R: {Type: Test::Thing}\n",
			want: "Globals needs Transform: AWS::Serverless-2016-10-31",
		},
		{
			name: "Fn::ForEach without AWS::LanguageExtensions",
			src:  "Resources:\n  Fn::ForEach::Queues: [Name, [a], {'Queue${Name}': {Type: AWS::SQS::Queue}}]\n",
			want: "Fn::ForEach needs Transform: AWS::LanguageExtensions",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveAll(t, tc.src, tc.in)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got error %q\nwant        %q", got, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want it to wrap %v", err, tc.wantErr)
			}
		})
	}
}

func TestParametersAreCheckedAgainstTheirConstraints(t *testing.T) {
	tests := []struct {
		name  string
		def   string
		value *string // nil: not given
		want  string  // the error, or "" if the value is accepted
	}{
		{"a parameter without a Default must be given", `{Type: String}`, nil, "parameter P: no value given, and it has no Default"},
		{"an empty Default counts as a Default", `{Type: String, Default: ''}`, nil, ""},
		{"a value among AllowedValues", `{Type: String, AllowedValues: ['true', 'false']}`, ptr("true"), ""},
		{"a value outside AllowedValues", `{Type: String, AllowedValues: ['true', 'false']}`, ptr("yes"), `parameter P: "yes" is not one of AllowedValues true, false`},
		{"a value that matches AllowedPattern in whole", `{Type: String, AllowedPattern: '[a-z]+'}`, ptr("abc"), ""},
		{"AllowedPattern must match the whole value", `{Type: String, AllowedPattern: '[a-z]+', ConstraintDescription: lower case}`, ptr("abc1"), `parameter P: "abc1" does not match AllowedPattern [a-z]+ (lower case)`},
		{"a Number below MinValue", `{Type: Number, MinValue: 1, MaxValue: 10}`, ptr("0"), "parameter P: 0 is below MinValue 1"},
		{"a Number above MaxValue", `{Type: Number, MinValue: 1, MaxValue: 10}`, ptr("11"), "parameter P: 11 is above MaxValue 10"},
		{"a Number that is not a number", `{Type: Number}`, ptr("ten"), `parameter P: "ten" is not a number`},
		{"a String over MaxLength", `{Type: String, MaxLength: 3}`, ptr("abcd"), "parameter P: 4 characters, over MaxLength 3"},
		{"a String under MinLength", `{Type: String, MinLength: 2}`, ptr("a"), `parameter P: "a" is shorter than MinLength 2`},
		{"each item of a list is checked", `{Type: CommaDelimitedList, AllowedValues: [a, b]}`, ptr("a,c"), `parameter P: "c" is not one of AllowedValues a, b`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := stack.Inputs{}
			if tc.value != nil {
				in.Parameters = map[string]string{"P": *tc.value}
			}
			_, err := resolveYAML(t, "Parameters: {P: "+tc.def+"}\nResources:\n  R: {Type: Test::Thing}\n", in)
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, stack.ErrInvalidParameter) {
					t.Errorf("%v does not wrap ErrInvalidParameter", err)
				}
			}
			if got != tc.want {
				t.Errorf("got error %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("a value for a parameter the template does not declare", func(t *testing.T) {
		_, err := resolveYAML(t, "Resources:\n  R: {Type: Test::Thing}\n", stack.Inputs{Parameters: map[string]string{"Typo": "x"}})
		if want := "parameter Typo: not declared in the template"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func ptr(s string) *string { return &s }

func TestRulesAssertionsFailWithTheirDescription(t *testing.T) {
	src := `
Parameters:
  Create: {Type: String, Default: 'false', AllowedValues: ['true', 'false']}
  Region: {Type: String, Default: ''}
  Classes: {Type: CommaDelimitedList, Default: STANDARD}
Rules:
  CreatedNeedsRegion:
    RuleCondition: !Equals [!Ref Create, 'true']
    Assertions:
      - Assert: !Not [!Equals [!Ref Region, '']]
        AssertDescription: Create needs a Region.
  KnownClasses:
    Assertions:
      - Assert: {"Fn::EachMemberIn": [{Ref: Classes}, [STANDARD, GLACIER]]}
        AssertDescription: Classes must be known storage classes.
Resources:
  R: {Type: Test::Thing}
`
	tests := []struct {
		name   string
		params map[string]string
		want   []string // the rules that fail
	}{
		{"a rule whose RuleCondition is false is not checked", map[string]string{"Create": "false"}, nil},
		{"a rule whose assertion holds passes", map[string]string{"Create": "true", "Region": "eu-west-1"}, nil},
		{"a false assertion fails with its description", map[string]string{"Create": "true"}, []string{"CreatedNeedsRegion"}},
		{"every failing rule is reported", map[string]string{"Create": "true", "Classes": "STANDARD,COLD"}, []string{"CreatedNeedsRegion", "KnownClasses"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveYAML(t, src, stack.Inputs{Parameters: tc.params})
			var failed []string
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range joined.Unwrap() {
					var a *stack.AssertionError
					if !errors.As(e, &a) {
						t.Fatalf("%v is not an AssertionError", e)
					}
					failed = append(failed, a.Rule)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(failed, tc.want) {
				t.Errorf("failed rules: got %v, want %v (%v)", failed, tc.want, err)
			}
			if slices.Contains(tc.want, "CreatedNeedsRegion") && !strings.Contains(err.Error(), "Rules.CreatedNeedsRegion: Create needs a Region.") {
				t.Errorf("got %q, want the rule's description", err)
			}
		})
	}
}

func TestGlobalsApplyToEveryFunction(t *testing.T) {
	src := `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: provided.al2023
    Timeout: 30
    MemorySize: 256
    Layers: [global-layer]
    Environment: {Variables: {SHARED: global, OVERRIDDEN: global}}
    LoggingConfig: {LogFormat: JSON}
Resources:
  Logs: {Type: AWS::Logs::LogGroup}
  Overriding:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Layers: [own-layer]
      Environment: {Variables: {OVERRIDDEN: own, OWN: !Ref Logs}}
      LoggingConfig: {LogGroup: !Ref Logs}
      Events:
        Tick:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(5 minutes)}
  Plain:
    Type: AWS::Serverless::Function
  IgnoringTimeout:
    Type: AWS::Serverless::Function
    IgnoreGlobals: [Timeout]
  WithItsOwnRole:
    Type: AWS::Serverless::Function
    IgnoreGlobals: '*'
    Properties: {Role: arn:aws:iam::123456789012:role/given, Timeout: 3}
`
	got, err := resolveAll(t, src, stack.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	fn := func(id string) *stack.FunctionConfig {
		t.Helper()
		f, err := got[id].Function()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	overriding, plain, ignoring, own := fn("Overriding"), fn("Plain"), fn("IgnoringTimeout"), fn("WithItsOwnRole")
	checks := []struct {
		what      string
		got, want any
	}{
		{"the function's scalar wins", overriding.Timeout, 60},
		{"a global scalar fills in", overriding.MemorySize, 256},
		{"maps merge, the function's values winning", overriding.Environment, map[string]string{"SHARED": "global", "OVERRIDDEN": "own", "OWN": "phys-Logs"}},
		{"nested maps merge", overriding.LoggingConfig, map[string]string{"LogFormat": "JSON", "LogGroup": "phys-Logs"}},
		{"lists are the global items, then the function's", overriding.Properties["Layers"], []any{"global-layer", "own-layer"}},
		{"events are read with their schedule", overriding.Events["Tick"].ScheduleExpression, "rate(5 minutes)"},
		{"a function without properties takes the Globals", []any{plain.Runtime, plain.Timeout, plain.Environment}, []any{"provided.al2023", 30, map[string]string{"SHARED": "global", "OVERRIDDEN": "global"}}},
		{"IgnoreGlobals [Timeout] takes the others", []any{ignoring.Timeout, ignoring.MemorySize}, []any{0, 256}},
		{"IgnoreGlobals '*' takes none", []any{own.Runtime, own.Timeout}, []any{"", 3}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}

	r, err := resolveYAML(t, src, stack.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	want := []stack.GeneratedResource{
		{LogicalID: "IgnoringTimeoutRole", Type: "AWS::IAM::Role", Owner: "IgnoringTimeout"},
		{LogicalID: "OverridingRole", Type: "AWS::IAM::Role", Owner: "Overriding"},
		{LogicalID: "OverridingTick", Type: "AWS::Scheduler::Schedule", Owner: "Overriding"},
		{LogicalID: "OverridingTickRole", Type: "AWS::IAM::Role", Owner: "Overriding"},
		{LogicalID: "PlainRole", Type: "AWS::IAM::Role", Owner: "Plain"},
	}
	if got := r.Generated(); !reflect.DeepEqual(got, want) {
		t.Errorf("SAM's generated resources: got %+v, want %+v (a function with a Role gets none)", got, want)
	}
}

func TestForEachRepeatsAFragmentPerItem(t *testing.T) {
	const head = "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"
	tests := []struct {
		name   string
		src    string
		params map[string]string
		want   map[string]string // resource: its Properties as JSON
	}{
		{
			name: "over a literal list, ${Identifier} in keys and values",
			src: head + `
Resources:
  Fn::ForEach::Queues:
    - Name
    - [orders, invoices]
    - 'Queue${Name}':
        Type: AWS::SQS::Queue
        Properties: {QueueName: !Sub '${AWS::StackName}-${Name}'}
`,
			want: map[string]string{
				"Queueorders":   `{"QueueName":"replaudit-orders"}`,
				"Queueinvoices": `{"QueueName":"replaudit-invoices"}`,
			},
		},
		{
			name: "over a CommaDelimitedList parameter, &{Identifier} for logical ids and Ref Identifier for values",
			src: head + `
Parameters:
  SourceBuckets: {Type: CommaDelimitedList}
Resources:
  Fn::ForEach::Sources:
    - Bucket
    - !Ref SourceBuckets
    - 'Replication&{Bucket}':
        Type: Custom::S3Replication
        Properties: {SourceBucket: !Ref Bucket, Arn: !Sub 'arn:${AWS::Partition}:s3:::${Bucket}'}
`,
			params: map[string]string{"SourceBuckets": "logs.example-1,media"},
			want: map[string]string{
				"Replicationlogsexample1": `{"Arn":"arn:aws:s3:::logs.example-1","SourceBucket":"logs.example-1"}`,
				"Replicationmedia":        `{"Arn":"arn:aws:s3:::media","SourceBucket":"media"}`,
			},
		},
		{
			name: "loops nest",
			src: head + `
Resources:
  Fn::ForEach::Envs:
    - Env
    - [dev, prod]
    - Fn::ForEach::Kinds:
        - Kind
        - [a, b]
        - '${Env}${Kind}': {Type: Test::Thing, Properties: {Name: '${Env}-${Kind}'}}
`,
			want: map[string]string{
				"deva": `{"Name":"dev-a"}`, "devb": `{"Name":"dev-b"}`,
				"proda": `{"Name":"prod-a"}`, "prodb": `{"Name":"prod-b"}`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveAll(t, tc.src, stack.Inputs{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			gotJSON := map[string]string{}
			for id, res := range got {
				gotJSON[id] = asJSON(res.Properties)
			}
			if !reflect.DeepEqual(gotJSON, tc.want) {
				t.Errorf("got %v, want %v", gotJSON, tc.want)
			}
		})
	}

	t.Run("in Outputs", func(t *testing.T) {
		r, err := resolveYAML(t, head+`
Resources:
  R: {Type: Test::Thing}
Outputs:
  Fn::ForEach::Names:
    - Name
    - [a, b]
    - '${Name}Arn': {Value: !Sub '${R.Arn}/${Name}'}
`, stack.Inputs{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Outputs()
		if err != nil {
			t.Fatal(err)
		}
		if want := (map[string]any{"aArn": "arn:test:R/a", "bArn": "arn:test:R/b"}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("an output key without the identifier repeats", func(t *testing.T) {
		_, err := resolveYAML(t, head+"Resources:\n  Fn::ForEach::Q: [N, [a, b], {Queue: {Type: AWS::SQS::Queue}}]\n", stack.Inputs{})
		if want := "Resources.Fn::ForEach::Q: Queue appears twice"; err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})
}

func TestOrderPutsEachResourceAfterWhatItNames(t *testing.T) {
	src := `
Transform: AWS::Serverless-2016-10-31
Resources:
  ByRef: {Type: Test::Thing, Properties: {Value: !Ref ByGetAtt}}
  ByGetAtt: {Type: Test::Thing, Properties: {Value: !GetAtt BySub.Arn}}
  BySub: {Type: Test::Thing, Properties: {Value: !Sub '${ByDependsOn.Arn}'}}
  ByDependsOn: {Type: Test::Thing, DependsOn: Fn}
  Fn: {Type: AWS::Serverless::Function, Properties: {Environment: {Variables: {ROLE: !GetAtt FnRole.Arn}}}}
  NamesTheRole: {Type: Test::Thing, Properties: {Principal: !GetAtt FnRole.Arn}}
  Alone: {Type: Test::Thing}
`
	r, err := resolveYAML(t, src, stack.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Order()
	if err != nil {
		t.Fatal(err)
	}
	// Ties are broken by name; a reference to SAM's FnRole is one to Fn,
	// which may name its own role.
	want := []string{"Alone", "Fn", "ByDependsOn", "BySub", "ByGetAtt", "ByRef", "NamesTheRole"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	r, err = resolveYAML(t, `
Resources:
  A: {Type: Test::Thing, Properties: {Value: !Ref B}}
  B: {Type: Test::Thing, Properties: {Value: !Sub '${C.Arn}'}}
  C: {Type: Test::Thing, DependsOn: A}
  D: {Type: Test::Thing, Properties: {Value: !Ref A}}
`, stack.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Order()
	if want := "dependency cycle: A -> B -> C -> A"; !errors.Is(err, stack.ErrCycle) || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestResolvingAResourceBeforeWhatItNamesFails(t *testing.T) {
	r, err := resolveYAML(t, withThing("", `Value: !GetAtt Other.Arn`), stack.Inputs{
		Resource: func(string) (string, map[string]string, bool) { return "", nil, false },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ResolveResource("R")
	if want := "Resources.R.Properties.Value: Fn::GetAtt Other.Arn: not provisioned yet"; !errors.Is(err, stack.ErrNotProvisioned) || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// inventedStack stands in for the sandbox: a resource gets a physical id
// and attributes when it is created, and only then may others name it.
type inventedStack struct {
	refs  map[string]string
	attrs map[string]map[string]string
}

func (s *inventedStack) create(id string) {
	s.refs[id] = "phys-" + id
	s.attrs[id] = map[string]string{
		"Arn":                   "arn:aws:test:us-east-1:123456789012:" + id,
		"QueueName":             "queue-" + id,
		"RuleIds":               "rule-" + id,
		"SourceBucketArn":       "arn:aws:s3:::src-bucket",
		"DestinationBucketArns": "arn:aws:s3:::dst-bucket",
		// What the setup function answers with inventory and verification
		// on (see setup's response Data).
		"InventoryConfigurationId":            id + "-inventory",
		"DestinationInventoryConfigurationId": id + "-destination-inventory",
	}
}

func (s *inventedStack) lookup(id string) (string, map[string]string, bool) {
	ref, ok := s.refs[id]
	return ref, s.attrs[id], ok
}

type resolvedFact struct {
	what      string
	got, want any
}

// unresolved lists the places under v where an intrinsic is left.
func unresolved(v any, path string) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				out = append(out, path+"."+k)
			}
			out = append(out, unresolved(e, path+"."+k)...)
		}
	case []any:
		for i, e := range t {
			out = append(out, unresolved(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func TestTheTemplateProvisionsInOrderWithEveryIntrinsicResolved(t *testing.T) {
	tree, err := stack.LoadTree("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		params    map[string]string
		inventory bool
	}{
		{"with the defaults: no inventory", map[string]string{"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket"}, false},
		{"with inventory on and re-drives to confirm", map[string]string{"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket", "EnableInventory": "true", "AutoRedrive": "confirm"}, true},
		{"with inventory and the destination's verification on", map[string]string{"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket", "EnableInventory": "true",
			"AutoRedrive": "true", "DestinationInventoryBucketName": "dst-inventory"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := &inventedStack{refs: map[string]string{}, attrs: map[string]map[string]string{}}
			r, err := stack.Resolve(tree, stack.Inputs{Parameters: tc.params, Resource: sb.lookup})
			if err != nil {
				t.Fatal(err)
			}
			order, err := r.Order()
			if err != nil {
				t.Fatal(err)
			}
			stackUUID := strings.Split(r.Pseudo["AWS::StackId"], "/")[2]
			got := map[string]*stack.ResolvedResource{}
			for _, id := range order {
				for _, g := range r.Generated() {
					if g.Owner == id {
						sb.create(g.LogicalID)
					}
				}
				res, err := r.ResolveResource(id)
				if err != nil {
					t.Fatalf("provisioning in Order: %v", err)
				}
				if where := unresolved(res.Properties, "Resources."+id+".Properties"); len(where) > 0 {
					t.Errorf("intrinsics left at %v", where)
				}
				sb.create(id)
				got[id] = res
			}

			// Resources with a false Condition are absent, the others present.
			resources := tree["Resources"].(map[string]any)
			for id, def := range resources {
				if strings.HasPrefix(id, "Fn::ForEach::") {
					continue // the loop's resources are checked by name below
				}
				cond, _ := def.(map[string]any)["Condition"].(string)
				if _, created := got[id]; created != (cond == "" || r.Conditions[cond]) {
					t.Errorf("%s (Condition %q = %v) created: %v", id, cond, r.Conditions[cond], created)
				}
			}
			if _, ok := got["InventoryBucket"]; ok != tc.inventory {
				t.Errorf("InventoryBucket created: %v, want %v", ok, tc.inventory)
			}
			if _, ok := got["AlertEmailSubscription"]; ok {
				t.Error("AlertEmailSubscription is created without an AlertEmail")
			}

			redrive := got["EventQueue"].Properties["RedrivePolicy"].(map[string]any)
			if got, want := redrive["deadLetterTargetArn"], sb.attrs["EventDeadLetterQueue"]["Arn"]; got != want {
				t.Errorf("EventQueue's dead-letter target: got %v, want %v", got, want)
			}

			auditor, err := got["ReplicationAuditorFunction"].Function()
			if err != nil {
				t.Fatal(err)
			}
			sweeper, err := got["ReplicationSweeperFunction"].Function()
			if err != nil {
				t.Fatal(err)
			}
			tick := sweeper.Events["EveryFiveMinutes"]
			facts := []resolvedFact{
				{"auditor LEDGER_TABLE", auditor.Environment["LEDGER_TABLE"], sb.refs["LedgerTable"]},
				{"auditor RULE_IDS", auditor.Environment["RULE_IDS"], sb.attrs["Replication"]["RuleIds"]},
				{"auditor Timeout", auditor.Timeout, 60},
				{"auditor MemorySize, from Globals", auditor.MemorySize, 256},
				{"auditor Runtime, from Globals", auditor.Runtime, "provided.al2023"},
				{"auditor Architectures, from Globals", auditor.Architectures, []string{"arm64"}},
				{"auditor log group", auditor.LoggingConfig["LogGroup"], sb.refs["ReplicationAuditorFunctionLogs"]},
				{"auditor log format, from Globals", auditor.LoggingConfig["LogFormat"], "JSON"},
				{"sweeper schedule", []string{tick.Type, tick.ScheduleExpression}, []string{"ScheduleV2", "rate(5 minutes)"}},
				{"sweeper schedule name, from the stack id", tick.Properties["Name"], "replaudit-sweeper-" + stackUUID},
				{"sweeper Timeout", sweeper.Timeout, 300},
			}
			for _, f := range facts {
				if !reflect.DeepEqual(f.got, f.want) {
					t.Errorf("%s: got %v, want %v", f.what, f.got, f.want)
				}
			}

			// Only the stack's functions may publish: the roles SAM makes for them.
			roles := []any{sb.attrs["ReplicationAuditorFunctionRole"]["Arn"], sb.attrs["ReplicationSweeperFunctionRole"]["Arn"]}
			if tc.inventory {
				roles = append(roles, sb.attrs["InventoryReconcilerFunctionRole"]["Arn"])
			}
			deny := got["AlertTopicPolicy"].Properties["PolicyDocument"].(map[string]any)["Statement"].([]any)[1].(map[string]any)
			if p := deny["Condition"].(map[string]any)["ArnNotEquals"].(map[string]any)["aws:PrincipalArn"]; !reflect.DeepEqual(p, roles) {
				t.Errorf("publishers: got %v, want %v", p, roles)
			}
			if grants := asJSON(got["ReplicationRole"].Properties); strings.Contains(grants, "RedriveSourceObjects") != tc.inventory {
				t.Errorf("the replication role may re-drive: %v, want %v", !tc.inventory, tc.inventory)
			}

			outputs, err := r.Outputs()
			if err != nil {
				t.Fatal(err)
			}
			if outputs["LedgerTableName"] != sb.refs["LedgerTable"] {
				t.Errorf("LedgerTableName: got %v, want %v", outputs["LedgerTableName"], sb.refs["LedgerTable"])
			}
			if _, ok := outputs["InventoryBucketName"]; ok != tc.inventory {
				t.Errorf("InventoryBucketName output: %v, want %v", ok, tc.inventory)
			}
			if tc.inventory {
				if got, want := got["InventoryBucket"].Properties["BucketName"], "replaudit-inventory-"+stackUUID; got != want {
					t.Errorf("InventoryBucket's name: got %v, want %v", got, want)
				}
			}
		})
	}
}

func TestTheTemplateRefusesACreatedDestinationWithoutItsRegion(t *testing.T) {
	tree, err := stack.LoadTree("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		create, region string
		refused        bool
	}{
		{"an existing destination needs no region", "false", "", false},
		{"a created destination with its region", "true", "eu-west-1", false},
		{"a created destination without its region is refused at change-set time", "true", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stack.Resolve(tree, stack.Inputs{Parameters: map[string]string{
				"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket",
				"CreateDestinationBucket": tc.create, "DestinationRegion": tc.region,
			}})
			var refused *stack.AssertionError
			if errors.As(err, &refused) != tc.refused {
				t.Fatalf("got %v, want refused: %v", err, tc.refused)
			}
			if !tc.refused && err != nil {
				t.Fatal(err)
			}
			if tc.refused && !strings.Contains(refused.Description, "DestinationRegion must name the region") {
				t.Errorf("refused with %q, want the rule's description", refused.Description)
			}
		})
	}
}

func TestTheTemplatesParametersAreChecked(t *testing.T) {
	tree, err := stack.LoadTree("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params map[string]string
		want   []string // in the error
	}{
		{"both buckets must be named", map[string]string{"SourceBucketName": "src-bucket"},
			[]string{"parameter DestinationBucketName: no value given, and it has no Default"}},
		{"a bucket name must be one", map[string]string{"SourceBucketName": "Not_A_Bucket", "DestinationBucketName": "dst-bucket"},
			[]string{`parameter SourceBucketName: "Not_A_Bucket" does not match AllowedPattern`, "(an S3 bucket name)"}},
		{"the first check waits at most 15 minutes", map[string]string{"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket", "FirstCheckDelaySeconds": "901"},
			[]string{"parameter FirstCheckDelaySeconds: 901 is above MaxValue 900"}},
		{"log retention is one CloudWatch accepts", map[string]string{"SourceBucketName": "src-bucket", "DestinationBucketName": "dst-bucket", "LogRetentionDays": "100"},
			[]string{`parameter LogRetentionDays: "100" is not one of AllowedValues 1, 3, 5`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stack.Resolve(tree, stack.Inputs{Parameters: tc.params})
			if !errors.Is(err, stack.ErrInvalidParameter) {
				t.Fatalf("got %v, want ErrInvalidParameter", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
}

// ExampleResolve provisions a stack as a test sandbox would: in Order,
// each resource resolved once what it names exists.
func ExampleResolve() {
	tree, err := stack.ParseTree([]byte(`
Parameters:
  Env: {Type: String, AllowedValues: [dev, prod]}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub 'orders-${Env}'
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 5}
  DeadLetters: {Type: AWS::SQS::Queue}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	arns := map[string]string{} // what has been created
	r, err := stack.Resolve(tree, stack.Inputs{
		Parameters: map[string]string{"Env": "prod"},
		Resource: func(id string) (string, map[string]string, bool) {
			arn, ok := arns[id]
			return "https://sqs.example/" + id, map[string]string{"Arn": arn}, ok
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	order, err := r.Order()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range order {
		res, err := r.ResolveResource(id)
		if err != nil {
			fmt.Println(err)
			return
		}
		arns[id] = "arn:aws:sqs:us-east-1:123456789012:" + id
		fmt.Println(id, res.Properties)
	}
	// Output:
	// DeadLetters map[]
	// Queue map[QueueName:orders-prod RedrivePolicy:map[deadLetterTargetArn:arn:aws:sqs:us-east-1:123456789012:DeadLetters maxReceiveCount:5]]
}

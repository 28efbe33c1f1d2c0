package stack

// This file evaluates the subset of CloudFormation that template.yaml uses,
// so that a test can provision the sandbox from the template itself: a
// template that drifts from the code fails that test instead of a deploy.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Errors that Resolve, ResolveResource, Order and Outputs wrap.
var (
	// ErrInvalidParameter: a parameter has no value and no Default, is not
	// declared, or breaks its AllowedValues, AllowedPattern, MinValue,
	// MaxValue, MinLength or MaxLength.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrNoSuchResource: a Ref, Fn::GetAtt, Fn::Sub or DependsOn names a
	// resource the stack does not create: not in the template, or dropped
	// because its Condition is false.
	ErrNoSuchResource = errors.New("no such resource")
	// ErrNotProvisioned: the resource is in the stack, but Inputs.Resource
	// does not know it yet: it was resolved out of Order.
	ErrNotProvisioned = errors.New("not provisioned yet")
	// ErrCycle: resources refer to each other in a loop.
	ErrCycle = errors.New("dependency cycle")
)

// AssertionError is a Rules assertion that does not hold for the
// parameters: CloudFormation refuses the change set with its description.
type AssertionError struct {
	Rule        string
	Description string
}

func (e *AssertionError) Error() string {
	if e.Description == "" {
		return "Rules." + e.Rule + ": an assertion failed"
	}
	return "Rules." + e.Rule + ": " + e.Description
}

// LoadTree reads a template file as a generic tree (see ParseTree).
func LoadTree(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	tree, err := ParseTree(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return tree, nil
}

// ParseTree parses a YAML (or JSON) template into maps, lists and scalars,
// with every short-form intrinsic in its long form: !Ref X is
// {"Ref": "X"}, !GetAtt A.B is {"Fn::GetAtt": ["A", "B"]}, !Condition C is
// {"Condition": "C"}, and any other !Name is {"Fn::Name": ...}. A template
// written in the long form reads the same.
func ParseTree(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	v, err := longForm(&doc)
	if err != nil {
		return nil, err
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the template is not a mapping")
	}
	return tree, nil
}

func longForm(n *yaml.Node) (any, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return shortForm(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: keys must be plain scalars", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %s", k.Line, k.Value)
			}
			v, err := longForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := longForm(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	default:
		if n.Tag == "!!timestamp" { // CloudFormation reads 2012-10-17 as a string
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

func shortForm(n *yaml.Node) (any, error) {
	name := n.Tag[1:]
	key := "Fn::" + name
	if name == "Ref" || name == "Condition" {
		key = name
	}
	if n.Kind == yaml.ScalarNode {
		if name != "GetAtt" {
			return map[string]any{key: n.Value}, nil
		}
		id, attr, ok := strings.Cut(n.Value, ".")
		if !ok {
			return nil, fmt.Errorf("line %d: !GetAtt %s is not Resource.Attribute", n.Line, n.Value)
		}
		return map[string]any{key: []any{id, attr}}, nil
	}
	untagged := *n
	untagged.Tag = ""
	v, err := longForm(&untagged)
	if err != nil {
		return nil, err
	}
	return map[string]any{key: v}, nil
}

// Inputs are what a stack is created with.
type Inputs struct {
	// Parameters are the values given; the template's Defaults fill in
	// the rest.
	Parameters map[string]string

	Region    string // AWS::Region; us-east-1 if empty
	AccountID string // AWS::AccountId; 123456789012 if empty
	Partition string // AWS::Partition; from the region if empty
	URLSuffix string // AWS::URLSuffix; from the partition if empty
	StackName string // AWS::StackName; replaudit if empty
	StackID   string // AWS::StackId; an ARN made from the others if empty

	// Resource gives the physical id (what Ref returns) and attributes
	// (what Fn::GetAtt returns) of a resource the caller has provisioned,
	// including those SAM generates (see Resolved.Generated). It is asked
	// only about resources the stack creates.
	Resource func(logicalID string) (ref string, attrs map[string]string, ok bool)
}

// Resolved is a template evaluated for one set of Inputs: its parameters,
// conditions and rules are settled, and the resources it creates are known.
// Resources are resolved one at a time (ResolveResource), in Order, as the
// caller provisions them.
type Resolved struct {
	// Parameters holds each parameter's value: a string, or a []string
	// for a list type.
	Parameters map[string]any
	// Conditions holds each condition's value.
	Conditions map[string]bool
	// Pseudo holds the pseudo parameters: AWS::Region, AWS::AccountId,
	// AWS::Partition, AWS::URLSuffix, AWS::StackName and AWS::StackId.
	Pseudo map[string]string

	params      map[string]any // as Ref sees them: string or []any
	mappings    map[string]any
	condDefs    map[string]any
	evaluating  map[string]bool
	resources   map[string]map[string]any // created: Fn::ForEach expanded, Globals applied
	dropped     map[string]string         // logical id: its false Condition
	generated   map[string]GeneratedResource
	deps        map[string][]string
	outputs     map[string]map[string]any
	provisioned func(string) (string, map[string]string, bool)
}

// ResolvedResource is one resource with every intrinsic in its Properties
// evaluated.
type ResolvedResource struct {
	LogicalID           string
	Type                string
	Condition           string   // true, or the resource would not exist
	Needs               []string // what it refers to or DependsOn, as Order sees it
	DeletionPolicy      string
	UpdateReplacePolicy string
	Metadata            map[string]any // as written
	Properties          map[string]any
}

// GeneratedResource is a resource the SAM transform adds for a function,
// which the template may refer to (!GetAtt MyFunctionRole.Arn). The caller
// provisions it with its Owner, before resolving the Owner: a function may
// name its own role.
type GeneratedResource struct {
	LogicalID string
	Type      string
	Owner     string // the AWS::Serverless::Function it is made for
}

// FunctionConfig is an AWS::Serverless::Function's configuration after
// Globals and intrinsics.
type FunctionConfig struct {
	LogicalID     string
	Runtime       string
	Handler       string
	Architectures []string
	Timeout       int // seconds; 0 if unset
	MemorySize    int // MiB; 0 if unset
	Environment   map[string]string
	LoggingConfig map[string]string
	Events        map[string]FunctionEvent
	Properties    map[string]any // all of them, resolved
}

// FunctionEvent is one of a function's Events.
type FunctionEvent struct {
	Type string
	// ScheduleExpression is a Schedule or ScheduleV2 event's, such as
	// rate(5 minutes).
	ScheduleExpression string
	Properties         map[string]any
}

const (
	samTransform       = "AWS::Serverless-2016-10-31"
	languageExtensions = "AWS::LanguageExtensions"
	forEachPrefix      = "Fn::ForEach::"
)

var (
	sections = set("AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
		"Conditions", "Transform", "Resources", "Outputs", "Globals", "Hooks")
	resourceAttributes = set("Type", "Properties", "DependsOn", "Condition", "DeletionPolicy",
		"UpdateReplacePolicy", "Metadata", "CreationPolicy", "UpdatePolicy", "IgnoreGlobals")
)

// Resolve evaluates a template (from ParseTree) for the inputs: it applies
// parameter defaults and checks constraints (ErrInvalidParameter), checks
// the Rules (*AssertionError, joined if several fail), evaluates the
// Conditions, expands Fn::ForEach, applies SAM's Globals to functions,
// drops resources whose Condition is false, and checks that every Ref,
// Fn::GetAtt, Fn::Sub and DependsOn of what remains names a parameter or a
// resource the stack creates (ErrNoSuchResource).
func Resolve(tree map[string]any, in Inputs) (*Resolved, error) {
	for _, k := range sortedKeys(tree) {
		if !sections[k] {
			return nil, fmt.Errorf("%s: not a template section", k)
		}
	}
	transforms, err := transformsOf(tree["Transform"])
	if err != nil {
		return nil, err
	}
	r := &Resolved{
		Conditions:  map[string]bool{},
		Pseudo:      pseudoParameters(in),
		evaluating:  map[string]bool{},
		resources:   map[string]map[string]any{},
		dropped:     map[string]string{},
		generated:   map[string]GeneratedResource{},
		deps:        map[string][]string{},
		outputs:     map[string]map[string]any{},
		provisioned: in.Resource,
	}
	paramDefs, err := section(tree, "Parameters")
	if err != nil {
		return nil, err
	}
	if r.Parameters, r.params, err = resolveParameters(paramDefs, in.Parameters); err != nil {
		return nil, err
	}
	if r.mappings, err = section(tree, "Mappings"); err != nil {
		return nil, err
	}

	expanded := map[string]map[string]any{}
	usesForEach := false
	for _, name := range []string{"Conditions", "Resources", "Outputs"} {
		s, err := section(tree, name)
		if err != nil {
			return nil, err
		}
		v, err := r.expandForEach(s, name, &usesForEach)
		if err != nil {
			return nil, err
		}
		expanded[name] = v.(map[string]any)
	}
	if usesForEach && !transforms[languageExtensions] {
		return nil, fmt.Errorf("Fn::ForEach needs Transform: %s", languageExtensions)
	}

	r.condDefs = expanded["Conditions"]
	for _, name := range sortedKeys(r.condDefs) {
		if _, err := r.condition(name); err != nil {
			return nil, err
		}
	}
	if err := r.checkRules(tree["Rules"]); err != nil {
		return nil, err
	}

	globals, err := section(tree, "Globals")
	if err != nil {
		return nil, err
	}
	if len(globals) > 0 && !transforms[samTransform] {
		return nil, fmt.Errorf("Globals needs Transform: %s", samTransform)
	}
	fnGlobals, ok := globals["Function"].(map[string]any)
	if !ok && globals["Function"] != nil {
		return nil, errors.New("Globals.Function: not a mapping")
	}
	resources := expanded["Resources"]
	if len(resources) == 0 {
		return nil, errors.New("Resources: the template creates nothing")
	}
	for _, id := range sortedKeys(resources) {
		def, err := r.resourceDef(id, resources[id], transforms, fnGlobals)
		if err != nil {
			return nil, err
		}
		if def != nil {
			r.resources[id] = def
		}
	}
	r.addGenerated()

	outputs := expanded["Outputs"]
	for _, id := range sortedKeys(outputs) {
		def, ok := outputs[id].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Outputs.%s: not a mapping", id)
		}
		on, err := r.attributeCondition("Outputs."+id, def)
		if err != nil {
			return nil, err
		}
		if on {
			r.outputs[id] = def
		}
	}
	if err := r.collectDependencies(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Resolved) resourceDef(id string, v any, transforms map[string]bool, fnGlobals map[string]any) (map[string]any, error) {
	at := "Resources." + id
	def, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", at)
	}
	for _, k := range sortedKeys(def) {
		if !resourceAttributes[k] {
			return nil, fmt.Errorf("%s.%s: not a resource attribute", at, k)
		}
	}
	typ, ok := def["Type"].(string)
	if !ok || typ == "" {
		return nil, fmt.Errorf("%s: no Type", at)
	}
	if strings.HasPrefix(typ, "AWS::Serverless::") && !transforms[samTransform] {
		return nil, fmt.Errorf("%s: %s needs Transform: %s", at, typ, samTransform)
	}
	if _, clash := r.params[id]; clash {
		return nil, fmt.Errorf("%s: a parameter has the same name", at)
	}
	on, err := r.attributeCondition(at, def)
	if err != nil {
		return nil, err
	}
	if !on {
		r.dropped[id] = def["Condition"].(string)
		return nil, nil
	}
	if typ == FunctionType && fnGlobals != nil {
		return applyGlobals(at, fnGlobals, def)
	}
	return def, nil
}

// attributeCondition is the value of a resource's or output's Condition.
func (r *Resolved) attributeCondition(at string, def map[string]any) (bool, error) {
	c, ok := def["Condition"]
	if !ok {
		return true, nil
	}
	name, ok := c.(string)
	if !ok {
		return false, fmt.Errorf("%s.Condition: want a condition name, got %s", at, show(c))
	}
	on, err := r.condition(name)
	if err != nil {
		return false, fmt.Errorf("%s.Condition: %w", at, err)
	}
	return on, nil
}

// applyGlobals merges Globals.Function into a function as SAM does: maps
// merge, the function's scalars win, lists are the global items then the
// function's. An intrinsic counts as a scalar.
func applyGlobals(at string, globals, def map[string]any) (map[string]any, error) {
	g := globals
	switch ig := def["IgnoreGlobals"].(type) {
	case nil:
	case string:
		if ig != "*" {
			return nil, fmt.Errorf("%s.IgnoreGlobals: want * or a list of properties", at)
		}
		return def, nil
	case []any:
		g = map[string]any{}
		for k, v := range globals {
			g[k] = v
		}
		for _, k := range ig {
			s, _ := k.(string)
			delete(g, s)
		}
	default:
		return nil, fmt.Errorf("%s.IgnoreGlobals: want * or a list of properties", at)
	}
	props, ok := def["Properties"].(map[string]any)
	if !ok && def["Properties"] != nil {
		return nil, fmt.Errorf("%s.Properties: not a mapping", at)
	}
	if props == nil {
		props = map[string]any{}
	}
	out := make(map[string]any, len(def))
	for k, v := range def {
		out[k] = v
	}
	out["Properties"] = mergeGlobals(g, props)
	return out, nil
}

func mergeGlobals(global, local any) any {
	gm, gok := global.(map[string]any)
	lm, lok := local.(map[string]any)
	if gok && lok && !isIntrinsic(gm) && !isIntrinsic(lm) {
		out := make(map[string]any, len(gm)+len(lm))
		for k, v := range gm {
			out[k] = v
		}
		for k, v := range lm {
			if gv, ok := gm[k]; ok {
				out[k] = mergeGlobals(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	}
	gl, gok := global.([]any)
	ll, lok := local.([]any)
	if gok && lok {
		return append(append([]any{}, gl...), ll...)
	}
	return local
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// addGenerated lists the resources SAM adds for each function that the
// template may name: its role, unless it has one, and its events' rules,
// schedules, subscriptions and mappings.
func (r *Resolved) addGenerated() {
	add := func(id, typ, owner string) {
		if _, inTemplate := r.resources[id]; !inTemplate {
			r.generated[id] = GeneratedResource{LogicalID: id, Type: typ, Owner: owner}
		}
	}
	for _, fn := range sortedKeys(r.resources) {
		def := r.resources[fn]
		if def["Type"] != FunctionType {
			continue
		}
		props, _ := def["Properties"].(map[string]any)
		if _, hasRole := props["Role"]; !hasRole {
			add(fn+"Role", "AWS::IAM::Role", fn)
		}
		events, _ := props["Events"].(map[string]any)
		for _, name := range sortedKeys(events) {
			ev, _ := events[name].(map[string]any)
			evProps, _ := ev["Properties"].(map[string]any)
			id := fn + name
			switch ev["Type"] {
			case "ScheduleV2":
				add(id, "AWS::Scheduler::Schedule", fn)
				if _, hasRole := evProps["RoleArn"]; !hasRole {
					add(id+"Role", "AWS::IAM::Role", fn)
				}
			case "Schedule", "CloudWatchEvent", "EventBridgeRule":
				add(id, "AWS::Events::Rule", fn)
				add(id+"Permission", "AWS::Lambda::Permission", fn)
			case "SNS":
				add(id, "AWS::SNS::Subscription", fn)
				add(id+"Permission", "AWS::Lambda::Permission", fn)
			case "SQS", "Kinesis", "DynamoDB":
				add(id, "AWS::Lambda::EventSourceMapping", fn)
			}
		}
	}
}

// collectDependencies finds, for each resource, the resources it needs
// first, and fails on a reference to a resource the stack does not create.
func (r *Resolved) collectDependencies() error {
	for _, id := range sortedKeys(r.resources) {
		def := r.resources[id]
		need := map[string]bool{}
		visit := r.referenceCheck(func(dep string, generated bool) {
			if !generated || dep != id { // a function may name its own role
				need[dep] = true
			}
		})
		if err := r.references(def["Properties"], "Resources."+id+".Properties", visit); err != nil {
			return err
		}
		var dependsOn []any
		switch d := def["DependsOn"].(type) {
		case nil:
		case string:
			dependsOn = []any{d}
		case []any:
			dependsOn = d
		default:
			return fmt.Errorf("Resources.%s.DependsOn: want a name or a list of names", id)
		}
		for _, d := range dependsOn {
			name, ok := d.(string)
			if !ok {
				return fmt.Errorf("Resources.%s.DependsOn: want a name, got %s", id, show(d))
			}
			if err := visit("Resources."+id+".DependsOn", name, name); err != nil {
				return err
			}
		}
		for dep := range need {
			r.deps[id] = append(r.deps[id], dep)
		}
		sort.Strings(r.deps[id])
	}
	for _, id := range sortedKeys(r.outputs) {
		if err := r.references(r.outputs[id]["Value"], "Outputs."+id+".Value", r.referenceCheck(func(string, bool) {})); err != nil {
			return err
		}
	}
	return nil
}

// referenceCheck returns a visitor for references that calls need with
// each resource referred to (a generated one's owner), and fails on a name
// that is neither a parameter nor a resource of the stack.
func (r *Resolved) referenceCheck(need func(id string, generated bool)) func(path, id, expr string) error {
	return func(path, id, expr string) error {
		if _, ok := r.Pseudo[id]; ok || id == "AWS::NoValue" || id == "AWS::NotificationARNs" {
			return nil
		}
		if _, ok := r.params[id]; ok {
			if strings.HasPrefix(expr, "Fn::GetAtt") || strings.Contains(expr, ".") {
				return &pathError{path, fmt.Errorf("%s: %s is a parameter, not a resource", expr, id)}
			}
			return nil
		}
		if _, ok := r.resources[id]; ok {
			need(id, false)
			return nil
		}
		if g, ok := r.generated[id]; ok {
			need(g.Owner, true)
			return nil
		}
		if strings.HasPrefix(id, "AWS::") {
			return &pathError{path, fmt.Errorf("%s: no pseudo parameter %s", expr, id)}
		}
		return &pathError{path, fmt.Errorf("%s: %w", expr, r.missing(id))}
	}
}

func (r *Resolved) missing(id string) error {
	if cond, ok := r.dropped[id]; ok {
		return fmt.Errorf("%w (its Condition %s is false)", ErrNoSuchResource, cond)
	}
	return ErrNoSuchResource
}

// references calls visit with every name v refers to through Ref,
// Fn::GetAtt and Fn::Sub, following only the branch each Fn::If takes.
func (r *Resolved) references(v any, path string, visit func(path, id, expr string) error) error {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 1 {
			for fn, arg := range t {
				switch fn {
				case "Ref":
					if id, ok := arg.(string); ok {
						return visit(path, id, "Ref "+id)
					}
				case "Fn::GetAtt":
					id, attr, err := getAttArgs(arg)
					if err != nil {
						return &pathError{path, err}
					}
					name, ok := attr.(string)
					if !ok {
						name = "(computed)"
					}
					if err := visit(path, id, "Fn::GetAtt "+id+"."+name); err != nil {
						return err
					}
					return r.references(attr, path, visit)
				case "Fn::Sub":
					tmpl, vars, err := subArgs(arg)
					if err != nil {
						return &pathError{path, err}
					}
					for _, p := range splitSub(tmpl) {
						if _, local := vars[p.name]; !p.isVar || local {
							continue
						}
						id, _, _ := strings.Cut(p.name, ".")
						if strings.HasPrefix(p.name, "AWS::") {
							id = p.name
						}
						if err := visit(path, id, "Fn::Sub ${"+p.name+"}"); err != nil {
							return err
						}
					}
					for _, k := range sortedKeys(vars) {
						if err := r.references(vars[k], path, visit); err != nil {
							return err
						}
					}
					return nil
				case "Fn::If":
					a, ok := arg.([]any)
					if !ok || len(a) != 3 {
						break
					}
					name, _ := a[0].(string)
					on, err := r.condition(name)
					if err != nil {
						return &pathError{path, fmt.Errorf("Fn::If: %w", err)}
					}
					if on {
						return r.references(a[1], path, visit)
					}
					return r.references(a[2], path, visit)
				}
			}
		}
		for _, k := range sortedKeys(t) {
			if err := r.references(t[k], path+"."+k, visit); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := r.references(e, fmt.Sprintf("%s[%d]", path, i), visit); err != nil {
				return err
			}
		}
	}
	return nil
}

// Order returns the logical ids of the resources the stack creates, each
// after every resource it refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn),
// ties broken by name. A reference to a resource SAM generates counts as
// one to the function that generates it. It returns ErrCycle, naming the
// loop, if there is no such order.
func (r *Resolved) Order() ([]string, error) {
	waiting := map[string]int{}
	users := map[string][]string{}
	for id := range r.resources {
		waiting[id] = len(r.deps[id])
		for _, dep := range r.deps[id] {
			users[dep] = append(users[dep], id)
		}
	}
	var ready, order []string
	for id, n := range waiting {
		if n == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		id := ready[0]
		ready = ready[1:]
		order = append(order, id)
		for _, u := range users[id] {
			if waiting[u]--; waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(order) == len(r.resources) {
		return order, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrCycle, strings.Join(r.cycle(waiting), " -> "))
}

// cycle finds a loop among the resources Order could not place.
func (r *Resolved) cycle(waiting map[string]int) []string {
	var stuck []string
	for id, n := range waiting {
		if n > 0 {
			stuck = append(stuck, id)
		}
	}
	sort.Strings(stuck)
	seen := map[string]int{}
	var path []string
	for id := stuck[0]; ; {
		if i, ok := seen[id]; ok {
			return append(path[i:], id)
		}
		seen[id] = len(path)
		path = append(path, id)
		for _, dep := range r.deps[id] {
			if waiting[dep] > 0 {
				id = dep
				break
			}
		}
	}
}

// Generated returns the resources SAM adds for the stack's functions that
// the template may refer to, sorted by logical id.
func (r *Resolved) Generated() []GeneratedResource {
	out := make([]GeneratedResource, 0, len(r.generated))
	for _, id := range sortedKeys(r.generated) {
		out = append(out, r.generated[id])
	}
	return out
}

// ResolveResource evaluates a resource's Properties, asking Inputs.Resource
// for the resources it refers to. It returns ErrNoSuchResource if the
// stack does not create the resource, and ErrNotProvisioned if one it
// refers to is not provisioned yet; errors name the property.
func (r *Resolved) ResolveResource(logicalID string) (*ResolvedResource, error) {
	def, ok := r.resources[logicalID]
	if !ok {
		return nil, fmt.Errorf("resource %s: %w", logicalID, r.missing(logicalID))
	}
	at := "Resources." + logicalID
	out := &ResolvedResource{LogicalID: logicalID, Type: def["Type"].(string), Properties: map[string]any{}}
	out.Condition, _ = def["Condition"].(string)
	out.Metadata, _ = def["Metadata"].(map[string]any)
	out.Needs = append(out.Needs, r.deps[logicalID]...)
	if props, ok := def["Properties"]; ok {
		v, err := r.eval(props, at+".Properties", inProperties)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok && !isNoValue(v) {
			return nil, fmt.Errorf("%s.Properties: not a mapping", at)
		}
		if m != nil {
			out.Properties = m
		}
	}
	for name, dst := range map[string]*string{"DeletionPolicy": &out.DeletionPolicy, "UpdateReplacePolicy": &out.UpdateReplacePolicy} {
		v, ok := def[name]
		if !ok {
			continue
		}
		v, err := r.eval(v, at+"."+name, inProperties)
		if err != nil {
			return nil, err
		}
		if *dst, ok = v.(string); !ok {
			return nil, fmt.Errorf("%s.%s: want a string, got %s", at, name, show(v))
		}
	}
	return out, nil
}

// Function reads an AWS::Serverless::Function's configuration.
func (res *ResolvedResource) Function() (*FunctionConfig, error) {
	if res.Type != FunctionType {
		return nil, fmt.Errorf("%s is a %s, not an %s", res.LogicalID, res.Type, FunctionType)
	}
	p := res.Properties
	f := &FunctionConfig{LogicalID: res.LogicalID, Properties: p, Events: map[string]FunctionEvent{}}
	var err error
	field := func(name string, read func(any) error) {
		if v, ok := p[name]; ok && err == nil {
			if e := read(v); e != nil {
				err = fmt.Errorf("Resources.%s.Properties.%s: %w", res.LogicalID, name, e)
			}
		}
	}
	field("Runtime", func(v any) (e error) { f.Runtime, e = stringOf(v); return })
	field("Handler", func(v any) (e error) { f.Handler, e = stringOf(v); return })
	field("Architectures", func(v any) (e error) { f.Architectures, e = stringsOf(v); return })
	field("Timeout", func(v any) (e error) { f.Timeout, e = intOf(v); return })
	field("MemorySize", func(v any) (e error) { f.MemorySize, e = intOf(v); return })
	field("LoggingConfig", func(v any) (e error) { f.LoggingConfig, e = stringMapOf(v); return })
	field("Environment", func(v any) error {
		env, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want a mapping, got %s", show(v))
		}
		vars, ok := env["Variables"]
		if !ok {
			return nil
		}
		var e error
		f.Environment, e = stringMapOf(vars)
		return e
	})
	field("Events", func(v any) error {
		events, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want a mapping, got %s", show(v))
		}
		for _, name := range sortedKeys(events) {
			ev, _ := events[name].(map[string]any)
			typ, _ := ev["Type"].(string)
			props, _ := ev["Properties"].(map[string]any)
			e := FunctionEvent{Type: typ, Properties: props}
			if s, ok := props["ScheduleExpression"]; ok {
				var err error
				if e.ScheduleExpression, err = stringOf(s); err != nil {
					return fmt.Errorf("%s.Properties.ScheduleExpression: %w", name, err)
				}
			}
			f.Events[name] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Outputs evaluates the Value of each output whose Condition is true.
func (r *Resolved) Outputs() (map[string]any, error) {
	out := map[string]any{}
	for _, id := range sortedKeys(r.outputs) {
		at := "Outputs." + id + ".Value"
		v, err := r.eval(r.outputs[id]["Value"], at, inProperties)
		if err != nil {
			return nil, err
		}
		if isNoValue(v) {
			return nil, fmt.Errorf("%s: AWS::NoValue", at)
		}
		out[id] = v
	}
	return out, nil
}

// scope is where an expression sits, which decides what it may call and
// refer to.
type scope int

const (
	inProperties scope = iota // resource properties and outputs
	inConditions
	inRules
	inCollection // a Fn::ForEach collection: parameters only
)

func (s scope) String() string {
	return [...]string{"in Resources or Outputs", "in Conditions", "in Rules", "in a Fn::ForEach collection"}[s]
}

// noValueType is what Ref AWS::NoValue evaluates to: the map key or list
// element holding it is removed.
type noValueType struct{}

func isNoValue(v any) bool {
	_, ok := v.(noValueType)
	return ok
}

// within prefixes an error with the intrinsic it happened in, unless it is
// already placed in the template.
func within(fn string, err error) error {
	var placed *pathError
	if errors.As(err, &placed) {
		return err
	}
	return fmt.Errorf("%s: %w", fn, err)
}

// pathError places an error in the template, such as
// Resources.EventQueue.Properties.RedrivePolicy.deadLetterTargetArn.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// eval evaluates v. Its path names v in the template; the arguments of an
// intrinsic are evaluated with no path, and their errors placed at the
// intrinsic's.
func (r *Resolved) eval(v any, path string, sc scope) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if fn, arg, ok := intrinsic(t, sc); ok {
			out, err := r.call(fn, arg, path, sc)
			var placed *pathError
			if err != nil && path != "" && !errors.As(err, &placed) {
				err = &pathError{path, err}
			}
			return out, err
		}
		out := make(map[string]any, len(t))
		for _, k := range sortedKeys(t) {
			if strings.HasPrefix(k, forEachPrefix) {
				return nil, &pathError{at(path, k), errors.New("Fn::ForEach is allowed only in Conditions, Resources and Outputs")}
			}
			e, err := r.eval(t[k], at(path, k), sc)
			if err != nil {
				return nil, err
			}
			if !isNoValue(e) {
				out[k] = e
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(t))
		for i, x := range t {
			p := ""
			if path != "" {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			e, err := r.eval(x, p, sc)
			if err != nil {
				return nil, err
			}
			if !isNoValue(e) {
				out = append(out, e)
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

func at(path, key string) string {
	if path == "" {
		return ""
	}
	return path + "." + key
}

// intrinsic reports whether m is a call: a single key Ref, Fn::Name, or
// (in Conditions) Condition.
func intrinsic(m map[string]any, sc scope) (string, any, bool) {
	if len(m) != 1 {
		return "", nil, false
	}
	for k, v := range m {
		if k == "Ref" || (strings.HasPrefix(k, "Fn::") && !strings.HasPrefix(k, forEachPrefix)) {
			return k, v, true
		}
		if _, named := v.(string); k == "Condition" && named && sc == inConditions {
			return k, v, true
		}
	}
	return "", nil, false
}

// value evaluates an intrinsic's argument, which must not be AWS::NoValue.
func (r *Resolved) value(v any, sc scope) (any, error) {
	out, err := r.eval(v, "", sc)
	if err != nil {
		return nil, err
	}
	if isNoValue(out) {
		return nil, errors.New("AWS::NoValue where a value is needed")
	}
	return out, nil
}

func (r *Resolved) stringArg(fn string, v any, sc scope) (string, error) {
	out, err := r.value(v, sc)
	if err != nil {
		return "", within(fn, err)
	}
	s, ok := scalarString(out)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %s", fn, show(out))
	}
	return s, nil
}

func (r *Resolved) listArg(fn string, v any, sc scope) ([]any, error) {
	out, err := r.value(v, sc)
	if err != nil {
		return nil, within(fn, err)
	}
	l, ok := out.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, got %s", fn, show(out))
	}
	return l, nil
}

func (r *Resolved) boolArg(fn string, v any, sc scope) (bool, error) {
	out, err := r.value(v, sc)
	if err != nil {
		return false, within(fn, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want a condition, got %s", fn, show(out))
	}
	return b, nil
}

func args(fn string, arg any, lo, hi int) ([]any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) < lo || len(a) > hi {
		want := strconv.Itoa(lo)
		if hi != lo {
			want = fmt.Sprintf("%d to %d", lo, hi)
		}
		return nil, fmt.Errorf("%s: want a list of %s, got %s", fn, want, show(arg))
	}
	return a, nil
}

func (r *Resolved) call(fn string, arg any, path string, sc scope) (any, error) {
	switch fn {
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or":
		if sc != inConditions && sc != inRules {
			return nil, fmt.Errorf("%s is allowed only in Conditions and Rules", fn)
		}
	case "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn":
		if sc != inRules {
			return nil, fmt.Errorf("%s is allowed only in Rules", fn)
		}
	case "Fn::If", "Fn::GetAtt", "Fn::GetAZs":
		if sc != inProperties {
			return nil, fmt.Errorf("%s is not allowed %s", fn, sc)
		}
	}
	switch fn {
	case "Ref":
		return r.ref(arg, sc)
	case "Condition":
		return r.condition(arg.(string))
	case "Fn::If":
		a, err := args(fn, arg, 3, 3)
		if err != nil {
			return nil, err
		}
		name, ok := a[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::If: want a condition name, got %s", show(a[0]))
		}
		on, err := r.condition(name)
		if err != nil {
			return nil, within("Fn::If", err)
		}
		if on {
			return r.eval(a[1], path, sc)
		}
		return r.eval(a[2], path, sc)
	case "Fn::GetAtt":
		id, attr, err := getAttArgs(arg)
		if err != nil {
			return nil, err
		}
		name, err := r.stringArg(fn+" "+id, attr, sc)
		if err != nil {
			return nil, err
		}
		v, err := r.attribute(id, name)
		if err != nil {
			return nil, fmt.Errorf("Fn::GetAtt %s.%s: %w", id, name, err)
		}
		return v, nil
	case "Fn::Sub":
		return r.sub(arg, sc)
	case "Fn::Select":
		a, err := args(fn, arg, 2, 2)
		if err != nil {
			return nil, err
		}
		iv, err := r.value(a[0], sc)
		if err != nil {
			return nil, within(fn, err)
		}
		i, err := intOf(iv)
		if err != nil {
			return nil, within(fn+": index", err)
		}
		l, err := r.listArg(fn, a[1], sc)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(l) {
			return nil, fmt.Errorf("%s: index %d out of range: the list has %d items", fn, i, len(l))
		}
		return l[i], nil
	case "Fn::Split":
		a, err := args(fn, arg, 2, 2)
		if err != nil {
			return nil, err
		}
		sep, err := r.stringArg(fn, a[0], sc)
		if err != nil {
			return nil, err
		}
		s, err := r.stringArg(fn, a[1], sc)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Join":
		a, err := args(fn, arg, 2, 2)
		if err != nil {
			return nil, err
		}
		sep, err := r.stringArg(fn, a[0], sc)
		if err != nil {
			return nil, err
		}
		l, err := r.listArg(fn, a[1], sc)
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(l))
		for i, e := range l {
			var ok bool
			if parts[i], ok = scalarString(e); !ok {
				return nil, fmt.Errorf("%s: item %d: want a string, got %s", fn, i, show(e))
			}
		}
		return strings.Join(parts, sep), nil
	case "Fn::FindInMap":
		return r.findInMap(arg, sc)
	case "Fn::GetAZs":
		region, err := r.stringArg(fn, arg, sc)
		if err != nil {
			return nil, err
		}
		if region == "" {
			region = r.Pseudo["AWS::Region"]
		}
		return []any{region + "a", region + "b", region + "c"}, nil
	case "Fn::Base64":
		s, err := r.stringArg(fn, arg, sc)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::Length":
		l, err := r.listArg(fn, arg, sc)
		if err != nil {
			return nil, err
		}
		return len(l), nil
	case "Fn::ToJsonString":
		v, err := r.value(arg, sc)
		if err != nil {
			return nil, within(fn, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, within(fn, err)
		}
		return string(b), nil
	case "Fn::Equals":
		a, err := args(fn, arg, 2, 2)
		if err != nil {
			return nil, err
		}
		x, err := r.value(a[0], sc)
		if err != nil {
			return nil, within(fn, err)
		}
		y, err := r.value(a[1], sc)
		if err != nil {
			return nil, within(fn, err)
		}
		return sameValue(x, y), nil
	case "Fn::Not":
		a, err := args(fn, arg, 1, 1)
		if err != nil {
			return nil, err
		}
		b, err := r.boolArg(fn, a[0], sc)
		return !b, err
	case "Fn::And", "Fn::Or":
		a, err := args(fn, arg, 2, 10)
		if err != nil {
			return nil, err
		}
		all := fn == "Fn::And"
		for _, c := range a {
			b, err := r.boolArg(fn, c, sc)
			if err != nil {
				return nil, err
			}
			if b != all {
				return b, nil
			}
		}
		return all, nil
	case "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn":
		a, err := args(fn, arg, 2, 2)
		if err != nil {
			return nil, err
		}
		l, err := r.listArg(fn, a[0], sc)
		if err != nil {
			return nil, err
		}
		if fn == "Fn::EachMemberIn" {
			allowed, err := r.listArg(fn, a[1], sc)
			if err != nil {
				return nil, err
			}
			for _, e := range l {
				if !containsValue(allowed, e) {
					return false, nil
				}
			}
			return true, nil
		}
		want, err := r.value(a[1], sc)
		if err != nil {
			return nil, within(fn, err)
		}
		if fn == "Fn::Contains" {
			return containsValue(l, want), nil
		}
		for _, e := range l {
			if !sameValue(e, want) {
				return false, nil
			}
		}
		return true, nil
	}
	return nil, fmt.Errorf("%s is not supported", fn)
}

func (r *Resolved) ref(arg any, sc scope) (any, error) {
	name, ok := arg.(string)
	if !ok {
		return nil, fmt.Errorf("Ref: want a name, got %s", show(arg))
	}
	switch name {
	case "AWS::NoValue":
		if sc != inProperties {
			return nil, fmt.Errorf("Ref AWS::NoValue is not allowed %s", sc)
		}
		return noValueType{}, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if v, ok := r.Pseudo[name]; ok {
		return v, nil
	}
	if v, ok := r.params[name]; ok {
		if l, isList := v.([]any); isList {
			return append([]any{}, l...), nil
		}
		return v, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return nil, fmt.Errorf("Ref %s: no such pseudo parameter", name)
	}
	if sc != inProperties {
		return nil, fmt.Errorf("Ref %s: no such parameter (%s, Ref names parameters only)", name, sc)
	}
	ref, _, err := r.physical(name)
	if err != nil {
		return nil, fmt.Errorf("Ref %s: %w", name, err)
	}
	return ref, nil
}

// physical asks the caller for a resource the stack creates.
func (r *Resolved) physical(id string) (string, map[string]string, error) {
	_, created := r.resources[id]
	_, generated := r.generated[id]
	if !created && !generated {
		return "", nil, r.missing(id)
	}
	if r.provisioned != nil {
		if ref, attrs, ok := r.provisioned(id); ok {
			return ref, attrs, nil
		}
	}
	return "", nil, ErrNotProvisioned
}

func (r *Resolved) attribute(id, name string) (string, error) {
	if _, ok := r.params[id]; ok {
		return "", fmt.Errorf("%s is a parameter, not a resource", id)
	}
	_, attrs, err := r.physical(id)
	if err != nil {
		return "", err
	}
	v, ok := attrs[name]
	if !ok {
		have := sortedKeys(attrs)
		if len(have) == 0 {
			have = []string{"none"}
		}
		return "", fmt.Errorf("%s was provisioned without attribute %s (it has %s)", id, name, strings.Join(have, ", "))
	}
	return v, nil
}

func getAttArgs(arg any) (string, any, error) {
	switch a := arg.(type) {
	case string:
		if id, attr, ok := strings.Cut(a, "."); ok {
			return id, attr, nil
		}
	case []any:
		if len(a) == 2 {
			if id, ok := a[0].(string); ok {
				return id, a[1], nil
			}
		}
	}
	return "", nil, fmt.Errorf("Fn::GetAtt: want [Resource, Attribute], got %s", show(arg))
}

func subArgs(arg any) (string, map[string]any, error) {
	switch a := arg.(type) {
	case string:
		return a, nil, nil
	case []any:
		if len(a) == 2 {
			s, ok1 := a[0].(string)
			vars, ok2 := a[1].(map[string]any)
			if ok1 && ok2 {
				return s, vars, nil
			}
		}
	}
	return "", nil, fmt.Errorf("Fn::Sub: want a string or [string, {variables}], got %s", show(arg))
}

type subPart struct {
	isVar bool
	name  string // the variable, or literal text
}

// splitSub cuts a Fn::Sub string into literal text and ${variables};
// ${!Text} is the literal ${Text}.
func splitSub(s string) []subPart {
	var parts []subPart
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return append(parts, subPart{name: s})
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return append(parts, subPart{name: s})
		}
		name := s[i+2 : i+j]
		if strings.HasPrefix(name, "!") {
			parts = append(parts, subPart{name: s[:i] + "${" + name[1:] + "}"})
		} else {
			parts = append(parts, subPart{name: s[:i]}, subPart{isVar: true, name: name})
		}
		s = s[i+j+1:]
	}
}

func (r *Resolved) sub(arg any, sc scope) (any, error) {
	tmpl, vars, err := subArgs(arg)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, k := range sortedKeys(vars) {
		if values[k], err = r.stringArg("Fn::Sub variable "+k, vars[k], sc); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	for _, p := range splitSub(tmpl) {
		if !p.isVar {
			b.WriteString(p.name)
			continue
		}
		s, ok := values[p.name]
		if !ok {
			if s, err = r.subVariable(p.name, sc); err != nil {
				return nil, fmt.Errorf("Fn::Sub ${%s}: %w", p.name, err)
			}
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (r *Resolved) subVariable(name string, sc scope) (string, error) {
	if v, ok := r.Pseudo[name]; ok {
		return v, nil
	}
	if v, ok := r.params[name]; ok {
		s, ok := v.(string)
		if !ok {
			return "", errors.New("a list parameter: Fn::Join it first")
		}
		return s, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return "", errors.New("no such pseudo parameter")
	}
	if sc != inProperties {
		return "", fmt.Errorf("no such parameter (%s, only parameters may be named)", sc)
	}
	if id, attr, ok := strings.Cut(name, "."); ok {
		return r.attribute(id, attr)
	}
	ref, _, err := r.physical(name)
	return ref, err
}

func (r *Resolved) findInMap(arg any, sc scope) (any, error) {
	const fn = "Fn::FindInMap"
	a, err := args(fn, arg, 3, 4)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 3)
	for i := range keys {
		if keys[i], err = r.stringArg(fn, a[i], sc); err != nil {
			return nil, err
		}
	}
	var v any = r.mappings
	for _, k := range keys {
		m, _ := v.(map[string]any)
		if v = m[k]; v == nil {
			break
		}
	}
	if v != nil {
		return v, nil
	}
	if len(a) == 4 {
		opts, ok := a[3].(map[string]any)
		if def, has := opts["DefaultValue"]; ok && has {
			return r.value(def, sc)
		}
		return nil, fmt.Errorf("%s: want {DefaultValue: ...} as the fourth item, got %s", fn, show(a[3]))
	}
	return nil, fmt.Errorf("%s: Mappings has no %s", fn, strings.Join(keys, "."))
}

// condition evaluates a named condition once.
func (r *Resolved) condition(name string) (bool, error) {
	if v, ok := r.Conditions[name]; ok {
		return v, nil
	}
	def, ok := r.condDefs[name]
	if !ok {
		return false, fmt.Errorf("no condition named %s", name)
	}
	if r.evaluating[name] {
		return false, fmt.Errorf("condition %s refers back to itself", name)
	}
	r.evaluating[name] = true
	defer delete(r.evaluating, name)
	at := "Conditions." + name
	v, err := r.eval(def, at, inConditions)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, &pathError{at, fmt.Errorf("want a condition function, got %s", show(v))}
	}
	r.Conditions[name] = b
	return b, nil
}

func (r *Resolved) checkRules(v any) error {
	if v == nil {
		return nil
	}
	rules, ok := v.(map[string]any)
	if !ok {
		return errors.New("Rules: not a mapping")
	}
	var failed []error
	for _, name := range sortedKeys(rules) {
		at := "Rules." + name
		rule, ok := rules[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not a mapping", at)
		}
		if c, ok := rule["RuleCondition"]; ok {
			on, err := r.eval(c, at+".RuleCondition", inRules)
			if err != nil {
				return err
			}
			if b, ok := on.(bool); !ok {
				return fmt.Errorf("%s.RuleCondition: want a condition function, got %s", at, show(on))
			} else if !b {
				continue
			}
		}
		assertions, ok := rule["Assertions"].([]any)
		if !ok {
			return fmt.Errorf("%s.Assertions: want a list", at)
		}
		for i, a := range assertions {
			aat := fmt.Sprintf("%s.Assertions[%d]", at, i)
			am, ok := a.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: not a mapping", aat)
			}
			holds, err := r.eval(am["Assert"], aat+".Assert", inRules)
			if err != nil {
				return err
			}
			b, ok := holds.(bool)
			if !ok {
				return fmt.Errorf("%s.Assert: want a condition function, got %s", aat, show(holds))
			}
			if !b {
				desc, _ := am["AssertDescription"].(string)
				failed = append(failed, &AssertionError{Rule: name, Description: desc})
			}
		}
	}
	return errors.Join(failed...)
}

// expandForEach replaces each Fn::ForEach::Name key in the maps under v
// with its fragment, once per item of its collection.
func (r *Resolved) expandForEach(v any, path string, used *bool) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		put := func(k string, e any, at string) error {
			if _, dup := out[k]; dup {
				return fmt.Errorf("%s: %s appears twice", at, k)
			}
			out[k] = e
			return nil
		}
		for _, k := range sortedKeys(t) {
			kat := path + "." + k
			if !strings.HasPrefix(k, forEachPrefix) {
				e, err := r.expandForEach(t[k], kat, used)
				if err != nil {
					return nil, err
				}
				if err := put(k, e, kat); err != nil {
					return nil, err
				}
				continue
			}
			*used = true
			a, ok := t[k].([]any)
			if !ok || len(a) != 3 {
				return nil, fmt.Errorf("%s: want [Identifier, Collection, {OutputKey: Fragment}]", kat)
			}
			ident, ok := a[0].(string)
			if !ok || ident == "" {
				return nil, fmt.Errorf("%s: want an identifier, got %s", kat, show(a[0]))
			}
			collection, err := r.listArg("collection", a[1], inCollection)
			if err != nil {
				return nil, &pathError{kat, err}
			}
			fragment, ok := a[2].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: want {OutputKey: Fragment}, got %s", kat, show(a[2]))
			}
			for _, item := range collection {
				s, ok := scalarString(item)
				if !ok {
					return nil, fmt.Errorf("%s: collection item %s is not a string", kat, show(item))
				}
				e, err := r.expandForEach(replaceIdentifier(fragment, ident, s), kat, used)
				if err != nil {
					return nil, err
				}
				for _, ek := range sortedKeys(e.(map[string]any)) {
					if err := put(ek, e.(map[string]any)[ek], kat); err != nil {
						return nil, err
					}
				}
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			var err error
			if out[i], err = r.expandForEach(e, fmt.Sprintf("%s[%d]", path, i), used); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

var nonAlphanumeric = regexp.MustCompile(`[^A-Za-z0-9]`)

// replaceIdentifier copies v with ${ident} and &{ident} (the value without
// its non-alphanumerics, for logical ids) replaced in keys and strings, and
// {Ref: ident} replaced by the value.
func replaceIdentifier(v any, ident, value string) any {
	switch t := v.(type) {
	case string:
		t = strings.ReplaceAll(t, "${"+ident+"}", value)
		return strings.ReplaceAll(t, "&{"+ident+"}", nonAlphanumeric.ReplaceAllString(value, ""))
	case map[string]any:
		if ref, ok := t["Ref"]; ok && len(t) == 1 && ref == ident {
			return value
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[replaceIdentifier(k, ident, value).(string)] = replaceIdentifier(e, ident, value)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = replaceIdentifier(e, ident, value)
		}
		return out
	default:
		return v
	}
}

type parameterError struct{ name, problem string }

func (e *parameterError) Error() string        { return "parameter " + e.name + ": " + e.problem }
func (e *parameterError) Is(target error) bool { return target == ErrInvalidParameter }

// resolveParameters gives each parameter its value, checked against its
// constraints: as exposed (string or []string) and as Ref sees it.
func resolveParameters(defs map[string]any, given map[string]string) (map[string]any, map[string]any, error) {
	var problems []error
	for _, name := range sortedKeys(given) {
		if _, ok := defs[name]; !ok {
			problems = append(problems, &parameterError{name, "not declared in the template"})
		}
	}
	exposed, refs := map[string]any{}, map[string]any{}
	for _, name := range sortedKeys(defs) {
		def, ok := defs[name].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("parameter %s: its definition is not a mapping", name)
		}
		v, problem := parameterValue(def, given, name)
		if problem != "" {
			problems = append(problems, &parameterError{name, problem})
			continue
		}
		if items, isList := v.([]string); isList {
			l := make([]any, len(items))
			for i, s := range items {
				l[i] = s
			}
			refs[name] = l
		} else {
			refs[name] = v
		}
		exposed[name] = v
	}
	if len(problems) > 0 {
		return nil, nil, errors.Join(problems...)
	}
	return exposed, refs, nil
}

// parameterValue returns a parameter's value, or what is wrong with it.
func parameterValue(def map[string]any, given map[string]string, name string) (any, string) {
	typ, _ := def["Type"].(string)
	if typ == "" {
		return nil, "no Type"
	}
	raw, ok := given[name]
	if !ok {
		d, has := def["Default"]
		if !has {
			return nil, "no value given, and it has no Default"
		}
		if raw, ok = scalarString(d); !ok && d != nil {
			return nil, fmt.Sprintf("Default %s is not a string", show(d))
		}
	}
	isList := typ == "CommaDelimitedList" || strings.Contains(typ, "List<") || strings.HasSuffix(typ, "<CommaDelimitedList>")
	isNumber := typ == "Number" || typ == "List<Number>"
	items := []string{raw}
	if isList {
		items = nil
		if raw != "" {
			items = strings.Split(raw, ",")
		}
	}
	explain := ""
	if d, ok := def["ConstraintDescription"].(string); ok && d != "" {
		explain = " (" + d + ")"
	}
	if !isNumber {
		n := utf8.RuneCountInString(raw)
		if lo, ok := bound(def, "MinLength"); ok && float64(n) < lo {
			return nil, fmt.Sprintf("%q is shorter than MinLength %v%s", raw, lo, explain)
		}
		if hi, ok := bound(def, "MaxLength"); ok && float64(n) > hi {
			return nil, fmt.Sprintf("%d characters, over MaxLength %v%s", n, hi, explain)
		}
	}
	var allowed []string
	if av, ok := def["AllowedValues"].([]any); ok {
		for _, a := range av {
			s, _ := scalarString(a)
			allowed = append(allowed, s)
		}
	}
	var pattern *regexp.Regexp
	if p, ok := def["AllowedPattern"].(string); ok {
		var err error
		if pattern, err = regexp.Compile(`^(?:` + p + `)$`); err != nil {
			return nil, fmt.Sprintf("AllowedPattern %s: %v", p, err)
		}
	}
	for _, it := range items {
		if isNumber {
			n, err := strconv.ParseFloat(strings.TrimSpace(it), 64)
			if err != nil {
				return nil, fmt.Sprintf("%q is not a number%s", it, explain)
			}
			if lo, ok := bound(def, "MinValue"); ok && n < lo {
				return nil, fmt.Sprintf("%s is below MinValue %v%s", it, lo, explain)
			}
			if hi, ok := bound(def, "MaxValue"); ok && n > hi {
				return nil, fmt.Sprintf("%s is above MaxValue %v%s", it, hi, explain)
			}
		}
		if allowed != nil && !containsString(allowed, it) {
			return nil, fmt.Sprintf("%q is not one of AllowedValues %s%s", it, strings.Join(allowed, ", "), explain)
		}
		if pattern != nil && !pattern.MatchString(it) {
			return nil, fmt.Sprintf("%q does not match AllowedPattern %s%s", it, def["AllowedPattern"], explain)
		}
	}
	if isList {
		return items, ""
	}
	return raw, ""
}

func bound(def map[string]any, key string) (float64, bool) {
	s, ok := scalarString(def[key])
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func pseudoParameters(in Inputs) map[string]string {
	region := or(in.Region, "us-east-1")
	partition := in.Partition
	if partition == "" {
		switch {
		case strings.HasPrefix(region, "cn-"):
			partition = "aws-cn"
		case strings.HasPrefix(region, "us-gov-"):
			partition = "aws-us-gov"
		default:
			partition = "aws"
		}
	}
	suffix := in.URLSuffix
	if suffix == "" {
		suffix = "amazonaws.com"
		if partition == "aws-cn" {
			suffix = "amazonaws.com.cn"
		}
	}
	account := or(in.AccountID, "123456789012")
	name := or(in.StackName, "replaudit")
	id := in.StackID
	if id == "" {
		h := sha256.Sum256([]byte(partition + "/" + region + "/" + account + "/" + name))
		id = fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%x-%x-%x-%x-%x", partition, region, account, name,
			h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	return map[string]string{
		"AWS::Region":    region,
		"AWS::AccountId": account,
		"AWS::Partition": partition,
		"AWS::URLSuffix": suffix,
		"AWS::StackName": name,
		"AWS::StackId":   id,
	}
}

func transformsOf(v any) (map[string]bool, error) {
	out := map[string]bool{}
	switch t := v.(type) {
	case nil:
	case string:
		out[t] = true
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("the Transform section: want names, got %s", show(e))
			}
			out[s] = true
		}
	default:
		return nil, fmt.Errorf("the Transform section: want a name or a list of names, got %s", show(v))
	}
	return out, nil
}

func section(tree map[string]any, name string) (map[string]any, error) {
	v, ok := tree[name]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", name)
	}
	return m, nil
}

// scalarString is a scalar as CloudFormation sees it: a string.
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

func sameValue(a, b any) bool {
	la, aList := a.([]any)
	lb, bList := b.([]any)
	if aList || bList {
		if !aList || !bList || len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !sameValue(la[i], lb[i]) {
				return false
			}
		}
		return true
	}
	sa, ok1 := scalarString(a)
	sb, ok2 := scalarString(b)
	return ok1 && ok2 && sa == sb
}

func containsValue(l []any, v any) bool {
	for _, e := range l {
		if sameValue(e, v) {
			return true
		}
	}
	return false
}

func containsString(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func stringOf(v any) (string, error) {
	s, ok := scalarString(v)
	if !ok {
		return "", fmt.Errorf("want a string, got %s", show(v))
	}
	return s, nil
}

func intOf(v any) (int, error) {
	s, ok := scalarString(v)
	if !ok {
		return 0, fmt.Errorf("want a whole number, got %s", show(v))
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return n, nil
}

func stringsOf(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %s", show(v))
	}
	out := make([]string, len(l))
	for i, e := range l {
		var err error
		if out[i], err = stringOf(e); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return out, nil
}

func stringMapOf(v any) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a mapping, got %s", show(v))
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		var err error
		if out[k], err = stringOf(e); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return out, nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

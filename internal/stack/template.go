package stack

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is the part of a SAM template that replaudit's build relies on.
// CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub) are read as
// plain values.
type Template struct {
	Transform []string `yaml:"Transform"`
	Globals   struct {
		Function struct {
			Runtime       string   `yaml:"Runtime"`
			Architectures []string `yaml:"Architectures"`
			Handler       string   `yaml:"Handler"`
			LoggingConfig struct {
				LogFormat string `yaml:"LogFormat"`
			} `yaml:"LoggingConfig"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Parameters map[string]Parameter `yaml:"Parameters"`
	Rules      map[string]Rule      `yaml:"Rules"`
	Resources  Resources            `yaml:"Resources"`
	Outputs    map[string]any       `yaml:"Outputs"`
}

// Parameter is one stack parameter.
type Parameter struct {
	Type           string   `yaml:"Type"`
	Description    string   `yaml:"Description"`
	Default        *string  `yaml:"Default"`
	AllowedValues  []string `yaml:"AllowedValues"`
	AllowedPattern string   `yaml:"AllowedPattern"`
	MinValue       *string  `yaml:"MinValue"`
	MaxValue       *string  `yaml:"MaxValue"`
	MaxLength      *string  `yaml:"MaxLength"`
}

// Constrained reports whether CloudFormation checks the parameter's value
// before it creates anything: allowed values, a pattern, bounds or a length.
func (p Parameter) Constrained() bool {
	return len(p.AllowedValues) > 0 || p.AllowedPattern != "" || p.MinValue != nil || p.MaxValue != nil || p.MaxLength != nil
}

// Rule is one entry under Rules: assertions on the parameters, checked
// when a change set is made.
type Rule struct {
	RuleCondition any `yaml:"RuleCondition"`
	Assertions    []struct {
		Assert            any    `yaml:"Assert"`
		AssertDescription string `yaml:"AssertDescription"`
	} `yaml:"Assertions"`
}

// Resource is one entry under Resources.
type Resource struct {
	Type                string         `yaml:"Type"`
	Condition           string         `yaml:"Condition"`
	DeletionPolicy      string         `yaml:"DeletionPolicy"`
	UpdateReplacePolicy string         `yaml:"UpdateReplacePolicy"`
	Properties          map[string]any `yaml:"Properties"`
	Metadata            struct {
		BuildMethod string `yaml:"BuildMethod"`
	} `yaml:"Metadata"`
}

// Resources are the template's resources by logical id. The resources a
// Fn::ForEach loop makes are not among them: Resolve expands loops.
type Resources map[string]Resource

// UnmarshalYAML reads the Resources section, leaving out Fn::ForEach loops.
func (r *Resources) UnmarshalYAML(n *yaml.Node) error {
	var raw map[string]yaml.Node
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*r = Resources{}
	for id, node := range raw {
		if strings.HasPrefix(id, "Fn::ForEach::") {
			continue
		}
		var res Resource
		if err := node.Decode(&res); err != nil {
			return fmt.Errorf("resource %s: %w", id, err)
		}
		(*r)[id] = res
	}
	return nil
}

// FunctionType is the SAM resource type of a Lambda function.
const FunctionType = "AWS::Serverless::Function"

// Load reads and parses a template file.
func Load(path string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	var t Template
	if err := yaml.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &t, nil
}

// Functions returns the logical ids of the template's Lambda functions, sorted.
func (t *Template) Functions() []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == FunctionType {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

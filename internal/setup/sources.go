package setup

import (
	"fmt"
	"strings"
)

// Source is one more source bucket of a stack, as the template's
// AdditionalSources parameter lists it: SOURCE>DESTINATION, or
// SOURCE>DESTINATION>PREFIX. The template's Fn::ForEach makes one
// Custom::S3Replication resource of each, named by EntryLogicalID.
type Source struct {
	Bucket, Destination, Prefix string
}

// ParseSource reads one AdditionalSources entry.
func ParseSource(entry string) (Source, error) {
	parts := strings.SplitN(entry, ">", 3)
	if len(parts) < 2 || !bucketName.MatchString(parts[0]) || !bucketName.MatchString(parts[1]) {
		return Source{}, fmt.Errorf("AdditionalSources entry %q is not SOURCE>DESTINATION or SOURCE>DESTINATION>PREFIX, with two bucket names", entry)
	}
	s := Source{Bucket: parts[0], Destination: parts[1]}
	if len(parts) == 3 {
		s.Prefix = parts[2]
	}
	return s, nil
}

// EntryLogicalID is the logical ID the template gives an entry's resource:
// SourceReplication&{Entry}, where CloudFormation's &{} keeps the entry's
// letters and digits only.
func EntryLogicalID(entry string) string {
	var b strings.Builder
	b.WriteString("SourceReplication")
	for _, r := range entry {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// EntryRuleID is the ID of the rule the entry's resource writes in stack
// stackID: the audit functions audit it, as they do the RuleIds the
// template hands them for its first source.
func EntryRuleID(stackID, entry string) (string, error) {
	s, err := ParseSource(entry)
	if err != nil {
		return "", err
	}
	return RuleID(Owner(stackID, EntryLogicalID(entry)), s.Destination), nil
}

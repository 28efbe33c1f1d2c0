package report

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/replaudit/replaudit/internal/verify"
)

// Verified is the latest verification of a source's destination from both
// buckets' inventories (replaudit verify, or the stack's reconciler).
type Verified struct {
	verify.Summary
}

// Line says it in one line, for the text and HTML reports.
func (v Verified) Line() string {
	line := fmt.Sprintf("s3://%s verified against s3://%s from the inventories of %s (%s): %d versions checked, %d MISSING, %d DIVERGED, %d orphans",
		v.Destination, v.Source, v.Date, v.Engine, v.Checked, v.Missing, v.Diverged, v.Orphans)
	if v.Unsettled > 0 {
		line += fmt.Sprintf(", %d too recent to judge", v.Unsettled)
	}
	return line
}

// Examples are a few problems, a line each.
func (v Verified) Examples() []string {
	var out []string
	for _, o := range []verify.Outcome{verify.Missing, verify.Diverged, verify.Orphan} {
		for i, e := range v.Summary.Examples[o] {
			if i == 3 {
				break
			}
			line := fmt.Sprintf("%s s3://%s/%s (%s)", o, e.Bucket, e.Key, e.VersionID)
			if len(e.Differences) > 0 {
				line += ": " + strings.Join(e.Differences, "; ")
			}
			out = append(out, line)
		}
	}
	return out
}

// LatestVerification reads a source's latest verification; found is false
// when there is none.
type LatestVerification func(ctx context.Context, source string) (s verify.Summary, found bool, err error)

// AddVerifications adds the latest verification of each source the report
// holds, and of those named.
func (r *Report) AddVerifications(ctx context.Context, latest LatestVerification, sources ...string) error {
	seen := map[string]bool{}
	for _, s := range sources {
		seen[s] = true
	}
	for _, s := range r.sources {
		seen[s] = true
	}
	for _, s := range slices.Sorted(maps.Keys(seen)) {
		v, found, err := latest(ctx, s)
		if err != nil {
			return err
		}
		if found {
			r.Verifications = append(r.Verifications, Verified{v})
		}
	}
	return nil
}

package report

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/safetext"
)

// HTML writes the report as one self-contained page: no scripts, fonts or
// images from elsewhere, charts as inline SVG, fit to attach as evidence.
// html/template escapes markup but not bidi controls, so text from keys and
// events passes through safetext.Line first.
func (r *Report) HTML(w io.Writer) error {
	type row struct{ Label, Value string }
	summary := []row{
		{"Period", r.Since.UTC().Format(time.RFC3339) + " to " + r.Until.UTC().Format(time.RFC3339)},
		{"Objects audited", r.audited()},
		{"Expected to replicate", fmt.Sprintf("%d (and %d still in flight at the end)", r.Expected, r.InFlight)},
		{"Verified within " + round(r.Threshold), r.ofExpected(r.WithinThreshold)},
		{"Verified within 15 minutes", r.ofExpected(r.Within15Minutes)},
		{"Time to verified, " + r.lagKind(), r.lags(" · ")},
		{"Incidents", fmt.Sprintf("%d open, %d resolved", r.OpenIncidents, r.ResolvedIncidents)},
	}
	if r.FromRollups {
		summary = append(summary[:1], append([]row{{"Read from", "rollups, whole UTC days"}}, summary[1:]...)...)
	}
	if len(r.Unrolled) > 0 {
		summary = append(summary, row{"NOT COUNTED", fmt.Sprintf("%d days hold items no rollup counts (%s): run replaudit rollup rebuild --since %s",
			len(r.Unrolled), strings.Join(r.Unrolled, ", "), r.Unrolled[0])})
	}
	if lp := r.LongestPending; lp != nil {
		summary = append(summary, row{"Longest pending", safetext.Line(fmt.Sprintf("s3://%s/%s (%s) to %s, written %s", lp.Bucket, lp.ObjectKey, lp.VersionID, lp.Destination, lp.EventTime.UTC().Format(time.RFC3339)))})
	}
	var verdicts, failures []row
	for _, v := range audit.Verdicts {
		if r.Verdicts[v] > 0 {
			verdicts = append(verdicts, row{string(v), fmt.Sprint(r.Verdicts[v])})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.FailuresByReason)) {
		failures = append(failures, row{safetext.Line(k), fmt.Sprint(r.FailuresByReason[k])})
	}
	var changes []row
	for _, c := range r.Changes {
		changes = append(changes, row{c.At.UTC().Format(time.RFC3339), safetext.Line(fmt.Sprintf("%s %s on %s: %s", c.RequestType, c.Status, c.Bucket, strings.Join(c.Rules, ", ")))})
	}
	var verified []row
	for _, v := range r.Verifications {
		verified = append(verified, row{safetext.Line("s3://" + v.Destination), safetext.Line(v.Line())})
		for _, e := range v.Examples() {
			verified = append(verified, row{"", safetext.Line(e)})
		}
	}
	var coverage []row
	for _, c := range r.Coverage {
		coverage = append(coverage, row{safetext.Line("s3://" + c.Source), safetext.Line(c.Line())})
	}
	return page.Execute(w, map[string]any{
		"Generated": r.Generated.UTC().Format(time.RFC3339), "Summary": summary, "Verdicts": verdicts,
		"Failures": failures, "Changes": changes, "Coverage": coverage, "Verified": verified, "Histogram": r.histogramSVG(), "Daily": r.dailySVG(),
	})
}

const chartW, chartH, pad = 640, 240, 40

// histogramSVG draws the lag bounds of verified items, one bar a bucket.
func (r *Report) histogramSVG() template.HTML {
	most := 1
	for _, b := range r.Histogram {
		most = max(most, b.Count)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="Time to verified, upper bounds">`, chartW, chartH)
	if r.Measured == 0 {
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="middle">no objects verified</text>`, chartW/2, chartH/2)
	}
	bw := (chartW - 2*pad) / max(len(r.Histogram), 1)
	for i, b := range r.Histogram {
		h := (chartH - 2*pad) * b.Count / most
		x, y := pad+i*bw+4, chartH-pad-h
		fmt.Fprintf(&s, `<rect class="verified" x="%d" y="%d" width="%d" height="%d"><title>%s: %d</title></rect>`, x, y, bw-8, h, template.HTMLEscapeString(b.Label), b.Count)
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="middle">%d</text>`, x+(bw-8)/2, y-4, b.Count)
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, x+(bw-8)/2, chartH-pad+16, template.HTMLEscapeString(b.Label))
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/></svg>`, pad, chartH-pad, chartW-pad, chartH-pad)
	return template.HTML(s.String())
}

// dailySVG draws each day's checks, verified stacked on not verified.
func (r *Report) dailySVG() template.HTML {
	most := 1
	for _, d := range r.Daily {
		most = max(most, d.Verified+d.NotVerified)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="Daily checks, verified and not">`, chartW, chartH)
	if len(r.Daily) == 0 {
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="middle">no objects in the period</text>`, chartW/2, chartH/2)
	} else {
		bw := (chartW - 2*pad) / len(r.Daily)
		for i, d := range r.Daily {
			hv := (chartH - 2*pad) * d.Verified / most
			hn := (chartH - 2*pad) * d.NotVerified / most
			x := pad + i*bw + 2
			fmt.Fprintf(&s, `<rect class="verified" x="%d" y="%d" width="%d" height="%d"><title>%s: %d verified</title></rect>`, x, chartH-pad-hv, max(bw-4, 1), hv, d.Date, d.Verified)
			fmt.Fprintf(&s, `<rect class="notverified" x="%d" y="%d" width="%d" height="%d"><title>%s: %d not verified</title></rect>`, x, chartH-pad-hv-hn, max(bw-4, 1), hn, d.Date, d.NotVerified)
			if len(r.Daily) <= 16 || i%(len(r.Daily)/8+1) == 0 {
				fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, x+bw/2, chartH-pad+16, d.Date[5:])
			}
		}
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/></svg>`, pad, chartH-pad, chartW-pad, chartH-pad)
	return template.HTML(s.String())
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>replaudit compliance report</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#1b1f24;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.35em .6em;text-align:left;vertical-align:top}
th{width:18em;color:#57606a;font-weight:600}
svg{width:100%;max-width:640px;height:auto;font-size:11px;fill:#1b1f24}
.verified{fill:#2da44e}.notverified{fill:#cf222e}.axis{stroke:#57606a}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
footer{margin-top:2em;color:#57606a;font-size:.9em}
</style></head><body>
<h1>replaudit compliance report</h1>
<table>{{range .Summary}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<h2>Time to verified (upper bounds)</h2>
{{.Histogram}}
<h2>Daily checks</h2>
<p class="legend"><span class="verified" style="background:#2da44e"></span>verified<span style="background:#cf222e"></span>not verified</p>
{{.Daily}}
<h2>Verdicts</h2>
<table>{{range .Verdicts}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
<h2>Failures by reason</h2>
<table>{{range .Failures}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{else}}<tr><td>none</td></tr>{{end}}</table>
<h2>Destination verified from inventory</h2>
<table>{{range .Verified}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{else}}<tr><td>never: replaudit verify compares a destination's inventory with its source's</td></tr>{{end}}</table>
<h2>Coverage: the latest inventory reconciliation</h2>
<table>{{range .Coverage}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{else}}<tr><td>none in the period: enable inventory (EnableInventory) to account for objects never announced</td></tr>{{end}}</table>
<h2>Configuration changes</h2>
<table>{{range .Changes}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{else}}<tr><td>none</td></tr>{{end}}</table>
<footer>Generated {{.Generated}} by replaudit from its evidence ledger. Lags are upper bounds: the time a replica was seen minus the time its source was written.</footer>
</body></html>
`))

// Package report computes the compliance summary of a period from the
// ledger, the figures an auditor signs off: objects audited, the share
// verified within the threshold and within 15 minutes, time-to-verified
// percentiles (upper bounds), failures by reason, incidents, the longest
// pending, and configuration changes. It writes them as plain text, or as
// one self-contained HTML file with inline SVG charts.
package report

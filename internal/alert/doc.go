// Package alert tells on-call about replication problems over SNS: once per
// incident, with the cause in plain words and the fix, and once more when it
// is resolved. Past a limit per bucket and window, alerts become counts in a
// single digest, so a broken rule never floods a pager; every item is still
// in the ledger.
package alert

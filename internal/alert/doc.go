// Package alert writes what on-call reads and sends it over SNS: the
// message for an incident (the cause in plain words, the fix, a console
// link, a command and a JSON block), its resolved notice, a storm's digest,
// with subjects in printable ASCII whatever the key; and the publisher that
// sends them, without SNS's own retries, falling back to a plain form when
// SNS refuses one. When a message goes out, and how often, is package
// incident's state machine; its table of states is in that package's doc.
package alert

// Package safetext makes untrusted text, object keys above all, safe to show
// to people: on a terminal, in an alert, in a report. An S3 key may hold any
// UTF-8, and some of it rewrites what a reader sees: a newline forges a line,
// ESC starts a terminal sequence, U+202E turns "invoice-\u202efdp.exe" into
// what reads as a PDF, and zero-width characters make two keys look alike.
//
// Line writes such characters as visible escapes, for text a person reads.
// ASCII squeezes text into printable ASCII of bounded length, for places with
// strict rules such as an SNS subject. MarshalJSON and MarshalIndentJSON write
// JSON that decodes to the exact value yet shows the same characters escaped,
// for output that must stay lossless. Writer shows a whole stream as Line
// shows each of its lines, for output bound for a terminal in any format.
package safetext

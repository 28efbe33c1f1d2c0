// Package query reads the ledger for auditors: the items of a period that
// pass a filter, streamed page by page in bounded memory, and written as a
// table, CSV, JSON or JSON lines.
package query

// Package duck runs the verification's SQL on DuckDB, embedded: it
// downloads both inventories' data files, each checked against its
// manifest's size and MD5 as package inventory checks what it reads, into
// a temporary folder, and reads them through views named as the SQL
// expects.
//
// It exists apart from package verify because DuckDB is C++ linked through
// cgo: the command line links it, the Lambda functions (built with
// CGO_ENABLED=0) never import it. OpenDB also gives the sandbox's Athena
// its DuckDB, without the sandbox linking it.
package duck

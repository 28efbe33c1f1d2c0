// Package inventory reads S3 Inventory reports: the manifest.json that lists a
// report's data files, checked against its manifest.checksum, and the rows of
// each data file, CSV (gzip-compressed) or Parquet.
//
// It exists so that the reconciler, which fans out one data file per worker,
// can stream a file of any size in bounded memory and trust what it reads:
// a row that cannot be read is reported with its line and the reading goes
// on, and a file counts only once Next has returned io.EOF, which it does
// only after the file's size and MD5 matched the manifest, so a damaged or
// truncated file ends in an error, not in rows that were never written.
// Deciding what a row means for replication is the reconciler's job.
package inventory

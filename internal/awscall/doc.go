// Package awscall holds what every AWS call replaudit makes has in common:
// a time limit taken from the invocation's remaining time, so that a hung
// service cannot hold a worker until the Lambda deadline, and the answer to
// "may this error pass on its own?", taken from the SDK's own retry
// classification rather than from a hand-kept list of codes.
package awscall

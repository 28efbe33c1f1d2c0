// Package stack reads replaudit's SAM template, so that tests and tools can
// check the stack against the code that builds it: every function has a
// folder, a Makefile target and the shared Globals.
package stack

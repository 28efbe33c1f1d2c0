// Package soak is replaudit's fault suite: it runs the audit plane, as
// deployed, on the sandbox through the faults on-call's promises must
// survive (a healthy burst, throttling, an outage past the threshold, a
// deny beside an outage, DynamoDB down and hung, SNS down, keys that push
// an alert's subject past SNS's limits, batches delivered three times at
// once and again late), and checks after each: nothing lost, no item
// twice, no wrong verdict, no problem without an alert, no page twice,
// digest counts exact, and the attention index empty once all is quiet.
//
// make test runs it small; make soak runs it with more objects
// (REPLAUDIT_SOAK=full), within a few minutes, on loopback only.
package soak

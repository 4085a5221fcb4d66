/*
Package cparity holds tests only: TestEveryCRecordHasAGoEmitter
(records_test.go) lists every log record the C balancer emits (in
../shared/reference/mname-balancer-c: each bunyan_* call's msg, level and
field names, with the fields of the child logger it is called on) and
fails if the Go sources have no place that can emit it with the same msg,
level and fields, unless the record is listed as deliberately not
reproduced, with the reason.
*/
package cparity

//go:build !race

/*
Build-time flag for tests: whether the race detector is compiled in (see
race_on_test.go).
*/

package bunyan_test

const raceEnabled = false

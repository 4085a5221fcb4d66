//go:build race

/*
Build-time flag for tests: whether the race detector is compiled in. Under
-race, sync.Pool deliberately drops some of the values put into it, so a
pooled zerolog event is sometimes allocated afresh and allocation counts of
enabled records are not meaningful.
*/

package bunyan_test

const raceEnabled = true

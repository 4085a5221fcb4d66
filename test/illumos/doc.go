// Package illumos tests what is built for illumos on this (Linux) machine:
// make illumos-tests, which builds bbal, balstat and every package's test
// binary for illumos, checks their imports against illumos's libraries
// (symcheck, with the export lists in symbols/), and packs the tests that
// run in a zone with run-tests.sh. The tests check the tarball's contents,
// shellcheck run-tests.sh and run it over stand-in test binaries.
package illumos

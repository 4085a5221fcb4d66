/*
Package smftest holds the tests of what ships next to the Go program: the SMF
service that runs the balancer on SmartOS (smf/manifests, smf/methods) and
the release build that packs it (the Makefile).  It has no code of its own.

What the tests hold the shipped files to:

  - The manifest validates against the SMF DTD (xmllint) and says what
    Binder's own manifest says (service name, credentials, working
    directory, stop and refresh), with dependencies a Binder zone can
    satisfy (every one not in every Triton zone optional), methods where
    the release puts them (smf/methods, as Binder's), the "config"
    property group and its defaults, and the contract duration model; no
    other service's log is taken by Binder's logadm glob.
  - The method script is shellcheck clean.
  - The start method, run with a fake svcprop, a fake smf_include.sh and a
    fake balancer that records its argv, GOMAXPROCS and PID, builds the
    exact command line from the properties (defaults for absent ones),
    rejects a bad configuration with SMF_EXIT_ERR_CONFIG and a clear
    message before launching anything, and returns while the balancer
    runs on (the contract model).
  - make release lays out the proto tree and the tarball exactly, with an
    illumos/amd64 binary carrying its version, and two builds give
    identical bytes; Binder's own build command (make PROG=... OBJ_DIR=...
    CTFCONVERT=... $(PROG)) leaves the same kind of binary at $(PROG); make
    check-no-elf fails when git tracks a built program.

Tools: xmllint (libxml2-utils), shellcheck, GNU make, GNU tar, gzip.  A test
whose tool is missing skips, unless CI=true is set, when it fails.  The SMF
DTD is looked for in ../shared/smf next to the repository, or at $SMF_DTD
(relative to the repository, as for make); without it the DTD tests skip,
under CI they fail (dtd_test.go checks both), and make check does the same.
*/
package smftest

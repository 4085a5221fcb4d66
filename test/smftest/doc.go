/*
Package smftest holds the tests of what ships next to the Go program: the SMF
service that runs the balancer on SmartOS (smf/manifests, smf/methods) and
the release build that packs it (the Makefile).  It has no code of its own.

What the tests hold the shipped files to:

  - Both manifests validate against the SMF DTD (xmllint) and say what
    SPEC §11 says: service names, dependencies, credentials, methods and
    timeouts, the "config" property group and its defaults, and the
    duration models (contract for the balancer, transient for the
    socket directory).
  - Both method scripts are shellcheck clean.
  - The start method, run with a fake svcprop, a fake smf_include.sh and a
    fake balancer that records its argv and PID, builds the exact command
    line from the properties (defaults for absent ones), rejects a bad
    configuration with SMF_EXIT_ERR_CONFIG and a clear message before
    launching anything, and returns while the balancer runs on (the
    contract model).
  - The socket-directory method makes the directory with mode 770 and owner
    nobody, and is idempotent.
  - make release lays out the proto tree and the tarball exactly, with an
    illumos/amd64 binary, and two builds give identical bytes.

Tools: xmllint (libxml2-utils), shellcheck, GNU make, GNU tar, gzip.  A test
whose tool is missing skips, unless CI=true is set, when it fails.  The SMF
DTD is looked for in ../shared/smf next to the repository, or at $SMF_DTD
(relative to the repository, as for make); without it the DTD tests skip,
under CI they fail (dtd_test.go checks both), and make check does the same.
*/
package smftest

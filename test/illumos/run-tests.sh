#!/bin/sh
# Runs every test binary of this tarball (make illumos-tests) from its package's directory; arguments go to each binary, e.g. ./run-tests.sh -test.v -test.run Alloc
fail=0; for t in $(find . -name '*.test' -type f | sort); do echo "== ${t%/*}"; (cd "${t%/*}" && "./${t##*/}" "$@") || fail=1; done; exit $fail

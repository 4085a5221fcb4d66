#!/bin/sh
#
# Runs every test binary of this tarball (make illumos-tests), each from its
# package's directory as go test would; arguments go to each binary:
#
#	./run-tests.sh -test.v -test.run Alloc
#
# Exits 0 when every binary passed; 1 when any failed, naming them, or when
# there were none to run.
#
cd "$(dirname "$0")" || exit 1
tests=$(find . -name '*.test' -type f | sort)
ran=0
failed=
for t in $tests; do
	dir=${t%/*}
	echo "== ${dir#./}"
	ran=$((ran + 1))
	(cd "$dir" && "./${t##*/}" "$@") || failed="$failed ${dir#./}"
done
if [ "$ran" -eq 0 ]; then
	echo "run-tests.sh: no test binaries (*.test) here" >&2
	exit 1
fi
if [ -n "$failed" ]; then
	echo "run-tests.sh: FAIL:$failed" >&2
	exit 1
fi
echo "run-tests.sh: all $ran packages passed"

#!/bin/sh
#
# Regenerates the export lists in this directory from an illumos-gate
# checkout: the names that libc.so.1, libsocket.so.1 and libsendfile.so.1
# export on amd64, read from their mapfiles (libc on amd64 takes its
# exports from the port mapfile alone: libc/amd64/Makefile's MAPFILES).
#
#	test/illumos/symbols/regen.sh ~/illumos-gate [outdir]
#	test/illumos/symbols/regen.sh -f mapfile-vers    (one mapfile's names, to stdout)
#
# The amd64 view: $if/$elif/$else/$endif evaluated with _x86, _ELF64 and
# whatever $add defines (amd64, from libc's own rules); every name in
# global, protected, exported or symbolic scope of every version block
# (filters included, attribute blocks skipped); local, hidden and
# eliminate scope and '*' dropped. Sorted in the C locale.
#
set -eu

names() {
	awk '
	function defined(e,    n, i, parts, ors, j, ok, all, t) {
		if (e ~ /[()]/) { print FILENAME ": parentheses not supported: " e > "/dev/stderr"; exit 2 }
		n = split(e, ors, /[ \t]*\|\|[ \t]*/)
		for (i = 1; i <= n; i++) {
			all = 1
			split(ors[i], parts, /[ \t]*&&[ \t]*/)
			for (j in parts) {
				t = parts[j]; gsub(/^[ \t]+|[ \t]+$/, "", t)
				ok = 0
				if (t ~ /^!/) { t = substr(t, 2); ok = !(t in def) } else { ok = (t in def) }
				if (!ok) all = 0
			}
			if (all) return 1
		}
		return 0
	}
	BEGIN { def["_x86"] = 1; def["_ELF64"] = 1; depth = 0; live = 1; sp = 0; take = 0 }
	{ sub(/#.*/, "") }
	/^\$if[ \t]/ { st[++sp] = live; done[sp] = 0; if (live) { live = defined(substr($0, 4)); done[sp] = live }; next }
	/^\$elif[ \t]/ { if (st[sp] && !done[sp]) { live = defined(substr($0, 6)); done[sp] = live } else live = 0; next }
	/^\$else/ { live = st[sp] && !done[sp]; next }
	/^\$endif/ { live = st[sp--]; next }
	!live { next }
	/^\$add[ \t]/ { def[$2] = 1; next }
	/^\$error/ { print FILENAME ": $error reached for amd64" > "/dev/stderr"; exit 2 }
	/^\$/ { next }
	{
		line = $0
		if (depth == 0) {
			if (line ~ /\{/) { depth = 1; take = 0 }
			next
		}
		if (depth == 1 && line ~ /^[ \t]*(global|protected|exported|symbolic)[ \t]*:/) { take = 1; next }
		if (depth == 1 && line ~ /^[ \t]*(local|hidden|eliminate)[ \t]*:/) { take = 0; next }
		if (depth == 1 && line ~ /^[ \t]*[A-Za-z_.$*]/) {
			name = line; sub(/^[ \t]+/, "", name); sub(/[ \t;={].*/, "", name)
			if (take && name != "*") print name
		}
		o = gsub(/\{/, "{", line); c = gsub(/\}/, "}", line); depth += o - c
	}
	' "$1" | LC_ALL=C sort -u
}

if [ "${1:-}" = "-f" ]; then
	names "$2"
	exit
fi

gate=${1:?usage: regen.sh illumos-gate-checkout [outdir]}
out=${2:-$(dirname "$0")}
for lib in libc:usr/src/lib/libc/port/mapfile-vers \
    libsocket:usr/src/lib/libsocket/common/mapfile-vers \
    libsendfile:usr/src/lib/libsendfile/common/mapfile-vers; do
	name=${lib%%:*} path=${lib#*:}
	commit=$(git -C "$gate" log -1 --format=%H -- "$path")
	{
		echo "# from illumos/illumos-gate $path at $commit"
		echo "# amd64 view (_x86 && _ELF64, \$add amd64; not lf64/i386/sparc): names in global/protected scope of every SYMBOL_VERSION block, filters included; local and '*' dropped. Written by test/illumos/symbols/regen.sh."
		names "$gate/$path"
	} >"$out/$name.txt"
done

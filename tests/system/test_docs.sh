#!/usr/bin/env bash
# The documentation cannot drift from the code:
#   1. docs/configuration.md is exactly what scripts/gen-config-doc.sh makes
#      from stewardd's configuration table;
#   2. every error code in the C sources has a "### code" heading in
#      docs/errors.md, and every such heading is a code the sources use;
#   3. every ```conf example in the docs passes `stewardd -n`;
#   4. relative links (and #anchors) in the user docs lead somewhere.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

DOCS=$SRC/docs
ERRORS=$DOCS/errors.md
[ -f "$ERRORS" ] || fail "docs/errors.md is missing"

# ---- 1. the configuration reference is generated --------------------------------
sh "$SRC/scripts/gen-config-doc.sh" "$BIN" "$T/configuration.md" ||
	fail "scripts/gen-config-doc.sh failed"
if ! diff -u "$DOCS/configuration.md" "$T/configuration.md" >"$T/configuration.diff"; then
	cat "$T/configuration.diff" >&2
	fail "docs/configuration.md is not what the table in server/config.c gives;" \
		"run scripts/gen-config-doc.sh and commit the result"
fi
pass "docs/configuration.md matches stewardd --help-config --markdown"

# ---- 2. every error code is documented -------------------------------------------
# The code is the first string literal argument of steward_err_set(),
# reply_error() (server), reply_err() (lib/net) and ctl_error() (stewardctl)
# when that literal is a bare [a-z_]+ word; calls span lines, so each file is
# joined into one line first. The enrollment-token refusals are returned by
# token_refusal_code() in server/routes.c.
error_codes() {
	local f
	find "$SRC/server" "$SRC/lib" "$SRC/agent" "$SRC/cli" -name '*.c' | sort |
		while read -r f; do
			tr '\n\t' '  ' <"$f" |
				grep -oE '(steward_err_set|reply_error|reply_err|ctl_error)\([^";]*("[a-z_]+"[^";]*)+' |
				grep -oE '"[a-z_]+"' || true
			grep -oE 'return "token_[a-z_]+";' "$f" | grep -oE '"[a-z_]+"' || true
		done | tr -d '"' | sort -u
}

error_codes >"$T/codes"
n=$(wc -l <"$T/codes")
# a broken pipeline would find nothing and pass; the sources hold far more
[ "$n" -ge 40 ] || fail "found only $n error codes in the sources; is the grep in $0 broken?"
missing=""
while read -r code; do
	grep -qxF "### $code" "$ERRORS" || missing="$missing $code"
done <"$T/codes"
[ -z "$missing" ] || fail "error codes used in the sources but without a '### code' heading in docs/errors.md:$missing"
stale=""
for code in $(sed -n 's/^### \([a-z_]*\)$/\1/p' "$ERRORS"); do
	grep -qxF "$code" "$T/codes" || stale="$stale $code"
done
[ -z "$stale" ] || fail "docs/errors.md documents codes no source uses any more:$stale"
pass "all $n error codes in server/, lib/, agent/ and cli/ are in docs/errors.md"

# ---- 3. configuration examples are valid ----------------------------------------
checked=0
for doc in "$SRC/README.md" "$DOCS"/*.md "$DOCS"/internals/*.md; do
	[ -f "$doc" ] || continue
	awk -v out="$T/example" '
		/^```conf[ \t]*$/ { n++; f = out "." n; inblock = 1; printf "" > f; next }
		/^```/ && inblock { inblock = 0; close(f); next }
		inblock { print > f }
	' "$doc"
	for ex in "$T"/example.*; do
		[ -f "$ex" ] || continue
		checked=$((checked + 1))
		"$BIN/stewardd" -n -c "$ex" >"$T/check.out" 2>&1 ||
			fail "${doc#"$SRC"/}: a \`\`\`conf example is refused by stewardd -n: $(cat "$T/check.out")"
		rm -f "$ex"
	done
done
[ "$checked" -ge 2 ] || fail "found only $checked \`\`\`conf examples in the docs"
pass "$checked configuration examples pass stewardd -n"

# ---- 4. links between the docs -----------------------------------------------------
# The anchor a markdown renderer makes of a heading: lower case, punctuation except - and _
# dropped, spaces turned into -.
anchors() {
	sed -n 's/^#\{1,6\} *//p' "$1" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9 _-]//g; s/ /-/g'
}

OWN="README.md docs/getting-started.md docs/configuration.md docs/errors.md
docs/operations.md docs/internals/README.md docs/internals/store.md
docs/internals/http.md docs/internals/checkin.md docs/internals/agent.md
docs/internals/config.md"
bad=""
links=0
for rel in $OWN; do
	doc=$SRC/$rel
	[ -f "$doc" ] || fail "$rel is missing"
	dir=$(dirname "$doc")
	for target in $(grep -oE '\]\([^) ]+\)' "$doc" | sed 's/^](//; s/)$//'); do
		case $target in
		http://* | https://* | mailto:*) continue ;;
		esac
		links=$((links + 1))
		file=${target%%#*}
		anchor=""
		[ "$file" = "$target" ] || anchor=${target#*#}
		if [ -z "$file" ]; then
			path=$doc
		else
			path=$dir/$file
		fi
		if [ ! -e "$path" ]; then
			bad="$bad $rel->$target"
			continue
		fi
		if [ -n "$anchor" ] && [ -f "$path" ] && ! anchors "$path" | grep -qxF "$anchor"; then
			bad="$bad $rel->$target"
		fi
	done
done
[ -z "$bad" ] || fail "links that lead nowhere:$bad"
pass "$links links in the user docs resolve"

#!/usr/bin/env bash
# Administrators with roles (docs/security.md). Generated from the
# route table (stewardd --routes: METHOD PATH PERMISSION TOKEN-ROLES
# SITE-ROLES): every route that takes an admin token is called with a
# token of every role (read, operator, admin, distribution_point) and with
# none; a role the route admits gets anything but 401/403, another one 403
# role_forbidden from the headers, no token 401. Then by hand: a read token
# cannot write, revoke refuses a token at once, the last admin stays.
. "$(dirname "$0")/lib.sh"

"$BIN/stewardd" --routes >"$T/routes" || fail "stewardd --routes failed"
site_start roles --metrics_loopback false

# one token per role; the first one (DATA_DIR/admin.token) is role admin
for r in read operator distribution_point; do
	ctl admins create "t-$r" --role "$r" >"$T/tok.$r" 2>"$T/create.$r.err" ||
		fail "admins create t-$r --role $r: $(cat "$T/create.$r.err")"
	grep -Eq '^stw_[0-9a-f]{64}$' "$T/tok.$r" || fail "admins create printed no token: $(cat "$T/tok.$r")"
done
cp "$ADMIN" "$T/tok.admin"
ctl --json admins list >"$T/admins.json" || fail "admins list"
expect_eq "$(jq -r '.[] | select(.name == "admin") | "\(.role) \(.created_by) \(.revoked)"' "$T/admins.json")" \
	"admin  null" "the first token: role admin, made by the site, valid"
expect_eq "$(jq -r '.[] | select(.name == "t-operator") | "\(.role) \(.created_by)"' "$T/admins.json")" \
	"operator admin" "t-operator's row"
jq -e 'all(.[]; has("token") | not)' "$T/admins.json" >/dev/null || fail "admins list shows tokens"
pass "admins create prints a token per role; admins list shows names, roles, creators"

# call METHOD URL ROLE: prints the HTTP status, the reply in $T/resp
call() {
	local method=$1 url=$2 role=$3 args=(-X "$1")
	[ "$method" = GET ] || args+=(-H 'Content-Type: application/json' --data '{}')
	[ "$role" = none ] || args+=(-H "Authorization: Bearer $(cat "$T/tok.$role")")
	curl -sS -o "$T/resp" -w '%{http_code}' -m 10 "${args[@]}" "$SITE_URL$url"
}

PARAM=00000000000000000000000000000000
N=0
ROUTES=0
while read -r method path perm allow _roles; do
	[ -n "$method" ] || continue
	case "$perm" in token | metrics | content | console-update) ;; *) continue ;; esac
	[ "$allow" != - ] || fail "$method $path ($perm) admits no token role"
	ROUTES=$((ROUTES + 1))
	url=$(echo "$path" | sed -E "s/\{[^}]+\}/$PARAM/g")
	for role in read operator admin distribution_point none; do
		code=$(call "$method" "$url" "$role") || fail "$method $url ($role): no answer"
		err=$(jq -r .error.code "$T/resp" 2>/dev/null || true)
		if [ "$role" = none ]; then
			[ "$code" = 401 ] || fail "$method $path without a token answered $code: $(head -c 300 "$T/resp")"
		elif [[ ",$allow," == *",$role,"* ]]; then
			case "$code" in 401 | 403)
				fail "$method $path admits $role (table: $allow) but answered $code: $(head -c 300 "$T/resp")" ;;
			esac
		else
			[ "$code" = 403 ] && [ "$err" = role_forbidden ] ||
				fail "$method $path does not admit $role (table: $allow) but answered $code $err: $(head -c 300 "$T/resp")"
			jq -r .error.remedy "$T/resp" | grep -q "stewardctl admins create NAME --role " ||
				fail "$method $path: the refusal names no remedy: $(cat "$T/resp")"
		fi
		N=$((N + 1))
	done
done <"$T/routes"
[ "$ROUTES" -ge 50 ] || fail "only $ROUTES routes take tokens; the route table looks truncated"
pass "$ROUTES routes x 5 callers ($N calls): allowed or 403 role_forbidden as the route table says"
curl -fsS "$SITE_URL/health" >/dev/null || fail "stewardd not healthy after the sweep"

# ---- by hand: read cannot write; the message names both roles ----------------------------
on_tok() { "$BIN/stewardctl" -s "$SITE_URL" -t "$T/tok.$1" "${@:2}"; }
on_tok read clients list >/dev/null || fail "a read token cannot list clients"
if on_tok read enroll-tokens create --uses 1 --ttl 1h >"$T/w.out" 2>&1; then
	fail "a read token created an enrollment token"
fi
grep -q "error: role_forbidden: POST /api/v1/enroll-tokens needs role admin; the token of 't-read' has role read" "$T/w.out" ||
	fail "refusal of a read token: $(cat "$T/w.out")"
grep -q "remedy: ask an admin for a token with role admin: stewardctl admins create NAME --role admin" "$T/w.out" ||
	fail "remedy of a read token's refusal: $(cat "$T/w.out")"
if on_tok operator admins create x --role admin >"$T/w.out" 2>&1; then
	fail "an operator made a token"
fi
grep -q role_forbidden "$T/w.out" || fail "operator making a token: $(cat "$T/w.out")"
on_tok operator site pause-adverts --reason test >/dev/null || fail "an operator cannot pause adverts"
on_tok operator site resume-adverts >/dev/null || fail "an operator cannot resume adverts"
pass "a read token cannot write; an operator pauses adverts but makes no tokens"

# ---- revoke: refused at once ---------------------------------------------------------------
ctl admins revoke t-operator >"$T/rv.out" || fail "admins revoke: $(cat "$T/rv.out")"
code=$(call GET /api/v1/clients operator)
expect_eq "$code" 401 "a revoked token's status"
expect_eq "$(jq -r .error.code "$T/resp")" token_revoked "a revoked token's code"
ctl --json admins list | jq -e '.[] | select(.name == "t-operator") | .revoked != null' >/dev/null ||
	fail "admins list does not show t-operator revoked"
if ctl admins create t-operator --role operator >"$T/dup.out" 2>&1; then
	fail "a revoked admin's name was reused"
fi
grep -q name_exists "$T/dup.out" || fail "reusing a name: $(cat "$T/dup.out")"
if ctl admins revoke nobody >"$T/nf.out" 2>&1; then fail "revoked an unknown admin"; fi
grep -q admin_not_found "$T/nf.out" || fail "revoking an unknown admin: $(cat "$T/nf.out")"
pass "admins revoke: the token gets 401 token_revoked at once; the name stays taken"

# ---- the last admin stays --------------------------------------------------------------------
if ctl admins revoke admin >"$T/last.out" 2>&1; then fail "revoked the last token of role admin"; fi
grep -q "error: last_admin" "$T/last.out" || fail "revoking the last admin: $(cat "$T/last.out")"
ctl admins create admin2 --role admin >"$T/tok.admin2" 2>/dev/null || fail "admins create admin2"
"$BIN/stewardctl" -s "$SITE_URL" -t "$T/tok.admin2" admins revoke admin >/dev/null ||
	fail "admin2 cannot revoke admin"
code=$(call GET /api/v1/site admin)
expect_eq "$code" 401 "the first token after its revoke"
if ctl admins create x --role root >"$T/bad.out" 2>&1; then fail "made a token of role root"; fi
grep -q "must be read, operator, admin or distribution_point" "$T/bad.out" || fail "--role root: $(cat "$T/bad.out")"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$T/tok.admin2")" \
	-H 'Content-Type: application/json' --data '{"name":"x"}' "$SITE_URL/api/v1/admins/tokens")
expect_eq "$code $(jq -r .error.code "$T/resp")" "400 role_invalid" "a token without a role"
pass "the last token of role admin cannot be revoked; another admin can; roles are checked"

kill -0 "$SITE_PID" 2>/dev/null || fail "stewardd died"
site_stop || fail "stewardd did not exit 0"

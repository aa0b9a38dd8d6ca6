/* core/linkclass: what kind of link a client is on, and what an
 * advertisement or a rollout does about it.
 *
 * A client's link class is one of lan, wan, slow and metered. It comes
 * from two places: the boundary its address falls in (which may declare a
 * class, and may say that the class is final) and the throughput the agent
 * measured to its management point or distribution points. Measurement
 * wins over a boundary's class unless the boundary is final, because a
 * laptop carries its address range onto hotel Wi-Fi; metered wins over
 * measurement, because a metered link is about cost, not speed, and no
 * transfer can tell it. A client that reaches the site over loopback runs
 * on the site's own machine: lan, whatever a busy machine makes its
 * transfers look like.
 *
 * Each advertisement and rollout carries a policy: per class, download,
 * defer (until the client is on a faster class, or until a deadline),
 * download-in-window, or never. Pure: time comes in as an argument.
 */
#include <stdio.h>
#include <string.h>

#include "steward/core.h"

static const char *const class_names[CORE_LC_N] = {"", "lan", "wan", "slow", "metered"};
static const char *const action_names[] = {"download", "defer", "download-in-window", "never"};

#define N_ACTIONS ((int)(sizeof(action_names) / sizeof(action_names[0])))

const char *core_link_class_name(int c)
{
	return c > 0 && c < CORE_LC_N ? class_names[c] : "";
}

int core_link_class_parse(const char *s, size_t n)
{
	for (int c = 1; c < CORE_LC_N; c++)
		if (strlen(class_names[c]) == n && strncmp(s, class_names[c], n) == 0)
			return c;
	return 0;
}

const char *core_link_action_name(int a)
{
	return a >= 0 && a < N_ACTIONS ? action_names[a] : "";
}

void core_link_policy_default(struct core_link_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->act[CORE_LC_LAN] = CORE_LA_DOWNLOAD;
	p->act[CORE_LC_WAN] = CORE_LA_DOWNLOAD;
	p->act[CORE_LC_SLOW] = CORE_LA_DEFER;
	p->act[CORE_LC_METERED] = CORE_LA_DEFER;
}

int core_link_policy_parse(const char *spec, struct core_link_policy *p, char *msg, size_t msgsz)
{
	struct core_link_policy out;
	const char *s = spec;

	core_link_policy_default(&out);
	if (!spec || strlen(spec) > CORE_LINK_POLICY_TEXT_MAX) {
		snprintf(msg, msgsz, "the link policy is longer than %d characters",
			 CORE_LINK_POLICY_TEXT_MAX);
		return -1;
	}
	while (*s) {
		size_t len = strcspn(s, ","), clen;
		const char *eq = memchr(s, '=', len);
		int c, a = -1;

		if (len == 0 || !eq) {
			snprintf(
			    msg, msgsz,
			    "'%.*s' is not CLASS=ACTION (e.g. slow=defer,metered=never; classes "
			    "lan, wan, slow, metered; actions download, defer, "
			    "download-in-window, never)",
			    (int)(len > 60 ? 60 : len), s);
			return -1;
		}
		clen = (size_t)(eq - s);
		c = core_link_class_parse(s, clen);
		if (!c) {
			snprintf(msg, msgsz,
				 "unknown link class '%.*s' (lan, wan, slow or metered)",
				 (int)(clen > 30 ? 30 : clen), s);
			return -1;
		}
		for (int i = 0; i < N_ACTIONS; i++)
			if (strlen(action_names[i]) == len - clen - 1 &&
			    strncmp(eq + 1, action_names[i], len - clen - 1) == 0)
				a = i;
		if (a < 0) {
			snprintf(msg, msgsz,
				 "unknown action '%.*s' for %s links (download, defer, "
				 "download-in-window or never)",
				 (int)(len - clen - 1 > 30 ? 30 : len - clen - 1), eq + 1,
				 class_names[c]);
			return -1;
		}
		out.act[c] = (uint8_t)a;
		s += len;
		if (*s == ',' && !*++s) {
			snprintf(msg, msgsz, "the link policy ends with a comma");
			return -1;
		}
	}
	out.deadline = p->deadline;
	*p = out;
	return 0;
}

void core_link_policy_format(const struct core_link_policy *p, char *out, size_t n)
{
	snprintf(
	    out, n, "lan=%s,wan=%s,slow=%s,metered=%s", core_link_action_name(p->act[CORE_LC_LAN]),
	    core_link_action_name(p->act[CORE_LC_WAN]), core_link_action_name(p->act[CORE_LC_SLOW]),
	    core_link_action_name(p->act[CORE_LC_METERED]));
}

int core_link_classify(int bclass, bool bfinal, const struct core_link_obs *o, int64_t now,
		       const struct core_link_thresholds *t, enum core_link_source *source)
{
	bool fresh = o && o->kbps > 0 && o->measured > 0 &&
		     (t->max_age <= 0 || now - o->measured <= t->max_age);

	if (bclass > 0 && bclass < CORE_LC_N && bfinal) {
		*source = CORE_LS_BOUNDARY_FINAL;
		return bclass;
	}
	if (bclass == CORE_LC_METERED || (o && o->metered)) {
		*source = bclass == CORE_LC_METERED ? CORE_LS_BOUNDARY : CORE_LS_AGENT;
		return CORE_LC_METERED;
	}
	/* over loopback nothing crosses a network: what a transfer measures
	 * there is how busy the machine is */
	if (o && o->local) {
		*source = CORE_LS_LOCAL;
		return CORE_LC_LAN;
	}
	if (fresh) {
		*source = CORE_LS_MEASURED;
		if (o->kbps < t->slow_kbps)
			return CORE_LC_SLOW;
		if (o->kbps < t->wan_kbps)
			return CORE_LC_WAN;
		return CORE_LC_LAN;
	}
	if (bclass > 0 && bclass < CORE_LC_N) {
		*source = CORE_LS_BOUNDARY;
		return bclass;
	}
	*source = CORE_LS_DEFAULT;
	return CORE_LC_LAN;
}

const char *core_link_source_name(enum core_link_source s)
{
	switch (s) {
	case CORE_LS_MEASURED:
		return "measured";
	case CORE_LS_BOUNDARY:
		return "boundary";
	case CORE_LS_BOUNDARY_FINAL:
		return "boundary (final)";
	case CORE_LS_AGENT:
		return "reported by the agent";
	case CORE_LS_LOCAL:
		return "the site's own machine";
	case CORE_LS_DEFAULT:
		break;
	}
	return "default";
}

static void rate_text(int64_t kbps, char *out, size_t n)
{
	if (kbps >= 10000)
		snprintf(out, n, "%lld Mbit/s", (long long)(kbps / 1000));
	else
		snprintf(out, n, "%lld kbit/s", (long long)kbps);
}

void core_link_describe_class(int cls, enum core_link_source src, int64_t kbps, char *out, size_t n)
{
	char rate[32];

	if (src == CORE_LS_MEASURED && kbps > 0) {
		rate_text(kbps, rate, sizeof(rate));
		snprintf(out, n, "%s link (measured %s)", core_link_class_name(cls), rate);
	} else {
		snprintf(out, n, "%s link (%s)", core_link_class_name(cls),
			 core_link_source_name(src));
	}
}

enum core_link_verdict core_link_gate(const struct core_link_policy *p, int cls, int64_t now,
				      bool in_window, bool has_windows, const char *link_text,
				      char *reason, size_t n)
{
	int a;

	if (cls <= 0 || cls >= CORE_LC_N)
		cls = CORE_LC_LAN;
	a = p->act[cls];
	switch (a) {
	case CORE_LA_DEFER:
		if (p->deadline > 0 && now >= p->deadline)
			return CORE_LINK_GO;
		if (p->deadline > 0)
			snprintf(reason, n, "deferred: %s: waits for a faster link or the deadline",
				 link_text);
		else
			snprintf(reason, n, "deferred: %s: waits for a faster link", link_text);
		return CORE_LINK_WAIT;
	case CORE_LA_IN_WINDOW:
		if (in_window)
			return CORE_LINK_GO;
		snprintf(reason, n, "deferred: %s: downloads only in a maintenance window%s",
			 link_text, has_windows ? "" : " and this client has none");
		return CORE_LINK_WAIT;
	case CORE_LA_NEVER:
		snprintf(reason, n, "not downloaded: %s: never on %s links", link_text,
			 core_link_class_name(cls));
		return CORE_LINK_NEVER;
	default:
		return CORE_LINK_GO;
	}
}

/* stewardctl: the administrator's console for a steward site.
 *
 *   stewardctl [-s URL] [-t TOKEN_FILE] [--json] [--timeout SECONDS] NOUN VERB ...
 *
 * Global options may stand anywhere on the line; command options (--reason,
 * --uses, ...) belong to the command named by NOUN VERB. Everything about a
 * command comes from ctl_commands[] (commands.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steward/net.h"
#include "steward/proto.h"
#include "steward/util.h"

#include "ctl.h"

#define CTL_WORDS_MAX 64

struct ctl_line {
	const char *words[CTL_WORDS_MAX]; /* non-global arguments, in order */
	bool literal[CTL_WORDS_MAX];	  /* came after "--": never an option */
	int n;
	bool help, version;
};

/* ---- help ----------------------------------------------------------------- */

#define CTL_HELP_COL 32 /* longer synopses put their help on the next line */

static void print_entry(FILE *f, const char *syn, const char *help)
{
	if (strlen(syn) > CTL_HELP_COL)
		fprintf(f, "  %s\n  %-*s  %s\n", syn, CTL_HELP_COL, "", help);
	else
		fprintf(f, "  %-*s  %s\n", CTL_HELP_COL, syn, help);
}

static void print_commands(FILE *f, const char *noun)
{
	char syn[1024];

	for (size_t i = 0; i < ctl_n_commands; i++) {
		if (noun && strcmp(noun, ctl_commands[i].noun) != 0)
			continue;
		ctl_cmd_synopsis(&ctl_commands[i], syn, sizeof(syn));
		print_entry(f, syn, ctl_commands[i].help);
	}
}

/* `stewardctl help --tsv`: one command a line, SYNOPSIS<TAB>HELP, the form
 * scripts/gen-man.sh makes stewardctl(1) from */
static void print_commands_tsv(void)
{
	char syn[1024];

	for (size_t i = 0; i < ctl_n_commands; i++) {
		ctl_cmd_synopsis(&ctl_commands[i], syn, sizeof(syn));
		printf("%s\t%s\n", syn, ctl_commands[i].help);
	}
	printf("help [NOUN]\tthis help, or the commands of one noun\n");
}

static void print_help(FILE *f)
{
	fprintf(f,
		"stewardctl %s: administer a steward site\n"
		"\n"
		"usage: stewardctl [-s URL] [-t TOKEN_FILE] [--json] [--timeout SECONDS] NOUN VERB "
		"...\n"
		"\n"
		"commands:\n",
		proto_self_version());
	print_commands(f, NULL);
	print_entry(f, "help [NOUN]", "this help, or the commands of one noun");
	fprintf(f,
		"\n"
		"options:\n"
		"  -s, --server URL       the site (default: $STEWARD_SERVER, else\n"
		"                         %s)\n"
		"  -t, --token-file FILE  admin token file (default: $STEWARD_TOKEN_FILE, else\n"
		"                         %s); the site writes its first\n"
		"                         token to DATA_DIR/admin.token\n"
		"      --json             machine-readable JSON output\n"
		"      --timeout SECONDS  give up on the site after this long (default %d, at\n"
		"                         most %d)\n"
		"      --version          print the version and exit\n"
		"  -h, --help             print this help and exit\n"
		"\n"
		"exit status: 0 done; 1 the site refused, or another error; 2 usage error;\n"
		"  3 stewardctl and site API versions differ; 4 site unreachable or timed out;\n"
		"  5 upgrade check: an item fails\n",
		CTL_DEFAULT_SERVER, CTL_DEFAULT_TOKEN_FILE, CTL_DEFAULT_TIMEOUT_S,
		CTL_TIMEOUT_MAX_S);
}

static void print_version(void)
{
	struct proto_range r = proto_self_range();
	char range[24];

	proto_range_format(&r, range);
	printf("stewardctl %s (API %d, protocol %s)\n", proto_self_version(), STEWARD_API_MAJOR,
	       range);
}

static bool noun_known(const char *noun)
{
	for (size_t i = 0; i < ctl_n_commands; i++)
		if (strcmp(ctl_commands[i].noun, noun) == 0)
			return true;
	return false;
}

/* ---- global options ------------------------------------------------------- */

static int set_server_from(struct ctl *ctl, const char *url, const char *source)
{
	size_t n = strlen(url);

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return ctl_usage_error(
		    NULL, "server URL '%s' (%s) must start with http:// or https://", url, source);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return ctl_usage_error(NULL, "server URL must not contain spaces or "
						     "control characters");
	while (n > 8 && url[n - 1] == '/')
		n--;
	if (n >= sizeof(ctl->server))
		return ctl_usage_error(NULL, "server URL is longer than %zu characters",
				       sizeof(ctl->server) - 1);
	memcpy(ctl->server, url, n);
	ctl->server[n] = '\0';
	return CTL_OK;
}

static int set_server(struct ctl *ctl, const char *url)
{
	return set_server_from(ctl, url, "from -s");
}

static int set_timeout(struct ctl *ctl, const char *v)
{
	int64_t s;

	if (time_parse_duration(v, &s) || s < 1 || s > CTL_TIMEOUT_MAX_S)
		return ctl_usage_error(NULL, "--timeout '%s' must be 1 to %d seconds", v,
				       CTL_TIMEOUT_MAX_S);
	ctl->timeout_ms = (long)s * 1000;
	return CTL_OK;
}

static int set_token_file(struct ctl *ctl, const char *v)
{
	if (!*v)
		return ctl_usage_error(NULL, "the token file name is empty");
	ctl->token_file = v;
	return CTL_OK;
}

/* Global options that take a value. */
static const struct {
	const char *short_name, *long_name;
	int (*set)(struct ctl *ctl, const char *v);
} ctl_globals[] = {
    {"-s", "--server", set_server},
    {"-t", "--token-file", set_token_file},
    {NULL, "--timeout", set_timeout},
};

/* "--name" or "--name=value"; *inline_val set for the latter. */
static bool opt_match(const char *arg, const char *name, const char **inline_val)
{
	size_t n = strlen(name);

	*inline_val = NULL;
	if (strncmp(arg, name, n) != 0)
		return false;
	if (arg[n] == '\0')
		return true;
	if (arg[n] == '=') {
		*inline_val = arg + n + 1;
		return true;
	}
	return false;
}

static int global_index(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	for (int g = 0; g < (int)(sizeof(ctl_globals) / sizeof(ctl_globals[0])); g++) {
		if (ctl_globals[g].short_name && strcmp(arg, ctl_globals[g].short_name) == 0)
			return g;
		if (opt_match(arg, ctl_globals[g].long_name, inline_val))
			return g;
	}
	return -1;
}

/* The option arg names; two options may share a name ("--version" of a
 * package and of a release), so the ones command c (may be NULL) takes are
 * tried first. */
static int cmd_opt_index(const struct ctl_cmd *c, const char *arg, const char **inline_val)
{
	char name[40];

	for (int pass = 0; pass < 2; pass++)
		for (int o = 0; o < CTL_OPT_COUNT; o++) {
			if (pass == 0 && (!c || !(c->opts & CTL_OPT_BIT(o))))
				continue;
			snprintf(name, sizeof(name), "--%s", ctl_opt_specs[o].name);
			if (opt_match(arg, name, inline_val))
				return o;
		}
	return -1;
}

static const struct ctl_cmd *find_cmd(const char *noun, const char *verb);

/* Does the command named by the first two words take option arg? Such an
 * option wins over a global of the same name once the command is named:
 * "packages add X --version 1.0", "programs add X --timeout 10m". */
static bool cmd_takes(const struct ctl_line *ln, const char *arg)
{
	const struct ctl_cmd *c;
	const char *iv;
	int o;

	if (ln->n < 2 || !(c = find_cmd(ln->words[0], ln->words[1])))
		return false;
	o = cmd_opt_index(c, arg, &iv);
	return o >= 0 && (c->opts & CTL_OPT_BIT(o));
}

/* One pass over argv: global options are applied; everything else becomes a
 * word. A command option keeps its value next to it, so a value that looks
 * like a global option ("--reason --json") is not taken for one. */
static int parse_line(struct ctl *ctl, int argc, char **argv, struct ctl_line *ln)
{
	bool literal = false, own;
	const char *iv;
	int g, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;

		if (ln->n + 2 > CTL_WORDS_MAX)
			return ctl_usage_error(NULL, "too many arguments");
		if (literal || a[0] != '-' || a[1] == '\0') {
			ln->literal[ln->n] = literal;
			ln->words[ln->n++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			literal = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ln->help = true;
			continue;
		}
		own = cmd_takes(ln, a);
		if (!own && strcmp(a, "--version") == 0) {
			ln->version = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			ctl->json = true;
			continue;
		}
		g = own ? -1 : global_index(a, &iv);
		if (g >= 0) {
			val = iv;
			if (!val && i + 1 >= argc)
				return ctl_usage_error(NULL, "%s needs a value", a);
			if (!val)
				val = argv[++i];
			rc = ctl_globals[g].set(ctl, val);
			if (rc)
				return rc;
			continue;
		}
		/* a command option: keep it with its value for the command to check */
		ln->literal[ln->n] = false;
		ln->words[ln->n++] = a;
		g = cmd_opt_index(ln->n >= 3 ? find_cmd(ln->words[0], ln->words[1]) : NULL, a,
				  &iv);
		if (g >= 0 && ctl_opt_specs[g].metavar && !iv && i + 1 < argc) {
			ln->literal[ln->n] = true;
			ln->words[ln->n++] = argv[++i];
		}
	}
	return CTL_OK;
}

/* ---- dispatch ------------------------------------------------------------- */

static const struct ctl_cmd *find_cmd(const char *noun, const char *verb)
{
	for (size_t i = 0; i < ctl_n_commands; i++)
		if (strcmp(ctl_commands[i].noun, noun) == 0 &&
		    strcmp(ctl_commands[i].verb, verb) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* Words after NOUN VERB into arguments and options, checked against the table. */
static int parse_args(const struct ctl_cmd *c, const struct ctl_line *ln, int from,
		      struct ctl_args *a)
{
	char what[48];
	const char *iv;
	int64_t unused;
	int o, rc;

	memset(a, 0, sizeof(*a));
	for (int i = from; i < ln->n; i++) {
		const char *w = ln->words[i];

		if (ln->literal[i] || w[0] != '-' || w[1] == '\0') {
			if (a->argc >= c->max_args)
				return ctl_usage_error(c, "unexpected argument '%s'", w);
			a->argv[a->argc++] = w;
			continue;
		}
		o = cmd_opt_index(c, w, &iv);
		if (o < 0 || !(c->opts & CTL_OPT_BIT(o)))
			return ctl_usage_error(c, "unknown option '%s' for '%s%s%s'", w, c->noun,
					       c->verb[0] ? " " : "", c->verb);
		if (a->opt[o] && !ctl_opt_specs[o].repeat)
			return ctl_usage_error(c, "--%s given twice", ctl_opt_specs[o].name);
		if (!ctl_opt_specs[o].metavar) { /* a flag */
			if (iv)
				return ctl_usage_error(c, "--%s takes no value",
						       ctl_opt_specs[o].name);
			iv = "yes";
		}
		if (!iv) {
			if (i + 1 >= ln->n)
				return ctl_usage_error(c, "--%s needs a value (%s)",
						       ctl_opt_specs[o].name,
						       ctl_opt_specs[o].metavar);
			iv = ln->words[++i];
		}
		if (ctl_opt_specs[o].repeat) {
			if (a->nrep >= CTL_REPEAT_MAX)
				return ctl_usage_error(c, "--%s given more than %d times",
						       ctl_opt_specs[o].name, CTL_REPEAT_MAX);
			a->rep_opt[a->nrep] = (enum ctl_opt)o;
			a->rep[a->nrep++] = iv;
			/* every value is checked, not only the first in opt[] */
			snprintf(what, sizeof(what), "--%s", ctl_opt_specs[o].name);
			rc = ctl_check_value(c, ctl_opt_specs[o].type, what, iv, &unused);
			if (rc)
				return rc;
		}
		if (!a->opt[o])
			a->opt[o] = iv;
	}
	if (a->argc < c->min_args)
		return ctl_usage_error(c, "'%s %s' needs %s", c->noun, c->verb,
				       c->arg_names[a->argc]);
	for (o = 0; o < CTL_OPT_COUNT; o++) {
		if ((c->required & CTL_OPT_BIT(o)) && !a->opt[o])
			return ctl_usage_error(c, "'%s %s' needs --%s %s", c->noun, c->verb,
					       ctl_opt_specs[o].name, ctl_opt_specs[o].metavar);
		if (!a->opt[o])
			continue;
		snprintf(what, sizeof(what), "--%s", ctl_opt_specs[o].name);
		rc = ctl_check_value(c, ctl_opt_specs[o].type, what, a->opt[o], &a->num[o]);
		if (rc)
			return rc;
	}
	for (int i = 0; i < a->argc; i++) {
		rc = ctl_check_value(c, c->arg_types[i], c->arg_names[i], a->argv[i], &unused);
		if (rc)
			return rc;
	}
	return CTL_OK;
}

static int dispatch(struct ctl *ctl, const struct ctl_line *ln)
{
	const struct ctl_cmd *c;
	struct ctl_args a;
	int rc;

	if (ln->version) {
		print_version();
		return CTL_OK;
	}
	if (ln->n == 0 && ln->help) {
		print_help(stdout);
		return CTL_OK;
	}
	if (ln->n == 0)
		return ctl_usage_error(NULL, "no command given");
	if (strcmp(ln->words[0], "help") == 0 || ln->help) {
		const char *noun = strcmp(ln->words[0], "help") == 0
				       ? (ln->n > 1 ? ln->words[1] : NULL)
				       : ln->words[0];

		if (!noun) {
			print_help(stdout);
			return CTL_OK;
		}
		if (strcmp(noun, "--tsv") == 0) {
			print_commands_tsv();
			return CTL_OK;
		}
		if (!noun_known(noun))
			return ctl_usage_error(NULL, "unknown command '%s'", noun);
		printf("usage: stewardctl [OPTIONS] %s VERB ...\n\ncommands:\n", noun);
		print_commands(stdout, noun);
		return CTL_OK;
	}
	if (!noun_known(ln->words[0]))
		return ctl_usage_error(NULL, "unknown command '%s'", ln->words[0]);
	/* a command without a verb (self-update): options follow the noun */
	if ((c = find_cmd(ln->words[0], "")) != NULL) {
		rc = parse_args(c, ln, 1, &a);
		return rc ? rc : c->handler(ctl, &a);
	}
	if (ln->n < 2 || !(c = find_cmd(ln->words[0], ln->words[1]))) {
		if (ln->n < 2)
			fprintf(stderr, "error: usage: '%s' needs a verb\n", ln->words[0]);
		else
			fprintf(stderr, "error: usage: '%s' has no command '%s'\n", ln->words[0],
				ln->words[1]);
		fputs("commands:\n", stderr);
		print_commands(stderr, ln->words[0]);
		return CTL_EUSAGE;
	}
	rc = parse_args(c, ln, 2, &a);
	if (rc)
		return rc;
	return c->handler(ctl, &a);
}

int main(int argc, char **argv)
{
	static struct ctl ctl; /* holds the token: static so it is never on a stale stack */
	struct ctl_line ln;
	const char *env;
	int rc;

	memset(&ln, 0, sizeof(ln));
	ctl.timeout_ms = CTL_DEFAULT_TIMEOUT_S * 1000L;
	env = getenv("STEWARD_TOKEN_FILE");
	ctl.token_file = env && *env ? env : CTL_DEFAULT_TOKEN_FILE;
	rc = parse_line(&ctl, argc, argv, &ln);
	if (rc)
		return rc;
	if (!ctl.server[0]) { /* no -s: the environment, else the default */
		env = getenv("STEWARD_SERVER");
		rc = env && *env ? set_server_from(&ctl, env, "from STEWARD_SERVER")
				 : set_server_from(&ctl, CTL_DEFAULT_SERVER, "the default");
		if (rc)
			return rc;
	}
	if (proto_init() || http_client_global_init()) {
		ctl_error("internal", "", "cannot initialise libsodium or libcurl");
		return CTL_EFAIL;
	}
	ctl_trust_init(&ctl);
	rc = dispatch(&ctl, &ln);
	ctl_token_forget(&ctl);
	http_client_global_cleanup();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_error("output", "", "cannot write the output");
		if (rc == CTL_OK)
			rc = CTL_EFAIL;
	}
	return rc;
}

/* steward-mkcert: a key and a self-signed certificate with chosen validity,
 * for the TLS tests (an expired certificate, another site's key).
 *   steward-mkcert KEY CRT NOT_BEFORE_OFFSET NOT_AFTER_OFFSET [NAME...]
 * Offsets are seconds from now (negative: in the past). Prints the pin. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "steward/tls.h"

int main(int argc, char **argv)
{
	struct steward_err err;
	uint8_t pin[TLS_PIN_BYTES];
	char text[TLS_PIN_TEXT_MAX + 1], *pem = NULL;
	size_t len;
	int64_t now = (int64_t)time(NULL);

	if (argc < 5) {
		fprintf(stderr, "usage: steward-mkcert KEY CRT NOT_BEFORE_S NOT_AFTER_S [NAME...]\n");
		return 2;
	}
	if (tls_selfsigned_create(argv[1], argv[2], (const char *const *)argv + 5, argc - 5,
				  now + atoll(argv[3]), now + atoll(argv[4]), &err) ||
	    file_read_all(argv[2], 1 << 20, &pem, &len) ||
	    tls_cert_info(pem, len, pin, NULL, NULL, &err)) {
		fprintf(stderr, "steward-mkcert: %s\n", err.message);
		return 1;
	}
	tls_pin_format(pin, text, sizeof(text));
	printf("%s\n", text);
	free(pem);
	return 0;
}
